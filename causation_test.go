package herald_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldevents/herald"
)

// OrderPlaced -> StockReserved -> PaymentCompleted: each event published
// from a handler names the event that caused it, and all share the
// correlation id of the first.
func TestCausation_FollowsAThreeHopChain(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f := newFixture(t, c, 5)
		ctx := context.Background()
		for _, topic := range []string{"stock", "payments"} {
			if _, _, err := f.c.PutTopic(ctx, topic, herald.TopicSpec{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.c.PutSubscription(ctx, "stock", "payment", herald.SubscriptionConfig{Start: "earliest"}); err != nil {
			t.Fatal(err)
		}
		r := herald.NewRouter(f.c, herald.RouterOptions{})
		herald.Handle(r, "orders", "billing", func(ctx context.Context, e herald.Event[OrderPlaced]) error {
			_, err := f.c.Publish(ctx, "stock", herald.MustNewEvent("stock.reserved", []byte(`{}`), herald.WithSource("/inventory")))
			return err
		})
		herald.Handle(r, "stock", "payment", func(ctx context.Context, e herald.Event[struct{}]) error {
			_, err := f.c.Publish(ctx, "payments", herald.MustNewEvent("payment.completed", []byte(`{}`), herald.WithSource("/payments")))
			return err
		})
		f.run(r)
		placed := herald.MustNewEvent("order.placed", []byte(`{"order":7}`), herald.WithSource("/shop"))
		if _, err := f.c.Publish(ctx, "orders", placed); err != nil {
			t.Fatal(err)
		}
		var paid []*herald.CloudEvent
		eventually(t, "the payment", func() bool {
			paid, _ = f.c.Read(ctx, "payments", 0, 0, 10)
			return len(paid) == 1
		})
		stock, _ := f.c.Read(ctx, "stock", 0, 0, 10)
		if stock[0].CausationID != placed.ID || stock[0].CorrelationID != placed.ID {
			t.Fatalf("stock.reserved: causation %q correlation %q, want both %q", stock[0].CausationID, stock[0].CorrelationID, placed.ID)
		}
		if paid[0].CausationID != stock[0].ID || paid[0].CorrelationID != placed.ID {
			t.Fatalf("payment.completed: causation %q (want %q) correlation %q (want %q)",
				paid[0].CausationID, stock[0].ID, paid[0].CorrelationID, placed.ID)
		}
	})
}

// A handler that publishes through a Publisher, which sends the event later
// in a batch with events of other callers, gives it the same causation,
// correlation and trace as a direct publish would.
func TestCausation_SurvivesAPublishersBatch(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		checkBatchCausation(t, c, false)
	})
}

// A publish middleware that reorders the batch it is given in place does
// not mix up which caller each event of a Publisher's batch came from.
func TestCausation_SurvivesAMiddlewareThatReordersTheBatch(t *testing.T) {
	reverse := func(next herald.PublishFunc) herald.PublishFunc {
		return func(ctx context.Context, topic string, events []*herald.CloudEvent) ([]herald.Result, error) {
			slices.Reverse(events)
			res, err := next(ctx, topic, events)
			slices.Reverse(events)
			slices.Reverse(res)
			return res, err
		}
	}
	c, err := herald.Open(t.TempDir(), herald.WithPublishMiddleware(reverse))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkBatchCausation(t, c, true)
}

// checkBatchCausation has a handler publish its own event (handled first
// when mineFirst) and another caller's, in no handler, through a Publisher
// that sends the two as one batch, and checks that only the handler's
// event names the handled one as its cause and continues its trace.
func checkBatchCausation(t *testing.T, c *herald.Client, mineFirst bool) {
	t.Helper()
	f := newFixture(t, c, 5)
	ctx := context.Background()
	if _, _, err := c.PutTopic(ctx, "stock", herald.TopicSpec{}); err != nil {
		t.Fatal(err)
	}
	p := c.NewPublisher(herald.PublisherOptions{Linger: time.Hour, MaxBatchEvents: 2}) // the handler's two events go together
	defer p.Close(ctx)
	r := herald.NewRouter(c, herald.RouterOptions{})
	herald.Handle(r, "orders", "billing", func(ctx context.Context, e herald.Event[OrderPlaced]) error {
		publish := []func() *herald.PublishResult{
			func() *herald.PublishResult {
				return p.Publish(ctx, "stock", herald.MustNewEvent("stock.reserved", []byte(`{}`), herald.WithSource("/inventory")))
			},
			func() *herald.PublishResult {
				return p.Publish(context.Background(), "stock", herald.MustNewEvent("stock.counted", []byte(`{}`), herald.WithSource("/inventory")))
			},
		}
		if !mineFirst {
			slices.Reverse(publish)
		}
		results := []*herald.PublishResult{publish[0](), publish[1]()}
		for _, res := range results {
			if _, err := res.Wait(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	f.run(r)
	placed := herald.MustNewEvent("order.placed", []byte(`{"order":7}`), herald.WithSource("/shop"))
	placed.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if _, err := c.Publish(ctx, "orders", placed); err != nil {
		t.Fatal(err)
	}
	var stock []*herald.CloudEvent
	eventually(t, "the stock events", func() bool {
		stock, _ = c.Read(ctx, "stock", 0, 0, 10)
		return len(stock) == 2
	})
	for _, e := range stock {
		want := herald.CloudEvent{CausationID: placed.ID, CorrelationID: placed.ID, TraceParent: placed.TraceParent}
		if e.Type == "stock.counted" {
			want = herald.CloudEvent{}
		}
		if e.CausationID != want.CausationID || e.CorrelationID != want.CorrelationID || e.TraceParent != want.TraceParent {
			t.Errorf("%s: causation %q correlation %q traceparent %q, want %q %q %q", e.Type,
				e.CausationID, e.CorrelationID, e.TraceParent, want.CausationID, want.CorrelationID, want.TraceParent)
		}
	}
}

// A Publisher measures an event handed over in a handler with the
// traceparent and tracestate it gets from the handled event when its
// batch is sent: one that would then be over the 1 MiB limit fails alone
// at Publish, and one that is then exactly 1 MiB is stored.
func TestCausation_PublisherMeasuresAnEventWithTheTraceItGetsWhenSent(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f := newFixture(t, c, 5)
		ctx := context.Background()
		p := c.NewPublisher(herald.PublisherOptions{Linger: time.Hour})
		defer p.Close(ctx)
		placed := herald.MustNewEvent("order.placed", []byte(`{"order":7}`), herald.WithSource("/shop"))
		placed.TraceParent, placed.TraceState = testTraceParent, "vendor=abc"
		trace := (&herald.CloudEvent{TraceParent: placed.TraceParent, TraceState: placed.TraceState}).Size()
		blob := func(id string, size int) *herald.CloudEvent {
			e := herald.MustNewEvent("blob.stored", nil, herald.WithSource("/blobs"), herald.WithID(id))
			e.CausationID, e.CorrelationID = placed.ID, placed.ID // as Publish stamps them
			return padTo(e, size)
		}
		type outcome struct {
			over, fits *herald.PublishResult
			overAtOnce bool
		}
		out := make(chan outcome, 1)
		r := herald.NewRouter(c, herald.RouterOptions{})
		herald.Handle(r, "orders", "billing", func(hctx context.Context, e herald.Event[OrderPlaced]) error {
			over := p.Publish(hctx, "stock", blob("over", 1<<20-trace+1))
			fits := p.Publish(hctx, "stock", blob("fits", 1<<20-trace))
			out <- outcome{over: over, fits: fits, overAtOnce: isDone(over)}
			return nil
		})
		f.run(r)
		if _, err := c.Publish(ctx, "orders", placed); err != nil {
			t.Fatal(err)
		}
		var o outcome
		select {
		case o = <-out:
		case <-time.After(10 * time.Second):
			t.Fatal("the handler did not run")
		}
		if !o.overAtOnce {
			t.Fatal("an event over the limit with the trace it gets was accepted")
		}
		if err := waitErr(t, o.over); !errors.Is(err, herald.ErrEventTooLarge) {
			t.Fatalf("event over the limit with its trace: %v, want ErrEventTooLarge", err)
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		res := waitOK(t, o.fits)
		got, err := c.Read(ctx, "stock", res.Partition, res.Offset, 1)
		if err != nil || len(got) != 1 || got[0].Size() != 1<<20 || got[0].TraceParent != placed.TraceParent {
			t.Fatalf("read back: %v, %v; want the event of 1 MiB with the handled event's trace", got, err)
		}
	})
}

// A handler that forwards the event it handles (a relay to another
// topic) publishes it as it is: it is not its own cause.
func TestCausation_AForwardedEventIsNotItsOwnCause(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f := newFixture(t, c, 5)
		ctx := context.Background()
		if _, _, err := c.PutTopic(ctx, "archive", herald.TopicSpec{}); err != nil {
			t.Fatal(err)
		}
		r := herald.NewRouter(c, herald.RouterOptions{})
		herald.Handle(r, "orders", "billing", func(ctx context.Context, e herald.Event[OrderPlaced]) error {
			fwd := *e.CloudEvent // as read: its topic and position are the broker's to set
			_, err := c.Publish(ctx, "archive", &fwd)
			return err
		})
		f.run(r)
		placed := herald.MustNewEvent("order.placed", []byte(`{"order":7}`), herald.WithSource("/shop"))
		placed.CorrelationID = "checkout-3"
		if _, err := c.Publish(ctx, "orders", placed); err != nil {
			t.Fatal(err)
		}
		var archived []*herald.CloudEvent
		eventually(t, "the archived event", func() bool {
			archived, _ = c.Read(ctx, "archive", 0, 0, 10)
			return len(archived) == 1
		})
		if e := archived[0]; e.ID != placed.ID || e.CausationID != "" || e.CorrelationID != "checkout-3" {
			t.Fatalf("archived %s: causation %q correlation %q, want no causation and correlation checkout-3", e.ID, e.CausationID, e.CorrelationID)
		}
	})
}

// A batch handler gives an event it publishes the causation of the event
// of its batch it names with CausedBy.
func TestCausation_ABatchHandlerNamesTheCauseWithCausedBy(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f := newFixture(t, c, 5)
		ctx := context.Background()
		if _, _, err := f.c.PutTopic(ctx, "stock", herald.TopicSpec{}); err != nil {
			t.Fatal(err)
		}
		r := herald.NewRouter(f.c, herald.RouterOptions{})
		herald.HandleBatch(r, "orders", "billing", herald.BatchOptions{}, func(ctx context.Context, es []herald.Event[OrderPlaced]) error {
			for _, e := range es {
				reserved := herald.MustNewEvent("stock.reserved", []byte(`{}`), herald.WithSource("/inventory"))
				if _, err := f.c.Publish(herald.CausedBy(ctx, e.CloudEvent), "stock", reserved); err != nil {
					return err
				}
			}
			return nil
		})
		f.run(r)
		placed := herald.MustNewEvent("order.placed", []byte(`{"order":7}`), herald.WithSource("/shop"))
		placed.CorrelationID = "order-7"
		if _, err := f.c.Publish(ctx, "orders", placed); err != nil {
			t.Fatal(err)
		}
		var stock []*herald.CloudEvent
		eventually(t, "the reservation", func() bool {
			stock, _ = f.c.Read(ctx, "stock", 0, 0, 10)
			return len(stock) == 1
		})
		if stock[0].CausationID != placed.ID || stock[0].CorrelationID != "order-7" {
			t.Fatalf("stock.reserved: causation %q (want %q) correlation %q (want order-7)", stock[0].CausationID, placed.ID, stock[0].CorrelationID)
		}
	})
}

// The trace context an event gets from the event it was caused by is
// W3C Trace Context, as the CloudEvents distributed tracing extension
// says, or nothing: a traceparent that is not one (a publisher's junk) is
// not passed on, nor a tracestate with it, and a tracestate that is not
// one is dropped. So no publisher upstream can make the events published
// because of its own too large to store, directly or through a Publisher.
func TestCausation_PassesOnOnlyAWellFormedTraceContext(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	members := func(n int) string {
		m := make([]string, n)
		for i := range m {
			m[i] = "k" + strconv.Itoa(i) + "@sys=v"
		}
		return strings.Join(m, ",")
	}
	for _, tc := range []struct {
		name, tp, ts   string
		wantTP, wantTS string
	}{
		{"well formed", tp, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", tp, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"},
		{"junk traceparent", "not-a-traceparent", "rojo=1", "", ""},
		{"upper-case hex", strings.ToUpper(tp), "rojo=1", "", ""},
		{"no trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "", "", ""},
		{"version ff", "ff" + tp[2:], "", "", ""},
		{"version 00 with more", tp + "-extra", "", "", ""},
		{"a later version", "cc" + tp[2:] + "-what-follows", "rojo=1", tp, "rojo=1"},
		{"junk tracestate", tp, "not a tracestate", tp, ""},
		{"a tracestate key twice", tp, "rojo=1,rojo=2", tp, ""},
		{"32 tracestate members", tp, members(32), tp, members(32)},
		{"33 tracestate members", tp, members(33), tp, ""},
		{"huge tracestate", tp, "vendor=", tp, ""},      // made as large as the event can be
		{"huge junk traceparent", tp + "-", "", "", ""}, // made as large as the event can be
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachClient(t, func(t *testing.T, c *herald.Client) {
				ctx := context.Background()
				cause := herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop"))
				cause.TraceParent, cause.TraceState = tc.tp, tc.ts
				if strings.HasPrefix(tc.name, "huge") { // as a publisher may store it
					fill := strings.Repeat("x", 1<<20-cause.Size())
					if tc.ts != "" {
						cause.TraceState += fill
					} else {
						cause.TraceParent += fill
					}
					if _, err := c.Publish(ctx, "orders", cause); err != nil {
						t.Fatal(err)
					}
				}
				cctx := herald.CausedBy(ctx, cause)
				direct := herald.MustNewEvent("stock.reserved", []byte(`{}`), herald.WithSource("/inventory"))
				res, err := c.Publish(cctx, "stock", direct)
				if err != nil {
					t.Fatalf("publish: %v", err)
				}
				p := c.NewPublisher(herald.PublisherOptions{})
				defer p.Close(ctx)
				batched := herald.MustNewEvent("stock.reserved", []byte(`{}`), herald.WithSource("/inventory"))
				bres := waitOK(t, p.Publish(cctx, "stock", batched))
				for _, r := range []herald.Result{res[0], bres} {
					got, err := c.Read(ctx, "stock", r.Partition, r.Offset, 1)
					if err != nil || len(got) != 1 {
						t.Fatalf("read: %v, %v", got, err)
					}
					if e := got[0]; e.TraceParent != tc.wantTP || e.TraceState != tc.wantTS || e.CausationID != cause.ID {
						t.Errorf("stored with traceparent %.80q tracestate %.80q causation %q, want %q %q %q",
							e.TraceParent, e.TraceState, e.CausationID, tc.wantTP, tc.wantTS, cause.ID)
					}
				}
			})
		})
	}
}
