package rpc

import (
	"encoding/base64"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/rpc/heraldv1"
)

// ProtobufContentType is the datacontenttype of an event published with
// proto_data.
const ProtobufContentType = "application/protobuf"

// The mapping between CloudEvent and event.Event:
//
//   - id, source, spec_version and type are the fields of the same names.
//     In attributes they are refused: the CloudEvents protobuf format keeps
//     them out of the map.
//   - The attributes time, subject, datacontenttype, dataschema,
//     partitionkey, traceparent, tracestate, correlationid and causationid
//     set their Event fields. time takes a ce_timestamp or an RFC 3339
//     string; the others take any value as its canonical string.
//   - Any other attribute is an extension, kept as its CloudEvents
//     canonical string: ce_boolean "true"/"false", ce_integer in decimal,
//     ce_bytes in base64, ce_timestamp in RFC 3339, the string kinds as
//     they are. Read back, every extension is a ce_string.
//   - binary_data and text_data are Data. proto_data is Data = the Any's
//     value bytes, datacontenttype "application/protobuf" and dataschema
//     the Any's type URL, made absolute with "https://" when it has no
//     scheme (CloudEvents requires an absolute URI, and an Any type URL
//     without a scheme means https). An event that sets proto_data and
//     another datacontenttype or dataschema is refused. Read back, such an
//     event has binary_data.
//
// Validation (CloudEvents 1.0 rules) is the broker's: EventFromProto only
// refuses what cannot be converted.

// fieldAttrs are the attributes with Event string fields (time apart).
var fieldAttrs = map[string]func(e *event.Event) *string{
	"subject":         func(e *event.Event) *string { return &e.Subject },
	"datacontenttype": func(e *event.Event) *string { return &e.DataContentType },
	"dataschema":      func(e *event.Event) *string { return &e.DataSchema },
	"partitionkey":    func(e *event.Event) *string { return &e.PartitionKey },
	"traceparent":     func(e *event.Event) *string { return &e.TraceParent },
	"tracestate":      func(e *event.Event) *string { return &e.TraceState },
	"correlationid":   func(e *event.Event) *string { return &e.CorrelationID },
	"causationid":     func(e *event.Event) *string { return &e.CausationID },
}

// EventFromProto converts a CloudEvent. Its errors are
// *event.ValidationError naming the attribute.
func EventFromProto(ce *heraldv1.CloudEvent) (*event.Event, error) {
	e := &event.Event{ID: ce.GetId(), Source: ce.GetSource(), SpecVersion: ce.GetSpecVersion(), Type: ce.GetType()}
	if err := setKnown(e, ce.GetKnown()); err != nil {
		return nil, err
	}
	for name, v := range ce.GetAttributes() {
		if isKnownSet(ce.GetKnown(), name) {
			return nil, &event.ValidationError{Attribute: name, Rule: "is set both in attributes and in known; set it once"}
		}
		if err := setAttribute(e, name, v); err != nil {
			return nil, err
		}
	}
	if err := setData(e, ce); err != nil {
		return nil, err
	}
	return e, nil
}

// knownFields are the KnownAttributes string fields by attribute name.
var knownFields = map[string]func(k *heraldv1.KnownAttributes) string{
	"subject":         (*heraldv1.KnownAttributes).GetSubject,
	"datacontenttype": (*heraldv1.KnownAttributes).GetDatacontenttype,
	"dataschema":      (*heraldv1.KnownAttributes).GetDataschema,
	"partitionkey":    (*heraldv1.KnownAttributes).GetPartitionkey,
	"traceparent":     (*heraldv1.KnownAttributes).GetTraceparent,
	"tracestate":      (*heraldv1.KnownAttributes).GetTracestate,
	"correlationid":   (*heraldv1.KnownAttributes).GetCorrelationid,
	"causationid":     (*heraldv1.KnownAttributes).GetCausationid,
}

// setKnown sets the attributes given as KnownAttributes fields.
func setKnown(e *event.Event, k *heraldv1.KnownAttributes) error {
	if k == nil {
		return nil
	}
	if k.TimeUnixNanos != 0 {
		e.Time = time.Unix(0, k.TimeUnixNanos).UTC()
	}
	e.Subject, e.DataContentType, e.DataSchema = k.Subject, k.Datacontenttype, k.Dataschema
	e.PartitionKey, e.TraceParent, e.TraceState = k.Partitionkey, k.Traceparent, k.Tracestate
	e.CorrelationID, e.CausationID = k.Correlationid, k.Causationid
	return nil
}

// isKnownSet reports whether attribute name is set in k.
func isKnownSet(k *heraldv1.KnownAttributes, name string) bool {
	if k == nil {
		return false
	}
	if name == "time" {
		return k.TimeUnixNanos != 0
	}
	get, ok := knownFields[name]
	return ok && get(k) != ""
}

func setAttribute(e *event.Event, name string, v *heraldv1.CloudEventAttributeValue) error {
	switch name {
	case "id", "source", "specversion", "spec_version", "type":
		return &event.ValidationError{Attribute: name, Rule: "belongs in the CloudEvent field of that name, not in attributes"}
	case "time":
		t, err := timeValue(v)
		e.Time = t
		return err
	}
	s, err := canonicalString(name, v)
	if err != nil {
		return err
	}
	if field, ok := fieldAttrs[name]; ok {
		*field(e) = s
		return nil
	}
	if e.Extensions == nil {
		e.Extensions = map[string]string{}
	}
	e.Extensions[name] = s
	return nil
}

// timeValue converts the time attribute. The zero time is refused: it
// would be stored as no time.
func timeValue(v *heraldv1.CloudEventAttributeValue) (time.Time, error) {
	t, err := parseTimeValue(v)
	if err != nil {
		return time.Time{}, err
	}
	return t, event.CheckTimeGiven(t)
}

func parseTimeValue(v *heraldv1.CloudEventAttributeValue) (time.Time, error) {
	if ts, ok := v.GetAttr().(*heraldv1.CloudEventAttributeValue_CeTimestamp); ok {
		return timestamp("time", ts.CeTimestamp)
	}
	s, err := canonicalString("time", v)
	if err != nil {
		return time.Time{}, err
	}
	t, err := event.ParseTime(s)
	if err != nil {
		return time.Time{}, &event.ValidationError{Attribute: "time",
			Rule: "must be a ce_timestamp or an RFC 3339 string such as 2006-01-02T15:04:05Z, got " + strconv.Quote(s)}
	}
	return t, nil
}

func timestamp(name string, ts *timestamppb.Timestamp) (time.Time, error) {
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, &event.ValidationError{Attribute: name, Rule: "invalid ce_timestamp: " + err.Error()}
	}
	return ts.AsTime(), nil
}

// canonicalString returns an attribute value's CloudEvents canonical
// string form.
func canonicalString(name string, v *heraldv1.CloudEventAttributeValue) (string, error) {
	switch a := v.GetAttr().(type) {
	case *heraldv1.CloudEventAttributeValue_CeBoolean:
		return strconv.FormatBool(a.CeBoolean), nil
	case *heraldv1.CloudEventAttributeValue_CeInteger:
		return strconv.FormatInt(int64(a.CeInteger), 10), nil
	case *heraldv1.CloudEventAttributeValue_CeString:
		return a.CeString, nil
	case *heraldv1.CloudEventAttributeValue_CeBytes:
		return base64.StdEncoding.EncodeToString(a.CeBytes), nil
	case *heraldv1.CloudEventAttributeValue_CeUri:
		return a.CeUri, nil
	case *heraldv1.CloudEventAttributeValue_CeUriRef:
		return a.CeUriRef, nil
	case *heraldv1.CloudEventAttributeValue_CeTimestamp:
		t, err := timestamp(name, a.CeTimestamp)
		return t.UTC().Format(time.RFC3339Nano), err
	}
	return "", &event.ValidationError{Attribute: name, Rule: "has no value: set one of ce_boolean, ce_integer, ce_string, ce_bytes, ce_uri, ce_uri_ref, ce_timestamp"}
}

func setData(e *event.Event, ce *heraldv1.CloudEvent) error {
	switch d := ce.GetData().(type) {
	case *heraldv1.CloudEvent_BinaryData:
		e.Data = d.BinaryData
	case *heraldv1.CloudEvent_TextData:
		e.Data = []byte(d.TextData)
	case *heraldv1.CloudEvent_ProtoData:
		return setProtoData(e, d.ProtoData.GetTypeUrl(), d.ProtoData.GetValue())
	}
	return nil
}

func setProtoData(e *event.Event, typeURL string, value []byte) error {
	schema := typeURL
	if schema != "" && !strings.Contains(schema, "://") {
		schema = "https://" + schema
	}
	if e.DataContentType != "" && e.DataContentType != ProtobufContentType {
		return &event.ValidationError{Attribute: "datacontenttype",
			Rule: fmt.Sprintf("must be %q or absent with proto_data, got %q", ProtobufContentType, e.DataContentType)}
	}
	if e.DataSchema != "" && e.DataSchema != schema {
		return &event.ValidationError{Attribute: "dataschema",
			Rule: fmt.Sprintf("must be the proto_data type URL %q or absent, got %q", schema, e.DataSchema)}
	}
	e.DataContentType, e.DataSchema, e.Data = ProtobufContentType, schema, value
	return nil
}

// EventToProto converts an event (e.g. one read back from the log). Data
// is text_data when the content type is textual and the bytes are UTF-8,
// binary_data otherwise. The known attributes go in known, extensions in
// attributes. The log position is StoredEventToProto's. Text data is
// copied; binary data is not.
func EventToProto(e *event.Event) *heraldv1.CloudEvent {
	ce, known := &heraldv1.CloudEvent{}, &heraldv1.KnownAttributes{}
	eventToProto(ce, known, e)
	if txt, ok := ce.Data.(*heraldv1.CloudEvent_TextData); ok {
		txt.TextData = strings.Clone(txt.TextData)
	}
	return ce
}

// eventToProto fills ce and known (which it links) from e. Text data
// shares e.Data's bytes: the caller copies it unless e.Data never changes
// while ce is in use, as for events read from the log.
func eventToProto(ce *heraldv1.CloudEvent, known *heraldv1.KnownAttributes, e *event.Event) {
	*known = heraldv1.KnownAttributes{Subject: e.Subject, Datacontenttype: e.DataContentType, Dataschema: e.DataSchema,
		Partitionkey: e.PartitionKey, Traceparent: e.TraceParent, Tracestate: e.TraceState,
		Correlationid: e.CorrelationID, Causationid: e.CausationID}
	*ce = heraldv1.CloudEvent{Id: e.ID, Source: e.Source, SpecVersion: e.SpecVersion, Type: e.Type, Known: known}
	if len(e.Extensions) > 0 {
		ce.Attributes = make(map[string]*heraldv1.CloudEventAttributeValue, len(e.Extensions)+1)
		for name, s := range e.Extensions {
			ce.Attributes[name] = stringValue(s)
		}
	}
	switch _, offset := e.Time.Zone(); {
	case e.Time.IsZero():
	case offset == 0 && e.Time.Year() > 1678 && e.Time.Year() < 2262 && e.Time.UnixNano() != 0:
		known.TimeUnixNanos = e.Time.UnixNano()
	default: // nanoseconds since 1970 cannot hold it (or would read as absent), or its offset
		if ce.Attributes == nil {
			ce.Attributes = map[string]*heraldv1.CloudEventAttributeValue{}
		}
		ce.Attributes["time"] = timeAttribute(e.Time)
	}
	switch {
	case e.Data == nil:
	case isText(e.DataContentType) && utf8.Valid(e.Data):
		ce.Data = &heraldv1.CloudEvent_TextData{TextData: unsafe.String(unsafe.SliceData(e.Data), len(e.Data))}
	default:
		ce.Data = &heraldv1.CloudEvent_BinaryData{BinaryData: e.Data}
	}
}

// timeAttribute is t as a ce_timestamp, or as an RFC 3339 ce_string when
// a Timestamp cannot hold it: its offset from UTC (the stored text keeps
// it), or a year outside 0001 to 9999 in UTC, which RFC 3339 and Validate
// allow in the event's own zone.
func timeAttribute(t time.Time) *heraldv1.CloudEventAttributeValue {
	ts := timestamppb.New(t)
	if _, offset := t.Zone(); offset != 0 || ts.CheckValid() != nil {
		return stringValue(event.FormatTime(t))
	}
	return &heraldv1.CloudEventAttributeValue{Attr: &heraldv1.CloudEventAttributeValue_CeTimestamp{CeTimestamp: ts}}
}

func stringValue(s string) *heraldv1.CloudEventAttributeValue {
	return &heraldv1.CloudEventAttributeValue{Attr: &heraldv1.CloudEventAttributeValue_CeString{CeString: s}}
}

// isText reports whether a content type is text/* or JSON (application/json
// and +json types). An absent content type means JSON in CloudEvents.
func isText(ct string) bool {
	switch ct {
	case "", "application/json", "text/plain", "application/cloudevents+json":
		return true
	case "application/octet-stream", ProtobufContentType:
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || strings.HasSuffix(mt, "+json")
}
