package herald_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/internal/testserver"
)

// A close that gave up (its settlements outlasted it) ends the Subscribe
// stream at once, even while a send holds it, and leaves no goroutine.
func TestRemoteFeed_CloseThatGaveUpEndsTheStreamAtOnce(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	c := testserver.Start(t, t.TempDir()).Connect(t)
	f := newFixture(t, c, 5)
	f.publish(3)
	if err := herald.CloseFeedGivenUp(context.Background(), c, "orders", "billing"); err != nil {
		t.Fatal(err)
	}
}
