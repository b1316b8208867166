package rpc

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/subscription"
)

// deliveriesWire is a SubscribeResponse as the server sends it.
func deliveriesWire(t testing.TB, es ...*event.Event) []byte {
	ds := make([]subscription.Delivery, len(es))
	for i, e := range es {
		ds[i] = subscription.Delivery{AckID: "1.0." + string(rune('a'+i)) + ".1", Attempt: i + 1, Event: e}
	}
	b, err := proto.Marshal(&heraldv1.SubscribeResponse{Deliveries: deliveriesToProto(ds)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func storedEvent(mod func(e *event.Event)) *event.Event {
	e := &event.Event{ID: "id-1", Source: "/orders", SpecVersion: "1.0", Type: "order.placed",
		Time: time.Date(2026, 11, 29, 10, 0, 0, 123, time.UTC), DataContentType: "application/json",
		Subject: "o-1", PartitionKey: "customer-7", TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		CorrelationID: "c-1", CausationID: "x-1", Data: []byte(`{"total":12}`),
		Topic: "orders", Partition: 2, Offset: 41, StoredAt: time.Date(2026, 11, 29, 10, 0, 1, 5, time.UTC), Stored: true}
	if mod != nil {
		mod(e)
	}
	return e
}

func TestDecodeDeliveries_TheSameAsProtobufThenConvert(t *testing.T) {
	cases := map[string][]byte{
		"json":      deliveriesWire(t, storedEvent(nil), storedEvent(func(e *event.Event) { e.ID = "id-2"; e.Offset = 42 })),
		"binary":    deliveriesWire(t, storedEvent(func(e *event.Event) { e.DataContentType = "image/png"; e.Data = []byte{0xff, 0, 1} })),
		"no data":   deliveriesWire(t, storedEvent(func(e *event.Event) { e.Data = nil })),
		"empty":     deliveriesWire(t, storedEvent(func(e *event.Event) { e.Data = []byte{} })),
		"no time":   deliveriesWire(t, storedEvent(func(e *event.Event) { e.Time = time.Time{} })),
		"extension": deliveriesWire(t, storedEvent(func(e *event.Event) { e.Extensions = map[string]string{"tenant": "acme"} })),
		"none":      deliveriesWire(t),
	}
	withProto, _ := proto.Marshal(&heraldv1.SubscribeResponse{Deliveries: []*heraldv1.Delivery{{AckId: "a", Event: &heraldv1.StoredEvent{
		Event: &heraldv1.CloudEvent{Id: "p", Source: "/s", SpecVersion: "1.0", Type: "t",
			Data: &heraldv1.CloudEvent_ProtoData{ProtoData: &anypb.Any{TypeUrl: "type.googleapis.com/x.Y", Value: []byte{8, 1}}}}}}}})
	cases["proto data"] = withProto
	noEvent, _ := proto.Marshal(&heraldv1.SubscribeResponse{Deliveries: []*heraldv1.Delivery{{AckId: "a", Attempt: -3}}})
	cases["no event"] = noEvent
	oldTime, _ := proto.Marshal(&heraldv1.SubscribeResponse{Deliveries: []*heraldv1.Delivery{{AckId: "a", Event: &heraldv1.StoredEvent{
		StoredTime: timestamppb.New(time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC))}}}})
	cases["old stored time"] = oldTime
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			checkDecodeDeliveries(t, b)
			got, err := DecodeDeliveries(b)
			if err != nil {
				t.Fatal(err)
			}
			if name == "json" && (len(got) != 2 || got[1].Event.ID != "id-2" || got[0].Attempt != 1 || got[0].Event.Time.Nanosecond() != 123 ||
				string(got[0].Event.Data) != `{"total":12}` || got[0].Event.StoredAt.Nanosecond() != 5) {
				t.Errorf("decoded %+v", got)
			}
		})
	}
	if _, ok := decodeDeliveries(cases["json"]); !ok {
		t.Error("a plain delivery went the general way")
	}
}

func TestDecodeDeliveries_DataIsNotTheWireBuffer(t *testing.T) {
	b := deliveriesWire(t, storedEvent(nil))
	got, err := DecodeDeliveries(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	if string(got[0].Event.Data) != `{"total":12}` || got[0].Event.ID != "id-1" {
		t.Errorf("the delivery changed with the buffer it was read from: %q %q", got[0].Event.Data, got[0].Event.ID)
	}
}

// checkDecodeDeliveries: when the direct reading takes b, protobuf's
// decoder and the conversion give the same.
func checkDecodeDeliveries(t *testing.T, b []byte) {
	t.Helper()
	fast, ok := decodeDeliveries(b)
	if !ok {
		return
	}
	slow, err := decodeDeliveriesProto(b)
	if err != nil {
		t.Fatalf("read directly, but protobuf refuses it: %v", err)
	}
	if len(fast) == 0 && len(slow) == 0 {
		return
	}
	if !reflect.DeepEqual(fast, slow) {
		for i := range min(len(fast), len(slow)) {
			if !reflect.DeepEqual(fast[i], slow[i]) {
				t.Fatalf("delivery %d: read directly %+v %+v; by protobuf %+v %+v", i, fast[i], *fast[i].Event, slow[i], *slow[i].Event)
			}
		}
		t.Fatalf("read directly %d deliveries, by protobuf %d", len(fast), len(slow))
	}
}

// FuzzDecodeDeliveries: whatever the bytes, the direct reading never
// panics and agrees with protobuf's decoder whenever it takes them.
func FuzzDecodeDeliveries(f *testing.F) {
	f.Add(deliveriesWire(f, storedEvent(nil), storedEvent(func(e *event.Event) { e.Data = []byte{0xff} })))
	f.Add(deliveriesWire(f, storedEvent(func(e *event.Event) { e.Time = time.Time{}; e.Data = nil })))
	f.Add(deliveriesWire(f, storedEvent(func(e *event.Event) { e.Extensions = map[string]string{"a": "b"} })))
	f.Add([]byte(strings.Repeat("\x0a\x00", 3)))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecodeDeliveries(t, b)
		DecodeDeliveries(b)
	})
}

func BenchmarkDeliveries_FromWire(b *testing.B) {
	es := make([]*event.Event, 128)
	data := []byte(`{"orderId":42,"note":"` + strings.Repeat("x", 1000) + `"}`)
	for i := range es {
		es[i] = storedEvent(func(e *event.Event) { e.Offset = int64(i); e.Data = data })
	}
	wire := deliveriesWire(b, es...)
	for _, way := range []struct {
		name   string
		decode func([]byte) ([]WireDelivery, error)
	}{{"direct", DecodeDeliveries}, {"protobuf", decodeDeliveriesProto}} {
		b.Run(way.name, func(b *testing.B) {
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := way.decode(wire); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
