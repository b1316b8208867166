package faultfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/heraldevents/herald/internal/vfs"
)

// memFile is an open handle on a MemFS file. Like a Unix descriptor it keeps
// working after its file is renamed or removed.
type memFile struct {
	fs     *MemFS
	node   *inode
	name   string // As given to OpenFile.
	flag   int
	closed bool // Guarded by fs.mu.
}

var _ vfs.File = (*memFile)(nil)

// errNegativeOffset matches the message package os uses.
var errNegativeOffset = errors.New("negative offset")

// ReadAt reads len(p) bytes at off; fewer bytes come with io.EOF.
func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.RLock()
	defer f.fs.mu.RUnlock()
	if err := f.check("read", readAccess); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "readat", Path: f.name, Err: errNegativeOffset}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off >= f.node.size() {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt writes p at off, extending the file (with zeros over any gap).
func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write", writeAccess); err != nil {
		return 0, err
	}
	if f.flag&os.O_APPEND != 0 {
		return 0, errors.New("os: invalid use of WriteAt on file opened with O_APPEND")
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "writeat", Path: f.name, Err: errNegativeOffset}
	}
	f.node.writeAt(p, off)
	return len(p), nil
}

// Sync makes the file's current contents durable.
func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("sync", anyAccess); err != nil {
		return err
	}
	f.node.sync()
	return nil
}

// failSync drops the writes not yet synced as a failed fsync does (see
// inode.failSync). Wrap calls it when it fails a Sync.
func (f *memFile) failSync() {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if !f.closed {
		f.node.failSync()
	}
}

// Truncate changes the file's size; it is durable after the next Sync.
func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("truncate", writeAccess); err != nil {
		return err
	}
	if size < 0 {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: syscall.EINVAL}
	}
	f.node.truncate(size)
	return nil
}

// Stat describes the file under the base of the name it was opened with.
func (f *memFile) Stat() (fs.FileInfo, error) {
	f.fs.mu.RLock()
	defer f.fs.mu.RUnlock()
	if err := f.check("stat", anyAccess); err != nil {
		return nil, err
	}
	return f.node.info(baseName(f.name)), nil
}

// Close closes the handle; a second Close fails with os.ErrClosed.
func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.name, Err: os.ErrClosed}
	}
	f.closed = true
	return nil
}

// Name returns the name the file was opened with.
func (f *memFile) Name() string { return f.name }

// access is what an operation needs from the handle's open mode.
type access int

const (
	anyAccess   access = iota // Sync, Stat.
	readAccess                // ReadAt.
	writeAccess               // WriteAt, Truncate.
)

// check fails when the handle is closed or its open mode does not allow the
// access. The caller holds fs.mu.
func (f *memFile) check(op string, need access) error {
	if f.closed {
		return &fs.PathError{Op: op, Path: f.name, Err: os.ErrClosed}
	}
	mode := f.flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	if (need == writeAccess && mode == os.O_RDONLY) || (need == readAccess && mode == os.O_WRONLY) {
		return &fs.PathError{Op: op, Path: f.name, Err: syscall.EBADF}
	}
	return nil
}
