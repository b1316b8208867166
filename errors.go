package herald

import (
	"errors"

	"github.com/heraldevents/herald/internal/auth"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/schema"
	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/subscription"
)

// Errors a Client returns, the same embedded and remote: test with
// errors.Is. The message says what was wrong and where.
var (
	ErrTopicNotFound           = broker.ErrTopicNotFound             // no such topic
	ErrInvalidEvent            = broker.ErrInvalidEvent              // an event breaks a CloudEvents rule; nothing of its batch is stored
	ErrEventTooLarge           = broker.ErrEventTooLarge             // an event over the size limit
	ErrBatchTooLarge           = broker.ErrBatchTooLarge             // a batch of more than 10,000 events or 32 MiB of events; nothing of it is stored
	ErrInvalidTopicName        = broker.ErrInvalidTopic              // a name no topic can have (also one reserved for Herald, starting with "__")
	ErrInvalidTopicSetting     = broker.ErrInvalidSetting            // a topic setting out of range
	ErrTopicConflict           = broker.ErrTopicConflict             // PutTopic asks for fewer partitions than the topic has, or makes a topic whose name differs from another's only in case
	ErrSubscriptionNotFound    = subscription.ErrNotFound            // no such subscription
	ErrInvalidSubscriptionName = subscription.ErrInvalidName         // a name no subscription can have
	ErrInvalidSubscription     = subscription.ErrInvalidConfig       // a subscription setting out of range
	ErrPartitionNotFound       = storage.ErrUnknownPartition         // a partition the topic does not have
	ErrOffsetOutOfRange        = storage.ErrOffsetOutOfRange         // a read past a partition's end
	ErrUnavailable             = storage.ErrUnavailable              // storage cannot write now, or (remote) no server answers or it is overloaded; a later try may succeed
	ErrForbidden               = auth.ErrForbidden                   // the client's token may not do this on this topic (remote only: an embedded client may do everything)
	ErrSchemaViolation         = schema.ErrViolation                 // events break their schemas (see SchemaViolationError); nothing of the batch is stored
	ErrIncompatibleSchema      = schema.ErrIncompatible              // a schema breaks its subject's compatibility (see IncompatibleSchemaError)
	ErrInvalidSchema           = schema.ErrInvalidSchema             // not a JSON Schema Herald takes (draft 2020-12 or draft-07)
	ErrTooManyTopics           = broker.ErrTooManyTopics             // creating a topic (a dead-letter topic too) past the server's --max-topics (remote only: an embedded client has no limit)
	ErrTooManySubscriptions    = subscription.ErrTooMany             // creating a subscription past the server's --max-subscriptions (remote only)
	ErrClientClosed            = errors.New("herald: client closed") // a call on a Client that was closed, or in flight when it closed
)

// SchemaViolationError is the error of a publish refused because events
// break their schemas: errors.As it to see each violation.
type SchemaViolationError = schema.ViolationError

// SchemaViolation is one way an event breaks its schema: the event's
// index and id, the version checked, a JSON pointer into its data and
// what is wrong there.
type SchemaViolation = schema.Violation

// IncompatibleSchemaError is the error of a schema refused for breaking
// compatibility: errors.As it to see each breaking change.
type IncompatibleSchemaError = schema.IncompatibleError
