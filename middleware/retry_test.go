package middleware

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/heraldevents/herald"
)

func TestRetry_RetriesInProcessThenGivesUp(t *testing.T) {
	cases := []struct {
		name          string
		fail, attempt int
		wantCalls     int
		wantErr       bool
	}{
		{"succeeds on the second call", 1, 3, 2, false},
		{"gives up after three", 5, 3, 3, true},
		{"one attempt means no retry", 1, 1, 1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			err := Retry(c.attempt, time.Millisecond, 4*time.Millisecond)(failing(c.fail, &calls))(context.Background(), delivery())
			if calls != c.wantCalls || (err != nil) != c.wantErr {
				t.Fatalf("%d calls, error %v", calls, err)
			}
		})
	}
}

func TestRetry_DoesNotRetryPermanentErrors(t *testing.T) {
	calls := 0
	h := func(ctx context.Context, d *herald.Delivery) error {
		calls++
		return herald.Permanent(errors.New("bad data"))
	}
	if err := Retry(5, time.Millisecond, time.Millisecond)(h)(context.Background(), delivery()); !herald.IsPermanent(err) || calls != 1 {
		t.Fatalf("%d calls, error %v", calls, err)
	}
}

func TestRetry_RefusesFewerThanOneAttempt(t *testing.T) {
	for _, n := range []int{0, -1} {
		func() {
			defer func() {
				if p := recover(); p == nil {
					t.Errorf("Retry(%d) did not panic: a handler called no times would have its event acked", n)
				}
			}()
			Retry(n, time.Millisecond, time.Millisecond)
		}()
	}
}

// With no backoff (initial 0) the wait is over at once, as the context
// ends: the retries stop all the same, every time.
func TestRetry_StopsWhenTheContextEndsEvenWithoutBackoff(t *testing.T) {
	for round := range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		h := func(ctx context.Context, d *herald.Delivery) error {
			calls++
			cancel() // the Router draining, say
			return errors.New("busy")
		}
		err := Retry(50, 0, 0)(h)(ctx, delivery())
		cancel()
		if calls != 1 || err == nil {
			t.Fatalf("round %d: %d calls after the context ended, error %v; want 1 call and its error", round, calls, err)
		}
	}
}

// A negative wait, or a max below the first wait, cannot be "initial, then
// twice as long each time up to max": time.After ends a negative wait at
// once, so the retries would run back to back (Retry(3, time.Second, 0)
// waited a second, then not at all). Such a backoff is refused up front.
func TestRetry_RefusesABackoffThatIsNegativeOrPastItsMax(t *testing.T) {
	cases := []struct {
		initial, max time.Duration
		ok           bool
	}{
		{0, 0, true},
		{0, time.Second, true},
		{time.Millisecond, time.Millisecond, true},
		{-time.Millisecond, time.Second, false},
		{time.Millisecond, -time.Millisecond, false},
		{time.Second, 0, false},
		{time.Second, 500 * time.Millisecond, false},
	}
	for _, c := range cases {
		func() {
			defer func() {
				if p := recover(); (p == nil) != c.ok {
					t.Errorf("Retry(3, %s, %s): panic %v, want a panic: %v", c.initial, c.max, p, !c.ok)
				}
			}()
			Retry(3, c.initial, c.max)
		}()
	}
}
