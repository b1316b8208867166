package herald

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/heraldevents/herald/event"
)

// Event is an event handed to a typed handler: its data decoded as T, the
// CloudEvent it came in, and which delivery this is.
type Event[T any] struct {
	Data       T
	CloudEvent *CloudEvent
	Attempt    int // 1 for the first delivery
	// SchemaVersion is the version of its type's schema the event was
	// published with (named by its dataschema; 0 when it names none).
	// Data is at the newest version the Router's upcasters reach.
	SchemaVersion int
}

// Delivery is an event handed to an untyped Handler.
type Delivery struct {
	AckID        string      // settles it (Client.Ack, Nack, Reject, Extend)
	Event        *CloudEvent // with its topic, partition and offset
	Attempt      int
	Topic        string
	Subscription string

	held      *heldBatch // the batch a Router keeps its lease in (leases.go)
	heldIndex int
}

// Handler handles one delivery: nil acks it, an error nacks it (it comes
// again after the subscription's backoff, or goes to the dead letters
// after maxAttempts), and an error wrapped by Permanent dead-letters it at
// once.
type Handler func(ctx context.Context, d *Delivery) error

// Middleware wraps a Handler (logging, retries, timeouts, …).
type Middleware func(Handler) Handler

// Permanent marks an error that no retry can cure (bad data, a business
// rule): the event goes to the dead letters now instead of coming again.
// Permanent(nil) is nil, so "return herald.Permanent(check(e))" acks
// when the check passes.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type permanentError struct{ err error }

func (p permanentError) Error() string { return "permanent: " + p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Handle registers a typed handler for a subscription: each event's data
// is decoded into T (from JSON, or from protobuf when its content type
// says so and T is a generated message type; JSON for a generated message
// type is read as protobuf's JSON mapping, protojson; a []byte gets the
// data as it is, of any content type), through the upcasters of its type
// when there are (see Upcast); data that does not
// decode, or whose content type is neither JSON nor protobuf, is
// dead-lettered at once: no retry can fix it. The handler gets every
// event of the subscription, whatever its type: on a topic that carries
// several types, give the subscription a Filter on Types (JSON ignores
// fields T lacks, so an event of another type may decode into a T with
// nothing set).
func Handle[T any](r *Router, topic, subscription string, fn func(ctx context.Context, e Event[T]) error) {
	if fn == nil {
		r.HandleFunc(topic, subscription, nil)
		return
	}
	r.HandleFunc(topic, subscription, func(ctx context.Context, d *Delivery) error {
		e, err := decodeEvent[T](r, d)
		if err != nil {
			return err
		}
		return fn(ctx, e)
	})
}

// decodeEvent decodes a delivery's data as T, upcast when the
// router has upcasters for its type; data that does not decode (or
// upcast) is a Permanent error.
func decodeEvent[T any](r *Router, d *Delivery) (Event[T], error) {
	e := Event[T]{CloudEvent: d.Event, Attempt: d.Attempt, SchemaVersion: schemaVersion(d.Event)}
	v, upcast, err := r.upcast(d, reflect.TypeFor[T]())
	switch {
	case err != nil: // it names the event
		return Event[T]{}, Permanent(err)
	case upcast:
		data, ok := v.(T)
		if !ok {
			return Event[T]{}, Permanent(fmt.Errorf("event %s: the upcasters of %s end at %T, but the handler takes %T",
				d.Event.ID, d.Event.Type, v, e.Data))
		}
		e.Data = data
	default:
		if err := decodeData(d.Event, &e.Data); err != nil {
			return Event[T]{}, Permanent(err)
		}
	}
	return e, nil
}

// decodeData decodes an event's data into dst by its content type (a
// []byte gets the data as it is, whatever its type): protobuf into a
// generated message type; JSON (or no content type) with
// protojson into a generated message type (protobuf's JSON mapping, as
// NewEvent asks for) and with encoding/json into any other. No data
// leaves dst as it is, and data of any other content type is refused,
// since JSON bytes of another type do not mean what they would as JSON.
func decodeData[T any](e *CloudEvent, dst *T) error {
	if b, ok := any(dst).(*[]byte); ok { // the bytes as they are, as NewEvent takes them
		*b = e.Data
		return nil
	}
	switch {
	case isProto(e.DataContentType): // no data is a message with nothing set
		return decodeProtoAs(e, dst)
	case len(e.Data) == 0:
		return nil
	case !event.IsJSONContentType(e.DataContentType):
		return fmt.Errorf("event %s: data is %s, neither JSON nor protobuf, so it does not decode as %T", e.ID, e.DataContentType, *dst)
	}
	var err error
	if m, set, ok := protoTarget(dst); ok {
		if err = (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(e.Data, m); err == nil {
			set()
		}
	} else {
		err = json.Unmarshal(e.Data, dst)
	}
	if err != nil {
		return fmt.Errorf("event %s: data does not decode as %T: %w", e.ID, *dst, err)
	}
	return nil
}

// decodeProtoAs decodes protobuf data into a handler's T: a generated
// message type, as a pointer (*pb.OrderPlaced, the usual) or not.
func decodeProtoAs[T any](e *CloudEvent, dst *T) error {
	m, set, ok := protoTarget(dst)
	if !ok {
		return fmt.Errorf("event %s: data is protobuf (%s), but the handler takes %T, not a protobuf message", e.ID, e.DataContentType, *dst)
	}
	if err := DecodeProto(e, m); err != nil {
		return err
	}
	set()
	return nil
}

var protoMessage = reflect.TypeFor[proto.Message]()

// protoTarget returns the message to decode into for a T that is a
// generated message type (as a pointer or not), and set, which stores it
// in *dst; ok is false for any other T.
func protoTarget[T any](dst *T) (m proto.Message, set func(), ok bool) {
	if m, ok := any(dst).(proto.Message); ok {
		return m, func() {}, true
	}
	// Asked of the type, so that a pointer to another type (decoded
	// from JSON) does not cost a value per event to find out.
	if t := reflect.TypeFor[T](); t.Kind() == reflect.Pointer && t.Implements(protoMessage) {
		m := reflect.New(t.Elem()).Interface().(proto.Message)
		return m, func() { *dst = m.(T) }, true
	}
	return nil, nil, false
}
