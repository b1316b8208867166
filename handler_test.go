package herald_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/apipb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/heraldevents/herald"
)

// Permanent(nil) is nil, as the wrappers of errors and errors.Join are,
// so that "return herald.Permanent(check())" acks when the check passes
// (its Error method would otherwise panic, in the Router's goroutine
// that settles the delivery).
func TestRouter_AHandlerReturningPermanentOfNilAcks(t *testing.T) {
	if err := herald.Permanent(nil); err != nil {
		t.Fatalf("Permanent(nil) = %#v, want nil", err)
	}
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f := newFixture(t, c, 5)
		r := herald.NewRouter(f.c, herald.RouterOptions{})
		check := func(OrderPlaced) error { return nil }
		herald.Handle(r, "orders", "billing", func(ctx context.Context, e herald.Event[OrderPlaced]) error {
			return herald.Permanent(check(e.Data))
		})
		f.run(r)
		f.publish(2)
		eventually(t, "two acks", func() bool { return f.committed() == 2 })
		if dead := f.deadLetters(); len(dead) != 0 {
			t.Fatalf("dead letters: %+v", dead)
		}
	})
	if err := herald.Permanent(errors.New("no lines")); !herald.IsPermanent(err) || err.Error() != "permanent: no lines" {
		t.Fatalf("Permanent(err) = %v", err)
	}
}

// handleOne runs a typed handler for one event, on a router set up by
// setup, and returns its data, or the reason it was dead-lettered with.
func handleOne[T any](t *testing.T, c *herald.Client, e *herald.CloudEvent, setup ...func(r *herald.Router)) (data T, deadReason string) {
	t.Helper()
	f := newFixture(t, c, 5)
	got := make(chan T, 1)
	r := herald.NewRouter(f.c, herald.RouterOptions{})
	for _, s := range setup {
		s(r)
	}
	herald.Handle(r, "orders", "billing", func(ctx context.Context, e herald.Event[T]) error {
		got <- e.Data
		return nil
	})
	f.run(r)
	if _, err := c.Publish(context.Background(), "orders", e); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the event handled or dead-lettered", func() bool { return f.committed() == 1 })
	f.stop()
	select {
	case data = <-got:
		return data, ""
	default:
	}
	dead := f.deadLetters()
	if len(dead) != 1 {
		t.Fatalf("neither handled nor dead-lettered: %+v", dead)
	}
	return data, dead[0].Extensions["deadreason"]
}

// A protobuf message whose fields are all unset encodes as no bytes; a
// handler of its type gets a message, not nil, and a handler of another
// message type does not get it at all.
func TestRouter_AnEmptyProtobufMessageDecodesAsAMessageOfItsType(t *testing.T) {
	e := herald.MustNewEvent("order.labelled", wrapperspb.String(""), herald.WithSource("/shop"))
	if len(e.Data) != 0 {
		t.Fatalf("the empty message encodes as %q", e.Data)
	}
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		data, reason := handleOne[*wrapperspb.StringValue](t, c, e)
		if data == nil || reason != "" {
			t.Fatalf("handler got %v (dead-lettered: %q), want an empty StringValue", data, reason)
		}
	})
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		data, reason := handleOne[*wrapperspb.Int64Value](t, c, e)
		if !strings.Contains(reason, "not a google.protobuf.Int64Value") {
			t.Fatalf("handler got %v (dead-lettered: %q), want it dead-lettered as another message", data, reason)
		}
	})
}

// Data whose content type is neither JSON nor protobuf is not read as
// JSON, even when its bytes happen to be JSON: a typed handler does not
// get it, and its dead letter says what the data is.
func TestRouter_ATypedHandlerRefusesDataThatIsNeitherJSONNorProtobuf(t *testing.T) {
	e := herald.MustNewEvent("reading.taken", []byte("42"), herald.WithSource("/meter"), herald.WithContentType("text/plain"))
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		data, reason := handleOne[int](t, c, e)
		if !strings.Contains(reason, "text/plain") || !strings.Contains(reason, "neither JSON nor protobuf") {
			t.Fatalf("handler got %d (dead-lettered: %q), want it dead-lettered as text/plain", data, reason)
		}
	})
}

// A handler typed []byte gets the data's bytes as they are, whatever the
// content type, as NewEvent takes []byte as data that is encoded already.
func TestRouter_AHandlerOfBytesGetsTheDataAsItIs(t *testing.T) {
	for _, e := range []*herald.CloudEvent{
		herald.MustNewEvent("order.placed", []byte(`{"order": 7}`), herald.WithSource("/shop")),
		herald.MustNewEvent("reading.taken", []byte("42 kWh"), herald.WithSource("/meter"), herald.WithContentType("text/plain")),
	} {
		forEachClient(t, func(t *testing.T, c *herald.Client) {
			data, reason := handleOne[[]byte](t, c, e)
			if string(data) != string(e.Data) {
				t.Fatalf("handler got %q (dead-lettered: %q), want %q", data, reason, e.Data)
			}
		})
	}
}

// JSON data for a handler of a generated protobuf message is read as
// protobuf's JSON mapping (protojson, what NewEvent asks for): field
// names in lowerCamelCase, which encoding/json would drop without a word.
func TestRouter_ATypedHandlerOfAProtobufMessageReadsJSONAsProtojson(t *testing.T) {
	raw, err := protojson.Marshal(&apipb.Method{Name: "Place", RequestTypeUrl: "type.googleapis.com/shop.PlaceOrder", ResponseStreaming: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "requestTypeUrl") {
		t.Fatalf("protojson wrote %s", raw)
	}
	// An unknown field is ignored, as encoding/json ignores one.
	raw = append(raw[:len(raw)-1], []byte(`, "addedLater": 1}`)...)
	e := herald.MustNewEvent("method.added", raw, herald.WithSource("/api"))
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		m, reason := handleOne[*apipb.Method](t, c, e)
		if m.GetName() != "Place" || m.GetRequestTypeUrl() != "type.googleapis.com/shop.PlaceOrder" || !m.GetResponseStreaming() {
			t.Fatalf("handler got %v (dead-lettered: %q)", m, reason)
		}
	})
}

// A handler's error that is not UTF-8 (bytes of the event's data in its
// message, say) still settles its delivery, remote as embedded: the
// reason is made a valid string, and the settlements after it are not
// held up.
func TestRouter_AnErrorThatIsNotUTF8StillSettles(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f := newFixture(t, c, 5)
		r := herald.NewRouter(f.c, herald.RouterOptions{Logger: slog.New(slog.DiscardHandler)})
		herald.Handle(r, "orders", "billing", func(ctx context.Context, e herald.Event[OrderPlaced]) error {
			if e.Data.Order == 0 {
				return herald.Permanent(errors.New("bad name \xff\xfe"))
			}
			return nil
		})
		f.run(r)
		f.publish(3)
		eventually(t, "three events settled", func() bool { return f.committed() == 3 })
		dead := f.deadLetters()
		if len(dead) != 1 || dead[0].Extensions["deadreason"] != "permanent: bad name \uFFFD\uFFFD" {
			t.Fatalf("dead letters: %+v", dead)
		}
		f.stop()
		ctx := context.Background()
		f.publish(1)
		ds, err := c.Pull(ctx, "orders", "billing", 1, time.Second)
		if err != nil || len(ds) != 1 {
			t.Fatalf("pull: %v %v", ds, err)
		}
		if res, err := c.Nack(ctx, "orders", "billing", []string{ds[0].AckID}, 0, "bad \xff"); err != nil || len(res.Acked) != 1 {
			t.Fatalf("a nack with a reason that is not UTF-8: %+v %v", res, err)
		}
	})
}

// An event of a batch that does not decode is dead-lettered at once even
// when the batch handler, given the others, panics: the panic fails only
// the events it was given.
func TestRouter_ABatchHandlersPanicDoesNotRetryTheEventsThatDidNotDecode(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		f := newFixture(t, c, 3)
		if _, err := c.PutSubscription(ctx, "orders", "billing", herald.SubscriptionConfig{Ordering: herald.OrderNone, MaxAttempts: 3,
			Backoff: herald.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 1}}); err != nil {
			t.Fatal(err)
		}
		good := herald.MustNewEvent("order.placed", []byte(`{"order":1}`), herald.WithSource("/shop"))
		bad := herald.MustNewEvent("order.placed", []byte(`{"order":"x"}`), herald.WithSource("/shop"))
		if _, err := c.Publish(ctx, "orders", good, bad); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var sizes []int
		r := herald.NewRouter(c, herald.RouterOptions{Logger: slog.New(slog.DiscardHandler)})
		herald.HandleBatch(r, "orders", "billing", herald.BatchOptions{MaxSize: 10, MaxWait: time.Second},
			func(ctx context.Context, es []herald.Event[OrderPlaced]) error {
				mu.Lock()
				sizes = append(sizes, len(es))
				mu.Unlock()
				panic("warehouse client is nil")
			})
		f.run(r)
		eventually(t, "both dead-lettered", func() bool { return len(f.deadLetters()) == 2 })
		for _, d := range f.deadLetters() {
			reason, attempts := d.Extensions["deadreason"], d.Extensions["deadattempts"]
			switch d.Extensions["deadid"] {
			case bad.ID:
				if !strings.Contains(reason, "does not decode") || attempts != "1" {
					t.Errorf("the undecodable event died after %s attempts: %q", attempts, reason)
				}
			case good.ID:
				if !strings.HasPrefix(reason, "handler panicked: warehouse client is nil") || attempts != "3" {
					t.Errorf("the decodable event died after %s attempts: %q", attempts, reason)
				}
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(sizes) != 3 || sizes[0] != 1 {
			t.Errorf("batch sizes %v, want the decodable event alone three times", sizes)
		}
	})
}

// lookupError is an error type whose Error method reads its receiver, as
// most do: a nil *lookupError returned as an error is not a nil error,
// and its Error method panics.
type lookupError struct{ key string }

func (e *lookupError) Error() string { return "no row for " + e.key }

// A handler returning an error whose Error method panics (a nil pointer
// of an error type, the classic typed nil) has its delivery nacked, as a
// handler that panics does, instead of crashing the program in the
// Router's goroutine that settles the delivery.
func TestRouter_AnErrorWhoseErrorMethodPanicsNacks(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f := newFixture(t, c, 5)
		var seen calls
		r := herald.NewRouter(f.c, herald.RouterOptions{})
		herald.Handle(r, "orders", "billing", func(ctx context.Context, e herald.Event[OrderPlaced]) error {
			seen.add(e)
			var err *lookupError // found nothing to complain about, but typed
			if e.Attempt > 1 {
				return nil
			}
			return err
		})
		herald.HandleBatch(r, "orders", "bulk", herald.BatchOptions{}, func(ctx context.Context, es []herald.Event[OrderPlaced]) error {
			var err *lookupError
			if es[0].Attempt > 1 {
				return nil
			}
			return err
		})
		if _, err := c.PutSubscription(context.Background(), "orders", "bulk", herald.SubscriptionConfig{Start: "earliest",
			Backoff: herald.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 1}}); err != nil {
			t.Fatal(err)
		}
		f.publish(1)
		f.run(r)
		eventually(t, "the acks of attempt 2", func() bool { return f.committed() == 1 && f.committedOn("bulk") == 1 })
		f.stop()
		if got := seen.list(); len(got) != 2 || got[1] != "0/2" {
			t.Fatalf("handler calls (order/attempt) %v, want 0/1 then 0/2", got)
		}
	})
}

// A batch handler may change the slice of deliveries it is given (filter
// it in place with slices.DeleteFunc, which clears what it drops, or sort
// it): the Router settles every delivery of the batch all the same,
// instead of crashing the program on the entries it finds cleared.
func TestRouter_ABatchHandlerMayFilterItsDeliveriesInPlace(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		f := newFixture(t, c, 5)
		if _, err := c.PutSubscription(context.Background(), "orders", "billing", herald.SubscriptionConfig{Ordering: herald.OrderNone}); err != nil {
			t.Fatal(err)
		}
		f.publish(6)
		var kept atomic.Int64
		r := herald.NewRouter(c, herald.RouterOptions{})
		r.HandleBatchFunc("orders", "billing", herald.BatchOptions{MaxSize: 10, MaxWait: 200 * time.Millisecond},
			func(ctx context.Context, ds []*herald.Delivery) error {
				ds = slices.DeleteFunc(ds, func(d *herald.Delivery) bool { return d.Event.Data[len(`{"order":`)]%2 == 0 })
				kept.Add(int64(len(ds)))
				return nil
			})
		f.run(r)
		eventually(t, "every event acked", func() bool { return f.committed() == 6 })
		f.stop()
		if kept.Load() != 3 {
			t.Fatalf("the handler kept %d events, want the 3 odd orders", kept.Load())
		}
	})
}
