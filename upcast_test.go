package herald_test

import (
	"context"
	"strings"
	"testing"

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
