package rpc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/subscription"
)

// errNoSubscriptions answers the subscription calls of a Service built
// without a manager.
var errNoSubscriptions = fmt.Errorf("%w: this server serves no subscriptions", subscription.ErrNotFound)

func (s *Service) manager() (*subscription.Manager, error) {
	if s.subs == nil {
		return nil, toConnect(errNoSubscriptions)
	}
	return s.subs, nil
}

// PutSubscription creates a subscription or changes its settings.
func (s *Service) PutSubscription(ctx context.Context, req *connect.Request[heraldv1.PutSubscriptionRequest]) (*connect.Response[heraldv1.PutSubscriptionResponse], error) {
	m, err := s.manager()
	if err != nil {
		return nil, err
	}
	cfg, err := ConfigFromProto(req.Msg.GetConfig())
	if err != nil {
		return nil, toConnect(err)
	}
	// Push settings are not part of the protobuf API: a change keeps them
	// (set over HTTP) instead of turning push off, as they are when the
	// change is stored.
	info, created, err := m.Change(ctx, req.Msg.GetTopic(), req.Msg.GetName(), func(cur subscription.Config, _ bool) (subscription.Config, error) {
		cfg.Push = cur.Push
		return cfg, nil
	})
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&heraldv1.PutSubscriptionResponse{Subscription: InfoToProto(info), Created: created}), nil
}

// GetSubscription describes a subscription.
func (s *Service) GetSubscription(ctx context.Context, req *connect.Request[heraldv1.GetSubscriptionRequest]) (*connect.Response[heraldv1.GetSubscriptionResponse], error) {
	m, err := s.manager()
	if err != nil {
		return nil, err
	}
	info, err := m.Get(ctx, req.Msg.GetTopic(), req.Msg.GetName())
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&heraldv1.GetSubscriptionResponse{Subscription: InfoToProto(info)}), nil
}

// ListSubscriptions lists a topic's subscriptions.
func (s *Service) ListSubscriptions(ctx context.Context, req *connect.Request[heraldv1.ListSubscriptionsRequest]) (*connect.Response[heraldv1.ListSubscriptionsResponse], error) {
	m, err := s.manager()
	if err != nil {
		return nil, err
	}
	infos, err := m.List(ctx, req.Msg.GetTopic())
	if err != nil {
		return nil, toConnect(err)
	}
	resp := &heraldv1.ListSubscriptionsResponse{Subscriptions: make([]*heraldv1.Subscription, len(infos))}
	for i, info := range infos {
		resp.Subscriptions[i] = InfoToProto(info)
	}
	return connect.NewResponse(resp), nil
}

// DeleteSubscription deletes a subscription.
func (s *Service) DeleteSubscription(ctx context.Context, req *connect.Request[heraldv1.DeleteSubscriptionRequest]) (*connect.Response[heraldv1.DeleteSubscriptionResponse], error) {
	m, err := s.manager()
	if err != nil {
		return nil, err
	}
	if err := m.Delete(ctx, req.Msg.GetTopic(), req.Msg.GetName()); err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&heraldv1.DeleteSubscriptionResponse{}), nil
}

// Seek moves a subscription.
func (s *Service) Seek(ctx context.Context, req *connect.Request[heraldv1.SeekRequest]) (*connect.Response[heraldv1.SeekResponse], error) {
	m, err := s.manager()
	if err != nil {
		return nil, err
	}
	pos := subscription.Position{Start: req.Msg.GetStart()}
	if len(req.Msg.GetOffsets()) > 0 {
		pos.Offsets = map[int]int64{}
		for p, off := range req.Msg.GetOffsets() {
			pos.Offsets[int(p)] = off
		}
	}
	info, err := m.Seek(ctx, req.Msg.GetTopic(), req.Msg.GetName(), pos)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&heraldv1.SeekResponse{Subscription: InfoToProto(info)}), nil
}

// ConfigFromProto converts subscription settings; unset fields stay zero
// (the manager fills the defaults).
func ConfigFromProto(m *heraldv1.SubscriptionConfig) (subscription.Config, error) {
	cfg := subscription.Config{
		Start:           m.GetStart(),
		MaxAttempts:     int(m.GetMaxAttempts()),
		Ordering:        subscription.Ordering(m.GetOrdering()),
		DeadLetterTopic: m.GetDeadLetterTopic(),
		Filter: subscription.Filter{Types: m.GetFilter().GetTypes(), Sources: m.GetFilter().GetSources(),
			SubjectPrefix: m.GetFilter().GetSubjectPrefix()},
		Backoff: subscription.Backoff{Multiplier: m.GetBackoff().GetMultiplier()},
	}
	var errs []error
	set := func(dst *time.Duration, field string, d *durationpb.Duration) {
		if v, err := duration(field, d); err != nil {
			errs = append(errs, err)
		} else if v != nil {
			*dst = *v
		}
	}
	set(&cfg.AckTimeout, "ack_timeout", m.GetAckTimeout())
	set(&cfg.Backoff.Initial, "backoff.initial", m.GetBackoff().GetInitial())
	set(&cfg.Backoff.Max, "backoff.max", m.GetBackoff().GetMax())
	if err := errors.Join(errs...); err != nil {
		return cfg, fmt.Errorf("%w: %w", subscription.ErrInvalidConfig, err)
	}
	return cfg, nil
}

// ConfigToProto converts subscription settings. Push settings are not
// part of the protobuf API.
func ConfigToProto(c subscription.Config) *heraldv1.SubscriptionConfig {
	return &heraldv1.SubscriptionConfig{
		Start:       c.Start,
		AckTimeout:  durationpb.New(c.AckTimeout),
		MaxAttempts: Int32(c.MaxAttempts),
		Backoff: &heraldv1.Backoff{Initial: durationpb.New(c.Backoff.Initial), Max: durationpb.New(c.Backoff.Max),
			Multiplier: c.Backoff.Multiplier},
		Ordering:        string(c.Ordering),
		Filter:          &heraldv1.Filter{Types: c.Filter.Types, Sources: c.Filter.Sources, SubjectPrefix: c.Filter.SubjectPrefix},
		DeadLetterTopic: c.DeadLetterTopic,
	}
}

// InfoToProto converts a subscription's description.
func InfoToProto(info subscription.Info) *heraldv1.Subscription {
	m := &heraldv1.Subscription{Topic: info.Topic, Name: info.Name, Config: ConfigToProto(info.Config),
		CreatedTime: timestamppb.New(info.CreatedAt), Redriving: int32(info.Redriving)}
	for _, p := range info.Partitions {
		m.Partitions = append(m.Partitions, &heraldv1.SubscriptionPartition{Partition: int32(p.Partition),
			CommittedOffset: p.Committed, EndOffset: p.End, Lag: p.Lag, InFlight: int32(p.InFlight),
			WaitingRetry: int32(p.WaitingRetry), DeadLettered: p.DeadLettered, OldestUnackedSeconds: p.OldestUnackedS})
	}
	return m
}

// InfoFromProto converts a subscription's description back.
func InfoFromProto(m *heraldv1.Subscription) (subscription.Info, error) {
	cfg, err := ConfigFromProto(m.GetConfig())
	if err != nil {
		return subscription.Info{}, err
	}
	info := subscription.Info{Topic: m.GetTopic(), Name: m.GetName(), Config: cfg,
		CreatedAt: m.GetCreatedTime().AsTime(), Redriving: int(m.GetRedriving())}
	for _, p := range m.GetPartitions() {
		info.Partitions = append(info.Partitions, subscription.PartitionInfo{Partition: int(p.GetPartition()),
			Committed: p.GetCommittedOffset(), End: p.GetEndOffset(), Lag: p.GetLag(), InFlight: int(p.GetInFlight()),
			WaitingRetry: int(p.GetWaitingRetry()), DeadLettered: p.GetDeadLettered(), OldestUnackedS: p.GetOldestUnackedSeconds()})
	}
	return info, nil
}
