package faultfs

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// Errors that injectors return. Wrap puts an injected error that is not
// already an *fs.PathError or *os.LinkError into one naming the op and path,
// so errors.Is and errors.As see both the cause and the path.
var (
	// ErrInjected is the default injected failure.
	ErrInjected = errors.New("faultfs: injected fault")
	// ErrPowerCut is what CutAfter returns once the power is cut.
	// errors.Is(ErrPowerCut, ErrInjected) is true.
	ErrPowerCut error = powerCut{}
)

// powerCut is the type of ErrPowerCut.
type powerCut struct{}

func (powerCut) Error() string        { return "faultfs: power cut" }
func (powerCut) Is(target error) bool { return target == ErrInjected }

// NoSpaceError returns a full disk's error: syscall.ENOSPC in an
// *fs.PathError. It has the Injector signature, so Wrap(fsys, NoSpaceError)
// is a disk that is always full.
func NoSpaceError(op Op, path string) error {
	return &fs.PathError{Op: op.String(), Path: path, Err: syscall.ENOSPC}
}

// IOError returns a failing disk's error: syscall.EIO in an *fs.PathError.
func IOError(op Op, path string) error {
	return &fs.PathError{Op: op.String(), Path: path, Err: syscall.EIO}
}

// ShortWrite, returned by an Injector for OpWrite, makes the write store
// its first N bytes (clamped to the buffer) and then fail with Err, or with
// ErrInjected when Err is nil. For any other op it is an ordinary error.
type ShortWrite struct {
	N   int
	Err error
}

func (w ShortWrite) Error() string {
	return fmt.Sprintf("faultfs: short write of %d bytes: %v", w.N, w.cause())
}

// Unwrap returns the error the write fails with.
func (w ShortWrite) Unwrap() error { return w.cause() }

// cause is Err, or ErrInjected when Err is nil.
func (w ShortWrite) cause() error {
	if w.Err == nil {
		return ErrInjected
	}
	return w.Err
}
