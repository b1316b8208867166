package broker

import (
	"hash/maphash"
	"sync"
	"time"
)

// dedupIndex remembers, for one topic, where each (source, id) published
// within the dedup window was stored. It is derived state: on start it is
// rebuilt from the last window of the log, so it survives restarts without
// being written anywhere.
//
// Memory: one 64-bit hash and one position per event in the window (about
// 40 bytes). A hash match is only a candidate: the broker confirms it by
// reading the stored event's source and id, so a hash collision never
// turns a new event into a false duplicate.
type dedupIndex struct {
	seed maphash.Seed

	mu      sync.Mutex // guards everything below
	window  time.Duration
	entries map[uint64]position
	order   []expiry           // insertion order, for expiry
	head    int                // order[head:] are live
	pending map[uint64]*flight // hashes reserved by publishes in progress
}

type position struct {
	partition int32
	offset    int64
	at        int64 // unix ms when stored
}

type expiry struct {
	hash uint64
	at   int64 // unix ms when stored
}

// flight is a publish holding reservations; done closes when it ends.
type flight struct {
	done     chan struct{}
	reserved []uint64
}

func newFlight() *flight { return &flight{done: make(chan struct{})} }

func newDedupIndex(window time.Duration) *dedupIndex {
	return &dedupIndex{seed: maphash.MakeSeed(), window: window,
		entries: map[uint64]position{}, pending: map[uint64]*flight{}}
}

func (d *dedupIndex) hash(source, id string) uint64 {
	var h maphash.Hash
	h.SetSeed(d.seed)
	h.WriteString(source)
	h.WriteByte(0)
	h.WriteString(id)
	return h.Sum64()
}

func (d *dedupIndex) setWindow(w time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.window = w
}

// expire drops entries stored before now-window. Called with mu held.
func (d *dedupIndex) expire(now time.Time) {
	cutoff := now.Add(-d.window).UnixMilli()
	for d.head < len(d.order) && d.order[d.head].at < cutoff {
		e := d.order[d.head]
		if pos, ok := d.entries[e.hash]; ok && pos.at == e.at {
			delete(d.entries, e.hash) // not replaced by a later event with the same hash
		}
		d.head++
	}
	if d.head > 1024 && d.head > len(d.order)/2 {
		d.order = append(d.order[:0], d.order[d.head:]...)
		d.head = 0
	}
}

// reserve looks up hashes for a publish. It returns the candidates already
// stored, or, when another publish holds one of the hashes, that publish to
// wait for (reserving nothing, so two publishes never wait on each other).
// Otherwise every hash not stored is reserved for f.
func (d *dedupIndex) reserve(hashes []uint64, f *flight, now time.Time) (map[uint64]position, *flight) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.window <= 0 {
		return nil, nil
	}
	d.expire(now)
	for _, h := range hashes {
		if other, ok := d.pending[h]; ok && other != f {
			return nil, other
		}
	}
	found := map[uint64]position{}
	for _, h := range hashes {
		if pos, ok := d.entries[h]; ok {
			found[h] = pos
			continue
		}
		d.pending[h] = f
		f.reserved = append(f.reserved, h)
	}
	return found, nil
}

// add records stored positions (at is the store time) and releases the
// hashes f reserved.
func (d *dedupIndex) add(hashes []uint64, pos []position, at time.Time, f *flight) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ms := at.UnixMilli()
	for i, h := range hashes {
		if d.window > 0 {
			p := pos[i]
			p.at = ms
			d.entries[h] = p
			d.order = append(d.order, expiry{hash: h, at: ms})
		}
	}
	d.releaseLocked(f)
}

// release frees f's reservations (a publish that failed or found only
// duplicates) and wakes publishes waiting on it.
func (d *dedupIndex) release(f *flight) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.releaseLocked(f)
}

func (d *dedupIndex) releaseLocked(f *flight) {
	for _, h := range f.reserved {
		if d.pending[h] == f {
			delete(d.pending, h)
		}
	}
	f.reserved = f.reserved[:0]
	select {
	case <-f.done:
	default:
		close(f.done)
	}
}

// size returns the number of remembered events.
func (d *dedupIndex) size() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.entries)
}

// remember records a stored event while rebuilding.
func (d *dedupIndex) remember(h uint64, pos position) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.entries[h] = pos
	d.order = append(d.order, expiry{hash: h, at: pos.at})
}
