package vfstest

import (
	"io/fs"
	"os"
	"syscall"
	"testing"

	"github.com/heraldevents/herald/internal/vfs"
)

// dirCases check FS behaviour on names and directories.
var dirCases = []testCase{
	{"StatDescribesFilesAndDirs", testStat},
	{"StatThroughFileIsNotDir", testStatThroughFile},
	{"RenameReplacesFile", testRenameReplaces},
	{"RenameMissingIsNotExist", testRenameMissing},
	{"RenameOntoDirIsExist", testRenameOntoDir},
	{"RenameMovesDirectoryTree", testRenameDir},
	{"RemoveDeletesFileAndEmptyDir", testRemove},
	{"RemoveRefusesMissingAndNonEmpty", testRemoveErrors},
	{"RemoveAllDeletesTreeAndIgnoresMissing", testRemoveAll},
	{"ReadDirListsSortedEntries", testReadDir},
	{"MkdirAllIsIdempotentAndRefusesFiles", testMkdirAll},
	{"SyncDirSyncsDirectoriesOnly", testSyncDir},
}

func testStat(t *testing.T, fsys vfs.FS, dir string) {
	create(t, fsys, join(dir, "f"), "hello")
	info, err := fsys.Stat(join(dir, "f"))
	if err != nil || info.Size() != 5 || info.Name() != "f" || info.IsDir() {
		t.Fatalf("Stat file = %v, %v; want f of 5 bytes", info, err)
	}
	info, err = fsys.Stat(dir)
	if err != nil || !info.IsDir() {
		t.Fatalf("Stat dir = %v, %v; want a directory", info, err)
	}
	_, err = fsys.Stat(join(dir, "missing"))
	wantErr(t, "stat missing", err, fs.ErrNotExist)
}

func testStatThroughFile(t *testing.T, fsys vfs.FS, dir string) {
	create(t, fsys, join(dir, "f"), "hello")
	_, err := fsys.Stat(join(dir, "f", "x"))
	wantErr(t, "stat below a file", err, syscall.ENOTDIR)
}

func testRenameReplaces(t *testing.T, fsys vfs.FS, dir string) {
	a, b := join(dir, "a"), join(dir, "b")
	create(t, fsys, a, "new")
	create(t, fsys, b, "old")
	if err := fsys.Rename(a, b); err != nil {
		t.Fatal(err)
	}
	wantData(t, "renamed file", contents(t, fsys, b), "new")
	_, err := fsys.Stat(a)
	wantErr(t, "stat old name", err, fs.ErrNotExist)
}

func testRenameMissing(t *testing.T, fsys vfs.FS, dir string) {
	err := fsys.Rename(join(dir, "missing"), join(dir, "b"))
	wantErr(t, "rename missing", err, fs.ErrNotExist)
	if _, ok := err.(*os.LinkError); !ok {
		t.Fatalf("rename error is %T, want *os.LinkError", err)
	}
}

func testRenameOntoDir(t *testing.T, fsys vfs.FS, dir string) {
	create(t, fsys, join(dir, "f"), "x")
	if err := fsys.MkdirAll(join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := fsys.Rename(join(dir, "f"), join(dir, "d"))
	wantErr(t, "rename onto a directory", err, fs.ErrExist)
}

func testRenameDir(t *testing.T, fsys vfs.FS, dir string) {
	if err := fsys.MkdirAll(join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	create(t, fsys, join(dir, "a", "b", "f"), "x")
	if err := fsys.Rename(join(dir, "a"), join(dir, "c")); err != nil {
		t.Fatal(err)
	}
	wantData(t, "moved file", contents(t, fsys, join(dir, "c", "b", "f")), "x")
	err := fsys.Rename(join(dir, "c"), join(dir, "c", "b", "inside"))
	wantErr(t, "rename into own subtree", err, syscall.EINVAL)
}

func testRemove(t *testing.T, fsys vfs.FS, dir string) {
	create(t, fsys, join(dir, "f"), "x")
	if err := fsys.MkdirAll(join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"f", "d"} {
		if err := fsys.Remove(join(dir, name)); err != nil {
			t.Fatal(err)
		}
		_, err := fsys.Stat(join(dir, name))
		wantErr(t, "stat removed "+name, err, fs.ErrNotExist)
	}
}

func testRemoveErrors(t *testing.T, fsys vfs.FS, dir string) {
	wantErr(t, "remove missing", fsys.Remove(join(dir, "missing")), fs.ErrNotExist)
	if err := fsys.MkdirAll(join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	create(t, fsys, join(dir, "d", "f"), "x")
	wantErr(t, "remove non-empty dir", fsys.Remove(join(dir, "d")), syscall.ENOTEMPTY)
}

func testRemoveAll(t *testing.T, fsys vfs.FS, dir string) {
	if err := fsys.MkdirAll(join(dir, "d", "e"), 0o755); err != nil {
		t.Fatal(err)
	}
	create(t, fsys, join(dir, "d", "e", "f"), "x")
	if err := fsys.RemoveAll(join(dir, "d")); err != nil {
		t.Fatal(err)
	}
	_, err := fsys.Stat(join(dir, "d"))
	wantErr(t, "stat removed tree", err, fs.ErrNotExist)
	if err := fsys.RemoveAll(join(dir, "missing")); err != nil {
		t.Fatalf("RemoveAll of a missing path = %v, want nil", err)
	}
}

func testReadDir(t *testing.T, fsys vfs.FS, dir string) {
	create(t, fsys, join(dir, "c"), "ccc")
	create(t, fsys, join(dir, "a"), "a")
	if err := fsys.MkdirAll(join(dir, "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	list, err := fsys.ReadDir(dir)
	if err != nil || len(list) != 3 {
		t.Fatalf("ReadDir = %v, %v; want 3 entries", list, err)
	}
	for i, want := range []string{"a", "b", "c"} {
		if list[i].Name() != want || list[i].IsDir() != (want == "b") {
			t.Fatalf("entry %d = %v, want %s", i, list[i], want)
		}
	}
	_, err = fsys.ReadDir(join(dir, "missing"))
	wantErr(t, "readdir missing", err, fs.ErrNotExist)
	_, err = fsys.ReadDir(join(dir, "a"))
	wantErr(t, "readdir of a file", err, syscall.ENOTDIR)
}

func testMkdirAll(t *testing.T, fsys vfs.FS, dir string) {
	for range 2 {
		if err := fsys.MkdirAll(join(dir, "x", "y"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	create(t, fsys, join(dir, "f"), "x")
	err := fsys.MkdirAll(join(dir, "f", "sub"), 0o755)
	wantErr(t, "mkdir below a file", err, syscall.ENOTDIR)
}

func testSyncDir(t *testing.T, fsys vfs.FS, dir string) {
	if err := fsys.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "syncdir missing", fsys.SyncDir(join(dir, "missing")), fs.ErrNotExist)
	create(t, fsys, join(dir, "f"), "x")
	wantErr(t, "syncdir of a file", fsys.SyncDir(join(dir, "f")), syscall.ENOTDIR)
}
