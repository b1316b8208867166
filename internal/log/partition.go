package log

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/heraldevents/herald/internal/storage"
)

// partition is one ordered log: a list of segments, the last one active.
type partition struct {
	id   int
	dir  string
	opts *Options

	mu     sync.RWMutex  // guards segs, end, notify and closed: the readable state
	closed bool          // files closed: the topic was deleted or the engine closed
	gone   error         // once closed, what reads answer: storage.ErrClosed, or ErrUnknownTopic after a deletion
	segs   []*segment    // oldest first; the last is active
	end    int64         // offset after the last readable record
	notify chan struct{} // closed and replaced when end moves

	// writer: touched only by the topic committer, under topic.wmu
	next     int64         // next offset to assign
	failed   error         // set when the partition failed closed
	mustRoll bool          // a roll failed after writing the index: roll before appending again
	staged   []stagedBatch // the current group's batches
	buf      []byte        // the current group's bytes

	// compaction state, under topic.wmu: the background pass runs when a
	// segment was sealed or a kept tombstone expired since the last pass
	compactedTo  int64 // base of the active segment at the last pass
	tombstoneDue int64 // when (ms) the first tombstone kept by the last pass expires; 0: none

	// the sync mark last written (see syncmark.go)
	markMu sync.Mutex
	mark   syncMark
	marked bool
	buried bool // the topic's directory was renamed to be deleted: no mark is written
}

type stagedBatch struct {
	pos  int64
	info batchInfo
}

// openPartition opens a partition directory and recovers it: sealed
// segments are checked through their indexes, the active one is scanned
// and a torn tail cut. With create, a partition being added to the topic,
// it makes the directory and the first segment where there are none.
// Without, a partition the topic's metadata lists, their absence is
// damage: its files are durable before the metadata that lists it.
func openPartition(dir string, id int, opts *Options, create bool) (*partition, error) {
	p := &partition{id: id, dir: dir, opts: opts, notify: make(chan struct{})}
	if create {
		if err := opts.FS.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("partition %d: %w", id, err)
		}
	} else if _, err := opts.FS.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: partition %d: directory %s is missing: its records are lost (%s)", storage.ErrCorrupt, id, dir, repairHint)
	}
	if err := p.removeUnfinishedCompactions(); err != nil {
		return nil, err
	}
	bases, err := p.listSegments()
	if err != nil {
		return nil, err
	}
	if len(bases) == 0 && !create {
		return nil, fmt.Errorf("%w: partition %d: directory %s holds no segment file: its records are lost (%s)", storage.ErrCorrupt, id, dir, repairHint)
	}
	if len(bases) == 0 {
		s, err := createSegment(opts.FS, dir, 0)
		if err != nil {
			return nil, err
		}
		p.segs = []*segment{s}
	} else if err := p.openSegments(bases); err != nil {
		p.closeFiles(storage.ErrClosed)
		return nil, err
	}
	if err := p.settleSyncMark(); err != nil {
		p.closeFiles(storage.ErrClosed)
		return nil, fmt.Errorf("partition %d: %w", id, err)
	}
	return p, nil
}

// settleSyncMark ends an open: it fsyncs the active segment and marks it,
// so that the writes to come are the only ones a power cut can lose.
func (p *partition) settleSyncMark() error {
	if p.failed != nil {
		return nil
	}
	s := p.active()
	if p.marked && p.mark == (syncMark{base: s.base, length: s.size}) {
		return nil // the last run closed cleanly: all of it was fsynced and marked
	}
	p.marked = false // the mark is written anew, whatever the one found said
	if s.size > 0 {  // what a crashed process wrote may still be in the page cache only
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", s.path, err)
		}
	}
	p.markSynced(s)
	return nil
}

// listSegments returns the base offsets of the .log files, sorted.
func (p *partition) listSegments() ([]int64, error) {
	entries, err := p.opts.FS.ReadDir(p.dir)
	if err != nil {
		return nil, fmt.Errorf("list partition %d: %w", p.id, err)
	}
	var bases []int64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok {
			continue
		}
		base, err := strconv.ParseInt(name, 10, 64)
		if err != nil || base < 0 {
			continue // not ours
		}
		bases = append(bases, base)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

func (p *partition) openSegments(bases []int64) error {
	for i, base := range bases {
		s, err := openSegmentFile(p.opts.FS, filepath.Join(p.dir, segmentName(base)+".log"), base)
		if err != nil {
			return err
		}
		p.segs = append(p.segs, s)
		last := i == len(bases)-1
		if last {
			if m, ok := readSyncMark(p.opts.FS, p.dir); ok && m.base == base {
				s.marked, s.synced = true, m.length
				p.mark, p.marked = m, true // as found on disk
			}
			err = p.recoverActive(s)
		} else {
			err = p.recoverSealed(s, bases[i+1])
		}
		if err != nil {
			return fmt.Errorf("partition %d: %w", p.id, err)
		}
	}
	active := p.segs[len(p.segs)-1]
	p.end, p.next = active.next, active.next
	return nil
}

// removeUnfinishedCompactions deletes the files of a compaction that a
// crash interrupted (<base>.log.compacting and friends). Until its renames
// are durable a compaction has not changed the segment; after them the
// segment's own files are complete (see installCompacted), so these files
// are never needed.
func (p *partition) removeUnfinishedCompactions() error {
	entries, err := p.opts.FS.ReadDir(p.dir)
	if err != nil {
		return fmt.Errorf("list partition %d: %w", p.id, err)
	}
	removed := false
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), compactingSuffix) {
			if err := p.opts.FS.Remove(filepath.Join(p.dir, e.Name())); err != nil {
				return fmt.Errorf("partition %d: remove unfinished compaction: %w", p.id, err)
			}
			removed = true
		}
	}
	if removed {
		return p.opts.FS.SyncDir(p.dir)
	}
	return nil
}

// recoverSealed trusts a sealed segment's index files when their
// checksums hold and they agree with the log, and otherwise rebuilds them
// by scanning. A log that is not the size its sound index says, or that
// fails the scan, is damaged: the records before the damage are served,
// nothing is cut, and the index files are left as they are.
func (p *partition) recoverSealed(s *segment, nextBase int64) error {
	err := s.loadSealedIndex()
	if err == nil && s.next == nextBase {
		return nil
	}
	if s.file != nil {
		s.file.off.Close()
		s.file.tim.Close()
		s.file, s.sealed = nil, false
	}
	var sizeErr *errLogSize
	errors.As(err, &sizeErr)
	r := s.scan(p.opts.IndexInterval)
	if r.stop == nil && sizeErr != nil {
		at := min(r.end, sizeErr.want)
		r = scanResult{end: at, stop: atByte(s.path, at, sizeErr)}
	}
	if r.stop != nil {
		p.opts.Logger.Error("sealed segment damaged; serving records before the damage", "err", r.stop)
		s.keepDamaged(r, nextBase)
		return nil
	}
	if s.next < nextBase {
		// Compaction deleted the emptied segments after this one and
		// crashed before it recorded the longer span in this trailer.
		p.opts.Logger.Warn("sealed segment ends before the next one; offsets in between hold no records",
			"segment", s.path, "end", s.next, "next", nextBase)
		s.next = nextBase
	}
	if err != nil {
		p.opts.Logger.Warn("rebuilding segment index", "segment", s.path, "reason", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", s.path, err)
	}
	if err := s.sealIO(); err != nil {
		return err
	}
	s.finishSeal()
	return nil
}

// keepDamaged makes a sealed segment whose scan stopped at damage
// readable up to the damage, through the in-memory index the scan built.
func (s *segment) keepDamaged(r scanResult, nextBase int64) {
	s.committed.Store(r.end)
	s.damage = r.stop
	s.next = nextBase
	s.sealed = true
}

// recoverActive scans the active segment, cutting a torn tail. Damage that
// is not a torn tail leaves the partition failed closed: its records before
// the damage stay readable and nothing is cut.
func (p *partition) recoverActive(s *segment) error {
	r := s.scan(p.opts.IndexInterval)
	if r.stop == nil {
		return nil
	}
	if !r.torn {
		p.opts.Logger.Error("segment damaged; partition is read-only until repaired", "err", r.stop)
		p.failed = damaged(r.stop)
		s.committed.Store(r.end)
		s.damage = r.stop
		return nil
	}
	if r.unsynced {
		p.opts.Logger.Warn("cutting writes made after the last fsync the sync mark records, which a power cut lost in part", "segment", s.path, "at", r.end, "bytes", s.size-r.end, "damage", r.stop)
	} else {
		p.opts.Logger.Warn("cutting torn tail", "segment", s.path, "at", r.end, "bytes", s.size-r.end)
	}
	if err := s.f.Truncate(r.end); err != nil {
		return fmt.Errorf("truncate torn tail of %s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", s.path, err)
	}
	s.size = r.end
	s.committed.Store(r.end)
	return nil
}

func (p *partition) active() *segment { return p.segs[len(p.segs)-1] }

// segView is a reader's consistent view of one segment, taken under
// partition.mu: the index, readable size and max time as of that moment.
type segView struct {
	*segment
	idx     sparseIndex
	limit   int64
	next    int64 // offset after the segment's last readable record
	maxTime int64
	sealed  bool
	damage  error
	logger  *slog.Logger
}

// snapshot returns views of the segments a reader starting at offset
// needs, each holding a reference the caller must release, and the
// readable end.
func (p *partition) snapshot(offset int64) ([]segView, int64, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.snapshotLocked(offset, false)
}

// snapshotFromStart is snapshot from the first readable offset, resolved
// under the same lock (retention may move it at any moment).
func (p *partition) snapshotFromStart() ([]segView, int64, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.snapshotLocked(0, true)
}

func (p *partition) snapshotLocked(offset int64, fromStart bool) ([]segView, int64, error) {
	if p.closed {
		return nil, 0, fmt.Errorf("partition %d: %w", p.id, p.gone)
	}
	start := p.segs[0].base
	if fromStart {
		offset = start
	}
	if d := p.active().damage; d != nil && offset > p.end {
		return nil, p.end, errPastDamage(offset, d)
	}
	if offset < start || offset > p.end {
		return nil, p.end, fmt.Errorf("%w: offset %d, partition %d holds %d to %d", storage.ErrOffsetOutOfRange, offset, p.id, start, p.end)
	}
	i := sort.Search(len(p.segs), func(i int) bool { return p.segs[i].base > offset }) - 1
	views := make([]segView, 0, len(p.segs)-i)
	for _, s := range p.segs[i:] {
		s.refs.Add(1)
		views = append(views, segView{segment: s, idx: s.index(), limit: s.committed.Load(),
			next: s.next, maxTime: s.maxTime, sealed: s.sealed, damage: s.damage, logger: p.opts.Logger})
	}
	return views, p.end, nil
}

func releaseAll(segs []segView) {
	for _, s := range segs {
		s.release()
	}
}

// offsets returns the first and the end offset.
func (p *partition) offsets() (int64, int64, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return 0, 0, fmt.Errorf("partition %d: %w", p.id, p.gone)
	}
	return p.segs[0].base, p.end, nil
}

// isClosed reports whether the partition's files are closed.
func (p *partition) isClosed() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.closed
}

// closeFiles closes every segment (used on Close and failed opens); gone
// is what reads answer from then on.
func (p *partition) closeFiles(gone error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed, p.gone = true, gone
	close(p.notify) // wake long polls: this partition will not grow
	p.notify = make(chan struct{})
	var errs []error
	for _, s := range p.segs {
		if s.refs.Add(-1) == 0 {
			errs = append(errs, s.closeFiles())
		}
	}
	p.segs = nil
	return errors.Join(errs...)
}

// removeDir deletes the partition directory (topic deletion).
func removeDir(p *partition) error {
	if err := p.opts.FS.RemoveAll(p.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
