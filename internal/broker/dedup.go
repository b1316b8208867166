package broker

import (
	"errors"
	"fmt"
	"hash/maphash"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// dedupIndex remembers, for one topic, where each (source, id) published
// within the dedup window was stored. It is derived state: on start it is
// rebuilt from the last window of the log, so it survives restarts without
// being written anywhere durable.
//
// New entries go to an in-memory map (about 44 bytes an event). When the
// map holds genSize events, or its oldest is a quarter window old, it is
// frozen into a generation: sorted, written to a scratch file, and kept in
// memory only as a Bloom filter (about 2 bytes an event). A generation
// is dropped whole once its newest event is older than the window, so an
// event is remembered for at least the window and at most 1.25 windows
// (up to 2 for the events a rebuild or a fill reads back from the log).
//
// A hash match is only a candidate: the broker confirms it by reading the
// stored event's source, id and time, so a collision never turns a new
// event into a false duplicate, nor does an event kept past the window (a
// rebuilt generation holds a whole window, and goes only when its newest
// event leaves it). (The rare cost of a collision: the older of the two
// events may be forgotten early.)
//
// Freezing sorts and writes the map outside mu: the full map is detached
// into freezing, where lookups still find it, until its generation is
// built and installed. When the generation file cannot be written the
// generation stays in memory (16 bytes an event): the scratch directory
// never stops publishing.
//
// Generations are grouped into spans of about an eighth of the window (or
// fewer events, when the rate climbs), each with one more Bloom filter over
// all its generations. A lookup of a new event, the common case, tests one
// cache line per span, not one per generation: at a high rate a window
// holds hundreds of generations (2 minutes at 500,000 events/s is 230 of
// 2^18 events), and testing each made every publish slower the longer the
// load lasted. Only when a span's filter says "maybe" are its generations'
// own filters and files consulted.
//
// The rebuild is best-effort where the log is unreadable: at data that
// fails its checks (storage.ErrCorrupt) it skips the rest of that
// partition's window and goes on with the other partitions, so one damaged
// batch does not stop publishing to the topic. The price: an event stored
// after the damage in that partition is not remembered, and a retry of it
// within the window is stored again.
type dedupIndex struct {
	seed    maphash.Seed
	dir     string // scratch directory for generations; "" keeps them in memory
	genSize int

	mu       sync.Mutex // guards everything below
	window   time.Duration
	current  map[uint64]uint64  // hash -> packed position
	oldest   int64              // unix ms of the oldest event in current
	newest   int64              // unix ms of the newest event in current
	freezing []*frozenPart      // detached maps being frozen, oldest first; newer than gens
	gens     []*generation      // oldest first
	spans    []*span            // oldest first; the last takes new generations
	spillErr error              // the last generation file that failed; that generation stays in memory
	pending  map[uint64]*flight // hashes reserved by publishes in progress
	filling  *flight            // a wider window being filled from the log; reserves wait for it
	closed   bool               // dropped with its topic state: reserves fail with errIndexClosed
}

// errIndexClosed is a reserve in an index its topic state dropped (to be
// rebuilt, or with the topic): the publish starts over with the topic's
// state as it is now.
var errIndexClosed = errors.New("dedup index closed")

// frozenPart is a full map being frozen into a generation without mu held.
// Its entries are no longer written, so lookups read them meanwhile.
type frozenPart struct {
	entries map[uint64]uint64
	newest  int64
	path    string      // generation file, or "" to stay in memory
	span    *span       // the span it joins
	gen     *generation // set once built; installed in order
}

// span is a run of consecutive generations under one Bloom filter. Its
// filter's bits are set (atomically) while the generations are built,
// outside mu, and read by lookups meanwhile; a lookup that misses a bit
// being set still finds the hash in the map being frozen.
type span struct {
	bloom   []uint64 // blocked Bloom filter sized for capacity events
	cap     int
	n       int           // events of the generations given to it
	opened  int64         // unix ms of its first generation's oldest event
	gens    []*generation // installed, oldest first
	pending int           // generations given to it and not yet installed
}

// spanFor returns the span a detached map of n events, the oldest at
// oldest, joins: the newest span, unless it is full or an eighth of the
// window old; a new span is sized for twice the events of the last one,
// so that a steady rate fills about half of it. Called with mu held.
func (d *dedupIndex) spanFor(n int, oldest int64) *span {
	last := (*span)(nil)
	if len(d.spans) > 0 {
		last = d.spans[len(d.spans)-1]
		if last.n+n <= last.cap && oldest-last.opened < (d.window/8).Milliseconds() {
			return last
		}
	}
	capacity := 2 * n
	if last != nil {
		capacity = max(capacity, 2*last.n)
	}
	s := &span{bloom: newBloom(capacity), cap: capacity, opened: oldest}
	d.spans = append(d.spans, s)
	return s
}

// genFiles numbers generation files, their names. It is shared by every
// index so that an index replacing another of the same topic (the topic
// deleted and created again) never opens a file the old one still writes
// or removes. Names do not hold the topic: one of 249 characters would
// make them longer than a file system allows.
var genFiles atomic.Int64

// defaultGenSize bounds the in-memory part of a dedup index.
var defaultGenSize = 1 << 18 // a variable so tests can use small generations

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

func newDedupIndex(window time.Duration, dir string) *dedupIndex {
	return &dedupIndex{seed: maphash.MakeSeed(), dir: dir, genSize: defaultGenSize,
		window: window, current: map[uint64]uint64{}, pending: map[uint64]*flight{}}
}

func (d *dedupIndex) hash(source, id string) uint64 {
	var h maphash.Hash
	h.SetSeed(d.seed)
	h.WriteString(source)
	h.WriteByte(0)
	h.WriteString(id)
	return h.Sum64()
}

// setWindow sets the window; turned off, the index forgets everything.
func (d *dedupIndex) setWindow(w time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.setWindowLocked(w)
}

func (d *dedupIndex) setWindowLocked(w time.Duration) {
	d.window = w
	if w <= 0 {
		d.dropLocked()
	}
}

// widen sets the window. When it is wider than before, it returns a flight
// that holds every reserve until endFill, for the caller to remember the
// events the narrower window let go, and that window (kept).
func (d *dedupIndex) widen(w time.Duration) (f *flight, kept time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	kept = d.window
	d.setWindowLocked(w)
	if w <= kept {
		return nil, kept
	}
	d.filling = newFlight()
	return d.filling, kept
}

// endFill ends a fill that widen started and wakes the reserves it held.
func (d *dedupIndex) endFill(f *flight) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.filling == f {
		d.filling = nil
	}
	close(f.done)
}

// expire drops generations whose newest event is older than the window,
// and detaches the current map once its oldest event is a quarter window
// old. It returns the detached map for build.
func (d *dedupIndex) expire(now time.Time) *frozenPart {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.window <= 0 {
		return nil
	}
	cutoff := now.Add(-d.window).UnixMilli()
	for len(d.gens) > 0 && d.gens[0].newest < cutoff {
		g := d.gens[0]
		g.drop()
		d.gens = d.gens[1:]
		g.span.gens = g.span.gens[1:] // the span's oldest too: both are in install order
	}
	for len(d.spans) > 1 && len(d.spans[0].gens) == 0 && d.spans[0].pending == 0 {
		d.spans = d.spans[1:]
	}
	if len(d.current) == 0 {
		return nil
	}
	if d.newest < cutoff {
		d.current = map[uint64]uint64{}
		return nil
	}
	if now.UnixMilli()-d.oldest >= (d.window / 4).Milliseconds() {
		return d.detach()
	}
	return nil
}

// detach moves the current map to freezing and returns it; the caller
// builds it with build once mu is released. Called with mu held.
func (d *dedupIndex) detach() *frozenPart {
	part := &frozenPart{entries: d.current, newest: d.newest, span: d.spanFor(len(d.current), d.oldest)}
	part.span.n += len(d.current)
	part.span.pending++
	if d.dir != "" {
		part.path = filepath.Join(d.dir, fmt.Sprintf("%d.dedup", genFiles.Add(1)))
	}
	d.freezing = append(d.freezing, part)
	d.current = make(map[uint64]uint64, len(d.current))
	return part
}

// build freezes detached maps into generations without mu held and
// installs them. Nil parts are skipped.
func (d *dedupIndex) build(parts ...*frozenPart) {
	for _, part := range parts {
		if part != nil {
			g, err := freeze(part.entries, part.newest, part.path, part.span.bloom)
			d.install(part, g, err)
		}
	}
}

// install makes built generations lookups' own, oldest first, so that
// gens stays in freezing order when builds finish out of order.
func (d *dedupIndex) install(part *frozenPart, g *generation, spillErr error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if spillErr != nil {
		d.spillErr = spillErr
	}
	if !slices.Contains(d.freezing, part) { // closed meanwhile
		g.drop()
		return
	}
	part.gen = g
	for len(d.freezing) > 0 && d.freezing[0].gen != nil {
		done := d.freezing[0]
		done.gen.span = done.span
		done.span.gens = append(done.span.gens, done.gen)
		done.span.pending--
		d.gens = append(d.gens, done.gen)
		d.freezing = d.freezing[1:]
	}
}

// lookup finds a candidate position for h: in the current map, in the
// maps being frozen, then in the generations, newest first. Called with mu
// held.
func (d *dedupIndex) lookup(h uint64) (uint64, bool, error) {
	if v, ok := d.current[h]; ok {
		return v, true, nil
	}
	for i := len(d.freezing) - 1; i >= 0; i-- {
		if v, ok := d.freezing[i].entries[h]; ok {
			return v, true, nil
		}
	}
	for i := len(d.spans) - 1; i >= 0; i-- {
		s := d.spans[i]
		if !spanHas(s.bloom, h) {
			continue
		}
		for j := len(s.gens) - 1; j >= 0; j-- {
			if v, ok, err := s.gens[j].lookup(h); ok || err != nil {
				return v, ok, err
			}
		}
	}
	return 0, false, nil
}

// candidate returns the position lookup finds for h, if any; an index that
// cannot read a generation finds none.
func (d *dedupIndex) candidate(h uint64) (position, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok, err := d.lookup(h)
	if err != nil || !ok {
		return position{}, false
	}
	return unpack(v), true
}

// close drops every generation (the topic was deleted or forgotten);
// generations still being built are dropped when they are installed.
func (d *dedupIndex) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.dropLocked()
}

// dropLocked forgets every remembered event. Called with mu held.
func (d *dedupIndex) dropLocked() {
	for _, g := range d.gens {
		g.drop()
	}
	for _, part := range d.freezing {
		if part.gen != nil {
			part.gen.drop()
		}
	}
	d.gens, d.freezing, d.spans, d.current = nil, nil, nil, map[uint64]uint64{}
}

// reserve looks up hashes for a publish. It returns the candidates already
// stored, or, when another publish holds one of the hashes (or a wider
// window is being filled), that flight to wait for (reserving nothing, so
// two publishes never wait on each other).
// Otherwise every hash is reserved for f, found or not: a candidate may
// turn out not to be stored (gone by retention, or a collision), and
// publishes of one id must not store it side by side.
func (d *dedupIndex) reserve(hashes []uint64, f *flight, now time.Time) (map[uint64]position, *flight, error) {
	d.build(d.expire(now))
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.filling != nil {
		return nil, d.filling, nil
	}
	if d.closed {
		return nil, nil, errIndexClosed
	}
	if d.window <= 0 {
		return nil, nil, nil
	}
	for _, h := range hashes {
		if other, ok := d.pending[h]; ok && other != f {
			return nil, other, nil
		}
	}
	var found map[uint64]position
	for _, h := range hashes {
		v, ok, err := d.lookup(h)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			if found == nil {
				found = map[uint64]position{}
			}
			found[h] = unpack(v)
		}
	}
	for _, h := range hashes {
		if d.pending[h] != f {
			d.pending[h] = f
			f.reserved = append(f.reserved, h)
		}
	}
	return found, nil, nil
}

// add records stored positions and releases the hashes f reserved.
func (d *dedupIndex) add(hashes []uint64, pos []position, at time.Time, f *flight) {
	d.build(d.insert(hashes, pos, at.UnixMilli(), f)...)
}

// remember records a stored event while rebuilding.
func (d *dedupIndex) remember(h uint64, pos position, at int64) {
	d.build(d.insert([]uint64{h}, []position{pos}, at, nil)...)
}

// insert records stored positions and releases f's reservations (nil: a
// rebuild holds none). It returns the maps that filled up, for build.
func (d *dedupIndex) insert(hashes []uint64, pos []position, at int64, f *flight) []*frozenPart {
	d.mu.Lock()
	defer d.mu.Unlock()
	var full []*frozenPart
	if d.window > 0 && !d.closed {
		for i, h := range hashes {
			if part := d.rememberLocked(h, pos[i], at); part != nil {
				full = append(full, part)
			}
		}
	}
	if f != nil {
		d.releaseLocked(f)
	}
	return full
}

// rememberLocked records one event, first detaching the current map when
// it is full; it returns the detached map for build. Called with mu held.
func (d *dedupIndex) rememberLocked(h uint64, pos position, at int64) *frozenPart {
	var full *frozenPart
	if len(d.current) >= d.genSize {
		full = d.detach()
	}
	if len(d.current) == 0 || at < d.oldest {
		d.oldest = at
	}
	if len(d.current) == 0 || at > d.newest {
		d.newest = at
	}
	d.current[h] = pack(pos)
	return full
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
	n := len(d.current)
	for _, part := range d.freezing {
		n += len(part.entries)
	}
	for _, g := range d.gens {
		n += g.n
	}
	return n
}
