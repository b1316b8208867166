package subscription

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// newMemEnv is newEnv over an in-memory disk whose power can be cut.
func newMemEnv(t *testing.T) *env { return newMemEnvSyncing(t, log.SyncAlways) }

// newMemEnvSyncing is newMemEnv with the engine in the fsync mode given.
func newMemEnvSyncing(t *testing.T, mode log.SyncMode) *env {
	v := &env{t: t, fs: faultfs.New(), dir: "/data", sync: mode, clock: &clock{now: time.Now()}, ctx: context.Background()}
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
	v.wantDeadLetteredAfterThreeAttempts(t)
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

// A seek, a dead-lettering nack and a redrive that were answered each
// survive a power cut right after them.
func TestSubscription_AnsweredSeeksDeadLettersAndRedrivesSurviveAPowerCut(t *testing.T) {
	v := newMemEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{Ordering: OrderNone, MaxAttempts: 1})
	v.publish("orders", "a", "b", "c")
	ds := v.pull("orders", "s", 10)
	v.ack("orders", "s", ds[0], ds[1])
	v.nack("orders", "s", "card declined", ds[2]) // its last attempt: dead-lettered
	v.powerCut()
	if again := v.pull("orders", "s", 10); len(again) != 0 {
		t.Fatalf("after the acks and the dead-lettering: %+v", again)
	}
	dls, err := v.m.DeadLetters(v.ctx, "orders", "s", "", 10)
	if err != nil || len(dls) != 1 || originalID(dls[0].Event) != ds[2].Event.ID {
		t.Fatalf("dead letters after a power cut: %+v %v", dls, err)
	}

	if _, err := v.m.Seek(v.ctx, "orders", "s", Position{Start: "earliest"}); err != nil {
		t.Fatal(err)
	}
	v.powerCut()
	if again := v.pull("orders", "s", 10); len(again) != 3 {
		t.Fatalf("after a seek to earliest and a power cut: %d deliveries, want 3", len(again))
	}
	if _, err := v.m.Seek(v.ctx, "orders", "s", Position{Offsets: map[int]int64{0: 3}}); err != nil {
		t.Fatal(err)
	}
	v.powerCut()
	if again := v.pull("orders", "s", 10); len(again) != 0 {
		t.Fatalf("after a seek to the end and a power cut: %+v", again)
	}

	res, err := v.m.Redrive(v.ctx, "orders", "s", RedriveRequest{All: true, Actor: "ops"})
	if err != nil || res.Redriven != 1 {
		t.Fatalf("redrive: %+v %v", res, err)
	}
	v.powerCut()
	again := v.pull("orders", "s", 10)
	if len(again) != 1 || again[0].Event.ID != ds[2].Event.ID || again[0].Attempt != 1 {
		t.Fatalf("after a redrive and a power cut: %+v", again)
	}
	if audit, _ := v.m.Audit(v.ctx, "orders", "s"); len(audit) != 1 || audit[0].Actor != "ops" {
		t.Fatalf("redrive audit after a power cut: %+v", audit)
	}
	v.ack("orders", "s", again...)
	v.powerCut()
	if again, _ := v.m.Redrive(v.ctx, "orders", "s", RedriveRequest{All: true}); again.Redriven != 0 {
		t.Fatalf("a redrive of all after the redriven event's ack and a power cut: %+v", again)
	}
}

// With an fsync mode that lets writes return before their fsync, a power
// cut may take back a dead-lettering nack, but never keep the record that
// its event is done without its dead letter: here the subscriptions' state
// is fsynced (as its own timer may do first) right after the nack.
func TestSubscription_AWrittenDeadLetterOutlivesARecordOfItsEventDoneInAPowerCut(t *testing.T) {
	for _, mode := range []log.SyncMode{log.SyncInterval, log.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			v := newMemEnvSyncing(t, mode)
			v.topic("orders", 1)
			v.sub("orders", "s", Config{Ordering: OrderNone, MaxAttempts: 1})
			v.publish("orders", "a")
			if err := v.e.Sync(v.ctx, "orders"); err != nil {
				t.Fatal(err)
			}
			ds := v.pull("orders", "s", 10)
			v.nack("orders", "s", "card declined", ds[0]) // its last attempt: dead-lettered
			if err := v.e.Sync(v.ctx, stateTopic); err != nil {
				t.Fatal(err)
			}
			v.powerCut()
			if again := v.pull("orders", "s", 10); len(again) != 0 {
				t.Fatalf("after the dead-lettering and a power cut: %+v, want the event done", again)
			}
			dls, err := v.m.DeadLetters(v.ctx, "orders", "s", "", 10)
			if err != nil || len(dls) != 1 || originalID(dls[0].Event) != ds[0].Event.ID {
				t.Fatalf("dead letters after a power cut: %+v %v, want the event's", dls, err)
			}
		})
	}
}

// A subscription's creation, change, seek, redrive and deletion are fsynced before
// they are answered in every fsync mode: with interval or none, a power cut
// right after one keeps it (a subscription made at the latest position and
// lost would, made again, miss the events published meanwhile).
func TestSubscription_AnsweredAdminChangesSurviveAPowerCutInEveryFsyncMode(t *testing.T) {
	for _, mode := range []log.SyncMode{log.SyncInterval, log.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			v := newMemEnvSyncing(t, mode)
			v.topic("orders", 1)
			v.sub("orders", "s", Config{MaxAttempts: 3})
			v.powerCut()
			if info, err := v.m.Get(v.ctx, "orders", "s"); err != nil || info.Config.MaxAttempts != 3 {
				t.Fatalf("after a creation and a power cut: %+v %v", info, err)
			}
			if _, _, err := v.m.Change(v.ctx, "orders", "s", func(c Config, _ bool) (Config, error) {
				c.MaxAttempts = 7
				return c, nil
			}); err != nil {
				t.Fatal(err)
			}
			v.powerCut()
			if info, err := v.m.Get(v.ctx, "orders", "s"); err != nil || info.Config.MaxAttempts != 7 {
				t.Fatalf("after a change and a power cut: %+v %v, want maxAttempts 7", info, err)
			}
			v.publish("orders", "a", "b")
			if err := v.e.Sync(v.ctx, "orders"); err != nil {
				t.Fatal(err)
			}
			if _, err := v.m.Seek(v.ctx, "orders", "s", Position{Offsets: map[int]int64{0: 2}}); err != nil {
				t.Fatal(err)
			}
			v.powerCut()
			if again := v.pull("orders", "s", 10); len(again) != 0 {
				t.Fatalf("after a seek to the end and a power cut: %+v", again)
			}
			v.publish("orders", "c")
			if err := v.e.Sync(v.ctx, "orders"); err != nil {
				t.Fatal(err)
			}
			ds := v.pull("orders", "s", 10)
			if res, err := v.m.Reject(v.ctx, "orders", "s", []string{ds[0].AckID}, "bad"); err != nil || len(res.Acked) != 1 {
				t.Fatalf("reject: %+v %v", res, err)
			}
			if res, err := v.m.Redrive(v.ctx, "orders", "s", RedriveRequest{All: true, Actor: "ops"}); err != nil || res.Redriven != 1 {
				t.Fatalf("redrive: %+v %v", res, err)
			}
			v.powerCut()
			if again := v.pull("orders", "s", 10); len(again) != 1 || again[0].Event.ID != ds[0].Event.ID {
				t.Fatalf("after a redrive and a power cut: %+v, want %s", again, ds[0].Event.ID)
			}
			if audit, _ := v.m.Audit(v.ctx, "orders", "s"); len(audit) != 1 || audit[0].Actor != "ops" {
				t.Fatalf("redrive audit after a power cut: %+v", audit)
			}
			if err := v.m.Delete(v.ctx, "orders", "s"); err != nil {
				t.Fatal(err)
			}
			v.powerCut()
			if info, err := v.m.Get(v.ctx, "orders", "s"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("after a deletion and a power cut: %+v %v, want ErrNotFound", info, err)
			}
		})
	}
}

// A dead letter is fsynced in the partition it went to: another partition
// of the dead-letter topic that stopped taking writes (its fsync failed,
// or damage was found at start) does not make every dead-lettering into
// the topic fail and come again, as it does not with fsync always.
func TestSubscription_ADeadLetterIsDoneBesideAFailedPartitionOfItsTopic(t *testing.T) {
	for _, mode := range []log.SyncMode{log.SyncInterval, log.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			failed := func(path string) bool { return strings.Contains(path, "/dead/1/") }
			v := &env{t: t, dir: "/data", sync: mode, clock: &clock{now: time.Now()}, ctx: context.Background(),
				fs: faultfs.Wrap(faultfs.New(), faultfs.OnPath(failed, faultfs.FailAfter(1, faultfs.OpSync, nil)))}
			v.open()
			t.Cleanup(func() { v.m.Close(); v.e.Close() })
			v.topic("orders", 1)
			v.topic("dead", 2)
			v.sub("orders", "s", Config{MaxAttempts: 1, DeadLetterTopic: "dead"})
			if err := v.e.Sync(v.ctx, "dead"); err == nil {
				t.Fatal("the fsync of dead's partition 1 did not fail")
			}
			key := "k0"
			for i := 1; broker.KeyPartition(key, 2) != 0; i++ {
				key = fmt.Sprintf("k%d", i)
			}
			v.publish("orders", key)
			ds := v.pull("orders", "s", 10)
			v.nack("orders", "s", "card declined", ds...)
			v.clock.Add(time.Hour) // past any backoff of a dead letter that failed
			if again := v.pull("orders", "s", 10); len(again) != 0 {
				t.Fatalf("the event comes again: %+v", again)
			}
			info, err := v.m.Get(v.ctx, "orders", "s")
			if err != nil || info.Partitions[0].DeadLettered != 1 {
				t.Fatalf("after the dead-lettering: %+v %v, want 1 dead-lettered", info, err)
			}
			if dls, err := v.m.DeadLetters(v.ctx, "orders", "s", "", 10); err != nil || len(dls) != 1 || dls[0].Partition != 0 {
				t.Fatalf("dead letters: %+v %v, want one, in partition 0", dls, err)
			}
		})
	}
}
