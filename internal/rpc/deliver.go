package rpc

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/subscription"
)

// Pull leases up to max deliveries.
func (s *Service) Pull(ctx context.Context, req *connect.Request[heraldv1.PullRequest]) (*connect.Response[heraldv1.PullResponse], error) {
	m, err := s.manager()
	if err != nil {
		return nil, err
	}
	max := int(req.Msg.GetMax())
	if max < 0 || max > subscription.MaxPull {
		return nil, toConnect(fmt.Errorf("%w: max %d: must be from 1 to %d", subscription.ErrInvalidConfig, max, subscription.MaxPull))
	}
	wait, err := waitOf(req.Msg.GetWait())
	if err != nil {
		return nil, toConnect(err)
	}
	if wait > 0 {
		done, err := s.waitPlace()
		if err != nil {
			return nil, err
		}
		defer done()
	}
	ctx, cancel := s.untilClosing(ctx)
	defer cancel(nil)
	ds, err := m.PullRemote(ctx, req.Msg.GetTopic(), req.Msg.GetSubscription(), max, wait)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&heraldv1.PullResponse{Deliveries: deliveriesToProto(ds)}), nil
}

// Settle applies settlements in order and answers once they are durable.
// A request with any settlement that is not valid is refused whole, before
// any is applied.
func (s *Service) Settle(ctx context.Context, req *connect.Request[heraldv1.SettleRequest]) (*connect.Response[heraldv1.SettleResponse], error) {
	m, err := s.manager()
	if err != nil {
		return nil, err
	}
	for i, st := range req.Msg.GetSettlements() {
		if _, err := checkSettlement(st); err != nil {
			return nil, toConnect(fmt.Errorf("settlement %d: %w", i, err))
		}
	}
	resp := &heraldv1.SettleResponse{}
	for _, st := range req.Msg.GetSettlements() {
		res, err := settle(ctx, m, req.Msg.GetTopic(), req.Msg.GetSubscription(), st)
		if err != nil {
			return nil, toConnect(err)
		}
		resp.Results = append(resp.Results, &heraldv1.SettleResult{Acked: res.Acked, Stale: res.Stale, Unknown: res.Unknown})
	}
	return connect.NewResponse(resp), nil
}

// checkSettlement refuses a settlement that cannot be applied, and
// returns its delay.
func checkSettlement(st *heraldv1.Settlement) (time.Duration, error) {
	if n := len(st.GetAckIds()); n > subscription.MaxAckIDs {
		return 0, fmt.Errorf("%w: %d ack ids: at most %d per settlement", subscription.ErrInvalidConfig, n, subscription.MaxAckIDs)
	}
	switch st.GetKind() {
	case heraldv1.Settlement_KIND_ACK, heraldv1.Settlement_KIND_NACK, heraldv1.Settlement_KIND_REJECT,
		heraldv1.Settlement_KIND_EXTEND, heraldv1.Settlement_KIND_RELEASE:
	default:
		return 0, fmt.Errorf("%w: settlement kind %v: must be ACK, NACK, REJECT, EXTEND or RELEASE", subscription.ErrInvalidConfig, st.GetKind())
	}
	return delayOf(st.GetDelay())
}

// settle applies one settlement.
func settle(ctx context.Context, m *subscription.Manager, topic, name string, st *heraldv1.Settlement) (subscription.AckResult, error) {
	delay, err := checkSettlement(st)
	if err != nil {
		return subscription.AckResult{}, err
	}
	ids := st.GetAckIds()
	switch st.GetKind() {
	case heraldv1.Settlement_KIND_ACK:
		return m.Ack(ctx, topic, name, ids)
	case heraldv1.Settlement_KIND_NACK:
		return m.Nack(ctx, topic, name, ids, delay, st.GetReason())
	case heraldv1.Settlement_KIND_REJECT:
		return m.Reject(ctx, topic, name, ids, st.GetReason())
	case heraldv1.Settlement_KIND_EXTEND:
		return m.Extend(ctx, topic, name, ids, delay)
	default: // KIND_RELEASE: checkSettlement let no other through
		return m.Release(ctx, topic, name, ids)
	}
}

// deliveriesToProto converts deliveries, their messages allocated
// together in one block.
func deliveriesToProto(ds []subscription.Delivery) []*heraldv1.Delivery {
	out := make([]*heraldv1.Delivery, len(ds))
	block := make([]struct {
		d heraldv1.Delivery
		e storedEventProto
	}, len(ds))
	for i, d := range ds {
		m := &block[i]
		m.e.fill(d.Event)
		m.d = heraldv1.Delivery{AckId: d.AckID, Attempt: int32(d.Attempt), Event: &m.e.stored}
		out[i] = &m.d
	}
	return out
}

// waitOf checks a long-poll wait: unset is zero, at most MaxWait.
func waitOf(d *durationpb.Duration) (time.Duration, error) {
	v, err := duration("wait", d)
	if err != nil || v == nil {
		return 0, err
	}
	if *v < 0 || *v > subscription.MaxWait {
		return 0, settingError("wait", fmt.Errorf("must be from 0s to %s, got %s", subscription.MaxWait, *v))
	}
	return *v, nil
}

// delayOf checks a nack delay or lease extension: unset is zero (the
// default), at most MaxDelay.
func delayOf(d *durationpb.Duration) (time.Duration, error) {
	v, err := duration("delay", d)
	if err != nil || v == nil {
		return 0, err
	}
	if *v < 0 || *v > subscription.MaxDelay {
		return 0, fmt.Errorf("%w: delay must be from 0s to %s, got %s", subscription.ErrInvalidConfig, subscription.MaxDelay, *v)
	}
	return *v, nil
}
