package event

import (
	"errors"
	"runtime"
	"slices"
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

// DecodeBatch goes on past an event that does not decode, so that every
// broken attribute of every event can be reported at once.
func TestBatch_DecodeListsEveryEventThatDoesNotDecode(t *testing.T) {
	in := `[{"specversion":"1.0","id":"a","source":"/s","type":"t"},
	        {"specversion":"1.0","id":"b","source":"/s","type":"t","time":"bad","ext":1.5},
	        {"specversion":"1.0","id":"c","source":"/s","type":"t"},
	        {"id":2,"id":"3"},
	        null]`
	events, err := DecodeBatch([]byte(in))
	var batch *BatchError
	if !errors.As(err, &batch) {
		t.Fatalf("DecodeBatch = %v, want a *BatchError", err)
	}
	var indexes []int
	for _, ev := range batch.Events {
		indexes = append(indexes, ev.Index)
	}
	if !slices.Equal(indexes, []int{1, 3, 4}) {
		t.Fatalf("failed events %v, want 1, 3 and 4", indexes)
	}
	if got := attributesOf(batch.Events[0].Err); !slices.Equal(got, []string{"ext", "time"}) {
		t.Errorf("event 1: attributes %v, want ext and time", got)
	}
	if got := attributesOf(batch.Events[1].Err); !slices.Equal(got, []string{"id"}) {
		t.Errorf("event 3: attributes %v, want id once", got)
	}
	if attributesOf(batch.Events[2].Err) != nil {
		t.Errorf("event 4 (null) is about attributes: %v", batch.Events[2].Err)
	}
	want := `event: JSON batch: event 1: attribute "ext": `
	if msg := err.Error(); !strings.HasPrefix(msg, want) || !strings.HasSuffix(msg, "(and 2 more events that do not decode)") {
		t.Errorf("message %q", msg)
	}
	if len(events) != 5 || events[0].ID != "a" || events[1].ID != "b" || events[2].ID != "c" {
		t.Fatalf("events %+v, want all five, decoded as far as they could be", events)
	}
	if d := diffEvents(with(minimalEvent(), func(e *Event) { e.ID, e.Source, e.Type = "c", "/s", "t" }), events[2]); d != "" {
		t.Errorf("the good event after a bad one: %s", d)
	}
}

// allocated is the number of bytes fn allocates.
func allocated(fn func()) int {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return int(after.TotalAlloc - before.TotalAlloc)
}

// An Event is hundreds of bytes and "{}," is three: a batch longer than
// the limit is refused before its events are made.
func TestBatch_DecodeMaxRefusesALongBatchBeforeMakingEvents(t *testing.T) {
	empties := []byte("[" + strings.Repeat("{},", 100000) + "{}]")
	var err error
	if n := allocated(func() { _, err = DecodeBatchMax(empties, 10) }); !errors.Is(err, ErrTooManyEvents) || n > len(empties) {
		t.Errorf("DecodeBatchMax(10) of %d bytes allocated %d bytes to fail with %v", len(empties), n, err)
	}
	if !strings.Contains(err.Error(), "the limit is 10") {
		t.Errorf("error %q does not give the limit", err)
	}
	events, err := DecodeBatchMax([]byte("["+strings.Repeat("{},", 99999)+"{}]"), 100000)
	if err != nil || len(events) != 100000 {
		t.Fatalf("DecodeBatchMax at the limit = %d events, %v", len(events), err)
	}
}
