// Package herald is Herald's Go SDK. Open runs Herald inside your program
// (embedded storage in a directory, no server, no network):
//
//	c, err := herald.Open("./herald-data")
//	defer c.Close()
//	e, err := herald.NewEvent("order.placed", order, herald.WithKey("order-42"))
//	res, err := c.Publish(ctx, "orders", e)
//
// Connect reaches a Herald server instead (herald serve), with the same
// Client: the same methods and the same behaviour.
//
// For many events, Client.NewPublisher batches them in the background (see
// Publisher). A Router runs typed handlers for subscriptions (Handle), with
// upcasters that bring events of older schema versions to the version a
// handler is written for (Upcast). Client.RegisterSchema registers JSON
// Schemas that topics with a SchemaPolicy validate events against.
//
// Events are CloudEvents 1.0 (see package event).
package herald

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/schema"
	"github.com/heraldevents/herald/internal/subscription"
)

// CloudEvent is an event as it is published and stored (CloudEvents 1.0).
// Handlers receive it inside an Event[T], with its data decoded.
type CloudEvent = event.Event

// Result is where a published event is stored.
type Result = broker.Result

// Topic describes a topic's settings.
type Topic = broker.Topic

// TopicSpec asks to create or change a topic; nil fields keep their value.
type TopicSpec = broker.TopicSpec

// SchemaPolicy says which events published to a topic are validated
// against the schemas of their types (TopicSpec.SchemaPolicy).
type SchemaPolicy = broker.SchemaPolicy

// The schema policies of a topic.
const (
	SchemaPolicyNone     = broker.SchemaPolicyNone     // no validation (the default)
	SchemaPolicyValidate = broker.SchemaPolicyValidate // events whose type has a schema are validated
	SchemaPolicyRequire  = broker.SchemaPolicyRequire  // every event's type must have a schema
)

// Client publishes, reads and handles events, and administers topics and
// subscriptions. Open returns one over an embedded Herald, Connect one
// over a Herald server; both behave the same.
type Client struct {
	b       backend
	publish PublishFunc // the publish middleware around the backend's publish
	traced  bool        // there is publish middleware, which may write a trace into events
	closed  atomic.Bool // Close was called: every call fails with ErrClientClosed
}

// alive refuses a call on a closed client, the same embedded and remote
// (an embedded one's storage is closed; a remote one would dial the
// server again and go on), and a call whose ctx has ended, which a remote
// client never sends: it changes nothing.
func (c *Client) alive(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClientClosed
	}
	return ctx.Err()
}

// newClient returns a client over b; its error (a publish middleware
// that made a nil PublishFunc) leaves b to the caller to close.
func newClient(b backend, cfg clientConfig) (*Client, error) {
	publish, err := chainPublish(cfg.publishMW, func(ctx context.Context, topic string, events []*CloudEvent) ([]Result, error) {
		stampSent(ctx, events)
		return b.publish(ctx, topic, events)
	})
	if err != nil {
		return nil, err
	}
	return &Client{b: b, traced: len(cfg.publishMW) > 0, publish: publish}, nil
}

// SubscriptionConfig is a subscription's settings (see docs/delivery.md).
type SubscriptionConfig = subscription.Config

// Ordering says which events of a subscription may be in flight together.
type Ordering = subscription.Ordering

// The orderings of a subscription.
const (
	OrderKey       = subscription.OrderKey       // one at a time per partition key, keys (and keyless events) in parallel (the default)
	OrderPartition = subscription.OrderPartition // one at a time per partition
	OrderNone      = subscription.OrderNone      // any number in flight, in any order
)

// Filter selects the events a subscription receives (types may contain
// '*'); the zero Filter takes every event.
type Filter = subscription.Filter

// SyncMode says when the embedded engine fsyncs (WithSync).
type SyncMode = log.SyncMode

// The fsync modes of an embedded Herald.
const (
	SyncAlways   = log.SyncAlways   // before every acknowledgement (the default)
	SyncInterval = log.SyncInterval // on a timer: a crash loses the last interval
	SyncNone     = log.SyncNone     // never: the OS decides
)

// Backoff is the delay before a redelivery (initial, times multiplier per
// failure, at most max).
type Backoff = subscription.Backoff

// An Option configures both Open and Connect.
type Option interface {
	OpenOption
	ConnectOption
}

// An OpenOption configures Open (embedded Herald).
type OpenOption interface{ applyOpen(*openConfig) }

// A ConnectOption configures Connect (a remote Herald server).
type ConnectOption interface{ applyConnect(*connectConfig) }

// clientConfig is what both ways of reaching Herald share.
type clientConfig struct {
	publishMW []PublishMiddleware
}

type openConfig struct {
	clientConfig
	engine            log.Options
	broker            broker.Options
	defaultPartitions *int // as WithDefaultPartitions gave it, to be checked
}

type openOption func(*openConfig)

func (o openOption) applyOpen(c *openConfig) { o(c) }

type clientOption func(*clientConfig)

func (o clientOption) applyOpen(c *openConfig)       { o(&c.clientConfig) }
func (o clientOption) applyConnect(c *connectConfig) { o(&c.clientConfig) }

// PublishFunc stores events in a topic, all or nothing, and returns once
// they are durable.
type PublishFunc func(ctx context.Context, topic string, events []*CloudEvent) ([]Result, error)

// chainPublish wraps publish in mw, the first the outermost; it refuses
// a middleware that makes a nil PublishFunc, which every Publish would
// call.
func chainPublish(mw []PublishMiddleware, publish PublishFunc) (PublishFunc, error) {
	for i := len(mw) - 1; i >= 0; i-- {
		if publish = mw[i](publish); publish == nil {
			return nil, fmt.Errorf("herald: publish middleware %d (in the order of WithPublishMiddleware) returned a nil PublishFunc", i+1)
		}
	}
	return publish, nil
}

// check refuses a nil publish middleware, before anything is opened.
func (c *clientConfig) check() error {
	for i, mw := range c.publishMW {
		if mw == nil {
			return fmt.Errorf("herald: publish middleware %d (in the order of WithPublishMiddleware) is nil", i+1)
		}
	}
	return nil
}

// PublishMiddleware wraps publishing (tracing, metrics, validation). It
// sees events before the client stamps their causation.
type PublishMiddleware func(PublishFunc) PublishFunc

// WithPublishMiddleware adds publish middleware; the first given is the
// outermost.
func WithPublishMiddleware(mw ...PublishMiddleware) Option {
	return clientOption(func(c *clientConfig) { c.publishMW = append(c.publishMW, mw...) })
}

// WithSync sets when appends are fsynced: SyncAlways (the default:
// acknowledged means on disk), SyncInterval or SyncNone.
func WithSync(mode SyncMode) OpenOption {
	return openOption(func(c *openConfig) { c.engine.Sync = mode })
}

// WithoutAutoCreate makes publishing to an unknown topic an error.
func WithoutAutoCreate() OpenOption {
	return openOption(func(c *openConfig) { c.broker.DisableAutoCreate = true })
}

// WithDefaultPartitions sets the partition count (1 to 10,000; default 1)
// of topics created on first publish or without a partition count.
func WithDefaultPartitions(n int) OpenOption {
	return openOption(func(c *openConfig) { c.defaultPartitions, c.broker.DefaultPartitions = &n, n })
}

// Open runs Herald embedded, storing its data in dir (created if
// needed). On Unix one Herald at a time may open a directory: a second
// Open of it, in this process or another, is refused until the first is
// closed.
func Open(dir string, opts ...OpenOption) (*Client, error) {
	if dir == "" {
		return nil, errors.New("herald: open: no data directory given (give a path such as ./herald-data)")
	}
	var c openConfig
	for _, o := range opts {
		o.applyOpen(&c)
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	e, err := log.Open(dir, c.engine)
	if err != nil {
		return nil, err
	}
	if c.broker.DedupDir == "" {
		c.broker.DedupDir = filepath.Join(dir, "dedup")
	}
	reg, err := schema.Open(context.Background(), e, schema.Options{})
	if err != nil {
		return nil, errors.Join(err, e.Close())
	}
	c.broker.Validator = reg.Validate
	b, err := broker.New(e, c.broker)
	if err != nil {
		return nil, errors.Join(err, e.Close())
	}
	subs, err := subscription.New(context.Background(), b, subscription.Options{})
	if err != nil {
		return nil, errors.Join(err, e.Close())
	}
	emb := &embedded{engine: e, broker: b, subs: subs, schemas: reg}
	client, err := newClient(emb, c.clientConfig)
	if err != nil {
		return nil, errors.Join(err, emb.close())
	}
	return client, nil
}

// check refuses options that cannot mean what was given, as herald serve
// refuses its flags.
func (c *openConfig) check() error {
	if err := c.clientConfig.check(); err != nil {
		return err
	}
	switch {
	case c.engine.Sync < SyncAlways || c.engine.Sync > SyncNone:
		return fmt.Errorf("herald: open: WithSync(%d): the sync mode must be SyncAlways, SyncInterval or SyncNone", int(c.engine.Sync))
	case c.defaultPartitions != nil && (*c.defaultPartitions < 1 || *c.defaultPartitions > 10000):
		return fmt.Errorf("herald: open: WithDefaultPartitions(%d): must be from 1 to 10000", *c.defaultPartitions)
	}
	return nil
}

// Close releases the client: an embedded one syncs and closes its data
// directory, a remote one its connections. Stop routers first. Any call
// after Close fails with ErrClientClosed, and so do calls still waiting
// (a Pull or ReadWait) when it comes.
func (c *Client) Close() error {
	c.closed.Store(true)
	return c.b.close()
}

// SubscriptionInfo describes a subscription and its state per partition.
type SubscriptionInfo = subscription.Info

// PutSubscription creates a subscription on a topic, or changes its
// settings (its position stays), and reports whether it created it. It
// sets every setting: a zero field takes its default, also on an existing
// subscription. Start counts only when it creates one (move one with Seek).
func (c *Client) PutSubscription(ctx context.Context, topic, name string, cfg SubscriptionConfig) (bool, error) {
	if err := c.alive(ctx); err != nil {
		return false, err
	}
	_, created, err := c.b.putSubscription(ctx, topic, name, cfg)
	return created, err
}

// Subscription describes a subscription and its state per partition.
func (c *Client) Subscription(ctx context.Context, topic, name string) (SubscriptionInfo, error) {
	if err := c.alive(ctx); err != nil {
		return SubscriptionInfo{}, err
	}
	return c.b.subscription(ctx, topic, name)
}

// Subscriptions lists a topic's subscriptions.
func (c *Client) Subscriptions(ctx context.Context, topic string) ([]SubscriptionInfo, error) {
	if err := c.alive(ctx); err != nil {
		return nil, err
	}
	return c.b.subscriptions(ctx, topic)
}

// DeleteSubscription deletes a subscription and its state.
func (c *Client) DeleteSubscription(ctx context.Context, topic, name string) error {
	if err := c.alive(ctx); err != nil {
		return err
	}
	return c.b.deleteSubscription(ctx, topic, name)
}

// Seek moves a subscription to a position; deliveries in flight become
// stale.
func (c *Client) Seek(ctx context.Context, topic, name string, pos SeekPosition) (SubscriptionInfo, error) {
	if err := c.alive(ctx); err != nil {
		return SubscriptionInfo{}, err
	}
	return c.b.seek(ctx, topic, name, pos)
}

// Publish stores events in a topic, all or nothing, and returns once they
// are durable, with where each is stored. Called with the context a
// handler received, it sets their causation and correlation from the
// event being handled. A nil event is refused (ErrInvalidEvent) before
// publish middleware sees the batch. When ctx ends first, Publish returns
// its error; a remote client cannot tell then whether the server stored
// the events, so publish them again: within the topic's dedup window the
// copies of events already stored are answered as duplicates, at their
// first positions.
func (c *Client) Publish(ctx context.Context, topic string, events ...*CloudEvent) ([]Result, error) {
	for i, e := range events {
		if e == nil {
			return nil, fmt.Errorf("%w: event %d is nil", ErrInvalidEvent, i)
		}
	}
	return c.publish(ctx, topic, events)
}

// Read returns up to limit events of one partition from offset on (none
// at the partition's end); limit is at most 10,000 (0 reads one).
func (c *Client) Read(ctx context.Context, topic string, partition int, offset int64, limit int) ([]*CloudEvent, error) {
	return c.ReadWait(ctx, topic, partition, offset, limit, 0)
}

// ReadWait reads like Read but, at the partition's end, waits up to wait
// (at most 30s) for the first event; a wait that ctx ends is ctx's error.
func (c *Client) ReadWait(ctx context.Context, topic string, partition int, offset int64, limit int, wait time.Duration) ([]*CloudEvent, error) {
	if err := c.alive(ctx); err != nil {
		return nil, err
	}
	// The limits of the servers, so that a read is the same embedded.
	if limit < 0 || limit > broker.MaxReadLimit {
		return nil, fmt.Errorf("%w: limit: must be from 0 (one event) to %d, got %d", ErrInvalidTopicSetting, broker.MaxReadLimit, limit)
	}
	if wait > subscription.MaxWait {
		return nil, fmt.Errorf("%w: wait: must be from 0s to %s, got %s", ErrInvalidTopicSetting, subscription.MaxWait, wait)
	}
	return c.b.read(ctx, topic, partition, offset, limit, wait)
}

// Offsets returns where a partition starts and ends: start is the offset
// of its oldest event still stored (0 until retention deletes events),
// end the offset the next event will get; start equals end when it holds
// none. Read from start to read all of a partition (from 0, Read fails
// with ErrOffsetOutOfRange once retention has deleted its first events);
// retention may delete more before the Read, which then fails the same
// way: ask for the offsets again. A topic's partitions are 0 to
// Topic.Partitions-1.
func (c *Client) Offsets(ctx context.Context, topic string, partition int) (start, end int64, err error) {
	if err := c.alive(ctx); err != nil {
		return 0, 0, err
	}
	return c.b.offsets(ctx, topic, partition)
}

// PutTopic creates or changes a topic and reports whether it created it.
func (c *Client) PutTopic(ctx context.Context, name string, spec TopicSpec) (Topic, bool, error) {
	if err := c.alive(ctx); err != nil {
		return Topic{}, false, err
	}
	return c.b.putTopic(ctx, name, spec)
}

// Topic describes a topic.
func (c *Client) Topic(ctx context.Context, name string) (Topic, error) {
	if err := c.alive(ctx); err != nil {
		return Topic{}, err
	}
	return c.b.topic(ctx, name)
}

// Topics lists the topics.
func (c *Client) Topics(ctx context.Context) ([]Topic, error) {
	if err := c.alive(ctx); err != nil {
		return nil, err
	}
	return c.b.topics(ctx)
}

// DeleteTopic deletes a topic, its events and its subscriptions.
func (c *Client) DeleteTopic(ctx context.Context, name string) error {
	if err := c.alive(ctx); err != nil {
		return err
	}
	return c.b.deleteTopic(ctx, name)
}

// Pull leases up to max deliveries of a subscription (at most 1,000; 0
// leases one), waiting up to wait (at most 30s) for the first (a wait
// that ctx ends is ctx's error). Settle each with Ack, Nack or Reject
// before its ack timeout, or it comes again. (A Router does all this for
// you.)
func (c *Client) Pull(ctx context.Context, topic, subscription string, max int, wait time.Duration) ([]*Delivery, error) {
	if err := c.alive(ctx); err != nil {
		return nil, err
	}
	if max < 0 || max > maxPull {
		return nil, fmt.Errorf("%w: max %d: must be from 0 (one delivery) to %d", ErrInvalidSubscription, max, maxPull)
	}
	if wait > maxWait {
		return nil, fmt.Errorf("%w: wait must be from 0s to %s, got %s", ErrInvalidSubscription, maxWait, wait)
	}
	return c.b.pull(ctx, topic, subscription, max, wait)
}

// The limits of the delivery calls, the same over every API (see package
// subscription): the embedded client keeps them as the servers do.
const (
	maxPull   = subscription.MaxPull
	maxAckIDs = subscription.MaxAckIDs
	maxDelay  = subscription.MaxDelay
	maxWait   = subscription.MaxWait
)

// settle checks a settlement against the limits, then applies it.
func (c *Client) settle(ctx context.Context, topic, subscription string, st settlement) (AckResult, error) {
	if err := c.alive(ctx); err != nil {
		return AckResult{}, err
	}
	if n := len(st.ackIDs); n > maxAckIDs {
		return AckResult{}, fmt.Errorf("%w: %d ack ids: at most %d per settlement", ErrInvalidSubscription, n, maxAckIDs)
	}
	if st.delay > maxDelay {
		return AckResult{}, fmt.Errorf("%w: delay must be from 0s to %s, got %s", ErrInvalidSubscription, maxDelay, st.delay)
	}
	return c.b.settle(ctx, topic, subscription, st)
}

// Ack finishes deliveries (at most 10,000 ack ids a call, as for Nack,
// Reject, Release and Extend); it returns once that is durable.
func (c *Client) Ack(ctx context.Context, topic, subscription string, ackIDs ...string) (AckResult, error) {
	return c.settle(ctx, topic, subscription, settlement{kind: settleAck, ackIDs: ackIDs})
}

// Nack gives deliveries back: they come again after delay (0: the
// subscription's backoff; at most 12h), or go to the dead letters when
// out of attempts.
func (c *Client) Nack(ctx context.Context, topic, subscription string, ackIDs []string, delay time.Duration, reason string) (AckResult, error) {
	return c.settle(ctx, topic, subscription, settlement{kind: settleNack, ackIDs: ackIDs, delay: delay, reason: reason})
}

// Reject dead-letters deliveries at once, whatever their attempts.
func (c *Client) Reject(ctx context.Context, topic, subscription string, ackIDs []string, reason string) (AckResult, error) {
	return c.settle(ctx, topic, subscription, settlement{kind: settleReject, ackIDs: ackIDs, reason: reason})
}

// Release gives deliveries back unhandled: they come again at once and
// this delivery is not counted as an attempt (for deliveries taken and
// never started, e.g. by a consumer that is stopping).
func (c *Client) Release(ctx context.Context, topic, subscription string, ackIDs ...string) (AckResult, error) {
	return c.settle(ctx, topic, subscription, settlement{kind: settleRelease, ackIDs: ackIDs})
}

// Extend leases deliveries for d longer (0: the ack timeout; at most 12h).
func (c *Client) Extend(ctx context.Context, topic, subscription string, ackIDs []string, d time.Duration) (AckResult, error) {
	return c.settle(ctx, topic, subscription, settlement{kind: settleExtend, ackIDs: ackIDs, delay: d})
}
