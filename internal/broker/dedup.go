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
// Memory is about 34 bytes per event in the window: a map from a 64-bit
// hash of (source, id) to a packed position, and the hashes in the order
// they were stored, with one time mark per publish, for expiry. A hash
// match is only a candidate: the broker confirms it by reading the stored
// event's source and id, so a collision never turns a new event into a
// false duplicate. (The rare cost of a collision: the older of the two
// events may leave the index early.)
type dedupIndex struct {
	seed maphash.Seed

	mu      sync.Mutex // guards everything below
	window  time.Duration
	entries map[uint64]uint64  // hash -> packed position
	order   []uint64           // hashes in the order stored; order[head:] are live
	head    int                //
	marks   []mark             // order[marks[i].from:marks[i+1].from] were stored at marks[i].at
	pending map[uint64]*flight // hashes reserved by publishes in progress
}

type mark struct {
	from int   // index in order
	at   int64 // unix ms
}

// position is where an event is stored.
type position struct {
	partition int32
	offset    int64
}

// pack fits a position in 64 bits: partitions are below 2^14 and offsets
// below 2^48.
func pack(p position) uint64 { return uint64(p.partition)<<48 | uint64(p.offset) }
func unpack(v uint64) position {
	return position{partition: int32(v >> 48), offset: int64(v & (1<<48 - 1))}
}

// flight is a publish holding reservations; done closes when it ends.
type flight struct {
	done     chan struct{}
	reserved []uint64
}

func newFlight() *flight { return &flight{done: make(chan struct{})} }

func newDedupIndex(window time.Duration) *dedupIndex {
	return &dedupIndex{seed: maphash.MakeSeed(), window: window,
		entries: map[uint64]uint64{}, pending: map[uint64]*flight{}}
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

// expire drops the events stored before now-window. Called with mu held.
func (d *dedupIndex) expire(now time.Time) {
	cutoff := now.Add(-d.window).UnixMilli()
	for len(d.marks) > 0 && d.marks[0].at < cutoff {
		end := len(d.order)
		if len(d.marks) > 1 {
			end = d.marks[1].from
		}
		for _, h := range d.order[d.head:end] {
			delete(d.entries, h)
		}
		d.head = end
		d.marks = d.marks[1:]
	}
	if d.head > 4096 && d.head > len(d.order)/2 {
		d.order = append(d.order[:0], d.order[d.head:]...)
		marks := make([]mark, len(d.marks))
		for i, m := range d.marks {
			marks[i] = mark{from: m.from - d.head, at: m.at}
		}
		d.marks, d.head = marks, 0
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
	var found map[uint64]position
	for _, h := range hashes {
		if v, ok := d.entries[h]; ok {
			if found == nil {
				found = map[uint64]position{}
			}
			found[h] = unpack(v)
			continue
		}
		d.pending[h] = f
		f.reserved = append(f.reserved, h)
	}
	return found, nil
}

// add records stored positions and releases the hashes f reserved.
func (d *dedupIndex) add(hashes []uint64, pos []position, at time.Time, f *flight) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.window > 0 {
		for i, h := range hashes {
			d.rememberLocked(h, pos[i], at.UnixMilli())
		}
	}
	d.releaseLocked(f)
}

// remember records a stored event while rebuilding.
func (d *dedupIndex) remember(h uint64, pos position, at int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rememberLocked(h, pos, at)
}

func (d *dedupIndex) rememberLocked(h uint64, pos position, at int64) {
	if n := len(d.marks); n == 0 || d.marks[n-1].at != at {
		d.marks = append(d.marks, mark{from: len(d.order), at: at})
	}
	d.entries[h] = pack(pos)
	d.order = append(d.order, h)
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
