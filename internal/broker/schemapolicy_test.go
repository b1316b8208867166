package broker

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/heraldevents/herald/event"
)

var errRefused = errors.New("refused by the validator")

func TestPublish_SchemaPolicyRunsTheValidatorAndARefusalStoresNothing(t *testing.T) {
	var calls atomic.Int32
	var seen Topic
	f := newFixture(t, Options{Validator: func(tp Topic, events []*event.Event) error {
		calls.Add(1)
		seen = tp
		for _, e := range events {
			if e.ID == "bad" {
				return errRefused
			}
		}
		return nil
	}})
	ctx := context.Background()
	f.publish("plain", ev("1", "k"))
	if calls.Load() != 0 {
		t.Fatal("the validator ran for a topic whose policy is none")
	}
	validate := SchemaPolicyValidate
	if _, _, err := f.b.PutTopic(ctx, "orders", TopicSpec{SchemaPolicy: &validate}); err != nil {
		t.Fatal(err)
	}
	f.publish("orders", ev("1", "k"), ev("2", "k"))
	if calls.Load() != 1 || seen.Name != "orders" || seen.SchemaPolicy != SchemaPolicyValidate {
		t.Fatalf("validator calls %d, topic %+v", calls.Load(), seen)
	}
	if _, err := f.b.Publish(ctx, "orders", []*event.Event{ev("3", "k"), ev("bad", "k")}); !errors.Is(err, errRefused) {
		t.Fatalf("publish a refused batch: %v", err)
	}
	if end := f.end("orders", 0); end != 2 {
		t.Fatalf("end offset %d after a refused batch, want 2", end)
	}
	// The policy is kept with the topic, across a restart.
	f.restart()
	tp, err := f.b.Topic(ctx, "orders")
	if err != nil || tp.SchemaPolicy != SchemaPolicyValidate {
		t.Fatalf("after restart: %+v %v", tp, err)
	}
	if _, err := f.b.Publish(ctx, "orders", []*event.Event{ev("bad", "k")}); !errors.Is(err, errRefused) {
		t.Fatalf("after restart, a refused event: %v", err)
	}
}

func TestPublish_APolicyWithoutAValidatorRefuses(t *testing.T) {
	f := newFixture(t, Options{})
	require := SchemaPolicyRequire
	if _, _, err := f.b.PutTopic(context.Background(), "orders", TopicSpec{SchemaPolicy: &require}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.b.Publish(context.Background(), "orders", []*event.Event{ev("1", "k")}); !errors.Is(err, ErrNoValidator) {
		t.Fatalf("publish: %v, want ErrNoValidator", err)
	}
	bad := SchemaPolicy("strict")
	if _, _, err := f.b.PutTopic(context.Background(), "orders", TopicSpec{SchemaPolicy: &bad}); !errors.Is(err, ErrInvalidSetting) {
		t.Fatalf("a bad policy: %v", err)
	}
}
