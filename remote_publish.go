package herald

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/rpc"
	"github.com/heraldevents/herald/internal/rpc/heraldv1"
)

// A remote client coalesces Publish calls made at the same time to one
// topic: while a request of the topic is in flight, new calls wait, and
// the next request carries all of them (up to maxMergedEvents events and
// maxMergedBytes bytes). A service publishing from many goroutines then
// sends fewer, larger requests, and the server spends its time storing
// events instead of answering requests; a call made while none is in
// flight goes at once, so a lone publisher waits no longer than before.
//
// When the calls waiting hold extraRequestEvents events or
// extraRequestBytes bytes, they go at once in one more request, up to
// maxPublishRequests in flight: heavy publishers need the next request on
// its way while one is being stored, while single events are better not
// spread over requests that each cost the server more than the events in
// them (at 5,000 single-event calls a second from 64 goroutines, one
// request in flight gave a lower latency than four). Merged requests stay
// small (maxMergedBytes): past that, merging saves nothing, and larger
// requests in flight made the server's peak memory grow by a quarter.
// The server's memory grows with the bytes in flight too: with requests
// on open streams (remote_pubstream.go), 16 in flight of 100 events of
// 1 KiB gave the same rate as 12 with 5 MiB more peak RSS, and 8 a sixth
// less; 10 gave about 3% less than 12 with 2.5 MiB less peak RSS.
//
// The server stores a request all or nothing. A merged request it refuses
// as invalid (InvalidArgument: an invalid event, a schema violation, a
// batch too large) stored nothing, so each of its calls whose caller still
// waits is sent again on its own: one call's bad event never fails
// another call.
//
// A request of one call waits for its answer as long as that caller's
// context lets it; a merged one as long as the latest of the callers'
// deadlines (none if one has none), until no caller waits. A request
// given up is cancelled on the server (remote_pubstream.go). A call's
// binary data is copied when it is queued: Publish
// never reads the caller's buffers after it returns.
const (
	maxPublishRequests = 10
	maxMergedEvents    = 1000
	maxMergedBytes     = 128 << 10
	extraRequestEvents = 100
	extraRequestBytes  = 64 << 10
)

// publishLanes holds the lane of each topic with calls in flight.
type publishLanes struct {
	mu    sync.Mutex // guards lanes and everything in them
	lanes map[string]*publishLane
}

// publishLane is one topic's requests in flight and calls waiting.
type publishLane struct {
	inFlight int
	queue    []*publishCall
	queued   int // events in queue
	bytes    int // their size as stored
}

// publishCall is one Publish call of a remote client.
type publishCall struct {
	ctx     context.Context // the caller's
	events  []*heraldv1.CloudEvent
	size    int // size of events as stored (CloudEvent.Size), the measure of the server's limits
	batch   *publishBatch
	results []Result
	err     error
	done    chan struct{} // closed once results or err is set
}

// publishBatch is the calls one request carries. Its context ends once
// every caller has given up waiting.
type publishBatch struct {
	calls  []*publishCall
	ctx    context.Context
	cancel context.CancelFunc
	left   int // callers still waiting; guarded by publishLanes.mu
}

// publish sends events to topic, in a request of their own or together
// with other calls made at the same time. Events that break a CloudEvents
// rule are refused here, as the embedded broker refuses them: the server
// would take an extension named for an attribute with a field of its own
// (partitionkey, subject, …) as that attribute.
func (r *remote) publish(ctx context.Context, topic string, events []*CloudEvent) ([]Result, error) {
	if r.pubs.isClosed() {
		return nil, ErrClientClosed // first, as every call of a closed client says
	}
	if err := ctx.Err(); err != nil {
		return nil, err // as a plain call: nothing goes
	}
	if !utf8.ValidString(topic) { // no request could carry it
		return nil, broker.CheckTopicName(topic)
	}
	for i, e := range events {
		if err := broker.ValidateEvent(i, e); err != nil {
			return nil, err
		}
	}
	c := &publishCall{ctx: ctx, events: make([]*heraldv1.CloudEvent, len(events)), done: make(chan struct{})}
	for i, e := range events {
		c.events[i] = rpc.EventToProto(e)
		if d, ok := c.events[i].Data.(*heraldv1.CloudEvent_BinaryData); ok {
			d.BinaryData = bytes.Clone(d.BinaryData) // the request may be encoded after the caller has gone
		}
		c.size += e.Size()
	}
	r.lanes.submit(r, topic, c)
	select {
	case <-c.done:
		return c.results, c.err
	case <-ctx.Done():
		select {
		case <-c.done: // answered meanwhile: the answer stands
			return c.results, c.err
		default:
		}
		r.lanes.abandon(topic, c)
		return nil, ctx.Err() // as with any request cut short: stored or not
	}
}

// submit queues c and starts the requests the queue calls for.
func (l *publishLanes) submit(r *remote, topic string, c *publishCall) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lanes == nil {
		l.lanes = map[string]*publishLane{}
	}
	ln := l.lanes[topic]
	if ln == nil {
		ln = &publishLane{}
		l.lanes[topic] = ln
	}
	ln.queue = append(ln.queue, c)
	ln.queued, ln.bytes = ln.queued+len(c.events), ln.bytes+c.size
	l.start(r, topic, ln)
	l.tidy(topic, ln)
}

// tidy forgets a topic's lane once nothing is in flight or waiting.
// Called with l.mu held.
func (l *publishLanes) tidy(topic string, ln *publishLane) {
	if ln.inFlight == 0 && len(ln.queue) == 0 {
		delete(l.lanes, topic)
	}
}

// start sends what is queued in new requests: the queue with no request
// in flight, and enough for another while slots are free. The calls
// left wait for a request in flight to end. Called with l.mu held.
func (l *publishLanes) start(r *remote, topic string, ln *publishLane) {
	for len(ln.queue) > 0 && (ln.inFlight == 0 || ln.inFlight < maxPublishRequests && ln.full()) {
		b := ln.take()
		if b == nil {
			return // every call queued was given up
		}
		ln.inFlight++
		go l.run(r, topic, b)
	}
}

// full reports whether the queue fills a request.
func (ln *publishLane) full() bool {
	return ln.queued >= extraRequestEvents || ln.bytes >= extraRequestBytes
}

// take makes a batch of the calls at the head of the queue: the first,
// and those after it that fit in one request. A call of no events goes
// alone, for the server to refuse. Calls whose caller has given up are
// dropped (the caller takes them out too, if it gets there first).
// Called with l.mu held.
func (ln *publishLane) take() *publishBatch {
	ln.dropGivenUp()
	if len(ln.queue) == 0 {
		return nil
	}
	n, events, size := 1, len(ln.queue[0].events), ln.queue[0].size
	for ; n < len(ln.queue) && events > 0; n++ {
		next := ln.queue[n]
		if len(next.events) == 0 || events+len(next.events) > maxMergedEvents || size+next.size > maxMergedBytes {
			break
		}
		events, size = events+len(next.events), size+next.size
	}
	b := &publishBatch{calls: ln.queue[:n:n], left: n}
	b.ctx, b.cancel = batchContext(b.calls)
	ln.queue = ln.queue[n:]
	ln.queued, ln.bytes = ln.queued-events, ln.bytes-size
	for _, c := range b.calls {
		c.batch = b
	}
	return b
}

// dropGivenUp takes the calls whose context has ended out of the queue.
func (ln *publishLane) dropGivenUp() {
	kept := ln.queue[:0]
	for _, c := range ln.queue {
		if c.ctx.Err() == nil {
			kept = append(kept, c)
			continue
		}
		ln.queued, ln.bytes = ln.queued-len(c.events), ln.bytes-c.size
	}
	clear(ln.queue[len(kept):])
	ln.queue = kept
}

// batchContext is the context a request for calls waits with: the
// caller's own for one call; for several, the first caller's values with
// the latest of their deadlines (none if one has none), ended by the
// returned cancel (once no caller waits).
func batchContext(calls []*publishCall) (context.Context, context.CancelFunc) {
	if len(calls) == 1 {
		return calls[0].ctx, func() {}
	}
	var latest time.Time
	for _, c := range calls {
		d, ok := c.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.WithoutCancel(calls[0].ctx))
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.WithoutCancel(calls[0].ctx), latest)
}

// run sends b, then gives its request slot back and starts what the
// calls queued meanwhile call for.
func (l *publishLanes) run(r *remote, topic string, b *publishBatch) {
	r.sendBatch(topic, b)
	b.cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	ln := l.lanes[topic]
	ln.inFlight--
	l.start(r, topic, ln)
	l.tidy(topic, ln)
}

// abandon takes c out of its topic's queue if it is still there, or else
// counts its caller out of the batch carrying it; the batch's request is
// cancelled once no caller waits for it.
func (l *publishLanes) abandon(topic string, c *publishCall) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.batch == nil {
		ln := l.lanes[topic]
		if ln == nil {
			return // dropped from the queue already, and the lane with it
		}
		for i, q := range ln.queue {
			if q == c {
				ln.queue = append(ln.queue[:i:i], ln.queue[i+1:]...)
				ln.queued, ln.bytes = ln.queued-len(c.events), ln.bytes-c.size
				l.tidy(topic, ln)
				return
			}
		}
		return
	}
	if c.batch.left--; c.batch.left == 0 {
		c.batch.cancel()
	}
}

// sendBatch publishes the calls of b in one request and answers each.
func (r *remote) sendBatch(topic string, b *publishBatch) {
	if len(b.calls) == 1 {
		c := b.calls[0]
		c.results, c.err = r.publishRequest(b.ctx, topic, c.events)
		c.err = rpc.FromConnect(c.err)
		close(c.done)
		return
	}
	var all []*heraldv1.CloudEvent
	for _, c := range b.calls {
		all = append(all, c.events...)
	}
	results, err := r.publishRequest(b.ctx, topic, all)
	for _, c := range b.calls {
		switch {
		case err == nil:
			c.results, results = results[:len(c.events):len(c.events)], results[len(c.events):]
		case connect.CodeOf(err) == connect.CodeInvalidArgument:
			c.results, c.err = r.publishAlone(topic, c) // nothing was stored
		default:
			c.err = err
		}
		c.err = rpc.FromConnect(c.err)
		close(c.done)
	}
}

// publishAlone sends one call of a merged request that was refused, with
// its caller's context; a caller that has given up is not sent again.
func (r *remote) publishAlone(topic string, c *publishCall) ([]Result, error) {
	if err := c.ctx.Err(); err != nil {
		return nil, err
	}
	return r.publishRequest(c.ctx, topic, c.events)
}

// publishRequest is one Publish request. Its error is the connect error
// (the caller decides on its code, then makes it Herald's).
func (r *remote) publishRequest(ctx context.Context, topic string, events []*heraldv1.CloudEvent) ([]Result, error) {
	resp, err := r.pubs.request(ctx, &heraldv1.PublishRequest{Topic: topic, Events: events})
	if err != nil {
		return nil, err
	}
	if len(resp.GetResults()) != len(events) {
		return nil, fmt.Errorf("herald: publish: the server answered %d results for %d events", len(resp.GetResults()), len(events))
	}
	results := make([]Result, len(events))
	for i, m := range resp.GetResults() {
		results[i] = Result{ID: m.GetId(), Partition: int(m.GetPartition()), Offset: m.GetOffset(), Duplicate: m.GetDuplicate()}
	}
	return results, nil
}
