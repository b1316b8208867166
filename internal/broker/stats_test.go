package broker

import (
	"context"
	"errors"
	"testing"

	"github.com/heraldevents/herald/event"
)

// A topic's publish counts: events stored, duplicates, and calls by
// outcome, counting a refused batch also before the topic was first
// published to; the counts go with a deleted topic, and a topic that does
// not exist gets none.
func TestPublishStats_CountStoredDuplicateAndRefusedPublishes(t *testing.T) {
	f := newFixture(t, Options{DisableAutoCreate: true})
	ctx := context.Background()
	if _, _, err := f.b.PutTopic(ctx, "orders", TopicSpec{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.b.Publish(ctx, "orders", nil); !errors.Is(err, ErrEmptyBatch) {
		t.Fatalf("empty batch: %v", err)
	}
	f.publish("orders", ev("a", ""), ev("b", ""), ev("c", ""))
	f.publish("orders", ev("a", ""), ev("d", ""))
	f.publish("orders", ev("d", ""))
	noID := ev("", "")
	if _, err := f.b.Publish(ctx, "orders", []*event.Event{noID}); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("event without id: %v", err)
	}
	want := PublishStats{Events: 4, Duplicates: 2}
	want.Requests[PublishOK], want.Requests[PublishRejected] = 3, 2
	if got := f.b.PublishStats("orders"); got != want {
		t.Fatalf("stats %+v, want %+v", got, want)
	}

	if _, err := f.b.Publish(ctx, "nowhere", nil); err == nil {
		t.Fatal("a refused batch to no topic was taken")
	}
	if _, err := f.b.Publish(ctx, "nowhere", []*event.Event{ev("x", "")}); !errors.Is(err, ErrTopicNotFound) {
		t.Fatalf("unknown topic: %v", err)
	}
	if got := f.b.PublishStats("nowhere"); got != (PublishStats{}) || len(f.b.counts) != 1 {
		t.Fatalf("a topic that does not exist has stats %+v (%d topics counted)", got, len(f.b.counts))
	}

	if err := f.b.DeleteTopic(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if got := f.b.PublishStats("orders"); got != (PublishStats{}) || len(f.b.counts) != 0 {
		t.Fatalf("a deleted topic keeps stats %+v (%d topics counted)", got, len(f.b.counts))
	}
}

// A publish whose caller went away before it started stores nothing and
// counts as canceled in its topic, as one that goes away while it waits;
// to a topic that does not exist, or a reserved one, it counts nowhere.
func TestPublishStats_APublishWithAnEndedContextCountsAsCanceled(t *testing.T) {
	f := newFixture(t, Options{})
	if _, _, err := f.b.PutTopic(context.Background(), "orders", TopicSpec{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, topic := range []string{"orders", "nowhere", "__herald_subscriptions"} {
		if _, err := f.b.Publish(ctx, topic, []*event.Event{ev("a", "")}); !errors.Is(err, context.Canceled) {
			t.Fatalf("publish to %s with an ended context: %v", topic, err)
		}
	}
	var want PublishStats
	want.Requests[PublishCanceled] = 1
	if got := f.b.PublishStats("orders"); got != want {
		t.Fatalf("stats %+v, want %+v", got, want)
	}
	if len(f.b.counts) != 1 {
		t.Fatalf("%d topics counted, want orders alone", len(f.b.counts))
	}
}
