package subscription

import (
	"context"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/vfs"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// model is what the property test knows: what was published, what is in
// flight, what finished.
type model struct {
	t         *rapid.T
	v         *propEnv
	published []string            // event ids in publish order
	keyOf     map[string]string   // id -> key
	perKey    map[string][]string // key -> ids in publish order
	leased    map[string]leased   // id -> its current lease
	acked     map[string]bool
	attempts  map[string]int // id -> deliveries seen
}

type leased struct {
	d     Delivery
	until time.Time
}

const poisonKey = "poison"

// propEnv is env without *testing.T, for rapid, on an in-memory file
// system: the property is about delivery, and restarts stay fast.
type propEnv struct {
	fs    vfs.FS
	dir   string
	clock *clock
	e     *log.Engine
	b     *broker.Broker
	m     *Manager
}

func (v *propEnv) open(t *rapid.T) {
	e, err := log.Open(v.dir, log.Options{FS: v.fs, Now: v.clock.Now, RetentionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(e, broker.Options{Now: v.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(context.Background(), b, Options{Now: v.clock.Now, Jitter: func() float64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	v.e, v.b, v.m = e, b, m
}

func TestProperty_EveryEventFinishesOnceInKeyOrderAndPoisonStallsOnlyItsKey(t *testing.T) {
	rapid.Check(t, checkEveryEventFinishesOnce)
}

// The same with the done sets of out-of-order acks merged into runs at
// every second call, as they are behind a head held back for long.
func TestProperty_EveryEventFinishesOnceWithDoneSetsMerged(t *testing.T) {
	defer func(n int) { maxDoneSets = n }(maxDoneSets)
	maxDoneSets = 1
	rapid.Check(t, checkEveryEventFinishesOnce)
}

func checkEveryEventFinishesOnce(rt *rapid.T) {
	ctx := context.Background()
	v := &propEnv{fs: faultfs.New(), dir: "/data", clock: &clock{now: time.Unix(1_800_000_000, 0)}}
	v.open(rt)
	defer func() { v.m.Close(); v.e.Close() }()
	two := 2
	if _, _, err := v.b.PutTopic(ctx, "t", broker.TopicSpec{Partitions: &two}); err != nil {
		rt.Fatal(err)
	}
	cfg := Config{Start: "earliest", Ordering: OrderKey, MaxAttempts: 3, AckTimeout: 10 * time.Second,
		Backoff: Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1}}
	if _, _, err := v.m.Put(ctx, "t", "s", cfg); err != nil {
		rt.Fatal(err)
	}
	md := &model{t: rt, v: v, keyOf: map[string]string{}, perKey: map[string][]string{}, leased: map[string]leased{}, acked: map[string]bool{}, attempts: map[string]int{}}
	rt.Repeat(map[string]func(*rapid.T){
		"publish": func(t *rapid.T) {
			key := rapid.SampledFrom([]string{"a", "b", "c", "d", poisonKey}).Draw(t, "key")
			md.publish(key)
		},
		"pull": func(t *rapid.T) { md.pull(rapid.IntRange(1, 5).Draw(t, "max")) },
		"ack":  func(t *rapid.T) { md.finishOne(t, true) },
		"nack": func(t *rapid.T) { md.finishOne(t, false) },
		"wait": func(t *rapid.T) { md.advance(time.Duration(rapid.IntRange(1, 15).Draw(t, "seconds")) * time.Second) },
		"restart": func(t *rapid.T) {
			v.m.Close()
			if err := v.e.Close(); err != nil {
				t.Fatal(err)
			}
			v.open(t)
			md.leased = map[string]leased{} // every lease is gone with the process
		},
	})
	md.drain()
}

func (md *model) publish(key string) {
	id := fmt.Sprintf("e%d", len(md.published))
	e := &event.Event{ID: id, Source: "/p", Type: "p", SpecVersion: "1.0", PartitionKey: key}
	if _, err := md.v.b.Publish(context.Background(), "t", []*event.Event{e}); err != nil {
		md.t.Fatal(err)
	}
	md.published = append(md.published, id)
	md.keyOf[id] = key
	md.perKey[key] = append(md.perKey[key], id)
}

// pull checks each delivery against the model: not acked before, no other
// event of its key in flight, every earlier event of its key finished.
func (md *model) pull(max int) []Delivery {
	ds, err := md.v.m.Pull(context.Background(), "t", "s", max, 0)
	if err != nil {
		md.t.Fatal(err)
	}
	now := md.v.clock.Now()
	dead := md.deadLettered()
	for _, d := range ds {
		id, key := d.Event.ID, d.Event.PartitionKey
		if md.acked[id] {
			md.t.Fatalf("acknowledged event %s delivered again (attempt %d)", id, d.Attempt)
		}
		for other := range md.leased {
			if md.keyOf[other] == key && other != id {
				md.t.Fatalf("events %s and %s of key %s in flight together", other, id, key)
			}
		}
		for _, earlier := range md.perKey[key] {
			if earlier == id {
				break
			}
			if !md.acked[earlier] && dead[earlier] == 0 {
				md.t.Fatalf("event %s of key %s delivered before earlier %s finished", id, key, earlier)
			}
		}
		if d.Attempt != md.attempts[id]+1 {
			md.t.Fatalf("event %s delivered as attempt %d after %d deliveries", id, d.Attempt, md.attempts[id])
		}
		md.attempts[id] = d.Attempt
		md.leased[id] = leased{d: d, until: now.Add(10 * time.Second)}
	}
	return ds
}

func (md *model) deadLettered() map[string]int {
	n := map[string]int{}
	evs, err := md.v.b.Read(context.Background(), "t.s.dlq", 0, 0, 10000)
	if err != nil {
		md.t.Fatal(err)
	}
	for _, e := range evs {
		n[originalID(e)]++
	}
	return n
}

// finishOne acks (or nacks) one leased event; poisoned events are always
// nacked.
func (md *model) finishOne(t *rapid.T, ack bool) {
	if len(md.leased) == 0 {
		return
	}
	ids := make([]string, 0, len(md.leased))
	for id := range md.leased {
		ids = append(ids, id)
	}
	sortStrings(ids)
	id := rapid.SampledFrom(ids).Draw(t, "id")
	md.settle(id, ack && md.keyOf[id] != poisonKey)
}

func (md *model) settle(id string, ack bool) {
	l := md.leased[id]
	delete(md.leased, id)
	ctx := context.Background()
	var res AckResult
	var err error
	if ack {
		res, err = md.v.m.Ack(ctx, "t", "s", []string{l.d.AckID})
	} else {
		res, err = md.v.m.Nack(ctx, "t", "s", []string{l.d.AckID}, 0, "poisoned or unlucky")
	}
	if err != nil {
		md.t.Fatal(err)
	}
	if len(res.Acked) != 1 {
		md.t.Fatalf("settling a live lease of %s: %+v", id, res)
	}
	if ack {
		md.acked[id] = true
	}
}

// advance moves the clock; leases past their deadline end, in Herald and
// in the model.
func (md *model) advance(d time.Duration) {
	md.v.clock.Add(d)
	now := md.v.clock.Now()
	for id, l := range md.leased {
		if !l.until.After(now) {
			delete(md.leased, id)
		}
	}
}

// drain finishes everything: every event ends acked or dead-lettered,
// exactly once, including every event of a key behind the poisoned one.
func (md *model) drain() {
	for round := 0; round < 400; round++ {
		md.advance(11 * time.Second)
		ds := md.pull(100)
		for _, d := range ds {
			md.settle(d.Event.ID, md.keyOf[d.Event.ID] != poisonKey)
		}
		if len(ds) == 0 && md.allFinished(md.deadLettered()) {
			break
		}
	}
	dead := md.deadLettered()
	for _, id := range md.published {
		n := dead[id]
		if md.acked[id] {
			n++
		}
		if n != 1 {
			md.t.Fatalf("event %s (key %s) finished %d times (acked %v, dead-lettered %d)", id, md.keyOf[id], n, md.acked[id], dead[id])
		}
		if dead[id] > 0 && md.attempts[id] != 3 {
			md.t.Fatalf("event %s dead-lettered after %d deliveries, want maxAttempts (3)", id, md.attempts[id])
		}
		if md.keyOf[id] == poisonKey && md.acked[id] {
			md.t.Fatalf("poisoned event %s was acked", id)
		}
	}
}

func (md *model) allFinished(dead map[string]int) bool {
	for _, id := range md.published {
		if !md.acked[id] && dead[id] == 0 {
			return false
		}
	}
	return true
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
