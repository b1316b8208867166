package subscription

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// snapshotTopic copies a topic's files aside; loseTail (with the engine
// closed) puts them back, which is what a crash that lost everything the
// topic wrote since, unsynced under --fsync interval or none, leaves.
func (v *env) snapshotTopic(topic string) string {
	v.t.Helper()
	src := filepath.Join(v.dir, "topics", topic)
	dst := filepath.Join(v.t.TempDir(), topic)
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		v.t.Fatal(err)
	}
	return dst
}

func (v *env) loseTail(topic, snapshot string) {
	v.t.Helper()
	v.m.Close()
	if err := v.e.Close(); err != nil {
		v.t.Fatal(err)
	}
	dir := filepath.Join(v.dir, "topics", topic)
	if err := os.RemoveAll(dir); err != nil {
		v.t.Fatal(err)
	}
	if err := os.CopyFS(dir, os.DirFS(snapshot)); err != nil {
		v.t.Fatal(err)
	}
	v.open()
}

func offsetsOf(ds []Delivery) []int64 {
	offs := make([]int64, len(ds))
	for i, d := range ds {
		offs[i] = d.Event.Offset
	}
	slices.Sort(offs)
	return offs
}

// A subscription whose position lies past the end of a log that lost its
// unsynced tail goes back to the end: it pulls without an error, and the
// events written at those offsets afterwards are delivered, each as a
// first attempt, even across another restart before anyone pulls them.
func TestSub_ALogThatLostItsTailTakesTheSubscriptionsBack(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "all", Config{})                       // acks everything: its position passes the new end
	v.sub("orders", "held", Config{})                      // its head is held back: its position stays below the end
	v.publish("orders", "a", "b", "c", "d", "e", "f", "g") // offsets 0-6, all that will survive
	snap := v.snapshotTopic("orders")
	v.publish("orders", "h", "i", "j", "k", "l") // offsets 7-11, to be lost

	all := v.pull("orders", "all", 20)
	if len(all) != 12 {
		t.Fatalf("pulled %d events, want 12", len(all))
	}
	v.ack("orders", "all", all...)

	held := v.pull("orders", "held", 20)
	if len(held) != 12 {
		t.Fatalf("pulled %d events, want 12", len(held))
	}
	byOff := map[int64]Delivery{}
	for _, d := range held {
		byOff[d.Event.Offset] = d
	}
	if _, err := v.m.Nack(v.ctx, "orders", "held", []string{byOff[0].AckID}, time.Hour, "later"); err != nil {
		t.Fatal(err)
	}
	v.ack("orders", "held", byOff[3], byOff[8]) // one done set across the end
	v.ack("orders", "held", byOff[9])           // one past it
	v.nack("orders", "held", "again", byOff[10])
	v.ack("orders", "held", byOff[1], byOff[2], byOff[4], byOff[5], byOff[6])
	// 7 and 11 stay leased: delivered past the end.

	v.loseTail("orders", snap)
	if ds := v.pull("orders", "all", 20); len(ds) != 0 {
		t.Fatalf("pulled %v from a log with nothing new", offsetsOf(ds))
	}
	if ds := v.pull("orders", "held", 20); len(ds) != 0 {
		t.Fatalf("pulled %v; every event left is acked or held back", offsetsOf(ds))
	}
	v.publish("orders", "m", "n", "o", "p", "q", "r") // offsets 7-12, new events
	v.restart()

	want := []int64{7, 8, 9, 10, 11, 12}
	for _, name := range []string{"all", "held"} {
		ds := v.pull("orders", name, 20)
		if got := offsetsOf(ds); !slices.Equal(got, want) {
			t.Fatalf("%s pulled %v after the log lost its tail, want the new events %v", name, got, want)
		}
		for _, d := range ds {
			if d.Attempt != 1 {
				t.Errorf("%s: new event at %d delivered as attempt %d, want 1", name, d.Event.Offset, d.Attempt)
			}
		}
		v.ack("orders", name, ds...)
	}
	v.restart()
	v.clock.Add(2 * time.Hour)
	if got := offsetsOf(v.pull("orders", "held", 20)); !slices.Equal(got, []int64{0}) {
		t.Fatalf("held pulled %v once its head was due, want [0]: 3 was acked before the crash", got)
	}
}
