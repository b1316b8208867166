package herald

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/heraldevents/herald/internal/broker"
)

// ErrPublisherClosed is the error of a Publish after Close, and of events
// that Close gave up on before they were sent.
var ErrPublisherClosed = errors.New("herald: publisher closed")

// Limits of the broker that a Publisher keeps to, so that one batch is
// never refused for its size. The limit of one event is the backend's
// (Publisher.maxEvent).
const (
	maxBatchEvents = 10000    // events in one Client.Publish
	maxBatchBytes  = 32 << 20 // bytes of events (CloudEvent.Size) in one Client.Publish
)

// PublisherOptions configures a Publisher. The zero value works.
type PublisherOptions struct {
	// Linger is how long a batch waits for more events after its first
	// before it is sent. Zero sends a batch as soon as fewer than
	// MaxInFlight batches of its topic are in flight; events that come
	// while all are in flight are batched anyway.
	Linger time.Duration
	// MaxBatchEvents is the most events in one batch: default 1000, at
	// most 10,000.
	MaxBatchEvents int
	// MaxBatchBytes is the most bytes of events (CloudEvent.Size, with
	// the trace each may get when sent: see Publisher) in one batch:
	// default 4 MiB, at most 32 MiB. A larger event (up to the event size
	// limit) goes in a batch of its own.
	MaxBatchBytes int
	// MaxInFlight is how many batches of one topic are published at once:
	// default 4. Batches that share a partition key are never in flight
	// together (see Publisher for the order this keeps).
	MaxInFlight int
	// MaxBufferedEvents and MaxBufferedBytes bound the events accepted and
	// not yet answered, over all topics; Publish waits for room. Defaults:
	// 2 × (MaxInFlight+1) × MaxBatchEvents events, and 64 MiB.
	MaxBufferedEvents int
	MaxBufferedBytes  int
}

func (o PublisherOptions) withDefaults() PublisherOptions {
	o.Linger = max(o.Linger, 0)
	if o.MaxBatchEvents <= 0 {
		o.MaxBatchEvents = 1000
	}
	o.MaxBatchEvents = min(o.MaxBatchEvents, maxBatchEvents)
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 4 << 20
	}
	o.MaxBatchBytes = min(o.MaxBatchBytes, maxBatchBytes)
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 4
	}
	if o.MaxBufferedEvents <= 0 {
		o.MaxBufferedEvents = 2 * (o.MaxInFlight + 1) * o.MaxBatchEvents
	}
	if o.MaxBufferedBytes <= 0 {
		o.MaxBufferedBytes = 64 << 20
	}
	return o
}

// A Publisher publishes events in the background, in batches: Publish
// hands it an event and returns at once with a PublishResult that is
// answered when the event is durable (or failed). It is the fast way to
// publish many events; Client.Publish is the simple one.
//
// Events are grouped per topic. A batch is sent when it holds
// MaxBatchEvents events or MaxBatchBytes bytes, when Linger has passed
// since its first event, when Flush or Close asks, or when Publish waits
// for buffer room. Up to MaxInFlight batches per topic are published at
// once, each with one Client.Publish (so publish middleware sees batches);
// when all are in flight, events gather into the next batch. Each event
// is answered on its own: its position, or why it failed.
//
// Failures stay with the event they belong to. An event that fails
// validation (CloudEvents 1.0 rules) or is over the event size limit
// fails in Publish and is not sent; the others are. The limit is 1 MiB
// embedded, and for a remote client the one its server announced when
// the client connected (herald serve --max-event-bytes). An event without a
// traceparent is measured with the trace it may get when its batch is
// sent: the traceparent and tracestate of the event a handler handles
// (when Publish is given the handler's context), and on a client with
// publish middleware at least a W3C traceparent and 512 bytes of
// tracestate (what TracingPublish writes). That size counts towards
// MaxBatchBytes and MaxBufferedBytes too. Events that break their
// schemas fail alone: their batch, which the backend refused whole, is
// sent again without them (until one is stored or all failed). A batch
// the backend refuses for any other reason, or cannot store, fails every
// event in it and no other; it is not sent again.
// A failed event may still have been stored (e.g. when the connection
// broke after the store): publishing it again is safe within the topic's
// dedup window, which recognises it by source and id.
//
// Order: events of one topic with the same partition key, published from
// one goroutine (or otherwise one after another), are stored in that
// order, also with MaxInFlight above 1, because batches that share a key
// are sent one after another. Events without a key are spread over the
// partitions; with MaxInFlight above 1 two batches may be stored in either
// order, so set MaxInFlight to 1 to store keyless events in publish order
// (as Kafka's producer needs max.in.flight 1 without idempotence). A
// failed batch leaves a gap: later events still go. A batch that failed
// because its connection broke may have reached the server and still be
// stored, after a later batch at worst; to close the gap, publish its
// events again (the dedup window keeps one copy of each).
//
// An event belongs to the Publisher from Publish until its result is
// done: do not change it meanwhile. Publish called with the context a
// handler received sets the event's causation and correlation, as
// Client.Publish does. Batches are sent with the Publisher's own context,
// not with a caller's: Publish's ctx only bounds its wait for room.
//
// A Publisher is safe for concurrent use. Close it (which flushes) before
// closing its Client.
type Publisher struct {
	c        *Client
	opts     PublisherOptions
	maxEvent int // the largest event the backend stores (CloudEvent.Size)

	ctx    context.Context    // batches are sent with it; Close cancels it
	cancel context.CancelFunc // when it gives up waiting
	wg     sync.WaitGroup     // batch sends running and linger timers armed

	mu            sync.Mutex // guards everything below and the topic queues
	topics        map[string]*topicQueue
	buffered      int           // events accepted and not yet answered
	bufferedBytes int           // their CloudEvent.Size
	room          chan struct{} // closed when buffer room frees; nil when no one waits
	closed        bool          // Close was called: Publish refuses
	aborted       error         // Close gave up: unsent batches fail with it
}

// NewPublisher returns a Publisher that publishes through c.Publish.
func (c *Client) NewPublisher(opts PublisherOptions) *Publisher {
	ctx, cancel := context.WithCancel(context.Background())
	return &Publisher{c: c, opts: opts.withDefaults(), maxEvent: c.b.maxEventBytes(), ctx: ctx, cancel: cancel,
		topics: map[string]*topicQueue{}}
}

// PublishResult is the answer to one Publish: done once the event is
// durable or has failed.
type PublishResult struct {
	done <-chan struct{} // shared by the events of one batch
	res  Result          // set before done is closed
	err  error           // set before done is closed
}

// closedChan is the done channel of results failed at once.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func failed(err error) *PublishResult { return &PublishResult{done: closedChan, err: err} }

// Done is closed when the result is known.
func (r *PublishResult) Done() <-chan struct{} { return r.done }

// Wait waits until the event is durable and returns where it is stored,
// or returns why it failed. When ctx ends first it returns ctx's error;
// the event is still being published.
func (r *PublishResult) Wait(ctx context.Context) (Result, error) {
	select {
	case <-r.done:
	case <-ctx.Done():
		select {
		case <-r.done: // answered too: the answer wins
		default:
			return Result{}, ctx.Err()
		}
	}
	return r.res, r.err
}

// Publish hands e to the Publisher to be published to topic, and returns
// at once unless the buffer is full: then it waits for room until ctx
// ends. Every error is reported through the result: a bad event, a
// Publisher closed, ctx ended while waiting, or the batch's failure.
func (p *Publisher) Publish(ctx context.Context, topic string, e *CloudEvent) *PublishResult {
	if e == nil {
		return failed(fmt.Errorf("%w: nil event", broker.ErrInvalidEvent))
	}
	if err := ctx.Err(); err != nil {
		return failed(err)
	}
	stampCausationIDs(ctx, e)
	size, err := checkEvent(e, traceGrowth(ctx, e, p.c.traced), p.maxEvent)
	if err != nil {
		return failed(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.reserveLocked(ctx, size); err != nil {
		return failed(err)
	}
	t := p.topics[topic]
	if t == nil {
		t = &topicQueue{name: topic}
		p.topics[topic] = t
	}
	res := p.addLocked(ctx, t, e, size)
	p.dispatchLocked(t)
	return res
}

// checkEvent returns the size e counts for, its own and the grow bytes it
// may gain when sent (traceGrowth), or why the broker, whose event limit
// is limit, would refuse it.
func checkEvent(e *CloudEvent, grow, limit int) (int, error) {
	if err := e.Validate(); err != nil {
		return 0, fmt.Errorf("%w: event %q: %w", broker.ErrInvalidEvent, e.ID, err)
	}
	n := e.Size() + grow
	switch {
	case n <= limit:
		return n, nil
	case grow > 0:
		return 0, fmt.Errorf("%w: event %q is %d bytes with the %d bytes of trace attributes it may get when sent, the limit is %d",
			broker.ErrEventTooLarge, e.ID, n, grow, limit)
	}
	return 0, fmt.Errorf("%w: event %q is %d bytes, the limit is %d", broker.ErrEventTooLarge, e.ID, n, limit)
}

// reserveLocked counts an event of size bytes into the buffer, waiting
// (with p.mu released) for room. An event always fits an empty buffer.
func (p *Publisher) reserveLocked(ctx context.Context, size int) error {
	for {
		if p.closed {
			return ErrPublisherClosed
		}
		if p.buffered == 0 || (p.buffered < p.opts.MaxBufferedEvents && p.bufferedBytes+size <= p.opts.MaxBufferedBytes) {
			p.buffered++
			p.bufferedBytes += size
			return nil
		}
		if p.room == nil {
			p.room = make(chan struct{})
		}
		room := p.room
		p.hurryLocked() // no use lingering: someone waits for the room
		p.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
		}
		p.mu.Lock()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// releaseLocked takes answered events out of the buffer and wakes those
// waiting for room.
func (p *Publisher) releaseLocked(events, bytes int) {
	p.buffered -= events
	p.bufferedBytes -= bytes
	p.wakeLocked()
}

func (p *Publisher) wakeLocked() {
	if p.room != nil {
		close(p.room)
		p.room = nil
	}
}

// hurryLocked makes every open batch due: sent as soon as a slot frees.
func (p *Publisher) hurryLocked() {
	for _, t := range p.topics {
		if t.open != nil && !t.open.due {
			t.open.due = true
			p.dispatchLocked(t)
		}
	}
}

// Flush sends every batch now and waits until all events published
// before it are answered, or until ctx ends. It returns nil or ctx's
// error: each event's own error is in its result.
func (p *Publisher) Flush(ctx context.Context) error {
	p.mu.Lock()
	pending := p.pendingLocked()
	p.mu.Unlock()
	return waitAll(ctx, pending)
}

// Close flushes, then stops the Publisher: Publish fails with
// ErrPublisherClosed from now on. When ctx ends before every event is
// answered, Close stops waiting: batches in flight are cancelled, unsent
// events fail with ErrPublisherClosed, and Close returns ctx's error once
// the Publisher's goroutines have ended. Closing again does nothing.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	p.wakeLocked() // Publish calls waiting for room give up
	pending := p.pendingLocked()
	p.mu.Unlock()
	err := waitAll(ctx, pending)
	if err != nil {
		p.abort(fmt.Errorf("%w before the event was sent: %w", ErrPublisherClosed, err))
	}
	p.wg.Wait()
	p.cancel()
	return err
}

// pendingLocked makes every batch due and returns the done channels of
// all batches not yet answered.
func (p *Publisher) pendingLocked() []<-chan struct{} {
	var pending []<-chan struct{}
	for _, t := range p.topics {
		for _, b := range t.sending {
			pending = append(pending, b.done)
		}
		for _, b := range t.full {
			pending = append(pending, b.done)
		}
		if t.open != nil {
			t.open.due = true
			pending = append(pending, t.open.done)
		}
		p.dispatchLocked(t)
	}
	return pending
}

func waitAll(ctx context.Context, pending []<-chan struct{}) error {
	for _, done := range pending {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// abort fails every batch not yet sent with err and cancels those in
// flight.
func (p *Publisher) abort(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.aborted = err
	for name, t := range p.topics {
		if t.open != nil {
			p.sealLocked(t)
		}
		for _, b := range t.full {
			p.releaseLocked(len(b.events), b.bytes)
			b.finish(err)
		}
		t.full = nil
		if t.idle() {
			delete(p.topics, name)
		}
	}
	p.cancel()
}

// topicQueue is the batches of one topic, oldest first: those in flight,
// the full ones waiting for a slot, and the open one taking events.
type topicQueue struct {
	name    string
	sending []*pubBatch    // in flight, at most MaxInFlight
	full    []*pubBatch    // sealed, waiting for a slot
	open    *pubBatch      // taking events; nil when none
	keys    map[string]int // partition key -> events in flight (MaxInFlight > 1)
	blocked bool           // the next batch shares a key with one in flight
}

func (t *topicQueue) idle() bool { return t.open == nil && len(t.full) == 0 && len(t.sending) == 0 }

// next returns the batch to send next, or nil when none is due.
func (t *topicQueue) next() *pubBatch {
	if len(t.full) > 0 {
		return t.full[0]
	}
	if t.open != nil && t.open.due {
		return t.open
	}
	return nil
}

// sharesKey reports whether b has a partition key that a batch in flight
// has.
func (t *topicQueue) sharesKey(b *pubBatch) bool {
	if len(t.keys) == 0 {
		return false
	}
	for _, e := range b.events {
		if e.PartitionKey != "" && t.keys[e.PartitionKey] > 0 {
			return true
		}
	}
	return false
}

// countKeys adds delta per key of keys to the keys in flight.
func (t *topicQueue) countKeys(keys []string, delta int) {
	for _, k := range keys {
		if t.keys == nil {
			t.keys = map[string]int{}
		}
		if n := t.keys[k] + delta; n > 0 {
			t.keys[k] = n
		} else {
			delete(t.keys, k)
		}
	}
}

// keysOf returns the partition keys of events, one per event that has one.
func keysOf(events []*CloudEvent) []string {
	var keys []string
	for _, e := range events {
		if e.PartitionKey != "" {
			keys = append(keys, e.PartitionKey)
		}
	}
	return keys
}

// pubBatch is the events of one Client.Publish.
type pubBatch struct {
	events  []*CloudEvent
	ctxs    []context.Context // what each event was handed over with (for its causation and trace)
	results []*PublishResult
	slab    []PublishResult // where results are made, a chunk at a time (never grown: pointers stay)
	bytes   int
	keys    []string      // the events' partition keys, counted in flight from dispatch (MaxInFlight > 1)
	done    chan struct{} // closed when every result is set
	due     bool          // to be sent as soon as a slot frees (open batch)
	timer   *time.Timer   // the linger timer; nil when not armed
}

// finish fails every event of the batch with err and closes done.
func (b *pubBatch) finish(err error) {
	for _, r := range b.results {
		r.err = err
	}
	close(b.done)
}

// addLocked puts e in t's open batch, opening one first when there is
// none or e does not fit, and seals the batch once it is full.
func (p *Publisher) addLocked(ctx context.Context, t *topicQueue, e *CloudEvent, size int) *PublishResult {
	b := t.open
	if b != nil && (len(b.events) >= p.opts.MaxBatchEvents || b.bytes+size > p.opts.MaxBatchBytes) {
		p.sealLocked(t)
		b = nil
	}
	if b == nil {
		b = p.openLocked(t)
	}
	if len(b.slab) == cap(b.slab) {
		b.slab = make([]PublishResult, 0, min(64, p.opts.MaxBatchEvents))
	}
	b.slab = append(b.slab, PublishResult{done: b.done})
	r := &b.slab[len(b.slab)-1]
	b.events = append(b.events, e)
	b.ctxs = append(b.ctxs, ctx)
	b.results = append(b.results, r)
	b.bytes += size
	if len(b.events) >= p.opts.MaxBatchEvents || b.bytes >= p.opts.MaxBatchBytes {
		p.sealLocked(t)
	}
	return r
}

// openLocked starts t's open batch and its linger timer.
func (p *Publisher) openLocked(t *topicQueue) *pubBatch {
	b := &pubBatch{done: make(chan struct{}), due: p.opts.Linger == 0}
	if !b.due {
		p.wg.Add(1)
		b.timer = time.AfterFunc(p.opts.Linger, func() { p.lingerPassed(t, b) })
	}
	t.open = b
	return b
}

// lingerPassed makes b due if it is still t's open batch.
func (p *Publisher) lingerPassed(t *topicQueue, b *pubBatch) {
	defer p.wg.Done()
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.open != b {
		return
	}
	b.timer = nil
	b.due = true
	p.dispatchLocked(t)
}

// sealLocked moves t's open batch to the full ones.
func (p *Publisher) sealLocked(t *topicQueue) {
	b := t.open
	p.stopLinger(b)
	t.full = append(t.full, b)
	t.open = nil
}

func (p *Publisher) stopLinger(b *pubBatch) {
	if b.timer != nil && b.timer.Stop() {
		p.wg.Done() // its function will not run
	}
	b.timer = nil
}

// dispatchLocked sends t's due batches, oldest first, while slots are
// free. It stops at a batch that shares a partition key with one in
// flight, until that one is answered, so that a key's events are stored
// in order.
func (p *Publisher) dispatchLocked(t *topicQueue) {
	for !t.blocked && p.aborted == nil && len(t.sending) < p.opts.MaxInFlight {
		b := t.next()
		if b == nil {
			return
		}
		if p.opts.MaxInFlight > 1 {
			if t.sharesKey(b) {
				t.blocked = true
				return
			}
			b.keys = keysOf(b.events)
			t.countKeys(b.keys, +1)
		}
		if b == t.open {
			p.stopLinger(b)
			t.open = nil
		} else {
			t.full = t.full[1:]
		}
		t.sending = append(t.sending, b)
		p.wg.Add(1)
		go p.send(t, b)
	}
}

// send publishes b and answers its events. b stays in flight until its
// events are answered, so that a Flush never misses it.
func (p *Publisher) send(t *topicQueue, b *pubBatch) {
	defer p.wg.Done()
	p.publishBatch(t.name, b)
	close(b.done)
	p.settle(t, b)
}

// publishBatch publishes b's events and sets each one's result. A batch
// refused because some of its events break their schemas is published
// again without them, so that only they fail (as Kafka's producer fails
// only the records a broker names and sends the rest again): the refused
// publish stored nothing, and the others are not to blame.
func (p *Publisher) publishBatch(topic string, b *pubBatch) {
	idx := make([]int, len(b.events)) // the events to publish, by index in b
	for i := range idx {
		idx[i] = i
	}
	events, ctxs := b.events, b.ctxs
	for {
		res, err := p.publish(withSubmitted(p.ctx, events, ctxs), topic, events)
		if err == nil {
			for j, i := range idx {
				b.results[i].res = res[j]
			}
			return
		}
		bad := schemaViolators(err, len(events))
		if bad == nil {
			for _, i := range idx {
				b.results[i].err = err
			}
			return
		}
		keep := idx[:0:0]
		events, ctxs = nil, nil
		for j, i := range idx {
			if v, ok := bad[j]; ok {
				b.results[i].err = fmt.Errorf("herald: publish event %q to %s: %w", b.events[i].ID, topic, v)
				continue
			}
			keep = append(keep, i)
			events, ctxs = append(events, b.events[i]), append(ctxs, b.ctxs[i])
		}
		if idx = keep; len(idx) == 0 {
			return
		}
	}
}

// schemaViolators returns, by index in a batch of n events, the error of
// each event that err (a publish's) names as breaking its schema: the
// violations of that event alone, as in a batch of it alone. It returns
// nil when err is not a schema violation or names no event of the batch.
// When err lists only some of the violations, the last event it names
// may have more: it is left out, to fail in a batch without the others,
// unless it is the only one.
func schemaViolators(err error, n int) map[int]*SchemaViolationError {
	var verr *SchemaViolationError
	if !errors.As(err, &verr) {
		return nil
	}
	bad := map[int]*SchemaViolationError{}
	last := -1
	for _, v := range verr.Violations {
		if v.Index < 0 || v.Index >= n {
			return nil
		}
		e := bad[v.Index]
		if e == nil {
			e = &SchemaViolationError{Topic: verr.Topic, Events: 1}
			bad[v.Index] = e
		}
		last = v.Index
		v.Index = 0
		e.Total++
		e.Violations = append(e.Violations, v)
	}
	switch {
	case len(bad) == 0:
		return nil
	case len(verr.Violations) >= verr.Total: // all listed
	case len(bad) > 1:
		delete(bad, last)
	case verr.Events == 1:
		bad[last].Total = verr.Total // the refusal's count is its own
	}
	return bad
}

func (p *Publisher) publish(ctx context.Context, topic string, events []*CloudEvent) ([]Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w before the event was sent: %w", ErrPublisherClosed, err)
	}
	res, err := p.c.Publish(ctx, topic, events...)
	if err != nil {
		return nil, fmt.Errorf("herald: publish a batch of %d events to %s: %w", len(events), topic, err)
	}
	if len(res) != len(events) {
		return nil, fmt.Errorf("herald: publish a batch of %d events to %s: %d results", len(events), topic, len(res))
	}
	return res, nil
}

// settle frees b's slot, keys and buffer room, and sends what is due
// next. It runs after b's results are answered, when the callers may be
// changing the events already: it reads none of them, only what dispatch
// recorded.
func (p *Publisher) settle(t *topicQueue, b *pubBatch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t.sending = slices.DeleteFunc(t.sending, func(s *pubBatch) bool { return s == b })
	if p.opts.MaxInFlight > 1 {
		t.countKeys(b.keys, -1)
	}
	t.blocked = false
	p.releaseLocked(len(b.events), b.bytes)
	p.dispatchLocked(t)
	if t.idle() && p.topics[t.name] == t {
		delete(p.topics, t.name)
	}
}
