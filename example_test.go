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
