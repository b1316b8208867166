package herald_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/apipb"

	"github.com/heraldevents/herald"
)

// An event of a version older than the first upcaster of its type cannot
// be brought to the version the handler takes: it is dead-lettered,
// saying so, instead of its data being read as the newest version.
func TestRouter_AnEventOlderThanItsUpcastersIsDeadLettered(t *testing.T) {
	e := herald.MustNewEvent("UserRegistered", UserV1{UserID: "user-1", Email: "alice@example.com", Name: "Alice Johnson"},
		herald.WithSource("/accounts"), herald.WithSchemaVersion(1))
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		u, reason := handleOne[UserV3](t, c, e, func(r *herald.Router) { herald.Upcast(r, "UserRegistered", 2, v2ToV3) })
		if !strings.Contains(reason, "version 1 of UserRegistered has no upcaster") {
			t.Fatalf("handler got %+v (dead-lettered: %q), want it dead-lettered", u, reason)
		}
	})
}

// Run refuses a chain of upcasters that does not follow on: one that
// takes another type than the version before it becomes, or a version
// missing (1 to 2, then 3 to 4).
func TestRouter_RunRefusesUpcastersThatDoNotFollowOn(t *testing.T) {
	for name, tc := range map[string]struct {
		second func(r *herald.Router)
		want   string
	}{
		"another type": {func(r *herald.Router) {
			herald.Upcast(r, "UserRegistered", 2, func(u UserV1) (UserV3, error) { return UserV3{}, nil }) // takes V1, but version 1 becomes V2
		}, "version 1 becomes herald_test.UserV2, but the upcaster of version 2 takes herald_test.UserV1"},
		"a version missing": {func(r *herald.Router) {
			herald.Upcast(r, "UserRegistered", 3, func(u UserV3) (UserV3, error) { return u, nil })
		}, `upcasters of "UserRegistered": none from version 2`},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := herald.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r := herald.NewRouter(c, herald.RouterOptions{})
			herald.Upcast(r, "UserRegistered", 1, v1ToV2)
			tc.second(r)
			if err := r.Run(context.Background()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// An upcaster's input is decoded as a handler's data is: by the event's
// content type, with protojson for a generated protobuf message, and not
// at all for data that is neither JSON nor protobuf.
func TestRouter_AnUpcasterDecodesItsInputAsAHandlerDoes(t *testing.T) {
	type methodV2 struct{ Name, Request string }
	upcast := func(r *herald.Router) {
		herald.Upcast(r, "method.added", 1, func(m *apipb.Method) (methodV2, error) {
			return methodV2{Name: m.GetName(), Request: m.GetRequestTypeUrl()}, nil
		})
	}
	raw, err := protojson.Marshal(&apipb.Method{Name: "Place", RequestTypeUrl: "type.googleapis.com/shop.PlaceOrder"})
	if err != nil {
		t.Fatal(err)
	}
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		e := herald.MustNewEvent("method.added", raw, herald.WithSource("/api"), herald.WithSchemaVersion(1))
		m, reason := handleOne[methodV2](t, c, e, upcast)
		if m != (methodV2{"Place", "type.googleapis.com/shop.PlaceOrder"}) {
			t.Fatalf("handler got %+v (dead-lettered: %q)", m, reason)
		}
	})
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		e := herald.MustNewEvent("method.added", raw, herald.WithSource("/api"), herald.WithSchemaVersion(1), herald.WithContentType("text/plain"))
		m, reason := handleOne[methodV2](t, c, e, upcast)
		if !strings.Contains(reason, "neither JSON nor protobuf") {
			t.Fatalf("handler got %+v (dead-lettered: %q), want text/plain data dead-lettered", m, reason)
		}
	})
}

// An upcaster that panics on one event of a batch fails that event alone,
// as a panic fails the event a Handle handler was handling: the other
// events of the batch go to the handler and are acked, instead of being
// nacked with it until they too are dead-lettered.
func TestRouter_AnUpcasterThatPanicsFailsOnlyItsEventOfABatch(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		f := newFixture(t, c, 2)
		if _, err := c.PutSubscription(ctx, "orders", "billing", herald.SubscriptionConfig{Ordering: herald.OrderNone, MaxAttempts: 2,
			Backoff: herald.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 1}}); err != nil {
			t.Fatal(err)
		}
		good := herald.MustNewEvent("UserRegistered", UserV1{UserID: "u-1", Name: "Alice Johnson"}, herald.WithSource("/accounts"), herald.WithSchemaVersion(1))
		bad := herald.MustNewEvent("UserRegistered", UserV1{UserID: "u-2"}, herald.WithSource("/accounts"), herald.WithSchemaVersion(1))
		if _, err := c.Publish(ctx, "orders", good, bad); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var handled []string
		r := herald.NewRouter(c, herald.RouterOptions{Logger: slog.New(slog.DiscardHandler)})
		herald.Upcast(r, "UserRegistered", 1, func(u UserV1) (UserV2, error) {
			_ = u.Name[0] // an index out of range for a user without a name
			return UserV2{UserID: u.UserID, Name: u.Name}, nil
		})
		herald.HandleBatch(r, "orders", "billing", herald.BatchOptions{MaxSize: 10, MaxWait: 200 * time.Millisecond},
			func(ctx context.Context, es []herald.Event[UserV2]) error {
				mu.Lock()
				defer mu.Unlock()
				for _, e := range es {
					handled = append(handled, e.Data.UserID)
				}
				return nil
			})
		f.run(r)
		eventually(t, "the bad event dead-lettered", func() bool { return len(f.deadLetters()) >= 1 })
		f.stop()
		dead := f.deadLetters()
		if len(dead) != 1 || dead[0].Extensions["deadid"] != bad.ID || !strings.Contains(dead[0].Extensions["deadreason"], "panicked") {
			t.Errorf("dead letters %v, want only the event whose upcaster panicked", dead)
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(handled, []string{"u-1"}) {
			t.Errorf("handled %v, want u-1 once", handled)
		}
	})
}

// Run refuses two upcasters of one type from one version, as it refuses
// two handlers of one subscription, instead of running the one registered
// last and dropping the other unsaid.
func TestRouter_RunRefusesTwoUpcastersOfOneVersion(t *testing.T) {
	c, err := herald.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := herald.NewRouter(c, herald.RouterOptions{})
	herald.Upcast(r, "UserRegistered", 1, v1ToV2)
	herald.Upcast(r, "UserRegistered", 1, func(u UserV1) (UserV2, error) { return UserV2{UserID: u.UserID}, nil })
	want := `two upcasters of "UserRegistered" from version 1`
	if err := r.Run(context.Background()); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("run: %v, want an error with %q", err, want)
	}
}

// A handler that takes the data as it is ([]byte) gets it as it is from a
// Router with upcasters for the event's type, as Handle promises, instead
// of having every event of an older version dead-lettered because the
// upcasters end at another type.
func TestRouter_ABytesHandlerGetsTheDataAsItIsPastUpcasters(t *testing.T) {
	e := herald.MustNewEvent("UserRegistered", UserV1{UserID: "user-1", Name: "Alice Johnson"},
		herald.WithSource("/accounts"), herald.WithSchemaVersion(1))
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		raw, reason := handleOne[[]byte](t, c, e, func(r *herald.Router) { herald.Upcast(r, "UserRegistered", 1, v1ToV2) })
		if string(raw) != string(e.Data) {
			t.Fatalf("handler got %q (dead-lettered: %q), want %q", raw, reason, e.Data)
		}
	})
}
