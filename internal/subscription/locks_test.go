package subscription

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// A subscription busy for long (a redrive reading a large dead-letter
// topic holds it) must not hold up the calls of every other subscription
// while its Delete or settings change waits for it.
func TestManager_ACallWaitingForABusySubscriptionHoldsUpNoOther(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func(v *env) error
	}{
		{"delete", func(v *env) error { return v.m.Delete(v.ctx, "orders", "busy") }},
		{"settings", func(v *env) error {
			_, _, err := v.m.Put(v.ctx, "orders", "busy", Config{MaxAttempts: 7})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t)
			v.topic("orders", 1)
			v.sub("orders", "busy", Config{})
			v.sub("orders", "other", Config{})
			v.publish("orders", "k")
			busy, err := v.m.get(context.Background(), "orders", "busy")
			if err != nil {
				t.Fatal(err)
			}
			busy.mu.Lock() // what a long redrive does
			done := make(chan error, 1)
			go func() { done <- tc.call(v) }()
			time.Sleep(50 * time.Millisecond) // let the call reach the busy subscription

			other := make(chan error, 1)
			go func() {
				ds, err := v.m.Pull(v.ctx, "orders", "other", 10, 0)
				if err == nil && len(ds) != 1 {
					err = errors.New("no delivery")
				}
				other <- err
			}()
			select {
			case err := <-other:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				busy.mu.Unlock()
				t.Fatal("a pull on another subscription waited for the busy one")
			}
			busy.mu.Unlock()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Listing or redriving dead letters reads the dead-letter topic, which
// may be large and slow to read; the subscription's pulls and acks go on
// meanwhile.
func TestDeadLetters_ReadingTheDeadLetterTopicHoldsUpNoPull(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func(v *env) error
	}{
		{"list", func(v *env) error { _, err := v.m.DeadLetters(v.ctx, "orders", "s", "", 10); return err }},
		{"redrive", func(v *env) error {
			_, err := v.m.Redrive(v.ctx, "orders", "s", RedriveRequest{All: true})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, gate := slowDeadLetterEnv(t)
			v.topic("orders", 1)
			v.sub("orders", "s", Config{MaxAttempts: 1})
			v.publish("orders", "a")
			v.nack("orders", "s", "down", v.pull("orders", "s", 10)...)
			v.publish("orders", "b")

			gate.arm()
			done := make(chan error, 1)
			go func() { done <- tc.call(v) }()
			<-gate.reached

			pulled := make(chan []Delivery, 1)
			go func() { pulled <- v.pull("orders", "s", 10) }()
			select {
			case ds := <-pulled:
				if len(ds) != 1 || ds[0].Event.PartitionKey != "b" {
					t.Errorf("pull during the read of the dead letters: %+v, want event b", ds)
				}
			case <-time.After(10 * time.Second):
				t.Error("a pull waited for the read of the dead-letter topic")
			}
			close(gate.open)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A listing of dead letters stops once their data passes maxListBytes,
// as a read of the log does: a limit of 10,000 large events would
// otherwise be held in memory at once.
func TestDeadLetters_AListingIsBoundedInBytes(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{MaxAttempts: 1})
	const n, size = 10, 1_000_000
	for i := 0; i < n; i++ {
		e := &event.Event{ID: fmt.Sprintf("big-%d", i), Source: "/test", Type: "test.event", SpecVersion: "1.0",
			DataContentType: "application/octet-stream", Data: make([]byte, size)}
		if _, err := v.b.Publish(v.ctx, "orders", []*event.Event{e}); err != nil {
			t.Fatal(err)
		}
		v.nack("orders", "s", "down", v.pull("orders", "s", 1)...)
	}
	dls, err := v.m.DeadLetters(v.ctx, "orders", "s", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := maxListBytes/size + 1; len(dls) != want {
		t.Fatalf("%d dead letters of %d bytes listed, want %d (the first to pass %d bytes)", len(dls), size, want, maxListBytes)
	}
	if dls, err := v.m.DeadLetters(v.ctx, "orders", "s", "", 3); err != nil || len(dls) != 3 {
		t.Fatalf("a limit under the bound: %d dead letters, %v", len(dls), err)
	}
}

// A redrive reads the dead-letter topic without the subscription's lock;
// an event that dies again meanwhile (a redriven one, failing once more)
// is sent back from its newest dead letter all the same, as by a redrive
// that held the lock: from an older one, the newest would stay unresolved
// once the event is acked, and the next redrive of all would deliver the
// event again.
func TestRedrive_AnEventThatDiesAgainDuringTheReadIsSentBackFromItsNewestDeadLetter(t *testing.T) {
	v, gate := slowDeadLetterEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{MaxAttempts: 1})
	v.publish("orders", "a")
	v.nack("orders", "s", "down", v.pull("orders", "s", 10)...)
	all := RedriveRequest{All: true}
	if res, err := v.m.Redrive(v.ctx, "orders", "s", all); err != nil || res.Redriven != 1 {
		t.Fatalf("first redrive: %+v, %v", res, err)
	}

	gate.arm()
	type result struct {
		res RedriveResult
		err error
	}
	second := make(chan result, 1)
	go func() {
		res, err := v.m.Redrive(v.ctx, "orders", "s", all)
		second <- result{res, err}
	}()
	<-gate.reached
	// It dies again, past the dead-letter topic's dedup window: a second
	// dead letter.
	v.clock.Add(3 * time.Minute)
	v.nack("orders", "s", "down again", v.pull("orders", "s", 10)...)
	close(gate.open)
	if r := <-second; r.err != nil || r.res.Redriven != 1 {
		t.Fatalf("second redrive: %+v, %v", r.res, r.err)
	}
	ds := v.pull("orders", "s", 10)
	if len(ds) != 1 {
		t.Fatalf("after the second redrive: %d deliveries, want the event", len(ds))
	}
	v.ack("orders", "s", ds...)

	if res, err := v.m.Redrive(v.ctx, "orders", "s", all); err != nil || res.Redriven != 0 {
		t.Fatalf("a redrive of all after the event was acked: %+v, %v; want nothing sent back", res, err)
	}
	if ds := v.pull("orders", "s", 10); len(ds) != 0 {
		t.Fatalf("the acked event came again: %+v", ds)
	}
}

// A Manager that cannot start (its state cannot be read) leaves no
// goroutine behind: an embedded program may try again.
func TestNew_AStartThatFailsLeavesNoGoroutine(t *testing.T) {
	broken := new(atomic.Bool)
	v := &env{t: t, dir: "/data", clock: &clock{now: time.Now()}, ctx: context.Background(),
		fs: faultfs.Wrap(faultfs.New(), func(op faultfs.Op, path string) error {
			if broken.Load() && op == faultfs.OpRead && strings.Contains(path, stateTopic) {
				return faultfs.IOError(op, path)
			}
			return nil
		})}
	v.open()
	v.topic("orders", 1)
	v.sub("orders", "s", Config{})
	v.m.Close()
	defer v.e.Close()
	broken.Store(true)
	ignore := goleak.IgnoreCurrent()
	if m, err := New(v.ctx, v.b, Options{}); err == nil {
		m.Close()
		t.Fatal("a manager whose state cannot be read started")
	}
	goleak.VerifyNone(t, ignore)
}

// readGate holds up the next read of the dead-letter topic orders.s.dlq
// once armed, as a slow disk would: reached is closed when a read is
// held, and closing open lets it go on.
type readGate struct {
	mu      sync.Mutex
	on      bool
	reached chan struct{}
	open    chan struct{}
}

func (g *readGate) arm() { g.mu.Lock(); g.on = true; g.mu.Unlock() }

func (g *readGate) inject(op faultfs.Op, path string) error {
	g.mu.Lock()
	wait := g.on && op == faultfs.OpRead && strings.Contains(path, "orders.s.dlq")
	if wait {
		g.on = false
		close(g.reached)
	}
	g.mu.Unlock()
	if wait {
		<-g.open
	}
	return nil
}

// slowDeadLetterEnv is an env whose reads of orders.s.dlq the gate holds.
func slowDeadLetterEnv(t *testing.T) (*env, *readGate) {
	gate := &readGate{reached: make(chan struct{}), open: make(chan struct{})}
	v := &env{t: t, dir: "/data", clock: &clock{now: time.Now()}, ctx: context.Background(),
		fs: faultfs.Wrap(faultfs.New(), gate.inject)}
	v.open()
	t.Cleanup(func() { v.m.Close(); v.e.Close() })
	return v, gate
}
