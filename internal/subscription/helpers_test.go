package subscription

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/vfs"
)

// clock is the fake time of a test: it moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a real engine, broker and manager over a temporary directory.
type env struct {
	t     *testing.T
	bopts broker.Options // broker options for open (Now is set there)
	fs    vfs.FS         // the engine's file system; nil: the operating system's
	sync  log.SyncMode   // the engine's fsync mode; interval fsyncs hourly, so only Close and Sync do
	dir   string
	clock *clock
	e     *log.Engine
	b     *broker.Broker
	m     *Manager
	ctx   context.Context
}

func newEnv(t *testing.T) *env {
	v := &env{t: t, dir: t.TempDir(), clock: &clock{now: time.Now()}, ctx: context.Background()}
	v.open()
	t.Cleanup(func() { v.m.Close(); v.e.Close() })
	return v
}

func (v *env) open() {
	// Small segments: the state topic rolls often, so compaction has
	// sealed segments to work on.
	e, err := log.Open(v.dir, log.Options{FS: v.fs, Now: v.clock.Now, RetentionInterval: -1, SegmentBytes: 256,
		Sync: v.sync, SyncInterval: time.Hour})
	if err != nil {
		v.t.Fatal(err)
	}
	bopts := v.bopts
	bopts.Now = v.clock.Now
	b, err := broker.New(e, bopts)
	if err != nil {
		v.t.Fatal(err)
	}
	m, err := New(v.ctx, b, Options{Now: v.clock.Now, Jitter: func() float64 { return 0 }})
	if err != nil {
		v.t.Fatal(err)
	}
	v.e, v.b, v.m = e, b, m
}

// restart closes everything and opens it again on the same directory:
// what the manager knows afterwards came from the state topic.
func (v *env) restart() {
	v.t.Helper()
	v.m.Close()
	if err := v.e.Close(); err != nil {
		v.t.Fatal(err)
	}
	v.open()
}

func (v *env) topic(name string, partitions int) {
	v.t.Helper()
	if _, _, err := v.b.PutTopic(v.ctx, name, broker.TopicSpec{Partitions: &partitions}); err != nil {
		v.t.Fatal(err)
	}
}

func (v *env) sub(topic, name string, cfg Config) {
	v.t.Helper()
	if cfg.Start == "" {
		cfg.Start = "earliest"
	}
	if _, _, err := v.m.Put(v.ctx, topic, name, cfg); err != nil {
		v.t.Fatal(err)
	}
}

// publish stores events id0..idN-1 with the given keys.
func (v *env) publish(topic string, keys ...string) {
	v.t.Helper()
	for _, k := range keys {
		id := fmt.Sprintf("ev-%d", v.seq())
		e := &event.Event{ID: id, Source: "/test", Type: "test.event", SpecVersion: "1.0", PartitionKey: k}
		if _, err := v.b.Publish(v.ctx, topic, []*event.Event{e}); err != nil {
			v.t.Fatal(err)
		}
	}
}

// publishHeld stores an event of key "saga" not to be delivered before a
// day from now: a head held back for long.
func (v *env) publishHeld(topic string) {
	v.t.Helper()
	held := &event.Event{ID: "timeout", Source: "/test", Type: "saga.timeout", SpecVersion: "1.0", PartitionKey: "saga",
		Extensions: map[string]string{ExtDeliverAfter: v.clock.Now().Add(24 * time.Hour).Format(time.RFC3339Nano)}}
	if _, err := v.b.Publish(v.ctx, topic, []*event.Event{held}); err != nil {
		v.t.Fatal(err)
	}
}

// behindTheHead publishes 20 rounds of one event for each of 100 keys to
// orders (behind the held head the caller published) and pulls
// subscription s dry after each round, 10 at a time, handing each pull to
// handle.
func (v *env) behindTheHead(handle func([]Delivery)) {
	v.t.Helper()
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
	}
	for range 20 {
		v.publish("orders", keys...)
		for ds := v.pull("orders", "s", 10); len(ds) > 0; ds = v.pull("orders", "s", 10) {
			handle(ds)
		}
	}
}

var seqMu sync.Mutex
var seqN int

func (v *env) seq() int { seqMu.Lock(); defer seqMu.Unlock(); seqN++; return seqN }

func (v *env) pull(topic, name string, max int) []Delivery {
	v.t.Helper()
	ds, err := v.m.Pull(v.ctx, topic, name, max, 0)
	if err != nil {
		v.t.Fatal(err)
	}
	return ds
}

func (v *env) ack(topic, name string, ds ...Delivery) AckResult {
	v.t.Helper()
	res, err := v.m.Ack(v.ctx, topic, name, ackIDs(ds))
	if err != nil {
		v.t.Fatal(err)
	}
	return res
}

func (v *env) nack(topic, name string, reason string, ds ...Delivery) AckResult {
	v.t.Helper()
	res, err := v.m.Nack(v.ctx, topic, name, ackIDs(ds), 0, reason)
	if err != nil {
		v.t.Fatal(err)
	}
	return res
}

func ackIDs(ds []Delivery) []string {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.AckID
	}
	return ids
}

func keysOf(ds []Delivery) []string {
	ks := make([]string, len(ds))
	for i, d := range ds {
		ks[i] = d.Event.PartitionKey
	}
	return ks
}
