package rpc

import (
	"errors"
	"math"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/storage"
)

// This file is the client's half of the conversions: what a Go client of
// HeraldService (the SDK's remote client) needs to get back the types the
// embedded SDK returns.

// TopicFromProto converts a topic description.
func TopicFromProto(m *heraldv1.Topic) broker.Topic {
	policy, err := broker.ParseSchemaPolicy(m.GetSchemaPolicy())
	if err != nil {
		policy = broker.SchemaPolicy(m.GetSchemaPolicy()) // a newer server's policy: shown as it is
	}
	return broker.Topic{Name: m.GetName(), Partitions: int(m.GetPartitions()), Retention: m.GetRetention().AsDuration(),
		RetentionBytes: m.GetRetentionBytes(), DedupWindow: m.GetDedupWindow().AsDuration(), SchemaPolicy: policy,
		CreatedAt: m.GetCreatedTime().AsTime()}
}

// TopicSpecToProto converts a topic change; nil fields stay unset.
func TopicSpecToProto(name string, spec broker.TopicSpec) *heraldv1.PutTopicRequest {
	m := &heraldv1.PutTopicRequest{Name: name, RetentionBytes: spec.RetentionBytes}
	if spec.Partitions != nil {
		p := Int32(*spec.Partitions)
		m.Partitions = &p
	}
	if spec.Retention != nil {
		m.Retention = durationpb.New(*spec.Retention)
	}
	if spec.DedupWindow != nil {
		m.DedupWindow = durationpb.New(*spec.DedupWindow)
	}
	if spec.SchemaPolicy != nil {
		p := string(*spec.SchemaPolicy)
		m.SchemaPolicy = &p
	}
	return m
}

// Int32 converts n to a message's int32, saturating: a number beyond it
// goes as the nearest int32, as out of range as n, never cut down to its
// low 32 bits, which may be valid (partition 1<<32 would be partition 0).
func Int32(n int) int32 {
	return int32(max(math.MinInt32, min(n, math.MaxInt32)))
}

// FromConnect turns an error of a HeraldService call back into the Herald
// error it was made from, so that errors.Is matches the same sentinels
// (broker.ErrTopicNotFound, subscription.ErrNotFound, …) as the embedded
// SDK's errors. The message is the server's; an error without a Herald
// code comes back as it is.
func FromConnect(err error) error {
	ce := new(connect.Error)
	if !errors.As(err, &ce) {
		return err
	}
	code := ce.Meta().Get(ErrorCodeKey)
	if serr := schemaErrorFromDetails(ce); serr != nil {
		return serr
	}
	for _, k := range errorKinds {
		if k.herald == code && len(k.errs) > 0 {
			return &remoteError{sentinel: sentinelOf(k, ce), msg: ce.Message(), cause: err}
		}
	}
	if code == "" && ce.Code() == connect.CodeUnavailable {
		// No server answered (it is down, restarting or shutting down):
		// like storage that cannot write, the call may succeed later.
		return &remoteError{sentinel: storage.ErrUnavailable, msg: err.Error(), cause: err}
	}
	return err
}

// sentinelOf returns the sentinel of a row for a server's error: the
// row's first, but for limit_reached the one of the limit it names, for
// overloaded storage.ErrUnavailable (retried a moment later, the call
// may succeed: what a caller checks for), and for storage_full both
// ErrNoSpace and ErrUnavailable, as the engines return it.
func sentinelOf(k errorKind, ce *connect.Error) error {
	switch k.errs[0] {
	case errOverloaded:
		return storage.ErrUnavailable
	case storage.ErrNoSpace:
		return errNoSpace
	}
	if name := ce.Meta().Get(LimitKey); k.herald == limitReached && name != "" {
		for _, l := range limitNames {
			if l.name == name {
				return l.err
			}
		}
	}
	return k.errs[0]
}

// errNoSpace is a full disk's sentinel: ErrNoSpace, and ErrUnavailable
// too.
var errNoSpace = errors.Join(storage.ErrUnavailable, storage.ErrNoSpace)

// remoteError is a server's error with the sentinel of its Herald code.
type remoteError struct {
	sentinel error
	msg      string
	cause    error // the *connect.Error
}

func (e *remoteError) Error() string { return e.msg }

func (e *remoteError) Unwrap() []error { return []error{e.sentinel, e.cause} }
