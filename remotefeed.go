package herald

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/heraldevents/herald/internal/rpc"
	"github.com/heraldevents/herald/internal/rpc/heraldv1"
)

// streamFeed is a remote feed on one Subscribe stream: it grants the
// server credit for the router's free slots, so the server never sends
// more than the router can start, and sends settlements on the same
// stream. A settlement that cannot go on the stream (it broke) goes as a
// Settle call instead, retried while the server is unreachable.
//
// The receiver reads every message as it comes and puts its deliveries in
// the queue under the lease keeper at once: a delivery left unread in the
// stream would have nobody extending its lease. Credit bounds the queue.
// Grants go out from a goroutine of their own, so that the router's loop
// never waits for a send (one stuck in HTTP/2 flow control would hold it
// past Run's end).
type streamFeed struct {
	r           *remote
	topic, name string
	stream      *subscribeStream
	cancel      context.CancelFunc // ends the stream
	sctx        context.Context    // the stream's context: done once the feed is closed
	keep        *leaseKeeper       // keeps the leases of deliveries received

	sendSem chan struct{} // one Send or CloseRequest at a time; a channel, so that a wait for it can end
	granted atomic.Int64  // credit granted and not yet used by deliveries handed to the router
	grant   atomic.Int64  // credit to send with the next flow message
	flow    chan struct{} // wakes the flow sender

	mu    sync.Mutex
	queue [][]*Delivery // received, not yet taken
	ready chan struct{} // signalled when the queue gains a message

	done chan struct{} // closed when the receiver stops; err is set before
	err  error
}

func (r *remote) feed(ctx context.Context, topic, name string, keep *leaseKeeper) (feed, error) {
	if _, err := r.subscription(ctx, topic, name); err != nil {
		return nil, err
	}
	// The stream outlives ctx: after a router stops taking deliveries it
	// still settles those in flight on it.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &streamFeed{r: r, topic: topic, name: name, stream: r.subscribe.CallBidiStream(sctx), cancel: cancel, sctx: sctx,
		keep: keep, sendSem: make(chan struct{}, 1), flow: make(chan struct{}, 1), ready: make(chan struct{}, 1),
		done: make(chan struct{})}
	start := &heraldv1.SubscribeRequest{Kind: &heraldv1.SubscribeRequest_Start{Start: &heraldv1.SubscribeStart{Topic: topic, Subscription: name}}}
	if err := f.send(ctx, start); err != nil {
		cancel()
		return nil, rpc.FromConnect(err)
	}
	go f.receive()
	go f.sendFlow()
	return f, nil
}

// lockSend takes the right to send, unless ctx ends first.
func (f *streamFeed) lockSend(ctx context.Context) error {
	select {
	case f.sendSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *streamFeed) unlockSend() { <-f.sendSem }

func (f *streamFeed) send(ctx context.Context, m *heraldv1.SubscribeRequest) error {
	if err := f.lockSend(ctx); err != nil {
		return err
	}
	defer f.unlockSend()
	return f.stream.Send(m)
}

// sendFlow sends the credit next grants, until the stream ends. A failed
// send needs no report: the stream is broken, and the receiver says so.
func (f *streamFeed) sendFlow() {
	for {
		select {
		case <-f.flow:
		case <-f.done:
			return
		case <-f.sctx.Done():
			return
		}
		if n := f.grant.Swap(0); n > 0 {
			f.send(f.sctx, &heraldv1.SubscribeRequest{Kind: &heraldv1.SubscribeRequest_Flow{Flow: int32(n)}})
		}
	}
}

// receive queues the deliveries of each message until the stream ends.
// When the feed was closed (the close gave up), nobody takes what is left:
// it stops holding it, and the leases run out.
func (f *streamFeed) receive() {
	defer func() {
		if f.sctx.Err() != nil {
			for ds, ok := f.take(); ok; ds, ok = f.take() {
				f.keep.drop(ds)
			}
		}
		close(f.done)
	}()
	for {
		m, err := f.stream.Receive()
		if err != nil {
			f.err = rpc.FromConnect(err)
			return
		}
		ds := deliveriesFromWire(f.topic, f.name, m.ds)
		f.keep.hold(f, ds) // leased from now, though not yet taken
		f.mu.Lock()
		f.queue = append(f.queue, ds)
		f.mu.Unlock()
		select {
		case f.ready <- struct{}{}:
		default: // a signal is pending already
		}
	}
}

// take returns the oldest message's deliveries received and not taken.
func (f *streamFeed) take() ([]*Delivery, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queue) == 0 {
		return nil, false
	}
	ds := f.queue[0]
	f.queue[0] = nil
	f.queue = f.queue[1:]
	return ds, true
}

func (f *streamFeed) next(ctx context.Context, free int) ([]*Delivery, error) {
	if want := int64(free) - f.granted.Load(); want > 0 {
		f.granted.Add(want)
		f.grant.Add(want)
		select {
		case f.flow <- struct{}{}:
		default: // the sender is due to look already
		}
	}
	timer := time.NewTimer(time.Second)
	defer timer.Stop()
	for {
		if ds, ok := f.take(); ok {
			f.granted.Add(-int64(len(ds))) // outstanding until handed out, not until received
			return ds, nil
		}
		select {
		case <-f.ready:
		case <-f.done:
			if ds, ok := f.take(); ok { // received before the end: hand them out first
				f.granted.Add(-int64(len(ds)))
				return ds, nil
			}
			return nil, f.brokenErr(nil)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, nil
		}
	}
}

// brokenErr is the error of a stream that failed: the receiver's when it
// has stopped, else the one given.
func (f *streamFeed) brokenErr(err error) error {
	select {
	case <-f.done:
		if f.err != nil {
			return f.err
		}
	default:
	}
	if err == nil {
		return errStreamEnded
	}
	return rpc.FromConnect(err)
}

func (f *streamFeed) settle(ctx context.Context, st settlement) {
	select {
	case <-f.done: // broken: the stream would drop it
	default:
		if f.send(ctx, &heraldv1.SubscribeRequest{Kind: &heraldv1.SubscribeRequest_Settle{Settle: settlementProto(st)}}) == nil {
			return
		}
	}
	f.settleByCall(ctx, st)
}

// settleByCall settles with Settle calls, retrying for up to 30 seconds
// while the server cannot be reached (it may be restarting). An ack id
// from before a restart may come back stale: its event is delivered again.
func (f *streamFeed) settleByCall(ctx context.Context, st settlement) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	retry := newRetryDelay()
	for {
		_, err := f.r.settle(ctx, f.topic, f.name, st)
		if err == nil || connect.CodeOf(err) != connect.CodeUnavailable {
			return
		}
		select {
		case <-time.After(retry.next()):
		case <-ctx.Done():
			return
		}
	}
}

// close releases deliveries received and never started, closes the
// client's side and waits until the server has applied every settlement
// sent (it ends the stream then), or ctx ends. It returns the error the
// server ended the stream with: a settlement it could not apply.
func (f *streamFeed) close(ctx context.Context) error {
	defer f.cancel()
	if ctx.Err() != nil {
		// A close that gave up already (its settlements outlasted it):
		// end the stream now, without waiting for the right to send,
		// which a send stuck in flow control may hold. What was received
		// and not taken comes again once its lease runs out.
		for {
			ds, ok := f.take()
			if !ok {
				return ctx.Err()
			}
			f.keep.drop(ds)
		}
	}
	f.giveBack(ctx)
	if err := f.lockSend(ctx); err != nil {
		return err // the deferred cancel ends the stream, and the stuck send with it
	}
	err := f.stream.CloseRequest()
	f.unlockSend()
	for {
		select {
		case <-f.ready: // sent before the server saw the close
			f.giveBack(ctx)
		case <-f.done:
			f.giveBack(ctx) // what arrived just before the end (settled by calls now)
			f.stream.CloseResponse()
			if f.err != nil && !errors.Is(f.err, io.EOF) {
				return f.err
			}
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// giveBack releases the deliveries received and not started: they come
// again at once, their attempt not counted.
func (f *streamFeed) giveBack(ctx context.Context) {
	for {
		ds, ok := f.take()
		if !ok {
			return
		}
		f.releaseUnstarted(ctx, ds)
	}
}

func (f *streamFeed) releaseUnstarted(ctx context.Context, ds []*Delivery) {
	f.keep.drop(ds)
	f.settle(ctx, settlement{kind: settleRelease, ackIDs: ackIDs(ds)})
}

// errStreamEnded is a Subscribe stream the server ended without an error.
var errStreamEnded = errors.New("herald: the server ended the delivery stream")

func ackIDs(ds []*Delivery) []string {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.AckID
	}
	return ids
}
