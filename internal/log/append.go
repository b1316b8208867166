package log

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/heraldevents/herald/internal/storage"
)

// Append implements storage.Engine. The caller's goroutine encodes and
// checksums the batches; the topic's committer only assigns offsets,
// writes and fsyncs.
func (e *Engine) Append(ctx context.Context, topic string, parts []storage.PartitionRecords) ([]int64, error) {
	t, err := e.topic(topic)
	if err != nil {
		return nil, err
	}
	req, err := t.encode(parts, e.opts.Now())
	if err != nil {
		return nil, err
	}
	defer req.recycle() // submit has returned: the committer is done with the batches
	if len(req.parts) == 0 {
		return make([]int64, len(parts)), nil
	}
	if err := t.submit(ctx, req); err != nil {
		return nil, err
	}
	return req.bases, nil
}

func (t *topic) encode(parts []storage.PartitionRecords, now time.Time) (*appendReq, error) {
	req := &appendReq{parts: make([]encodedPart, 0, len(parts)), done: make(chan struct{})}
	for _, pr := range parts {
		p, err := t.partition(pr.Partition)
		if err != nil {
			return nil, err
		}
		if len(pr.Records) == 0 {
			return nil, fmt.Errorf("%w: append to partition %d has no records", storage.ErrInvalidConfig, pr.Partition)
		}
		batch := encodeBatch(getBatchBuf(batchSizeHint(pr.Records)), pr.Records, now)
		if len(batch) > maxBatchSize {
			return nil, fmt.Errorf("append to partition %d: batch of %d bytes is over the %d byte limit", pr.Partition, len(batch), maxBatchSize)
		}
		req.parts = append(req.parts, encodedPart{p: p, batch: batch, n: len(pr.Records)})
		req.size += len(batch)
	}
	return req, nil
}

// batchBufs recycles the buffers batches are encoded in: the committer
// copies each batch into its partition's write buffer, so once an append
// is answered its buffers are free. Buffers over maxPooledBatch are left
// to the garbage collector.
var batchBufs sync.Pool // *[]byte

const maxPooledBatch = 4 << 20

func getBatchBuf(size int) []byte {
	if bp, ok := batchBufs.Get().(*[]byte); ok && cap(*bp) >= size {
		return (*bp)[:0]
	}
	return make([]byte, 0, size)
}

// recycle returns the request's batch buffers to batchBufs. Call it only
// once the committer can no longer touch the request.
func (req *appendReq) recycle() {
	for i := range req.parts {
		if b := req.parts[i].batch; cap(b) <= maxPooledBatch {
			batchBufs.Put(&b)
		}
		req.parts[i].batch = nil
	}
}

// Read implements storage.Engine.
func (e *Engine) Read(ctx context.Context, topic string, partition int, offset int64, max int, maxBytes int) ([]storage.Record, error) {
	p, err := e.partition(topic, partition)
	if err != nil {
		return nil, err
	}
	if max <= 0 {
		max = 1
	}
	return p.read(offset, max, maxBytes)
}

// OffsetForTime implements storage.Engine.
func (e *Engine) OffsetForTime(ctx context.Context, topic string, partition int, t time.Time) (int64, error) {
	p, err := e.partition(topic, partition)
	if err != nil {
		return 0, err
	}
	return p.offsetForTime(t.UnixMilli())
}

// Offsets implements storage.Engine.
func (e *Engine) Offsets(ctx context.Context, topic string, partition int) (int64, int64, error) {
	p, err := e.partition(topic, partition)
	if err != nil {
		return 0, 0, err
	}
	return p.offsets()
}

// PartitionBytes implements storage.Sizer: the committed bytes of the
// partition's segment files, their indexes left out. It reads counters in
// memory, not the file system.
func (e *Engine) PartitionBytes(topic string, partition int) (int64, error) {
	p, err := e.partition(topic, partition)
	if err != nil {
		return 0, err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	var n int64
	for _, s := range p.segs {
		n += s.committed.Load()
	}
	return n, nil
}

// Sync implements storage.Syncer: it fsyncs the partitions of the topic
// given (all of them when none is), whatever the sync mode. With
// SyncAlways every append is durable already.
func (e *Engine) Sync(ctx context.Context, topic string, partitions ...int) error {
	t, err := e.topic(topic)
	if err != nil || e.opts.Sync == SyncAlways {
		return err
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.down {
		return fmt.Errorf("topic %s: %w", t.name, t.gone)
	}
	parts := t.partitions()
	if len(partitions) > 0 {
		parts = make([]*partition, len(partitions))
		for i, n := range partitions {
			if parts[i], err = t.partition(n); err != nil {
				return err
			}
		}
	}
	for _, p := range parts {
		if p.failed != nil {
			return fmt.Errorf("%w: topic %s partition %d: %w", storage.ErrUnavailable, t.name, p.id, p.failed)
		}
		if err := p.sync(); err != nil {
			return err
		}
		p.markSynced(p.active())
	}
	return nil
}

func (e *Engine) partition(topic string, partition int) (*partition, error) {
	t, err := e.topic(topic)
	if err != nil {
		return nil, err
	}
	return t.partition(partition)
}

// Wait returns a channel that is closed when the partition's end offset
// moves past end (or at once if it already has). Long polls use it.
func (e *Engine) Wait(topic string, partition int, end int64) (<-chan struct{}, error) {
	p, err := e.partition(topic, partition)
	if err != nil {
		return nil, err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return nil, fmt.Errorf("partition %d: %w", p.id, p.gone)
	}
	if p.end > end {
		ch := make(chan struct{})
		close(ch)
		return ch, nil
	}
	return p.notify, nil
}

// EnforceRetention runs the retention pass on every topic now.
func (e *Engine) EnforceRetention() error {
	var first error
	for _, t := range e.topicList() {
		if err := t.enforceRetention(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// topicList returns the open topics, in no order.
func (e *Engine) topicList() []*topic {
	e.mu.RLock()
	defer e.mu.RUnlock()
	topics := make([]*topic, 0, len(e.topics))
	for _, t := range e.topics {
		topics = append(topics, t)
	}
	return topics
}

// retentionLoop runs retention, then compaction where it is due, every
// RetentionInterval.
func (e *Engine) retentionLoop() {
	defer e.wg.Done()
	tick := time.NewTicker(e.opts.RetentionInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := e.EnforceRetention(); err != nil {
				e.opts.Logger.Error("retention", "err", err)
			}
			if err := e.compact(false); err != nil {
				e.opts.Logger.Error("compaction", "err", err)
			}
		case <-e.stop:
			return
		}
	}
}
