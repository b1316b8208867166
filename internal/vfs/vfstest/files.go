package vfstest

import (
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"testing"

	"github.com/heraldevents/herald/internal/vfs"
)

// fileCases check File behaviour.
var fileCases = []testCase{
	{"WriteAtPastEndFillsGapWithZeros", testWriteAtGap},
	{"ReadAtShortReturnsEOF", testReadAtEOF},
	{"TruncateShrinksThenGrowsWithZeros", testTruncate},
	{"OpenMissingIsNotExist", testOpenMissing},
	{"OpenExclusiveExistingIsExist", testOpenExcl},
	{"OpenTruncEmptiesFile", testOpenTrunc},
	{"ReadOnlyHandleRejectsWrites", testReadOnly},
	{"ClosedHandleFailsWithErrClosed", testClosed},
	{"HandleKnowsNameAndSize", testHandleStat},
	{"HandleOutlivesRenameAndRemove", testHandleOutlives},
	{"SyncWorksOnAnyHandle", testSync},
	{"ConcurrentReadsDuringWrites", testConcurrent},
}

func testWriteAtGap(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	create(t, fsys, name, "hello")
	f := open(t, fsys, name)
	if n, err := f.WriteAt([]byte("world"), 10); n != 5 || err != nil {
		t.Fatalf("WriteAt = %d, %v", n, err)
	}
	wantData(t, "contents", readAll(t, f), "hello"+zeros(5)+"world")
}

func testReadAtEOF(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	create(t, fsys, name, "hello")
	f := open(t, fsys, name)
	buf := make([]byte, 8)
	n, err := f.ReadAt(buf, 2)
	if n != 3 || err != io.EOF || string(buf[:n]) != "llo" {
		t.Fatalf("ReadAt across the end = %d %q, %v; want 3 \"llo\", io.EOF", n, buf[:n], err)
	}
	for _, off := range []int64{5, 100} {
		if n, err := f.ReadAt(buf, off); n != 0 || err != io.EOF {
			t.Fatalf("ReadAt at %d = %d, %v; want 0, io.EOF", off, n, err)
		}
	}
	if n, err := f.ReadAt(buf[:5], 0); n != 5 || err != nil {
		t.Fatalf("ReadAt of exactly the file = %d, %v; want 5, nil", n, err)
	}
}

func testTruncate(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	create(t, fsys, name, "hello world")
	f := open(t, fsys, name)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(5); err != nil {
		t.Fatal(err)
	}
	wantData(t, "after shrink", readAll(t, f), "hello")
	if err := f.Truncate(8); err != nil {
		t.Fatal(err)
	}
	wantData(t, "after grow", readAll(t, f), "hello"+zeros(3))
}

func testOpenMissing(t *testing.T, fsys vfs.FS, dir string) {
	f, err := fsys.OpenFile(join(dir, "missing"), os.O_RDWR, 0)
	wantErr(t, "open missing", err, fs.ErrNotExist)
	if f != nil {
		t.Fatalf("open missing returned a non-nil File %#v", f)
	}
	_, err = fsys.OpenFile(join(dir, "no", "f"), os.O_CREATE|os.O_RDWR, 0o644)
	wantErr(t, "create in missing dir", err, fs.ErrNotExist)
}

func testOpenExcl(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	create(t, fsys, name, "x")
	_, err := fsys.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	wantErr(t, "exclusive create of existing", err, fs.ErrExist)
}

func testOpenTrunc(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	create(t, fsys, name, "hello")
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	wantData(t, "after O_TRUNC", readAll(t, f), "")
}

func testReadOnly(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	create(t, fsys, name, "hello")
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = f.WriteAt([]byte("x"), 0)
	wantErr(t, "write to read-only handle", err, syscall.EBADF)
	wantData(t, "contents", readAll(t, f), "hello")
}

func testClosed(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	create(t, fsys, name, "hello")
	f := open(t, fsys, name)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := f.ReadAt(make([]byte, 1), 0)
	wantErr(t, "read after close", err, os.ErrClosed)
	_, err = f.WriteAt([]byte("x"), 0)
	wantErr(t, "write after close", err, os.ErrClosed)
	wantErr(t, "sync after close", f.Sync(), os.ErrClosed)
	wantErr(t, "second close", f.Close(), os.ErrClosed)
}

func testHandleStat(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	create(t, fsys, name, "hello")
	f := open(t, fsys, name)
	if _, err := f.WriteAt([]byte("!"), 5); err != nil {
		t.Fatal(err)
	}
	info, err := f.Stat()
	if err != nil || info.Size() != 6 || info.Name() != "f" || info.IsDir() {
		t.Fatalf("Stat = %v, %v; want f of 6 bytes", info, err)
	}
	if f.Name() != name {
		t.Fatalf("Name = %q, want %q", f.Name(), name)
	}
}

func testHandleOutlives(t *testing.T, fsys vfs.FS, dir string) {
	name, moved := join(dir, "f"), join(dir, "g")
	create(t, fsys, name, "hello")
	f := open(t, fsys, name)
	if err := fsys.Rename(name, moved); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Remove(moved); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("!"), 5); err != nil {
		t.Fatal(err)
	}
	wantData(t, "removed file via handle", readAll(t, f), "hello!")
}

func testSync(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	create(t, fsys, name, "hello")
	for _, flag := range []int{os.O_RDWR, os.O_RDONLY, os.O_WRONLY} {
		f, err := fsys.OpenFile(name, flag, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatalf("Sync with flag %#x: %v", flag, err)
		}
		f.Close()
	}
}

func testConcurrent(t *testing.T, fsys vfs.FS, dir string) {
	const blocks, size = 64, 512
	name := join(dir, "f")
	create(t, fsys, name, "")
	w := open(t, fsys, name)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { readWhileGrowing(t, fsys, name, blocks*size) })
	}
	for i := range blocks {
		block := []byte(zeros(size))
		for j := range block {
			block[j] = byte(i + 1)
		}
		if _, err := w.WriteAt(block, int64(i*size)); err != nil {
			t.Error(err)
		}
		if err := w.Sync(); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
}

// readWhileGrowing reads the file until it reaches full bytes, checking that
// every byte is one the writer wrote (block i holds i+1) or not yet there.
func readWhileGrowing(t *testing.T, fsys vfs.FS, name string, full int) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	buf := make([]byte, full)
	for n := 0; n < full; {
		n, _ = f.ReadAt(buf, 0)
		for i, b := range buf[:n] {
			if b != byte(i/512+1) && b != 0 {
				t.Errorf("byte %d = %d while the file grows", i, b)
				return
			}
		}
	}
}
