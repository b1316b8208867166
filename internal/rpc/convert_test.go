package rpc

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/rpc/heraldv1"
)

func TestEventToProto_RoundTrips(t *testing.T) {
	events := []*event.Event{
		{ID: "1", Source: "/s", SpecVersion: "1.0", Type: "T"},
		{ID: "2", Source: "/s", SpecVersion: "1.0", Type: "T", Time: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC),
			Subject: "sub", DataContentType: "application/json", DataSchema: "https://x.example/s", Data: []byte(`{"a":1}`),
			PartitionKey: "k", TraceParent: "tp", TraceState: "ts", CorrelationID: "c", CausationID: "d",
			Extensions: map[string]string{"region": "eu"}},
		{ID: "3", Source: "/s", SpecVersion: "1.0", Type: "T", DataContentType: "application/octet-stream", Data: []byte{0xff, 0}},
		{ID: "4", Source: "/s", SpecVersion: "1.0", Type: "T", DataContentType: "text/plain", Data: []byte{0xff}},
	}
	for _, e := range events {
		t.Run(e.ID, func(t *testing.T) {
			got, err := EventFromProto(EventToProto(e))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, e) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, e)
			}
		})
	}
}

// Times that nanoseconds since 1970 cannot hold go as a ce_timestamp.
func TestEventToProto_TimesFarFromNowRoundTrip(t *testing.T) {
	for _, at := range []time.Time{time.Date(1500, 1, 2, 3, 4, 5, 6, time.UTC), time.Unix(0, 0).UTC(),
		time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 29, 1, 2, 3, 4, time.UTC),
		// RFC 3339 and Validate allow year 0000; a Timestamp starts at 0001,
		// and ends at 9999 in UTC.
		time.Date(0, 3, 1, 2, 3, 4, 5, time.UTC), time.Date(0, 1, 1, 0, 30, 0, 0, time.FixedZone("", 3600)),
		time.Date(9999, 12, 31, 23, 30, 0, 0, time.FixedZone("", -3600))} {
		e := &event.Event{ID: "1", Source: "/s", SpecVersion: "1.0", Type: "T", Time: at}
		if err := e.Validate(); err != nil {
			t.Fatalf("%s: %v", at, err)
		}
		back, err := EventFromProto(EventToProto(e))
		if err != nil {
			t.Errorf("%s does not come back: %v", at, err)
		} else if !back.Time.Equal(at) {
			t.Errorf("%s came back as %s", at, back.Time)
		}
	}
}

func TestEventToProto_TextualDataIsTextData(t *testing.T) {
	ce := EventToProto(&event.Event{ID: "1", Source: "/s", SpecVersion: "1.0", Type: "T", DataContentType: "application/cloudevents+json", Data: []byte("{}")})
	if _, ok := ce.GetData().(*heraldv1.CloudEvent_TextData); !ok {
		t.Fatalf("data = %T, want text_data", ce.GetData())
	}
}

func TestEventFromProto_RefusesWhatCannotConvert(t *testing.T) {
	base := func(attrs map[string]*heraldv1.CloudEventAttributeValue) *heraldv1.CloudEvent {
		return &heraldv1.CloudEvent{Id: "1", Source: "/s", SpecVersion: "1.0", Type: "T", Attributes: attrs}
	}
	withProto := func(attrs map[string]*heraldv1.CloudEventAttributeValue) *heraldv1.CloudEvent {
		ce := base(attrs)
		ce.Data = &heraldv1.CloudEvent_ProtoData{ProtoData: &anypb.Any{TypeUrl: "type.googleapis.com/a.B"}}
		return ce
	}
	tests := []struct {
		name, attribute string
		ce              *heraldv1.CloudEvent
	}{
		{"id in attributes", "id", base(map[string]*heraldv1.CloudEventAttributeValue{"id": str("2")})},
		{"attribute without value", "region", base(map[string]*heraldv1.CloudEventAttributeValue{"region": {}})},
		{"time not RFC 3339", "time", base(map[string]*heraldv1.CloudEventAttributeValue{"time": str("yesterday")})},
		{"zero time", "time", base(map[string]*heraldv1.CloudEventAttributeValue{"time": str("0001-01-01T00:00:00Z")})},
		{"zero timestamp", "time", base(map[string]*heraldv1.CloudEventAttributeValue{
			"time": {Attr: &heraldv1.CloudEventAttributeValue_CeTimestamp{CeTimestamp: timestamppb.New(time.Time{})}}})},
		{"time with a one-digit hour", "time", base(map[string]*heraldv1.CloudEventAttributeValue{"time": str("2026-01-01T1:00:00Z")})},
		{"time with an offset of 24 hours", "time", base(map[string]*heraldv1.CloudEventAttributeValue{"time": str("2026-01-01T01:00:00+24:00")})},
		{"invalid timestamp", "time", base(map[string]*heraldv1.CloudEventAttributeValue{
			"time": {Attr: &heraldv1.CloudEventAttributeValue_CeTimestamp{CeTimestamp: &timestamppb.Timestamp{Nanos: -1}}}})},
		{"proto_data with json", "datacontenttype", withProto(map[string]*heraldv1.CloudEventAttributeValue{"datacontenttype": str("application/json")})},
		{"proto_data with another schema", "dataschema", withProto(map[string]*heraldv1.CloudEventAttributeValue{"dataschema": str("https://x.example/other")})},
		{"subject in known and attributes", "subject", func() *heraldv1.CloudEvent {
			ce := base(map[string]*heraldv1.CloudEventAttributeValue{"subject": str("a")})
			ce.Known = &heraldv1.KnownAttributes{Subject: "b"}
			return ce
		}()},
		{"time in known and attributes", "time", func() *heraldv1.CloudEvent {
			ce := base(map[string]*heraldv1.CloudEventAttributeValue{"time": str("2026-01-01T00:00:00Z")})
			ce.Known = &heraldv1.KnownAttributes{TimeUnixNanos: time.Now().UnixNano()}
			return ce
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := EventFromProto(tt.ce)
			var verr *event.ValidationError
			if !errors.As(err, &verr) || verr.Attribute != tt.attribute {
				t.Fatalf("error = %v, want a ValidationError of attribute %q", err, tt.attribute)
			}
		})
	}
}

// Senders that know only the CloudEvents protobuf format put every
// attribute in the map; Herald reads them as it reads its own known form.
func TestEventFromProto_AttributesInTheMapOrInKnownAreTheSame(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	inMap := &heraldv1.CloudEvent{Id: "1", Source: "/s", SpecVersion: "1.0", Type: "T",
		Attributes: map[string]*heraldv1.CloudEventAttributeValue{"subject": str("s"), "partitionkey": str("k"),
			"correlationid": str("c"), "time": {Attr: &heraldv1.CloudEventAttributeValue_CeTimestamp{CeTimestamp: timestamppb.New(at)}}}}
	inKnown := &heraldv1.CloudEvent{Id: "1", Source: "/s", SpecVersion: "1.0", Type: "T",
		Known: &heraldv1.KnownAttributes{Subject: "s", Partitionkey: "k", Correlationid: "c", TimeUnixNanos: at.UnixNano()}}
	a, err := EventFromProto(inMap)
	if err != nil {
		t.Fatal(err)
	}
	b, err := EventFromProto(inKnown)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) || a.Subject != "s" || !a.Time.Equal(at) {
		t.Fatalf("from the map %+v\nfrom known %+v", a, b)
	}
}

func TestEventFromProto_ProtoDataKeepsMatchingAttributes(t *testing.T) {
	ce := &heraldv1.CloudEvent{Id: "1", Source: "/s", SpecVersion: "1.0", Type: "T",
		Attributes: map[string]*heraldv1.CloudEventAttributeValue{"datacontenttype": str(ProtobufContentType),
			"dataschema": str("https://type.googleapis.com/a.B")},
		Data: &heraldv1.CloudEvent_ProtoData{ProtoData: &anypb.Any{TypeUrl: "type.googleapis.com/a.B", Value: []byte{1}}}}
	e, err := EventFromProto(ce)
	if err != nil || e.DataSchema != "https://type.googleapis.com/a.B" || string(e.Data) != "\x01" {
		t.Fatalf("EventFromProto = %+v, %v", e, err)
	}
}

func TestIsText_TextAndJSONContentTypes(t *testing.T) {
	for ct, want := range map[string]bool{
		"": true, "application/json": true, "text/plain": true, "application/cloudevents+json": true,
		"text/csv; charset=utf-8": true, "Application/JSON": true, "application/vnd.order+json": true,
		"application/json; charset=utf-8": true,
		"application/octet-stream":        false, ProtobufContentType: false, "image/png": false, "application/jsonx": false,
		"not a media type;;": false,
	} {
		if got := isText(ct); got != want {
			t.Errorf("isText(%q) = %v, want %v", ct, got, want)
		}
	}
}

// RFC 3339 (section 5.6) allows a lower-case "t" and "z" in a time.
func TestEventFromProto_ATimeWithALowerCaseTAndZIsRead(t *testing.T) {
	ce := &heraldv1.CloudEvent{Id: "1", Source: "/s", SpecVersion: "1.0", Type: "T",
		Attributes: map[string]*heraldv1.CloudEventAttributeValue{"time": str("2026-11-29t10:00:00z")}}
	e, err := EventFromProto(ce)
	if want := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC); err != nil || !e.Time.Equal(want) {
		t.Fatalf("EventFromProto = %v, %v; want the time %s", e, err, want)
	}
}
