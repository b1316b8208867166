package middleware

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldevents/herald"
)

// Retry calls the handler again, in process, when it fails: up to attempts
// calls in all, waiting initial, then twice as long each time up to max.
// Only the last error goes back to the subscription (a nack). Permanent
// errors are not retried, and a cancelled context stops the retries.
// Retry panics if attempts is less than 1: a handler called no times would
// have its event acknowledged unhandled; and if initial is negative or
// more than max: the retries would not wait as asked (0 and 0 is no
// backoff).
func Retry(attempts int, initial, max time.Duration) herald.Middleware {
	switch {
	case attempts < 1:
		panic(fmt.Sprintf("middleware.Retry: attempts (%d) must be at least 1", attempts))
	case initial < 0 || max < initial:
		panic(fmt.Sprintf("middleware.Retry: the backoff (initial %s, max %s) must have 0 <= initial <= max", initial, max))
	}
	return func(next herald.Handler) herald.Handler {
		return func(ctx context.Context, d *herald.Delivery) error {
			wait := initial
			var err error
			for i := 0; i < attempts; i++ {
				if err = next(ctx, d); err == nil || herald.IsPermanent(err) || i == attempts-1 {
					return err
				}
				select {
				case <-time.After(wait):
				case <-ctx.Done():
				}
				if ctx.Err() != nil { // also when the wait was over as it ended (no backoff)
					return err
				}
				wait = min(wait*2, max)
			}
			return err
		}
	}
}
