package log

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/heraldevents/herald/internal/storage"
)

// errIncomplete: a buffer ends before the batch it holds does. Internal: it
// tells the scanner to read more or, at the end of a file, that the tail is
// torn.
var errIncomplete = errors.New("incomplete batch")

// unavailable wraps a write error as storage.ErrUnavailable, adding
// storage.ErrNoSpace when the disk or the quota is full: the append was
// not stored, and a later one may succeed once space is freed.
func unavailable(what string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w: %s (disk full: writes resume once space is freed): %w", storage.ErrUnavailable, storage.ErrNoSpace, what, err)
	}
	return fmt.Errorf("%w: %s: %w", storage.ErrUnavailable, what, err)
}

// ioError is a failed read of a file, as opposed to bytes that were read
// and failed their checks: the data may be fine, the disk could not say.
type ioError struct{ err error }

func (e ioError) Error() string { return e.err.Error() }
func (e ioError) Unwrap() error { return e.err }

// isIOError reports whether err is a failed read rather than damage.
func isIOError(err error) bool {
	var ie ioError
	return errors.As(err, &ie)
}

// atByte names where in a file err happened: "<path> at byte <pos>: err".
// Damage reports always take this form.
func atByte(path string, pos int64, err error) error {
	return fmt.Errorf("%s at byte %d: %w", path, pos, err)
}

// damaged wraps the error of a bad read or bad bytes for callers: a read
// error is storage.ErrUnavailable (the data may be fine and a later read
// may work), bytes that fail their checks are storage.ErrCorrupt.
func damaged(err error) error {
	if isIOError(err) {
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	return fmt.Errorf("%w: %w", storage.ErrCorrupt, err)
}
