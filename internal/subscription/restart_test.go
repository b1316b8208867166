package subscription

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
)

// An event of a partition the topic gained after the subscription was
// made, whose every delivery takes Herald down with its consumer, reaches
// its dead letter even when an event held back ahead of it keeps the
// partition's delivered mark where it was: its attempts survive each
// restart.
func TestSub_AttemptsOnAPartitionAddedLaterSurviveARestart(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{MaxAttempts: 3})
	v.topic("orders", 2)
	k1, k2 := keyFor(1, 2), "" // two keys of partition 1
	for i := 0; k2 == ""; i++ {
		if k := fmt.Sprintf("other-%d", i); broker.KeyPartition(k, 2) == 1 {
			k2 = k
		}
	}
	held := &event.Event{ID: "held", Source: "/t", Type: "t", SpecVersion: "1.0", PartitionKey: k1,
		Extensions: map[string]string{ExtDeliverAfter: v.clock.Now().Add(24 * time.Hour).Format(time.RFC3339Nano)}}
	poison := &event.Event{ID: "poison", Source: "/t", Type: "t", SpecVersion: "1.0", PartitionKey: k2}
	for _, ev := range []*event.Event{held, poison} {
		if res, err := v.b.Publish(v.ctx, "orders", []*event.Event{ev}); err != nil || res[0].Partition != 1 {
			t.Fatalf("publish %s: %v %+v", ev.ID, err, res)
		}
	}
	for i := 1; i <= 3; i++ {
		ds := v.pull("orders", "s", 10)
		if len(ds) != 1 || ds[0].Event.ID != "poison" || ds[0].Attempt != i {
			t.Fatalf("delivery %d: %+v", i, ds)
		}
		v.restart() // the consumer took Herald down with it
	}
	if ds := v.pull("orders", "s", 10); len(ds) != 0 {
		t.Fatalf("after %d attempts of 3 the poison event is delivered again: attempt %d", 3, ds[0].Attempt)
	}
	if dls, err := v.m.DeadLetters(v.ctx, "orders", "s", "", 10); err != nil || len(dls) != 1 || dls[0].Event.Extensions[ExtID] != "poison" {
		t.Fatalf("dead letters %+v, %v", dls, err)
	}
}

// An event whose redrive was acked, replayed by a seek and dead again
// within the dead-letter topic's dedup window is stored once: its first
// dead letter, which was resolved. It died again, so it is a dead letter
// once more, before and after a restart: redriving all sends it back.
func TestRedrive_AResolvedEventThatDiesAgainIntoItsDeadLetterIsRedrivenByAll(t *testing.T) {
	v := resolvedDeadLetterEnv(t)
	if _, err := v.m.Seek(v.ctx, "orders", "billing", Position{Start: "earliest"}); err != nil {
		t.Fatal(err)
	}
	ds := v.pull("orders", "billing", 10)
	if len(ds) != 1 {
		t.Fatalf("replayed by the seek: %d deliveries, want 1", len(ds))
	}
	v.nack("orders", "billing", "down again", ds...) // out of attempts: dead again
	for _, restart := range []bool{false, true} {
		if restart {
			v.restart()
		}
		dls, err := v.m.DeadLetters(v.ctx, "orders", "billing", "", 10)
		if err != nil || len(dls) != 1 || dls[0].Resolved {
			t.Fatalf("restart %v: dead letters %+v %v, want the one, not resolved", restart, dls, err)
		}
	}
	if res, err := v.m.Redrive(v.ctx, "orders", "billing", RedriveRequest{All: true}); err != nil || res.Redriven != 1 {
		t.Fatalf("redrive of all: %+v %v, want the event that died again redriven", res, err)
	}
	if again := v.pull("orders", "billing", 10); len(again) != 1 || again[0].Event.ID != ds[0].Event.ID {
		t.Fatalf("after the redrive: %d deliveries, want %s", len(again), ds[0].Event.ID)
	}
}
