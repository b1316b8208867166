package subscription

import (
	"slices"
	"time"

	"github.com/heraldevents/herald/event"
)

// cursor is a subscription's position in one partition: everything below
// committed is done; [committed, fetched) are read from the log and, unless
// done, held in entries.
type cursor struct {
	p         int
	committed int64
	fetched   int64
	delivered int64 // every offset in [committed, delivered) was delivered at least once (as persisted)
	dead      int64 // events dead-lettered so far
	// unsaved: made for a partition the topic gained, with no cursor
	// record yet; a restart would drop its event records without one.
	unsaved bool

	entries  map[int64]*entry   // pending (not done) events by offset
	held     int                // bytes of data of entries (see windowBytes)
	order    []int64            // offsets of pending events, ascending; done ones are removed lazily
	keys     map[string][]int64 // pending offsets per ordering key, ascending
	heads    []int64            // the first pending offset of every key, ascending
	restored map[int64]eventRecord
	recorded map[int64]bool // offsets with an event record in the state log

	pendingDone  []int64         // acked out of order in the current call, not yet in a done set
	swept        int64           // committed when recordCursors last dropped the records it passed; -1 never
	doneSets     map[int64]int64 // done-set records in the state log: lowest offset -> highest
	restoredSets map[int64][]run // done sets read back at start, by lowest offset
	restoredRuns []run           // what the done sets mark done, not yet read back; sorted
}

// entry is one pending event of a cursor.
type entry struct {
	off      int64
	key      string // ordering key: the partition key, "" for all (partition mode), or unique (none)
	ev       *event.Event
	attempts int       // deliveries so far
	leased   bool      // handed out and not yet acked, nacked or expired
	lease    uint64    // identifies the current lease in ack ids
	due      time.Time // leased: lease expiry; otherwise not deliverable before
	reason   string    // why the last delivery failed
	dlqID    string    // a redriven event: the dead letter's id
	seq      uint64    // a redriven event: its place in the order of redrives
}

func newCursor(p int, committed int64) *cursor {
	return &cursor{p: p, committed: committed, fetched: committed, delivered: committed, swept: -1,
		entries: map[int64]*entry{}, keys: map[string][]int64{},
		restored: map[int64]eventRecord{}, recorded: map[int64]bool{},
		doneSets: map[int64]int64{}, restoredSets: map[int64][]run{}}
}

// add takes a pending event read from the log.
func (c *cursor) add(e *entry) {
	r, recorded := c.restored[e.off]
	if recorded {
		e.attempts, e.reason = r.Attempts, r.Reason // zero after a release
		if t := time.UnixMilli(r.RetryAt); r.RetryAt > 0 && t.After(e.due) {
			e.due = t
		}
		delete(c.restored, e.off)
	}
	if !recorded && e.off < c.delivered {
		e.attempts = 1 // delivered before a restart, without an event record
	}
	c.entries[e.off] = e
	c.held += len(e.ev.Data)
	c.order = append(c.order, e.off)
	c.push(e)
}

// push queues a pending event behind its key; the first of a key is a head.
func (c *cursor) push(e *entry) {
	if len(c.keys[e.key]) == 0 {
		c.insertHead(e.off)
	}
	c.keys[e.key] = append(c.keys[e.key], e.off)
}

func (c *cursor) insertHead(off int64) {
	i, _ := slices.BinarySearch(c.heads, off)
	c.heads = slices.Insert(c.heads, i, off)
}

func (c *cursor) removeHead(off int64) {
	if i, ok := slices.BinarySearch(c.heads, off); ok {
		c.heads = slices.Delete(c.heads, i, i+1)
	}
}

// deliverable reports whether e may be handed out at now.
func (e *entry) deliverable(now time.Time) bool {
	return !e.leased && !e.due.After(now)
}

// done removes a pending event (acked or dead-lettered) and advances
// committed past every done offset. It reports whether committed moved.
func (c *cursor) done(e *entry) bool {
	delete(c.entries, e.off)
	c.held -= len(e.ev.Data)
	q := c.keys[e.key]
	if i := slices.Index(q, e.off); i >= 0 {
		q = slices.Delete(q, i, i+1)
		if i == 0 {
			c.removeHead(e.off)
			if len(q) > 0 {
				c.insertHead(q[0])
			}
		}
	}
	if len(q) == 0 {
		delete(c.keys, e.key)
	} else {
		c.keys[e.key] = q
	}
	return c.advance()
}

func (c *cursor) advance() bool {
	for len(c.order) > 0 && c.entries[c.order[0]] == nil {
		c.order = c.order[1:]
	}
	// Done offsets behind a pending one stay in order until it finishes;
	// behind an event held back for long (a timeout a day ahead) they pile
	// up, and every scan of order would pay for them. Dropped in one pass
	// when they outnumber the pending ones, which costs O(1) per event.
	if len(c.order) > 2*len(c.entries)+64 {
		c.order = slices.DeleteFunc(c.order, func(off int64) bool { return c.entries[off] == nil })
	}
	next := c.fetched
	if len(c.order) > 0 {
		next = c.order[0]
	}
	moved := next != c.committed
	c.committed = next
	if c.delivered < c.committed {
		c.delivered = c.committed
	}
	return moved
}

// firstUndelivered is the lowest pending offset never delivered, or
// fetched: the delivered watermark to persist.
func (c *cursor) firstUndelivered() int64 {
	for _, off := range c.order {
		if e := c.entries[off]; e != nil && e.attempts == 0 {
			return off
		}
	}
	return c.fetched
}

// nextDue is the earliest time a pending event becomes deliverable or its
// lease expires, or zero. Only heads can become deliverable, and only
// heads are leased.
func (c *cursor) nextDue() time.Time {
	var t time.Time
	for _, off := range c.heads {
		e := c.entries[off]
		if !e.due.IsZero() && (t.IsZero() || e.due.Before(t)) {
			t = e.due
		}
	}
	return t
}
