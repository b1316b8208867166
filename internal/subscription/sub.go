package subscription

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/storage"
)

// window bounds the pending events a subscription holds per partition,
// and windowBytes their data: it reads no more ahead once they hold that
// much (a read may add up to broker.MaxReadBytes past it), so that large
// events do not fill memory a thousand at a time.
const (
	window      = 1000
	windowBytes = 8 << 20
)

// sub is one subscription. Its mutex serializes every change; each change
// queues its state records while holding it, so they are appended in the
// order the changes happened, and waits for them after releasing it, so
// the fsync is shared with other consumers.
type sub struct {
	m     *Manager
	topic string
	name  string

	mu         sync.Mutex // guards everything below
	inc        uint64
	cfg        Config
	created    time.Time
	parts      map[int]*cursor   // by partition of the topic
	redrives   map[int]*cursor   // redriven dead letters, by partition of the dead-letter topic
	resolved   map[dlqPos]string // dead letters redriven and acked (their r record says done), with their ids
	audit      []AuditRecord
	auditKeys  []string // state keys of audit
	leaseSeq   uint64
	redriveSeq uint64 // the sequence number of the latest redriven event (eventRecord.Seq)
	// nextExpiry is no later than the earliest lease deadline; expire
	// scans nothing before it.
	nextExpiry time.Time

	pendingRedrives []pendingRedrive // read from the state topic, loaded after replay
	deleted         bool
	changed         chan struct{} // closed and replaced when an ack or nack may free events
	counts          Counts        // since the Manager opened (Stats)
}

// Delivery is one event handed to a consumer.
type Delivery struct {
	AckID   string       `json:"ackId"`
	Attempt int          `json:"attempt"`
	Event   *event.Event `json:"event"`
}

func (s *sub) ackID(c *cursor, e *entry) string {
	b := make([]byte, 0, 32)
	b = strconv.AppendUint(b, s.inc, 36)
	b = strconv.AppendInt(append(b, '.'), int64(c.p), 10)
	b = strconv.AppendInt(append(b, '.'), e.off, 36)
	b = strconv.AppendUint(append(b, '.'), e.lease, 36)
	return string(b)
}

// parseAckID returns the parts of an ack id, ok false if it is malformed.
func parseAckID(id string) (inc uint64, p int, off int64, lease uint64, ok bool) {
	var f [4]string
	rest := id
	for i := range f {
		var found bool
		f[i], rest, found = strings.Cut(rest, ".")
		if found != (i < 3) {
			return 0, 0, 0, 0, false // fewer or more than four fields
		}
	}
	var err [4]error
	inc, err[0] = strconv.ParseUint(f[0], 36, 64)
	p64, e1 := strconv.ParseInt(f[1], 10, 32)
	err[1] = e1
	off, err[2] = strconv.ParseInt(f[2], 36, 64)
	lease, err[3] = strconv.ParseUint(f[3], 36, 64)
	for _, e := range err {
		if e != nil {
			return 0, 0, 0, 0, false
		}
	}
	return inc, int(p64), off, lease, true
}

// refill reads more events into every cursor with room in its window.
// Events the filter does not take are done at once. A partition the topic
// gained after the subscription was made is read from its start.
func (s *sub) refill(ctx context.Context) error {
	t, err := s.m.broker.Topic(ctx, s.topic)
	if err != nil {
		return err
	}
	// Every partition, not only those past len(s.parts): a seek or a
	// restart can know a later one first.
	for p := 0; len(s.parts) < t.Partitions && p < t.Partitions; p++ {
		if s.parts[p] == nil {
			first, _, err := s.m.broker.Offsets(ctx, s.topic, p)
			if err != nil {
				return err
			}
			s.parts[p] = newCursor(p, first)
			s.parts[p].unsaved = true
		}
	}
	for _, c := range s.parts {
		if len(c.entries) > window/2 {
			continue // read in large steps, not a few events per pull
		}
		if c.held > windowBytes/2 {
			continue
		}
		for len(c.entries) < window && c.held < windowBytes {
			evs, err := s.m.broker.Read(ctx, s.topic, c.p, c.fetched, window-len(c.entries))
			if errors.Is(err, storage.ErrOffsetOutOfRange) && s.skipToStart(ctx, c) {
				continue // retention removed events this subscription had not finished
			}
			if err != nil {
				return fmt.Errorf("read topic %s partition %d at %d: %w", s.topic, c.p, c.fetched, err)
			}
			if len(evs) == 0 {
				break
			}
			for _, ev := range evs {
				if s.cfg.Filter.match(ev) && !c.isRestoredDone(ev.Offset) {
					c.add(&entry{off: ev.Offset, key: s.orderingKey(ev), ev: ev, due: deliverAfter(ev)})
				}
				c.fetched = ev.Offset + 1
			}
			c.advance()
		}
	}
	return nil
}

// ExtDeliverAfter is the extension attribute that delays an event: it is
// stored at once and delivered no earlier than this RFC 3339 time. The
// time is part of the event, so the delay survives restarts.
const ExtDeliverAfter = "deliverafter"

// deliverAfter returns an event's delivery time, zero if it has none (or
// one that does not parse: the event is delivered at once).
func deliverAfter(ev *event.Event) time.Time {
	s, ok := ev.Extensions[ExtDeliverAfter]
	if !ok {
		return time.Time{}
	}
	t, err := event.ParseTime(s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// skipToStart moves a cursor whose next read was removed by retention to
// the first offset still in the log, dropping what is gone. It reports
// whether it moved.
func (s *sub) skipToStart(ctx context.Context, c *cursor) bool {
	first, _, err := s.m.broker.Offsets(ctx, s.topic, c.p)
	if err != nil || first <= c.fetched {
		return false
	}
	for _, e := range c.entries {
		if e.off < first {
			c.done(e)
		}
	}
	c.fetched = first
	c.advance()
	return true
}

// orderingKey is what an event waits behind: nothing (a key of its own)
// in mode none, and in mode key when it has no partition key (keyless
// events were spread over the partitions in no order, so there is none to
// keep among them), every event of the partition in mode partition, and
// the events of its partition key otherwise.
func (s *sub) orderingKey(ev *event.Event) string {
	switch {
	case s.cfg.Ordering == OrderPartition:
		return ""
	case s.cfg.Ordering == OrderNone || ev.PartitionKey == "":
		return "#" + strconv.FormatInt(ev.Offset, 10)
	}
	return "k" + ev.PartitionKey
}

// pull picks up to max deliverable events, oldest first across
// partitions, and queues the state a crash must not forget (attempt
// counts, the delivered watermark). The caller must wait for the returned
// write before it hands the deliveries out. Called with s.mu held.
func (s *sub) pull(ctx context.Context, max int) ([]Delivery, *pendingWrite, error) {
	now := s.m.now()
	if err := s.expire(ctx, now); err != nil {
		return nil, nil, err
	}
	if err := s.refill(ctx); err != nil {
		return nil, nil, err
	}
	var picks []pick
	var b batch
	var picked map[*entry]bool // those picks, once the merge runs again
	// A dead letter frees the next event of its key: look again then. (A
	// dead letter that cannot be stored is not deliverable now.)
	for again := true; again && len(picks) < max; {
		if again && len(picks) > 0 {
			picked = make(map[*entry]bool, len(picks))
			for _, pk := range picks {
				picked[pk.e] = true
			}
		}
		again = false
		for _, pk := range s.deliverable(max, now) {
			if len(picks) == max {
				break
			}
			c, e := pk.c, pk.e
			if picked[e] {
				continue
			}
			if e.attempts >= s.cfg.MaxAttempts {
				// Out of attempts but not failed: its last delivery was lost
				// in a restart (the consumer, or Herald with it, crashed).
				if e.reason == "" {
					e.reason = fmt.Sprintf("delivered %d times without an acknowledgement or a nack (the consumer or Herald restarted)", e.attempts)
				}
				if err := s.deadLetter(ctx, c, e, now, &b); err != nil {
					return nil, nil, err
				}
				s.recordCursors(map[*cursor]bool{c: true}, &b)
				again = true
				continue
			}
			picks = append(picks, pk)
		}
	}
	if len(picks) == 0 {
		return nil, s.m.state.enqueue(&b), nil
	}
	touched := map[*cursor]bool{}
	for _, pk := range picks {
		pk.e.attempts++
		touched[pk.c] = true
	}
	for c := range touched {
		if c.isRedrive() {
			continue
		}
		// Never back: a released event below it has its own record. A
		// cursor without a record gets one, or a restart would drop the
		// attempt records of its partition.
		if d := c.firstUndelivered(); d > c.delivered || c.unsaved {
			if d > c.delivered {
				c.delivered = d
			}
			b.Put(cursorKey(s.topic, s.name, c.p), s.cursorRecord(c))
		}
	}
	// The delivered watermark accounts for one attempt of each event below
	// it; anything else (a retry, or a first delivery above the watermark,
	// which key ordering allows) needs its own record.
	for _, pk := range picks {
		if pk.c.isRedrive() || pk.e.attempts >= 2 || pk.e.off >= pk.c.delivered || pk.c.recorded[pk.e.off] {
			b.Put(s.recordKey(pk.c, pk.e.off), s.eventRecord(pk.e))
			pk.c.recorded[pk.e.off] = true
		}
	}
	pw := s.m.state.enqueue(&b)
	out := make([]Delivery, len(picks))
	for i, pk := range picks {
		s.leaseSeq++
		pk.e.leased, pk.e.lease, pk.e.due = true, s.leaseSeq, now.Add(s.cfg.AckTimeout)
		if s.nextExpiry.IsZero() || pk.e.due.Before(s.nextExpiry) {
			s.nextExpiry = pk.e.due
		}
		out[i] = Delivery{AckID: s.ackID(pk.c, pk.e), Attempt: pk.e.attempts, Event: pk.e.ev}
		if pk.e.attempts > 1 {
			s.counts.Redelivered++
		}
	}
	s.counts.Delivered += uint64(len(out))
	return out, pw, nil
}

// pick is a deliverable event and its cursor.
type pick struct {
	c *cursor
	e *entry
}

// deliverable returns up to n events that ordering allows out now,
// oldest first across partitions and redriven dead letters (by the time
// they were stored): a partition with a backlog that keeps growing must
// not hold back the others. A cursor's heads are the first pending event
// of each key (in mode none every event is its own key), so reordering
// them keeps every order promised. They are in the order they were
// stored, so it merges them, reading no more of each than it takes: a
// pull costs its deliveries times the log of the partitions, not times
// the partitions.
func (s *sub) deliverable(n int, now time.Time) []pick {
	cs := s.allCursors()
	m := &headMerge{cs: cs, next: make([]*entry, len(cs)), at: make([]int, len(cs))}
	for i := range cs {
		if m.advance(i, now) {
			m.h = append(m.h, i)
		}
	}
	heap.Init(m)
	var ps []pick
	for len(ps) < n && m.Len() > 0 {
		i := m.h[0]
		ps = append(ps, pick{cs[i], m.next[i]})
		if m.advance(i, now) {
			heap.Fix(m, 0)
		} else {
			heap.Pop(m)
		}
	}
	return ps
}

// headMerge merges the deliverable heads of cursors, oldest first: a
// min-heap of the cursors that have one left (by the time it was stored,
// then by cursor order).
type headMerge struct {
	cs   []*cursor
	next []*entry // each cursor's next deliverable head
	at   []int    // where in its heads each cursor goes on
	h    []int    // the heap: indexes of cursors with a next head
}

// advance moves cursor i to its next deliverable head; false when it has
// none left.
func (m *headMerge) advance(i int, now time.Time) bool {
	c := m.cs[i]
	for m.at[i] < len(c.heads) {
		e := c.entries[c.heads[m.at[i]]]
		m.at[i]++
		if e.deliverable(now) {
			m.next[i] = e
			return true
		}
	}
	m.next[i] = nil
	return false
}

func (m *headMerge) Len() int { return len(m.h) }
func (m *headMerge) Less(a, b int) bool {
	x, y := m.next[m.h[a]], m.next[m.h[b]]
	if c := x.ev.StoredAt.Compare(y.ev.StoredAt); c != 0 {
		return c < 0
	}
	return m.h[a] < m.h[b]
}
func (m *headMerge) Swap(a, b int) { m.h[a], m.h[b] = m.h[b], m.h[a] }
func (m *headMerge) Push(x any)    { m.h = append(m.h, x.(int)) }
func (m *headMerge) Pop() any {
	x := m.h[len(m.h)-1]
	m.h = m.h[:len(m.h)-1]
	return x
}

// cursorRecord is the record of a cursor, which the caller puts in a
// batch: the cursor has a record from then on.
func (s *sub) cursorRecord(c *cursor) cursorRecord {
	c.unsaved = false
	return cursorRecord{Inc: s.inc, Committed: c.committed, Delivered: c.delivered, Dead: c.dead}
}

// eventRecord is what a pending event's record says of it (its retry time
// aside).
func (s *sub) eventRecord(e *entry) eventRecord {
	return eventRecord{Inc: s.inc, Attempts: e.attempts, Reason: e.reason, Seq: e.seq, ID: e.dlqID}
}

// recordKey is the state key of a pending event's record.
func (s *sub) recordKey(c *cursor, off int64) string {
	if c.isRedrive() {
		return redriveKey(s.topic, s.name, -c.p-1, off)
	}
	return eventKey(s.topic, s.name, c.p, off)
}

// allCursors returns the partitions' cursors, then the redrive cursors.
func (s *sub) allCursors() []*cursor {
	cs := s.sortedParts()
	dps := make([]int, 0, len(s.redrives))
	for dp := range s.redrives {
		dps = append(dps, dp)
	}
	sort.Ints(dps)
	for _, dp := range dps {
		cs = append(cs, s.redrives[dp])
	}
	return cs
}

func (s *sub) sortedParts() []*cursor {
	cs := make([]*cursor, 0, len(s.parts))
	for p := 0; len(cs) < len(s.parts); p++ {
		if c, ok := s.parts[p]; ok {
			cs = append(cs, c)
		}
	}
	return cs
}

// AckResult says which ack ids took effect.
type AckResult struct {
	Acked   []string `json:"acked"`
	Stale   []string `json:"stale,omitempty"`   // the lease ended (expired, or the event was redelivered or finished)
	Unknown []string `json:"unknown,omitempty"` // not an ack id of this subscription
}

// lookup resolves an ack id to a leased entry, sorting it into the result
// when it cannot take effect.
func (s *sub) lookup(id string, res *AckResult) (*cursor, *entry) {
	inc, p, off, lease, ok := parseAckID(id)
	c := s.parts[p]
	if p < 0 {
		c = s.redrives[-p-1]
	}
	// A redrive cursor is made again after a restart only for dead
	// letters still being redriven: without one, the id is of a redriven
	// delivery that is over.
	if !ok || inc != s.inc || c == nil && p >= 0 {
		res.Unknown = append(res.Unknown, id)
		return nil, nil
	}
	var e *entry
	if c != nil {
		e = c.entries[off]
	}
	if e == nil || !e.leased || e.lease != lease {
		res.Stale = append(res.Stale, id)
		return nil, nil
	}
	return c, e
}

// ack finishes leased events and queues the state that records it; the
// caller replies only once that write is durable, so an acked event is
// never delivered again, even after a crash. Called with s.mu held.
func (s *sub) ack(ctx context.Context, ids []string) (AckResult, *pendingWrite, error) {
	return s.settle(ctx, ids, &s.counts.Acked, func(c *cursor, e *entry, _ time.Time, b *batch) error {
		if !c.isRedrive() {
			s.finish(c, e, b)
			return nil
		}
		// A redriven event acked is resolved: its record stays, marked
		// done, so that redriving "all" leaves it out from now on.
		c.done(e)
		delete(c.recorded, e.off)
		pos := dlqPos{-c.p - 1, e.off}
		b.Put(redriveKey(s.topic, s.name, pos.dp, pos.doff), eventRecord{Inc: s.inc, Done: true, ID: e.dlqID})
		s.resolved[pos] = e.dlqID
		return nil
	})
}

// settle applies act to the leased event of each ack id, then records the
// cursors it touched and queues the state; the caller waits for the
// returned write before it answers. Ids that cannot take effect are sorted
// into the result; count (nil: none) adds those that took effect. Called
// with s.mu held.
func (s *sub) settle(ctx context.Context, ids []string, count *uint64, act func(c *cursor, e *entry, now time.Time, b *batch) error) (AckResult, *pendingWrite, error) {
	var res AckResult
	now := s.m.now()
	if err := s.expire(ctx, now); err != nil {
		return res, nil, err
	}
	var b batch
	touched := map[*cursor]bool{}
	for _, id := range ids {
		c, e := s.lookup(id, &res)
		if e == nil {
			continue
		}
		if err := act(c, e, now, &b); err != nil {
			return AckResult{}, s.m.state.enqueue(&b), err
		}
		touched[c] = true
		res.Acked = append(res.Acked, id)
	}
	s.recordCursors(touched, &b)
	s.signal()
	if count != nil {
		*count += uint64(len(res.Acked))
	}
	return res, s.m.state.enqueue(&b), nil
}

// finish marks an event done and records what a restart needs: nothing if
// committed passes it, a done record if it was acked out of order.
func (s *sub) finish(c *cursor, e *entry, b *batch) {
	c.done(e)
	if c.isRedrive() {
		b.Delete(s.recordKey(c, e.off))
		delete(c.recorded, e.off)
		return
	}
	if e.off >= c.committed {
		c.pendingDone = append(c.pendingDone, e.off) // recorded in one done set per call (recordCursors)
	}
	if c.recorded[e.off] { // its attempts record is over
		b.Delete(eventKey(s.topic, s.name, c.p, e.off))
		delete(c.recorded, e.off)
	}
}

// recordCursors writes the cursors that moved and deletes event records
// that committed has passed.
func (s *sub) recordCursors(touched map[*cursor]bool, b *batch) {
	for c := range touched {
		if c.isRedrive() {
			continue
		}
		s.recordDoneSet(c, b)
		s.mergeDoneSets(c, b)
		b.Put(cursorKey(s.topic, s.name, c.p), s.cursorRecord(c))
		// Records fall behind committed only when it moves: while it stays
		// (an event held back at the head), every call skips the scans.
		if c.committed == c.swept {
			continue
		}
		c.swept = c.committed
		for off := range c.recorded {
			if off < c.committed {
				b.Delete(eventKey(s.topic, s.name, c.p, off))
				delete(c.recorded, off)
			}
		}
		for low, high := range c.doneSets {
			if high < c.committed {
				b.Delete(doneKey(s.topic, s.name, c.p, low))
				delete(c.doneSets, low)
			}
		}
	}
}

// recordDoneSet writes the offsets acked out of order by this call, still
// past committed, as one record keyed by the lowest (an offset is done only
// once, so the key is new).
func (s *sub) recordDoneSet(c *cursor, b *batch) {
	offs := c.pendingDone[:0]
	for _, off := range c.pendingDone {
		if off >= c.committed {
			offs = append(offs, off)
		}
	}
	c.pendingDone = c.pendingDone[:0]
	if len(offs) == 0 {
		return
	}
	slices.Sort(offs)
	b.Put(doneKey(s.topic, s.name, c.p, offs[0]), doneRecord{Inc: s.inc, Offsets: offs})
	c.doneSets[offs[0]] = offs[len(offs)-1]
}

// nack gives leased events back for redelivery after delay (or the
// backoff), or dead-letters those out of attempts.
func (s *sub) nack(ctx context.Context, ids []string, delay time.Duration, reason string) (AckResult, *pendingWrite, error) {
	return s.settle(ctx, ids, &s.counts.Nacked, func(c *cursor, e *entry, now time.Time, b *batch) error {
		return s.fail(ctx, c, e, now, delay, reason, b)
	})
}

// release gives leased events back unhandled (their consumer stopped
// before it started them): they are deliverable at once, and the delivery
// does not count as an attempt. Called with s.mu held.
func (s *sub) release(ctx context.Context, ids []string) (AckResult, *pendingWrite, error) {
	return s.settle(ctx, ids, &s.counts.Released, func(c *cursor, e *entry, now time.Time, b *batch) error {
		e.leased, e.due = false, now
		e.attempts = max(e.attempts-1, 0)
		b.Put(s.recordKey(c, e.off), s.eventRecord(e))
		c.recorded[e.off] = true
		return nil
	})
}

// reject dead-letters leased events now. Called with s.mu held.
func (s *sub) reject(ctx context.Context, ids []string, reason string) (AckResult, *pendingWrite, error) {
	return s.settle(ctx, ids, &s.counts.Nacked, func(c *cursor, e *entry, now time.Time, b *batch) error {
		e.leased, e.reason = false, limitReason(reason)
		return s.deadLetter(ctx, c, e, now, b)
	})
}

// fail ends a delivery that did not succeed (a nack or an expired lease).
func (s *sub) fail(ctx context.Context, c *cursor, e *entry, now time.Time, delay time.Duration, reason string, b *batch) error {
	e.leased, e.reason = false, limitReason(reason)
	if e.attempts >= s.cfg.MaxAttempts {
		return s.deadLetter(ctx, c, e, now, b)
	}
	if delay <= 0 {
		delay = s.cfg.Backoff.delay(e.attempts, s.m.jitter())
	}
	e.due = now.Add(delay)
	rec := s.eventRecord(e)
	rec.RetryAt = e.due.UnixMilli()
	b.Put(s.recordKey(c, e.off), rec)
	c.recorded[e.off] = true
	return nil
}

// expire fails every lease past its deadline.
func (s *sub) expire(ctx context.Context, now time.Time) error {
	if s.nextExpiry.IsZero() || now.Before(s.nextExpiry) {
		return nil
	}
	s.nextExpiry = time.Time{}
	var b batch
	touched := map[*cursor]bool{}
	for _, c := range s.allCursors() {
		for _, e := range c.entries {
			if e.leased && e.due.After(now) && (s.nextExpiry.IsZero() || e.due.Before(s.nextExpiry)) {
				s.nextExpiry = e.due
			}
			if e.leased && !e.due.After(now) {
				reason := fmt.Sprintf("not acknowledged within the ack timeout (%s)", s.cfg.AckTimeout)
				if err := s.fail(ctx, c, e, now, 0, reason, &b); err != nil {
					return err
				}
				s.counts.Expired++
				touched[c] = true
			}
		}
	}
	if len(touched) == 0 {
		return nil
	}
	s.recordCursors(touched, &b)
	s.m.state.enqueue(&b) // whoever replies next waits behind it; a failure is sticky
	return nil
}

// extend moves the lease deadline of leased events to now+d.
func (s *sub) extend(ids []string, d time.Duration) AckResult {
	var res AckResult
	if d <= 0 {
		d = s.cfg.AckTimeout
	}
	now := s.m.now()
	for _, id := range ids {
		_, e := s.lookup(id, &res)
		if e == nil {
			continue
		}
		e.due = now.Add(d)
		if s.nextExpiry.IsZero() || e.due.Before(s.nextExpiry) {
			s.nextExpiry = e.due // a shorter lease must still expire on time
		}
		res.Acked = append(res.Acked, id)
	}
	return res
}

// signal wakes long polls: an ack or nack may have freed a key.
func (s *sub) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}
