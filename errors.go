package herald

import (
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/subscription"
)

// Errors a Client returns, the same embedded and remote: test with
// errors.Is. The message says what was wrong and where.
var (
	ErrTopicNotFound        = broker.ErrTopicNotFound       // no such topic
	ErrInvalidEvent         = broker.ErrInvalidEvent        // an event breaks a CloudEvents rule; nothing of its batch is stored
	ErrEventTooLarge        = broker.ErrEventTooLarge       // an event over the size limit
	ErrInvalidTopicSetting  = broker.ErrInvalidSetting      // a topic setting out of range
	ErrSubscriptionNotFound = subscription.ErrNotFound      // no such subscription
	ErrInvalidSubscription  = subscription.ErrInvalidConfig // a subscription setting out of range
	ErrOffsetOutOfRange     = storage.ErrOffsetOutOfRange   // a read past a partition's end
	ErrUnavailable          = storage.ErrUnavailable        // storage cannot write now
)
