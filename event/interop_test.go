package event

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	ceevent "github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/cloudevents/sdk-go/v2/types"
)

// sdkEvents are events built with the CloudEvents Go SDK, one per kind of
// data and attribute.
func sdkEvents(t *testing.T) map[string]ceevent.Event {
	t.Helper()
	build := func(ct string, data any, exts map[string]any) ceevent.Event {
		e := ceevent.New()
		e.SetID("order-42")
		e.SetSource("https://shop.example/orders")
		e.SetType("com.example.order.placed")
		e.SetTime(time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC))
		e.SetSubject("orders/42")
		e.SetDataSchema("https://shop.example/schemas/order/v1")
		for k, v := range exts {
			e.SetExtension(k, v)
		}
		if data != nil {
			if err := e.SetData(ct, data); err != nil {
				t.Fatalf("SetData: %v", err)
			}
		}
		return e
	}
	exts := map[string]any{
		"tenant": "acme", "priority": 5, "negative": -3, "urgent": true,
		"partitionkey": "customer-7", "correlationid": "corr-1", "causationid": "cause-1",
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	}
	return map[string]ceevent.Event{
		"JSON object data": build("application/json", map[string]any{"orderId": 42, "note": "é"}, exts),
		// No */*+json type here: the SDK (v2.16) treats only application/json,
		// text/json and the CloudEvents types as JSON and writes other +json
		// data as a JSON string, where the JSON format spec (and Herald) say
		// the data is the JSON value itself.
		"text data":   build("text/plain", "hello \"world\"", nil),
		"XML data":    build("application/xml", `<much wow="xml"/>`, nil),
		"binary data": build("application/octet-stream", []byte{0, 1, 0xfe, 0xff}, nil),
		"no data":     build("", nil, map[string]any{"tenant": "acme"}),
	}
}

// fromSDK returns the Event that should equal the SDK event e.
func fromSDK(t *testing.T, e ceevent.Event) *Event {
	t.Helper()
	want := &Event{
		ID: e.ID(), Source: e.Source(), Type: e.Type(), SpecVersion: e.SpecVersion(),
		Time: e.Time(), Subject: e.Subject(), DataContentType: e.DataContentType(),
		DataSchema: e.DataSchema(), Data: e.Data(),
	}
	var seen attrSet
	for name, v := range e.Extensions() {
		s, err := types.Format(v)
		if err != nil {
			t.Fatalf("extension %s: %v", name, err)
		}
		if err := want.setAttr(name, s, &seen); err != nil {
			t.Fatal(err)
		}
	}
	return want
}

func TestInterop_SDKJSONDecodesIdentically(t *testing.T) {
	for name, se := range sdkEvents(t) {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(se)
			if err != nil {
				t.Fatal(err)
			}
			var got Event
			if err := got.UnmarshalJSON(b); err != nil {
				t.Fatalf("UnmarshalJSON(%s): %v", b, err)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if d := diffEvents(fromSDK(t, se), &got); d != "" {
				t.Fatalf("decoding %s: %s", b, d)
			}
		})
	}
}

func TestInterop_SDKReadsOurJSONIdentically(t *testing.T) {
	for name, se := range sdkEvents(t) {
		t.Run(name, func(t *testing.T) {
			ours := fromSDK(t, se)
			b, err := ours.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			var got ceevent.Event
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("SDK cannot read %s: %v", b, err)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("SDK finds %s invalid: %v", b, err)
			}
			if d := diffEvents(ours, fromSDK(t, got)); d != "" {
				t.Fatalf("SDK read %s as: %s", b, d)
			}
		})
	}
}

func TestInterop_SDKHTTPBinaryDecodesIdentically(t *testing.T) {
	events := sdkEvents(t)
	// The SDK (v2.16) sends header values unencoded; raw UTF-8 decodes as is.
	nonASCII := events["text data"]
	nonASCII.SetSubject("Zürich 😀")
	events["non-ASCII subject"] = nonASCII
	for name, se := range events {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, "http://herald.test/v1/topics/t/events", nil)
			if err := cehttp.WriteRequest(context.Background(), binding.ToMessage(&se), req); err != nil {
				t.Fatal(err)
			}
			var body []byte
			if req.Body != nil {
				var err error
				if body, err = io.ReadAll(req.Body); err != nil {
					t.Fatal(err)
				}
			}
			got, err := FromHTTP(req.Header, body)
			if err != nil {
				t.Fatalf("FromHTTP(%v): %v", req.Header, err)
			}
			if d := diffEvents(fromSDK(t, se), got); d != "" {
				t.Fatalf("reading %v: %s", req.Header, d)
			}
		})
	}
}

// The SDK (v2.16) does not percent-decode header values, so these events
// keep to values that need no encoding.
func TestInterop_SDKReadsOurHTTPBinaryIdentically(t *testing.T) {
	for name, se := range sdkEvents(t) {
		t.Run(name, func(t *testing.T) {
			ours := fromSDK(t, se)
			req, _ := http.NewRequest(http.MethodPost, "http://herald.test/", nil)
			body := ToHTTP(ours, req.Header)
			req.Body = io.NopCloser(bytes.NewReader(body))
			got, err := binding.ToEvent(context.Background(), cehttp.NewMessageFromHttpRequest(req))
			if err != nil {
				t.Fatalf("SDK cannot read %v: %v", req.Header, err)
			}
			if d := diffEvents(ours, fromSDK(t, *got)); d != "" {
				t.Fatalf("SDK read %v as: %s", req.Header, d)
			}
		})
	}
}
