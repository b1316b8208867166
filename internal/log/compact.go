package log

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/heraldevents/herald/internal/storage"
)

// Compaction keeps the newest record of each key in the sealed segments of
// a compacted topic (storage.TopicConfig.Compact). A pass works on one
// partition at a time, under the topic's write lock:
//
//  1. map every key to its newest offset, over all segments, the active
//     one included;
//  2. walk the sealed segments oldest first; one that loses no record is
//     left alone, one that loses all of them is deleted (never the first
//     segment, so the start offset stays), any other is rewritten
//     (compactfile.go);
//  3. give each sealed segment whose successors were deleted the span up
//     to the next segment (closeGaps).
//
// Oldest first matters for tombstones: a tombstone is removed only after
// the older records of its key are durably gone, so a crash never brings
// a deleted key back.

const (
	// defaultTombstoneRetention is how long a tombstone is kept when its
	// topic does not say (Kafka's delete.retention.ms default).
	defaultTombstoneRetention = 24 * time.Hour
	// compactBatchBytes is about how much payload a rewritten segment
	// gathers into one batch.
	compactBatchBytes = 16 << 10
	// compactingSuffix marks the files a compaction writes before renaming
	// them over a segment's own; Open deletes any it finds.
	compactingSuffix = ".compacting"
)

// Compact runs a compaction pass over every partition of every compacted
// topic now. The background pass, which runs after retention every
// RetentionInterval, skips a partition when no segment was sealed and no
// kept tombstone expired since its last pass.
func (e *Engine) Compact() error { return e.compact(true) }

func (e *Engine) compact(force bool) error {
	var errs []error
	for _, t := range e.topicList() {
		errs = append(errs, t.compact(force, e.stop))
	}
	return errors.Join(errs...)
}

func (t *topic) compact(force bool, stop <-chan struct{}) error {
	cfg := t.config().Config
	if !cfg.Compact {
		return nil
	}
	var errs []error
	for _, p := range t.partitions() {
		if err := t.compactPartition(p, cfg, force, stop); err != nil {
			errs = append(errs, fmt.Errorf("compact topic %s partition %d: %w", t.name, p.id, err))
		}
	}
	return errors.Join(errs...)
}

func (t *topic) compactPartition(p *partition, cfg storage.TopicConfig, force bool, stop <-chan struct{}) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	now := t.opts.Now().UnixMilli()
	if t.down || p.failed != nil || !(force || p.compactDue(now)) {
		return nil
	}
	if t.opts.Sync != SyncAlways {
		// The active segment's records decide what goes: they must be
		// durable before what they supersede is removed for good.
		if err := p.sync(); err != nil {
			return err
		}
		p.markSynced(p.active())
	}
	c, err := newCompactor(p, cfg, now)
	if err != nil || c == nil {
		return err
	}
	defer releaseAll(c.views)
	return c.run(stop)
}

// compactDue reports whether the background pass has work in p: a segment
// was sealed, or a tombstone kept by the last pass has expired, since then.
func (p *partition) compactDue(now int64) bool {
	return p.active().base > p.compactedTo || (p.tombstoneDue != 0 && now >= p.tombstoneDue)
}

// compactor is one pass over one partition.
type compactor struct {
	p      *partition
	views  []segView         // every segment from the start; the last is active
	latest map[keyHash]int64 // each key's newest offset
	retain int64             // tombstone retention, ms
	cutoff int64             // tombstones with a timestamp before this (ms) go
	due    int64             // when the first tombstone kept expires (ms); 0: none
	stats  struct{ rewritten, deleted, dropped int }
}

// keyHash identifies a key in the pass's map: 128 bits of its SHA-256, so
// the map's size does not depend on key lengths and two keys collide with
// a probability far below that of undetected disk damage (Kafka's cleaner
// keys its map by MD5 for the same reason).
type keyHash [16]byte

func hashKey(k []byte) keyHash {
	sum := sha256.Sum256(k)
	return keyHash(sum[:16])
}

// newCompactor snapshots p's segments. It returns nil when p holds
// damaged data: records past damage cannot be read, so the pass cannot
// know what they supersede, and rewriting a damaged segment would drop
// what lies beyond the damage.
func newCompactor(p *partition, cfg storage.TopicConfig, now int64) (*compactor, error) {
	views, _, err := p.snapshotFromStart()
	if err != nil {
		return nil, err
	}
	for _, v := range views {
		if v.damage != nil {
			releaseAll(views)
			p.opts.Logger.Warn("not compacting a partition with damaged data", "partition", p.id, "err", v.damage)
			return nil, nil
		}
	}
	retain := cfg.TombstoneRetention
	if retain == 0 {
		retain = defaultTombstoneRetention
	}
	return &compactor{p: p, views: views, retain: retain.Milliseconds(), cutoff: now - retain.Milliseconds()}, nil
}

func (c *compactor) run(stop <-chan struct{}) error {
	sealed := c.views[:len(c.views)-1]
	if len(sealed) == 0 {
		c.p.compactedTo = c.views[0].base
		return nil
	}
	if err := c.mapKeys(); err != nil {
		return err
	}
	prev := int64(0) // base of the last sealed segment kept
	for i, v := range sealed {
		if stopping(stop) {
			return c.p.closeGaps()
		}
		kept, err := c.compactSegment(v, prev, i == 0)
		if err != nil {
			return err
		}
		if kept {
			prev = v.base
		}
	}
	if err := c.p.closeGaps(); err != nil {
		return err
	}
	c.p.compactedTo, c.p.tombstoneDue = c.views[len(c.views)-1].base, c.due
	if c.stats.dropped > 0 {
		c.p.opts.Logger.Info("compacted partition", "partition", c.p.id, "dir", c.p.dir, "records_removed", c.stats.dropped,
			"segments_rewritten", c.stats.rewritten, "segments_deleted", c.stats.deleted)
	}
	return nil
}

func stopping(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// mapKeys maps each key to its newest offset.
func (c *compactor) mapKeys() error {
	c.latest = map[keyHash]int64{}
	for _, v := range c.views {
		err := v.eachRecord(false, func(r *storage.Record) error {
			if r.Key != nil {
				c.latest[hashKey(r.Key)] = r.Offset
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// keep decides whether a record of a sealed segment stays: it has no key,
// or it is its key's newest record and not a tombstone past retention.
func (c *compactor) keep(r *storage.Record) bool {
	if r.Key == nil {
		return true
	}
	if c.latest[hashKey(r.Key)] != r.Offset {
		return false
	}
	if r.Value != nil {
		return true
	}
	ts := r.Timestamp.UnixMilli()
	if ts < c.cutoff {
		return false
	}
	if due := max(ts+c.retain+1, 1); c.due == 0 || due < c.due {
		c.due = due
	}
	return true
}

// compactSegment leaves sealed segment v alone when it loses no record,
// deletes it when it loses all of them (unless it is the first segment,
// or its predecessor, starting at prev, could not span its offsets too),
// and rewrites it otherwise. It reports whether v is still there.
func (c *compactor) compactSegment(v segView, prev int64, first bool) (bool, error) {
	kept, dropped := 0, 0
	err := v.eachRecord(false, func(r *storage.Record) error {
		if c.keep(r) {
			kept++
		} else {
			dropped++
		}
		return nil
	})
	switch {
	case err != nil || dropped == 0:
		return true, err
	case kept == 0 && !first && v.next-prev <= math.MaxUint32:
		c.stats.deleted++
		c.stats.dropped += dropped
		return false, c.p.dropSegment(v.segment)
	}
	if err := c.rewrite(v); err != nil {
		return true, err
	}
	c.stats.rewritten++
	c.stats.dropped += dropped
	return true, nil
}

// rewrite writes v's kept records to a new file and swaps it in.
func (c *compactor) rewrite(v segView) error {
	w, err := newSegmentWriter(c.p, v.segment)
	if err != nil {
		return err
	}
	err = v.eachRecord(true, func(r *storage.Record) error {
		if !c.keep(r) {
			return nil
		}
		return w.add(r)
	})
	if err == nil {
		err = w.finish(v.next)
	}
	if err == nil {
		err = c.p.installCompacted(v.segment, w)
	}
	if err != nil {
		w.abandon()
	}
	return err
}

// eachRecord calls fn with every record of the segment view, in offset
// order, checking each batch's CRC and offsets. With keep the records stay
// valid after fn returns; otherwise they alias a buffer that the next read
// reuses.
func (v segView) eachRecord(keep bool, fn func(*storage.Record) error) error {
	c := &chunkReader{s: v.segment, limit: v.limit, fresh: keep}
	var recs []storage.Record
	for pos, want := int64(0), v.base; pos < v.limit; {
		info, batch, err := c.batch(pos)
		if err == nil {
			err = checkBatch(info, batch, want)
			want = info.lastOffset + 1
		}
		if err == nil && info.baseOffset >= v.next {
			return nil // bytes past the segment's last record are not data
		}
		if err == nil {
			recs, err = decodeBatch(recs[:0], batch, math.MinInt64)
		}
		if err != nil {
			return damaged(atByte(v.path, pos, err))
		}
		for i := range recs {
			if err := fn(&recs[i]); err != nil {
				return err
			}
		}
		pos += int64(info.size)
	}
	return nil
}
