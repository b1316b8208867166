package vfs

import (
	"io/fs"
	"os"
	"syscall"
)

// OS is the real file system, over package os. File.Sync is fdatasync on
// Linux and (*os.File).Sync elsewhere; SyncDir fsyncs the directory.
var OS FS = osFS{}

// osFS implements FS with package os.
type osFS struct{}

// osFile implements File over an *os.File.
type osFile struct {
	f *os.File
}

var (
	_ FS   = osFS{}
	_ File = (*osFile)(nil)
)

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &osFile{f: f}, nil
}

func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) RemoveAll(name string) error                  { return os.RemoveAll(name) }
func (osFS) Rename(oldname, newname string) error         { return os.Rename(oldname, newname) }
func (osFS) MkdirAll(name string, perm os.FileMode) error { return os.MkdirAll(name, perm) }
func (osFS) ReadDir(name string) ([]fs.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) Stat(name string) (fs.FileInfo, error)        { return os.Stat(name) }

// SyncDir opens the directory read-only and fsyncs it, which makes the
// creations, removals and renames of its entries durable.
func (osFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = syncDir(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir fsyncs d after checking that it is a directory.
func syncDir(d *os.File) error {
	info, err := d.Stat()
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return &fs.PathError{Op: "syncdir", Path: d.Name(), Err: syscall.ENOTDIR}
	}
	return d.Sync()
}

func (f *osFile) ReadAt(p []byte, off int64) (int, error)  { return f.f.ReadAt(p, off) }
func (f *osFile) WriteAt(p []byte, off int64) (int, error) { return f.f.WriteAt(p, off) }
func (f *osFile) Close() error                             { return f.f.Close() }
func (f *osFile) Truncate(size int64) error                { return f.f.Truncate(size) }
func (f *osFile) Stat() (fs.FileInfo, error)               { return f.f.Stat() }
func (f *osFile) Name() string                             { return f.f.Name() }

// Sync makes the file's data durable: fdatasync on Linux.
func (f *osFile) Sync() error { return datasync(f.f) }
