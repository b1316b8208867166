package middleware_test

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/middleware"
)

func ExampleIdempotent() {
	charge := func(ctx context.Context, d *herald.Delivery) error {
		fmt.Println("charging for", d.Event.ID)
		return nil
	}
	h := middleware.Idempotent(middleware.NewMemoryStore(), middleware.IdempotencyTTL(time.Hour))(charge)

	d := &herald.Delivery{Topic: "orders", Subscription: "billing",
		Event: &herald.CloudEvent{ID: "order-42-placed", Source: "/shop"}}
	fmt.Println(h(context.Background(), d))
	fmt.Println(h(context.Background(), d)) // redelivered: acked, not charged again
	// Output:
	// charging for order-42-placed
	// <nil>
	// <nil>
}
