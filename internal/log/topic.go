package log

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/heraldevents/herald/internal/storage"
)

// topic is a set of partitions with one committer goroutine.
type topic struct {
	name string
	dir  string
	opts *Options

	wmu   sync.Mutex   // serializes writes to active segments: group commits, rolls, retention, syncs
	mu    sync.RWMutex // guards info and parts (they change on UpdateTopic)
	info  storage.TopicInfo
	parts []*partition
	down  bool  // set by close, under wmu: the partitions' files are gone
	gone  error // what appends answer once stop is closed: storage.ErrClosed, or ErrUnknownTopic after a deletion

	queue   chan *appendReq
	stop    chan struct{} // closed by close: the committer drains and exits
	stopped chan struct{} // closed when the committer has exited
	wg      sync.WaitGroup
}

func newTopic(dir string, info storage.TopicInfo, opts *Options) *topic {
	return &topic{name: info.Name, dir: dir, opts: opts, info: info, gone: storage.ErrClosed,
		queue: make(chan *appendReq, 1024), stop: make(chan struct{}), stopped: make(chan struct{})}
}

// openPartitions opens partitions [len(parts), n); with create, ones
// being added to the topic (see openPartition).
func (t *topic) openPartitions(n int, create bool) error {
	for i := len(t.parts); i < n; i++ {
		p, err := openPartition(filepath.Join(t.dir, strconv.Itoa(i)), i, t.opts, create)
		if err != nil {
			return fmt.Errorf("topic %s: %w", t.name, err)
		}
		t.mu.Lock()
		t.parts = append(t.parts, p)
		t.mu.Unlock()
	}
	return nil
}

func (t *topic) start() {
	t.wg.Add(1)
	go t.run()
	if t.opts.Sync != SyncNone {
		t.wg.Add(1)
		go t.syncLoop()
	}
}

// syncLoop runs each SyncInterval: in mode interval it fsyncs every
// partition and marks what it fsynced; in mode always, where every group
// commit fsyncs, it marks what they made durable since the last tick (see
// syncmark.go).
func (t *topic) syncLoop() {
	defer t.wg.Done()
	tick := time.NewTicker(t.opts.SyncInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			var marks []func()
			if t.opts.Sync == SyncAlways {
				for _, p := range t.partitions() {
					if m, ok := p.committedMark(); ok {
						marks = append(marks, func() { p.writeSyncMark(m) })
					}
				}
			} else {
				t.wmu.Lock()
				for _, p := range t.partitions() {
					if p.failed == nil {
						if err := p.sync(); err != nil {
							t.opts.Logger.Error("periodic fsync failed", "topic", t.name, "err", err)
							continue
						}
						m := syncMark{base: p.active().base, length: p.active().size}
						marks = append(marks, func() { p.writeSyncMark(m) })
					}
				}
				t.wmu.Unlock()
			}
			for _, mark := range marks { // outside the lock: appends need not wait for them
				mark()
			}
		case <-t.stop:
			return
		}
	}
}

func (t *topic) partitions() []*partition {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.parts
}

func (t *topic) partition(i int) (*partition, error) {
	parts := t.partitions()
	if i < 0 || i >= len(parts) {
		return nil, fmt.Errorf("%w: topic %s has no partition %d (it has %d)", storage.ErrUnknownPartition, t.name, i, len(parts))
	}
	return parts[i], nil
}

func (t *topic) config() storage.TopicInfo {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.info
}

// minRollAge is the shortest segment age that rolls a segment because of
// a short retention.
const minRollAge = time.Minute

// maybeRoll seals the active segment and starts a new one when it is full
// or old. Called by the writer with wmu held, before staging.
func (t *topic) maybeRoll(p *partition) error {
	s := p.active()
	if s.size == 0 {
		return nil
	}
	age := time.Duration(t.opts.Now().UnixMilli()-s.firstTime) * time.Millisecond
	rollAge := t.opts.SegmentAge
	if ra := t.config().Config.RetentionAge; ra > 0 && ra < rollAge {
		rollAge = max(ra, minRollAge) // a tiny retention must not make a segment per group
	}
	if s.size < t.opts.SegmentBytes && age < rollAge && !p.mustRoll {
		return nil
	}
	return p.roll()
}

// roll seals the active segment and appends a new empty one.
func (p *partition) roll() error {
	s := p.active()
	if err := s.f.Sync(); err != nil {
		p.failed = fmt.Errorf("fsync failed, partition stopped accepting writes: %w", err)
		return fmt.Errorf("%w: roll partition %d: %w", storage.ErrUnavailable, p.id, err)
	}
	// A roll that fails past the fsync (a full disk) leaves the segment
	// active and unchanged; the next group tries again.
	if err := s.sealIO(); err != nil {
		return unavailable(fmt.Sprintf("roll partition %d", p.id), err)
	}
	p.mustRoll = true // the index (and maybe the next segment) is on disk: s must not grow
	ns, err := createSegment(p.opts.FS, p.dir, p.next)
	if err != nil {
		return unavailable(fmt.Sprintf("roll partition %d", p.id), err)
	}
	p.mustRoll = false
	p.mu.Lock()
	s.finishSeal()
	p.segs = append(p.segs, ns)
	p.mu.Unlock()
	p.markSynced(ns) // s is all on disk, and ns holds nothing yet
	return nil
}

// enforceRetention deletes whole sealed segments that are older than the
// retention age or beyond the retention size, oldest first. An idle active
// segment that has aged out is rolled first so it can go too.
func (t *topic) enforceRetention() error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.down {
		return nil
	}
	cfg := t.config().Config
	if cfg.RetentionAge <= 0 && cfg.RetentionBytes <= 0 {
		return nil
	}
	var errs []error
	for _, p := range t.partitions() {
		if err := t.retainPartition(p, cfg); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (t *topic) retainPartition(p *partition, cfg storage.TopicConfig) error {
	cutoff := t.opts.Now().Add(-cfg.RetentionAge).UnixMilli()
	if a := p.active(); cfg.RetentionAge > 0 && a.size > 0 && a.maxTime < cutoff && p.failed == nil {
		if err := p.roll(); err != nil {
			return err
		}
	}
	var doomed []*segment
	p.mu.Lock()
	total := int64(0)
	for _, s := range p.segs {
		total += s.size
	}
	for len(p.segs) > 1 {
		s := p.segs[0]
		old := cfg.RetentionAge > 0 && s.maxTime < cutoff
		big := cfg.RetentionBytes > 0 && total-s.size >= cfg.RetentionBytes
		if !old && !big {
			break
		}
		total -= s.size
		doomed = append(doomed, s)
		p.segs = p.segs[1:]
	}
	p.mu.Unlock()
	return p.removeSegments(doomed)
}

// removeSegments deletes segments no longer listed; readers still holding
// one keep reading it until they release it.
func (p *partition) removeSegments(doomed []*segment) error {
	if len(doomed) == 0 {
		return nil
	}
	var errs []error
	for _, s := range doomed {
		errs = append(errs, s.remove())
		s.release()
	}
	errs = append(errs, p.opts.FS.SyncDir(p.dir))
	return errors.Join(errs...)
}

// close stops the committer, makes everything written durable, and closes
// the files.
func (t *topic) close() error { return t.closeAs(storage.ErrClosed) }

// closeAs is close after which appends and reads answer gone.
func (t *topic) closeAs(gone error) error {
	t.gone = gone // before stop closes: whoever sees it closed sees this
	close(t.stop)
	t.wg.Wait()
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.down = true
	var errs []error
	for _, p := range t.partitions() {
		if p.failed == nil {
			var err error
			if t.opts.Sync != SyncAlways { // else every group was fsynced as it was written
				err = p.active().f.Sync()
			}
			if err == nil && !errors.Is(gone, storage.ErrUnknownTopic) { // a deleted topic's directory is gone
				p.markSynced(p.active())
			}
			errs = append(errs, err)
		}
		errs = append(errs, p.closeFiles(gone))
	}
	return errors.Join(errs...)
}
