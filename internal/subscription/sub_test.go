package subscription

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

func TestSubscription_EverySubscriptionGetsEveryEvent(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "inventory", Config{Ordering: OrderNone})
	v.sub("orders", "email", Config{Ordering: OrderNone})
	v.publish("orders", "a", "b", "c")
	for _, name := range []string{"inventory", "email"} {
		if ds := v.pull("orders", name, 10); len(ds) != 3 {
			t.Fatalf("%s got %d deliveries, want 3", name, len(ds))
		}
	}
}

func TestSubscription_ConsumersOfOneSubscriptionShareItsEvents(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "workers", Config{Ordering: OrderNone})
	v.publish("orders", "a", "b", "c", "d")
	first, second := v.pull("orders", "workers", 2), v.pull("orders", "workers", 10)
	if len(first) != 2 || len(second) != 2 || first[0].Event.ID == second[0].Event.ID {
		t.Fatalf("consumers got %d and %d deliveries", len(first), len(second))
	}
}

func TestSubscription_StartPositions(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.publish("orders", "old1", "old2")
	v.clock.Add(time.Minute)
	mark := v.clock.Now()
	v.clock.Add(time.Second)
	v.publish("orders", "new1")
	cases := map[string]int{"earliest": 3, "latest": 0, mark.Format(time.RFC3339Nano): 1}
	for start, want := range cases {
		name := "s" + strconv.Itoa(len(start))
		v.sub("orders", name, Config{Start: start, Ordering: OrderNone})
		if ds := v.pull("orders", name, 10); len(ds) != want {
			t.Errorf("start %s: %d deliveries, want %d", start, len(ds), want)
		}
	}
}

func TestSubscription_KeyOrderingHoldsOnlyTheFailingKey(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{Ordering: OrderKey})
	v.publish("orders", "a", "a", "b", "b", "c")
	ds := v.pull("orders", "s", 10)
	if got := keysOf(ds); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Fatalf("first pull keys %v, want one per key", got)
	}
	if more := v.pull("orders", "s", 10); len(more) != 0 {
		t.Fatalf("second events of busy keys delivered: %v", keysOf(more))
	}
	v.nack("orders", "s", "boom", ds[0]) // key a waits for its retry
	v.ack("orders", "s", ds[1], ds[2])
	if got := keysOf(v.pull("orders", "s", 10)); !reflect.DeepEqual(got, []string{"b"}) {
		t.Fatalf("after a's nack and b's ack, got %v, want only b", got)
	}
	v.clock.Add(2 * time.Second) // past a's backoff
	ds = v.pull("orders", "s", 10)
	if len(ds) != 1 || ds[0].Event.PartitionKey != "a" || ds[0].Attempt != 2 {
		t.Fatalf("a's retry: %+v", ds)
	}
}

// Events without a key were spread over the partitions in no order, so
// key ordering keeps none among them: they go out together, while a key's
// events still wait for each other.
func TestSubscription_KeyOrderingDeliversKeylessEventsInParallel(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{Ordering: OrderKey})
	v.publish("orders", "", "", "a", "", "a")
	ds := v.pull("orders", "s", 10)
	if got := keysOf(ds); !reflect.DeepEqual(got, []string{"", "", "a", ""}) {
		t.Fatalf("first pull keys %q, want the three keyless events and the first of a", got)
	}
	v.ack("orders", "s", ds...)
	if got := keysOf(v.pull("orders", "s", 10)); !reflect.DeepEqual(got, []string{"a"}) {
		t.Fatalf("after the acks, got %q, want a's second event", got)
	}
}

func TestSubscription_PartitionOrderingIsOneAtATime(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{Ordering: OrderPartition})
	v.publish("orders", "a", "b", "c")
	for _, want := range []string{"a", "b", "c"} {
		ds := v.pull("orders", "s", 10)
		if len(ds) != 1 || ds[0].Event.PartitionKey != want {
			t.Fatalf("got %v, want only %s", keysOf(ds), want)
		}
		v.ack("orders", "s", ds...)
	}
}

func TestSubscription_NackBacksOffThenDeadLetters(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{MaxAttempts: 3, Backoff: Backoff{Initial: time.Second, Max: time.Minute, Multiplier: 2}})
	v.publish("orders", "a")
	waits := []time.Duration{time.Second, 2 * time.Second}
	for attempt := 1; attempt <= 3; attempt++ {
		ds := v.pull("orders", "s", 1)
		if len(ds) != 1 || ds[0].Attempt != attempt {
			t.Fatalf("attempt %d: %+v", attempt, ds)
		}
		v.nack("orders", "s", "payment declined", ds...)
		if attempt < 3 {
			v.clock.Add(waits[attempt-1] - time.Millisecond)
			if early := v.pull("orders", "s", 1); len(early) != 0 {
				t.Fatalf("redelivered before its backoff of %s", waits[attempt-1])
			}
			v.clock.Add(time.Millisecond)
		}
	}
	dead, err := v.b.Read(v.ctx, "orders.s.dlq", 0, 0, 10)
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letters: %v %v", dead, err)
	}
	want := map[string]string{ExtReason: "payment declined", ExtAttempts: "3", ExtSubscription: "s", ExtTopic: "orders", ExtPartition: "0", ExtOffset: "0"}
	for k, w := range want {
		if got := dead[0].Extensions[k]; got != w {
			t.Errorf("dead letter %s = %q, want %q", k, got, w)
		}
	}
	info, _ := v.m.Get(v.ctx, "orders", "s")
	if p := info.Partitions[0]; p.Committed != 1 || p.DeadLettered != 1 {
		t.Fatalf("after dead-lettering: %+v", p)
	}
}

func TestSubscription_ExpiredLeaseRedeliversAndStaleAckIsReported(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{AckTimeout: 10 * time.Second, Backoff: Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1}})
	v.publish("orders", "a")
	first := v.pull("orders", "s", 1)
	v.clock.Add(11 * time.Second) // the lease expires, then the 1s backoff passes
	if ds := v.pull("orders", "s", 1); len(ds) != 0 {
		t.Fatalf("redelivered without backoff: %+v", ds)
	}
	v.clock.Add(time.Second)
	second := v.pull("orders", "s", 1)
	if len(second) != 1 || second[0].Attempt != 2 {
		t.Fatalf("redelivery: %+v", second)
	}
	res := v.ack("orders", "s", first...)
	if len(res.Stale) != 1 || len(res.Acked) != 0 {
		t.Fatalf("ack of the expired lease: %+v", res)
	}
	res, err := v.m.Ack(v.ctx, "orders", "s", []string{"nonsense", second[0].AckID})
	if err != nil || len(res.Unknown) != 1 || len(res.Acked) != 1 {
		t.Fatalf("mixed ack: %+v %v", res, err)
	}
}

func TestSubscription_ExtendKeepsTheLease(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{AckTimeout: 10 * time.Second})
	v.publish("orders", "a")
	ds := v.pull("orders", "s", 1)
	v.clock.Add(8 * time.Second)
	if _, err := v.m.Extend(v.ctx, "orders", "s", ackIDs(ds), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	v.clock.Add(8 * time.Second)
	if res := v.ack("orders", "s", ds...); len(res.Acked) != 1 {
		t.Fatalf("ack after extend: %+v", res)
	}
}

func TestSubscription_FilterSkipsOtherEvents(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{Ordering: OrderNone, Filter: Filter{Types: []string{"order.*"}}})
	for _, typ := range []string{"order.placed", "user.created", "order.paid"} {
		e := &event.Event{ID: typ, Source: "/t", Type: typ, SpecVersion: "1.0"}
		if _, err := v.b.Publish(v.ctx, "orders", []*event.Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	ds := v.pull("orders", "s", 10)
	var types []string
	for _, d := range ds {
		types = append(types, d.Event.Type)
	}
	if !reflect.DeepEqual(types, []string{"order.placed", "order.paid"}) {
		t.Fatalf("delivered %v", types)
	}
	v.ack("orders", "s", ds...)
	if info, _ := v.m.Get(v.ctx, "orders", "s"); info.Partitions[0].Committed != 3 {
		t.Fatalf("committed %d, want 3 (the filtered event is done too)", info.Partitions[0].Committed)
	}
}

func TestSubscription_RestartRedeliversOnlyUnackedEventsWithTheirAttempts(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{Ordering: OrderNone, MaxAttempts: 5})
	v.publish("orders", "a", "b", "c", "d")
	ds := v.pull("orders", "s", 10)
	v.ack("orders", "s", ds[1], ds[3]) // out of order: b and d
	v.nack("orders", "s", "retry me", ds[2])
	v.restart()
	v.clock.Add(2 * time.Second)
	again := v.pull("orders", "s", 10)
	got := map[string]int{}
	for _, d := range again {
		got[d.Event.PartitionKey] = d.Attempt
	}
	if !reflect.DeepEqual(got, map[string]int{"a": 2, "c": 2}) {
		t.Fatalf("after restart got %v, want a and c at attempt 2", got)
	}
	v.ack("orders", "s", again...)
	v.restart()
	if ds := v.pull("orders", "s", 10); len(ds) != 0 {
		t.Fatalf("acked events came again: %v", keysOf(ds))
	}
	if info, _ := v.m.Get(v.ctx, "orders", "s"); info.Partitions[0].Committed != 4 {
		t.Fatalf("committed %d, want 4", info.Partitions[0].Committed)
	}
}

func TestSubscription_EventThatKeepsCrashingItsConsumerIsDeadLettered(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{MaxAttempts: 3})
	v.publish("orders", "poison")
	for i := 1; i <= 3; i++ {
		ds := v.pull("orders", "s", 1)
		if len(ds) != 1 || ds[0].Attempt != i {
			t.Fatalf("delivery %d: %+v", i, ds)
		}
		v.restart() // the consumer took Herald down with it: no ack, no nack
	}
	v.wantDeadLetteredAfterThreeAttempts(t)
}

func TestSubscription_BadSettingsAreRefusedAndChangeNothing(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	cases := map[string]Config{
		"start":        {Start: "yesterday"},
		"ordering":     {Ordering: "random"},
		"attempts":     {MaxAttempts: -1},
		"ack timeout":  {AckTimeout: time.Millisecond},
		"backoff":      {Backoff: Backoff{Initial: time.Minute, Max: time.Second}},
		"backoff max":  {Backoff: Backoff{Initial: time.Second, Max: 2_200_000 * time.Hour}}, // overflowed with its jitter
		"dlq":          {DeadLetterTopic: "orders"},
		"empty type":   {Filter: Filter{Types: []string{"order.*", ""}}},
		"empty source": {Filter: Filter{Sources: []string{""}}},
	}
	for name, cfg := range cases {
		if _, _, err := v.m.Put(v.ctx, "orders", "s", cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := v.m.Put(v.ctx, "orders", "bad/name", Config{}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("name: %v", err)
	}
	if infos, _ := v.m.List(v.ctx, "orders"); len(infos) != 0 {
		t.Fatalf("refused settings created %v", infos)
	}
}

func TestSubscription_DeleteForgetsState(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{})
	v.publish("orders", "a")
	ds := v.pull("orders", "s", 1)
	if err := v.m.Delete(v.ctx, "orders", "s"); err != nil {
		t.Fatal(err)
	}
	v.restart()
	if _, err := v.m.Get(v.ctx, "orders", "s"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted subscription: %v", err)
	}
	v.sub("orders", "s", Config{})
	if res, _ := v.m.Ack(v.ctx, "orders", "s", ackIDs(ds)); len(res.Unknown) != 1 {
		t.Fatalf("an ack id of the deleted subscription: %+v", res)
	}
	if again := v.pull("orders", "s", 1); len(again) != 1 || again[0].Attempt != 1 {
		t.Fatalf("the new subscription: %+v", again)
	}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{{"order.*", "order.placed", true}, {"order.*", "orders", false}, {"*", "x", true},
		{"a*c*e", "abcde", true}, {"a*c*e", "abde", false}, {"exact", "exact", true}, {"*.paid", "order.paid", true}} {
		if got := glob(c.p, c.s); got != c.want {
			t.Errorf("glob(%q, %q) = %v", c.p, c.s, got)
		}
	}
}

func TestSubscription_DeliverAfterDelaysTheEventOnlyAndSurvivesRestart(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{Ordering: OrderNone})
	later := &event.Event{ID: "timeout", Source: "/saga", Type: "saga.timeout", SpecVersion: "1.0",
		Extensions: map[string]string{ExtDeliverAfter: strings.ToLower(v.clock.Now().Add(time.Hour).UTC().Format(time.RFC3339))}} // RFC 3339 allows t and z
	if _, err := v.b.Publish(v.ctx, "orders", []*event.Event{later}); err != nil {
		t.Fatal(err)
	}
	v.publish("orders", "now")
	if ds := v.pull("orders", "s", 10); len(ds) != 1 || ds[0].Event.PartitionKey != "now" {
		t.Fatalf("before its time: %+v", ds)
	}
	v.restart()
	v.clock.Add(59 * time.Minute)
	if ds := v.pull("orders", "s", 10); len(ds) != 1 || ds[0].Event.PartitionKey != "now" {
		t.Fatalf("after restart, still early: %+v", keysOf(ds))
	} else {
		v.ack("orders", "s", ds...)
	}
	v.clock.Add(2 * time.Minute)
	if ds := v.pull("orders", "s", 10); len(ds) != 1 || ds[0].Event.ID != "timeout" {
		t.Fatalf("at its time: %+v", ds)
	}
}

func TestSubscription_SeekReplaysAndDropsWhatWasInFlight(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{Ordering: OrderNone})
	v.publish("orders", "a", "b", "c")
	ds := v.pull("orders", "s", 10)
	v.ack("orders", "s", ds[0])
	if _, err := v.m.Seek(v.ctx, "orders", "s", Position{Start: "earliest"}); err != nil {
		t.Fatal(err)
	}
	if res := v.ack("orders", "s", ds[1]); len(res.Stale) != 1 {
		t.Fatalf("a lease from before the seek: %+v", res)
	}
	if again := v.pull("orders", "s", 10); len(again) != 3 || again[0].Attempt != 1 {
		t.Fatalf("after seek to earliest: %d deliveries %+v", len(again), again)
	}
	if _, err := v.m.Seek(v.ctx, "orders", "s", Position{Offsets: map[int]int64{0: 2}}); err != nil {
		t.Fatal(err)
	}
	v.restart()
	if ds := v.pull("orders", "s", 10); len(ds) != 1 || ds[0].Event.PartitionKey != "c" {
		t.Fatalf("after seek to offset 2 and a restart: %v", keysOf(ds))
	}
	for _, bad := range []Position{{Start: "sometime"}, {Offsets: map[int]int64{0: 99}}, {Offsets: map[int]int64{5: 0}}, {}} {
		if _, err := v.m.Seek(v.ctx, "orders", "s", bad); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("seek %+v: %v", bad, err)
		}
	}
}

func TestSubscription_RedriveReachesOnlyItsSubscriptionAndIsAudited(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "billing", Config{MaxAttempts: 1})
	v.sub("orders", "email", Config{Ordering: OrderNone})
	v.publish("orders", "a", "b")
	for _, d := range v.pull("orders", "billing", 10) {
		v.nack("orders", "billing", "card declined", d)
	}
	v.ack("orders", "email", v.pull("orders", "email", 10)...)
	dls, err := v.m.DeadLetters(v.ctx, "orders", "billing", "", 10)
	if err != nil || len(dls) != 2 || dls[0].Event.Extensions[ExtReason] != "card declined" {
		t.Fatalf("dead letters: %+v %v", dls, err)
	}
	res, err := v.m.Redrive(v.ctx, "orders", "billing", RedriveRequest{IDs: []string{originalID(dls[1].Event), "no-such-id"}, Actor: "ops@example"})
	if err != nil || res.Redriven != 1 || len(res.NotFound) != 1 {
		t.Fatalf("redrive: %+v %v", res, err)
	}
	if again, _ := v.m.Redrive(v.ctx, "orders", "billing", RedriveRequest{IDs: []string{originalID(dls[1].Event)}}); again.Already != 1 {
		t.Fatalf("second redrive of the same dead letter: %+v", again)
	}
	if ds := v.pull("orders", "email", 10); len(ds) != 0 {
		t.Fatalf("the other subscription got the redriven event: %v", keysOf(ds))
	}
	v.restart() // the redrive is durable
	ds := v.pull("orders", "billing", 10)
	if len(ds) != 1 || ds[0].Event.ID != originalID(dls[1].Event) || ds[0].Attempt != 1 || ds[0].Event.Extensions[ExtReason] != "" || ds[0].Event.Offset != 1 {
		t.Fatalf("redriven delivery: %+v", ds)
	}
	v.ack("orders", "billing", ds...)
	v.restart()
	if ds := v.pull("orders", "billing", 10); len(ds) != 0 {
		t.Fatalf("an acked redrive came again: %+v", ds)
	}
	audit, _ := v.m.Audit(v.ctx, "orders", "billing")
	if len(audit) != 2 || audit[0].Actor != "ops@example" || audit[0].Count != 1 || audit[0].IDs[0] != originalID(dls[1].Event) {
		t.Fatalf("audit: %+v", audit)
	}
	if _, err := v.m.Redrive(v.ctx, "orders", "billing", RedriveRequest{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("empty redrive: %v", err)
	}
}

// A redrive names a dead letter by its event's own id or by the dead
// letter's id (the event's id + "@topic/sub"), which is what a listing of
// the dead-letter topic shows; the audit keeps the event's own id. Named
// both ways in one request, it is redriven once, and an unknown id named
// twice is reported once.
func TestRedrive_TakesTheDeadLettersIDToo(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "billing", Config{MaxAttempts: 1})
	v.publish("orders", "a")
	v.nack("orders", "billing", "down", v.pull("orders", "billing", 10)...)
	dls, err := v.m.DeadLetters(v.ctx, "orders", "billing", "", 10)
	if err != nil || len(dls) != 1 {
		t.Fatalf("dead letters: %+v %v", dls, err)
	}
	own, dlID := originalID(dls[0].Event), dls[0].Event.ID
	if dlID != own+"@orders/billing" {
		t.Fatalf("dead letter id %q, want %q", dlID, own+"@orders/billing")
	}
	res, err := v.m.Redrive(v.ctx, "orders", "billing", RedriveRequest{IDs: []string{dlID, own, "nope@orders/billing", "nope@orders/billing"}})
	if err != nil || res.Redriven != 1 || len(res.NotFound) != 1 || res.NotFound[0] != "nope@orders/billing" {
		t.Fatalf("redrive by the dead letter's id: %+v %v", res, err)
	}
	if ds := v.pull("orders", "billing", 10); len(ds) != 1 || ds[0].Event.ID != own {
		t.Fatalf("redriven delivery: %+v", ds)
	}
	if audit, _ := v.m.Audit(v.ctx, "orders", "billing"); len(audit) != 1 || len(audit[0].IDs) != 1 || audit[0].IDs[0] != own {
		t.Fatalf("audit: %+v", audit)
	}
}

// A dead letter redriven and acked is resolved: redriving "all" again
// leaves it out (an acked event is not delivered again), across restarts,
// while naming it redrives it once more.
func TestRedrive_AllLeavesOutResolvedDeadLetters(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "billing", Config{MaxAttempts: 1, Ordering: OrderNone})
	v.publish("orders", "a", "b")
	v.nack("orders", "billing", "down", v.pull("orders", "billing", 10)...)
	redrive := func(req RedriveRequest) RedriveResult {
		t.Helper()
		res, err := v.m.Redrive(v.ctx, "orders", "billing", req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := redrive(RedriveRequest{All: true}); res.Redriven != 2 {
		t.Fatalf("first redrive of all: %+v", res)
	}
	ds := v.pull("orders", "billing", 10)
	if len(ds) != 2 {
		t.Fatalf("redriven deliveries: %v", keysOf(ds))
	}
	acked, died := ds[0], ds[1]
	v.ack("orders", "billing", acked)
	v.nack("orders", "billing", "down again", died) // out of attempts: dead again
	v.restart()
	if res := redrive(RedriveRequest{All: true}); res.Redriven != 1 || res.Resolved != 1 {
		t.Fatalf("second redrive of all: %+v, want the one that died again redriven and the acked one left out", res)
	}
	ds = v.pull("orders", "billing", 10)
	if len(ds) != 1 || ds[0].Event.ID != died.Event.ID {
		t.Fatalf("after the second redrive: %v, want only %s", ds, died.Event.ID)
	}
	v.ack("orders", "billing", ds...)
	dls, err := v.m.DeadLetters(v.ctx, "orders", "billing", "", 10)
	if err != nil || len(dls) != 2 || !dls[0].Resolved || !dls[1].Resolved {
		t.Fatalf("dead letters after both were acked: %+v %v", dls, err)
	}
	v.restart()
	if res := redrive(RedriveRequest{All: true}); res.Redriven != 0 || res.Resolved != 2 {
		t.Fatalf("redrive of all once every dead letter is resolved: %+v", res)
	}
	if ds := v.pull("orders", "billing", 10); len(ds) != 0 {
		t.Fatalf("a resolved dead letter came again: %v", ds)
	}
	if res := redrive(RedriveRequest{IDs: []string{acked.Event.ID}}); res.Redriven != 1 {
		t.Fatalf("redrive of a resolved dead letter by id: %+v", res)
	}
	if ds := v.pull("orders", "billing", 10); len(ds) != 1 || ds[0].Event.ID != acked.Event.ID {
		t.Fatalf("redriven by id: %v", ds)
	}
}

// resolvedDeadLetterEnv is a subscription "billing" on "orders" whose one
// event died, was redriven and was acked: a resolved dead letter.
func resolvedDeadLetterEnv(t *testing.T) *env {
	t.Helper()
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "billing", Config{MaxAttempts: 1})
	v.publish("orders", "a")
	v.nack("orders", "billing", "down", v.pull("orders", "billing", 10)...)
	if _, err := v.m.Redrive(v.ctx, "orders", "billing", RedriveRequest{All: true}); err != nil {
		t.Fatal(err)
	}
	v.ack("orders", "billing", v.pull("orders", "billing", 10)...)
	return v
}

// A resolved mark belongs to the dead letter it was made for: a
// dead-letter topic made anew does not inherit it.
func TestRedrive_ResolvedMarkDoesNotOutliveItsDeadLetter(t *testing.T) {
	v := resolvedDeadLetterEnv(t)
	if err := v.b.DeleteTopic(v.ctx, "orders.billing.dlq"); err != nil {
		t.Fatal(err)
	}
	v.topic("orders.billing.dlq", 1)
	v.restart()
	v.publish("orders", "b")
	v.nack("orders", "billing", "down", v.pull("orders", "billing", 10)...) // the new topic's offset 0
	dls, err := v.m.DeadLetters(v.ctx, "orders", "billing", "", 10)
	if err != nil || len(dls) != 1 || dls[0].Offset != 0 || dls[0].Resolved {
		t.Fatalf("dead letters of the new dead-letter topic: %+v %v", dls, err)
	}
	if res, err := v.m.Redrive(v.ctx, "orders", "billing", RedriveRequest{All: true}); err != nil || res.Redriven != 1 {
		t.Fatalf("redrive of all: %+v %v", res, err)
	}
}

// A running Herald forgets the resolved marks of dead letters that left
// the dead-letter topic when it next redrives, not only on start.
func TestRedrive_ForgetsResolvedMarksOfDeadLettersGoneWhileRunning(t *testing.T) {
	v := resolvedDeadLetterEnv(t)
	s, _ := v.m.get(context.Background(), "orders", "billing")
	marks := func() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.resolved) }
	if marks() != 1 {
		t.Fatalf("%d resolved marks after the ack of a redriven event, want 1", marks())
	}
	if err := v.b.DeleteTopic(v.ctx, "orders.billing.dlq"); err != nil {
		t.Fatal(err)
	}
	v.topic("orders.billing.dlq", 1)
	if _, err := v.m.Redrive(v.ctx, "orders", "billing", RedriveRequest{All: true}); err != nil {
		t.Fatal(err)
	}
	if marks() != 0 {
		t.Fatalf("%d resolved marks kept for a dead letter that is gone", marks())
	}
	v.restart() // the mark's record is gone too: nothing to forget on start
	s, _ = v.m.get(context.Background(), "orders", "billing")
	if marks() != 0 {
		t.Fatalf("%d resolved marks after a restart", marks())
	}
}

func TestPull_WaitsAtTheEndAndWakesOnPublish(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{})
	ch, err := v.m.waitData("orders", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Fatal("the wait for offset 0 of an empty partition is already over: a long poll would spin")
	default:
	}
	v.publish("orders", "a")
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("a publish did not end the wait")
	}
}

func TestExtend_ALeasePastItsDeadlineIsStale(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{AckTimeout: 10 * time.Second})
	v.publish("orders", "a")
	ds := v.pull("orders", "s", 1)
	v.clock.Add(11 * time.Second)
	res, err := v.m.Extend(v.ctx, "orders", "s", ackIDs(ds), time.Minute)
	if err != nil || len(res.Stale) != 1 {
		t.Fatalf("extend after the deadline: %+v %v", res, err)
	}
}

func TestDeleteTopic_DeletesItsSubscriptions(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{})
	if err := v.b.DeleteTopic(v.ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if err := v.m.DeleteTopic(v.ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	v.topic("orders", 1)
	if _, err := v.m.Get(v.ctx, "orders", "s"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the subscription outlived its topic: %v", err)
	}
}

func TestRestart_StateSurvivesCompactionOfTheStateTopic(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{Ordering: OrderNone, MaxAttempts: 5})
	v.publish("orders", "a", "b", "c", "d")
	ds := v.pull("orders", "s", 10)
	v.ack("orders", "s", ds[1], ds[3]) // out of order
	v.nack("orders", "s", "later", ds[2])
	// A settings change writes the config again, after the records above.
	if _, _, err := v.m.Put(v.ctx, "orders", "s", Config{Ordering: OrderNone, MaxAttempts: 7}); err != nil {
		t.Fatal(err)
	}
	// Compact the state topic (its small segments are sealed), so only the
	// newest record of each key is left, the config after the others.
	if err := v.e.Compact(); err != nil {
		t.Fatal(err)
	}
	v.restart()
	v.clock.Add(2 * time.Second)
	got := map[string]int{}
	for _, d := range v.pull("orders", "s", 10) {
		got[d.Event.PartitionKey] = d.Attempt
	}
	if len(got) != 2 || got["a"] != 2 || got["c"] != 2 {
		t.Fatalf("after compaction and restart got %v, want a and c at attempt 2", got)
	}
	if info, _ := v.m.Get(v.ctx, "orders", "s"); info.Config.MaxAttempts != 7 {
		t.Fatalf("settings after compaction: %+v", info.Config)
	}
}

func TestSubscription_RejectDeadLettersAtOnce(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{MaxAttempts: 5})
	v.publish("orders", "a")
	ds := v.pull("orders", "s", 1)
	res, err := v.m.Reject(v.ctx, "orders", "s", ackIDs(ds), "cannot ever succeed")
	if err != nil || len(res.Acked) != 1 {
		t.Fatalf("reject: %+v %v", res, err)
	}
	dead, _ := v.b.Read(v.ctx, "orders.s.dlq", 0, 0, 10)
	if len(dead) != 1 || dead[0].Extensions[ExtReason] != "cannot ever succeed" || dead[0].Extensions[ExtAttempts] != "1" {
		t.Fatalf("dead letters: %+v", dead)
	}
	if more := v.pull("orders", "s", 1); len(more) != 0 {
		t.Fatalf("a rejected event came again: %+v", more)
	}
}

func TestSubscription_ADeadLetterThatCannotBeStoredHoldsBackOnlyItsKey(t *testing.T) {
	v := newEnv(t)
	v.bopts.DisableAutoCreate = true // a deleted dead-letter topic stays gone
	v.restart()
	v.topic("orders", 1)
	v.sub("orders", "s", Config{MaxAttempts: 1, Backoff: Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1}})
	v.publish("orders", "doomed")
	ds := v.pull("orders", "s", 1)
	if err := v.b.DeleteTopic(v.ctx, "orders.s.dlq"); err != nil { // nowhere to put dead letters
		t.Fatal(err)
	}
	if _, err := v.m.Nack(v.ctx, "orders", "s", ackIDs(ds), 0, "boom"); err != nil {
		t.Fatalf("nack: %v", err)
	}
	v.publish("orders", "healthy")
	if got := keysOf(v.pull("orders", "s", 10)); len(got) != 1 || got[0] != "healthy" {
		t.Fatalf("other keys stalled: got %v", got)
	}
	if _, _, err := v.b.PutTopic(v.ctx, "orders.s.dlq", broker.TopicSpec{}); err != nil {
		t.Fatal(err)
	}
	v.clock.Add(2 * time.Second)
	v.pull("orders", "s", 10) // the dead letter is stored now, not delivered again
	if dead, _ := v.b.Read(v.ctx, "orders.s.dlq", 0, 0, 10); len(dead) != 1 || dead[0].PartitionKey != "doomed" {
		t.Fatalf("dead letters after the topic came back: %+v", dead)
	}
}

func TestSubscription_SubscriptionsSharingADeadLetterTopicEachKeepTheirDeadLetter(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	for _, name := range []string{"a", "b"} {
		v.sub("orders", name, Config{MaxAttempts: 1, DeadLetterTopic: "orders.dead"})
	}
	v.publish("orders", "k")
	for _, name := range []string{"a", "b"} {
		v.nack("orders", name, "no", v.pull("orders", name, 1)...)
	}
	for _, name := range []string{"a", "b"} {
		dls, err := v.m.DeadLetters(v.ctx, "orders", name, "", 10)
		if err != nil || len(dls) != 1 || dls[0].Event.Extensions[ExtSubscription] != name {
			t.Fatalf("%s's dead letters: %+v %v", name, dls, err)
		}
	}
}

func TestSubscription_RetentionPastItsPositionSkipsToTheLogStart(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{Ordering: OrderNone})
	v.publish("orders", "a", "b", "c")
	hour := time.Hour
	if _, _, err := v.b.PutTopic(v.ctx, "orders", broker.TopicSpec{Retention: &hour}); err != nil {
		t.Fatal(err)
	}
	v.clock.Add(2 * time.Hour)
	v.publish("orders", "d") // rolls the old segment (small segments) so retention can drop it
	if err := v.e.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	first, _, _ := v.b.Offsets(v.ctx, "orders", 0)
	if first == 0 {
		t.Skip("retention kept the first segment; nothing to test")
	}
	ds, err := v.m.Pull(v.ctx, "orders", "s", 10, 0)
	if err != nil || len(ds) == 0 || ds[0].Event.Offset < first {
		t.Fatalf("after retention removed offsets below %d: %v %v", first, ds, err)
	}
}

func TestSubscription_OrderingCannotChangeWithEventsPending(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{Ordering: OrderNone})
	v.publish("orders", "k", "k")
	v.pull("orders", "s", 10)
	if _, _, err := v.m.Put(v.ctx, "orders", "s", Config{Ordering: OrderKey}); !errors.Is(err, ErrConflict) {
		t.Fatalf("ordering change with events in flight: %v", err)
	}
}

func TestSubscription_AuditGoesWithItsSubscription(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{MaxAttempts: 1})
	v.publish("orders", "a")
	v.nack("orders", "s", "no", v.pull("orders", "s", 1)...)
	for i := 0; i < 2; i++ { // two redrives at the same clock reading both stay
		if _, err := v.m.Redrive(v.ctx, "orders", "s", RedriveRequest{All: true, Actor: "ops"}); err != nil {
			t.Fatal(err)
		}
	}
	v.restart()
	if audit, _ := v.m.Audit(v.ctx, "orders", "s"); len(audit) != 2 {
		t.Fatalf("audit after restart: %d records, want 2", len(audit))
	}
	if err := v.m.Delete(v.ctx, "orders", "s"); err != nil {
		t.Fatal(err)
	}
	v.sub("orders", "s", Config{})
	v.restart()
	if audit, _ := v.m.Audit(v.ctx, "orders", "s"); len(audit) != 0 {
		t.Fatalf("a new subscription of the same name shows %d old audit records", len(audit))
	}
}

func TestSubscription_ReleaseGivesBackAtOnceWithoutCountingTheAttempt(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{MaxAttempts: 2, Backoff: Backoff{Initial: time.Hour, Max: time.Hour, Multiplier: 1}})
	v.publish("orders", "a")
	for i := 0; i < 3; i++ { // more releases than attempts allowed: none dead-letters
		ds := v.pull("orders", "s", 1)
		if len(ds) != 1 || ds[0].Attempt != 1 {
			t.Fatalf("round %d: %+v, want the event again at attempt 1", i, ds)
		}
		res, err := v.m.Release(v.ctx, "orders", "s", ackIDs(ds))
		if err != nil || len(res.Acked) != 1 {
			t.Fatalf("release: %+v %v", res, err)
		}
	}
	v.restart() // the given-back attempt count survives a restart
	ds := v.pull("orders", "s", 1)
	if len(ds) != 1 || ds[0].Attempt != 1 {
		t.Fatalf("after a restart: %+v, want attempt 1", ds)
	}
	v.restart() // and the delivery after it counts: a crash now must not lose it
	v.clock.Add(time.Hour)
	ds = v.pull("orders", "s", 1)
	if len(ds) != 1 || ds[0].Attempt != 2 {
		t.Fatalf("after a crash during the delivery that followed a release: %+v, want attempt 2", ds)
	}
}

// An ack id handed out before a restart is stale after it, even for the
// same event leased again in the same order: it must not settle the lease
// of the consumer that has the event now.
func TestSub_AckIDFromBeforeARestartIsStale(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{})
	v.publish("orders", "a")
	old := v.pull("orders", "s", 1)
	v.restart()
	fresh := v.pull("orders", "s", 1)
	if len(old) != 1 || len(fresh) != 1 || old[0].AckID == fresh[0].AckID {
		t.Fatalf("ack ids before and after the restart: %v, %v; want two different ones", ackIDs(old), ackIDs(fresh))
	}
	res, err := v.m.Reject(v.ctx, "orders", "s", ackIDs(old), "a consumer from before the restart")
	if err != nil || len(res.Acked) != 0 || len(res.Stale) != 1 {
		t.Fatalf("reject with the old ack id: %+v, %v; want it stale", res, err)
	}
	if res := v.ack("orders", "s", fresh...); len(res.Acked) != 1 {
		t.Fatalf("ack with the new ack id: %+v", res)
	}
}

// A nack's reason is trimmed in the state record too: one nack of many
// deliveries with a long reason must not make a state write over the
// log's limit, which would stop every subscription from acknowledging.
func TestSub_ALongNackReasonDoesNotBreakTheStateWriter(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.topic("other", 1)
	v.sub("orders", "s", Config{Ordering: OrderNone})
	v.sub("other", "s2", Config{})
	v.publish("orders", make([]string, 70)...)
	v.publish("other", "x")
	ds := v.pull("orders", "s", 100)
	if _, err := v.m.Nack(v.ctx, "orders", "s", ackIDs(ds), 0, strings.Repeat("x", 1<<20)); err != nil {
		t.Fatalf("nack of %d with a 1 MiB reason: %v", len(ds), err)
	}
	other := v.pull("other", "s2", 1)
	if _, err := v.m.Ack(v.ctx, "other", "s2", ackIDs(other)); err != nil {
		t.Fatalf("an unrelated subscription can no longer ack: %v", err)
	}
}

// A partition the topic gained after the subscription was made is known
// only from its cursor record, which every settlement rewrites: after a
// compaction it comes after the partition's done sets and event records.
// A confirmed ack there must survive a restart.
func TestSub_AnAckOnAPartitionAddedLaterSurvivesCompactionAndRestart(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{Ordering: OrderNone, MaxAttempts: 5})
	v.topic("orders", 2) // the topic grows
	v.publish("orders", "a", "b", "c", "d", "e", "f", "g", "h")
	var p1 []Delivery
	for _, d := range v.pull("orders", "s", 100) {
		if d.Event.Partition == 1 {
			p1 = append(p1, d)
		}
	}
	if len(p1) < 2 {
		t.Fatalf("%d events on partition 1, want at least 2", len(p1))
	}
	v.ack("orders", "s", p1[1])           // out of order: a done set
	v.nack("orders", "s", "later", p1[0]) // rewrites partition 1's cursor record
	if err := v.e.Compact(); err != nil {
		t.Fatal(err)
	}
	v.restart()
	v.clock.Add(time.Hour)
	for _, d := range v.pull("orders", "s", 100) {
		if d.Event.ID == p1[1].Event.ID {
			t.Fatalf("event %s, acked before the restart, is delivered again (attempt %d)", d.Event.ID, d.Attempt)
		}
	}
}

// The same without compaction: the first state write of a new partition
// may put a done set before the partition's first cursor record.
func TestSub_AnAckOnAPartitionAddedLaterSurvivesARestart(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{})
	v.topic("orders", 2)
	later := v.clock.Now().Add(time.Hour).Format(time.RFC3339Nano)
	var held, other *event.Event
	for i := 0; held == nil || other == nil; i++ {
		ev := &event.Event{ID: fmt.Sprintf("x%d", i), Source: "/t", Type: "t", SpecVersion: "1.0", PartitionKey: fmt.Sprintf("k%d", i)}
		if held == nil {
			ev.Extensions = map[string]string{ExtDeliverAfter: later} // pending at the head of partition 1
		}
		res, err := v.b.Publish(v.ctx, "orders", []*event.Event{ev})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Partition != 1 {
			continue
		}
		if held == nil {
			held = ev
		} else {
			other = ev
		}
	}
	var d Delivery
	for _, x := range v.pull("orders", "s", 100) {
		if x.Event.ID == other.ID {
			d = x
		} else {
			v.ack("orders", "s", x)
		}
	}
	v.ack("orders", "s", d) // out of order on partition 1: held is pending before it
	v.restart()
	for _, x := range v.pull("orders", "s", 100) {
		if x.Event.ID == other.ID {
			t.Fatalf("%s, acked before the restart, is delivered again (attempt %d)", x.Event.ID, x.Attempt)
		}
	}
}

// Deleting a topic deletes its subscriptions first: subscriptions left by a
// process that died after deleting the topic and before them (the old
// order) go too, and a topic made again under the name starts with none,
// rather than with positions past its log.
func TestManager_DeleteTopicAndSubscriptionsRemovesOrphans(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{})
	v.publish("orders", "a", "b")
	v.ack("orders", "s", v.pull("orders", "s", 10)...)
	if err := v.b.DeleteTopic(v.ctx, "orders"); err != nil { // the topic alone, as a crash in between would leave it
		t.Fatal(err)
	}
	if err := v.m.DeleteTopicAndSubscriptions(v.ctx, "orders"); !errors.Is(err, broker.ErrTopicNotFound) {
		t.Fatalf("delete of the topic already gone: %v, want ErrTopicNotFound", err)
	}
	if _, err := v.m.Get(v.ctx, "orders", "s"); !errors.Is(err, broker.ErrTopicNotFound) { // an orphan would be found
		t.Fatalf("the subscription outlived its topic: %v", err)
	}
	v.topic("orders", 1)
	v.sub("orders", "s", Config{})
	v.publish("orders", "c")
	if got := v.pull("orders", "s", 10); len(got) != 1 {
		t.Fatalf("the topic made again delivers %d events, want its one", len(got))
	}
}

// An event held back at the head of a partition (a timeout a day ahead)
// keeps committed where it is while 2,000 events behind it are handled:
// the cursor's order of pending offsets does not keep the done ones, so a
// pull's scan of it does not grow with them.
func TestCursor_EventsHandledBehindAHeldHeadLeaveNoScanBehind(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{})
	v.publishHeld("orders")
	v.behindTheHead(func(ds []Delivery) { v.ack("orders", "s", ds...) })
	s, _ := v.m.get(context.Background(), "orders", "s")
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.parts[0]
	if c.committed != 0 || len(c.entries) != 1 {
		t.Fatalf("committed %d with %d pending; want 0 and the held event alone", c.committed, len(c.entries))
	}
	if len(c.order) > 2*len(c.entries)+64 {
		t.Fatalf("order holds %d offsets for %d pending events", len(c.order), len(c.entries))
	}
}

// A subscription made while its topic is being deleted does not outlive
// the topic: Put waits for the delete or is refused.
func TestManager_PutDuringDeleteTopicLeavesNoSubscription(t *testing.T) {
	v := newEnv(t)
	for i := range 20 {
		topic := fmt.Sprintf("t%d", i)
		v.topic(topic, 1)
		for j := range 3 {
			v.sub(topic, fmt.Sprintf("s%d", j), Config{DeadLetterTopic: "dlq"})
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for k := range 30 {
				v.m.Put(v.ctx, topic, fmt.Sprintf("late%d", k), Config{DeadLetterTopic: "dlq"}) // refused once the topic is going
			}
		}()
		err := v.m.DeleteTopicAndSubscriptions(v.ctx, topic)
		<-done
		if err != nil {
			t.Fatal(err)
		}
		v.m.mu.Lock()
		for _, s := range v.m.subs {
			if s.topic == topic {
				v.m.mu.Unlock()
				t.Fatalf("round %d: subscription %s outlived its deleted topic", i, s.name)
			}
		}
		v.m.mu.Unlock()
	}
}

// Redriven events of one key are delivered in the order they were
// redriven, before a restart and after it.
func TestRedrive_KeyOrderIsTheOrderOfRedrivesAcrossARestart(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "billing", Config{MaxAttempts: 1})
	v.publish("orders", "k", "k", "k")
	for range 3 {
		v.nack("orders", "billing", "down", v.pull("orders", "billing", 10)...)
	}
	dls, err := v.m.DeadLetters(v.ctx, "orders", "billing", "", 10)
	if err != nil || len(dls) != 3 {
		t.Fatalf("dead letters: %d %v", len(dls), err)
	}
	var want []string // redriven newest first, one call each
	for i := 2; i >= 0; i-- {
		id := originalID(dls[i].Event)
		if res, err := v.m.Redrive(v.ctx, "orders", "billing", RedriveRequest{IDs: []string{id}}); err != nil || res.Redriven != 1 {
			t.Fatalf("redrive %s: %+v %v", id, res, err)
		}
		want = append(want, id)
	}
	first := v.pull("orders", "billing", 10)
	if len(first) != 1 || first[0].Event.ID != want[0] {
		t.Fatalf("first redriven delivery %v, want %s", first, want[0])
	}
	v.ack("orders", "billing", first...)
	v.restart()
	for _, id := range want[1:] {
		ds := v.pull("orders", "billing", 10)
		if len(ds) != 1 || ds[0].Event.ID != id {
			t.Fatalf("after a restart delivered %v, want %s: the order of the redrives %v", ds, id, want)
		}
		v.ack("orders", "billing", ds...)
	}
}

// A pull takes the oldest deliverable events across partitions and
// redriven dead letters: a partition with a backlog that keeps growing
// does not hold back the events of another, nor redriven ones.
func TestPull_NoPartitionWaitsBehindAnothersBacklog(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 2)
	v.sub("orders", "s", Config{MaxAttempts: 1})
	keys := v.keysByPartition("orders", 2, 100)
	v.publish("orders", keys[1][0])
	v.nack("orders", "s", "down", v.pull("orders", "s", 10)...)
	if res, err := v.m.Redrive(v.ctx, "orders", "s", RedriveRequest{All: true}); err != nil || res.Redriven != 1 {
		t.Fatalf("redrive: %+v %v", res, err)
	}
	v.publish("orders", keys[1][1])
	want := map[string]bool{keys[1][0]: true, keys[1][1]: true} // the redriven event and the later one of partition 1
	backlog := keys[0]
	for round := 0; round < 5 && len(want) > 0; round++ {
		v.clock.Add(time.Second)
		v.publish("orders", backlog[:20]...) // partition 0 grows faster than it is consumed
		backlog = backlog[20:]
		ds := v.pull("orders", "s", 10)
		for _, d := range ds {
			delete(want, d.Event.PartitionKey)
		}
		v.ack("orders", "s", ds...)
	}
	if len(want) > 0 {
		t.Fatalf("keys %v never delivered while partition 0 had a backlog", want)
	}
}

// keysByPartition returns n keys for each partition of a topic of that
// many partitions, learnt from a topic made for it.
func (v *env) keysByPartition(topic string, partitions, n int) [][]string {
	v.t.Helper()
	probe := topic + "-probe"
	v.topic(probe, partitions)
	keys := make([][]string, partitions)
	for i := 0; ; i++ {
		k := fmt.Sprintf("%s-key-%d", topic, i)
		res, err := v.b.Publish(v.ctx, probe, []*event.Event{{ID: k, Source: "/probe", Type: "probe", SpecVersion: "1.0", PartitionKey: k}})
		if err != nil {
			v.t.Fatal(err)
		}
		if p := res[0].Partition; len(keys[p]) < n {
			keys[p] = append(keys[p], k)
		}
		done := true
		for _, ks := range keys {
			done = done && len(ks) == n
		}
		if done {
			return keys
		}
	}
}

// A pull that dead-letters an event out of attempts (its last delivery
// was lost in a restart) delivers the event of its key behind it at once,
// instead of returning nothing or waiting out its long poll.
func TestPull_DeliversTheEventThatADeadLetterInThePullFrees(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{MaxAttempts: 1})
	v.publish("orders", "k", "k")
	if ds := v.pull("orders", "s", 10); len(ds) != 1 {
		t.Fatalf("first pull: %v", keysOf(ds))
	}
	v.restart() // the delivery is lost with its consumer: its one attempt is used
	if ds := v.pull("orders", "s", 10); len(ds) != 1 || ds[0].Event.Offset != 1 {
		t.Fatalf("a pull that dead-lettered the first event delivered %v, want the second one", ds)
	}
	if dls, err := v.m.DeadLetters(v.ctx, "orders", "s", "", 10); err != nil || len(dls) != 1 {
		t.Fatalf("dead letters: %d %v", len(dls), err)
	}
}

// The ack id of a redriven delivery is this subscription's after a
// restart too: stale, like any other from before it, not unknown.
func TestSub_ARedrivenDeliverysAckIDFromBeforeARestartIsStale(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{MaxAttempts: 1})
	v.publish("orders", "k")
	v.nack("orders", "s", "down", v.pull("orders", "s", 10)...)
	if res, err := v.m.Redrive(v.ctx, "orders", "s", RedriveRequest{All: true}); err != nil || res.Redriven != 1 {
		t.Fatalf("redrive: %+v %v", res, err)
	}
	ds := v.pull("orders", "s", 10)
	if len(ds) != 1 {
		t.Fatalf("redriven delivery: %v", ds)
	}
	v.ack("orders", "s", ds...)
	v.restart()
	res, err := v.m.Ack(v.ctx, "orders", "s", ackIDs(ds))
	if err != nil || len(res.Stale) != 1 || len(res.Unknown) != 0 {
		t.Fatalf("ack of a redriven delivery from before a restart: %+v %v, want it stale", res, err)
	}
}

// An event is redriven once at a time, even when it has two dead letters
// and the older one is being redriven: a crash kept it pending after its
// first dead letter was stored, and a pull more than a dedup window later
// stored the second. Redriven from both, it would be delivered again after
// its ack.
func TestRedrive_AnEventBeingRedrivenIsNotRedrivenAgainFromANewerDeadLetter(t *testing.T) {
	broken := new(atomic.Bool)
	v := &env{t: t, dir: "/data", clock: &clock{now: time.Now()}, ctx: context.Background(),
		fs: faultfs.Wrap(faultfs.New(), func(op faultfs.Op, path string) error {
			if broken.Load() && op == faultfs.OpWrite && strings.Contains(path, stateTopic) {
				return faultfs.IOError(op, path)
			}
			return nil
		})}
	v.open()
	t.Cleanup(func() { v.m.Close(); v.e.Close() })
	v.topic("orders", 1)
	v.sub("orders", "s", Config{MaxAttempts: 1, Ordering: OrderNone})
	v.publish("orders", "k")
	ds := v.pull("orders", "s", 10)
	broken.Store(true) // the dead letter is stored, the state that says so is not
	if _, err := v.m.Nack(v.ctx, "orders", "s", ackIDs(ds), 0, "down"); err == nil {
		t.Fatal("a nack whose state write failed reported success")
	}
	broken.Store(false)
	v.restart() // the event is pending again, out of attempts
	if res, err := v.m.Redrive(v.ctx, "orders", "s", RedriveRequest{All: true}); err != nil || res.Redriven != 1 {
		t.Fatalf("redrive: %+v %v", res, err)
	}
	v.clock.Add(3 * time.Minute)   // past the dead-letter topic's dedup window
	ds = v.pull("orders", "s", 10) // dead-letters the pending event a second time, delivers the redriven one
	if dls, err := v.m.DeadLetters(v.ctx, "orders", "s", "", 10); err != nil || len(dls) != 2 || len(ds) != 1 {
		t.Fatalf("%d dead letters (%v) and deliveries %v, want 2 and the redriven event", len(dls), err, ds)
	}
	res, err := v.m.Redrive(v.ctx, "orders", "s", RedriveRequest{All: true})
	if err != nil || res.Redriven != 0 || res.Already != 1 {
		t.Fatalf("redrive of an event being redriven: %+v %v, want it already redriving", res, err)
	}
	v.ack("orders", "s", ds...)
	if again := v.pull("orders", "s", 10); len(again) != 0 {
		t.Fatalf("the acked event was delivered again: %+v", again)
	}
}

// An older Herald took any backoff max. One so long that its delay
// overflowed a time.Duration made every nacked event come again at once;
// such a stored setting still waits, as long as a duration can.
func TestSubscription_AnOlderHeraldsBackoffBeyondADurationStillWaits(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{})
	cfg := v.m.subs[subKey("orders", "s")].cfg
	cfg.Backoff = Backoff{Initial: 2_200_000 * time.Hour, Max: 2_200_000 * time.Hour, Multiplier: 1}
	var b batch
	b.Put(configKey("orders", "s"), configRecord{Inc: v.m.subs[subKey("orders", "s")].inc, Config: cfg, Start: map[int]int64{0: 0}})
	if err := v.m.state.write(v.ctx, &b); err != nil {
		t.Fatal(err)
	}
	v.restart()
	v.m.jitter = func() float64 { return 0.99 } // the delay with its jitter past a Duration's 292 years
	v.publish("orders", "k")
	v.nack("orders", "s", "later", v.pull("orders", "s", 10)...)
	v.clock.Add(time.Hour)
	if ds := v.pull("orders", "s", 10); len(ds) != 0 {
		t.Fatalf("an hour after the nack: %d deliveries (attempt %d), want the event to wait its backoff", len(ds), ds[0].Attempt)
	}
	v.restart()
	v.clock.Add(time.Hour)
	if ds := v.pull("orders", "s", 10); len(ds) != 0 {
		t.Fatalf("after a restart: %d deliveries, want the event to wait its backoff", len(ds))
	}
}

// wantDeadLetteredAfterThreeAttempts checks that subscription s of orders
// delivers its one event no more and has dead-lettered it after its 3
// attempts.
func (v *env) wantDeadLetteredAfterThreeAttempts(t *testing.T) {
	t.Helper()
	if ds := v.pull("orders", "s", 1); len(ds) != 0 {
		t.Fatalf("delivered a 4th time: %+v", ds)
	}
	dead, _ := v.b.Read(v.ctx, "orders.s.dlq", 0, 0, 10)
	if len(dead) != 1 || dead[0].Extensions[ExtAttempts] != "3" {
		t.Fatalf("dead letters: %+v", dead)
	}
}

// A dead-letter topic that was deleted holds no dead letters: listing them
// is empty and a redrive of all sends nothing back, instead of both
// failing as if the subscription's own topic were missing.
func TestDeadLetters_ADeletedDeadLetterTopicHoldsNone(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{MaxAttempts: 1})
	v.publish("orders", "a")
	v.nack("orders", "s", "no", v.pull("orders", "s", 1)...)
	if err := v.b.DeleteTopic(v.ctx, "orders.s.dlq"); err != nil {
		t.Fatal(err)
	}
	if dls, err := v.m.DeadLetters(v.ctx, "orders", "s", "", 10); err != nil || len(dls) != 0 {
		t.Fatalf("dead letters after their topic was deleted: %+v %v, want none", dls, err)
	}
	if res, err := v.m.Redrive(v.ctx, "orders", "s", RedriveRequest{All: true}); err != nil || res.Redriven != 0 {
		t.Fatalf("a redrive of all after the dead-letter topic was deleted: %+v %v, want nothing sent back", res, err)
	}
}

// A subscription holds at most about windowBytes of pending events' data
// per partition (and one read more), read ahead of its consumers, not
// window events whatever their size: 1,000 events of 1 MiB would be a
// gigabyte per partition.
func TestPull_TheEventsHeldAheadAreBoundedInBytes(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{Ordering: OrderNone})
	data := make([]byte, 512<<10)
	for i := range 40 {
		e := &event.Event{ID: fmt.Sprintf("big-%d", i), Source: "/test", Type: "test.event", SpecVersion: "1.0", Data: data}
		if _, err := v.b.Publish(v.ctx, "orders", []*event.Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	held := func() (n, size int) {
		s, err := v.m.get(v.ctx, "orders", "s")
		if err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, e := range s.parts[0].entries {
			n, size = n+1, size+len(e.ev.Data)
		}
		if s.parts[0].held != size {
			t.Fatalf("the cursor counts %d bytes held, its events hold %d", s.parts[0].held, size)
		}
		return n, size
	}
	got := 0
	for got < 40 {
		ds := v.pull("orders", "s", 1000)
		if len(ds) == 0 {
			t.Fatalf("after %d deliveries, none more of 40", got)
		}
		if n, size := held(); size > windowBytes+broker.MaxReadBytes {
			t.Fatalf("after %d deliveries the subscription holds %d events of %d bytes, over %d", got, n, size, windowBytes+broker.MaxReadBytes)
		}
		v.ack("orders", "s", ds...)
		got += len(ds)
	}
}
