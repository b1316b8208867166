package herald_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/internal/auth"
	"github.com/heraldevents/herald/internal/testserver"
)

// runBriefly runs r for at most two seconds and returns Run's error.
func runBriefly(r *herald.Router) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return r.Run(ctx)
}

// A nil handler, middleware or upcaster is refused by Run, which runs nothing,
// instead of panicking in every delivery's goroutine (every event nacked
// until its dead letter) or in Run itself.
func TestRouter_RunRefusesNilHandlersAndMiddleware(t *testing.T) {
	ok := func(context.Context, *herald.Delivery) error { return nil }
	cases := []struct {
		name, want string
		setup      func(r *herald.Router)
	}{
		{"HandleFunc", "nil handler", func(r *herald.Router) { r.HandleFunc("orders", "billing", nil) }},
		{"Handle", "nil handler", func(r *herald.Router) { herald.Handle[OrderPlaced](r, "orders", "billing", nil) }},
		{"HandleBatchFunc", "nil handler", func(r *herald.Router) {
			r.HandleBatchFunc("orders", "billing", herald.BatchOptions{}, nil)
		}},
		{"HandleBatch", "nil handler", func(r *herald.Router) {
			herald.HandleBatch[OrderPlaced](r, "orders", "billing", herald.BatchOptions{}, nil)
		}},
		{"Use", "nil middleware", func(r *herald.Router) {
			r.Use(nil)
			r.HandleFunc("orders", "billing", ok)
		}},
		{"Upcast", "nil upcaster", func(r *herald.Router) {
			herald.Upcast[OrderPlaced, OrderPlaced](r, "order.placed", 1, nil)
			r.HandleFunc("orders", "billing", ok)
		}},
		{"a middleware returning nil", "returned a nil handler", func(r *herald.Router) {
			r.Use(func(herald.Handler) herald.Handler { return nil })
			r.HandleFunc("orders", "billing", ok)
		}},
	}
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f := newFixture(t, c, 5)
		f.publish(1)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := herald.NewRouter(c, herald.RouterOptions{})
				tc.setup(r)
				start := time.Now()
				err := runBriefly(r)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Run: %v, want an error saying %q", err, tc.want)
				}
				if took := time.Since(start); took > time.Second {
					t.Errorf("Run took %s to refuse", took)
				}
				info, err := c.Subscription(context.Background(), "orders", "billing")
				if err != nil {
					t.Fatal(err)
				}
				if p := info.Partitions[0]; p.Committed != 0 || p.InFlight != 0 || p.WaitingRetry != 0 {
					t.Fatalf("the refused Run delivered: %+v", p)
				}
			})
		}
	})
}

// Two handlers of one subscription would split its events between them
// at random: Run refuses them, running nothing.
func TestRouter_RunRefusesTwoHandlersOfOneSubscription(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		newFixture(t, c, 5)
		r := herald.NewRouter(c, herald.RouterOptions{})
		r.HandleFunc("orders", "billing", func(context.Context, *herald.Delivery) error { return nil })
		herald.HandleBatch(r, "orders", "billing", herald.BatchOptions{}, func(context.Context, []herald.Event[OrderPlaced]) error { return nil })
		err := runBriefly(r)
		if err == nil || !strings.Contains(err.Error(), `two handlers for subscription "billing" on topic "orders"`) {
			t.Fatalf("Run: %v, want an error naming the subscription with two handlers", err)
		}
	})
}

// A handler, middleware or upcaster registered while Run runs would never
// run (and races with Run): the registration panics, saying so, as
// net/http's ServeMux does with a registration it cannot honour. Once Run
// has returned, the Router takes registrations again.
func TestRouter_RegisteringWhileRunRunsPanics(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f, r := runningRouter(t, c)
		registrations := map[string]func(){
			"HandleFunc": func() { r.HandleFunc("orders", "other", func(context.Context, *herald.Delivery) error { return nil }) },
			"HandleBatch": func() {
				herald.HandleBatch(r, "orders", "other", herald.BatchOptions{}, func(context.Context, []herald.Event[OrderPlaced]) error { return nil })
			},
			"Use": func() { r.Use(func(h herald.Handler) herald.Handler { return h }) },
			"Upcast": func() {
				herald.Upcast(r, "order.placed", 1, func(v OrderPlaced) (OrderPlaced, error) { return v, nil })
			},
		}
		for name, register := range registrations {
			if p := panicOf(register); !strings.Contains(fmt.Sprint(p), "while Run runs") {
				t.Errorf("%s while Run runs: panic %v, want one saying it cannot be honoured", name, p)
			}
		}
		f.stop()
		if p := panicOf(registrations["HandleFunc"]); p != nil {
			t.Fatalf("HandleFunc after Run returned panicked: %v", p)
		}
	})
}

// runningRouter returns a Router whose Run runs, having handled an event.
func runningRouter(t *testing.T, c *herald.Client) (*fixture, *herald.Router) {
	f := newFixture(t, c, 5)
	r := herald.NewRouter(c, herald.RouterOptions{})
	started := make(chan struct{}, 1)
	r.HandleFunc("orders", "billing", func(context.Context, *herald.Delivery) error {
		select {
		case started <- struct{}{}:
		default:
		}
		return nil
	})
	f.run(r)
	f.publish(1)
	<-started
	return f, r
}

// panicOf calls fn and returns what it panicked with, if anything.
func panicOf(fn func()) (p any) {
	defer func() { p = recover() }()
	fn()
	return nil
}

// A second Run of a Router that is running is refused at once: it would
// run every subscription twice over, with one Concurrency each.
func TestRouter_RunWhileRunningIsRefused(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f, r := runningRouter(t, c)
		start := time.Now()
		if err := runBriefly(r); err == nil || !strings.Contains(err.Error(), "already running") {
			t.Fatalf("a second Run: %v, want an error saying the Router is running", err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("the second Run took %s to be refused", took)
		}
		f.stop()
		if err := runBriefly(r); err != nil { // once stopped, it runs again
			t.Fatalf("Run after the first returned: %v", err)
		}
	})
}

// A Router whose client is closed under it stops taking deliveries, lets
// its handlers finish and returns ErrClientClosed, instead of retrying
// forever (embedded) or handling on over a client whose publishes fail
// (remote: its stream outlives Close).
func TestRouter_RunEndsWithErrClientClosedWhenItsClientCloses(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f := newFixture(t, c, 5)
		r := herald.NewRouter(c, herald.RouterOptions{})
		r.HandleFunc("orders", "billing", func(context.Context, *herald.Delivery) error { return nil })
		f.run(r)
		f.publish(1)
		eventually(t, "the ack", func() bool { return f.committed() == 1 })
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-f.done:
			f.cancel = nil
			if !errors.Is(err, herald.ErrClientClosed) {
				t.Fatalf("Run returned %v, want ErrClientClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run still runs 5s after its client was closed")
		}
	})
}

// A remote client whose token may not consume the topic makes Run fail at
// once, running nothing, as a missing subscription does: its streams were
// refused over and over, with warnings in the log, until ctx ended and Run
// returned nil.
func TestRouter_RunFailsAtOnceWithATokenThatMayNotConsume(t *testing.T) {
	file := filepath.Join(t.TempDir(), "auth.json")
	grant := func(name, actions string) string {
		sum := sha256.Sum256([]byte(name))
		return `{"name": "` + name + `", "sha256": "` + hex.EncodeToString(sum[:]) + `", "grants": [{"topics": "*", "actions": [` + actions + `]}]}`
	}
	body := `{"tokens": [` + grant("publisher", `"publish"`) + `, ` + grant("admin", `"admin", "publish", "consume"`) + `]}`
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := &auth.Keyring{}
	if err := keys.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	ts := testserver.StartWith(t, t.TempDir(), testserver.Options{Keys: keys})
	f := newFixture(t, ts.Connect(t, herald.WithToken("admin")), 5)
	f.publish(1)
	r := herald.NewRouter(ts.Connect(t, herald.WithToken("publisher")), herald.RouterOptions{})
	r.HandleFunc("orders", "billing", func(context.Context, *herald.Delivery) error { return nil })
	start := time.Now()
	if err := runBriefly(r); !errors.Is(err, herald.ErrForbidden) || !strings.Contains(err.Error(), `subscription "billing" on topic "orders"`) {
		t.Fatalf("Run with a token that may not consume: %v, want ErrForbidden naming the subscription", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Run took %s to fail", took)
	}
}
