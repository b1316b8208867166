package rpc

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/subscription"
)

// BenchmarkDeliveries_ToWire converts and encodes a Subscribe message of
// 128 deliveries of 1 KiB JSON events, as the server does for each.
func BenchmarkDeliveries_ToWire(b *testing.B) {
	data := []byte(`{"orderId":42,"note":"` + strings.Repeat("x", 1000) + `"}`)
	ds := make([]subscription.Delivery, 128)
	for i := range ds {
		ds[i] = subscription.Delivery{AckID: "1.3.qglj.16", Attempt: 1, Event: &event.Event{ID: "0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e",
			Source: "/bench", SpecVersion: "1.0", Type: "bench.tick", Time: time.Now(), DataContentType: "application/json",
			PartitionKey: "k42", Data: data, Topic: "bench", Partition: 3, Offset: int64(i), StoredAt: time.Now(), Stored: true}}
	}
	b.SetBytes(int64(len(ds) * len(data)))
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		var err error
		buf, err = proto.MarshalOptions{}.MarshalAppend(buf[:0], &heraldv1.SubscribeResponse{Deliveries: deliveriesToProto(ds)})
		if err != nil {
			b.Fatal(err)
		}
	}
}
