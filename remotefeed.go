package herald

import (
	"context"
	"errors"
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
type streamFeed struct {
	r           *remote
	topic, name string
	stream      *subscribeStream
	cancel      context.CancelFunc // ends the stream
	sctx        context.Context    // the stream's context: done once the feed is closed
	keep        *leaseKeeper       // keeps the leases of deliveries received

	sendMu  sync.Mutex   // serialises Send and CloseRequest
	granted atomic.Int64 // credit granted and not yet used by deliveries handed to the router
	in      chan []*Delivery
	done    chan struct{} // closed when the receiver stops; err is set before
	err     error
}

func (r *remote) feed(ctx context.Context, topic, name string, keep *leaseKeeper) (feed, error) {
	if _, err := r.subscription(ctx, topic, name); err != nil {
		return nil, err
	}
	// The stream outlives ctx: after a router stops taking deliveries it
	// still settles those in flight on it.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &streamFeed{r: r, topic: topic, name: name, stream: r.subscribe.CallBidiStream(sctx), cancel: cancel, sctx: sctx,
		keep: keep, in: make(chan []*Delivery, 64), done: make(chan struct{})}
	start := &heraldv1.SubscribeRequest{Kind: &heraldv1.SubscribeRequest_Start{Start: &heraldv1.SubscribeStart{Topic: topic, Subscription: name}}}
	if err := f.send(start); err != nil {
		cancel()
		return nil, rpc.FromConnect(err)
	}
	go f.receive()
	return f, nil
}

func (f *streamFeed) send(m *heraldv1.SubscribeRequest) error {
	f.sendMu.Lock()
	defer f.sendMu.Unlock()
	return f.stream.Send(m)
}

// receive hands deliveries to next until the stream ends.
func (f *streamFeed) receive() {
	defer close(f.done)
	for {
		m, err := f.stream.Receive()
		if err != nil {
			f.err = rpc.FromConnect(err)
			return
		}
		ds := deliveriesFromWire(f.topic, f.name, m.ds)
		// Leased from now, though not yet taken. Room is there but for a
		// close that gave up waiting.
		f.keep.hold(f, ds)
		select {
		case f.in <- ds:
		case <-f.sctx.Done():
			f.keep.drop(ds) // nobody takes them now: their leases run out
			f.err = f.sctx.Err()
			return
		}
	}
}

func (f *streamFeed) next(ctx context.Context, free int) ([]*Delivery, error) {
	if want := int64(free) - f.granted.Load(); want > 0 {
		f.granted.Add(want)
		if err := f.send(&heraldv1.SubscribeRequest{Kind: &heraldv1.SubscribeRequest_Flow{Flow: int32(want)}}); err != nil {
			return nil, f.brokenErr(err)
		}
	}
	timer := time.NewTimer(time.Second)
	defer timer.Stop()
	select {
	case ds := <-f.in:
		f.granted.Add(-int64(len(ds))) // outstanding until handed out, not until received
		return ds, nil
	case <-f.done:
		return nil, f.brokenErr(nil)
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-timer.C:
		return nil, nil
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
		if f.send(&heraldv1.SubscribeRequest{Kind: &heraldv1.SubscribeRequest_Settle{Settle: settlementProto(st)}}) == nil {
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
// sent (it ends the stream then), or ctx ends.
func (f *streamFeed) close(ctx context.Context) error {
	defer f.cancel()
	if ctx.Err() != nil {
		// A close that gave up already (its settlements outlasted it):
		// end the stream now, without waiting for sendMu, which a send
		// stuck in flow control may hold. What was received and not
		// taken comes again once its lease runs out.
		for {
			select {
			case ds := <-f.in:
				f.keep.drop(ds)
			default:
				return ctx.Err()
			}
		}
	}
	f.giveBack(ctx)
	f.sendMu.Lock()
	err := f.stream.CloseRequest()
	f.sendMu.Unlock()
	for {
		select {
		case ds := <-f.in: // sent before the server saw the close
			f.releaseUnstarted(ctx, ds)
		case <-f.done:
			f.giveBack(ctx) // what arrived just before the end (settled by calls now)
			f.stream.CloseResponse()
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
		select {
		case ds := <-f.in:
			f.releaseUnstarted(ctx, ds)
		default:
			return
		}
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
