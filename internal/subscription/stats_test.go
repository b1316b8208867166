package subscription

import (
	"testing"
	"time"
)

// Stats lists every subscription, sorted, with its state and what it did:
// deliveries (retries counted again, and as redeliveries), acks, nacks
// and rejects that took effect (a stale ack counts nothing), expired
// leases and dead letters. A deleted subscription is gone from it.
func TestStats_CountDeliveriesSettlementsAndExpiries(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.topic("audit", 1)
	v.sub("orders", "s", Config{AckTimeout: 10 * time.Second, MaxAttempts: 2, Backoff: Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1}})
	v.sub("orders", "a", Config{})
	v.sub("audit", "z", Config{})
	v.publish("orders", "k1", "k2", "k3", "k4")

	ds := v.pull("orders", "s", 4)
	v.ack("orders", "s", ds[0])
	v.ack("orders", "s", ds[0]) // stale: counts nothing
	v.nack("orders", "s", "try again", ds[1])
	if _, err := v.m.Reject(v.ctx, "orders", "s", ackIDs(ds[2:3]), "never"); err != nil {
		t.Fatal(err)
	}
	v.clock.Add(11 * time.Second) // ds[1]'s backoff passed; ds[3]'s lease expires, its backoff starts
	again := v.pull("orders", "s", 4)
	if len(again) != 1 || again[0].Attempt != 2 || again[0].Event.ID != ds[1].Event.ID {
		t.Fatalf("redelivery of the nacked event: %+v", again)
	}
	v.nack("orders", "s", "still failing", again[0]) // out of attempts: dead-lettered
	v.clock.Add(time.Second)
	if again = v.pull("orders", "s", 4); len(again) != 1 || again[0].Attempt != 2 || again[0].Event.ID != ds[3].Event.ID {
		t.Fatalf("redelivery of the expired event: %+v", again)
	}

	stats := v.m.Stats(v.ctx)
	var names []string
	for _, s := range stats {
		names = append(names, s.Topic+"/"+s.Name)
	}
	if len(stats) != 3 || names[0] != "audit/z" || names[1] != "orders/a" || names[2] != "orders/s" {
		t.Fatalf("subscriptions %v, want audit/z, orders/a, orders/s", names)
	}
	s := stats[2]
	want := Counts{Delivered: 6, Redelivered: 2, Acked: 1, Nacked: 3, Expired: 1}
	if s.Counts != want {
		t.Fatalf("counts %+v, want %+v", s.Counts, want)
	}
	p := s.Partitions[0]
	if p.End != 4 || p.Committed != 3 || p.Lag != 1 || p.InFlight != 1 || p.DeadLettered != 2 {
		t.Fatalf("partition state %+v, want end 4, committed 3, lag 1, 1 in flight, 2 dead-lettered", p)
	}
	if stats[1].Counts != (Counts{}) || stats[1].Partitions[0].Lag != 4 {
		t.Fatalf("untouched subscription: %+v", stats[1])
	}

	if err := v.m.Delete(v.ctx, "orders", "a"); err != nil {
		t.Fatal(err)
	}
	if n := len(v.m.Stats(v.ctx)); n != 2 {
		t.Fatalf("%d subscriptions after a deletion, want 2", n)
	}
}

// A redriven event that dies again is dead-lettered again (back in the
// dead-letter topic), counted in its partition's deadLettered like the
// first time, whether it ran out of attempts or was rejected, and still
// counted after a restart: the metric of dead letters must not miss it.
func TestStats_ARedrivenEventThatDiesAgainCountsAsADeadLetter(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 2)
	v.sub("orders", "s", Config{MaxAttempts: 1})
	keys := v.keysByPartition("orders", 2, 1)
	v.publish("orders", keys[1][0])
	v.nack("orders", "s", "down", v.pull("orders", "s", 1)...)
	dead := func() []int64 {
		t.Helper()
		info, err := v.m.Get(v.ctx, "orders", "s")
		if err != nil {
			t.Fatal(err)
		}
		return []int64{info.Partitions[0].DeadLettered, info.Partitions[1].DeadLettered}
	}
	if got := dead(); got[0] != 0 || got[1] != 1 {
		t.Fatalf("dead-lettered %v, want [0 1]", got)
	}
	redrive := func() {
		t.Helper()
		if res, err := v.m.Redrive(v.ctx, "orders", "s", RedriveRequest{All: true}); err != nil || res.Redriven != 1 {
			t.Fatalf("redrive: %+v %v", res, err)
		}
	}
	redrive()
	v.nack("orders", "s", "still down", v.pull("orders", "s", 1)...) // out of attempts again
	if got := dead(); got[0] != 0 || got[1] != 2 {
		t.Fatalf("dead-lettered %v after the redriven event died again, want [0 2]", got)
	}
	redrive()
	if _, err := v.m.Reject(v.ctx, "orders", "s", ackIDs(v.pull("orders", "s", 1)), "never"); err != nil {
		t.Fatal(err)
	}
	if got := dead(); got[0] != 0 || got[1] != 3 {
		t.Fatalf("dead-lettered %v after the redriven event was rejected, want [0 3]", got)
	}
	v.restart()
	if got := dead(); got[0] != 0 || got[1] != 3 {
		t.Fatalf("dead-lettered %v after a restart, want [0 3]", got)
	}
}

// A delivery given back unsent (a stream that could not send it) counts
// as released: deliveries minus released is what consumers got.
func TestStats_CountReleasedDeliveries(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{})
	v.publish("orders", "k1", "k2", "k3")
	ds := v.pull("orders", "s", 3)
	if _, err := v.m.Release(v.ctx, "orders", "s", ackIDs(ds[1:])); err != nil {
		t.Fatal(err)
	}
	if _, err := v.m.Release(v.ctx, "orders", "s", ackIDs(ds[1:])); err != nil { // stale now: counts nothing
		t.Fatal(err)
	}
	again := v.pull("orders", "s", 3)
	if len(again) != 2 || again[0].Attempt != 1 {
		t.Fatalf("released deliveries came again as %+v, want both at attempt 1", again)
	}
	want := Counts{Delivered: 5, Released: 2}
	if got := v.m.Stats(v.ctx)[0].Counts; got != want {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
}
