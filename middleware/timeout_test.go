package middleware

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldevents/herald"
)

func TestTimeout_CancelsASlowHandlerAndSaysSo(t *testing.T) {
	slow := func(ctx context.Context, d *herald.Delivery) error { <-ctx.Done(); return ctx.Err() }
	err := Timeout(10*time.Millisecond)(slow)(context.Background(), delivery())
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 10ms") {
		t.Fatalf("error %v", err)
	}
	fast := func(ctx context.Context, d *herald.Delivery) error { return nil }
	if err := Timeout(time.Second)(fast)(context.Background(), delivery()); err != nil {
		t.Fatal(err)
	}
}

func TestTimeout_DoesNotClaimADeadlineThatWasNotItsOwn(t *testing.T) {
	parent, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	slow := func(ctx context.Context, d *herald.Delivery) error { <-ctx.Done(); return ctx.Err() }
	err := Timeout(time.Hour)(slow)(parent, delivery())
	if !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timed out after") {
		t.Fatalf("error %v: the caller's deadline came first, not the hour", err)
	}
}

// A timeout of zero or less would fail every event (and dead-letter it
// after the subscription's attempts) without a handler ever having time.
func TestTimeout_RefusesADurationThatIsNotPositive(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		func() {
			defer func() {
				if p := recover(); p == nil {
					t.Errorf("Timeout(%s) did not panic: every handler would time out at once", d)
				}
			}()
			Timeout(d)
		}()
	}
}

// A handler that overran its timeout is named as timed out even when the
// caller's context ended after the timeout did (the Router's drain
// cancelling it, say) but before the handler returned.
func TestTimeout_NamesItsOwnTimeoutWhenTheCallerEndsAfterIt(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow := func(ctx context.Context, d *herald.Delivery) error {
		<-ctx.Done() // the 10ms: parent is still alive
		cancel()
		return ctx.Err()
	}
	err := Timeout(10*time.Millisecond)(slow)(parent, delivery())
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 10ms") {
		t.Fatalf("error %v, want it named as the 10ms timeout", err)
	}
}
