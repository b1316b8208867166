package event

import (
	"strings"
	"testing"
)

func TestBatch_RoundTripsEvents(t *testing.T) {
	events := []*Event{
		fullEvent(),
		minimalEvent(),
		with(minimalEvent(), func(e *Event) { e.DataContentType, e.Data = "application/octet-stream", []byte{0xff} }),
	}
	b, err := EncodeBatch(events)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeBatch(b)
	if err != nil {
		t.Fatalf("DecodeBatch(%s): %v", b, err)
	}
	if len(got) != len(events) {
		t.Fatalf("decoded %d events, want %d", len(got), len(events))
	}
	for i := range events {
		if d := diffEvents(events[i], got[i]); d != "" {
			t.Fatalf("event %d: %s", i, d)
		}
	}
}

func TestBatch_EmptyArrayIsAnEmptyBatch(t *testing.T) {
	for _, in := range []string{`[]`, " [ ] \n"} {
		got, err := DecodeBatch([]byte(in))
		if err != nil || got == nil || len(got) != 0 {
			t.Fatalf("DecodeBatch(%q) = %v, %v; want an empty slice", in, got, err)
		}
	}
	b, err := EncodeBatch(nil)
	if err != nil || string(b) != "[]" {
		t.Fatalf("EncodeBatch(nil) = %s, %v; want []", b, err)
	}
}

func TestBatch_DecodeRejectsMalformedBatches(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"an object", `{"id":"1"}`, "a batch must be a JSON array of events, got object"},
		{"null", `null`, "a batch must be a JSON array of events, got null"},
		{"invalid JSON", `[{"id":"1"}`, "unexpected end of JSON input"},
		{"an element that is not an object", `[{"id":"1"},3]`, "event 1: an event must be a JSON object, got number"},
		{"a null element", `[null]`, "event 0: an event must be a JSON object, got null"},
		{"a bad attribute", `[{"id":"1"},{"id":"2"},{"id":2}]`, `event 2: attribute "id": must be a JSON string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeBatch([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DecodeBatch(%s) = %v, want an error containing %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestBatch_EncodeRejectsNilAndUnwritableEvents(t *testing.T) {
	if _, err := EncodeBatch([]*Event{minimalEvent(), nil}); err == nil || !strings.Contains(err.Error(), "event 1 is nil") {
		t.Fatalf("EncodeBatch with nil = %v", err)
	}
	bad := with(minimalEvent(), func(e *Event) { e.Extensions = map[string]string{"source": "x"} })
	if _, err := EncodeBatch([]*Event{bad}); err == nil || !strings.Contains(err.Error(), `event 0: attribute "source"`) {
		t.Fatalf("EncodeBatch with a bad event = %v", err)
	}
}
