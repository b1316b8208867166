package subscription

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/broker"
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

// liveStateKeys returns the state topic's keys that hold a value, the
// newest record of each key winning, as compaction would leave them.
func (v *env) liveStateKeys(prefix string) []string {
	v.t.Helper()
	live := map[string]bool{}
	err := v.m.state.replay(v.ctx, func(key string, value []byte) error {
		if strings.HasPrefix(key, prefix) {
			live[key] = value != nil
		}
		return nil
	})
	if err != nil {
		v.t.Fatal(err)
	}
	var keys []string
	for k, ok := range live {
		if ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// Events handled one ack call each behind a head held back for a day
// leave a bounded number of done sets, in memory and in the state topic,
// and a restart still knows every one of them: what comes again is the
// events left unacked, and the held head once it is due.
func TestCursor_EventsHandledBehindAHeldHeadLeaveFewDoneSets(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{})
	v.publishHeld("orders")
	var unacked []int64
	v.behindTheHead(func(ds []Delivery) {
		for _, d := range ds {
			if d.Event.Offset%97 == 0 {
				unacked = append(unacked, d.Event.Offset) // stays leased
				continue
			}
			v.ack("orders", "s", d) // one call each: one done set each
		}
	})
	s, _ := v.m.get(context.Background(), "orders", "s")
	s.mu.Lock()
	sets := len(s.parts[0].doneSets)
	var pending []int64 // the unacked ones and what waits behind them by key
	for off := range s.parts[0].entries {
		if off != 0 {
			pending = append(pending, off)
		}
	}
	s.mu.Unlock()
	slices.Sort(pending)
	if sets > maxDoneSets+1 {
		t.Errorf("%d done sets in memory after %d ack calls behind a held head, want at most %d", sets, 2000-len(unacked), maxDoneSets+1)
	}
	if keys := v.liveStateKeys("d/"); len(keys) > maxDoneSets+1 {
		t.Errorf("%d done-set records in the state topic, want at most %d", len(keys), maxDoneSets+1)
	}

	v.restart()
	s, _ = v.m.get(context.Background(), "orders", "s")
	s.mu.Lock()
	runs := len(s.parts[0].restoredRuns)
	s.mu.Unlock()
	if runs > len(pending)+2 {
		t.Errorf("%d runs of done offsets restored for %d pending events, want at most %d", runs, len(pending)+1, len(pending)+2)
	}
	first := v.pull("orders", "s", 100)
	if got := offsetsOf(first); !slices.Equal(got, unacked) {
		t.Fatalf("after a restart pulled %v, want the events left unacked %v", got, unacked)
	}
	v.ack("orders", "s", first...)
	again := offsetsOf(first)
	for ds := v.pull("orders", "s", 100); len(ds) > 0; ds = v.pull("orders", "s", 100) {
		again = append(again, offsetsOf(ds)...)
		v.ack("orders", "s", ds...)
	}
	if slices.Sort(again); !slices.Equal(again, pending) {
		t.Fatalf("after a restart delivered %v, want every event pending before it %v and nothing acked", again, pending)
	}
	v.clock.Add(25 * time.Hour)
	if got := offsetsOf(v.pull("orders", "s", 100)); !slices.Equal(got, []int64{0}) {
		t.Fatalf("pulled %v once the held head was due, want [0]", got)
	}
}

// keyFor returns a partition key that the broker puts in partition p of n.
func keyFor(p, n int) string {
	for i := 0; ; i++ {
		if k := fmt.Sprintf("key-%d", i); broker.KeyPartition(k, n) == p {
			return k
		}
	}
}

// A topic grows from 2 to 4 partitions and only partition 3 gets an event
// before a restart, so partition 2 has no cursor record: it is still read
// after the restart, and after a seek that names only partition 3.
func TestSub_APartitionAddedLaterIsReadWhenALaterOneIsKnownFirst(t *testing.T) {
	for _, how := range []string{"restart", "seek"} {
		t.Run(how, func(t *testing.T) {
			v := newEnv(t)
			v.topic("orders", 2)
			v.sub("orders", "s", Config{})
			v.topic("orders", 4)
			if how == "seek" {
				if _, err := v.m.Seek(v.ctx, "orders", "s", Position{Offsets: map[int]int64{3: 0}}); err != nil {
					t.Fatal(err)
				}
			} else {
				v.publish("orders", keyFor(3, 4))
				ds := v.pull("orders", "s", 10)
				if len(ds) != 1 || ds[0].Event.Partition != 3 {
					t.Fatalf("pulled %d events, want the one in partition 3", len(ds))
				}
				v.ack("orders", "s", ds...)
				v.restart()
			}
			v.publish("orders", keyFor(2, 4))
			if ds := v.pull("orders", "s", 10); len(ds) != 1 || ds[0].Event.Partition != 2 {
				t.Fatalf("pulled %d events, want the one published to partition 2", len(ds))
			}
		})
	}
}

// A dead-letter topic that lost its unsynced tail took with it a dead
// letter being redriven; the next dead letter, which takes its offset, is
// not redriven by the restart after.
func TestRedrive_ADeadLetterLostWithItsTopicsTailIsForgotten(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "s", Config{})
	v.publish("orders", "a", "b")
	ds := v.pull("orders", "s", 10)
	if len(ds) != 2 {
		t.Fatalf("pulled %d events, want 2", len(ds))
	}
	if _, err := v.m.Reject(v.ctx, "orders", "s", []string{ds[0].AckID}, "bad"); err != nil {
		t.Fatal(err)
	}
	snap := v.snapshotTopic("orders.s.dlq") // holds the first dead letter
	if _, err := v.m.Reject(v.ctx, "orders", "s", []string{ds[1].AckID}, "bad"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.m.Redrive(v.ctx, "orders", "s", RedriveRequest{IDs: []string{ds[1].Event.ID}}); err != nil {
		t.Fatal(err)
	}
	v.loseTail("orders.s.dlq", snap) // the second dead letter is gone
	if got := v.pull("orders", "s", 10); len(got) != 0 {
		t.Fatalf("pulled %v, want nothing: the redriven dead letter is gone", offsetsOf(got))
	}
	v.publish("orders", "c")
	c := v.pull("orders", "s", 10)
	if len(c) != 1 {
		t.Fatalf("pulled %d events, want c", len(c))
	}
	if _, err := v.m.Reject(v.ctx, "orders", "s", []string{c[0].AckID}, "bad"); err != nil {
		t.Fatal(err) // its dead letter takes the lost one's offset
	}
	v.restart()
	if got := v.pull("orders", "s", 10); len(got) != 0 {
		t.Fatalf("after a restart pulled %s (attempt %d), a dead letter nobody redrove", got[0].Event.ID, got[0].Attempt)
	}
}
