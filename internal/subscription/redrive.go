package subscription

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/storage"
)

// Redrive sends dead letters back to the subscription they died in, and to
// no other: they go into a redrive cursor of that subscription (one per
// dead-letter partition), not back into the topic. Each redriven event is
// remembered by a state record
//
//	r/<topic>/<sub>/<dlq partition>/<dlq offset>   attempts, retry time, reason
//
// until it is acked or dies again, and each redrive leaves an audit record
//
//	a/<topic>/<sub>/<unix nanos>                   who, when, which events
//
// Redriven events start again at attempt 1. The events of a key come in
// the order they were redriven (by one call, in dead-letter order), across
// restarts too; they are not ordered relative to newer events of the topic.
//
// A redriven event that is acked is resolved: its r record stays, marked
// done, so redriving "all" does not send it again (the dead letter itself
// stays in the dead-letter topic, which is an ordinary log). One that dies
// again loses its r record and is a dead letter like any other. Naming a
// resolved dead letter by id redrives it again.

func redriveKey(topic, sub string, dp int, doff int64) string {
	return "r/" + topic + "/" + sub + "/" + strconv.Itoa(dp) + "/" + strconv.FormatInt(doff, 10)
}

// auditKey is unique per record: the time and a sequence number.
func auditKey(topic, sub string, at time.Time, seq int) string {
	return "a/" + topic + "/" + sub + "/" + strconv.FormatInt(at.UnixNano(), 10) + "." + strconv.Itoa(seq)
}

// DeadLetter is a dead letter of a subscription, where it is stored in the
// dead-letter topic, and whether it is being redriven now.
type DeadLetter struct {
	Partition int          `json:"partition"`
	Offset    int64        `json:"offset"`
	Redriving bool         `json:"redriving"`
	Resolved  bool         `json:"resolved"` // redriven and acked
	Event     *event.Event `json:"event"`
}

// dlqPos is where a dead letter is: its dead-letter partition and offset.
type dlqPos struct {
	dp   int
	doff int64
}

// AuditRecord says who redrove what and when.
type AuditRecord struct {
	Inc   uint64    `json:"inc,omitempty"` // the subscription's incarnation
	Actor string    `json:"actor"`
	At    time.Time `json:"at"`
	All   bool      `json:"all,omitempty"`
	IDs   []string  `json:"ids"`
	Count int       `json:"count"`
}

// RedriveRequest selects dead letters: all of them, or those of the given
// event ids. Actor is who asks (it goes to the audit record).
type RedriveRequest struct {
	All   bool     `json:"all,omitempty"`
	IDs   []string `json:"ids,omitempty"`
	Actor string   `json:"actor,omitempty"`
}

// RedriveResult counts what a redrive did.
type RedriveResult struct {
	Redriven int      `json:"redriven"`
	Already  int      `json:"alreadyRedriving"`
	Resolved int      `json:"alreadyResolved"` // left out of "all": redriven and acked before
	NotFound []string `json:"notFound,omitempty"`
}

// isRedrive reports whether a cursor holds redriven events; its p is
// -(dead-letter partition + 1), which is what ack ids carry.
func (c *cursor) isRedrive() bool { return c.p < 0 }

func redriveP(dp int) int { return -dp - 1 }

// DeadLetters lists a subscription's dead letters, at most limit, and
// fewer once they hold maxListBytes of data (at least one): partition by
// partition of the dead-letter topic, in offset order within each. With
// an id, only the dead letters of that event (its own id, or a dead
// letter's) are listed.
func (m *Manager) DeadLetters(ctx context.Context, topic, name, id string, limit int) ([]DeadLetter, error) {
	s, err := m.get(ctx, topic, name)
	if err != nil {
		return nil, err
	}
	scan, err := s.scanDeadLetters(ctx, id, limit, maxListBytes)
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return scan.dls, nil
}

// maxListBytes bounds the data of the dead letters one listing returns,
// as broker.MaxReadBytes bounds a read of the log.
const maxListBytes = broker.MaxReadBytes

// dlqScan is what a scan of the dead-letter topic found.
type dlqScan struct {
	id  string       // only the dead letters of this event (its own id or a dead letter's); "": all
	dls []DeadLetter // the subscription's, in the order of the topic's partitions and offsets
	// resolved are the resolved marks there were when the scan began:
	// only their dead letters were in the topic for the scan to find.
	resolved map[dlqPos]bool
	next     map[int]int64 // by partition: the offset after the last one read
	size     int           // the data of dls, in bytes
	cut      bool          // stopped at the limit or the bytes: dead letters are left
}

// scanDeadLetters reads s's dead letters, at most limit and maxBytes of
// data (at least one), and returns with s.mu held and their Redriving and
// Resolved set. The dead-letter topic is read without s.mu: a large one
// takes long to read, and s's pulls and acks go on meanwhile.
func (s *sub) scanDeadLetters(ctx context.Context, id string, limit, maxBytes int) (dlqScan, error) {
	for {
		s.mu.Lock()
		dlq, deleted := s.cfg.DeadLetterTopic, s.deleted
		resolved := make(map[dlqPos]bool, len(s.resolved))
		for pos := range s.resolved {
			resolved[pos] = true
		}
		s.mu.Unlock()
		if deleted {
			return dlqScan{}, fmt.Errorf("%w: %s on topic %s (deleted)", ErrNotFound, s.name, s.topic)
		}
		scan := dlqScan{id: id, resolved: resolved, next: map[int]int64{}}
		if err := s.readDeadLetters(ctx, dlq, &scan, limit, maxBytes); err != nil {
			return dlqScan{}, err
		}
		s.mu.Lock()
		switch {
		case s.deleted:
			s.mu.Unlock()
			return dlqScan{}, fmt.Errorf("%w: %s on topic %s (deleted)", ErrNotFound, s.name, s.topic)
		case s.cfg.DeadLetterTopic != dlq:
			s.mu.Unlock()
			continue // the dead-letter topic changed meanwhile: read the new one
		}
		if err := s.readNewDeadLetters(ctx, dlq, &scan, limit, maxBytes); err != nil {
			s.mu.Unlock()
			return dlqScan{}, err
		}
		for i := range scan.dls {
			dl := &scan.dls[i]
			c := s.redrives[dl.Partition] // listing makes no cursor
			dl.Redriving = c != nil && c.entries[dl.Offset] != nil
			dl.Resolved = s.resolved[dlqPos{dl.Partition, dl.Offset}] == dl.Event.ID
		}
		return scan, nil
	}
}

// readNewDeadLetters reads, after a scan that was not cut, the dead
// letters stored since it read each partition, with s.mu held: a redriven
// event that died again meanwhile has a newer dead letter, the one a
// redrive must send back (once acked, it is the one resolved). There are
// few, or none.
func (s *sub) readNewDeadLetters(ctx context.Context, dlq string, scan *dlqScan, limit, maxBytes int) error {
	if scan.cut {
		return nil
	}
	n := len(scan.dls)
	if err := s.readDeadLetters(ctx, dlq, scan, limit, maxBytes); err != nil {
		return err
	}
	if len(scan.dls) > n {
		sort.SliceStable(scan.dls, func(i, j int) bool {
			a, b := scan.dls[i], scan.dls[j]
			return a.Partition < b.Partition || a.Partition == b.Partition && a.Offset < b.Offset
		})
	}
	return nil
}

// readDeadLetters reads the dead letters of s in the topic dlq into scan,
// in each partition from where scan last stopped (its first offset the
// first time); s.mu is not needed (s.topic and s.name never change).
func (s *sub) readDeadLetters(ctx context.Context, dlq string, scan *dlqScan, limit, maxBytes int) error {
	t, err := s.m.broker.Topic(ctx, dlq)
	if errors.Is(err, broker.ErrTopicNotFound) {
		return nil // deleted: it holds no dead letters
	}
	if err != nil {
		return err
	}
	full := func() bool { return len(scan.dls) >= limit || scan.size >= maxBytes }
	for p := 0; p < t.Partitions && !full(); p++ {
		first, end, err := s.m.broker.Offsets(ctx, t.Name, p)
		if err != nil {
			return err
		}
		off := max(first, scan.next[p])
		for off < end && !full() {
			evs, err := s.m.broker.Read(ctx, t.Name, p, off, 1000)
			if err != nil {
				return err
			}
			if len(evs) == 0 {
				break
			}
			for _, ev := range evs {
				if full() {
					break
				}
				off = ev.Offset + 1
				if ev.Extensions[ExtSubscription] == s.name && ev.Extensions[ExtTopic] == s.topic &&
					(scan.id == "" || ev.ID == scan.id || originalID(ev) == scan.id) {
					scan.dls = append(scan.dls, DeadLetter{Partition: p, Offset: ev.Offset, Event: ev})
					scan.size += len(ev.Data)
				}
			}
		}
		scan.next[p] = off
	}
	scan.cut = full()
	return nil
}

// redriveCursor returns the redrive cursor of a dead-letter partition,
// making it on first use.
func (s *sub) redriveCursor(dp int) *cursor {
	c, ok := s.redrives[dp]
	if !ok {
		c = newCursor(redriveP(dp), 0)
		s.redrives[dp] = c
	}
	return c
}

// Redrive sends the selected dead letters back to this subscription.
func (m *Manager) Redrive(ctx context.Context, topic, name string, req RedriveRequest) (RedriveResult, error) {
	if !req.All && len(req.IDs) == 0 {
		return RedriveResult{}, fmt.Errorf("%w: redrive needs \"all\" or a list of event ids", ErrInvalidConfig)
	}
	s, err := m.get(ctx, topic, name)
	if err != nil {
		return RedriveResult{}, err
	}
	scan, err := s.scanDeadLetters(ctx, "", math.MaxInt, math.MaxInt)
	if err != nil {
		return RedriveResult{}, err
	}
	defer s.mu.Unlock()
	chosen, res := selectDeadLetters(scan.dls, req)
	now := m.now()
	var b batch
	gone := s.goneResolved(scan, &b)
	var ids []string
	seqs := make([]uint64, len(chosen))
	for i, dl := range chosen {
		seqs[i] = s.redriveSeq + uint64(i) + 1
		b.Put(redriveKey(topic, name, dl.Partition, dl.Offset), eventRecord{Inc: s.inc, Seq: seqs[i], ID: dl.Event.ID})
		ids = append(ids, originalID(dl.Event))
	}
	audit := AuditRecord{Inc: s.inc, Actor: req.Actor, At: now.UTC(), All: req.All, IDs: ids, Count: len(ids)}
	key := auditKey(topic, name, now, len(s.audit))
	b.Put(key, audit)
	if err := m.state.writeSynced(ctx, &b); err != nil {
		return RedriveResult{}, err // the subscription is as it was
	}
	for _, pos := range gone {
		delete(s.resolved, pos)
	}
	for i, dl := range chosen {
		delete(s.resolved, dlqPos{dl.Partition, dl.Offset})
		s.addRedrive(dl.Partition, dl.Event, eventRecord{Seq: seqs[i], ID: dl.Event.ID})
	}
	s.audit = append(s.audit, audit)
	s.auditKeys = append(s.auditKeys, key)
	res.Redriven = len(chosen)
	s.signal()
	return res, nil
}

// goneResolved returns the resolved marks of dead letters no longer in
// the dead-letter topic (the scan read all of the subscription's): retention
// removed them, or the topic was made anew. A mark made since the scan
// began may be of a dead letter written since: it is not judged. The
// records' deletions go into b; the caller forgets the marks once b is
// written. Called with s.mu held.
func (s *sub) goneResolved(scan dlqScan, b *batch) []dlqPos {
	there := make(map[dlqPos]bool, len(s.resolved))
	for _, dl := range scan.dls {
		if dl.Resolved {
			there[dlqPos{dl.Partition, dl.Offset}] = true
		}
	}
	var gone []dlqPos
	for pos := range s.resolved {
		if scan.resolved[pos] && !there[pos] {
			gone = append(gone, pos)
			b.Delete(redriveKey(s.topic, s.name, pos.dp, pos.doff))
		}
	}
	return gone
}

// selectDeadLetters picks the dead letters a request names (the newest
// per event id), leaving out events already being redriven (from any of
// their dead letters) and, for "all", those resolved (redriven and acked
// before). A request names a dead
// letter by its event's own id or by the dead letter's id; named twice,
// it is picked once.
func selectDeadLetters(dls []DeadLetter, req RedriveRequest) ([]DeadLetter, RedriveResult) {
	var res RedriveResult
	latest := map[string]DeadLetter{} // by the event's own id
	own := map[string]string{}        // the event's own id by the dead letter's id
	redriving := map[string]bool{}    // events being redriven, from any of their dead letters
	for _, dl := range dls {
		latest[originalID(dl.Event)] = dl
		own[dl.Event.ID] = originalID(dl.Event)
		if dl.Redriving {
			redriving[originalID(dl.Event)] = true
		}
	}
	want := req.IDs
	if req.All {
		want = want[:0:0]
		for id := range latest {
			want = append(want, id)
		}
		sort.Strings(want)
	}
	var chosen []DeadLetter
	seen := make(map[string]bool, len(want))
	for _, id := range want {
		if _, ok := latest[id]; !ok && own[id] != "" {
			id = own[id]
		}
		dl, ok := latest[id]
		switch {
		case seen[id]:
			continue // named twice: counted once
		case !ok:
			res.NotFound = append(res.NotFound, id)
		case redriving[id]:
			res.Already++
		case dl.Resolved && req.All:
			res.Resolved++
		default:
			chosen = append(chosen, dl)
		}
		seen[id] = true
	}
	sort.Slice(chosen, func(i, j int) bool { return chosen[i].Offset < chosen[j].Offset })
	return chosen, res
}

// addRedrive queues a dead letter for redelivery as the event it was.
func (s *sub) addRedrive(dp int, dl *event.Event, rec eventRecord) {
	c := s.redriveCursor(dp)
	ev := original(dl)
	e := &entry{off: dl.Offset, key: s.orderingKey(ev), ev: ev, attempts: rec.Attempts, reason: rec.Reason, dlqID: dl.ID, seq: rec.Seq}
	s.redriveSeq = max(s.redriveSeq, rec.Seq)
	if rec.RetryAt > 0 {
		e.due = time.UnixMilli(rec.RetryAt)
	}
	c.entries[e.off] = e
	c.held += len(ev.Data)
	c.order = append(c.order, e.off)
	sort.Slice(c.order, func(i, j int) bool { return c.order[i] < c.order[j] })
	c.push(e)
	c.recorded[e.off] = true
}

// original turns a dead letter back into the event that died: its own
// position, without the dead-letter attributes.
func original(dl *event.Event) *event.Event {
	ev := *dl
	ev.Extensions = make(map[string]string, len(dl.Extensions))
	for k, v := range dl.Extensions {
		ev.Extensions[k] = v
	}
	if id, ok := dl.Extensions[ExtID]; ok {
		ev.ID = id
	}
	ev.Topic = dl.Extensions[ExtTopic]
	ev.Partition, _ = strconv.Atoi(dl.Extensions[ExtPartition])
	ev.Offset, _ = strconv.ParseInt(dl.Extensions[ExtOffset], 10, 64)
	ev.StoredAt, _ = time.Parse(time.RFC3339Nano, dl.Extensions[ExtStoredTime])
	for _, k := range []string{ExtID, ExtReason, ExtAttempts, ExtSubscription, ExtTopic, ExtPartition, ExtOffset, ExtStoredTime, ExtTime} {
		delete(ev.Extensions, k)
	}
	return &ev
}

// originalID is the id of the event a dead letter holds.
func originalID(dl *event.Event) string {
	if id, ok := dl.Extensions[ExtID]; ok {
		return id
	}
	return dl.ID
}

// Audit lists who redrove this subscription's dead letters, oldest first.
func (m *Manager) Audit(ctx context.Context, topic, name string) ([]AuditRecord, error) {
	s, err := m.get(ctx, topic, name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AuditRecord(nil), s.audit...), nil
}

// loadRedrives reads the dead letters that were being redriven before a
// restart back into their redrive cursors, and forgets resolved ones that
// are no longer in the dead-letter topic (retention removed them, or the
// topic was made anew).
func (m *Manager) loadRedrives(ctx context.Context) error {
	var b batch
	for _, s := range m.subs {
		for pos, id := range s.resolved {
			if _, gone := m.deadLetterAt(ctx, s, pos, id); gone {
				delete(s.resolved, pos)
				b.Delete(redriveKey(s.topic, s.name, pos.dp, pos.doff))
			} // else still there, or unreadable now: kept
		}
		sort.Slice(s.pendingRedrives, func(i, j int) bool { // key order is the order of redrives
			x, y := s.pendingRedrives[i], s.pendingRedrives[j]
			return x.dp < y.dp || (x.dp == y.dp && (x.rec.Seq < y.rec.Seq || x.rec.Seq == y.rec.Seq && x.doff < y.doff))
		})
		for _, pr := range s.pendingRedrives {
			pos := dlqPos{pr.dp, pr.doff}
			dl, gone := m.deadLetterAt(ctx, s, pos, pr.rec.ID)
			if gone {
				b.Delete(redriveKey(s.topic, s.name, pos.dp, pos.doff))
			}
			if dl == nil {
				continue // gone, or unreadable now: nothing to redrive
			}
			if x := dl.Extensions; x[ExtSubscription] != s.name || x[ExtTopic] != s.topic {
				continue // not this subscription's dead letter: never deliver it here
			}
			s.addRedrive(pr.dp, dl, pr.rec)
		}
		s.pendingRedrives = nil
	}
	return m.state.write(ctx, &b)
}

// deadLetterAt reads the dead letter a redrive record names, nil if it
// cannot. gone says it is not there for good: retention removed it, the
// dead-letter topic lost its unsynced tail in a crash or was made anew, or
// another event took its offset (id is the dead letter's own id; records
// of an older Herald have none).
func (m *Manager) deadLetterAt(ctx context.Context, s *sub, pos dlqPos, id string) (dl *event.Event, gone bool) {
	evs, err := m.broker.Read(ctx, s.cfg.DeadLetterTopic, pos.dp, pos.doff, 1)
	switch {
	case errors.Is(err, storage.ErrOffsetOutOfRange) || errors.Is(err, storage.ErrUnknownTopic) || errors.Is(err, storage.ErrUnknownPartition):
		return nil, true
	case err != nil:
		return nil, false
	case len(evs) == 0 || evs[0].Offset != pos.doff || id != "" && evs[0].ID != id:
		return nil, true
	}
	return evs[0], false
}

type pendingRedrive struct {
	dp   int
	doff int64
	rec  eventRecord
}

func (m *Manager) replayRedrive(topic, name string, dp int, doff int64, value []byte) error {
	s, ok := m.subs[subKey(topic, name)]
	if !ok {
		return nil
	}
	key := redriveKey(topic, name, dp, doff)
	for i, pr := range s.pendingRedrives {
		if redriveKey(topic, name, pr.dp, pr.doff) == key {
			s.pendingRedrives = append(s.pendingRedrives[:i], s.pendingRedrives[i+1:]...)
			break
		}
	}
	if value == nil {
		delete(s.resolved, dlqPos{dp, doff})
		return nil
	}
	var rec eventRecord
	if err := json.Unmarshal(value, &rec); err != nil {
		return fmt.Errorf("subscription %s/%s redrive %d/%d: %w", topic, name, dp, doff, err)
	}
	switch {
	case rec.Inc != s.inc:
	case rec.Done:
		s.resolved[dlqPos{dp, doff}] = rec.ID
	default:
		delete(s.resolved, dlqPos{dp, doff})
		s.pendingRedrives = append(s.pendingRedrives, pendingRedrive{dp: dp, doff: doff, rec: rec})
	}
	return nil
}

func (m *Manager) replayAudit(key, topic, name string, value []byte) error {
	s, ok := m.subs[subKey(topic, name)]
	if !ok || value == nil {
		return nil
	}
	var rec AuditRecord
	if err := json.Unmarshal(value, &rec); err != nil {
		return fmt.Errorf("subscription %s/%s audit: %w", topic, name, err)
	}
	if rec.Inc == s.inc {
		s.audit = append(s.audit, rec)
		s.auditKeys = append(s.auditKeys, key)
	}
	return nil
}
