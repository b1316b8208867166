package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// seedEvents are the events the fuzz corpora start from.
func seedEvents() []*Event {
	return []*Event{
		minimalEvent(),
		fullEvent(),
		with(fullEvent(), func(e *Event) { e.DataContentType, e.Data = "text/plain", []byte("héllo \"x\"") }),
		with(fullEvent(), func(e *Event) { e.DataContentType, e.Data = "application/octet-stream", []byte{0, 0xff} }),
		with(fullEvent(), func(e *Event) { e.Data = []byte("null") }),
		with(fullEvent(), func(e *Event) { e.Subject = "Euro € 😀 \"q\" 100%" }),
		with(minimalEvent(), func(e *Event) {
			e.Stored, e.Topic, e.Partition, e.Offset = true, "orders", 3, 99
			e.StoredAt = time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600))
		}),
	}
}

// checkRoundTrips fails unless the valid event e survives every codec.
func checkRoundTrips(t *testing.T, e *Event) {
	t.Helper()
	b, err := e.MarshalJSON()
	if err != nil {
		t.Fatalf("MarshalJSON of a valid event: %v", err)
	}
	var fromJSON Event
	if err := fromJSON.UnmarshalJSON(b); err != nil {
		t.Fatalf("UnmarshalJSON(%s): %v", b, err)
	}
	viaJSON := e
	if e.DataContentType != "" && isJSONMediaType(e.DataContentType) && json.Valid(e.Data) { // written as its JSON value, without the whitespace around it
		viaJSON = with(e, func(e *Event) { e.Data = bytes.Trim(e.Data, " \t\r\n") })
	}
	if d := diffEvents(viaJSON, &fromJSON); d != "" {
		t.Fatalf("JSON round trip via %s: %s", b, d)
	}
	unstored := with(e, func(e *Event) {
		e.Stored, e.Topic, e.Partition, e.Offset, e.StoredAt = false, "", 0, 0, time.Time{}
	})
	h := http.Header{}
	fromHTTP, err := FromHTTP(h, ToHTTP(e, h))
	if err != nil {
		t.Fatalf("FromHTTP(%v): %v", h, err)
	}
	if d := diffEvents(unstored, fromHTTP); d != "" {
		t.Fatalf("HTTP round trip via %v: %s", h, d)
	}
	key, value, headers := ToKafka(e)
	fromKafka, err := FromKafka(key, value, headers)
	if err != nil {
		t.Fatalf("FromKafka(%v): %v", headers, err)
	}
	if d := diffEvents(unstored, fromKafka); d != "" {
		t.Fatalf("Kafka round trip via %v: %s", headers, d)
	}
}

func FuzzDecodeStructured(f *testing.F) {
	for _, e := range seedEvents() {
		b, _ := e.MarshalJSON()
		f.Add(b)
	}
	for _, s := range []string{
		`{"specversion":"1.0","id":"1","source":"/","type":"t","ext":5,"b":true,"n":null,"data":"s"}`,
		`{"specversion":"1.0","id":"1","source":"/","type":"t","datacontenttype":"text/plain","data_base64":"AA=="}`,
		`{"id":5}`, `[]`, `null`, `{"data":"x","data_base64":"eA=="}`, `{"partition":1,"offset":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var e Event
		err := e.UnmarshalJSON(data)
		checkOncePerAttribute(t, attributesOf(err))
		checkValidateAll(t, &e)
		if err != nil || e.Validate() != nil {
			return
		}
		checkRoundTrips(t, &e)
	})
}

// checkOncePerAttribute fails when an attribute is named twice.
func checkOncePerAttribute(t *testing.T, attributes []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, a := range attributes {
		if seen[a] {
			t.Fatalf("attribute %q is reported twice in %v", a, attributes)
		}
		seen[a] = true
	}
}

// checkValidateAll fails unless ValidateAll reports one *ValidationError
// per broken attribute, starting with the error of Validate.
func checkValidateAll(t *testing.T, e *Event) {
	t.Helper()
	errs, first := e.ValidateAll(), e.Validate()
	if (len(errs) == 0) != (first == nil) || (first != nil && errs[0].Error() != first.Error()) {
		t.Fatalf("ValidateAll = %v, Validate = %v", errs, first)
	}
	var attributes []string
	for _, err := range errs {
		var verr *ValidationError
		if !errors.As(err, &verr) {
			t.Fatalf("ValidateAll: %v is not a *ValidationError", err)
		}
		attributes = append(attributes, verr.Attribute)
	}
	checkOncePerAttribute(t, attributes)
}

func FuzzDecodeBatch(f *testing.F) {
	b, _ := EncodeBatch(seedEvents())
	f.Add(b)
	for _, s := range []string{`[]`, `[null]`, `{}`, `[{"id":"1"},{"id":2}]`,
		`[{"time":"bad","ext":1.5},{"id":2,"id":"3"},null,{"specversion":"1.0","id":"1","source":"/","type":"t","time":"2024-01-01t00:00:00z"}]`,
		`[{"specversion":"1.0","id":"1","source":"/","type":"t","datacontenttype":"text/plain","data":{},"partition":1,"offset":-1}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := DecodeBatch(data)
		var batch *BatchError
		if err != nil && !errors.As(err, &batch) {
			return // not a JSON array
		}
		failed := checkBatchError(t, batch, len(events))
		var raws []json.RawMessage
		if json.Unmarshal(data, &raws) != nil {
			return // a JSON text encoding/json does not take; nothing to compare with
		}
		if len(raws) != len(events) {
			t.Fatalf("%d events from %d elements", len(events), len(raws))
		}
		for i, e := range events {
			// Each event decodes in a batch as it does alone, errors included.
			var alone Event
			aloneErr := alone.UnmarshalJSON(raws[i])
			if (aloneErr == nil) != (failed[i] == nil) ||
				(aloneErr != nil && aloneErr.Error() != "event: JSON: "+failed[i].Error()) {
				t.Fatalf("event %d: alone %v, in the batch %v", i, aloneErr, failed[i])
			}
			if d := diffEvents(&alone, e); d != "" {
				t.Fatalf("event %d decodes otherwise alone: %s", i, d)
			}
			checkValidateAll(t, e)
			if failed[i] == nil && e.Validate() == nil {
				checkRoundTrips(t, e)
			}
		}
	})
}

// checkBatchError checks that a *BatchError lists events of the batch once
// each, in index order, and returns their errors by index.
func checkBatchError(t *testing.T, batch *BatchError, n int) map[int]error {
	t.Helper()
	failed := map[int]error{}
	if batch == nil {
		return failed
	}
	if len(batch.Events) == 0 {
		t.Fatal("a BatchError without events")
	}
	for i, ev := range batch.Events {
		if ev.Index < 0 || ev.Index >= n || (i > 0 && ev.Index <= batch.Events[i-1].Index) || ev.Err == nil {
			t.Fatalf("BatchError event %d: index %d of %d events, error %v", i, ev.Index, n, ev.Err)
		}
		checkOncePerAttribute(t, attributesOf(ev.Err))
		failed[ev.Index] = ev.Err
	}
	return failed
}

// httpHeaderBlob writes h as "Name: value" lines, the fuzz input form.
func httpHeaderBlob(h http.Header) string {
	var b strings.Builder
	for k, vs := range h {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\n")
		}
	}
	return b.String()
}

func FuzzFromHTTP(f *testing.F) {
	for _, e := range seedEvents() {
		h := http.Header{}
		body := ToHTTP(e, h)
		f.Add(httpHeaderBlob(h), body)
	}
	f.Add("ce-id: \"a b\"\nce-subject: %C0%A0\nce-x: %zz\n", []byte{})
	f.Fuzz(func(t *testing.T, blob string, body []byte) {
		h := http.Header{}
		for line := range strings.SplitSeq(blob, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				h[k] = append(h[k], strings.TrimSpace(v))
			}
		}
		e, err := FromHTTP(h, body)
		if err != nil || e.Validate() != nil {
			return
		}
		checkRoundTrips(t, e)
	})
}

// kafkaHeaderBlob writes headers as "key=value" lines, the fuzz input form.
func kafkaHeaderBlob(headers []kmsg.Header) []byte {
	var b bytes.Buffer
	for _, h := range headers {
		b.WriteString(h.Key + "=" + string(h.Value) + "\n")
	}
	return b.Bytes()
}

func FuzzFromKafka(f *testing.F) {
	for _, e := range seedEvents() {
		key, value, headers := ToKafka(e)
		f.Add(key, value, kafkaHeaderBlob(headers))
	}
	f.Add([]byte("k"), []byte{}, []byte("ce_id=1\nce_id=2\ncontent-type=x\nce_time=bad\n"))
	f.Fuzz(func(t *testing.T, key, value, blob []byte) {
		var headers []kmsg.Header
		for line := range bytes.SplitSeq(blob, []byte("\n")) {
			if k, v, ok := bytes.Cut(line, []byte("=")); ok {
				headers = append(headers, kmsg.Header{Key: string(k), Value: v})
			}
		}
		e, err := FromKafka(key, value, headers)
		if err != nil || e.Validate() != nil {
			return
		}
		checkRoundTrips(t, e)
	})
}
