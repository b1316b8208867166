// Package broker is Herald's platform layer over the storage port: topics
// with their settings, publishing (validation, size limits, partitioning,
// deduplication, atomic batches) and reading events back.
package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/storage"
)

// Options configures a Broker. The zero value works.
type Options struct {
	DisableAutoCreate  bool          // refuse publishes to unknown topics instead of creating them
	DefaultPartitions  int           // for created topics; default 1
	DefaultRetention   time.Duration // default 168h (7 days)
	DefaultDedupWindow time.Duration // default 2m
	MaxEventBytes      int           // stored size limit of one event; default 1 MiB
	MaxBatchEvents     int           // events in one publish; default 10,000
	MaxBatchBytes      int           // stored size of one publish; default 32 MiB
	MaxTopics          int           // user topics at most (dead-letter topics count); 0: no limit
	// DedupDir is a scratch directory where dedup indexes keep their older
	// parts, so memory holds only about 2 bytes per remembered event
	// beyond the newest quarter million. Those files (*.dedup) are derived
	// and New removes them; it leaves any other file there alone. Empty:
	// everything stays in memory (about 16-44 bytes an event).
	DedupDir string
	Now      func() time.Time
	// Validator checks the events of a publish to a topic whose
	// SchemaPolicy is not none, before anything is stored (the schema
	// registry's Validate); its error refuses the whole batch. Nil:
	// publishing to such a topic fails with ErrNoValidator.
	Validator func(t Topic, events []*event.Event) error
}

func (o Options) withDefaults() Options {
	if o.DefaultPartitions <= 0 {
		o.DefaultPartitions = 1
	}
	if o.DefaultRetention == 0 {
		o.DefaultRetention = 7 * 24 * time.Hour
	}
	if o.DefaultDedupWindow == 0 {
		o.DefaultDedupWindow = 2 * time.Minute
	}
	if o.MaxEventBytes <= 0 {
		o.MaxEventBytes = 1 << 20
	}
	if o.MaxBatchEvents <= 0 {
		o.MaxBatchEvents = 10000
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 32 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// newTopic returns a topic with the default settings.
func (o Options) newTopic(name string) Topic {
	return Topic{Name: name, Partitions: o.DefaultPartitions, Retention: o.DefaultRetention,
		DedupWindow: o.DefaultDedupWindow, SchemaPolicy: SchemaPolicyNone}
}

// Broker is safe for concurrent use.
type Broker struct {
	engine storage.Engine
	opts   Options

	adminMu sync.Mutex // serializes topic creation, change and deletion

	mu     sync.Mutex // guards states and counts
	states map[string]*topicState
	counts map[string]*publishCounters // by topic; they outlive a state dropped to be rebuilt
}

// topicState is the per-topic platform state derived from the log.
type topicState struct {
	// use is held shared by a publish from finding the state until it
	// ends, and alone by the deletion of the topic, so that a publish
	// stores its events before the deletion or not at all, never in a
	// topic made anew under the name.
	use       sync.RWMutex
	dropped   bool // guarded by use: the topic was deleted or made anew, or a fill failed (dropFilled); a publish holding the state starts over
	once      sync.Once
	err       error
	dedupGaps []error // partitions whose dedup rebuild stopped at damaged data (see dedupIndex)
	dedup     *dedupIndex
	next      atomic.Uint64    // round-robin counter for events without a key
	stats     *publishCounters // the topic's, in Broker.counts
}

// New returns a Broker over an engine. The caller closes the engine.
func New(engine storage.Engine, opts Options) (*Broker, error) {
	opts = opts.withDefaults()
	if _, err := (TopicSpec{}).apply(opts.newTopic("")); err != nil {
		return nil, fmt.Errorf("the defaults of new topics: %w", err)
	}
	if opts.DedupDir != "" {
		if err := clearDedupDir(opts.DedupDir); err != nil {
			return nil, err
		}
	}
	return &Broker{engine: engine, opts: opts, states: map[string]*topicState{}, counts: map[string]*publishCounters{}}, nil
}

// clearDedupDir creates dir if needed and removes the generation files an
// earlier broker left in it: only those, for dir may be a user's.
func clearDedupDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create dedup directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("clear dedup directory: %w", err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".dedup") {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("clear dedup directory: %w", err)
			}
		}
	}
	return nil
}

// Options returns the broker's effective options.
func (b *Broker) Options() Options { return b.opts }

// Engine returns the storage engine under the broker.
func (b *Broker) Engine() storage.Engine { return b.engine }

func (b *Broker) state(name string) *topicState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stateLocked(name)
}

func (b *Broker) stateLocked(name string) *topicState {
	st, ok := b.states[name]
	if !ok {
		st = &topicState{dedup: newDedupIndex(b.opts.DefaultDedupWindow, b.opts.DedupDir), stats: b.counts[name]}
		if st.stats == nil {
			st.stats = &publishCounters{}
			b.counts[name] = st.stats
		}
		b.states[name] = st
	}
	return st
}

// forget drops the topic's state and counts for good, once the publishes
// holding the state have ended.
func (b *Broker) forget(name string) {
	st := b.state(name)
	st.use.Lock()
	defer st.use.Unlock()
	b.drop(name, st)
}

// drop forgets st, the state of topic name, and the topic's counts, for
// good: publishes that find st later start over. Called with st.use held
// alone.
func (b *Broker) drop(name string, st *topicState) {
	st.dropped = true
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.states[name] == st {
		delete(b.states, name)
	}
	st.dedup.close()
	delete(b.counts, name)
}

// forgetState forgets st if it is still the topic's state, and not a newer
// one that may hold reservations.
func (b *Broker) forgetState(name string, st *topicState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.states[name] == st {
		st.dedup.close()
		delete(b.states, name)
	}
}

// loadedState returns the topic's state, rebuilding its dedup index from
// the log on first use. Every caller waiting for the rebuild gets its
// outcome, so it does not stop when the first caller's ctx is cancelled.
// The rebuild reads the topic's settings anew: t may predate a change
// that found no state to apply to (see applyDedupWindow).
func (b *Broker) loadedState(ctx context.Context, t Topic) (*topicState, error) {
	st := b.state(t.Name)
	if err := b.load(ctx, t, st); err != nil {
		return nil, err
	}
	return st, nil
}

// load rebuilds st, the state of topic t, on its first use (loadedState).
func (b *Broker) load(ctx context.Context, t Topic, st *topicState) error {
	st.once.Do(func() {
		ctx := context.WithoutCancel(ctx)
		info, err := b.engine.Topic(ctx, t.Name)
		if err != nil {
			st.err = err
			return
		}
		t := topicFromInfo(info)
		st.dedup.setWindow(t.DedupWindow)
		st.dedupGaps, st.err = b.rebuildDedup(ctx, t, st.dedup)
	})
	if st.err != nil {
		b.forgetState(t.Name, st) // try again next time
		return st.err
	}
	return nil
}

// rebuildDedup reads the last dedup window of every partition and records
// each event's (source, id). A partition whose window holds damaged data
// is remembered up to the damage; the damage is returned as a gap.
func (b *Broker) rebuildDedup(ctx context.Context, t Topic, d *dedupIndex) ([]error, error) {
	if t.DedupWindow <= 0 {
		return nil, nil
	}
	return b.fillDedup(ctx, t, d, b.opts.Now().Add(-t.DedupWindow), time.Time{})
}

// fillDedup records in d the events of every partition stored at or after
// since and, unless until is zero, before until; as rebuildDedup does.
func (b *Broker) fillDedup(ctx context.Context, t Topic, d *dedupIndex, since, until time.Time) ([]error, error) {
	var gaps []error
	for p := 0; p < t.Partitions; p++ {
		err := b.scanPartition(ctx, t.Name, p, since, func(r storage.Record, source, id string) {
			if until.IsZero() || r.Timestamp.Before(until) {
				b.rememberNewer(ctx, t, d, r, position{partition: int32(p), offset: r.Offset}, source, id)
			}
		})
		if errors.Is(err, storage.ErrCorrupt) {
			gaps = append(gaps, fmt.Errorf("dedup index of topic %s partition %d ends at damaged data: %w", t.Name, p, err))
			continue
		}
		if err != nil {
			return gaps, fmt.Errorf("rebuild dedup index of topic %s: %w", t.Name, err)
		}
	}
	return gaps, nil
}

// rememberNewer records r, stored at pos, in d unless d holds a newer copy
// of the same event already. Partitions are read one after the other, and
// a fill reads events older than those d holds, so two copies of an event
// (stored while deduplication was off or its window narrower) can come in
// any order; the newer must win, or a publish would stop finding it once
// the older copy leaves the window.
func (b *Broker) rememberNewer(ctx context.Context, t Topic, d *dedupIndex, r storage.Record, pos position, source, id string) {
	h := d.hash(source, id)
	if held, ok := d.candidate(h); ok && held != pos {
		recs, err := b.engine.Read(ctx, t.Name, int(held.partition), held.offset, 1, 1)
		if err == nil && len(recs) > 0 && recs[0].Offset == held.offset && recs[0].Timestamp.After(r.Timestamp) &&
			headerString(recs[0], "ce_source") == source && headerString(recs[0], "ce_id") == id {
			return
		}
	}
	d.remember(h, pos, r.Timestamp.UnixMilli())
}

// scanPartition calls fn for each record stored at or after since and
// still kept: retention may delete the oldest while it reads.
func (b *Broker) scanPartition(ctx context.Context, topic string, p int, since time.Time, fn func(r storage.Record, source, id string)) error {
	off, err := b.engine.OffsetForTime(ctx, topic, p, since)
	if err != nil {
		return err
	}
	_, end, err := b.engine.Offsets(ctx, topic, p)
	if err != nil {
		return err
	}
	for off < end {
		recs, err := b.engine.Read(ctx, topic, p, off, 10000, 8<<20)
		if errors.Is(err, storage.ErrOffsetOutOfRange) {
			if start, _, serr := b.engine.Offsets(ctx, topic, p); serr == nil && start > off {
				off = start // deleted meanwhile
				continue
			}
		}
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		for _, r := range recs {
			fn(r, headerString(r, "ce_source"), headerString(r, "ce_id"))
		}
		off = recs[len(recs)-1].Offset + 1
	}
	return nil
}

func headerString(r storage.Record, name string) string {
	for _, h := range r.Headers {
		if h.Key == name {
			return string(h.Value)
		}
	}
	return ""
}
