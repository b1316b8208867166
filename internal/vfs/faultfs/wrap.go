package faultfs

import (
	"errors"
	"io/fs"
	"os"

	"github.com/heraldevents/herald/internal/vfs"
)

// Injector decides the fate of one operation before it runs: nil lets it
// run; an error is returned instead of running it. Injectors are called from
// many goroutines at once and must be safe for that.
type Injector func(op Op, path string) error

// Wrap returns an FS that asks inj before each operation on fsys or on a
// file opened through it, and fails the operation with inj's error instead
// of performing it. A nil inj injects nothing. Close always closes the
// underlying file, even when inj fails it.
func Wrap(fsys vfs.FS, inj Injector) vfs.FS {
	if inj == nil {
		inj = func(Op, string) error { return nil }
	}
	return &injFS{fs: fsys, inj: inj}
}

// injFS is an FS that consults an Injector.
type injFS struct {
	fs  vfs.FS
	inj Injector
}

var _ vfs.FS = (*injFS)(nil)

// check asks the injector about op on path.
func (w *injFS) check(op Op, path string) error {
	if err := w.inj(op, path); err != nil {
		return asPathError(op, path, err)
	}
	return nil
}

func (w *injFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	op := OpOpen
	if flag&(os.O_CREATE|os.O_TRUNC) != 0 {
		op = OpCreate
	}
	if err := w.check(op, name); err != nil {
		return nil, err
	}
	f, err := w.fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &injFile{f: f, inj: w.inj}, nil
}

func (w *injFS) Remove(name string) error {
	if err := w.check(OpRemove, name); err != nil {
		return err
	}
	return w.fs.Remove(name)
}

func (w *injFS) RemoveAll(name string) error {
	if err := w.check(OpRemoveAll, name); err != nil {
		return err
	}
	return w.fs.RemoveAll(name)
}

func (w *injFS) Rename(oldname, newname string) error {
	if err := w.inj(OpRename, oldname); err != nil {
		if isPathError(err) {
			return err
		}
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	return w.fs.Rename(oldname, newname)
}

func (w *injFS) MkdirAll(name string, perm os.FileMode) error {
	if err := w.check(OpMkdir, name); err != nil {
		return err
	}
	return w.fs.MkdirAll(name, perm)
}

func (w *injFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := w.check(OpReadDir, name); err != nil {
		return nil, err
	}
	return w.fs.ReadDir(name)
}

func (w *injFS) Stat(name string) (fs.FileInfo, error) {
	if err := w.check(OpStat, name); err != nil {
		return nil, err
	}
	return w.fs.Stat(name)
}

func (w *injFS) SyncDir(name string) error {
	if err := w.check(OpSyncDir, name); err != nil {
		return err
	}
	return w.fs.SyncDir(name)
}

// asPathError puts err in an *fs.PathError unless it already names a path.
func asPathError(op Op, path string, err error) error {
	if isPathError(err) {
		return err
	}
	return &fs.PathError{Op: op.String(), Path: path, Err: err}
}

// isPathError reports whether err is an *fs.PathError or *os.LinkError.
func isPathError(err error) bool {
	var pe *fs.PathError
	var le *os.LinkError
	return errors.As(err, &pe) || errors.As(err, &le)
}
