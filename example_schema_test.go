package herald_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/heraldevents/herald"
)

func ExampleClient_RegisterSchema() {
	dir, _ := os.MkdirTemp("", "herald-example")
	defer os.RemoveAll(dir)
	c, _ := herald.Open(dir)
	defer c.Close()
	ctx := context.Background()

	v, err := c.RegisterSchema(ctx, "order.placed", []byte(`{
		"type": "object",
		"properties": {"order": {"type": "integer"}, "total": {"type": "number", "minimum": 0}},
		"required": ["order", "total"]}`))
	if err != nil {
		panic(err)
	}
	fmt.Println("version", v)

	validate := herald.SchemaPolicyValidate
	c.PutTopic(ctx, "orders", herald.TopicSpec{SchemaPolicy: &validate})
	good := herald.MustNewEvent("order.placed", map[string]any{"order": 42, "total": 9.5},
		herald.WithSource("/shop"), herald.WithSchemaVersion(v))
	bad := herald.MustNewEvent("order.placed", map[string]any{"order": 43, "total": -1}, herald.WithSource("/shop"))
	_, err = c.Publish(ctx, "orders", good, bad)
	var verr *herald.SchemaViolationError
	if errors.As(err, &verr) {
		for _, v := range verr.Violations {
			fmt.Printf("event %d at %s: %s\n", v.Index, v.Pointer, v.Message)
		}
	}
	stored, _ := c.Read(ctx, "orders", 0, 0, 10)
	fmt.Println("stored:", len(stored))
	// Output:
	// version 1
	// event 1 at /total: minimum: got -1, want 0
	// stored: 0
}

func ExampleUpcast() {
	dir, _ := os.MkdirTemp("", "herald-example")
	defer os.RemoveAll(dir)
	c, _ := herald.Open(dir)
	defer c.Close()
	ctx, stop := context.WithCancel(context.Background())

	type UserV1 struct {
		Name string `json:"name"`
	}
	type UserV2 struct {
		FirstName string `json:"firstName"`
		LastName  string `json:"lastName"`
	}
	c.PutTopic(ctx, "users", herald.TopicSpec{})
	c.PutSubscription(ctx, "users", "welcome", herald.SubscriptionConfig{Start: "earliest"})
	c.Publish(ctx, "users",
		herald.MustNewEvent("UserRegistered", UserV1{Name: "Alice Johnson"}, herald.WithSource("/accounts"),
			herald.WithKey("users"), herald.WithSchemaVersion(1)),
		herald.MustNewEvent("UserRegistered", UserV2{FirstName: "Bob", LastName: "Smith"}, herald.WithSource("/accounts"),
			herald.WithKey("users"), herald.WithSchemaVersion(2))) // one key: handled in order

	r := herald.NewRouter(c, herald.RouterOptions{})
	herald.Upcast(r, "UserRegistered", 1, func(u UserV1) (UserV2, error) {
		first, last, _ := strings.Cut(u.Name, " ")
		return UserV2{FirstName: first, LastName: last}, nil
	})
	seen := 0
	herald.Handle(r, "users", "welcome", func(ctx context.Context, e herald.Event[UserV2]) error {
		fmt.Printf("welcome %s %s (published as version %d)\n", e.Data.FirstName, e.Data.LastName, e.SchemaVersion)
		if seen++; seen == 2 {
			stop()
		}
		return nil
	})
	r.Run(ctx)
	// Output:
	// welcome Alice Johnson (published as version 1)
	// welcome Bob Smith (published as version 2)
}
