package herald_test

import (
	"context"
	"errors"
	"testing"

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
