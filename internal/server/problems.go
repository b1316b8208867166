package server

import (
	"context"
	"errors"

	"github.com/heraldevents/herald/internal/broker"
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
)

// ProblemTypeBase prefixes every problem code to form the problem type URI.
const ProblemTypeBase = "https://herald.dev/problems/"

// problemKind is one row of the problem table: the errors it covers and the
// stable code, HTTP status and title a client sees for them.
type problemKind struct {
	code   string
	status int
	title  string
	errs   []error // matched with errors.Is
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
var problems = []problemKind{
	{"invalid_event", 400, "Invalid event", []error{broker.ErrInvalidEvent}},
	{"malformed_request", 400, "Malformed request", []error{errMalformedRequest}},
	{"empty_batch", 400, "Empty batch", []error{broker.ErrEmptyBatch}},
	{"invalid_parameter", 400, "Invalid parameter", []error{errInvalidParameter, errInvalidArgument}},
	{"unknown_subscription", 404, "Unknown subscription", []error{subscription.ErrNotFound}},
	{"invalid_subscription_name", 400, "Invalid subscription name", []error{subscription.ErrInvalidName}},
	{"invalid_subscription_setting", 400, "Invalid subscription setting", []error{subscription.ErrInvalidConfig}},
	{"subscription_conflict", 409, "Subscription conflict", []error{subscription.ErrConflict}},
	{"unsupported_media_type", 415, "Unsupported media type", []error{errUnsupportedMediaType}},
	{"auto_create_disabled", 404, "Unknown topic (automatic creation is off)", []error{broker.ErrAutoCreateOff}},
	{"unknown_topic", 404, "Unknown topic", []error{broker.ErrTopicNotFound, storage.ErrUnknownTopic}},
	{"unknown_partition", 404, "Unknown partition", []error{storage.ErrUnknownPartition}},
	{"reserved_topic_name", 400, "Reserved topic name", []error{broker.ErrReservedTopic}},
	{"invalid_topic_name", 400, "Invalid topic name", []error{broker.ErrInvalidTopic}},
	{"invalid_topic_setting", 400, "Invalid topic setting", []error{broker.ErrInvalidSetting, storage.ErrInvalidConfig}},
	{"topic_conflict", 409, "Topic conflict", []error{broker.ErrTopicConflict, storage.ErrTopicExists}},
	{"event_too_large", 413, "Event too large", []error{broker.ErrEventTooLarge}},
	{"batch_too_large", 413, "Batch too large", []error{broker.ErrBatchTooLarge}},
	{"request_too_large", 413, "Request body too large", []error{errRequestTooLarge}},
	{"offset_out_of_range", 400, "Offset out of range", []error{storage.ErrOffsetOutOfRange}},
	{"not_found", 404, "Not found", []error{errNotFound}},
	{"unauthorized", 401, "Unauthorized", []error{errUnauthorized}},
	{"method_not_allowed", 405, "Method not allowed", []error{errMethodNotAllowed}},
	{"storage_unavailable", 503, "Storage unavailable", []error{storage.ErrUnavailable, storage.ErrClosed}},
	{"storage_corrupt", 500, "Stored data is corrupt", []error{storage.ErrCorrupt}},
	{"request_canceled", 503, "Request canceled", []error{errCanceled, context.Canceled, context.DeadlineExceeded}},
	{codeInternal, 500, "Internal server error", nil},
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
