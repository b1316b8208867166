package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"connectrpc.com/connect"

	"github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/subscription"
)

// pollWait is how long one pull of the Subscribe stream waits for events
// before it looks at its credit and the client again.
const pollWait = time.Second

// Subscribe serves flow-controlled delivery on one stream: deliveries go
// out while the client has credit; its settlements are applied in the
// order received, several at a time when they queue up.
func (s *Service) Subscribe(ctx context.Context, stream *connect.BidiStream[heraldv1.SubscribeRequest, heraldv1.SubscribeResponse]) error {
	m, err := s.manager()
	if err != nil {
		return err
	}
	first, err := stream.Receive()
	if err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil {
		return connect.NewError(connect.CodeInvalidArgument, errors.New("the first message of Subscribe must be start"))
	}
	if _, err := m.Get(ctx, start.GetTopic(), start.GetSubscription()); err != nil {
		return toConnect(err)
	}
	ctx, cancel := s.untilClosing(ctx)
	defer cancel(nil)
	ss := &subscribeStream{m: m, topic: start.GetTopic(), name: start.GetSubscription(), cancel: cancel,
		credit: make(chan int32, 1), settles: make(chan *heraldv1.Settlement, 1024)}
	applied := make(chan struct{})
	go ss.receive(stream)
	go func() {
		defer close(applied)
		ss.apply(context.WithoutCancel(ctx))
	}()
	err = ss.deliver(ctx, stream)
	if errors.Is(err, errClientDone) {
		<-applied // every settlement received is applied before the stream ends
		return nil
	}
	return err
}

// errServerClosing ends streams and long polls when the server shuts down.
var errServerClosing = connect.NewError(connect.CodeUnavailable, errors.New("the server is shutting down; reconnect"))

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
	credit      chan int32 // credit granted and not yet taken by deliver; holds a running sum
	settles     chan *heraldv1.Settlement
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
				ss.cancel(connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("flow must be positive, got %d", k.Flow)))
				return
			}
			ss.grant(k.Flow)
		case *heraldv1.SubscribeRequest_Settle:
			ss.settles <- k.Settle
		default:
			ss.cancel(connect.NewError(connect.CodeInvalidArgument, errors.New("after start, Subscribe takes only flow and settle")))
			return
		}
	}
}

// grant adds credit: the channel holds at most one value, the sum.
func (ss *subscribeStream) grant(n int32) {
	for {
		select {
		case ss.credit <- n:
			return
		case have := <-ss.credit:
			n += have
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
				ss.cancel(toConnect(err))
			}
		}
	}
}

// coalesceAcks merges the acks of a batch into one settlement placed where
// the first was; the others keep their order.
func coalesceAcks(batch []*heraldv1.Settlement) []*heraldv1.Settlement {
	var acks *heraldv1.Settlement
	out := batch[:0:0]
	for _, st := range batch {
		if st.GetKind() != heraldv1.Settlement_KIND_ACK {
			out = append(out, st)
			continue
		}
		if acks == nil {
			acks = &heraldv1.Settlement{Kind: heraldv1.Settlement_KIND_ACK}
			out = append(out, acks)
		}
		acks.AckIds = append(acks.AckIds, st.GetAckIds()...)
	}
	return out
}

// deliver pulls and sends while the client has credit, until ctx ends.
func (ss *subscribeStream) deliver(ctx context.Context, stream *connect.BidiStream[heraldv1.SubscribeRequest, heraldv1.SubscribeResponse]) error {
	var credit int32
	for {
		if credit == 0 {
			select {
			case n := <-ss.credit:
				credit = n
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		select { // take credit granted meanwhile
		case n := <-ss.credit:
			credit += n
		default:
		}
		ds, err := ss.m.Pull(ctx, ss.topic, ss.name, int(min(credit, subscription.MaxPull)), pollWait)
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return toConnect(err)
		}
		if len(ds) == 0 {
			continue
		}
		credit -= int32(len(ds))
		if err := stream.Send(&heraldv1.SubscribeResponse{Deliveries: deliveriesToProto(ds)}); err != nil {
			return err
		}
	}
}
