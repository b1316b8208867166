package subscription

import (
	"context"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// newMemEnv is newEnv over an in-memory disk whose power can be cut.
func newMemEnv(t *testing.T) *env {
	v := &env{t: t, fs: faultfs.New(), dir: "/data", clock: &clock{now: time.Now()}, ctx: context.Background()}
	v.open()
	t.Cleanup(func() { v.m.Close(); v.e.Close() })
	return v
}

// powerCut drops everything not fsynced, tearing the last writes, and
// starts Herald again on what is left.
func (v *env) powerCut() {
	v.t.Helper()
	after := v.fs.(*faultfs.MemFS).Crash(faultfs.CrashOptions{TornWrites: true})
	v.m.Close()
	v.e.Close()
	v.fs = after
	v.open()
}

// An event each of whose deliveries ends in a power cut (its consumer,
// embedded, took the machine down) is delivered as attempts 1, 2 and 3,
// then dead-lettered: each attempt was on disk before the consumer saw it.
func TestSubscription_AnEventWhoseEveryDeliveryEndsInAPowerCutIsDeadLettered(t *testing.T) {
	v := newMemEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{MaxAttempts: 3})
	v.publish("orders", "poison")
	for i := 1; i <= 3; i++ {
		ds := v.pull("orders", "s", 1)
		if len(ds) != 1 || ds[0].Attempt != i {
			t.Fatalf("delivery %d after %d power cuts: %+v", i, i-1, ds)
		}
		v.powerCut()
	}
	if ds := v.pull("orders", "s", 1); len(ds) != 0 {
		t.Fatalf("delivered a 4th time: %+v", ds)
	}
	dead, _ := v.b.Read(v.ctx, "orders.s.dlq", 0, 0, 10)
	if len(dead) != 1 || dead[0].Extensions[ExtAttempts] != "3" {
		t.Fatalf("dead letters: %+v", dead)
	}
}

// An ack that was answered survives a power cut right after it, for a
// consumer over the network too, whose delivery did not wait for its
// attempt record: the ack waits for both.
func TestSubscription_AnAnsweredAckOfARemoteDeliverySurvivesAPowerCut(t *testing.T) {
	v := newMemEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{Ordering: OrderNone})
	v.publish("orders", "a", "b", "c")
	ds, err := v.m.PullRemote(v.ctx, "orders", "s", 3, 0)
	if err != nil || len(ds) != 3 {
		t.Fatalf("remote pull: %+v %v", ds, err)
	}
	if res := v.ack("orders", "s", ds[0], ds[2]); len(res.Acked) != 2 {
		t.Fatalf("ack: %+v", res)
	}
	v.powerCut()
	again := v.pull("orders", "s", 10)
	// Its attempt record may be lost with the power (it comes as attempt 1 again).
	if len(again) != 1 || again[0].Event.ID != ds[1].Event.ID || again[0].Attempt > 2 {
		t.Fatalf("after the power cut: %+v, want only %s", again, ds[1].Event.ID)
	}
}
