package rpc

import (
	"context"
	"errors"
	"fmt"
	"github.com/heraldevents/herald/internal/auth"

	"connectrpc.com/connect"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/schema"
	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/subscription"
)

// ErrorCodeKey is the metadata entry (a header or trailer, as the protocol
// puts error metadata) that carries the stable Herald error code, the one
// the HTTP API puts in problem+json.
const ErrorCodeKey = "Herald-Error-Code"

// errorKind is one row of the error table.
type errorKind struct {
	herald string       // stable Herald error code
	code   connect.Code // the connect/gRPC code
	errs   []error      // matched with errors.Is
}

// errorKinds is THE table from Herald errors to connect codes; the first
// matching row wins, so more specific errors come first. The Herald codes
// are those of internal/server's problem table.
//
// Choices worth knowing:
//   - too large events and batches are InvalidArgument, not
//     ResourceExhausted: retrying the same request never helps, while
//     ResourceExhausted tells clients (and gRPC retry policies) that a
//     quota or load may ease.
//   - a topic conflict (asking for fewer partitions) is FailedPrecondition:
//     PutTopic is an upsert, so AlreadyExists would be misleading; the
//     topic's current state is what refuses the change. The same holds for
//     two creations racing past the broker (storage.ErrTopicExists).
//   - corrupt stored data is DataLoss, the gRPC code for unrecoverable data
//     corruption, rather than a bare Internal.
//   - a schema violation is InvalidArgument, as an invalid event is: the
//     request is what is wrong, and retrying it never helps. It carries
//     a SchemaViolations detail.
//   - an incompatible schema is FailedPrecondition: the schema is valid,
//     the subject's versions are what refuse it. It carries a
//     SchemaChanges detail.
//   - RegisterSchema on a server without a schema registry is
//     Unimplemented, gRPC's code for a method a server does not serve,
//     with the HTTP API's not_found: it has no registry paths then.
//   - the subscription rows come before the topic rows, as in the HTTP
//     API's table: a bad deadLetterTopic, or a seek to a partition the
//     topic lacks, is an invalid subscription setting that also wraps
//     the topic's error.
var errorKinds = []errorKind{
	{"invalid_event", connect.CodeInvalidArgument, []error{broker.ErrInvalidEvent}},
	{"malformed_request", connect.CodeInvalidArgument, []error{errMalformed}},
	{"forbidden", connect.CodePermissionDenied, []error{auth.ErrForbidden}},
	{"overloaded", connect.CodeResourceExhausted, []error{errOverloaded}},
	{limitReached, connect.CodeResourceExhausted, []error{broker.ErrTooManyTopics, subscription.ErrTooMany}},
	{"schema_violation", connect.CodeInvalidArgument, []error{schema.ErrViolation}},
	{"no_schema_registry", connect.CodeUnavailable, []error{broker.ErrNoValidator}},
	{"not_found", connect.CodeUnimplemented, []error{errNoRegistry}},
	{"empty_batch", connect.CodeInvalidArgument, []error{broker.ErrEmptyBatch}},
	{"unknown_subscription", connect.CodeNotFound, []error{subscription.ErrNotFound}},
	{"invalid_subscription_name", connect.CodeInvalidArgument, []error{subscription.ErrInvalidName}},
	{"invalid_subscription_setting", connect.CodeInvalidArgument, []error{subscription.ErrInvalidConfig}},
	{"subscription_conflict", connect.CodeFailedPrecondition, []error{subscription.ErrConflict}},
	{"auto_create_disabled", connect.CodeNotFound, []error{broker.ErrAutoCreateOff}},
	{"unknown_topic", connect.CodeNotFound, []error{broker.ErrTopicNotFound, storage.ErrUnknownTopic}},
	{"unknown_partition", connect.CodeNotFound, []error{storage.ErrUnknownPartition}},
	{"reserved_topic_name", connect.CodeInvalidArgument, []error{broker.ErrReservedTopic}},
	{"invalid_topic_name", connect.CodeInvalidArgument, []error{broker.ErrInvalidTopic}},
	{"invalid_topic_setting", connect.CodeInvalidArgument, []error{broker.ErrInvalidSetting, storage.ErrInvalidConfig}},
	{"topic_conflict", connect.CodeFailedPrecondition, []error{broker.ErrTopicConflict, storage.ErrTopicExists}},
	{"event_too_large", connect.CodeInvalidArgument, []error{broker.ErrEventTooLarge}},
	{"batch_too_large", connect.CodeInvalidArgument, []error{broker.ErrBatchTooLarge}},
	{"offset_out_of_range", connect.CodeOutOfRange, []error{storage.ErrOffsetOutOfRange}},
	{"incompatible_schema", connect.CodeFailedPrecondition, []error{schema.ErrIncompatible}},
	{"invalid_schema", connect.CodeInvalidArgument, []error{schema.ErrInvalidSchema}},
	{"invalid_subject", connect.CodeInvalidArgument, []error{schema.ErrInvalidSubject}},
	{"storage_full", connect.CodeResourceExhausted, []error{storage.ErrNoSpace}},
	{"storage_unavailable", connect.CodeUnavailable, []error{storage.ErrUnavailable, storage.ErrClosed}},
	{"storage_corrupt", connect.CodeDataLoss, []error{storage.ErrCorrupt}},
	{"request_canceled", connect.CodeCanceled, []error{context.Canceled}},
	{"request_canceled", connect.CodeDeadlineExceeded, []error{context.DeadlineExceeded}},
}

// LimitKey is the metadata entry that names the limit a limit_reached
// error reached (limitNames), so that a client gets back its error: the
// one code covers both.
const LimitKey = "Herald-Limit"

const limitReached = "limit_reached"

// limitNames are the values of LimitKey.
var limitNames = []struct {
	name string
	err  error
}{{"topics", broker.ErrTooManyTopics}, {"subscriptions", subscription.ErrTooMany}}

// internalKind is the row of any error the table does not list.
var internalKind = errorKind{herald: "internal", code: connect.CodeInternal}

func kindOf(err error) errorKind {
	for _, k := range errorKinds {
		for _, target := range k.errs {
			if errors.Is(err, target) {
				return k
			}
		}
	}
	return internalKind
}

// toConnect turns an error into a *connect.Error with its code, its
// message and the Herald code in ErrorCodeKey. A *connect.Error is
// returned as it is.
func toConnect(err error) error {
	if ce := new(connect.Error); errors.As(err, &ce) {
		return err
	}
	k := kindOf(err)
	ce := connect.NewError(k.code, err)
	ce.Meta().Set(ErrorCodeKey, k.herald)
	for _, l := range limitNames {
		if k.herald == limitReached && errors.Is(err, l.err) {
			ce.Meta().Set(LimitKey, l.name)
			break
		}
	}
	addSchemaDetail(ce, err)
	return ce
}

// errOverloaded is a call the server's limits refused (Config.Admit,
// Config.AdmitWait): retried a moment later, it may go through.
var errOverloaded = errors.New("refused")

// overloaded is the *connect.Error of a call refused by a limit.
func overloaded(err error) error {
	return toConnect(fmt.Errorf("%w: %w", errOverloaded, err))
}

// waitPlace takes a place for a call that waits (Config.AdmitWait); its
// error is a *connect.Error.
func (s *Service) waitPlace() (done func(), err error) {
	if s.admitWait == nil {
		return func() {}, nil
	}
	if done, err = s.admitWait(); err != nil {
		return nil, overloaded(err)
	}
	return done, nil
}

// errMalformed is a message a call does not take where it came, such as
// a Subscribe stream's messages out of the protocol's order.
var errMalformed = errors.New("malformed request")

func invalidEvent(i int, id string, err error) error {
	return fmt.Errorf("%w: event %d (id %q): %w", broker.ErrInvalidEvent, i, id, err)
}

func settingError(field string, err error) error {
	return fmt.Errorf("%w: %s: %w", broker.ErrInvalidSetting, field, err)
}
