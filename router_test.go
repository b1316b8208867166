package herald_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/heraldevents/herald"
)

type OrderPlaced struct {
	Order int     `json:"order"`
	Total float64 `json:"total"`
}

// fixture is an embedded client with an "orders" topic and a subscription
// that retries quickly, and a router running until the test ends it.
type fixture struct {
	t      *testing.T
	c      *herald.Client
	ctx    context.Context
	cancel context.CancelFunc
	done   chan error
}

func newFixture(t *testing.T, c *herald.Client, maxAttempts int) *fixture {
	f := &fixture{t: t, c: c}
	ctx := context.Background()
	if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutSubscription(ctx, "orders", "billing", herald.SubscriptionConfig{Start: "earliest", MaxAttempts: maxAttempts,
		Backoff: herald.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 1}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.stop)
	return f
}

func (f *fixture) run(r *herald.Router) {
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.done = make(chan error, 1)
	go func() { f.done <- r.Run(f.ctx) }()
}

// cancelAndWait ends Run's ctx and fails the test unless Run returns
// within d, with what should have bounded it.
func (f *fixture) cancelAndWait(d time.Duration, bounds string) error {
	f.t.Helper()
	f.cancel()
	select {
	case err := <-f.done:
		f.cancel = nil
		return err
	case <-time.After(d):
		f.cancel = nil // stop would wait for it too
		f.t.Fatalf("Run did not return %s after its ctx ended, with %s", d, bounds)
		return nil
	}
}

func (f *fixture) stop() {
	if f.cancel != nil {
		f.cancel()
		<-f.done
		f.cancel = nil
	}
}

func (f *fixture) publish(n int) {
	for i := 0; i < n; i++ {
		e := herald.MustNewEvent("order.placed", []byte(`{"order":`+itoa(i)+`,"total":9.5}`), herald.WithSource("/shop"))
		if _, err := f.c.Publish(context.Background(), "orders", e); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) committed() int64 {
	info, err := f.c.Subscription(context.Background(), "orders", "billing")
	if err != nil {
		f.t.Fatal(err)
	}
	return info.Partitions[0].Committed
}

func (f *fixture) deadLetters() []*herald.CloudEvent {
	evs, err := f.c.Read(context.Background(), "orders.billing.dlq", 0, 0, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	return evs
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestRouter_TypedHandlerGetsDecodedDataAndAcks(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f := newFixture(t, c, 5)
		var mu sync.Mutex
		var got []OrderPlaced
		r := herald.NewRouter(f.c, herald.RouterOptions{})
		herald.Handle(r, "orders", "billing", func(ctx context.Context, e herald.Event[OrderPlaced]) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, e.Data)
			return nil
		})
		f.run(r)
		f.publish(5)
		eventually(t, "five acks", func() bool { return f.committed() == 5 })
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 5 || got[0].Total != 9.5 {
			t.Fatalf("handler got %+v", got)
		}
	})
}

func TestRouter_ErrorRetriesPanicRetriesPermanentDeadLetters(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f := newFixture(t, c, 5)
		var calls atomic.Int64
		r := herald.NewRouter(f.c, herald.RouterOptions{})
		herald.Handle(r, "orders", "billing", func(ctx context.Context, e herald.Event[OrderPlaced]) error {
			calls.Add(1)
			switch e.Data.Order {
			case 0: // fails once, then works
				if e.Attempt == 1 {
					return errors.New("payment service busy")
				}
			case 1: // panics once, then works
				if e.Attempt == 1 {
					panic("nil map")
				}
			case 2:
				return herald.Permanent(errors.New("order has no lines"))
			}
			return nil
		})
		f.run(r)
		f.publish(3)
		eventually(t, "every event finished", func() bool { return f.committed() == 3 })
		dead := f.deadLetters()
		if len(dead) != 1 || dead[0].Extensions["deadattempts"] != "1" || dead[0].Extensions["deadreason"] != "permanent: order has no lines" {
			t.Fatalf("dead letters: %+v", dead)
		}
		if n := calls.Load(); n != 5 {
			t.Fatalf("%d handler calls, want 5 (two retries)", n)
		}
	})
}

// A handler that panics at every attempt has its event dead-lettered once
// the attempts run out, with the panic and its stack as the reason.
func TestRouter_AHandlerThatAlwaysPanicsIsDeadLettered(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f := newFixture(t, c, 2)
		r := herald.NewRouter(f.c, herald.RouterOptions{})
		herald.Handle(r, "orders", "billing", func(ctx context.Context, e herald.Event[OrderPlaced]) error {
			panic("nil map")
		})
		f.run(r)
		f.publish(1)
		eventually(t, "the dead letter", func() bool { return f.committed() == 1 })
		dead := f.deadLetters()
		if len(dead) != 1 || dead[0].Extensions["deadattempts"] != "2" {
			t.Fatalf("dead letters: %+v", dead)
		}
		if reason := dead[0].Extensions["deadreason"]; !strings.HasPrefix(reason, "handler panicked: nil map | goroutine ") {
			t.Fatalf("dead letter's reason %q, want the panic and its stack", reason)
		}
	})
}

// A typed handler of a generated protobuf message gets protobuf data
// decoded; protobuf data for a handler of a plain struct is dead-lettered
// with a reason that says so.
func TestRouter_TypedHandlerDecodesProtobuf(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f := newFixture(t, c, 5)
		ctx := context.Background()
		if _, err := c.PutSubscription(ctx, "orders", "labels", herald.SubscriptionConfig{Start: "earliest",
			Filter: herald.Filter{Types: []string{"order.labelled"}}}); err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 10)
		r := herald.NewRouter(f.c, herald.RouterOptions{})
		herald.Handle(r, "orders", "labels", func(ctx context.Context, e herald.Event[*wrapperspb.StringValue]) error {
			got <- e.Data.GetValue()
			return nil
		})
		herald.Handle(r, "orders", "billing", func(ctx context.Context, e herald.Event[OrderPlaced]) error { return nil })
		f.run(r)
		if _, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.labelled", wrapperspb.String("fragile"), herald.WithSource("/shop"))); err != nil {
			t.Fatal(err)
		}
		select {
		case v := <-got:
			if v != "fragile" {
				t.Fatalf("protobuf handler got %q, want fragile", v)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the protobuf handler was not called")
		}
		eventually(t, "billing's dead letter", func() bool { return len(f.deadLetters()) == 1 })
		if reason := f.deadLetters()[0].Extensions["deadreason"]; !strings.Contains(reason, "not a protobuf message") {
			t.Errorf("billing's dead letter says %q", reason)
		}
	})
}

// Data that does not decode is dead-lettered at once, and the Router says
// so in its log (nothing else would show it).
func TestRouter_DataThatDoesNotDecodeIsDeadLetteredAtOnce(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f := newFixture(t, c, 5)
		var log lockedBuffer
		r := herald.NewRouter(f.c, herald.RouterOptions{Logger: slog.New(slog.NewTextHandler(&log, nil))})
		herald.Handle(r, "orders", "billing", func(ctx context.Context, e herald.Event[OrderPlaced]) error { return nil })
		f.run(r)
		bad := herald.MustNewEvent("order.placed", []byte(`{"order":"not a number"}`), herald.WithSource("/shop"))
		if _, err := f.c.Publish(context.Background(), "orders", bad); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the dead letter", func() bool { return len(f.deadLetters()) == 1 })
		f.stop()
		out := log.String()
		for _, want := range []string{"level=WARN", `msg="herald: router: event dead-lettered"`, "event_id=" + bad.ID, "does not decode"} {
			if !strings.Contains(out, want) {
				t.Errorf("router log %q lacks %s", out, want)
			}
		}
	})
}

// lockedBuffer is a bytes.Buffer that handler goroutines may write at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRouter_ShutdownLetsInFlightHandlersFinish(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f := newFixture(t, c, 5)
		started, release := make(chan struct{}), make(chan struct{})
		r := herald.NewRouter(f.c, herald.RouterOptions{})
		herald.Handle(r, "orders", "billing", func(ctx context.Context, e herald.Event[OrderPlaced]) error {
			close(started)
			<-release
			return nil
		})
		f.run(r)
		f.publish(1)
		<-started
		f.cancel() // shutdown begins while the handler runs
		time.AfterFunc(50*time.Millisecond, func() { close(release) })
		<-f.done
		f.cancel = nil
		if got := f.committed(); got != 1 {
			t.Fatalf("committed %d after drain, want the in-flight event acked", got)
		}
	})
}

// A handler that ignores its cancelled context does not keep Run from
// returning: its delivery is nacked (another router gets it), Run says
// what happened, and the handler's late result changes nothing.
func TestRouter_HandlerIgnoringItsContextDoesNotHoldRunForever(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f := newFixture(t, c, 5)
		r := herald.NewRouter(f.c, herald.RouterOptions{DrainTimeout: 50 * time.Millisecond})
		started, release, returned := make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
		herald.Handle(r, "orders", "billing", func(ctx context.Context, e herald.Event[OrderPlaced]) error {
			defer close(returned)
			started <- struct{}{}
			<-release // ignores ctx
			return nil
		})
		f.run(r)
		f.publish(1)
		<-started
		f.cancel()
		select {
		case err := <-f.done:
			if err == nil || !strings.Contains(err.Error(), "did not return within the drain timeout") {
				t.Fatalf("Run returned %v, want an error naming the handler that did not return", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run still waits for a handler that ignores its context")
		}
		f.cancel = nil
		again := herald.NewRouter(f.c, herald.RouterOptions{DrainTimeout: 50 * time.Millisecond})
		var redelivered atomic.Int64
		herald.Handle(again, "orders", "billing", func(ctx context.Context, e herald.Event[OrderPlaced]) error {
			redelivered.Add(1)
			<-ctx.Done() // holds the redelivery until the drain timeout of the end
			return ctx.Err()
		})
		f.run(again)
		eventually(t, "the redelivery of the nacked event", func() bool { return redelivered.Load() >= 1 })
		close(release) // the stuck handler returns nil now: its ack must not count
		<-returned
		time.Sleep(100 * time.Millisecond)
		if got := f.committed(); got != 0 {
			t.Fatalf("the late result of a handler whose delivery was nacked acked it: committed %d", got)
		}
		f.stop()
	})
}

func TestRouter_HandlersPastTheDrainTimeoutAreCancelledAndNacked(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f := newFixture(t, c, 5)
		var attempts atomic.Int64
		r := herald.NewRouter(f.c, herald.RouterOptions{DrainTimeout: 50 * time.Millisecond})
		started := make(chan struct{}, 1)
		herald.Handle(r, "orders", "billing", func(ctx context.Context, e herald.Event[OrderPlaced]) error {
			attempts.Add(1)
			started <- struct{}{}
			<-ctx.Done() // a slow handler that respects its context
			return ctx.Err()
		})
		f.run(r)
		f.publish(1)
		<-started
		f.stop()
		if got := f.committed(); got != 0 {
			t.Fatalf("an unfinished delivery was acked: committed %d", got)
		}
		// A new router gets it again: it was nacked, not lost.
		again := herald.NewRouter(f.c, herald.RouterOptions{})
		herald.Handle(again, "orders", "billing", func(ctx context.Context, e herald.Event[OrderPlaced]) error { return nil })
		f.run(again)
		eventually(t, "the redelivery", func() bool { return f.committed() == 1 })
	})
}

// A handler that ends its goroutine instead of returning (runtime.Goexit,
// as t.FailNow does) has its delivery nacked, so the event comes again at
// once rather than being held until MaxExtension.
func TestRouter_AHandlerThatExitsItsGoroutineNacks(t *testing.T) {
	c, err := herald.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := newFixture(t, c, 5)
	var seen calls
	r := herald.NewRouter(c, herald.RouterOptions{})
	herald.Handle(r, "orders", "billing", func(ctx context.Context, e herald.Event[OrderPlaced]) error {
		seen.add(e)
		if e.Attempt == 1 {
			runtime.Goexit()
		}
		return nil
	})
	f.publish(1)
	f.run(r)
	eventually(t, "the ack of attempt 2", func() bool { return f.committed() == 1 })
	f.stop()
	if got := seen.list(); len(got) != 2 || got[1] != "0/2" {
		t.Fatalf("handler calls (order/attempt) %v, want 0/1 then 0/2", got)
	}
}
