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
	ctx, cancel := s.untilClosing(ctx)
	defer cancel(nil)
	ds, err := m.PullRemote(ctx, req.Msg.GetTopic(), req.Msg.GetSubscription(), max, wait)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&heraldv1.PullResponse{Deliveries: deliveriesToProto(ds)}), nil
}

// Settle applies settlements in order and answers once they are durable.
func (s *Service) Settle(ctx context.Context, req *connect.Request[heraldv1.SettleRequest]) (*connect.Response[heraldv1.SettleResponse], error) {
	m, err := s.manager()
	if err != nil {
		return nil, err
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

// settle applies one settlement.
func settle(ctx context.Context, m *subscription.Manager, topic, name string, st *heraldv1.Settlement) (subscription.AckResult, error) {
	ids := st.GetAckIds()
	if len(ids) > subscription.MaxAckIDs {
		return subscription.AckResult{}, fmt.Errorf("%w: %d ack ids: at most %d per settlement", subscription.ErrInvalidConfig, len(ids), subscription.MaxAckIDs)
	}
	delay, err := delayOf(st.GetDelay())
	if err != nil {
		return subscription.AckResult{}, err
	}
	switch st.GetKind() {
	case heraldv1.Settlement_KIND_ACK:
		return m.Ack(ctx, topic, name, ids)
	case heraldv1.Settlement_KIND_NACK:
		return m.Nack(ctx, topic, name, ids, delay, st.GetReason())
	case heraldv1.Settlement_KIND_REJECT:
		return m.Reject(ctx, topic, name, ids, st.GetReason())
	case heraldv1.Settlement_KIND_EXTEND:
		return m.Extend(ctx, topic, name, ids, delay)
	case heraldv1.Settlement_KIND_RELEASE:
		return m.Release(ctx, topic, name, ids)
	}
	return subscription.AckResult{}, fmt.Errorf("%w: settlement kind %v: must be ACK, NACK, REJECT, EXTEND or RELEASE", subscription.ErrInvalidConfig, st.GetKind())
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
