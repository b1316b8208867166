package server

import (
	"context"
	"errors"
	"github.com/heraldevents/herald/internal/auth"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/schema"
	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/subscription"
)

// Errors the HTTP layer itself detects, before the broker sees a request.
var (
	errMalformedRequest     = errors.New("malformed request")
	errUnsupportedMediaType = errors.New("unsupported media type")
	errRequestTooLarge      = errors.New("request body too large")
	errInvalidParameter     = errors.New("invalid query parameter")
	errInvalidArgument      = errors.New("invalid parameter") // in the JSON body of a pull, ack, nack, extend or seek
	errNotFound             = errors.New("no such resource")
	errMethodNotAllowed     = errors.New("method not allowed")
	errCanceled             = errors.New("request canceled")
	errNotPermitted         = errors.New("operation not permitted") // a schema registry feature Herald does not have
)

// ProblemTypeBase prefixes every problem code to form the problem type URI.
const ProblemTypeBase = "https://herald.dev/problems/"

// problemKind is one row of the problem table: the errors it covers and the
// stable code, HTTP status and title a client sees for them. The
// Confluent-compatible schema registry API answers the same errors in
// Confluent's shape, {"error_code": registry, "message": detail}, with
// Confluent's code where it has one and the HTTP status where not.
type problemKind struct {
	code     string
	status   int
	title    string
	errs     []error // matched with errors.Is
	registry int     // Confluent Schema Registry error_code; 0: the status
}

// codeInternal is the code of any error the table does not list.
const codeInternal = "internal"

// problems is THE table of API errors: every problem+json reply takes its
// code, status and title from here. Rows are tried in order and the first
// row with a matching error wins, so more specific errors come first.
//
// Choices worth knowing:
//   - offset_out_of_range is 400, not 416: the offset is a query
//     parameter, and 416 is about the Range header.
//   - unknown_partition is 404, like unknown_topic: the request names a
//     part of a topic that does not exist.
//   - topic_conflict (409): asking a topic for fewer partitions than it
//     has (PUT on an existing topic is otherwise an update). Creating a
//     topic that exists only reaches storage.ErrTopicExists if two
//     creations race past the broker, which serializes them.
//   - the subscription rows come before the topic rows: a bad
//     deadLetterTopic is an invalid_subscription_setting that also wraps
//     the topic name error.
//   - subscription_conflict (409): a PUT that asks an existing
//     subscription for another start position (seek moves it instead).
//   - request_canceled is 503: the client usually went away or the
//     server is shutting down, and nobody reads the reply.
//   - schema_violation is 422, not 400: the event is well formed and
//     valid CloudEvents; its data breaks the schema of its type.
//   - the schema registry rows (unknown_subject … invalid_subject) keep
//     Confluent's HTTP statuses, so the registry API answers as
//     Confluent's does; incompatible_schema is 409 with error_code 409.
var problems = []problemKind{
	{"invalid_event", 400, "Invalid event", []error{broker.ErrInvalidEvent}, 0},
	{"schema_violation", 422, "Schema violation", []error{schema.ErrViolation}, 0},
	{"malformed_request", 400, "Malformed request", []error{errMalformedRequest}, 0},
	{"empty_batch", 400, "Empty batch", []error{broker.ErrEmptyBatch}, 0},
	{"invalid_parameter", 400, "Invalid parameter", []error{errInvalidParameter, errInvalidArgument}, 0},
	{"unknown_subscription", 404, "Unknown subscription", []error{subscription.ErrNotFound}, 0},
	{"invalid_subscription_name", 400, "Invalid subscription name", []error{subscription.ErrInvalidName}, 0},
	{"invalid_subscription_setting", 400, "Invalid subscription setting", []error{subscription.ErrInvalidConfig}, 0},
	{"subscription_conflict", 409, "Subscription conflict", []error{subscription.ErrConflict}, 0},
	{"unsupported_media_type", 415, "Unsupported media type", []error{errUnsupportedMediaType}, 0},
	{"auto_create_disabled", 404, "Unknown topic (automatic creation is off)", []error{broker.ErrAutoCreateOff}, 0},
	{"unknown_topic", 404, "Unknown topic", []error{broker.ErrTopicNotFound, storage.ErrUnknownTopic}, 0},
	{"unknown_partition", 404, "Unknown partition", []error{storage.ErrUnknownPartition}, 0},
	{"reserved_topic_name", 400, "Reserved topic name", []error{broker.ErrReservedTopic}, 0},
	{"invalid_topic_name", 400, "Invalid topic name", []error{broker.ErrInvalidTopic}, 0},
	{"invalid_topic_setting", 400, "Invalid topic setting", []error{broker.ErrInvalidSetting, storage.ErrInvalidConfig}, 0},
	{"topic_conflict", 409, "Topic conflict", []error{broker.ErrTopicConflict, storage.ErrTopicExists}, 0},
	{"event_too_large", 413, "Event too large", []error{broker.ErrEventTooLarge}, 0},
	{"batch_too_large", 413, "Batch too large", []error{broker.ErrBatchTooLarge}, 0},
	{"request_too_large", 413, "Request body too large", []error{errRequestTooLarge}, 0},
	{"offset_out_of_range", 400, "Offset out of range", []error{storage.ErrOffsetOutOfRange}, 0},
	{"unknown_subject", 404, "Unknown subject", []error{schema.ErrSubjectNotFound}, 40401},
	{"unknown_schema_version", 404, "Unknown schema version", []error{schema.ErrVersionNotFound}, 40402},
	{"unknown_schema", 404, "Unknown schema", []error{schema.ErrSchemaNotFound}, 40403},
	{"subject_soft_deleted", 404, "Subject soft deleted", []error{schema.ErrSubjectSoftDeleted}, 40404},
	{"subject_not_soft_deleted", 404, "Subject not soft deleted", []error{schema.ErrSubjectNotSoftDeleted}, 40405},
	{"schema_version_soft_deleted", 404, "Schema version soft deleted", []error{schema.ErrVersionSoftDeleted}, 40406},
	{"schema_version_not_soft_deleted", 404, "Schema version not soft deleted", []error{schema.ErrVersionNotSoftDeleted}, 40407},
	{"no_subject_compatibility", 404, "No subject compatibility level", []error{schema.ErrNoSubjectConfig}, 40408},
	{"incompatible_schema", 409, "Incompatible schema", []error{schema.ErrIncompatible}, 409},
	{"invalid_schema", 422, "Invalid schema", []error{schema.ErrInvalidSchema}, 42201},
	{"invalid_schema_version", 422, "Invalid schema version", []error{schema.ErrInvalidVersion}, 42202},
	{"invalid_compatibility", 422, "Invalid compatibility level", []error{schema.ErrInvalidCompatibility}, 42203},
	{"operation_not_permitted", 422, "Operation not permitted", []error{errNotPermitted}, 42205},
	{"invalid_subject", 422, "Invalid subject", []error{schema.ErrInvalidSubject}, 42208},
	{"not_found", 404, "Not found", []error{errNotFound}, 0},
	{"unauthorized", 401, "Unauthorized", []error{errUnauthorized}, 0},
	{"forbidden", 403, "Forbidden", []error{auth.ErrForbidden}, 40301},
	{"overloaded", 429, "Server overloaded", []error{errOverloaded}, 0},
	{"limit_reached", 409, "Limit reached", []error{broker.ErrTooManyTopics, subscription.ErrTooMany}, 0},
	{"method_not_allowed", 405, "Method not allowed", []error{errMethodNotAllowed}, 0},
	{"no_schema_registry", 503, "No schema registry", []error{broker.ErrNoValidator}, 0},
	{"storage_full", 507, "Insufficient storage", []error{storage.ErrNoSpace}, 50001},
	{"storage_unavailable", 503, "Storage unavailable", []error{storage.ErrUnavailable, storage.ErrClosed}, 50001},
	{"storage_corrupt", 500, "Stored data is corrupt", []error{storage.ErrCorrupt}, 50001},
	{"request_canceled", 503, "Request canceled", []error{errCanceled, context.Canceled, context.DeadlineExceeded}, 50002},
	{codeInternal, 500, "Internal server error", nil, 50001},
}

// kindOf returns the table row for err; the internal row when none matches.
func kindOf(err error) problemKind {
	for _, k := range problems {
		for _, target := range k.errs {
			if errors.Is(err, target) {
				return k
			}
		}
	}
	return problems[len(problems)-1]
}
