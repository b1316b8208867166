package log

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/heraldevents/herald/internal/storage"
)

// appendReq is one Append call waiting for the committer. Its batches were
// encoded (and CRC'd) by the caller; the committer only assigns offsets.
type appendReq struct {
	parts []encodedPart
	size  int
	bases []int64
	err   error
	done  chan struct{}
}

type encodedPart struct {
	p     *partition
	batch []byte
	n     int // records
}

// run is the topic's committer: it takes every waiting append as one group,
// writes each partition's share with one write, fsyncs the partitions the
// group touched (in parallel), then makes the group readable and answers
// it. Appends that arrive meanwhile wait for the next group: that is the
// group commit that makes fsync-before-ack cheap.
func (t *topic) run() {
	defer t.wg.Done()
	defer close(t.stopped)
	var group []*appendReq
	for {
		select {
		case req := <-t.queue:
			group = t.gather(append(group[:0], req))
			t.commit(group)
		case <-t.stop:
			t.drain()
			return
		}
	}
}

// gather adds the appends already waiting, up to MaxGroupBytes.
func (t *topic) gather(group []*appendReq) []*appendReq {
	size := group[0].size
	for size < t.opts.MaxGroupBytes {
		select {
		case req := <-t.queue:
			group = append(group, req)
			size += req.size
		default:
			return group
		}
	}
	return group
}

// drain answers appends that were queued when the topic stopped.
func (t *topic) drain() {
	for {
		select {
		case req := <-t.queue:
			req.err = fmt.Errorf("topic %s: %w", t.name, t.gone)
			close(req.done)
		default:
			return
		}
	}
}

func (t *topic) commit(group []*appendReq) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	touched, err := t.stage(group)
	if err == nil {
		err = t.write(touched)
	}
	if err == nil && t.opts.Sync == SyncAlways {
		err = syncAll(touched)
	}
	if err != nil {
		for _, p := range touched {
			p.rollback()
		}
	} else {
		for _, p := range touched {
			p.publish(t.opts.IndexInterval)
		}
	}
	for _, req := range group {
		if req.err == nil && err != nil {
			req.err = err
		}
		close(req.done)
	}
}

// stage assigns offsets and collects each partition's bytes. A request
// aimed at a failed partition fails alone; the rest of the group goes on.
func (t *topic) stage(group []*appendReq) ([]*partition, error) {
	var touched []*partition
	for _, req := range group {
		if err := t.checkWritable(req); err != nil {
			req.err = err
			continue
		}
		req.bases = make([]int64, len(req.parts))
		for i, part := range req.parts {
			p := part.p
			if len(p.staged) == 0 {
				if err := t.maybeRoll(p); err != nil {
					return touched, err
				}
				touched = append(touched, p)
			}
			req.bases[i] = p.stage(part)
		}
	}
	return touched, nil
}

func (t *topic) checkWritable(req *appendReq) error {
	for _, part := range req.parts {
		if part.p.isClosed() {
			// An UpdateTopic that failed closed the partitions it added
			// after this append had picked one of them.
			return fmt.Errorf("%w: topic %s has no partition %d (adding it failed)", storage.ErrUnknownPartition, t.name, part.p.id)
		}
		if part.p.failed != nil {
			return fmt.Errorf("%w: topic %s partition %d: %w", storage.ErrUnavailable, t.name, part.p.id, part.p.failed)
		}
	}
	return nil
}

// stage gives the batch its offsets and queues its bytes.
func (p *partition) stage(part encodedPart) int64 {
	base := p.next
	binary.BigEndian.PutUint64(part.batch[0:], uint64(base))
	pos := p.active().size + int64(len(p.buf))
	info, _ := parseBatchHeader(part.batch)
	p.staged = append(p.staged, stagedBatch{pos: pos, info: info})
	p.buf = append(p.buf, part.batch...)
	p.next += int64(part.n)
	return base
}

func (t *topic) write(touched []*partition) error {
	for _, p := range touched {
		s := p.active()
		if _, err := s.f.WriteAt(p.buf, s.size); err != nil {
			return unavailable(fmt.Sprintf("write topic %s partition %d", t.name, p.id), err)
		}
		s.size += int64(len(p.buf))
	}
	return nil
}

// syncAll fsyncs the active segments of the touched partitions in
// parallel. An fsync error fails the partition closed: after a failed
// fsync the kernel may have dropped the dirty pages, so nothing written
// since the last good fsync can be trusted, and retrying would lie.
func syncAll(touched []*partition) error {
	if len(touched) == 1 {
		return touched[0].sync()
	}
	errs := make([]error, len(touched))
	var wg sync.WaitGroup
	for i, p := range touched {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.sync()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (p *partition) sync() error {
	if err := p.active().f.Sync(); err != nil {
		p.failed = fmt.Errorf("fsync failed, partition stopped accepting writes: %w", err)
		return fmt.Errorf("%w: partition %d: %w", storage.ErrUnavailable, p.id, err)
	}
	return nil
}

// publish makes the staged group readable.
func (p *partition) publish(interval int) {
	s := p.active()
	p.mu.Lock()
	for _, b := range p.staged {
		s.noteBatch(b.pos, b.info, interval)
	}
	s.committed.Store(s.size)
	p.end = p.next
	close(p.notify)
	p.notify = make(chan struct{})
	p.mu.Unlock()
	p.staged, p.buf = p.staged[:0], p.buf[:0]
}

// rollback undoes a staged group that did not commit: the bytes written
// are cut so the next group reuses the offsets. If even the cut fails the
// partition fails closed.
func (p *partition) rollback() {
	s := p.active()
	p.next = p.end
	p.staged, p.buf = p.staged[:0], p.buf[:0]
	committed := s.committed.Load()
	// Cut even when size did not move: a short write leaves bytes past
	// size that a later, shorter group would not overwrite.
	if err := s.f.Truncate(committed); err != nil && p.failed == nil {
		p.failed = fmt.Errorf("cannot cut an unacknowledged write: %w", err)
	}
	s.size = committed
}

// submit hands an append to the committer and waits for its answer.
func (t *topic) submit(ctx context.Context, req *appendReq) error {
	select {
	case t.queue <- req:
	case <-t.stop:
		return fmt.Errorf("topic %s: %w", t.name, t.gone)
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-req.done: // once queued, the outcome is decided by the committer
		return req.err
	case <-t.stopped:
		// The committer exited; it may have answered this request on its
		// way out, or never seen it (queued after its last drain).
		select {
		case <-req.done:
			return req.err
		default:
			return fmt.Errorf("topic %s: %w", t.name, t.gone)
		}
	}
}
