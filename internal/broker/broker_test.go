package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/storage"
)

// clock is a settable time source shared by a test's engine and broker.
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

type fixture struct {
	t       *testing.T
	dir     string
	clock   *clock
	opts    Options
	logOpts log.Options // Now and RetentionInterval are set by open
	e       *log.Engine
	b       *Broker
}

func newFixture(t *testing.T, opts Options) *fixture {
	return newLogFixture(t, opts, log.Options{})
}

// newLogFixture is newFixture with engine options (such as small segments).
func newLogFixture(t *testing.T, opts Options, logOpts log.Options) *fixture {
	f := &fixture{t: t, dir: t.TempDir(), clock: &clock{now: time.Now()}, opts: opts, logOpts: logOpts}
	f.open()
	t.Cleanup(func() { f.e.Close() })
	return f
}

func (f *fixture) open() {
	lo := f.logOpts
	lo.Now, lo.RetentionInterval = f.clock.Now, -1
	e, err := log.Open(f.dir, lo)
	if err != nil {
		f.t.Fatal(err)
	}
	f.opts.Now = f.clock.Now
	b, err := New(e, f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	f.e, f.b = e, b
}

// restart closes and reopens engine and broker on the same directory.
func (f *fixture) restart() {
	f.t.Helper()
	if err := f.e.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.open()
}

func (f *fixture) publish(topic string, events ...*event.Event) []Result {
	f.t.Helper()
	res, err := f.b.Publish(context.Background(), topic, events)
	if err != nil {
		f.t.Fatalf("publish: %v", err)
	}
	return res
}

func (f *fixture) end(topic string, p int) int64 {
	f.t.Helper()
	_, end, err := f.b.Offsets(context.Background(), topic, p)
	if err != nil {
		f.t.Fatal(err)
	}
	return end
}

func ev(id, key string) *event.Event {
	return &event.Event{ID: id, Source: "/test", Type: "test.event", SpecVersion: "1.0", PartitionKey: key,
		DataContentType: "application/json", Data: []byte(`{"id":"` + id + `"}`)}
}

func TestPublish_DuplicateReturnsOriginalPositionAndStoresNothing(t *testing.T) {
	f := newFixture(t, Options{})
	first := f.publish("orders", ev("a", ""), ev("b", ""))
	again := f.publish("orders", ev("b", ""), ev("c", ""))
	if !again[0].Duplicate || again[0].Offset != first[1].Offset || again[1].Duplicate {
		t.Fatalf("results %+v after %+v", again, first)
	}
	if got := f.end("orders", 0); got != 3 {
		t.Fatalf("end offset %d, want 3", got)
	}
}

func TestPublish_DuplicateWithinOneBatchIsStoredOnce(t *testing.T) {
	f := newFixture(t, Options{})
	res := f.publish("orders", ev("a", ""), ev("a", ""))
	if res[0].Duplicate || !res[1].Duplicate || res[1].Offset != res[0].Offset {
		t.Fatalf("results %+v", res)
	}
	if got := f.end("orders", 0); got != 1 {
		t.Fatalf("end offset %d, want 1", got)
	}
}

func TestPublish_SameIDFromAnotherSourceIsNotADuplicate(t *testing.T) {
	f := newFixture(t, Options{})
	a, b := ev("a", ""), ev("a", "")
	b.Source = "/other"
	res := f.publish("orders", a, b)
	if res[0].Duplicate || res[1].Duplicate {
		t.Fatalf("results %+v", res)
	}
}

func TestPublish_DedupSurvivesRestart(t *testing.T) {
	f := newFixture(t, Options{DefaultPartitions: 3})
	first := f.publish("orders", ev("a", "k1"), ev("b", "k2"))
	f.restart()
	again := f.publish("orders", ev("b", "k2"), ev("a", "k1"))
	if !again[0].Duplicate || again[0] != (Result{ID: "b", Partition: first[1].Partition, Offset: first[1].Offset, Duplicate: true}) {
		t.Fatalf("after restart %+v, first %+v", again, first)
	}
}

func TestPublish_DedupWindowExpires(t *testing.T) {
	f := newFixture(t, Options{DefaultDedupWindow: time.Minute})
	f.publish("orders", ev("a", ""))
	f.clock.Add(59 * time.Second)
	if res := f.publish("orders", ev("a", "")); !res[0].Duplicate {
		t.Fatalf("inside the window: %+v", res)
	}
	f.clock.Add(2 * time.Second)
	if res := f.publish("orders", ev("a", "")); res[0].Duplicate || res[0].Offset != 1 {
		t.Fatalf("after the window: %+v", res)
	}
	f.restart() // the rebuilt index holds only the last window
	f.clock.Add(61 * time.Second)
	if res := f.publish("orders", ev("a", "")); res[0].Duplicate {
		t.Fatalf("after restart and the window: %+v", res)
	}
}

func TestPublish_ConcurrentSameIDIsStoredOnce(t *testing.T) {
	f := newFixture(t, Options{})
	var wg sync.WaitGroup
	results := make([]Result, 16)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := f.b.Publish(context.Background(), "orders", []*event.Event{ev("same", ""), ev(fmt.Sprint("own-", i), "")})
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = res[0]
		}()
	}
	wg.Wait()
	stored := 0
	for _, r := range results {
		if !r.Duplicate {
			stored++
		}
		if r.Offset != results[0].Offset {
			t.Fatalf("publishes of one id got offsets %d and %d", results[0].Offset, r.Offset)
		}
	}
	if stored != 1 || f.end("orders", 0) != 17 {
		t.Fatalf("stored %d times, end %d; results %+v", stored, f.end("orders", 0), results)
	}
}

func TestPublish_KeyedEventsKeepTheirPartitionAndOrder(t *testing.T) {
	f := newFixture(t, Options{DefaultPartitions: 4})
	want := map[string]int{}
	for i := 0; i < 40; i++ {
		key := fmt.Sprint("key-", i%5)
		res := f.publish("orders", ev(fmt.Sprint(i), key))
		if p, ok := want[key]; ok && p != res[0].Partition {
			t.Fatalf("key %s moved from partition %d to %d", key, p, res[0].Partition)
		}
		want[key] = res[0].Partition
		if res[0].Partition != KeyPartition(key, 4) {
			t.Fatalf("key %s in partition %d, want %d", key, res[0].Partition, KeyPartition(key, 4))
		}
	}
	for p := 0; p < 4; p++ {
		last := map[string]int{}
		for _, e := range readAll(t, f.b, "orders", p) {
			var n int
			fmt.Sscan(e.ID, &n)
			if prev, ok := last[e.PartitionKey]; ok && n <= prev {
				t.Fatalf("key %s: %d after %d", e.PartitionKey, n, prev)
			}
			last[e.PartitionKey] = n
		}
	}
}

func TestPublish_EventsWithoutKeySpreadEvenly(t *testing.T) {
	f := newFixture(t, Options{DefaultPartitions: 3})
	for i := 0; i < 30; i++ {
		f.publish("orders", ev(fmt.Sprint(i), ""))
	}
	for p := 0; p < 3; p++ {
		if got := f.end("orders", p); got != 10 {
			t.Fatalf("partition %d has %d events, want 10", p, got)
		}
	}
}

func TestPublish_RefusesBadBatchesAndStoresNothing(t *testing.T) {
	f := newFixture(t, Options{MaxEventBytes: 2048, MaxBatchEvents: 3, MaxBatchBytes: 5000})
	f.publish("orders", ev("seed", ""))
	big := ev("big", "")
	big.Data = make([]byte, 4096)
	noID := ev("", "")
	badVersion := ev("v", "")
	badVersion.SpecVersion = "0.3"
	cases := []struct {
		name   string
		events []*event.Event
		want   error
	}{
		{"empty batch", nil, ErrEmptyBatch},
		{"too many events", []*event.Event{ev("1", ""), ev("2", ""), ev("3", ""), ev("4", "")}, ErrBatchTooLarge},
		{"one event too large", []*event.Event{ev("1", ""), big}, ErrEventTooLarge},
		{"one event without id", []*event.Event{ev("1", ""), noID}, ErrInvalidEvent},
		{"wrong specversion", []*event.Event{badVersion}, ErrInvalidEvent},
		{"batch bytes over the limit", []*event.Event{sized("1", 1900), sized("2", 1900), sized("3", 1900)}, ErrBatchTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.b.Publish(context.Background(), "orders", c.events)
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if got := f.end("orders", 0); got != 1 {
				t.Fatalf("end offset %d after a refused batch, want 1", got)
			}
		})
	}
}

func TestPublish_AutoCreateOffRefusesUnknownTopic(t *testing.T) {
	f := newFixture(t, Options{DisableAutoCreate: true})
	_, err := f.b.Publish(context.Background(), "nope", []*event.Event{ev("a", "")})
	if !errors.Is(err, ErrAutoCreateOff) {
		t.Fatalf("error %v", err)
	}
	if _, err := f.b.Topic(context.Background(), "nope"); !errors.Is(err, storage.ErrUnknownTopic) {
		t.Fatalf("topic was created: %v", err)
	}
}

func TestPublish_AnInvalidTopicNameIsRefusedAsSuchAlsoWithAutoCreateOff(t *testing.T) {
	for _, off := range []bool{false, true} {
		f := newFixture(t, Options{DisableAutoCreate: off})
		_, err := f.b.Publish(context.Background(), "a/b", []*event.Event{ev("a", "")})
		if !errors.Is(err, ErrInvalidTopic) || errors.Is(err, ErrTopicNotFound) {
			t.Fatalf("auto-create off %v: error %v, want %v", off, err, ErrInvalidTopic)
		}
	}
}

func TestPutTopic_CreateUpdateAndConflicts(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	three, two, window := 3, 2, 30*time.Second
	tp, created, err := f.b.PutTopic(ctx, "orders", TopicSpec{Partitions: &three, DedupWindow: &window})
	if err != nil || !created || tp.Partitions != 3 || tp.DedupWindow != window || tp.Retention != 7*24*time.Hour {
		t.Fatalf("create: %+v %v %v", tp, created, err)
	}
	if _, _, err := f.b.PutTopic(ctx, "orders", TopicSpec{Partitions: &two}); !errors.Is(err, ErrTopicConflict) {
		t.Fatalf("shrink: %v", err)
	}
	f.restart()
	tp, err = f.b.Topic(ctx, "orders")
	if err != nil || tp.Partitions != 3 || tp.DedupWindow != window {
		t.Fatalf("after restart: %+v %v", tp, err)
	}
	for _, name := range []string{"__internal", "", "a/b", ".hidden", "spaces here"} {
		if _, _, err := f.b.PutTopic(ctx, name, TopicSpec{}); err == nil {
			t.Fatalf("topic name %q accepted", name)
		}
	}
}

func sized(id string, n int) *event.Event {
	e := ev(id, "")
	e.DataContentType = "application/octet-stream"
	e.Data = make([]byte, n)
	return e
}

func TestBroker_InternalTopicsAreNotReachable(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	if err := f.e.CreateTopic(ctx, "__herald_state", storage.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.b.Publish(ctx, "__herald_state", []*event.Event{ev("a", "")}); !errors.Is(err, ErrReservedTopic) {
		t.Fatalf("publish: %v", err)
	}
	if _, err := f.b.Read(ctx, "__herald_state", 0, 0, 1); !errors.Is(err, ErrReservedTopic) {
		t.Fatalf("read: %v", err)
	}
	if err := f.b.DeleteTopic(ctx, "__herald_state"); !errors.Is(err, ErrReservedTopic) {
		t.Fatalf("delete: %v", err)
	}
	if topics, _ := f.b.Topics(ctx); len(topics) != 0 {
		t.Fatalf("listed %v", topics)
	}
}

// The rebuilt index holds the last window's events in one generation, kept
// until its newest leaves the window; its oldest are not duplicates once
// they are older than the window.
func TestPublish_EventOlderThanTheWindowIsNotADuplicateAfterARestart(t *testing.T) {
	f := newFixture(t, Options{DefaultDedupWindow: 2 * time.Minute})
	first := f.publish("orders", ev("a", ""))
	f.clock.Add(110 * time.Second)
	f.publish("orders", ev("b", ""))
	f.clock.Add(5 * time.Second)
	f.restart()
	f.publish("orders", ev("c", "")) // rebuilds the index with a and b
	f.clock.Add(65 * time.Second)    // a is 3 minutes old, b 70 seconds
	res := f.publish("orders", ev("a", ""), ev("b", ""))
	if res[0].Duplicate || res[0].Offset == first[0].Offset || !res[1].Duplicate {
		t.Fatalf("a 1.5 windows old and b within the window: %+v", res)
	}
}

// With deduplication off ("dedupWindow":"0"), a batch that repeats an
// event stores it twice, as two publishes of it would.
func TestPublish_WithDedupOffABatchStoresARepeatedEventTwice(t *testing.T) {
	f := newFixture(t, Options{})
	off := time.Duration(0)
	if _, _, err := f.b.PutTopic(context.Background(), "orders", TopicSpec{DedupWindow: &off}); err != nil {
		t.Fatal(err)
	}
	res := f.publish("orders", ev("a", "k"), ev("a", "k"))
	if res[0].Duplicate || res[1].Duplicate || res[0].Offset == res[1].Offset {
		t.Fatalf("results %+v, want two events stored", res)
	}
}

// Defaults no topic could have are refused when the broker is made, not
// by every publish that would create a topic with them.
func TestNew_RefusesDefaultsNoTopicCanHave(t *testing.T) {
	e, err := log.Open(t.TempDir(), log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, opts := range []Options{
		{DefaultPartitions: 10001},
		{DefaultRetention: -time.Hour},
		{DefaultDedupWindow: -time.Minute},
	} {
		if _, err := New(e, opts); !errors.Is(err, ErrInvalidSetting) {
			t.Errorf("New(%+v): %v, want ErrInvalidSetting", opts, err)
		}
	}
	if _, err := New(e, Options{DefaultPartitions: 10000}); err != nil {
		t.Fatalf("New with 10000 partitions: %v", err)
	}
}
