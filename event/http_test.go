package event

import (
	"net/http"
	"strings"
	"testing"
)

func TestHTTP_RoundTripsEvents(t *testing.T) {
	tests := map[string]*Event{
		"minimal":         minimalEvent(),
		"every attribute": fullEvent(),
		"non-ASCII, spaces, quotes and percent": with(fullEvent(), func(e *Event) {
			e.Subject = `Euro € 😀 "quoted" 100%`
			e.Source = "/caf\u00e9 orders"
			e.Extensions = map[string]string{"note": " leading and trailing ", "empty": ""}
		}),
		"binary data": with(fullEvent(), func(e *Event) {
			e.DataContentType, e.Data = "application/octet-stream", []byte{0, 0xff}
		}),
		"no data": with(fullEvent(), func(e *Event) { e.DataContentType, e.Data = "", nil }),
	}
	for name, e := range tests {
		t.Run(name, func(t *testing.T) {
			h := http.Header{}
			body := ToHTTP(e, h)
			got, err := FromHTTP(h, body)
			if err != nil {
				t.Fatalf("FromHTTP(%v): %v", h, err)
			}
			if d := diffEvents(e, got); d != "" {
				t.Fatalf("round trip through %v: %s", h, d)
			}
		})
	}
}

func TestHTTP_WritesBinaryModeHeaders(t *testing.T) {
	h := http.Header{}
	body := ToHTTP(fullEvent(), h)
	want := map[string]string{
		"Ce-Specversion":   "1.0",
		"Ce-Id":            "order-42",
		"Ce-Time":          "2024-05-06T07:08:09.123456789Z",
		"Ce-Partitionkey":  "customer-7",
		"Ce-Tenant":        "acme",
		"Ce-Priority":      "5",
		"Ce-Correlationid": "corr-1",
		"Content-Type":     "application/json",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if h.Get("Ce-Datacontenttype") != "" {
		t.Error("ce-datacontenttype written; binary mode uses Content-Type")
	}
	if string(body) != `{"orderId":42,"total":"9.99"}` {
		t.Errorf("body = %s", body)
	}
}

func TestHTTP_PercentEncodesHeaderValues(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain-ascii/~!", "plain-ascii/~!"},
		{"Euro € 😀", "Euro%20%E2%82%AC%20%F0%9F%98%80"}, // the binding spec's example
		{`say "hi"`, "say%20%22hi%22"},
		{"100%", "100%25"},
		{"tab\tdel\x7f", "tab%09del%7F"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := encodeHeaderValue(tt.in); got != tt.want {
				t.Fatalf("encodeHeaderValue(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestHTTP_DecodesHeaderValues(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"upper-case hex", "Euro%20%E2%82%AC", "Euro €"},
		{"lower-case hex", "%e2%82%ac", "€"},
		{"needlessly encoded", "%41%42", "AB"},
		{"raw UTF-8 from older senders", "Zürich", "Zürich"},
		{"quoted string", `"a b" c`, "a b c"},
		{"quoted string with escapes", `"say \"hi\" \\o/"`, `say "hi" \o/`},
		{"percent inside quotes", `"%41"`, "A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeHeaderValue(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("decodeHeaderValue(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestHTTP_ReadsHeadersCaseInsensitively(t *testing.T) {
	h := http.Header{
		"ce-id":          {"1"},
		"CE-SOURCE":      {"/orders"},
		"Ce-Type":        {"OrderPlaced"},
		"ce-specversion": {"1.0"},
		"ce-MyExt":       {"v"},
		"content-type":   {"text/plain"},
		"X-Other":        {"ignored"},
	}
	got, err := FromHTTP(h, []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	want := with(minimalEvent(), func(e *Event) {
		e.DataContentType, e.Data, e.Extensions = "text/plain", []byte("hi"), map[string]string{"myext": "v"}
	})
	if d := diffEvents(want, got); d != "" {
		t.Fatal(d)
	}
}

func TestHTTP_FromHTTPRejectsBadHeaders(t *testing.T) {
	base := func() http.Header {
		return http.Header{"Ce-Id": {"1"}, "Ce-Source": {"/o"}, "Ce-Type": {"T"}, "Ce-Specversion": {"1.0"}}
	}
	tests := []struct {
		name      string
		change    func(http.Header)
		attribute string
		rule      string
	}{
		{"overlong UTF-8", func(h http.Header) { h.Set("Ce-Subject", "%C0%A0") }, "subject", "invalid UTF-8"},
		{"raw invalid UTF-8", func(h http.Header) { h.Set("Ce-Subject", "\xff") }, "subject", "invalid UTF-8"},
		{"percent without hex", func(h http.Header) { h.Set("Ce-Subject", "%zz") }, "subject", "two hex digits"},
		{"trailing percent", func(h http.Header) { h.Set("Ce-Subject", "ab%4") }, "subject", "invalid percent-encoding at byte 2"},
		{"unclosed quote", func(h http.Header) { h.Set("Ce-Subject", `"abc`) }, "subject", "not closed"},
		{"header given twice", func(h http.Header) { h.Add("Ce-Id", "2") }, "id", "only once"},
		{"header under two spellings", func(h http.Header) { h["ce-id"] = []string{"2"} }, "id", "only once"},
		{"header without a value", func(h http.Header) { h["Ce-Subject"] = nil }, "subject", "only once"},
		{"two content types", func(h http.Header) { h["Content-Type"] = []string{"a/b", "c/d"} }, "datacontenttype", "only once"},
		{"ce-datacontenttype", func(h http.Header) { h.Set("Ce-Datacontenttype", "a/b") }, "datacontenttype", "Content-Type header"},
		{"bad time", func(h http.Header) { h.Set("Ce-Time", "2024-13-01T00:00:00Z") }, "time", "RFC 3339"},
		{"zero time", func(h http.Header) { h.Set("Ce-Time", "0001-01-01T00:00:00Z") }, "time", "zero time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := base()
			tt.change(h)
			_, err := FromHTTP(h, nil)
			wantAttrError(t, err, tt.attribute, tt.rule)
			if !strings.HasPrefix(err.Error(), "event: HTTP binary mode: ") {
				t.Fatalf("error %q lacks the binding prefix", err)
			}
		})
	}
}

func TestHTTP_RecognisesContentModes(t *testing.T) {
	tests := []struct {
		ct                        string
		structured, batch, format bool
	}{
		{"application/cloudevents+json", true, false, true},
		{"Application/CloudEvents+JSON; charset=UTF-8", true, false, true},
		{" application/cloudevents+json ;charset=utf-8", true, false, true},
		{"application/cloudevents-batch+json", false, true, true},
		{"application/cloudevents-batch+json; charset=utf-8", false, true, true},
		{"application/cloudevents+avro", false, false, true},
		{"application/json", false, false, false},
		{"application/cloudevents+jsonx", false, false, true},
		{"text/cloudevents+json", false, false, false},
		{"", false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.ct, func(t *testing.T) {
			if got := IsStructured(tt.ct); got != tt.structured {
				t.Errorf("IsStructured(%q) = %v", tt.ct, got)
			}
			if got := IsBatch(tt.ct); got != tt.batch {
				t.Errorf("IsBatch(%q) = %v", tt.ct, got)
			}
			if got := IsFormat(tt.ct); got != tt.format {
				t.Errorf("IsFormat(%q) = %v", tt.ct, got)
			}
		})
	}
}
