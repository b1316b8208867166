package storagetest_test

// This file is a self-test of the conformance suite, not a product engine:
// memEngine is the smallest engine that keeps the storage.Engine contract,
// so that the suite can be compiled, run under -race and checked for sound
// expectations before any real engine exists. It keeps everything in memory,
// in a store keyed by Env.Dir so that a reopen on the same Env finds the
// data, and it cuts each partition into simulated segments of
// storagetest.SegmentBytes so the retention tests have whole segments to
// delete and the compaction tests have closed segments to compact.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/storage/storagetest"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestMemEngine(t *testing.T) {
	storagetest.Run(t, storagetest.Harness{
		Open: func(t *testing.T, env storagetest.Env) storage.Engine {
			return &memEngine{store: storeFor(env.Dir), now: env.Now}
		},
		EnforceRetention: func(e storage.Engine) error { return e.(*memEngine).enforceRetention() },
		Compact:          func(e storage.Engine) error { return e.(*memEngine).compact() },
		Features:         storagetest.Features{Reopen: true, Retention: true, Compaction: true},
	})
}

var _ storage.Engine = (*memEngine)(nil)

// stores holds the data of every memEngine, keyed by directory.
var stores sync.Map // string → *memStore

func storeFor(dir string) *memStore {
	s, _ := stores.LoadOrStore(dir, &memStore{topics: map[string]*memTopic{}})
	return s.(*memStore)
}

type memStore struct {
	mu     sync.Mutex // guards topics and everything under them
	topics map[string]*memTopic
}

type memTopic struct {
	info  storage.TopicInfo
	parts []*memPartition
}

type memSegment struct {
	base  int64 // offset of the segment's first record
	bytes int
	maxTs time.Time
}

type memPartition struct {
	start    int64
	records  []storage.Record // records[i] has offset start+i
	gone     []bool           // gone[i]: compaction removed records[i]
	segments []memSegment     // the last one is active
}

type memEngine struct {
	store  *memStore
	now    func() time.Time
	closed atomic.Bool
}

func (e *memEngine) lock() (unlock func(), err error) {
	if e.closed.Load() {
		return nil, storage.ErrClosed
	}
	e.store.mu.Lock()
	return e.store.mu.Unlock, nil
}

func validate(cfg storage.TopicConfig) error {
	if cfg.Partitions <= 0 || cfg.RetentionAge < 0 || cfg.RetentionBytes < 0 || cfg.TombstoneRetention < 0 {
		return fmt.Errorf("%+v: %w", cfg, storage.ErrInvalidConfig)
	}
	return nil
}

func copyConfig(cfg storage.TopicConfig) storage.TopicConfig {
	cfg.Labels = maps.Clone(cfg.Labels)
	return cfg
}

func (e *memEngine) CreateTopic(ctx context.Context, name string, cfg storage.TopicConfig) error {
	unlock, err := e.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := validate(cfg); err != nil {
		return err
	}
	if _, ok := e.store.topics[name]; ok {
		return fmt.Errorf("topic %q: %w", name, storage.ErrTopicExists)
	}
	t := &memTopic{info: storage.TopicInfo{Name: name, Config: copyConfig(cfg), CreatedAt: e.now()}}
	t.grow(cfg.Partitions)
	e.store.topics[name] = t
	return nil
}

func (t *memTopic) grow(n int) {
	for len(t.parts) < n {
		t.parts = append(t.parts, &memPartition{segments: []memSegment{{}}})
	}
}

func (e *memEngine) topic(name string) (*memTopic, error) {
	t, ok := e.store.topics[name]
	if !ok {
		return nil, fmt.Errorf("topic %q: %w", name, storage.ErrUnknownTopic)
	}
	return t, nil
}

func (e *memEngine) partition(name string, p int) (*memPartition, error) {
	t, err := e.topic(name)
	if err != nil {
		return nil, err
	}
	if p < 0 || p >= len(t.parts) {
		return nil, fmt.Errorf("topic %q partition %d: %w", name, p, storage.ErrUnknownPartition)
	}
	return t.parts[p], nil
}

func (e *memEngine) UpdateTopic(ctx context.Context, name string, cfg storage.TopicConfig) error {
	unlock, err := e.lock()
	if err != nil {
		return err
	}
	defer unlock()
	t, err := e.topic(name)
	if err != nil {
		return err
	}
	if err := validate(cfg); err != nil {
		return err
	}
	if cfg.Partitions < len(t.parts) {
		return fmt.Errorf("topic %q: shrinking to %d partitions: %w", name, cfg.Partitions, storage.ErrInvalidConfig)
	}
	t.info.Config = copyConfig(cfg)
	t.grow(cfg.Partitions)
	return nil
}

func (e *memEngine) DeleteTopic(ctx context.Context, name string) error {
	unlock, err := e.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := e.topic(name); err != nil {
		return err
	}
	delete(e.store.topics, name)
	return nil
}

func (e *memEngine) Topic(ctx context.Context, name string) (storage.TopicInfo, error) {
	unlock, err := e.lock()
	if err != nil {
		return storage.TopicInfo{}, err
	}
	defer unlock()
	t, err := e.topic(name)
	if err != nil {
		return storage.TopicInfo{}, err
	}
	info := t.info
	info.Config = copyConfig(info.Config)
	return info, nil
}

func (e *memEngine) Topics(ctx context.Context) ([]storage.TopicInfo, error) {
	unlock, err := e.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	infos := []storage.TopicInfo{}
	for _, name := range slices.Sorted(maps.Keys(e.store.topics)) {
		info := e.store.topics[name].info
		info.Config = copyConfig(info.Config)
		infos = append(infos, info)
	}
	return infos, nil
}

func (e *memEngine) Append(ctx context.Context, topic string, parts []storage.PartitionRecords) ([]int64, error) {
	unlock, err := e.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ps := make([]*memPartition, len(parts))
	for i, pr := range parts { // check everything before storing anything
		if ps[i], err = e.partition(topic, pr.Partition); err != nil {
			return nil, err
		}
	}
	now := e.now()
	bases := make([]int64, len(parts))
	for i, pr := range parts {
		bases[i] = ps[i].end()
		for _, r := range pr.Records {
			ps[i].add(copyRecord(r, ps[i].end(), now))
		}
	}
	return bases, nil
}

func (p *memPartition) end() int64 { return p.start + int64(len(p.records)) }

func (p *memPartition) add(r storage.Record) {
	size := len(r.Key) + len(r.Value)
	seg := &p.segments[len(p.segments)-1]
	if seg.bytes > 0 && seg.bytes+size > storagetest.SegmentBytes {
		p.segments = append(p.segments, memSegment{base: r.Offset})
		seg = &p.segments[len(p.segments)-1]
	}
	seg.bytes += size
	if r.Timestamp.After(seg.maxTs) {
		seg.maxTs = r.Timestamp
	}
	p.records = append(p.records, r)
	p.gone = append(p.gone, false)
}

// copyRecord copies r deeply, gives it offset and a millisecond timestamp.
func copyRecord(r storage.Record, offset int64, now time.Time) storage.Record {
	ts := r.Timestamp
	if ts.IsZero() {
		ts = now
	}
	out := storage.Record{Offset: offset, Timestamp: time.UnixMilli(ts.UnixMilli()),
		Key: clone(r.Key), Value: clone(r.Value)}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, kmsg.Header{Key: h.Key, Value: clone(h.Value)})
	}
	return out
}

// clone copies b, keeping nil and empty apart.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func (e *memEngine) Read(ctx context.Context, topic string, partition int, offset int64, max int, maxBytes int) ([]storage.Record, error) {
	unlock, err := e.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	p, err := e.partition(topic, partition)
	if err != nil {
		return nil, err
	}
	if offset < p.start || offset > p.end() {
		return nil, fmt.Errorf("topic %q partition %d offset %d not in [%d, %d]: %w",
			topic, partition, offset, p.start, p.end(), storage.ErrOffsetOutOfRange)
	}
	var out []storage.Record
	bytes := 0
	for i, r := range p.records[offset-p.start:] {
		if p.gone[offset-p.start+int64(i)] {
			continue
		}
		size := len(r.Key) + len(r.Value)
		if len(out) >= max || (len(out) > 0 && bytes+size > maxBytes) {
			break
		}
		out = append(out, copyRecord(r, r.Offset, r.Timestamp))
		bytes += size
	}
	return out, nil
}

func (e *memEngine) OffsetForTime(ctx context.Context, topic string, partition int, t time.Time) (int64, error) {
	unlock, err := e.lock()
	if err != nil {
		return 0, err
	}
	defer unlock()
	p, err := e.partition(topic, partition)
	if err != nil {
		return 0, err
	}
	for i, r := range p.records {
		if !p.gone[i] && !r.Timestamp.Before(t) {
			return r.Offset, nil
		}
	}
	return p.end(), nil
}

func (e *memEngine) Offsets(ctx context.Context, topic string, partition int) (start, end int64, err error) {
	unlock, err := e.lock()
	if err != nil {
		return 0, 0, err
	}
	defer unlock()
	p, err := e.partition(topic, partition)
	if err != nil {
		return 0, 0, err
	}
	return p.start, p.end(), nil
}

func (e *memEngine) Close() error {
	if e.closed.Swap(true) {
		return storage.ErrClosed
	}
	return nil
}

// enforceRetention deletes whole segments, never the active one: those
// whose newest record is older than RetentionAge, and the oldest ones while
// the rest still hold at least RetentionBytes (Kafka's rule).
func (e *memEngine) enforceRetention() error {
	unlock, err := e.lock()
	if err != nil {
		return err
	}
	defer unlock()
	now := e.now()
	for _, t := range e.store.topics {
		cfg := t.info.Config
		for _, p := range t.parts {
			for len(p.segments) > 1 && p.expired(cfg, now) {
				p.dropSegment()
			}
		}
	}
	return nil
}

func (p *memPartition) expired(cfg storage.TopicConfig, now time.Time) bool {
	first := p.segments[0]
	if cfg.RetentionAge > 0 && first.maxTs.Before(now.Add(-cfg.RetentionAge)) {
		return true
	}
	if cfg.RetentionBytes > 0 {
		total := 0
		for _, s := range p.segments {
			total += s.bytes
		}
		return int64(total-first.bytes) >= cfg.RetentionBytes
	}
	return false
}

func (p *memPartition) dropSegment() {
	next := p.segments[1].base
	p.records = p.records[next-p.start:]
	p.gone = p.gone[next-p.start:]
	p.start = next
	p.segments = p.segments[1:]
}

// compact removes, from every segment but the active one, the records that
// a newer record with the same key supersedes, and tombstones older than
// TombstoneRetention (default a day). Records without a key stay.
func (e *memEngine) compact() error {
	unlock, err := e.lock()
	if err != nil {
		return err
	}
	defer unlock()
	now := e.now()
	for _, t := range e.store.topics {
		cfg := t.info.Config
		if !cfg.Compact {
			continue
		}
		retain := cfg.TombstoneRetention
		if retain == 0 {
			retain = 24 * time.Hour
		}
		for _, p := range t.parts {
			p.compact(now.Add(-retain))
		}
	}
	return nil
}

func (p *memPartition) compact(cutoff time.Time) {
	newest := map[string]int64{}
	for i, r := range p.records {
		if !p.gone[i] && r.Key != nil {
			newest[string(r.Key)] = r.Offset
		}
	}
	active := p.segments[len(p.segments)-1].base
	for i, r := range p.records {
		if r.Offset >= active || r.Key == nil {
			continue
		}
		if newest[string(r.Key)] != r.Offset || (r.Value == nil && r.Timestamp.Before(cutoff)) {
			p.gone[i] = true
		}
	}
}
