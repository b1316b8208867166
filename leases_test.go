package herald_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/heraldevents/herald"
)

// slowSubscription creates the fixture's topic and a subscription on it
// whose ack timeout is the least allowed, 1s, and whose backoff is short,
// so that a lease that runs out shows at once.
func slowSubscription(t *testing.T, c *herald.Client) *fixture {
	f := newFixture(t, c, 5)
	if _, err := c.PutSubscription(context.Background(), "orders", "slow", herald.SubscriptionConfig{Start: "earliest",
		AckTimeout: time.Second, MaxAttempts: 5,
		Backoff: herald.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 1}}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) committedOn(sub string) int64 {
	info, err := f.c.Subscription(context.Background(), "orders", sub)
	if err != nil {
		f.t.Fatal(err)
	}
	return info.Partitions[0].Committed
}

// calls records each handler call's event and attempt.
type calls struct {
	mu  sync.Mutex
	got []string // "order/attempt"
}

func (c *calls) add(e herald.Event[OrderPlaced]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, itoa(e.Data.Order)+"/"+itoa(e.Attempt))
}

func (c *calls) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

// A handler slower than the ack timeout, and deliveries waiting longer
// than it for the one handler, keep their leases: each event is handled
// once, at its first attempt. Without the extensions the first event's
// lease runs out while it is handled, and it comes again.
func TestRouter_ExtendsTheLeasesOfDeliveriesItHolds(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f := slowSubscription(t, c)
		var seen calls
		r := herald.NewRouter(f.c, herald.RouterOptions{Concurrency: 1})
		herald.Handle(r, "orders", "slow", func(ctx context.Context, e herald.Event[OrderPlaced]) error {
			seen.add(e)
			select {
			case <-time.After(1300 * time.Millisecond):
			case <-ctx.Done():
			}
			return nil
		})
		f.publish(3)
		f.run(r)
		eventually(t, "three acks", func() bool { return f.committedOn("slow") == 3 })
		f.stop()
		if got := seen.list(); len(got) != 3 || got[0] != "0/1" || got[1] != "1/1" || got[2] != "2/1" {
			t.Fatalf("handler calls (order/attempt) %v, want each of the three events once at attempt 1", got)
		}
	})
}

// Past MaxExtension a held delivery's lease runs out, so a handler stuck
// for good does not hold its event forever: the event comes again.
func TestRouter_StopsExtendingAfterMaxExtension(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f := slowSubscription(t, c)
		var seen calls
		stuck := make(chan struct{})
		r := herald.NewRouter(f.c, herald.RouterOptions{Concurrency: 2, MaxExtension: 1500 * time.Millisecond})
		herald.Handle(r, "orders", "slow", func(ctx context.Context, e herald.Event[OrderPlaced]) error {
			seen.add(e)
			if e.Attempt == 1 {
				<-stuck // until the test ends
			}
			return nil
		})
		f.publish(1)
		started := time.Now()
		f.run(r)
		eventually(t, "the event again, at attempt 2", func() bool { return len(seen.list()) == 2 })
		took := time.Since(started)
		close(stuck)
		f.stop()
		if got := seen.list(); got[0] != "0/1" || got[1] != "0/2" {
			t.Fatalf("handler calls (order/attempt) %v, want 0/1 then 0/2", got)
		}
		// Last extended at the last tick before 1.5s after it came (1.25s
		// or 1.5s), so its lease ran out 2.25s or 2.5s after; without
		// extensions, after 1s.
		if took < 2*time.Second || took > 6*time.Second {
			t.Fatalf("the event came again after %s, want between 2s and 6s (2.25s or 2.5s)", took)
		}
	})
}
