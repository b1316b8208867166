package faultfs_test

import (
	"io"
	"os"
	"path"
	"testing"

	"github.com/heraldevents/herald/internal/vfs"
)

// step is one action of a crash scenario.
type step func(t *testing.T, fsys vfs.FS)

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// withFile opens name (creating it) and runs do on the handle.
func withFile(name string, flag int, do func(f vfs.File) error) step {
	return func(t *testing.T, fsys vfs.FS) {
		t.Helper()
		f, err := fsys.OpenFile(name, os.O_CREATE|os.O_RDWR|flag, 0o644)
		must(t, err)
		defer f.Close()
		must(t, do(f))
	}
}

func write(name string, off int64, data string) step {
	return withFile(name, 0, func(f vfs.File) error {
		_, err := f.WriteAt([]byte(data), off)
		return err
	})
}

func fsync(name string) step {
	return withFile(name, 0, func(f vfs.File) error { return f.Sync() })
}

func truncate(name string, size int64) step {
	return withFile(name, 0, func(f vfs.File) error { return f.Truncate(size) })
}

func openTrunc(name string) step {
	return withFile(name, os.O_TRUNC, func(vfs.File) error { return nil })
}

func syncDir(name string) step {
	return func(t *testing.T, fsys vfs.FS) { t.Helper(); must(t, fsys.SyncDir(name)) }
}

func mkdir(name string) step {
	return func(t *testing.T, fsys vfs.FS) { t.Helper(); must(t, fsys.MkdirAll(name, 0o755)) }
}

func rename(from, to string) step {
	return func(t *testing.T, fsys vfs.FS) { t.Helper(); must(t, fsys.Rename(from, to)) }
}

func remove(name string) step {
	return func(t *testing.T, fsys vfs.FS) { t.Helper(); must(t, fsys.Remove(name)) }
}

func removeAll(name string) step {
	return func(t *testing.T, fsys vfs.FS) { t.Helper(); must(t, fsys.RemoveAll(name)) }
}

// tree maps every path under dir to its file contents; a directory maps
// from its path plus "/" to "".
func tree(t *testing.T, fsys vfs.FS, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	list, err := fsys.ReadDir(dir)
	must(t, err)
	for _, e := range list {
		name := path.Join(dir, e.Name())
		if e.IsDir() {
			out[name+"/"] = ""
			for k, v := range tree(t, fsys, name) {
				out[k] = v
			}
			continue
		}
		out[name] = read(t, fsys, name)
	}
	return out
}

// read returns the whole file at name.
func read(t *testing.T, fsys vfs.FS, name string) string {
	t.Helper()
	data, err := readFile(fsys, name)
	must(t, err)
	return data
}

// readFile returns the whole file at name; it is safe in any goroutine.
func readFile(fsys vfs.FS, name string) (string, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", err
	}
	buf := make([]byte, info.Size())
	if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF {
		return "", err
	}
	return string(buf), nil
}
