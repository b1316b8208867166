package vfs

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Locker is implemented by file systems that can lock a path for one
// process at a time. The engine takes such a lock on its data directory so
// two servers never write the same log.
type Locker interface {
	// Lock takes an exclusive lock on the file at path (creating it),
	// without waiting: ErrLocked if another holder has it. Closing the
	// returned Closer releases it; so does the holder's exit.
	Lock(path string) (io.Closer, error)
}

// ErrLocked: another process holds the lock.
var ErrLocked = errors.New("locked by another process")

var _ Locker = osFS{}

// Lock implements Locker with flock(2) on Unix.
func (osFS) Lock(path string) (io.Closer, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := flock(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}
