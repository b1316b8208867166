package server

import (
	"context"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/broker"
)

func TestPublish_EachContentModeStoresEvents(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	tests := []struct {
		name   string
		body   string
		header []string
		ids    []string
	}{
		{"binary", `{"n":1}`, binaryHeaders("b1"), []string{"b1"}},
		{"binary without data", ``, binaryHeaders("b2")[:8], []string{"b2"}},
		{"structured", structured("s1"), ctStructured, []string{"s1"}},
		{"structured with charset", structured("s2"), []string{"Content-Type", "application/cloudevents+json; charset=utf-8"}, []string{"s2"}},
		{"batch", "[" + structured("a1") + "," + structured("a2") + "]", ctBatch, []string{"a1", "a2"}},
	}
	offset := int64(0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results := env.do("POST", "/v1/topics/orders/events", tt.body, tt.header...).publishResults(t)
			if len(results) != len(tt.ids) {
				t.Fatalf("results %+v", results)
			}
			for i, r := range results {
				want := broker.Result{ID: tt.ids[i], Partition: 0, Offset: offset}
				if r != want {
					t.Errorf("result %d = %+v, want %+v", i, r, want)
				}
				offset++
			}
		})
	}
	events, err := env.broker.Read(context.Background(), "orders", 0, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 6 || events[0].ID != "b1" || string(events[0].Data) != `{"n":1}` || events[0].DataContentType != "application/json" {
		t.Errorf("stored %d events, first %+v", len(events), events[0])
	}
}

func TestPublish_DuplicateReturnsTheOriginalPosition(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", `{"partitions":3}`)
	first := env.do("POST", "/v1/topics/orders/events", structured("dup"), ctStructured...).publishResults(t)
	again := env.do("POST", "/v1/topics/orders/events", `{"x":1}`, binaryHeaders("dup")...).publishResults(t)
	want := first[0]
	want.Duplicate = true
	if again[0] != want {
		t.Errorf("again %+v, want %+v", again[0], want)
	}
	batch := env.do("POST", "/v1/topics/orders/events", "["+structured("new")+","+structured("dup")+","+structured("new")+"]", ctBatch...).publishResults(t)
	if !batch[1].Duplicate || batch[1].Offset != want.Offset || batch[1].Partition != want.Partition || batch[0].Duplicate ||
		!batch[2].Duplicate || batch[2].Offset != batch[0].Offset || batch[2].Partition != batch[0].Partition {
		t.Errorf("batch %+v", batch)
	}
	ends := env.endOffsets("orders")
	if total := ends[0] + ends[1] + ends[2]; total != 2 {
		t.Errorf("stored %d events, want 2 (%v)", total, ends)
	}
}

func TestPublish_ClearsTheLogPositionOfRepublishedEvents(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	body := `{"specversion":"1.0","id":"r1","source":"/t","type":"x","topic":"other","partition":7,"offset":42}`
	results := env.do("POST", "/v1/topics/orders/events", body, ctStructured...).publishResults(t)
	if results[0].Partition != 0 || results[0].Offset != 0 {
		t.Errorf("result %+v", results[0])
	}
}

// badPublish is a publish request that must be refused.
type badPublish struct {
	name   string
	body   string
	header []string
	status int
	code   string
	attr   string // the attribute named in errors, if any
}

func badPublishes() []badPublish {
	ok := `{"specversion":"1.0","id":"1","source":"/s","type":"t"}`
	without := func(attr string) string { return strings.Replace(ok, `"`+attr+`":`, `"x`+attr+`":`, 1) }
	var tests []badPublish
	for _, attr := range []string{"id", "source", "type", "specversion"} {
		emptied := strings.Replace(ok, attrValue(ok, attr), `"`+attr+`":""`, 1)
		tests = append(tests,
			badPublish{"missing " + attr, without(attr), ctStructured, 400, "invalid_event", attr},
			badPublish{"empty " + attr, emptied, ctStructured, 400, "invalid_event", attr},
			badPublish{"binary missing " + attr, "", binaryWithout(attr), 400, "invalid_event", attr})
	}
	return append(tests,
		badPublish{"wrong specversion", strings.Replace(ok, `"1.0"`, `"0.3"`, 1), ctStructured, 400, "invalid_event", "specversion"},
		badPublish{"id of the wrong type", strings.Replace(ok, `"id":"1"`, `"id":1`, 1), ctStructured, 400, "invalid_event", "id"},
		badPublish{"malformed JSON", `{"specversion":`, ctStructured, 400, "malformed_request", ""},
		badPublish{"structured body is an array", `[` + ok + `]`, ctStructured, 400, "malformed_request", ""},
		badPublish{"malformed batch", `[` + ok, ctBatch, 400, "malformed_request", ""},
		badPublish{"batch is an object", ok, ctBatch, 400, "malformed_request", ""},
		badPublish{"empty batch", `[]`, ctBatch, 400, "empty_batch", ""},
		badPublish{"batch with one bad event", `[` + ok + `,` + without("type") + `]`, ctBatch, 400, "invalid_event", "type"},
		badPublish{"unsupported content type", `hello`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", ""},
		badPublish{"no content type", ok, nil, 415, "unsupported_media_type", ""},
		badPublish{"other CloudEvents format", ok, []string{"Content-Type", "application/cloudevents+xml"}, 415, "unsupported_media_type", ""},
		badPublish{"too large event", strings.Replace(ok, `}`, `,"data":"`+strings.Repeat("x", 600)+`"}`, 1), ctStructured, 413, "event_too_large", ""},
		badPublish{"too many events", `[` + ok + `,` + strings.Replace(ok, `"1"`, `"2"`, 1) + `,` + strings.Replace(ok, `"1"`, `"3"`, 1) + `]`, ctBatch, 413, "batch_too_large", ""},
		badPublish{"too large body", `[` + strings.Repeat(ok+",", 40) + ok + `]`, ctBatch, 413, "request_too_large", ""},
	)
}

// attrValue returns the `"attr":"value"` member of a flat JSON object.
func attrValue(obj, attr string) string {
	i := strings.Index(obj, `"`+attr+`":`)
	j := strings.Index(obj[i+len(attr)+4:], `"`)
	return obj[i : i+len(attr)+4+j+1]
}

func binaryWithout(attr string) []string {
	h := binaryHeaders("1")
	i := slices.Index(h, "ce-"+attr)
	return slices.Delete(h, i, i+2)
}

func TestPublish_BadRequestsStoreNothing(t *testing.T) {
	env := newEnv(t, broker.Options{MaxEventBytes: 512, MaxBatchEvents: 2}, Options{MaxBodyBytes: 2048})
	env.createTopic("orders", `{"partitions":2}`)
	for _, tt := range badPublishes() {
		t.Run(tt.name, func(t *testing.T) {
			p := env.do("POST", "/v1/topics/orders/events", tt.body, tt.header...).wantProblem(t, tt.status, tt.code)
			if tt.attr != "" && (len(p.Errors) == 0 || p.Errors[0].Attribute != tt.attr || p.Errors[0].Rule == "") {
				t.Errorf("errors %+v, want attribute %q", p.Errors, tt.attr)
			}
			if ends := env.endOffsets("orders"); ends[0] != 0 || ends[1] != 0 {
				t.Errorf("end offsets %v, want nothing stored", ends)
			}
		})
	}
}

func TestPublish_BatchErrorsNameEveryBadEvent(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	body := `[{"specversion":"1.0","id":"1","source":"/s"},` + structured("2") + `,{"specversion":"0.3","id":"3","source":"/s","type":"t"}]`
	p := env.do("POST", "/v1/topics/orders/events", body, ctBatch...).wantProblem(t, 400, "invalid_event")
	if len(p.Errors) != 2 || *p.Errors[0].Index != 0 || p.Errors[0].Attribute != "type" ||
		*p.Errors[1].Index != 2 || p.Errors[1].Attribute != "specversion" {
		t.Errorf("errors %+v", p.Errors)
	}
	if !strings.Contains(p.Detail, "event 0") || !strings.HasSuffix(p.Detail, "(and 1 more invalid event)") {
		t.Errorf("detail %q does not name the event", p.Detail)
	}
	env.do("GET", "/v1/topics/orders", "").wantProblem(t, 404, "unknown_topic")
}

func TestPublish_TopicErrors(t *testing.T) {
	tests := []struct {
		name   string
		opts   broker.Options
		topic  string
		status int
		code   string
	}{
		{"unknown topic with auto-create off", broker.Options{DisableAutoCreate: true}, "orders", 404, "auto_create_disabled"},
		{"invalid topic name", broker.Options{}, "bad%21name", 400, "invalid_topic_name"},
		{"reserved topic name", broker.Options{}, "__internal", 400, "reserved_topic_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t, tt.opts, Options{})
			env.do("POST", "/v1/topics/"+tt.topic+"/events", structured("1"), ctStructured...).wantProblem(t, tt.status, tt.code)
			var list TopicList
			env.do("GET", "/v1/topics", "").wantStatus(t, http.StatusOK, mediaJSON, &list)
			if len(list.Topics) != 0 {
				t.Errorf("topics %+v", list.Topics)
			}
		})
	}
}

// RFC 3339 (section 5.6) allows a lower-case "t" and "z"; CloudEvents
// times are RFC 3339, so every publish mode takes them.
func TestPublish_ALowerCaseTAndZInTheTimeAreAccepted(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	const lower = "2024-01-01t10:00:00z"
	env.do("POST", "/v1/topics/orders/events",
		`{"specversion":"1.0","id":"t1","source":"/test","type":"test.happened","time":"`+lower+`"}`, ctStructured...).publishResults(t)
	env.do("POST", "/v1/topics/orders/events", `{}`, append(binaryHeaders("t2"), "ce-time", "2024-01-01t11:00:00+01:00")...).publishResults(t)
	events := env.readEvents(t, "")
	want := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	if len(events) != 2 || !events[0].Time.Equal(want) || !events[1].Time.Equal(want) {
		t.Fatalf("stored %+v, want both at %s", events, want)
	}
}

// An event without a time has the zero time.Time, so 0001-01-01T00:00:00Z
// could only be stored as no time at all: it is refused instead of being
// dropped in silence.
func TestPublish_TheZeroTimeIsRefusedRatherThanDropped(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	for _, zero := range []string{"0001-01-01T00:00:00Z", "0001-01-01T01:00:00+01:00"} {
		p := env.do("POST", "/v1/topics/orders/events",
			`{"specversion":"1.0","id":"t0","source":"/test","type":"test.happened","time":"`+zero+`"}`, ctStructured...).
			wantProblem(t, 400, "invalid_event")
		if len(p.Errors) != 1 || p.Errors[0].Attribute != "time" || !strings.Contains(p.Errors[0].Rule, "zero time") {
			t.Errorf("%s: errors %+v, want one about the zero time", zero, p.Errors)
		}
		env.do("POST", "/v1/topics/orders/events", ``, append(binaryHeaders("t1"), "ce-time", zero)...).
			wantProblem(t, 400, "invalid_event")
	}
	if ends := env.endOffsets("orders"); ends[0] != 0 {
		t.Errorf("%d events stored, want none", ends[0])
	}
	env.do("POST", "/v1/topics/orders/events",
		`{"specversion":"1.0","id":"t2","source":"/test","type":"test.happened","time":"0001-01-01T00:00:00.000000001Z"}`,
		ctStructured...).publishResults(t)
	if e := env.readEvents(t, ""); len(e) != 1 || e[0].Time.IsZero() {
		t.Errorf("a time just after the zero time was not kept: %+v", e)
	}
}

// Attributes that do not decode (a bad time, a fractional extension, a
// repeated member) are listed as the broken attributes that validation
// finds are: each with its event's index, for every event of the batch.
func TestPublish_BatchDecodeErrorsNameEveryBrokenAttributeOfEveryEvent(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	body := `[{"specversion":"1.0","id":"a","source":"/s","type":"t"},
	          {"specversion":"1.0","id":"b","source":"/s","type":"t","time":"bad"},
	          {"specversion":"1.0","source":"/s","type":"t"},
	          {"specversion":"1.0","id":"d","source":"/s","ext":1.5,"type":"t","type":"u"},
	          {"specversion":"1.0","id":7,"source":"/s","time":"0001-01-01T00:00:00Z"}]`
	p := env.do("POST", "/v1/topics/orders/events", body, ctBatch...).wantProblem(t, 400, "invalid_event")
	type entry struct {
		index     int
		attribute string
	}
	want := []entry{{1, "time"}, {2, "id"}, {3, "ext"}, {3, "type"}, {4, "id"}, {4, "time"}, {4, "type"}}
	var got []entry
	for _, e := range p.Errors {
		if e.Index == nil || e.Rule == "" {
			t.Fatalf("error %+v without an index or a rule", e)
		}
		got = append(got, entry{*e.Index, e.Attribute})
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors %+v, want %+v", got, want)
	}
	if !strings.HasPrefix(p.Detail, `invalid event: event 1 (id "b"): attribute "time"`) ||
		!strings.HasSuffix(p.Detail, "(and 3 more invalid events)") {
		t.Errorf("detail %q", p.Detail)
	}
	if !strings.Contains(p.Errors[6].Rule, "required") || !strings.Contains(p.Errors[4].Rule, "JSON string") {
		t.Errorf("event 4: %+v, want id as not a string (not as missing) and type as missing", p.Errors[4:])
	}
	env.do("GET", "/v1/topics/orders", "").wantProblem(t, 404, "unknown_topic")

	// An element that is not an event at all makes the batch malformed.
	env.do("POST", "/v1/topics/orders/events", `[{"specversion":"1.0","id":"a","time":"bad"},3]`, ctBatch...).
		wantProblem(t, 400, "malformed_request")
}

func TestPublish_StructuredDecodeErrorsNameEveryBrokenAttribute(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	p := env.do("POST", "/v1/topics/orders/events",
		`{"specversion":"1.0","source":"/s","type":"t","time":"noon","ext":{"a":1}}`, ctStructured...).
		wantProblem(t, 400, "invalid_event")
	var got []string
	for _, e := range p.Errors {
		if e.Index != nil {
			t.Errorf("error %+v has an index outside batch mode", e)
		}
		got = append(got, e.Attribute)
	}
	if want := []string{"ext", "time", "id"}; !slices.Equal(got, want) {
		t.Errorf("attributes %v, want %v", got, want)
	}
}

// In binary mode too, every header that does not decode is named, and the
// attributes given in the other headers are not reported missing.
func TestPublish_BinaryDecodeErrorsNameEveryBrokenAttributeAndNoGivenOne(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	headers := append(binaryHeaders("b1"), "ce-time", "noon", "ce-datacontenttype", "application/json",
		"ce-subject", "a", "ce-subject", "b", "ce-ext", "%zz")
	p := env.do("POST", "/v1/topics/orders/events", `{}`, headers...).wantProblem(t, 400, "invalid_event")
	var got []string
	for _, e := range p.Errors {
		if e.Index != nil || e.Rule == "" {
			t.Errorf("error %+v has an index outside batch mode, or no rule", e)
		}
		got = append(got, e.Attribute)
	}
	if want := []string{"datacontenttype", "ext", "subject", "time"}; !slices.Equal(got, want) {
		t.Errorf("attributes %v, want %v", got, want)
	}
	if !strings.HasPrefix(p.Detail, `invalid event: attribute "datacontenttype"`) {
		t.Errorf("detail %q", p.Detail)
	}
	env.do("GET", "/v1/topics/orders", "").wantProblem(t, 404, "unknown_topic")
}

// A batch of many tiny events costs the server memory in proportion to its
// body, not a whole event per three bytes: it is refused before they are
// made.
func TestPublish_LongBatchIsRefusedBeforeItsEventsAreMade(t *testing.T) {
	env := newEnv(t, broker.Options{MaxBatchEvents: 2}, Options{})
	body := "[" + strings.Repeat("{},", 200000) + "{}]"
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	p := env.do("POST", "/v1/topics/orders/events", body, ctBatch...).wantProblem(t, 413, "batch_too_large")
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 16*uint64(len(body)) {
		t.Errorf("a batch of %d bytes made the server allocate %d bytes", len(body), n)
	}
	if !strings.Contains(p.Detail, "the limit is 2") {
		t.Errorf("detail %q does not give the limit", p.Detail)
	}
}
