package herald_test

import (
	"context"
	"testing"

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
