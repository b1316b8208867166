// Package vfstest is the behaviour suite that every vfs.FS must pass, so
// that the in-memory test file systems behave like the real one. Run it
// from each implementation's tests:
//
//	vfstest.Run(t, func(t *testing.T) (vfs.FS, string) { return vfs.OS, t.TempDir() })
package vfstest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/heraldevents/herald/internal/vfs"
)

// NewFS returns the file system under test and an existing, empty
// directory in it. Run calls it once per case.
type NewFS func(t *testing.T) (fsys vfs.FS, dir string)

// testCase is one behaviour, checked in dir on fsys.
type testCase struct {
	name string
	run  func(t *testing.T, fsys vfs.FS, dir string)
}

// Run runs every case of the suite in its own subtest.
func Run(t *testing.T, newFS NewFS) {
	cases := append(append([]testCase{}, fileCases...), dirCases...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fsys, dir := newFS(t)
			tc.run(t, fsys, dir)
		})
	}
}

// create writes a file holding data, replacing any file at name.
func create(t *testing.T, fsys vfs.FS, name string, data string) {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if _, err := f.WriteAt([]byte(data), 0); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close %s: %v", name, err)
	}
}

// open opens an existing file read-write, registering its Close.
func open(t *testing.T, fsys vfs.FS, name string) vfs.File {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// contents reads the whole file at name.
func contents(t *testing.T, fsys vfs.FS, name string) string {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer f.Close()
	return readAll(t, f)
}

// readAll reads f from 0 to its current size.
func readAll(t *testing.T, f vfs.File) string {
	t.Helper()
	info, err := f.Stat()
	if err != nil {
		t.Fatalf("stat %s: %v", f.Name(), err)
	}
	buf := make([]byte, info.Size())
	if n, err := f.ReadAt(buf, 0); err != nil && !(err == io.EOF && n == len(buf)) {
		t.Fatalf("read %s: %d bytes, %v", f.Name(), n, err)
	}
	return string(buf)
}

// wantErr fails unless err matches target with errors.Is.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// wantData fails unless got equals want.
func wantData(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// join is filepath.Join, short for the cases.
func join(elem ...string) string { return filepath.Join(elem...) }

// zeros returns n zero bytes as a string.
func zeros(n int) string { return string(bytes.Repeat([]byte{0}, n)) }
