package herald_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

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

	type OrderPlaced struct {
		Order int `json:"order"`
	}
	e, err := herald.NewEvent("order.placed", OrderPlaced{Order: 42},
		herald.WithSource("/shop"), herald.WithKey("order-42"))
	if err != nil {
		panic(err)
	}
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
	c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", OrderPlaced{Order: 42}))
	r.Run(ctx) // returns once ctx ends and the handler has finished
	// Output: charging order 42 attempt 1
}

func ExampleNewEvent() {
	type OrderPlaced struct {
		Order int `json:"order"`
	}
	e, err := herald.NewEvent("order.placed", OrderPlaced{Order: 42},
		herald.WithSource("/shop"), herald.WithKey("order-42"), herald.WithExtension("tenant", "acme"))
	if err != nil {
		panic(err)
	}
	fmt.Println(e.Type, e.Source, e.PartitionKey, e.Extensions["tenant"])
	fmt.Println(e.DataContentType, string(e.Data))

	// A protobuf message is stored as protobuf, its type named in dataschema.
	p := herald.MustNewEvent("order.placed", wrapperspb.String("order 42"), herald.WithSource("/shop"))
	fmt.Println(p.DataContentType, p.DataSchema)
	var got wrapperspb.StringValue
	if err := herald.DecodeProto(p, &got); err != nil {
		panic(err)
	}
	fmt.Println(got.GetValue())
	// Output:
	// order.placed /shop order-42 acme
	// application/json {"order":42}
	// application/protobuf https://type.googleapis.com/google.protobuf.StringValue
	// order 42
}

func ExampleClient_NewPublisher() {
	dir, _ := os.MkdirTemp("", "herald-example")
	defer os.RemoveAll(dir)
	c, _ := herald.Open(dir)
	defer c.Close()
	ctx := context.Background()

	p := c.NewPublisher(herald.PublisherOptions{Linger: 5 * time.Millisecond, MaxBatchEvents: 100})
	var results []*herald.PublishResult
	for i := range 250 {
		e := herald.MustNewEvent("order.updated", map[string]int{"order": 42, "version": i},
			herald.WithSource("/shop"), herald.WithKey("order-42"))
		results = append(results, p.Publish(ctx, "orders", e)) // returns at once
	}
	if err := p.Close(ctx); err != nil { // flushes: every event is answered
		panic(err)
	}
	for i, r := range results {
		res, err := r.Wait(ctx)
		if err != nil {
			panic(err)
		}
		if i == len(results)-1 {
			// One key: stored in publish order.
			fmt.Println("event", i, "stored at partition", res.Partition, "offset", res.Offset)
		}
	}
	// Output: event 249 stored at partition 0 offset 249
}

// Connect reaches a Herald server (herald serve) with the same Client:
// everything below works as it does embedded.
func ExampleConnect() {
	ctx := context.Background()
	c, err := herald.Connect(ctx, "127.0.0.1:7440", herald.WithToken(os.Getenv("HERALD_TOKEN")))
	if err != nil {
		fmt.Println("cannot reach Herald:", err)
		return
	}
	defer c.Close()
	e := herald.MustNewEvent("order.placed", map[string]int{"order": 42}, herald.WithKey("order-42"))
	res, err := c.Publish(ctx, "orders", e) // answered once the server has it on disk
	if err != nil {
		fmt.Println("publish:", err)
		return
	}
	fmt.Println("stored at partition", res[0].Partition, "offset", res[0].Offset)
}

// Publish stores a batch all or nothing: one bad event refuses the batch.
func ExampleClient_Publish() {
	dir, _ := os.MkdirTemp("", "herald-example")
	defer os.RemoveAll(dir)
	c, err := herald.Open(dir)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	ctx := context.Background()
	good := herald.MustNewEvent("order.placed", map[string]int{"order": 1}, herald.WithSource("/shop"))
	bad := herald.MustNewEvent("order.placed", map[string]int{"order": 2}, herald.WithSource("/shop"))
	bad.SpecVersion = "0.3"
	_, err = c.Publish(ctx, "orders", good, bad)
	fmt.Println(errors.Is(err, herald.ErrInvalidEvent))
	res, err := c.Publish(ctx, "orders", good)
	fmt.Println(res[0].Offset, err)
	// Output:
	// true
	// 0 <nil>
}

// Read a whole partition from its start offset: once retention has
// deleted a partition's oldest events, it no longer starts at 0.
func ExampleClient_Offsets() {
	dir, _ := os.MkdirTemp("", "herald-example")
	defer os.RemoveAll(dir)
	c, err := herald.Open(dir)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	ctx := context.Background()
	for i := range 3 {
		e := herald.MustNewEvent("order.placed", map[string]int{"order": i}, herald.WithSource("/shop"))
		if _, err := c.Publish(ctx, "orders", e); err != nil {
			panic(err)
		}
	}
	start, end, err := c.Offsets(ctx, "orders", 0)
	if err != nil {
		panic(err)
	}
	fmt.Println("partition 0 holds offsets", start, "to", end-1)
	for off := start; off < end; {
		events, err := c.Read(ctx, "orders", 0, off, 2)
		if err != nil {
			panic(err)
		}
		for _, e := range events {
			fmt.Println(e.Offset, string(e.Data))
		}
		off = events[len(events)-1].Offset + 1
	}
	// Output:
	// partition 0 holds offsets 0 to 2
	// 0 {"order":0}
	// 1 {"order":1}
	// 2 {"order":2}
}
