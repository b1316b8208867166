package herald_test

import (
	"context"
	"fmt"
	"os"

	"github.com/heraldevents/herald"
)

func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "herald-example")
	defer os.RemoveAll(dir)
	c, err := herald.Open(dir)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	ctx := context.Background()

	e := herald.NewEvent("order.placed", "/shop", []byte(`{"order":42}`))
	e.PartitionKey = "order-42"
	res, err := c.Publish(ctx, "orders", e)
	if err != nil {
		panic(err)
	}
	fmt.Println("stored at partition", res[0].Partition, "offset", res[0].Offset)

	again, _ := c.Publish(ctx, "orders", e) // same source and id: deduplicated
	fmt.Println("duplicate:", again[0].Duplicate, "offset", again[0].Offset)

	events, _ := c.Read(ctx, "orders", 0, 0, 10)
	fmt.Println(events[0].Type, string(events[0].Data))
	// Output:
	// stored at partition 0 offset 0
	// duplicate: true offset 0
	// order.placed {"order":42}
}

func ExampleHandle() {
	dir, _ := os.MkdirTemp("", "herald-example")
	defer os.RemoveAll(dir)
	c, _ := herald.Open(dir)
	defer c.Close()
	ctx, stop := context.WithCancel(context.Background())

	type OrderPlaced struct {
		Order int `json:"order"`
	}
	c.PutTopic(ctx, "orders", herald.TopicSpec{})
	c.PutSubscription(ctx, "orders", "billing", herald.SubscriptionConfig{Start: "earliest"})
	r := herald.NewRouter(c, herald.RouterOptions{})
	herald.Handle(r, "orders", "billing", func(ctx context.Context, e herald.Event[OrderPlaced]) error {
		fmt.Println("charging order", e.Data.Order, "attempt", e.Attempt)
		stop() // one event is enough for the example
		return nil
	})
	c.Publish(ctx, "orders", herald.NewEvent("order.placed", "/shop", []byte(`{"order":42}`)))
	r.Run(ctx) // returns once ctx ends and the handler has finished
	// Output: charging order 42 attempt 1
}
