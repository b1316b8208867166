package herald

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/heraldevents/herald/event"
)

// Content types NewEvent sets.
const (
	jsonContentType  = "application/json"
	protoContentType = "application/protobuf"
	// protoTypeURLPrefix makes a message's full name an absolute dataschema
	// URI: the type URL of a google.protobuf.Any, with the https scheme
	// that an Any type URL without one implies (the gRPC API maps
	// proto_data the same way).
	protoTypeURLPrefix = "https://type.googleapis.com/"
)

// NewEvent returns an event of type typ carrying data, ready to publish:
// a fresh random id, the default source, the current time in UTC, the
// specversion, and data encoded with its datacontenttype. Options change
// any of them or set more attributes. The event is validated (CloudEvents
// 1.0 rules); an error says which attribute or what data is wrong.
//
// data is encoded by its type:
//   - nil (or empty bytes): no data and no datacontenttype;
//   - a proto.Message: protobuf, datacontenttype "application/protobuf",
//     dataschema "https://type.googleapis.com/" + the message's full name
//     (as the gRPC API stores proto_data; DecodeProto reads it back); a
//     content type other than protobuf's, or a dataschema that is not a
//     type URL of the message's type, is an error;
//   - []byte or json.RawMessage: JSON already encoded, checked and stored
//     as it is ("application/json"); with WithContentType, any bytes of
//     that type, not checked. The event keeps the slice, not a copy:
//     leave its bytes as they are until the event is published;
//   - anything else: json.Marshal ("application/json", or the JSON media
//     type given with WithContentType).
//
// The default source is the program's file name as a URI reference,
// "/" + filepath.Base(os.Args[0]) without ".exe" (e.g. "/billing" for a
// program built as billing). Event ids are unique per source, so give each
// service its own source with WithSource when several share a binary name.
func NewEvent(typ string, data any, opts ...EventOption) (*CloudEvent, error) {
	b := eventBuild{e: CloudEvent{ID: newID(), Source: defaultSource(), Type: typ,
		SpecVersion: event.SpecVersion, Time: time.Now().UTC()}}
	for _, o := range opts {
		o(&b)
	}
	if err := b.setData(data); err != nil {
		return nil, fmt.Errorf("herald: new %s event: %w", typ, err)
	}
	if err := b.e.Validate(); err != nil {
		return nil, fmt.Errorf("herald: new %s event: %w", typ, err)
	}
	if err := checkSchemaURI(&b.e); err != nil {
		return nil, fmt.Errorf("herald: new %s event: %w", typ, err)
	}
	return &b.e, nil
}

// MustNewEvent is NewEvent for tests, examples and fixed data that cannot
// fail to encode: it panics on an error.
func MustNewEvent(typ string, data any, opts ...EventOption) *CloudEvent {
	e, err := NewEvent(typ, data, opts...)
	if err != nil {
		panic(err)
	}
	return e
}

// An EventOption sets an attribute of the event NewEvent returns.
type EventOption func(*eventBuild)

// eventBuild is an event NewEvent is building.
type eventBuild struct {
	e           CloudEvent
	contentType string // from WithContentType
}

// WithSource sets the source, a URI reference such as "/shop/orders" or
// "urn:shop:orders", instead of the program's name.
func WithSource(source string) EventOption {
	return func(b *eventBuild) { b.e.Source = source }
}

// WithSubject sets the subject: what the event is about within its source,
// e.g. an order number.
func WithSubject(subject string) EventOption {
	return func(b *eventBuild) { b.e.Subject = subject }
}

// WithKey sets the partition key: events with the same key go to the same
// partition and are stored and delivered in order.
func WithKey(key string) EventOption {
	return func(b *eventBuild) { b.e.PartitionKey = key }
}

// WithID sets the id instead of a random one. A publish of an id already
// stored from the same source within the topic's dedup window returns the
// stored event's position instead of storing it again, so an id derived
// from the business fact (e.g. "order-42-placed") makes retries safe.
func WithID(id string) EventOption {
	return func(b *eventBuild) { b.e.ID = id }
}

// WithTime sets when the event happened instead of now; the zero time
// leaves the time attribute out.
func WithTime(t time.Time) EventOption {
	return func(b *eventBuild) { b.e.Time = t }
}

// WithExtension sets an extension attribute. Names are 1-20 lowercase
// letters or digits; other CloudEvents types (integer, boolean, timestamp,
// …) are given as their canonical string. The extensions Herald has
// options or fields for (partitionkey, traceparent, …) are refused here.
func WithExtension(name, value string) EventOption {
	return func(b *eventBuild) {
		if b.e.Extensions == nil {
			b.e.Extensions = make(map[string]string, 2)
		}
		b.e.Extensions[name] = value
	}
}

// WithDataSchema sets the dataschema: an absolute URI of the schema the
// data follows, e.g. "https://schemas.example.com/order-placed/v2".
func WithDataSchema(uri string) EventOption {
	return func(b *eventBuild) { b.e.DataSchema = uri }
}

// WithContentType sets the datacontenttype, e.g. "text/csv" for data given
// as []byte that is not JSON, or a JSON media type such as
// "application/vnd.shop.order+json" for data NewEvent encodes as JSON.
func WithContentType(mediaType string) EventOption {
	return func(b *eventBuild) { b.contentType = mediaType }
}

// setData encodes data and sets Data, DataContentType and, for protobuf,
// DataSchema (see NewEvent).
func (b *eventBuild) setData(data any) error {
	switch d := data.(type) {
	case nil:
		b.e.DataContentType = b.contentType
		return nil
	case proto.Message:
		return b.setProto(d)
	case []byte:
		return b.setBytes(d)
	case json.RawMessage:
		return b.setBytes(d)
	}
	ct := b.contentTypeOr(jsonContentType)
	if !isJSONMediaType(ct) {
		return fmt.Errorf("data of type %T is encoded as JSON, not as %s: pass the encoded bytes as []byte for another content type", data, ct)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode data as JSON: %w", err)
	}
	b.e.Data, b.e.DataContentType = raw, ct
	return nil
}

// setProto encodes a message. Its content type must be protobuf's and
// its dataschema a type URL of its message type, as the gRPC API asks of
// proto_data: DecodeProto, and so a typed handler, refuses anything else.
func (b *eventBuild) setProto(m proto.Message) error {
	switch ct := b.contentTypeOr(protoContentType); {
	case isJSONMediaType(ct):
		return fmt.Errorf("data of type %T is encoded as protobuf, not as %s: encode it with protojson and pass the bytes as []byte for JSON", m, ct)
	case !isProto(ct):
		return fmt.Errorf("data of type %T is encoded as protobuf, not as %s: encode it yourself and pass the bytes as []byte for another content type", m, ct)
	}
	name := string(m.ProtoReflect().Descriptor().FullName())
	if b.e.DataSchema != "" && schemaMessageName(b.e.DataSchema) != name {
		return fmt.Errorf("data of type %T is protobuf: its dataschema is its type URL %q, not %q",
			m, protoTypeURLPrefix+name, b.e.DataSchema)
	}
	raw, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode data as protobuf: %w", err)
	}
	b.e.Data, b.e.DataContentType = raw, b.contentTypeOr(protoContentType)
	if b.e.DataSchema == "" {
		b.e.DataSchema = protoTypeURLPrefix + name
	}
	return nil
}

func (b *eventBuild) setBytes(raw []byte) error {
	if len(raw) == 0 {
		return b.setData(nil)
	}
	if b.contentType == "" && !json.Valid(raw) {
		return errors.New("data given as bytes is not valid JSON: encode it, or name its content type with WithContentType")
	}
	b.e.Data, b.e.DataContentType = raw, b.contentTypeOr(jsonContentType)
	return nil
}

func (b *eventBuild) contentTypeOr(def string) string {
	if b.contentType != "" {
		return b.contentType
	}
	return def
}

// isJSONMediaType reports whether ct is */json or */*+json, ignoring
// parameters and case.
func isJSONMediaType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	_, sub, ok := strings.Cut(strings.TrimSpace(mt), "/")
	if !ok {
		return false
	}
	sub = strings.ToLower(sub)
	return sub == "json" || strings.HasSuffix(sub, "+json")
}

// DecodeProto decodes the protobuf data of e into m. It fails when e's
// datacontenttype is not protobuf ("application/protobuf" or
// "application/x-protobuf") or its dataschema names another message type
// than m's.
func DecodeProto(e *CloudEvent, m proto.Message) error {
	if !isProto(e.DataContentType) {
		return fmt.Errorf("herald: event %s: data is %q, not protobuf", e.ID, e.DataContentType)
	}
	want := string(m.ProtoReflect().Descriptor().FullName())
	if e.DataSchema != "" && schemaMessageName(e.DataSchema) != want {
		return fmt.Errorf("herald: event %s: data is a %s (dataschema %s), not a %s", e.ID, schemaMessageName(e.DataSchema), e.DataSchema, want)
	}
	if err := proto.Unmarshal(e.Data, m); err != nil {
		return fmt.Errorf("herald: event %s: decode protobuf data as %s: %w", e.ID, want, err)
	}
	return nil
}

// isProto reports whether a content type is protobuf's.
func isProto(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	switch strings.ToLower(strings.TrimSpace(mt)) {
	case protoContentType, "application/x-protobuf":
		return true
	}
	return false
}

// schemaMessageName returns the message name a type URL ends with: what
// follows its last "/".
func schemaMessageName(typeURL string) string {
	return typeURL[strings.LastIndexByte(typeURL, '/')+1:]
}

// defaultSource is the program's file name as a URI reference.
var defaultSource = sync.OnceValue(func() string {
	name := "herald"
	if len(os.Args) > 0 && os.Args[0] != "" {
		name = strings.TrimSuffix(filepath.Base(os.Args[0]), ".exe")
	}
	return "/" + url.PathEscape(name)
})

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
