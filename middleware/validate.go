package middleware

import (
	"context"
	"fmt"

	"github.com/heraldevents/herald"
)

// Validate checks each event before the handler sees it (the schema
// registry plugs in here). An event the check refuses can never become
// valid by retrying, so it is dead-lettered at once with the check's error.
func Validate(check func(ctx context.Context, e *herald.CloudEvent) error) herald.Middleware {
	return func(next herald.Handler) herald.Handler {
		return func(ctx context.Context, d *herald.Delivery) error {
			if err := check(ctx, d.Event); err != nil {
				return herald.Permanent(fmt.Errorf("event %s failed validation: %w", d.Event.ID, err))
			}
			return next(ctx, d)
		}
	}
}
