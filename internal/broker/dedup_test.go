package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/storage"
)

// hookEngine wraps a real engine: its reads honour a cancelled context (as
// a remote engine's would) and can fail on demand.
type hookEngine struct {
	storage.Engine
	scans        atomic.Int32 // OffsetForTime calls: one per partition a rebuild scans
	onScan       func() error // called by OffsetForTime; a non-nil error is returned
	onCreate     func()       // called by CreateTopic once the topic exists
	onAppend     func()       // called by Append before it appends
	onRead       func()       // called by Read before it reads
	failReadsErr atomic.Pointer[error]
}

func (e *hookEngine) CreateTopic(ctx context.Context, name string, cfg storage.TopicConfig) error {
	err := e.Engine.CreateTopic(ctx, name, cfg)
	if err == nil && e.onCreate != nil {
		e.onCreate()
	}
	return err
}

func (e *hookEngine) Append(ctx context.Context, topic string, parts []storage.PartitionRecords) ([]int64, error) {
	if e.onAppend != nil {
		e.onAppend()
	}
	return e.Engine.Append(ctx, topic, parts)
}

// holdNextAppend makes the next Append wait, once: held is closed when it
// arrives, and it goes on once the caller closes release.
func (e *hookEngine) holdNextAppend() (held, release chan struct{}) {
	held, release = make(chan struct{}), make(chan struct{})
	var holding atomic.Bool
	holding.Store(true)
	e.onAppend = func() {
		if holding.CompareAndSwap(true, false) {
			close(held)
			<-release
		}
	}
	return held, release
}

func (e *hookEngine) OffsetForTime(ctx context.Context, topic string, p int, t time.Time) (int64, error) {
	e.scans.Add(1)
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if e.onScan != nil {
		if err := e.onScan(); err != nil {
			return 0, err
		}
	}
	return e.Engine.OffsetForTime(ctx, topic, p, t)
}

func (e *hookEngine) Read(ctx context.Context, topic string, p int, off int64, max, maxBytes int) ([]storage.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := e.failReadsErr.Load(); err != nil {
		return nil, *err
	}
	if e.onRead != nil {
		e.onRead()
	}
	return e.Engine.Read(ctx, topic, p, off, max, maxBytes)
}

// hookBroker returns a new broker over f's engine wrapped in a hookEngine;
// its dedup indexes are rebuilt on first use, as after a restart.
func hookBroker(t *testing.T, f *fixture) (*Broker, *hookEngine) {
	t.Helper()
	he := &hookEngine{Engine: f.e}
	b, err := New(he, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	return b, he
}

func TestPublish_UnusableDedupDirKeepsPublishingAndFindingDuplicates(t *testing.T) {
	defer func(n int) { defaultGenSize = n }(defaultGenSize)
	defaultGenSize = 4
	dir := filepath.Join(t.TempDir(), "dedup")
	f := newFixture(t, Options{DefaultPartitions: 2, DedupDir: dir})
	// A regular file where the directory was: creating a generation file
	// fails even for root.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var first []Result
	for i := 0; i < 40; i++ {
		res, err := f.b.Publish(context.Background(), "orders", []*event.Event{ev(fmt.Sprint(i), fmt.Sprint("k", i%5))})
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		first = append(first, res[0])
	}
	for i := 0; i < 40; i++ {
		res := f.publish("orders", ev(fmt.Sprint(i), fmt.Sprint("k", i%5)))
		if !res[0].Duplicate || res[0].Partition != first[i].Partition || res[0].Offset != first[i].Offset {
			t.Fatalf("event %d: %+v, first stored as %+v", i, res[0], first[i])
		}
	}
	d := f.b.state("orders").dedup
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.spillErr == nil || len(d.gens) < 5 {
		t.Fatalf("%d generations, spill error %v: want generations kept in memory after failed spills", len(d.gens), d.spillErr)
	}
}

func TestRebuild_CorruptBatchInOnePartitionDoesNotBlockPublishing(t *testing.T) {
	f := newLogFixture(t, Options{DefaultPartitions: 3}, log.Options{SegmentBytes: 512})
	keys := partitionKeys(3)
	var first []Result // partition 0, partition 1 (before the damage), partition 2
	for p := 0; p < 3; p++ {
		first = append(first, f.publish("orders", ev(fmt.Sprint("first-", p), keys[p]))[0])
	}
	for i := 0; i < 30; i++ { // partition 1 rolls several segments
		f.publish("orders", ev(fmt.Sprint("more-", i), keys[1]))
	}
	if err := f.e.Close(); err != nil {
		t.Fatal(err)
	}
	corruptSecondBatch(t, filepath.Join(f.dir, "topics", "orders", "1"))
	f.open()

	for p := 0; p < 3; p++ {
		res, err := f.b.Publish(context.Background(), "orders", []*event.Event{ev(fmt.Sprint("after-", p), keys[p])})
		if err != nil || res[0].Partition != p || res[0].Duplicate {
			t.Fatalf("publish to partition %d after the damage: %+v %v", p, res, err)
		}
	}
	for p, want := range first { // remembered: before the damage, and in the other partitions
		res := f.publish("orders", ev(fmt.Sprint("first-", p), keys[p]))
		if !res[0].Duplicate || res[0].Offset != want.Offset || res[0].Partition != want.Partition {
			t.Fatalf("partition %d: %+v, first stored as %+v", p, res[0], want)
		}
	}
	st := f.b.state("orders")
	if len(st.dedupGaps) != 1 || !errors.Is(st.dedupGaps[0], storage.ErrCorrupt) {
		t.Fatalf("rebuild gaps %v, want the one damaged partition", st.dedupGaps)
	}
}

// partitionKeys returns, for each of n partitions, a key that maps to it.
func partitionKeys(n int) []string {
	keys := make([]string, n)
	for i, found := 0, 0; found < n; i++ {
		k := fmt.Sprint("key-", i)
		if p := KeyPartition(k, n); keys[p] == "" {
			keys[p] = k
			found++
		}
	}
	return keys
}

// corruptSecondBatch flips a byte inside the second batch of the oldest
// segment of a partition directory, which must be sealed.
func corruptSecondBatch(t *testing.T, dir string) {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(segs) < 2 {
		t.Fatalf("segments %v %v: want a sealed one", segs, err)
	}
	sort.Strings(segs)
	data, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	second := 12 + int(binary.BigEndian.Uint32(data[8:12])) // the first batch's size
	if second+70 >= len(data) {
		t.Fatalf("%s has one batch; want two", segs[0])
	}
	data[second+65] ^= 0xff // in the records, covered by the CRC
	if err := os.WriteFile(segs[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadedState_RebuildOutlivesTheFirstCallersContext(t *testing.T) {
	f := newFixture(t, Options{})
	first := f.publish("orders", ev("a", ""))
	b, he := hookBroker(t, f)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	// The rebuild must not fail because this caller gave up: publishes
	// waiting for it would fail with this caller's error.
	if _, err := b.Publish(cancelled, "orders", []*event.Event{ev("a", "")}); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("publish with a cancelled context: %v", err)
	}
	res, err := b.Publish(context.Background(), "orders", []*event.Event{ev("a", "")})
	if err != nil || !res[0].Duplicate || res[0].Offset != first[0].Offset {
		t.Fatalf("publish with a live context: %+v %v", res, err)
	}
	if n := he.scans.Load(); n != 1 {
		t.Fatalf("dedup index rebuilt %d times, want once", n)
	}
}

func TestLoadedState_FailedRebuildKeepsANewerState(t *testing.T) {
	f := newFixture(t, Options{})
	f.publish("orders", ev("a", ""))
	b, he := hookBroker(t, f)
	var newer *topicState
	he.onScan = func() error {
		b.forget("orders")        // the topic was deleted and created again,
		newer = b.state("orders") // and another publish holds the new state
		return errors.New("injected read error")
	}
	tp, err := b.Topic(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.loadedState(context.Background(), tp); err == nil {
		t.Fatal("rebuild succeeded despite the injected error")
	}
	b.mu.Lock()
	got := b.states["orders"]
	b.mu.Unlock()
	if got == nil || got != newer {
		t.Fatalf("state after the failed rebuild %p, want the newer %p", got, newer)
	}
}

func TestDedupIndex_ReserveHoldsFoundHashesToo(t *testing.T) {
	d := newDedupIndex(time.Minute, "")
	now := time.Now()
	stored, fresh := d.hash("/s", "stored"), d.hash("/s", "fresh")
	d.remember(stored, position{partition: 0, offset: 5}, now.UnixMilli())

	a := newFlight()
	found, other, err := d.reserve([]uint64{stored, fresh}, a, now)
	if err != nil || other != nil || found[stored] != (position{0, 5}) || len(found) != 1 {
		t.Fatalf("first reserve: %v %v %v", found, other, err)
	}
	for _, h := range []uint64{stored, fresh} {
		if _, other, _ := d.reserve([]uint64{h}, newFlight(), now); other != a {
			t.Fatalf("hash %x: a second publish got %p, want to wait for the first", h, other)
		}
	}
	d.release(a)
	if _, other, _ := d.reserve([]uint64{stored, fresh}, newFlight(), now); other != nil {
		t.Fatal("hashes still held after release")
	}
}

func TestPublish_ConcurrentRetriesOfAnEventRetentionRemovedStoreItOnce(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	retention, window := time.Minute, 10*time.Minute
	if _, _, err := f.b.PutTopic(ctx, "orders", TopicSpec{Retention: &retention, DedupWindow: &window}); err != nil {
		t.Fatal(err)
	}
	f.publish("orders", ev("same", ""))
	f.clock.Add(2 * time.Minute)
	if err := f.e.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if start, _, _ := f.b.Offsets(ctx, "orders", 0); start != 1 {
		t.Fatalf("start offset %d after retention, want 1", start)
	}
	// The index still has a candidate for "same"; it cannot be confirmed.
	results := make([]Result, 16)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := f.b.Publish(ctx, "orders", []*event.Event{ev("same", "")})
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = res[0]
		}()
	}
	close(start)
	wg.Wait()
	stored := 0
	for _, r := range results {
		if !r.Duplicate {
			stored++
		}
		if r.Offset != 1 {
			t.Fatalf("results %+v: want every publish at offset 1", results)
		}
	}
	if end := f.end("orders", 0); stored != 1 || end != 2 {
		t.Fatalf("stored %d times, end offset %d", stored, end)
	}
}

func TestPublish_UnconfirmableCandidateFailsInsteadOfStoringAgain(t *testing.T) {
	f := newFixture(t, Options{})
	f.publish("orders", ev("a", ""))
	b, he := hookBroker(t, f)
	if _, err := b.Publish(context.Background(), "orders", []*event.Event{ev("b", "")}); err != nil {
		t.Fatal(err) // rebuilds the index: "a" is a candidate
	}
	injected := fmt.Errorf("%w: injected read error", storage.ErrUnavailable)
	he.failReadsErr.Store(&injected)
	if _, err := b.Publish(context.Background(), "orders", []*event.Event{ev("a", "")}); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("publish of a candidate that cannot be read: %v", err)
	}
	if end := f.end("orders", 0); end != 2 {
		t.Fatalf("end offset %d, want 2: the event was stored again", end)
	}
}

func TestDedupIndex_FreezesOutsideTheLockAndInstallsInOrder(t *testing.T) {
	dir := t.TempDir()
	d := newDedupIndex(time.Minute, dir)
	now := time.Now()
	detach := func(ids ...string) *frozenPart {
		d.mu.Lock()
		defer d.mu.Unlock()
		for i, id := range ids {
			d.rememberLocked(d.hash("/s", id), position{offset: int64(i)}, now.UnixMilli())
		}
		return d.detach()
	}
	found := func(when string, ids ...string) {
		t.Helper()
		for _, id := range ids {
			f := newFlight()
			got, _, err := d.reserve([]uint64{d.hash("/s", id)}, f, now)
			d.release(f)
			if err != nil || len(got) != 1 {
				t.Fatalf("%s: %s not found (%v)", when, id, err)
			}
		}
	}
	older, newer := detach("a", "b"), detach("c", "d")
	found("while both are being frozen", "a", "b", "c", "d")
	d.build(newer) // finishes first: waits for the older one
	if len(d.gens) != 0 {
		t.Fatalf("%d generations installed before the older one is built", len(d.gens))
	}
	found("with the newer built", "a", "b", "c", "d")
	d.build(older)
	if len(d.gens) != 2 || d.gens[0] != older.gen || d.gens[1] != newer.gen || len(d.freezing) != 0 {
		t.Fatalf("generations %v, freezing %v: want both installed, oldest first", d.gens, d.freezing)
	}
	found("once installed", "a", "b", "c", "d")

	late := detach("e")
	d.close()
	d.build(late) // the index was closed meanwhile: the file goes
	if files, _ := filepath.Glob(filepath.Join(dir, "*.dedup")); len(files) != 0 {
		t.Fatalf("files left after close: %v", files)
	}
}

func TestPublish_ConcurrentPublishesWhileGenerationsFreeze(t *testing.T) {
	defer func(n int) { defaultGenSize = n }(defaultGenSize)
	defaultGenSize = 4
	f := newFixture(t, Options{DefaultPartitions: 2, DedupDir: filepath.Join(t.TempDir(), "dedup")})
	const workers, each = 8, 25
	publishAll := func(wantDuplicate bool) {
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					res, err := f.b.Publish(context.Background(), "orders", []*event.Event{ev(fmt.Sprint(w, "-", i), "")})
					if err != nil || res[0].Duplicate != wantDuplicate {
						t.Errorf("worker %d event %d: %+v %v, want duplicate %v", w, i, res, err, wantDuplicate)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	publishAll(false)
	publishAll(true)
	if n := f.end("orders", 0) + f.end("orders", 1); n != workers*each {
		t.Fatalf("%d events stored, want %d", n, workers*each)
	}
}

// At a high rate a window holds many generations; spans group them so a
// lookup tests a few filters, and every event of the window is still
// found at its position.
func TestDedupIndex_SpansKeepLookupsCheapAndFindEveryEvent(t *testing.T) {
	old := defaultGenSize
	defaultGenSize = 64
	defer func() { defaultGenSize = old }()
	d := newDedupIndex(time.Minute, "")
	start := time.Unix(1_700_000_000, 0)
	type ev struct {
		h  uint64
		at int64
	}
	var evs []ev
	most := 0
	for i := 0; i < 180_000; i++ { // 2,000 events a second for 90 seconds
		at := start.Add(time.Duration(i) * time.Second / 2000)
		h := d.hash("/s", strconv.Itoa(i))
		d.remember(h, position{partition: 1, offset: int64(i)}, at.UnixMilli())
		evs = append(evs, ev{h, at.UnixMilli()})
		if i%1000 == 0 {
			d.build(d.expire(at))
			d.mu.Lock()
			if len(d.gens) > 500 {
				most = max(most, len(d.spans))
			}
			d.mu.Unlock()
		}
	}
	now := start.Add(90 * time.Second)
	d.build(d.expire(now))
	d.mu.Lock()
	gens, spans := len(d.gens), len(d.spans)
	for i, e := range evs {
		if e.at < now.Add(-time.Minute).UnixMilli() {
			continue
		}
		v, ok, err := d.lookup(e.h)
		if err != nil || !ok || unpack(v) != (position{partition: 1, offset: int64(i)}) {
			d.mu.Unlock()
			t.Fatalf("event %d of the window: found %v at %v (%v)", i, ok, unpack(v), err)
		}
	}
	d.mu.Unlock()
	t.Logf("%d generations, %d spans, most %d", gens, spans, most)
	if gens < 1000 || most == 0 || most > 20 || spans > 20 {
		t.Fatalf("%d generations in %d spans (at most %d while over 500 generations): want them in at most 20", gens, spans, most)
	}
	d.build(d.expire(now.Add(2 * time.Minute)))
	if d.size() != 0 || len(d.spans) > 1 {
		t.Fatalf("after the window passed: %d events in %d spans remembered", d.size(), len(d.spans))
	}
}

func TestPutTopic_AWiderDedupWindowFindsEventsTheNarrowerOneLetGo(t *testing.T) {
	f := newFixture(t, Options{DefaultDedupWindow: time.Minute, DefaultPartitions: 2})
	ctx := context.Background()
	keys := partitionKeys(2)
	first := f.publish("orders", ev("a", keys[0]), ev("b", keys[1]))
	f.clock.Add(30 * time.Second)
	f.publish("orders", ev("c", ""))
	f.clock.Add(time.Minute)
	f.publish("orders", ev("d", "")) // a and b leave the index
	ten := 10 * time.Minute
	if _, _, err := f.b.PutTopic(ctx, "orders", TopicSpec{DedupWindow: &ten}); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Minute) // a and b are 2.5 minutes old, within the new window
	res := f.publish("orders", ev("a", keys[0]), ev("b", keys[1]), ev("c", ""))
	for i, want := range []Result{first[0], first[1]} {
		if !res[i].Duplicate || res[i].Partition != want.Partition || res[i].Offset != want.Offset {
			t.Fatalf("event %d: %+v, first stored as %+v", i, res[i], want)
		}
	}
	if !res[2].Duplicate {
		t.Fatalf("c, kept by the narrower window too: %+v", res[2])
	}
	if n := f.end("orders", 0) + f.end("orders", 1); n != 4 {
		t.Fatalf("%d events stored, want 4", n)
	}
}

func TestPutTopic_TurningDedupOnFindsEventsStoredWhileItWasOff(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	off, on := time.Duration(0), 2*time.Minute
	if _, _, err := f.b.PutTopic(ctx, "orders", TopicSpec{DedupWindow: &off}); err != nil {
		t.Fatal(err)
	}
	first := f.publish("orders", ev("a", ""))
	if _, _, err := f.b.PutTopic(ctx, "orders", TopicSpec{DedupWindow: &on}); err != nil {
		t.Fatal(err)
	}
	res := f.publish("orders", ev("a", ""))
	if !res[0].Duplicate || res[0].Offset != first[0].Offset {
		t.Fatalf("after turning dedup on: %+v", res)
	}
}

// A publish that read the topic's settings before a change loads the dedup
// index with the settings as they are when it loads it.
func TestLoadedState_UsesTheTopicsSettingsAtLoadNotTheCallers(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	off, on := time.Duration(0), 2*time.Minute
	if _, _, err := f.b.PutTopic(ctx, "orders", TopicSpec{DedupWindow: &off}); err != nil {
		t.Fatal(err)
	}
	first := f.publish("orders", ev("a", ""))
	f.restart()
	stale, err := f.b.Topic(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.b.PutTopic(ctx, "orders", TopicSpec{DedupWindow: &on}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.b.loadedState(ctx, stale); err != nil {
		t.Fatal(err)
	}
	res := f.publish("orders", ev("a", ""))
	if !res[0].Duplicate || res[0].Offset != first[0].Offset {
		t.Fatalf("after a load with settings read before the change: %+v", res)
	}
}

func TestDedupIndex_ReservesWaitWhileAWiderWindowIsFilled(t *testing.T) {
	d := newDedupIndex(time.Minute, "")
	now := time.Now()
	h := d.hash("/s", "a")
	if f, kept := d.widen(30 * time.Second); f != nil || kept != time.Minute {
		t.Fatalf("narrowing: flight %v, kept %v", f, kept)
	}
	fill, kept := d.widen(time.Hour)
	if fill == nil || kept != 30*time.Second {
		t.Fatalf("widening: flight %v, kept %v", fill, kept)
	}
	if _, other, _ := d.reserve([]uint64{h}, newFlight(), now); other != fill {
		t.Fatalf("a reserve during the fill got %p, want to wait for the fill", other)
	}
	d.remember(h, position{offset: 7}, now.Add(-10*time.Minute).UnixMilli())
	d.endFill(fill)
	found, other, err := d.reserve([]uint64{h}, newFlight(), now)
	if err != nil || other != nil || found[h] != (position{offset: 7}) {
		t.Fatalf("after the fill: %v %v %v", found, other, err)
	}
}

// A publish can find a topic while PutTopic is still creating it; the
// creation must not drop the dedup state that publish holds reservations
// in, or a retry of the same event would be stored beside it.
func TestPutTopic_CreationKeepsTheReservationsOfAPublishThatFoundTheTopic(t *testing.T) {
	f := newFixture(t, Options{})
	b, he := hookBroker(t, f)
	ctx := context.Background()
	held, release := he.holdNextAppend()
	publish := func(out chan<- Result) {
		res, err := b.Publish(ctx, "orders", []*event.Event{ev("x", "")})
		if err != nil {
			t.Error(err)
			res = []Result{{}}
		}
		out <- res[0]
	}
	first, second := make(chan Result, 1), make(chan Result, 1)
	he.onCreate = func() {
		go publish(first)
		<-held // its append waits, x reserved
	}
	if _, _, err := b.PutTopic(ctx, "orders", TopicSpec{}); err != nil {
		t.Fatal(err)
	}
	go publish(second)
	select {
	case <-second: // did not wait for the first
		close(release)
	case <-time.After(200 * time.Millisecond):
		close(release)
		<-second
	}
	<-first
	if end := f.end("orders", 0); end != 1 {
		t.Fatalf("end offset %d: x stored %d times", end, end)
	}
}

// Retention by size can delete the oldest segments of the window while a
// rebuild reads it: the rebuild goes on with what is kept.
func TestRebuild_RetentionDeletingWhatItIsAboutToReadDoesNotFailPublishing(t *testing.T) {
	f := newLogFixture(t, Options{}, log.Options{SegmentBytes: 512})
	ctx := context.Background()
	var first []Result
	for i := 0; i < 30; i++ {
		first = append(first, f.publish("orders", ev(fmt.Sprint(i), ""))[0])
	}
	b, he := hookBroker(t, f)
	var once sync.Once
	he.onRead = func() {
		once.Do(func() { // after the rebuild found where the window starts
			keep := int64(1024)
			if _, _, err := f.b.PutTopic(ctx, "orders", TopicSpec{RetentionBytes: &keep}); err != nil {
				t.Error(err)
			}
			if err := f.e.EnforceRetention(); err != nil {
				t.Error(err)
			}
		})
	}
	if _, err := b.Publish(ctx, "orders", []*event.Event{ev("new", "")}); err != nil {
		t.Fatalf("publish while retention deleted part of the window: %v", err)
	}
	if start, _, _ := f.b.Offsets(ctx, "orders", 0); start == 0 {
		t.Fatal("retention deleted nothing")
	}
	res, err := b.Publish(ctx, "orders", []*event.Event{ev("29", "")})
	if err != nil || !res[0].Duplicate || res[0].Offset != first[29].Offset {
		t.Fatalf("an event still kept: %+v %v", res, err)
	}
}

// Two copies of an event stored while deduplication was off, the older in
// a later partition: a rebuild or a fill must keep the newer copy found,
// so that a publish still finds it once the older copy leaves the window.
func TestDedup_TheNewerOfTwoStoredCopiesIsFoundAfterTheOlderLeavesTheWindow(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprint("restart=", restart), func(t *testing.T) {
			f := newFixture(t, Options{DefaultPartitions: 2})
			ctx := context.Background()
			off, on := time.Duration(0), 10*time.Minute
			if _, _, err := f.b.PutTopic(ctx, "orders", TopicSpec{DedupWindow: &off}); err != nil {
				t.Fatal(err)
			}
			keys := partitionKeys(2)
			f.publish("orders", ev("a", keys[1])) // the older copy, in partition 1
			f.clock.Add(time.Minute)
			newer := f.publish("orders", ev("a", keys[0]))[0] // in partition 0
			if _, _, err := f.b.PutTopic(ctx, "orders", TopicSpec{DedupWindow: &on}); err != nil {
				t.Fatal(err)
			}
			if restart {
				f.restart()
			}
			f.publish("orders", ev("warm", ""))         // the index is built now
			f.clock.Add(9*time.Minute + 30*time.Second) // the older copy is past the window, the newer within
			res := f.publish("orders", ev("a", keys[0]))[0]
			if !res.Duplicate || res.Partition != newer.Partition || res.Offset != newer.Offset {
				t.Fatalf("publish of a: %+v, want a duplicate of %+v", res, newer)
			}
		})
	}
}

// A publish in flight when its topic is deleted stores its events before
// the deletion or not at all: never in a topic made anew under the name,
// whose dedup index would not know them.
func TestDeleteTopic_APublishInFlightNeverStoresIntoATopicMadeAnew(t *testing.T) {
	f := newFixture(t, Options{})
	b, he := hookBroker(t, f)
	ctx := context.Background()
	if _, _, err := b.PutTopic(ctx, "orders", TopicSpec{}); err != nil {
		t.Fatal(err)
	}
	held, release := he.holdNextAppend()
	done := make(chan error, 1)
	go func() {
		_, err := b.Publish(ctx, "orders", []*event.Event{ev("a", "")})
		done <- err
	}()
	<-held // the publish is about to append a
	remade := make(chan error, 1)
	go func() {
		f.clock.Add(time.Second)
		if err := b.DeleteTopic(ctx, "orders"); err != nil {
			remade <- err
			return
		}
		_, _, err := b.PutTopic(ctx, "orders", TopicSpec{})
		remade <- err
	}()
	select {
	case err := <-remade: // did not wait for the publish
		if err != nil {
			t.Fatal(err)
		}
		b.Publish(ctx, "orders", []*event.Event{ev("x", "")}) // the new topic's dedup index is built
		close(release)
	case <-time.After(200 * time.Millisecond):
		close(release)
		if err := <-remade; err != nil {
			t.Fatal(err)
		}
	}
	<-done
	res, err := b.Publish(ctx, "orders", []*event.Event{ev("a", "")})
	if err != nil {
		t.Fatal(err)
	}
	events, err := b.Read(ctx, "orders", 0, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.ID == "a" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the topic made anew holds a %d times (last publish %+v)", n, res[0])
	}
}

// A wider window whose fill fails drops the topic's dedup state for the
// next publish to rebuild; a publish that waited for the fill must not go
// on with the dropped, emptied index and store a retry of a stored event.
func TestPutTopic_AFailedFillDoesNotLetAWaitingPublishStoreADuplicate(t *testing.T) {
	f := newFixture(t, Options{DefaultDedupWindow: time.Minute})
	b, he := hookBroker(t, f)
	ctx := context.Background()
	if _, err := b.Publish(ctx, "orders", []*event.Event{ev("a", "")}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var once sync.Once
	var filling atomic.Bool
	filling.Store(true)
	he.onScan = func() error {
		if !filling.Load() {
			return nil
		}
		once.Do(func() {
			go func() {
				res, err := b.Publish(ctx, "orders", []*event.Event{ev("a", "")})
				if err == nil && !res[0].Duplicate {
					err = fmt.Errorf("a stored again: %+v", res[0])
				}
				done <- err
			}()
			time.Sleep(100 * time.Millisecond) // the publish waits for the fill
		})
		return errors.New("injected read error")
	}
	wider := 10 * time.Minute
	if _, _, err := b.PutTopic(ctx, "orders", TopicSpec{DedupWindow: &wider}); err != nil {
		t.Fatal(err)
	}
	filling.Store(false)
	if err := <-done; err != nil {
		t.Logf("the publish that waited: %v", err) // failing is fine: it stored nothing
	}
	if end := f.end("orders", 0); end != 1 {
		t.Fatalf("end offset %d: a stored %d times", end, end)
	}
}

// A publish under way when a wider window's fill fails reserved its events
// in the index the failure drops, before the fill began: a retry of them
// must still find them, so the index is rebuilt from a log that holds
// them, not stored beside them.
func TestPutTopic_AFailedFillLetsNoRetryOfAPublishUnderWayBeStoredBesideIt(t *testing.T) {
	f := newFixture(t, Options{DefaultDedupWindow: time.Minute})
	b, he := hookBroker(t, f)
	ctx := context.Background()
	if _, err := b.Publish(ctx, "orders", []*event.Event{ev("warm", "")}); err != nil {
		t.Fatal(err)
	}
	held, release := he.holdNextAppend()
	first := make(chan error, 1)
	go func() {
		_, err := b.Publish(ctx, "orders", []*event.Event{ev("a", "")})
		first <- err
	}()
	<-held // a is reserved, and about to be stored
	var failing atomic.Bool
	failing.Store(true)
	filled := make(chan struct{})
	var once sync.Once
	he.onScan = func() error {
		if !failing.Load() {
			return nil
		}
		once.Do(func() { close(filled) })
		return errors.New("injected read error")
	}
	wider := 10 * time.Minute
	put := make(chan error, 1)
	go func() {
		_, _, err := b.PutTopic(ctx, "orders", TopicSpec{DedupWindow: &wider})
		put <- err
	}()
	<-filled
	failing.Store(false)
	retry := make(chan Result, 1)
	go func() {
		res, err := b.Publish(ctx, "orders", []*event.Event{ev("a", "")})
		if err != nil {
			t.Error(err)
			retry <- Result{}
			return
		}
		retry <- res[0]
	}()
	select {
	case res := <-retry:
		close(release)
		t.Logf("the retry did not wait for the publish under way: %+v", res)
	case <-time.After(300 * time.Millisecond):
		close(release)
		<-retry
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-put; err != nil {
		t.Fatal(err)
	}
	if end := f.end("orders", 0); end != 2 {
		t.Fatalf("end offset %d: want warm and a once (a stored %d times)", end, end-1)
	}
}
