package rpc

import (
	"bytes"
	"maps"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/rpc/heraldv1"
)

// FuzzEventFromProto: whatever CloudEvent a publisher sends, the
// conversion never panics, and an event it gives that Validate accepts
// comes back unchanged from EventToProto and from the log's Kafka form.
func FuzzEventFromProto(f *testing.F) {
	for _, e := range []*event.Event{
		{ID: "1", Source: "/s", SpecVersion: "1.0", Type: "T"},
		{ID: "2", Source: "/s", SpecVersion: "1.0", Type: "T", Time: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC),
			Subject: "sub", DataContentType: "application/json", DataSchema: "https://x.example/s", Data: []byte(`{"a":1}`),
			PartitionKey: "k", TraceParent: "tp", TraceState: "ts", CorrelationID: "c", CausationID: "d",
			Extensions: map[string]string{"region": "eu"}},
		{ID: "3", Source: "/s", SpecVersion: "1.0", Type: "T", Time: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
			DataContentType: "application/octet-stream", Data: []byte{0xff, 0}},
	} {
		b, err := proto.Marshal(EventToProto(e))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	b, err := proto.Marshal(&heraldv1.CloudEvent{Id: "1", Source: "/s", SpecVersion: "1.0", Type: "T",
		Attributes: map[string]*heraldv1.CloudEventAttributeValue{"time": str("2026-01-01T00:00:00+02:00"),
			"n": {Attr: &heraldv1.CloudEventAttributeValue_CeInteger{CeInteger: -5}},
			"b": {Attr: &heraldv1.CloudEventAttributeValue_CeBytes{CeBytes: []byte{1}}}},
		Data: &heraldv1.CloudEvent_ProtoData{ProtoData: &anypb.Any{TypeUrl: "type.googleapis.com/a.B", Value: []byte{1}}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var ce heraldv1.CloudEvent
		if proto.Unmarshal(b, &ce) != nil {
			return
		}
		e, err := EventFromProto(&ce)
		if err != nil || e.Validate() != nil {
			return
		}
		back, err := EventFromProto(EventToProto(e))
		if err != nil {
			t.Fatalf("EventFromProto(EventToProto(%+v)): %v", e, err)
		}
		if !sameEvent(e, back) {
			t.Fatalf("through EventToProto %+v came back as %+v", e, back)
		}
		stored, err := event.FromKafka(event.ToKafka(e))
		if err != nil {
			t.Fatalf("FromKafka(ToKafka(%+v)): %v", e, err)
		}
		if !sameEvent(e, stored) {
			t.Fatalf("through the Kafka form %+v came back as %+v", e, stored)
		}
	})
}

// sameEvent reports whether a and b are the same event: times compare by
// instant, and nil and empty data or extensions are alike.
func sameEvent(a, b *event.Event) bool {
	ac, bc := *a, *b
	if !ac.Time.Equal(bc.Time) || !bytes.Equal(ac.Data, bc.Data) || !maps.Equal(ac.Extensions, bc.Extensions) {
		return false
	}
	ac.Time, bc.Time, ac.Data, bc.Data, ac.Extensions, bc.Extensions = time.Time{}, time.Time{}, nil, nil, nil, nil
	return reflect.DeepEqual(ac, bc)
}
