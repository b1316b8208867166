package herald

import (
	"context"
	"errors"
	"testing"
)

// A call that passed Client's closed check when Close came (its backend
// closed under it) is ErrClientClosed, as ErrClientClosed promises for a
// call in flight when the client closed, not the storage's own error.
func TestEmbedded_ACallInFlightAtCloseIsErrClientClosed(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := c.PutTopic(ctx, "orders", TopicSpec{}); err != nil {
		t.Fatal(err)
	}
	if err := c.b.close(); err != nil { // as Close does, after the call's check
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"Offsets": func() error { _, _, err := c.Offsets(ctx, "orders", 0); return err },
		"Read":    func() error { _, err := c.Read(ctx, "orders", 0, 0, 1); return err },
		"Topic":   func() error { _, err := c.Topic(ctx, "orders"); return err },
	} {
		if err := call(); !errors.Is(err, ErrClientClosed) {
			t.Errorf("%s once the storage closed: %v, want ErrClientClosed", name, err)
		}
	}
}
