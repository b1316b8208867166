package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/storage"
)

// Result is where one published event is stored.
type Result struct {
	ID        string `json:"id"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
	Duplicate bool   `json:"duplicate"`
}

// Publish stores a batch of events in a topic, all or nothing, and returns
// once they are durable. An event whose (source, id) is already stored
// within the topic's dedup window is not stored again: its result is the
// original position with Duplicate set. Events are checked before anything
// is stored (CloudEvents rules, sizes, then the topic's SchemaPolicy by the
// Validator); one bad event refuses the whole batch. With ctx ended
// already, it stores nothing and returns ctx's error.
func (b *Broker) Publish(ctx context.Context, topic string, events []*event.Event) ([]Result, error) {
	return b.publishOver(ctx, topic, events, 0)
}

// PublishOver publishes like Publish, with the size limits of one event
// and of the batch raised by extra bytes: what Herald adds to an event it
// stores again (a dead letter's attributes), so that an event that was
// accepted can always be stored with them.
func (b *Broker) PublishOver(ctx context.Context, topic string, events []*event.Event, extra int) ([]Result, error) {
	return b.publishOver(ctx, topic, events, max(extra, 0))
}

func (b *Broker) publishOver(ctx context.Context, topic string, events []*event.Event, extra int) ([]Result, error) {
	if err := ctx.Err(); err != nil {
		b.countRefused(ctx, topic, PublishCanceled)
		return nil, err // the storage's queue would take it or not at random
	}
	if err := checkUserTopic(topic); err != nil {
		return nil, err
	}
	if err := b.checkBatch(events, extra); err != nil {
		b.CountRejected(ctx, topic)
		return nil, err
	}
	for {
		t, st, err := b.useTopic(ctx, topic)
		if err != nil {
			return nil, err
		}
		results, outcome, err := b.publishTo(ctx, t, st, events)
		if errors.Is(err, errIndexClosed) {
			st.use.RUnlock() // its state was dropped before it stored anything
			continue
		}
		st.stats.requests[outcome].Add(1)
		st.use.RUnlock()
		return results, err
	}
}

// useTopic returns the topic, created if need be (ensureTopic), and its
// state held for a publish (use shared): the topic is not deleted until
// the publish ends. The settings are read once the state is held, so they
// are those of the topic the publish stores in.
func (b *Broker) useTopic(ctx context.Context, name string) (Topic, *topicState, error) {
	for {
		if _, err := b.ensureTopic(ctx, name); err != nil {
			return Topic{}, nil, err
		}
		st := b.state(name)
		st.use.RLock()
		if !st.dropped {
			t, err := b.Topic(ctx, name)
			if err == nil {
				return t, st, nil
			}
			if !errors.Is(err, storage.ErrUnknownTopic) {
				st.use.RUnlock()
				return Topic{}, nil, err
			}
		}
		st.use.RUnlock() // deleted meanwhile: start over
		if err := ctx.Err(); err != nil {
			return Topic{}, nil, err
		}
	}
}

// publishTo publishes to an existing topic whose state is st.
func (b *Broker) publishTo(ctx context.Context, t Topic, st *topicState, events []*event.Event) ([]Result, PublishOutcome, error) {
	if err := b.validate(t, events); err != nil {
		if errors.Is(err, ErrNoValidator) {
			return nil, PublishFailed, err
		}
		return nil, PublishRejected, err
	}
	if err := b.load(ctx, t, st); err != nil {
		return nil, failedOutcome(err), err
	}
	p := &publish{b: b, t: t, st: st, events: events, results: make([]Result, len(events))}
	results, err := p.run(ctx)
	if err != nil {
		return nil, failedOutcome(err), err
	}
	return results, PublishOK, nil
}

func (b *Broker) checkBatch(events []*event.Event, extra int) error {
	if len(events) == 0 {
		return ErrEmptyBatch
	}
	if len(events) > b.opts.MaxBatchEvents {
		return fmt.Errorf("%w: %d events, the limit is %d", ErrBatchTooLarge, len(events), b.opts.MaxBatchEvents)
	}
	total := 0
	for i, e := range events {
		if err := ValidateEvent(i, e); err != nil {
			return err
		}
		n := e.Size()
		if n > b.opts.MaxEventBytes+extra {
			return fmt.Errorf("%w: event %d (id %q) is %d bytes, the limit is %d", ErrEventTooLarge, i, e.ID, n, b.opts.MaxEventBytes+extra)
		}
		total += n
	}
	if total > b.opts.MaxBatchBytes+extra {
		return fmt.Errorf("%w: %d bytes of events, the limit is %d", ErrBatchTooLarge, total, b.opts.MaxBatchBytes+extra)
	}
	return nil
}

// ValidateEvent checks e, event i of a batch, against the CloudEvents
// rules as Publish does: the error is ErrInvalidEvent naming the event's
// index and id. A client checks its events with it before sending them.
func ValidateEvent(i int, e *event.Event) error {
	if err := e.Validate(); err != nil {
		return fmt.Errorf("%w: event %d (id %q): %w", ErrInvalidEvent, i, e.ID, err)
	}
	return nil
}

// validate runs the topic's schema policy over the batch.
func (b *Broker) validate(t Topic, events []*event.Event) error {
	if t.SchemaPolicy == SchemaPolicyNone || t.SchemaPolicy == "" {
		return nil
	}
	if b.opts.Validator == nil {
		return fmt.Errorf("%w: topic %q has schemaPolicy %s", ErrNoValidator, t.Name, t.SchemaPolicy)
	}
	return b.opts.Validator(t, events)
}

// publish is one Publish call in progress.
type publish struct {
	b       *Broker
	t       Topic
	st      *topicState
	events  []*event.Event
	results []Result
	hashes  []uint64 // per event
	fresh   []int    // indexes of events to store
}

func (p *publish) run(ctx context.Context) ([]Result, error) {
	d := p.st.dedup
	p.hashes = make([]uint64, len(p.events))
	for i, e := range p.events {
		p.hashes[i] = d.hash(e.Source, e.ID)
	}
	f := newFlight()
	found, err := p.reserve(ctx, f)
	if err != nil {
		return nil, err
	}
	defer d.release(f)
	if err := p.sortOut(ctx, found); err != nil {
		return nil, err
	}
	if len(p.fresh) == 0 {
		p.st.stats.duplicates.Add(uint64(len(p.events)))
		return p.results, nil
	}
	at := p.b.opts.Now()
	if err := p.store(ctx, at); err != nil {
		return nil, err
	}
	p.st.stats.events.Add(uint64(len(p.fresh)))
	p.st.stats.duplicates.Add(uint64(len(p.events) - len(p.fresh)))
	stored := make([]uint64, len(p.fresh))
	pos := make([]position, len(p.fresh))
	for j, i := range p.fresh {
		stored[j] = p.hashes[i]
		pos[j] = position{partition: int32(p.results[i].Partition), offset: p.results[i].Offset}
	}
	d.add(stored, pos, at, f)
	return p.results, nil
}

// reserve waits until no other publish holds any of this batch's hashes,
// then reserves the new ones and returns the stored candidates.
func (p *publish) reserve(ctx context.Context, f *flight) (map[uint64]position, error) {
	for {
		found, other, err := p.st.dedup.reserve(p.hashes, f, p.b.opts.Now())
		if err != nil {
			return nil, fmt.Errorf("%w: dedup index: %w", storage.ErrUnavailable, err)
		}
		if other == nil {
			return found, nil
		}
		select {
		case <-other.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// sortOut decides, event by event, whether it is a duplicate (of a stored
// event, confirmed by reading it, or of an earlier event in the batch) or
// is to be stored. With deduplication off, every event is stored.
func (p *publish) sortOut(ctx context.Context, found map[uint64]position) error {
	if p.t.DedupWindow <= 0 {
		for i := range p.events {
			p.fresh = append(p.fresh, i)
		}
		return nil
	}
	inBatch := make(map[uint64]int, len(p.events))
	since := p.b.opts.Now().Add(-p.t.DedupWindow)
	for i, e := range p.events {
		h := p.hashes[i]
		if pos, ok := found[h]; ok {
			same, err := p.isStored(ctx, pos, e, since)
			if err != nil {
				return fmt.Errorf("confirm event %d (id %q) as a duplicate of partition %d offset %d: %w", i, e.ID, pos.partition, pos.offset, err)
			}
			if same {
				p.results[i] = Result{ID: e.ID, Partition: int(pos.partition), Offset: pos.offset, Duplicate: true}
				continue
			}
		}
		if j, ok := inBatch[h]; ok && p.events[j].Source == e.Source && p.events[j].ID == e.ID {
			p.results[i] = Result{ID: e.ID, Duplicate: true, Partition: -1 - j} // resolved after store
			continue
		}
		inBatch[h] = i
		p.fresh = append(p.fresh, i)
	}
	return nil
}

// isStored confirms a dedup candidate by reading the stored event: it is
// the same (source, id), stored at or after since (the index keeps some
// events longer than the window). Only an event that is gone (retention)
// is "not stored"; an event that cannot be read is an error, or a retry of
// it would be stored again.
func (p *publish) isStored(ctx context.Context, pos position, e *event.Event, since time.Time) (bool, error) {
	recs, err := p.b.engine.Read(ctx, p.t.Name, int(pos.partition), pos.offset, 1, 1)
	if errors.Is(err, storage.ErrOffsetOutOfRange) {
		return false, nil // gone (retention)
	}
	if err != nil {
		return false, err
	}
	if len(recs) == 0 || recs[0].Offset != pos.offset {
		return false, nil
	}
	r := recs[0]
	if r.Timestamp.UnixMilli() < since.UnixMilli() {
		return false, nil // older than the window
	}
	return headerString(r, "ce_source") == e.Source && headerString(r, "ce_id") == e.ID, nil
}

// store appends the fresh events, grouped by partition in batch order,
// in one atomic append.
func (p *publish) store(ctx context.Context, at time.Time) error {
	// First where each event goes, so that every partition's records,
	// every header and every time are made in one allocation each.
	var parts []storage.PartitionRecords
	var counts []int
	slot := map[int]int{} // partition -> index in parts
	where := make([]int, len(p.fresh))
	n := 0
	for j, i := range p.fresh {
		e := p.events[i]
		part := p.partitionOf(e)
		k, ok := slot[part]
		if !ok {
			k = len(parts)
			slot[part] = k
			parts = append(parts, storage.PartitionRecords{Partition: part})
			counts = append(counts, 0)
		}
		where[j] = k
		counts[k]++
		n += event.MaxKafkaHeaders(e)
	}
	for k := range parts {
		parts[k].Records = make([]storage.Record, 0, counts[k])
	}
	slab := make([]kmsg.Header, 0, n)           // every event's headers
	scratch := make([]byte, 0, 36*len(p.fresh)) // and their times
	for j, i := range p.fresh {
		e, k := p.events[i], where[j]
		key, value := event.KafkaKeyValue(e)
		start := len(slab)
		slab, scratch = event.AppendKafkaHeaders(slab, scratch, e)
		headers := slab[start:len(slab):len(slab)]
		parts[k].Records = append(parts[k].Records, storage.Record{Key: key, Value: value, Headers: headers, Timestamp: at})
		p.results[i] = Result{ID: e.ID, Partition: parts[k].Partition, Offset: int64(len(parts[k].Records) - 1)}
	}
	bases, err := p.b.engine.Append(ctx, p.t.Name, parts)
	if err != nil {
		return err
	}
	for j, i := range p.fresh {
		p.results[i].Offset += bases[where[j]]
	}
	for i := range p.results {
		if r := &p.results[i]; r.Duplicate && r.Partition < 0 {
			first := p.results[-1-r.Partition]
			r.Partition, r.Offset = first.Partition, first.Offset
		}
	}
	return nil
}

func (p *publish) partitionOf(e *event.Event) int {
	if e.PartitionKey != "" {
		return KeyPartition(e.PartitionKey, p.t.Partitions)
	}
	return int(p.st.next.Add(1)-1) % p.t.Partitions
}
