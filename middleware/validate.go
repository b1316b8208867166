package middleware

import (
	"context"
	"errors"
	"fmt"

	"github.com/heraldevents/herald"
)

// ErrCannotCheck is what a Validate check returns, wrapped, when it could
// not decide (the registry it asks is unreachable): the event is nacked
// and checked again when it comes back, not dead-lettered.
var ErrCannotCheck = errors.New("event could not be checked")

// Validate checks each event before the handler sees it (the schema
// registry plugs in here). An event the check refuses can never become
// valid by retrying, so it is dead-lettered at once with the check's
// error. A check that could not decide is not a refusal: when it returns
// an error wrapping ErrCannotCheck, or when ctx ended (the Router
// draining, a Timeout), the event is nacked and comes again. Validate
// panics if check is nil.
func Validate(check func(ctx context.Context, e *herald.CloudEvent) error) herald.Middleware {
	if check == nil {
		panic("middleware.Validate: no check")
	}
	return func(next herald.Handler) herald.Handler {
		return func(ctx context.Context, d *herald.Delivery) error {
			if err := check(ctx, d.Event); err != nil {
				err = fmt.Errorf("event %s failed validation: %w", d.Event.ID, err)
				if errors.Is(err, ErrCannotCheck) || ctx.Err() != nil {
					return err
				}
				return herald.Permanent(err)
			}
			return next(ctx, d)
		}
	}
}
