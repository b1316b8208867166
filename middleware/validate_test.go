package middleware

import (
	"context"
	"errors"
	"testing"

	"github.com/heraldevents/herald"
)

func TestValidate_RefusedEventsArePermanentAndNeverReachTheHandler(t *testing.T) {
	called := false
	h := func(ctx context.Context, d *herald.Delivery) error { called = true; return nil }
	refuse := func(ctx context.Context, e *herald.CloudEvent) error { return errors.New("missing field total") }
	err := Validate(refuse)(h)(context.Background(), delivery())
	if !herald.IsPermanent(err) || called {
		t.Fatalf("error %v, handler called %v", err, called)
	}
	accept := func(ctx context.Context, e *herald.CloudEvent) error { return nil }
	if err := Validate(accept)(h)(context.Background(), delivery()); err != nil || !called {
		t.Fatalf("accepted event: error %v, handler called %v", err, called)
	}
}
