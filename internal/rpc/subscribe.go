package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/rpc/heraldv1/heraldv1connect"
	"github.com/heraldevents/herald/internal/subscription"
)

// pollWait is how long one pull of the Subscribe stream waits for events
// before it looks at its credit and the client again.
const pollWait = time.Second

// Pulls of one Subscribe stream run in pullers goroutines, each taking at
// most pullChunk of the credit: every pull waits for its delivery attempts
// to be durable, and several waiting together share one write instead of
// queueing behind each other.
const (
	pullers   = 3
	pullChunk = 128
)

// Subscribe serves flow-controlled delivery on one stream: deliveries go
// out while the client has credit; its settlements are applied in the
// order received, several at a time when they queue up.
func (s *Service) Subscribe(ctx context.Context, stream *connect.BidiStream[heraldv1.SubscribeRequest, heraldv1.SubscribeResponse]) error {
	m, err := s.manager()
	if err != nil {
		return err
	}
	done, err := s.waitPlace() // as an HTTP stream, it holds a place while it lasts
	if err != nil {
		return err
	}
	defer done()
	ctx, cancel := s.untilClosing(ctx)
	defer cancel(nil)
	defer cutStuckSend(ctx, s.closing)()
	first, err := receiveFirst(ctx, stream)
	if errors.Is(err, io.EOF) {
		return nil // the client closed its side without asking for anything
	}
	if err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil {
		return toConnect(fmt.Errorf("%w: the first message of Subscribe must be start", errMalformed))
	}
	if _, err := m.Get(ctx, start.GetTopic(), start.GetSubscription()); err != nil {
		return toConnect(err)
	}
	ss := &subscribeStream{m: m, topic: start.GetTopic(), name: start.GetSubscription(), cancel: cancel,
		credit: newCredit(), settles: make(chan *heraldv1.Settlement, 1024),
		settledMore: make(chan struct{}, 1), appliedMore: make(chan struct{}, 1)}
	applied := make(chan struct{})
	go ss.receive(stream)
	go func() {
		defer close(applied)
		ss.apply(context.WithoutCancel(ctx))
	}()
	err = ss.deliver(ctx, stream)
	switch {
	case errors.Is(err, errClientDone):
		<-applied          // every settlement received is applied before the stream ends
		return ss.applyErr // the client must not take a failed settlement for done
	case IsServerClosing(err):
		ss.settleBeforeClosing(applied)
	}
	return err
}

// closeGrace bounds how long a Subscribe stream of a server shutting down
// waits for its client to settle what it was sent.
const closeGrace = 5 * time.Second

// settleBeforeClosing lets the client of a server shutting down settle
// the deliveries it was sent, delivering having stopped: it waits, up to
// closeGrace, until every one is acked, nacked, rejected or released on
// the stream (or the client's side ends), and then until the settlements
// received are applied. Ending the stream at once would lose the results
// of handlers finishing meanwhile: sent later, as Settle calls, they reach
// the restarted server, where the ack ids are stale, and the events come
// again.
func (ss *subscribeStream) settleBeforeClosing(applied <-chan struct{}) {
	timer := time.NewTimer(closeGrace)
	defer timer.Stop()
	for ss.unsettled.Load() > 0 {
		select {
		case <-ss.settledMore:
		case <-applied: // the client's side ended, and all it sent is applied
			return
		case <-timer.C:
			return
		}
	}
	want := ss.received.Load() // each settled delivery's settlement is counted in by now
	for ss.applied.Load() < want {
		select {
		case <-ss.appliedMore:
		case <-applied:
			return
		case <-timer.C:
			return
		}
	}
}

// cutGrace is how long after a server began shutting down a Subscribe
// stream whose send is stuck in flow control (its client stopped reading)
// is reset: a moment past closeGrace, so that a stream that ends at
// closeGrace ends with the shutdown's error instead.
const cutGrace = closeGrace + time.Second

// responseKey is the context key of a Subscribe request's
// *http.ResponseController (withResponseController).
type responseKey struct{}

// withResponseController gives the Subscribe handler its response's
// controller, in the request's context, for cutStuckSend.
func withResponseController(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == heraldv1connect.HeraldServiceSubscribeProcedure {
			r = r.WithContext(context.WithValue(r.Context(), responseKey{}, http.NewResponseController(w)))
		}
		h.ServeHTTP(w, r)
	})
}

// cutStuckSend resets the stream cutGrace after the server began shutting
// down (closing closed), should the handler still be running then: only
// a send stuck in flow control holds it that long, and it would hold the
// shutdown, and the deliveries pulled behind it, until the connection is
// cut. That holds also of a stream that had ended before (its client
// closed its side, or sent what it may not): its send may be stuck all
// the same. The send fails, and the stream ends as when it breaks. The
// stop it returns must run before the handler returns: the response is
// not used after.
func cutStuckSend(ctx context.Context, closing <-chan struct{}) (stop func()) {
	rc, _ := ctx.Value(responseKey{}).(*http.ResponseController)
	if rc == nil || closing == nil {
		return func() {}
	}
	var mu sync.Mutex // guards done and cut
	var done bool
	var cut *time.Timer
	stopped := make(chan struct{})
	go func() {
		select {
		case <-closing:
		case <-stopped:
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		cut = time.AfterFunc(cutGrace, func() {
			mu.Lock()
			defer mu.Unlock()
			if !done {
				_ = rc.SetWriteDeadline(time.Now()) // a deadline passed resets the stream
			}
		})
	}()
	return func() {
		close(stopped)
		mu.Lock()
		defer mu.Unlock()
		done = true
		if cut != nil {
			cut.Stop()
		}
	}
}

// receiveFirst waits for the stream's first message, or for the server to
// shut down: a client that never sends start must not hold the server's
// graceful shutdown. The receive left waiting ends when the handler
// returns (the request body is closed then).
func receiveFirst(ctx context.Context, stream *connect.BidiStream[heraldv1.SubscribeRequest, heraldv1.SubscribeResponse]) (*heraldv1.SubscribeRequest, error) {
	type received struct {
		msg *heraldv1.SubscribeRequest
		err error
	}
	got := make(chan received, 1)
	go func() {
		msg, err := stream.Receive()
		got <- received{msg, err}
	}()
	select {
	case r := <-got:
		return r.msg, r.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// errServerClosing ends streams and long polls when the server shuts down.
// It carries ClosingKey: a request refused with it was not stored.
var errServerClosing = func() *connect.Error {
	err := connect.NewError(connect.CodeUnavailable, errors.New("the server is shutting down; reconnect"))
	err.Meta().Set(ClosingKey, "true")
	return err
}()

// ClosingKey is the metadata entry that marks the error of a server
// shutting down.
const ClosingKey = "Herald-Server-Closing"

// IsServerClosing reports whether err is the error of a server shutting
// down, which it gives only to what it has not begun: such a publish was
// not stored and may go again at once on a new connection.
func IsServerClosing(err error) bool {
	ce := new(connect.Error)
	return errors.As(err, &ce) && ce.Code() == connect.CodeUnavailable && ce.Meta().Get(ClosingKey) != ""
}

// untilClosing returns ctx ending also when the server closes, so that a
// shutdown does not wait for streams and long polls.
func (s *Service) untilClosing(ctx context.Context) (context.Context, context.CancelCauseFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	if s.closing != nil {
		go func() {
			select {
			case <-s.closing:
				cancel(errServerClosing)
			case <-ctx.Done():
			}
		}()
	}
	return ctx, cancel
}

// errClientDone ends a Subscribe stream whose client closed its side.
var errClientDone = errors.New("the client closed the stream")

// subscribeStream is one Subscribe call: a receiver of credit and
// settlements, an applier of settlements and the delivering loop.
type subscribeStream struct {
	m           *subscription.Manager
	topic, name string
	cancel      context.CancelCauseFunc
	credit      *credit // granted by the client and not yet used
	settles     chan *heraldv1.Settlement
	sendMu      sync.Mutex // one Send at a time; guards sendErr
	sendErr     error      // the stream's end, as the first send to see it saw it
	applyErr    error      // the first settlement that failed; set by apply only

	// For a server shutting down (settleBeforeClosing):
	unsettled   atomic.Int64  // deliveries sent and not yet acked, nacked, rejected or released on the stream
	settledMore chan struct{} // a token when unsettled goes down
	received    atomic.Int64  // settlements received (counted before they are queued)
	applied     atomic.Int64  // settlements applied
	appliedMore chan struct{} // a token when applied goes up
}

// receive reads the client's messages until it closes its side, then
// ends the applier (by closing settles) and the delivering loop.
func (ss *subscribeStream) receive(stream *connect.BidiStream[heraldv1.SubscribeRequest, heraldv1.SubscribeResponse]) {
	defer close(ss.settles)
	for {
		msg, err := stream.Receive()
		if errors.Is(err, io.EOF) {
			ss.cancel(errClientDone)
			return
		}
		if err != nil {
			ss.cancel(err)
			return
		}
		switch k := msg.GetKind().(type) {
		case *heraldv1.SubscribeRequest_Flow:
			if k.Flow <= 0 {
				ss.cancel(toConnect(fmt.Errorf("%w: flow must be positive, got %d", errMalformed, k.Flow)))
				return
			}
			ss.credit.add(int64(k.Flow))
		case *heraldv1.SubscribeRequest_Settle:
			ss.received.Add(1)
			ss.settles <- k.Settle
			if k.Settle.GetKind() != heraldv1.Settlement_KIND_EXTEND {
				ss.unsettled.Add(-int64(len(k.Settle.GetAckIds()))) // after it is queued: see settleBeforeClosing
				signal(ss.settledMore)
			}
		default:
			ss.cancel(toConnect(fmt.Errorf("%w: after start, Subscribe takes only flow and settle", errMalformed)))
			return
		}
	}
}

// apply applies settlements in order; acks queued together go in one
// call, so one durable write answers many.
func (ss *subscribeStream) apply(ctx context.Context) {
	for st := range ss.settles {
		batch := []*heraldv1.Settlement{st}
	more:
		for len(batch) < 256 {
			select {
			case next, ok := <-ss.settles:
				if !ok {
					break more
				}
				batch = append(batch, next)
			default:
				break more
			}
		}
		for _, st := range coalesceAcks(batch) {
			if _, err := settle(ctx, ss.m, ss.topic, ss.name, st); err != nil {
				err = toConnect(err)
				if ss.applyErr == nil {
					ss.applyErr = err // read after apply returns
				}
				ss.cancel(err)
			}
		}
		ss.applied.Add(int64(len(batch)))
		signal(ss.appliedMore)
	}
}

// signal leaves a token in c (of capacity 1) unless one is there.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// coalesceAcks merges the acks of a batch into settlements of at most
// MaxAckIDs ids, placed where the first ack of each was; the others keep
// their order. An ack does not move ahead of a nack, reject or release
// of one of its ids (after which it is stale): it starts a new merged
// settlement instead. Moving it ahead of an extend changes nothing: the
// id ends acked either way.
func coalesceAcks(batch []*heraldv1.Settlement) []*heraldv1.Settlement {
	var acks *heraldv1.Settlement
	var since map[string]bool // ids nacked, rejected or released after acks was placed
	out := batch[:0:0]
	for _, st := range batch {
		if kind := st.GetKind(); kind != heraldv1.Settlement_KIND_ACK {
			out = append(out, st)
			if acks != nil && kind != heraldv1.Settlement_KIND_EXTEND {
				if since == nil {
					since = map[string]bool{}
				}
				for _, id := range st.GetAckIds() {
					since[id] = true
				}
			}
			continue
		}
		if acks == nil || len(acks.AckIds)+len(st.GetAckIds()) > subscription.MaxAckIDs || anyIn(since, st.GetAckIds()) {
			acks = &heraldv1.Settlement{Kind: heraldv1.Settlement_KIND_ACK}
			out = append(out, acks)
			since = nil
		}
		acks.AckIds = append(acks.AckIds, st.GetAckIds()...)
	}
	return out
}

// anyIn reports whether one of ids is in set.
func anyIn(set map[string]bool, ids []string) bool {
	if len(set) == 0 {
		return false
	}
	for _, id := range ids {
		if set[id] {
			return true
		}
	}
	return false
}

// deliver pulls and sends while the client has credit, until ctx ends
// or a puller fails.
func (ss *subscribeStream) deliver(ctx context.Context, stream *connect.BidiStream[heraldv1.SubscribeRequest, heraldv1.SubscribeResponse]) error {
	errc := make(chan error, pullers)
	for range pullers {
		go func() { errc <- ss.pullLoop(ctx, stream) }()
	}
	err := <-errc
	ss.cancel(err) // the others stop too
	for range pullers - 1 {
		<-errc
	}
	return err
}

// pullLoop takes credit, pulls that many at most and sends what came.
func (ss *subscribeStream) pullLoop(ctx context.Context, stream *connect.BidiStream[heraldv1.SubscribeRequest, heraldv1.SubscribeResponse]) error {
	for {
		n, err := ss.credit.take(ctx, pullChunk)
		if err != nil {
			return context.Cause(ctx)
		}
		ds, err := ss.m.PullRemote(ctx, ss.topic, ss.name, int(n), pollWait)
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return toConnect(err)
		}
		ss.credit.add(n - int64(len(ds)))
		if len(ds) == 0 {
			continue
		}
		if err := ss.send(ctx, stream, ds); err != nil {
			return err
		}
	}
}

// send sends deliveries in one message. Once the stream has ended, or a
// send has failed, nobody will see them: they are released, to come again
// at once without counting an attempt. Those of a send that fails stay
// leased (the client may have got part of them) and come again after
// their ack timeout.
func (ss *subscribeStream) send(ctx context.Context, stream *connect.BidiStream[heraldv1.SubscribeRequest, heraldv1.SubscribeResponse], ds []subscription.Delivery) error {
	m := &heraldv1.SubscribeResponse{Deliveries: deliveriesToProto(ds)}
	ss.sendMu.Lock()
	defer ss.sendMu.Unlock()
	if ss.sendErr == nil && ctx.Err() != nil {
		ss.sendErr = context.Cause(ctx)
	}
	if ss.sendErr != nil {
		ids := make([]string, len(ds))
		for i, d := range ds {
			ids[i] = d.AckID
		}
		// Should the release fail, they come again after their ack timeout.
		_, _ = ss.m.Release(context.WithoutCancel(ctx), ss.topic, ss.name, ids)
		return ss.sendErr
	}
	ss.unsettled.Add(int64(len(ds))) // before the client can settle them
	ss.sendErr = stream.Send(m)
	return ss.sendErr
}

// credit is what a client has granted and deliveries have not yet used.
type credit struct {
	mu   sync.Mutex // guards n
	n    int64
	more chan struct{} // a token when credit may be available
}

func newCredit() *credit { return &credit{more: make(chan struct{}, 1)} }

func (c *credit) add(n int64) {
	if n <= 0 {
		return
	}
	c.mu.Lock()
	c.n += n
	c.mu.Unlock()
	c.signal()
}

func (c *credit) signal() {
	select {
	case c.more <- struct{}{}:
	default:
	}
}

// take waits for credit and takes up to max of it.
func (c *credit) take(ctx context.Context, max int64) (int64, error) {
	for {
		c.mu.Lock()
		n := min(c.n, max)
		c.n -= n
		left := c.n
		c.mu.Unlock()
		if left > 0 {
			c.signal() // another puller may take the rest
		}
		if n > 0 {
			return n, nil
		}
		select {
		case <-c.more:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}
