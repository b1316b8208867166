package event

import (
	"strings"
	"testing"
)

// event1KiB returns a typical event whose JSON encoding is about 1 KiB.
func event1KiB() *Event {
	items := strings.Repeat(`{"sku":"SKU-000123","qty":2,"price":"19.99"},`, 14)
	return with(fullEvent(), func(e *Event) {
		e.Data = []byte(`{"orderId":42,"items":[` + items[:len(items)-1] + `]}`)
	})
}

func BenchmarkDecodeStructured1KiB(b *testing.B) {
	in, err := event1KiB().MarshalJSON()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		var e Event
		if err := e.UnmarshalJSON(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeStructured1KiB(b *testing.B) {
	e := event1KiB()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	e := event1KiB()
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKafkaRoundTrip1KiB(b *testing.B) {
	e := event1KiB()
	b.ReportAllocs()
	for b.Loop() {
		key, value, headers := ToKafka(e)
		if _, err := FromKafka(key, value, headers); err != nil {
			b.Fatal(err)
		}
	}
}
