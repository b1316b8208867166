package middleware

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldevents/herald"
)

// errTimedOut is the cause of a handler context that Timeout ended.
var errTimedOut = errors.New("middleware.Timeout: the handler's time is up")

// Timeout gives each call of the handler at most d: its context is
// cancelled then, and a handler that returns the deadline error fails with
// a message that says so (and is retried like any failure). Timeout
// panics if d is not positive: every handler would time out at once.
func Timeout(d time.Duration) herald.Middleware {
	if d <= 0 {
		panic(fmt.Sprintf("middleware.Timeout: the timeout (%s) must be positive", d))
	}
	return func(next herald.Handler) herald.Handler {
		return func(parent context.Context, del *herald.Delivery) error {
			ctx, cancel := context.WithTimeoutCause(parent, d, errTimedOut)
			defer cancel()
			err := next(ctx, del)
			// Only this timeout is named: a deadline of the caller's that
			// came first is the caller's to explain. The cause is this
			// timeout's only when it ended ctx, whatever the caller's
			// context did afterwards.
			if errors.Is(err, context.DeadlineExceeded) && context.Cause(ctx) == errTimedOut {
				return fmt.Errorf("handler timed out after %s: %w", d, err)
			}
			return err
		}
	}
}
