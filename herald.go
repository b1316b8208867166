// Package herald is Herald's Go SDK. Open runs Herald inside your program
// (embedded storage in a directory, no server, no network):
//
//	c, err := herald.Open("./herald-data")
//	defer c.Close()
//	res, err := c.Publish(ctx, "orders", herald.NewEvent("order.placed", "/shop", data))
//
// Events are CloudEvents 1.0 (see package event).
package herald

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
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

// Client publishes, reads and handles events.
type Client struct {
	engine  *log.Engine
	broker  *broker.Broker
	subs    *subscription.Manager
	publish PublishFunc // the publish middleware around the backend's publish
}

// SubscriptionConfig is a subscription's settings (see docs/delivery.md).
type SubscriptionConfig = subscription.Config

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
	engine log.Options
	broker broker.Options
}

type openOption func(*openConfig)

func (o openOption) applyOpen(c *openConfig) { o(c) }

type clientOption func(*clientConfig)

func (o clientOption) applyOpen(c *openConfig)       { o(&c.clientConfig) }
func (o clientOption) applyConnect(c *connectConfig) { o(&c.clientConfig) }

// PublishFunc stores events in a topic, all or nothing, and returns once
// they are durable.
type PublishFunc func(ctx context.Context, topic string, events []*CloudEvent) ([]Result, error)

// chainPublish wraps publish in mw, the first the outermost.
func chainPublish(mw []PublishMiddleware, publish PublishFunc) PublishFunc {
	for i := len(mw) - 1; i >= 0; i-- {
		publish = mw[i](publish)
	}
	return publish
}

// PublishMiddleware wraps publishing (tracing, metrics, validation). It
// sees events before the client stamps their causation.
type PublishMiddleware func(PublishFunc) PublishFunc

// WithPublishMiddleware adds publish middleware; the first given is the
// outermost.
func WithPublishMiddleware(mw ...PublishMiddleware) Option {
	return clientOption(func(c *clientConfig) { c.publishMW = append(c.publishMW, mw...) })
}

// WithSync sets when appends are fsynced: log.SyncAlways (the default:
// acknowledged means on disk), log.SyncInterval or log.SyncNone.
func WithSync(mode log.SyncMode) OpenOption {
	return openOption(func(c *openConfig) { c.engine.Sync = mode })
}

// WithoutAutoCreate makes publishing to an unknown topic an error.
func WithoutAutoCreate() OpenOption {
	return openOption(func(c *openConfig) { c.broker.DisableAutoCreate = true })
}

// WithDefaultPartitions sets the partition count of topics created on
// first publish.
func WithDefaultPartitions(n int) OpenOption {
	return openOption(func(c *openConfig) { c.broker.DefaultPartitions = n })
}

// Open runs Herald embedded, storing its data in dir.
func Open(dir string, opts ...OpenOption) (*Client, error) {
	var c openConfig
	for _, o := range opts {
		o.applyOpen(&c)
	}
	e, err := log.Open(dir, c.engine)
	if err != nil {
		return nil, err
	}
	if c.broker.DedupDir == "" {
		c.broker.DedupDir = filepath.Join(dir, "dedup")
	}
	b, err := broker.New(e, c.broker)
	if err != nil {
		return nil, errors.Join(err, e.Close())
	}
	subs, err := subscription.New(context.Background(), b, subscription.Options{})
	if err != nil {
		return nil, errors.Join(err, e.Close())
	}
	cl := &Client{engine: e, broker: b, subs: subs}
	cl.publish = chainPublish(c.publishMW, func(ctx context.Context, topic string, events []*CloudEvent) ([]Result, error) {
		stampCausation(ctx, events)
		return b.Publish(ctx, topic, events)
	})
	return cl, nil
}

// Close syncs and closes the data directory. Stop routers first.
func (c *Client) Close() error {
	c.subs.Close()
	return c.engine.Close()
}

// SubscriptionInfo describes a subscription and its state per partition.
type SubscriptionInfo = subscription.Info

// Subscription describes a subscription.
func (c *Client) Subscription(ctx context.Context, topic, name string) (SubscriptionInfo, error) {
	return c.subs.Get(ctx, topic, name)
}

// PutSubscription creates a subscription on a topic, or changes its
// settings, and reports whether it created it.
func (c *Client) PutSubscription(ctx context.Context, topic, name string, cfg SubscriptionConfig) (bool, error) {
	_, created, err := c.subs.Put(ctx, topic, name, cfg)
	return created, err
}

// Publish stores events in a topic, all or nothing, and returns once they
// are durable. Called with the context a handler received, it sets their
// causation and correlation from the event being handled.
func (c *Client) Publish(ctx context.Context, topic string, events ...*CloudEvent) ([]Result, error) {
	return c.publish(ctx, topic, events)
}

// Read returns up to limit events of one partition from offset on.
func (c *Client) Read(ctx context.Context, topic string, partition int, offset int64, limit int) ([]*CloudEvent, error) {
	return c.broker.Read(ctx, topic, partition, offset, limit)
}

// PutTopic creates or changes a topic and reports whether it created it.
func (c *Client) PutTopic(ctx context.Context, name string, spec TopicSpec) (Topic, bool, error) {
	return c.broker.PutTopic(ctx, name, spec)
}

// Topic describes a topic.
func (c *Client) Topic(ctx context.Context, name string) (Topic, error) {
	return c.broker.Topic(ctx, name)
}

// Topics lists the topics.
func (c *Client) Topics(ctx context.Context) ([]Topic, error) { return c.broker.Topics(ctx) }

// DeleteTopic deletes a topic and its events.
func (c *Client) DeleteTopic(ctx context.Context, name string) error {
	return c.broker.DeleteTopic(ctx, name)
}
