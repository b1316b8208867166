package middleware

import (
	"context"
	"errors"
	"fmt"
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

func TestValidate_ACheckThatCouldNotDecideNacks(t *testing.T) {
	h := func(ctx context.Context, d *herald.Delivery) error { t.Fatal("handler called"); return nil }
	unreachable := func(ctx context.Context, e *herald.CloudEvent) error {
		return fmt.Errorf("schema registry: %w: connection refused", ErrCannotCheck)
	}
	err := Validate(unreachable)(h)(context.Background(), delivery())
	if err == nil || herald.IsPermanent(err) || !errors.Is(err, ErrCannotCheck) {
		t.Fatalf("registry unreachable: error %v, want a nack wrapping ErrCannotCheck", err)
	}

	// The Router draining (or a Timeout) ends ctx during the check.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cancelled := func(ctx context.Context, e *herald.CloudEvent) error { return ctx.Err() }
	err = Validate(cancelled)(h)(ctx, delivery())
	if !errors.Is(err, context.Canceled) || herald.IsPermanent(err) {
		t.Fatalf("ctx ended: error %v, want a nack", err)
	}
}

// Without a check every event would panic in the handler chain, be
// nacked and end in the dead letters; the mistake is refused up front.
func TestValidate_RefusesANilCheck(t *testing.T) {
	defer func() {
		if p := recover(); p == nil {
			t.Fatal("Validate(nil) did not panic")
		}
	}()
	Validate(nil)
}
