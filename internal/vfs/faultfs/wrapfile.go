package faultfs

import (
	"errors"
	"io/fs"

	"github.com/heraldevents/herald/internal/vfs"
)

// injFile is a File that consults an Injector.
type injFile struct {
	f   vfs.File
	inj Injector
}

var _ vfs.File = (*injFile)(nil)

// check asks the injector about op on this file.
func (w *injFile) check(op Op) error {
	if err := w.inj(op, w.f.Name()); err != nil {
		return asPathError(op, w.f.Name(), err)
	}
	return nil
}

func (w *injFile) ReadAt(p []byte, off int64) (int, error) {
	if err := w.check(OpRead); err != nil {
		return 0, err
	}
	return w.f.ReadAt(p, off)
}

// WriteAt performs a ShortWrite's first N bytes before failing.
func (w *injFile) WriteAt(p []byte, off int64) (int, error) {
	err := w.inj(OpWrite, w.f.Name())
	if err == nil {
		return w.f.WriteAt(p, off)
	}
	var short ShortWrite
	if !errors.As(err, &short) {
		return 0, asPathError(OpWrite, w.f.Name(), err)
	}
	n, werr := w.f.WriteAt(p[:min(max(short.N, 0), len(p))], off)
	if werr != nil {
		return n, werr
	}
	return n, asPathError(OpWrite, w.f.Name(), short.cause())
}

// Sync, when the injector fails it, makes a MemFS file beneath drop its
// unsynced writes, as a real fsync that fails does: a later Sync that
// succeeds does not make them durable.
func (w *injFile) Sync() error {
	if err := w.check(OpSync); err != nil {
		w.failSync()
		return err
	}
	return w.f.Sync()
}

// syncFailer is a file that can drop its unsynced writes as a failed fsync
// does: a MemFS file, or an injFile over one.
type syncFailer interface{ failSync() }

func (w *injFile) failSync() {
	if f, ok := w.f.(syncFailer); ok {
		f.failSync()
	}
}

func (w *injFile) Truncate(size int64) error {
	if err := w.check(OpTruncate); err != nil {
		return err
	}
	return w.f.Truncate(size)
}

func (w *injFile) Stat() (fs.FileInfo, error) {
	if err := w.check(OpStat); err != nil {
		return nil, err
	}
	return w.f.Stat()
}

// Close closes the underlying file even when the injector fails it, like a
// real close(2) that reports an error after releasing the descriptor.
func (w *injFile) Close() error {
	injected := w.check(OpClose)
	if err := w.f.Close(); injected == nil {
		return err
	}
	return injected
}

func (w *injFile) Name() string { return w.f.Name() }
