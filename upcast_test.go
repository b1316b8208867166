package herald_test

import (
	"context"
	"strings"
	"testing"

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

// A chain with a version missing (1 to 2, then 3 to 4) does not follow
// on: Run refuses it.
func TestRouter_RunRefusesUpcastersWithAVersionMissing(t *testing.T) {
	c, err := herald.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := herald.NewRouter(c, herald.RouterOptions{})
	herald.Upcast(r, "UserRegistered", 1, v1ToV2)
	herald.Upcast(r, "UserRegistered", 3, func(u UserV3) (UserV3, error) { return u, nil })
	err = r.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), `upcasters of "UserRegistered": none from version 2`) {
		t.Fatalf("run: %v", err)
	}
}
