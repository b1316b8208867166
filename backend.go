package herald

import (
	"context"
	"time"

	"github.com/heraldevents/herald/internal/subscription"
)

// backend is how a Client reaches Herald: the engine in this process
// (embedded.go) or a server over gRPC (remote.go). Both behave the same;
// the client conformance suite (client_test.go) holds them to it.
type backend interface {
	publish(ctx context.Context, topic string, events []*CloudEvent) ([]Result, error)
	// maxEventBytes is the largest event (CloudEvent.Size) publish takes.
	maxEventBytes() int
	registerSchema(ctx context.Context, subject string, text []byte) (version int, err error)
	read(ctx context.Context, topic string, partition int, offset int64, limit int, wait time.Duration) ([]*CloudEvent, error)
	offsets(ctx context.Context, topic string, partition int) (start, end int64, err error)

	putTopic(ctx context.Context, name string, spec TopicSpec) (Topic, bool, error)
	topic(ctx context.Context, name string) (Topic, error)
	topics(ctx context.Context) ([]Topic, error)
	deleteTopic(ctx context.Context, name string) error

	putSubscription(ctx context.Context, topic, name string, cfg SubscriptionConfig) (SubscriptionInfo, bool, error)
	subscription(ctx context.Context, topic, name string) (SubscriptionInfo, error)
	subscriptions(ctx context.Context, topic string) ([]SubscriptionInfo, error)
	deleteSubscription(ctx context.Context, topic, name string) error
	seek(ctx context.Context, topic, name string, pos SeekPosition) (SubscriptionInfo, error)

	pull(ctx context.Context, topic, name string, max int, wait time.Duration) ([]*Delivery, error)
	settle(ctx context.Context, topic, name string, st settlement) (AckResult, error)
	// feed opens the delivery feed a Router runs a subscription on; it
	// hands keep the deliveries it leases as they come (keep may be nil).
	feed(ctx context.Context, topic, name string, keep *leaseKeeper) (feed, error)

	close() error
}

// feed hands a Router the deliveries of one subscription and takes their
// settlements.
type feed interface {
	// next returns up to free deliveries, waiting about a second for the
	// first; an error means the feed is broken and must be reopened.
	next(ctx context.Context, free int) ([]*Delivery, error)
	// settle acks, nacks or rejects a delivery; it returns once the
	// settlement is durable or has failed for good (the delivery then
	// comes again after its ack timeout).
	settle(ctx context.Context, st settlement)
	// close ends the feed once the settlements given to it are applied.
	close(ctx context.Context) error
}

// settleKind is what a settlement does.
type settleKind int

const (
	settleAck     settleKind = iota + 1 // finished
	settleNack                          // give back: redelivered after delay (0: the backoff)
	settleReject                        // dead-letter now
	settleExtend                        // lease for delay longer (0: the ack timeout)
	settleRelease                       // give back unhandled, not counted as an attempt
)

// settlement is one ack, nack, reject or extend of some deliveries.
type settlement struct {
	kind   settleKind
	ackIDs []string
	reason string
	delay  time.Duration
}

// AckResult says which ack ids took effect: acked (or nacked, rejected,
// extended), stale (the lease had ended) or unknown.
type AckResult = subscription.AckResult

// SeekPosition is where Seek moves a subscription: Start (earliest,
// latest or an RFC 3339 time) or Offsets per partition.
type SeekPosition = subscription.Position
