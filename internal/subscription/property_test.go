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

func (md *model) deadLettered() map[string]int { return md.v.deadLettered(md.t) }

// deadLettered counts the dead letters of subscription s on topic t by
// the id of the event each is of.
func (v *propEnv) deadLettered(t *rapid.T) map[string]int {
	n := map[string]int{}
	evs, err := v.b.Read(context.Background(), "t.s.dlq", 0, 0, 10000)
	if err != nil {
		t.Fatal(err)
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

// fullModel is what the property test of every promise knows.
type fullModel struct {
	t         *rapid.T
	v         *propEnv
	ordering  Ordering
	published []string            // event ids in publish order
	keyOf     map[string]string   // id -> partition key
	partOf    map[string]int      // id -> partition
	typeOf    map[string]string   // id -> type ("q" does not pass the filter)
	inOrder   map[string][]string // ordering group -> ids in publish order
	leased    map[string]leased   // id -> its current lease
	ended     []Delivery          // deliveries whose lease is over
	acked     map[string]bool     // acks seen confirmed
	attempts  map[string]int      // id -> deliveries seen (since its last redrive)
	notBefore map[string]time.Time
	rejected  map[string]bool
	redriving map[string]bool // redriven and not finished again
	dying     map[string]bool // redriving, out of attempts, its last lease lost: dead-lettered when next reached
	redriven  map[string]bool // ever redriven
	skipped   map[string]bool // passed by a seek to the end
	cut       bool            // the power was cut at least once
}

// The promises of docs/delivery.md under everything that can happen to a
// delivery: each ordering mode, with or without a filter, events delayed
// with deliverafter, nacks with a delay, releases, rejects, extensions,
// settlements with ack ids whose lease is over (stale: they never settle
// the newer lease), seeks to the end, redrives of every dead letter, clean
// restarts and power cuts (with torn writes). Redriven events keep their
// order among themselves, not relative to the others.
func TestProperty_EveryPromiseHoldsAcrossRedrivesSeeksAndPowerCuts(t *testing.T) {
	rapid.Check(t, checkEveryPromise)
}

func checkEveryPromise(rt *rapid.T) {
	ctx := context.Background()
	v := &propEnv{fs: faultfs.New(), dir: "/data", clock: &clock{now: time.Unix(1_800_000_000, 0)}}
	v.open(rt)
	defer func() { v.m.Close(); v.e.Close() }()
	two := 2
	if _, _, err := v.b.PutTopic(ctx, "t", broker.TopicSpec{Partitions: &two}); err != nil {
		rt.Fatal(err)
	}
	cfg := Config{Start: "earliest", Ordering: rapid.SampledFrom([]Ordering{OrderKey, OrderPartition, OrderNone}).Draw(rt, "ordering"),
		MaxAttempts: 3, AckTimeout: 10 * time.Second, Backoff: Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1}}
	filtered := rapid.Bool().Draw(rt, "filtered")
	if filtered {
		cfg.Filter.Types = []string{"p"}
	}
	if _, _, err := v.m.Put(ctx, "t", "s", cfg); err != nil {
		rt.Fatal(err)
	}
	md := &fullModel{t: rt, v: v, ordering: cfg.Ordering, keyOf: map[string]string{}, partOf: map[string]int{}, typeOf: map[string]string{},
		inOrder: map[string][]string{}, leased: map[string]leased{}, acked: map[string]bool{}, attempts: map[string]int{},
		notBefore: map[string]time.Time{}, rejected: map[string]bool{}, redriving: map[string]bool{}, dying: map[string]bool{},
		redriven: map[string]bool{}, skipped: map[string]bool{}}
	onLease := func(how string, d func(*rapid.T) time.Duration) func(*rapid.T) {
		return func(t *rapid.T) {
			if len(md.leased) == 0 {
				return
			}
			ids := make([]string, 0, len(md.leased))
			for id := range md.leased {
				ids = append(ids, id)
			}
			sortStrings(ids)
			md.settle(rapid.SampledFrom(ids).Draw(t, "id"), how, d(t))
		}
	}
	none := func(*rapid.T) time.Duration { return 0 }
	rt.Repeat(map[string]func(*rapid.T){
		"publish": func(t *rapid.T) {
			typ := "p"
			if filtered {
				typ = rapid.SampledFrom([]string{"p", "q"}).Draw(t, "type")
			}
			var after time.Duration
			if rapid.IntRange(0, 4).Draw(t, "delayed") == 0 {
				after = time.Duration(rapid.IntRange(1, 20).Draw(t, "after")) * time.Second
			}
			md.publish(rapid.SampledFrom([]string{"a", "b", "c", "", poisonKey}).Draw(t, "key"), typ, after)
		},
		"pull": func(t *rapid.T) { md.pull(rapid.IntRange(1, 5).Draw(t, "max")) },
		"ack":  onLease("ack", none),
		"nack": onLease("nack", func(t *rapid.T) time.Duration {
			return time.Duration(rapid.IntRange(0, 30).Draw(t, "delay")) * time.Second
		}),
		"release": onLease("release", none),
		"reject":  onLease("reject", none),
		"extend":  onLease("extend", func(*rapid.T) time.Duration { return 20 * time.Second }),
		"late": func(t *rapid.T) {
			if len(md.ended) == 0 {
				return
			}
			d := rapid.SampledFrom(md.ended).Draw(t, "delivery")
			how := rapid.SampledFrom([]string{"ack", "nack", "release", "reject", "extend"}).Draw(t, "how")
			res, err := settleCall(v.m, how, d.AckID, time.Minute)
			if err != nil || len(res.Stale) != 1 {
				t.Fatalf("%s of %s's attempt %d after its lease ended: %+v %v, want it stale", how, d.Event.ID, d.Attempt, res, err)
			}
		},
		"wait": func(t *rapid.T) { md.advance(time.Duration(rapid.IntRange(1, 15).Draw(t, "seconds")) * time.Second) },
		"get": func(t *rapid.T) { // it ends the leases past their time too
			if _, err := v.m.Get(ctx, "t", "s"); err != nil {
				t.Fatal(err)
			}
		},
		"redrive": func(t *rapid.T) { md.redrive() },
		"seek":    func(t *rapid.T) { md.seekToEnd() },
		"restart": func(t *rapid.T) {
			v.m.Close()
			if err := v.e.Close(); err != nil {
				t.Fatal(err)
			}
			v.open(t)
			md.leasesLost()
		},
		"powercut": func(t *rapid.T) {
			after := v.fs.(*faultfs.MemFS).Crash(faultfs.CrashOptions{TornWrites: rapid.Bool().Draw(t, "torn")})
			v.m.Close()
			v.e.Close()
			v.fs = after
			v.open(t)
			md.leasesLost()
			md.cut = true
		},
	})
	md.drain()
}

// settleCall settles one ack id the way how names.
func settleCall(m *Manager, how, id string, d time.Duration) (AckResult, error) {
	ctx, ids := context.Background(), []string{id}
	switch how {
	case "ack":
		return m.Ack(ctx, "t", "s", ids)
	case "nack":
		return m.Nack(ctx, "t", "s", ids, d, "unlucky")
	case "release":
		return m.Release(ctx, "t", "s", ids)
	case "reject":
		return m.Reject(ctx, "t", "s", ids, "rejected")
	}
	return m.Extend(ctx, "t", "s", ids, d)
}

// group is what an event waits behind in the model ("": nothing).
// Redriven events wait behind redriven ones only.
func (md *fullModel) group(id string) string {
	r := ""
	if md.redriving[id] {
		r = "redriven "
	}
	switch {
	case md.ordering == OrderPartition && md.redriving[id]:
		return r
	case md.ordering == OrderPartition:
		return fmt.Sprintf("partition %d", md.partOf[id])
	case md.ordering == OrderKey && md.keyOf[id] != "":
		return r + "key " + md.keyOf[id]
	}
	return ""
}

func (md *fullModel) publish(key, typ string, after time.Duration) {
	id := fmt.Sprintf("e%d", len(md.published))
	e := &event.Event{ID: id, Source: "/p", Type: typ, SpecVersion: "1.0", PartitionKey: key}
	if after > 0 {
		md.notBefore[id] = md.v.clock.Now().Add(after)
		e.Extensions = map[string]string{ExtDeliverAfter: md.notBefore[id].UTC().Format(time.RFC3339Nano)}
	}
	res, err := md.v.b.Publish(context.Background(), "t", []*event.Event{e})
	if err != nil {
		md.t.Fatal(err)
	}
	md.published = append(md.published, id)
	md.keyOf[id], md.typeOf[id], md.partOf[id] = key, typ, res[0].Partition
	if g := md.group(id); g != "" {
		md.inOrder[g] = append(md.inOrder[g], id)
	}
}

// pull checks each delivery against the model.
func (md *fullModel) pull(max int) []Delivery {
	ds, err := md.v.m.Pull(context.Background(), "t", "s", max, 0)
	if err != nil {
		md.t.Fatal(err)
	}
	now := md.v.clock.Now()
	dead := md.deadLettered()
	for _, d := range ds {
		id := d.Event.ID
		switch _, leased := md.leased[id]; {
		case md.acked[id]:
			md.t.Fatalf("acknowledged event %s delivered again (attempt %d)", id, d.Attempt)
		case leased:
			md.t.Fatalf("event %s delivered while its lease runs", id)
		case md.dying[id]:
			md.t.Fatalf("redriven event %s delivered after its last attempt", id)
		case md.skipped[id] && !md.redriving[id]:
			md.t.Fatalf("event %s delivered after a seek passed it", id)
		case md.typeOf[id] != "p":
			md.t.Fatalf("event %s of type %s passed the filter", id, md.typeOf[id])
		case now.Before(md.notBefore[id]):
			md.t.Fatalf("event %s delivered at %s, before %s", id, now, md.notBefore[id])
		case d.Attempt != md.attempts[id]+1:
			md.t.Fatalf("event %s delivered as attempt %d after %d deliveries", id, d.Attempt, md.attempts[id])
		}
		if g := md.group(id); g != "" {
			for other := range md.leased {
				if md.group(other) == g {
					md.t.Fatalf("events %s and %s (%s) in flight together", other, id, g)
				}
			}
			for _, earlier := range md.inOrder[g] {
				if earlier == id || md.redriving[id] {
					break
				}
				if !md.acked[earlier] && dead[earlier] == 0 && !md.skipped[earlier] && md.typeOf[earlier] == "p" {
					md.t.Fatalf("event %s (%s) delivered before the earlier %s finished", id, g, earlier)
				}
			}
		}
		md.attempts[id] = d.Attempt
		md.leased[id] = leased{d: d, until: now.Add(10 * time.Second)}
	}
	return ds
}

func (md *fullModel) deadLettered() map[string]int { return md.v.deadLettered(md.t) }

// settle ends (or extends) a live lease; poisoned events are never acked.
func (md *fullModel) settle(id, how string, d time.Duration) {
	l := md.leased[id]
	if how == "ack" && md.keyOf[id] == poisonKey {
		how = "nack"
	}
	res, err := settleCall(md.v.m, how, l.d.AckID, d)
	if err != nil || len(res.Acked) != 1 {
		md.t.Fatalf("%s of a live lease of %s: %+v %v", how, id, res, err)
	}
	now := md.v.clock.Now()
	if how == "extend" {
		md.leased[id] = leased{d: l.d, until: now.Add(d)}
		return
	}
	delete(md.leased, id)
	md.ended = append(md.ended, l.d)
	switch {
	case how == "ack":
		md.acked[id] = true
	case how == "release":
		md.attempts[id]--
		return
	case how == "reject":
		md.rejected[id] = true
	case md.attempts[id] < 3: // a nack
		if d > 0 {
			md.notBefore[id] = now.Add(d)
		}
		return
	}
	delete(md.redriving, id) // acked or dead-lettered (again)
}

// advance moves the clock; leases past their deadline end.
func (md *fullModel) advance(d time.Duration) {
	md.v.clock.Add(d)
	for id, l := range md.leased {
		if !l.until.After(md.v.clock.Now()) {
			md.leaseLost(id)
		}
	}
}

func (md *fullModel) leasesLost() {
	for id := range md.leased {
		md.leaseLost(id)
	}
}

// leaseLost ends a lease without a settlement (it ran out, or Herald
// restarted). A redriven event out of attempts dies again when Herald
// next reaches it: at once when its lease runs out, at a pull after a
// restart.
func (md *fullModel) leaseLost(id string) {
	md.ended = append(md.ended, md.leased[id].d)
	delete(md.leased, id)
	if md.redriving[id] && md.attempts[id] >= 3 {
		md.dying[id] = true
	}
}

// diedAgain learns which dying redriven events have died since.
func (md *fullModel) diedAgain() {
	dls, err := md.v.m.DeadLetters(context.Background(), "t", "s", "", 10000)
	if err != nil {
		md.t.Fatal(err)
	}
	still := map[string]bool{}
	for _, dl := range dls {
		still[originalID(dl.Event)] = still[originalID(dl.Event)] || dl.Redriving
	}
	for id := range md.dying {
		if !still[id] {
			delete(md.dying, id)
			delete(md.redriving, id)
		}
	}
}

// redrive redrives all dead letters: every dead-lettered event not acked
// (after an earlier redrive) and not being redriven.
func (md *fullModel) redrive() {
	md.diedAgain()
	var want []string
	for id := range md.deadLettered() {
		if !md.acked[id] && !md.redriving[id] {
			want = append(want, id)
		}
	}
	res, err := md.v.m.Redrive(context.Background(), "t", "s", RedriveRequest{All: true, Actor: "property"})
	if err != nil || res.Redriven != len(want) {
		md.t.Fatalf("redrive all: %+v %v, want %d redriven (%v)", res, err, len(want), want)
	}
	for _, id := range want {
		md.redriving[id], md.redriven[id], md.attempts[id] = true, true, 0
		delete(md.notBefore, id)
	}
}

// seekToEnd moves the subscription to the end: what it had not finished
// is passed, its leases are over (redriven events stay).
func (md *fullModel) seekToEnd() {
	if _, err := md.v.m.Seek(context.Background(), "t", "s", Position{Start: "latest"}); err != nil {
		md.t.Fatal(err)
	}
	dead := md.deadLettered()
	for _, id := range md.published {
		if !md.acked[id] && dead[id] == 0 && !md.redriving[id] {
			md.skipped[id] = true
		}
	}
	for id, l := range md.leased {
		if !md.redriving[id] {
			md.ended = append(md.ended, l.d)
			delete(md.leased, id)
		}
	}
}

// drain finishes everything, then checks that every event ended acked or
// dead-lettered (or was passed by a seek or the filter), once.
func (md *fullModel) drain() {
	for round := 0; round < 400; round++ {
		md.advance(31 * time.Second)
		ds := md.pull(100)
		for _, d := range ds {
			md.settle(d.Event.ID, "ack", 0)
		}
		if len(ds) == 0 {
			md.diedAgain()
			if md.allFinished(md.deadLettered()) {
				break
			}
		}
	}
	dead := md.deadLettered()
	for _, id := range md.published {
		switch {
		case md.typeOf[id] != "p" || md.skipped[id] && dead[id] == 0 && !md.acked[id]:
		case !md.acked[id] && dead[id] == 0:
			md.t.Fatalf("event %s (key %q) lost: neither acked nor dead-lettered", id, md.keyOf[id])
		case md.acked[id] && dead[id] > 0 && !md.redriven[id]:
			md.t.Fatalf("event %s (key %q) acked and dead-lettered", id, md.keyOf[id])
		case dead[id] > 1 && !md.redriven[id] && !md.cut:
			md.t.Fatalf("event %s dead-lettered %d times", id, dead[id])
		case md.redriving[id]:
			md.t.Fatalf("redriven event %s never finished", id)
		case dead[id] > 0 && !md.acked[id] && !md.rejected[id] && md.attempts[id] != 3:
			md.t.Fatalf("event %s dead-lettered after %d deliveries, want maxAttempts (3)", id, md.attempts[id])
		case md.keyOf[id] == poisonKey && md.acked[id]:
			md.t.Fatalf("poisoned event %s was acked", id)
		}
	}
}

func (md *fullModel) allFinished(dead map[string]int) bool {
	for _, id := range md.published {
		if md.redriving[id] || md.typeOf[id] == "p" && !md.skipped[id] && !md.acked[id] && dead[id] == 0 {
			return false
		}
	}
	return true
}
