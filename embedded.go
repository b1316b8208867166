package herald

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/schema"
	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/subscription"
)

// embedded runs Herald in this process.
type embedded struct {
	engine  *log.Engine
	broker  *broker.Broker
	subs    *subscription.Manager
	schemas *schema.Registry
	closed  atomic.Bool // close was called: publishes fail with ErrClientClosed
}

var _ backend = (*embedded)(nil)

// publish stores events. After close, or when close comes while it
// stores (the engine then answers storage.ErrClosed), it fails with
// ErrClientClosed, as a remote client's does.
func (e *embedded) publish(ctx context.Context, topic string, events []*CloudEvent) ([]Result, error) {
	if e.closed.Load() {
		return nil, ErrClientClosed
	}
	res, err := e.broker.Publish(ctx, topic, events)
	return res, closing(err)
}

// closing makes the error of a call that close came under (the engine
// answers storage.ErrClosed) ErrClientClosed, as a remote client's is.
func closing(err error) error {
	if errors.Is(err, storage.ErrClosed) {
		return fmt.Errorf("%w: %w", ErrClientClosed, err)
	}
	return err
}

func (e *embedded) maxEventBytes() int { return e.broker.Options().MaxEventBytes }

func (e *embedded) registerSchema(ctx context.Context, subject string, text []byte) (int, error) {
	v, _, err := e.schemas.Register(ctx, subject, text)
	return v.Version, closing(err)
}

func (e *embedded) read(ctx context.Context, topic string, partition int, offset int64, limit int, wait time.Duration) ([]*CloudEvent, error) {
	events, err := e.broker.ReadWait(ctx, topic, partition, offset, limit, wait)
	if err == nil && len(events) == 0 {
		err = ctx.Err() // a wait ctx cut short: its error, as a remote call's (the broker answers none came)
	}
	if err != nil {
		return nil, closing(err)
	}
	return events, nil
}

func (e *embedded) offsets(ctx context.Context, topic string, partition int) (int64, int64, error) {
	start, end, err := e.broker.Offsets(ctx, topic, partition)
	return start, end, closing(err)
}

func (e *embedded) putTopic(ctx context.Context, name string, spec TopicSpec) (Topic, bool, error) {
	t, created, err := e.broker.PutTopic(ctx, name, spec)
	return t, created, closing(err)
}

func (e *embedded) topic(ctx context.Context, name string) (Topic, error) {
	t, err := e.broker.Topic(ctx, name)
	return t, closing(err)
}

func (e *embedded) topics(ctx context.Context) ([]Topic, error) {
	ts, err := e.broker.Topics(ctx)
	return ts, closing(err)
}

func (e *embedded) deleteTopic(ctx context.Context, name string) error {
	return closing(e.subs.DeleteTopicAndSubscriptions(ctx, name)) // its subscriptions go with it
}

func (e *embedded) putSubscription(ctx context.Context, topic, name string, cfg SubscriptionConfig) (SubscriptionInfo, bool, error) {
	info, created, err := e.subs.Put(ctx, topic, name, cfg)
	return info, created, closing(err)
}

func (e *embedded) subscription(ctx context.Context, topic, name string) (SubscriptionInfo, error) {
	info, err := e.subs.Get(ctx, topic, name)
	return info, closing(err)
}

func (e *embedded) subscriptions(ctx context.Context, topic string) ([]SubscriptionInfo, error) {
	infos, err := e.subs.List(ctx, topic)
	return infos, closing(err)
}

func (e *embedded) deleteSubscription(ctx context.Context, topic, name string) error {
	return closing(e.subs.Delete(ctx, topic, name))
}

func (e *embedded) seek(ctx context.Context, topic, name string, pos SeekPosition) (SubscriptionInfo, error) {
	info, err := e.subs.Seek(ctx, topic, name, pos)
	return info, closing(err)
}

func (e *embedded) pull(ctx context.Context, topic, name string, max int, wait time.Duration) ([]*Delivery, error) {
	ds, err := e.subs.Pull(ctx, topic, name, max, wait)
	if err == nil && len(ds) == 0 {
		err = ctx.Err() // a wait ctx cut short: its error, as a remote call's (the manager answers none came)
	}
	if err != nil {
		return nil, closing(err)
	}
	out := make([]*Delivery, len(ds))
	for i, d := range ds {
		out[i] = &Delivery{AckID: d.AckID, Event: d.Event, Attempt: d.Attempt, Topic: topic, Subscription: name}
	}
	return out, nil
}

func (e *embedded) settle(ctx context.Context, topic, name string, st settlement) (AckResult, error) {
	res, err := e.apply(ctx, topic, name, st)
	return res, closing(err)
}

func (e *embedded) apply(ctx context.Context, topic, name string, st settlement) (AckResult, error) {
	switch st.kind {
	case settleAck:
		return e.subs.Ack(ctx, topic, name, st.ackIDs)
	case settleNack:
		return e.subs.Nack(ctx, topic, name, st.ackIDs, st.delay, st.reason)
	case settleReject:
		return e.subs.Reject(ctx, topic, name, st.ackIDs, st.reason)
	case settleExtend:
		return e.subs.Extend(ctx, topic, name, st.ackIDs, st.delay)
	case settleRelease:
		return e.subs.Release(ctx, topic, name, st.ackIDs)
	}
	return AckResult{}, fmt.Errorf("herald: unknown settlement kind %d", st.kind)
}

func (e *embedded) feed(ctx context.Context, topic, name string, keep *leaseKeeper) (feed, error) {
	if _, err := e.subs.Get(ctx, topic, name); err != nil {
		return nil, closing(err)
	}
	return &pullFeed{b: e, topic: topic, name: name, keep: keep}, nil
}

func (e *embedded) close() error {
	e.closed.Store(true)
	e.subs.Close()
	return e.engine.Close()
}

// pullFeed is a feed made of long polls and direct settlements: the
// embedded feed, where a call costs no more than a message would.
type pullFeed struct {
	b           backend
	topic, name string
	keep        *leaseKeeper
}

func (f *pullFeed) next(ctx context.Context, free int) ([]*Delivery, error) {
	ds, err := f.b.pull(ctx, f.topic, f.name, free, time.Second)
	f.keep.hold(f, ds)
	return ds, err
}

func (f *pullFeed) settle(ctx context.Context, st settlement) {
	f.b.settle(ctx, f.topic, f.name, st) // a failure leaves the lease to expire: the event comes again
}

func (f *pullFeed) close(context.Context) error { return nil }
