package event

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestJSON_RoundTripsEvents(t *testing.T) {
	cet := time.FixedZone("", -5*3600)
	tests := map[string]*Event{
		"minimal":         minimalEvent(),
		"every attribute": fullEvent(),
		"JSON string data": with(fullEvent(), func(e *Event) {
			e.Data = []byte(`"just a string"`)
		}),
		"explicit JSON null data": with(fullEvent(), func(e *Event) { e.Data = []byte("null") }),
		"+json content type":      with(fullEvent(), func(e *Event) { e.DataContentType = "application/cloudevents+json" }),
		"text data": with(fullEvent(), func(e *Event) {
			e.DataContentType, e.Data = "text/plain; charset=utf-8", []byte("héllo \"world\"\n<&>")
		}),
		"XML data": with(fullEvent(), func(e *Event) {
			e.DataContentType, e.Data = "application/xml", []byte(`<much wow="xml"/>`)
		}),
		"binary data": with(fullEvent(), func(e *Event) {
			e.DataContentType, e.Data = "application/octet-stream", []byte{0, 1, 0xfe, 0xff}
		}),
		"binary data without content type": with(fullEvent(), func(e *Event) {
			e.DataContentType, e.Data = "", []byte{0xff, 0xfe}
		}),
		"JSON content type with invalid JSON": with(fullEvent(), func(e *Event) { e.Data = []byte("{not json") }),
		"time with zone offset": with(fullEvent(), func(e *Event) {
			e.Time = time.Date(2024, 1, 2, 3, 4, 5, 0, cet)
		}),
		"strings needing escapes": with(fullEvent(), func(e *Event) {
			e.Subject, e.Extensions = "tab\there \"quoted\" back\\slash 😀", map[string]string{"note": "\u2028"}
		}),
		"stored event": with(fullEvent(), func(e *Event) {
			e.Stored, e.Topic, e.Partition, e.Offset = true, "orders", 3, 1<<40
			e.StoredAt = time.Date(2024, 5, 6, 7, 8, 10, 5, time.UTC)
		}),
		"deliverafter stays an extension": with(minimalEvent(), func(e *Event) {
			e.Extensions = map[string]string{"deliverafter": "2030-01-01T00:00:00Z"}
		}),
	}
	for name, e := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := e.MarshalJSON()
			if err != nil {
				t.Fatalf("MarshalJSON: %v", err)
			}
			if !json.Valid(b) {
				t.Fatalf("MarshalJSON wrote invalid JSON: %s", b)
			}
			var got Event
			if err := got.UnmarshalJSON(b); err != nil {
				t.Fatalf("UnmarshalJSON(%s): %v", b, err)
			}
			if d := diffEvents(e, &got); d != "" {
				t.Fatalf("round trip of %s: %s", b, d)
			}
		})
	}
}

func TestJSON_EncodesMembersInAFixedForm(t *testing.T) {
	e := with(fullEvent(), func(e *Event) {
		e.Stored, e.Topic, e.Partition, e.Offset = true, "orders", 2, 17
		e.StoredAt = time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)
	})
	b, err := e.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"specversion":"1.0","id":"order-42","source":"https://shop.example/orders",` +
		`"type":"com.example.order.placed","time":"2024-05-06T07:08:09.123456789Z","subject":"orders/42",` +
		`"datacontenttype":"application/json","dataschema":"https://shop.example/schemas/order-placed/v1",` +
		`"partitionkey":"customer-7","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",` +
		`"tracestate":"rojo=00f067aa0ba902b7","correlationid":"corr-1","causationid":"cause-1",` +
		`"priority":"5","tenant":"acme","urgent":"true",` +
		`"topic":"orders","partition":2,"offset":17,"storedtime":"2024-05-06T07:08:10Z",` +
		`"data":{"orderId":42,"total":"9.99"}}`
	if string(b) != want {
		t.Fatalf("MarshalJSON =\n%s\nwant\n%s", b, want)
	}
}

func TestJSON_ChoosesDataMemberByContentType(t *testing.T) {
	tests := []struct {
		name, contentType string
		data              []byte
		want              string
	}{
		{"JSON value stays raw", "application/json", []byte(`{"a":1}`), `"data":{"a":1}`},
		{"text/json is JSON", "text/json", []byte(`[1]`), `"data":[1]`},
		{"+json suffix is JSON", "application/vnd.order+json; charset=utf-8", []byte(`true`), `"data":true`},
		{"no content type goes base64", "", []byte(`42`), `"data_base64":"NDI="`},
		{"invalid JSON goes base64", "application/json", []byte(`{`), `"data_base64":"ew=="`},
		{"text goes as a string", "text/plain", []byte("a\"b"), `"data":"a\"b"`},
		{"non-UTF-8 goes base64", "text/plain", []byte{0xff}, `"data_base64":"/w=="`},
		{"no data, no member", "text/plain", nil, `"datacontenttype":"text/plain"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := with(minimalEvent(), func(e *Event) { e.DataContentType, e.Data = tt.contentType, tt.data })
			b, err := e.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tt.want) {
				t.Fatalf("MarshalJSON = %s, want it to contain %s", b, tt.want)
			}
		})
	}
}

func TestJSON_DecodesAttributes(t *testing.T) {
	const head = `"specversion":"1.0","id":"1","source":"/orders","type":"OrderPlaced"`
	tests := []struct {
		name string
		json string
		want *Event
	}{
		{"extension of each type",
			`{` + head + `,"str":"x","int":-7,"zero":-0,"yes":true,"no":false,"gone":null}`,
			with(minimalEvent(), func(e *Event) {
				e.Extensions = map[string]string{"str": "x", "int": "-7", "zero": "0", "yes": "true", "no": "false"}
			})},
		{"known extensions go to fields",
			`{` + head + `,"partitionkey":"k","traceparent":"tp","tracestate":"ts","correlationid":"c","causationid":7}`,
			with(minimalEvent(), func(e *Event) {
				e.PartitionKey, e.TraceParent, e.TraceState, e.CorrelationID, e.CausationID = "k", "tp", "ts", "c", "7"
			})},
		{"null attributes are absent", `{` + head + `,"subject":null,"time":null,"data_base64":null}`, minimalEvent()},
		{"text data is the string's bytes",
			`{` + head + `,"data":"<x/>","datacontenttype":"application/xml"}`,
			with(minimalEvent(), func(e *Event) { e.DataContentType, e.Data = "application/xml", []byte("<x/>") })},
		{"JSON data is the raw text", `{` + head + `,"datacontenttype":"application/json","data":{ "a" : [1, 2] }}`,
			with(minimalEvent(), func(e *Event) { e.DataContentType, e.Data = "application/json", []byte(`{ "a" : [1, 2] }`) })},
		{"absent content type becomes application/json", `{` + head + `,"data":"s"}`,
			with(minimalEvent(), func(e *Event) { e.DataContentType, e.Data = "application/json", []byte(`"s"`) })},
		{"data_base64 is binary", `{` + head + `,"data_base64":"AAH/"}`,
			with(minimalEvent(), func(e *Event) { e.Data = []byte{0, 1, 0xff} })},
		{"escaped strings", `{` + head + `,"subject":"a\u00e9\n\"b\""}`,
			with(minimalEvent(), func(e *Event) { e.Subject = "aé\n\"b\"" })},
		{"escaped surrogate pair", `{` + head + `,"subject":"\ud83d\ude00\u0041"}`,
			with(minimalEvent(), func(e *Event) { e.Subject = "😀A" })},
		{"time with offset", `{` + head + `,"time":"2024-01-02T03:04:05.5+01:30"}`,
			with(minimalEvent(), func(e *Event) {
				e.Time = time.Date(2024, 1, 2, 1, 34, 5, 5e8, time.UTC)
			})},
		{"time with a lower-case t and z (RFC 3339 section 5.6)", `{` + head + `,"time":"2024-01-02t03:04:05.5z"}`,
			with(minimalEvent(), func(e *Event) {
				e.Time = time.Date(2024, 1, 2, 3, 4, 5, 5e8, time.UTC)
			})},
		{"log position when partition and offset are present",
			`{` + head + `,"topic":"orders","partition":1,"offset":99,"storedtime":"2024-01-01T00:00:00Z"}`,
			with(minimalEvent(), func(e *Event) {
				e.Stored, e.Topic, e.Partition, e.Offset = true, "orders", 1, 99
				e.StoredAt = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
			})},
		{"partition alone is an extension", `{` + head + `,"partition":1,"topic":"t"}`,
			with(minimalEvent(), func(e *Event) { e.Extensions = map[string]string{"partition": "1", "topic": "t"} })},
		{"deliverafter is an extension", `{` + head + `,"deliverafter":"2030-01-01T00:00:00Z"}`,
			with(minimalEvent(), func(e *Event) { e.Extensions = map[string]string{"deliverafter": "2030-01-01T00:00:00Z"} })},
		{"escaped member names", `{"specversion":"1.0","\u0069d":"1","source":"/orders","type":"OrderPlaced"}`, minimalEvent()},
		{"whitespace around the object", " \n{" + head + "}\t", minimalEvent()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Event
			if err := got.UnmarshalJSON([]byte(tt.json)); err != nil {
				t.Fatalf("UnmarshalJSON: %v", err)
			}
			if d := diffEvents(tt.want, &got); d != "" {
				t.Fatal(d)
			}
		})
	}
}

func TestJSON_DecodeReplacesThePreviousContents(t *testing.T) {
	e := fullEvent()
	if err := e.UnmarshalJSON([]byte(`{"specversion":"1.0","id":"1","source":"/orders","type":"OrderPlaced"}`)); err != nil {
		t.Fatal(err)
	}
	if d := diffEvents(minimalEvent(), e); d != "" {
		t.Fatal(d)
	}
}

func TestJSON_DecodeRejectsMalformedEvents(t *testing.T) {
	tests := []struct {
		name, json, attribute, rule string
	}{
		{"id is a number", `{"id":5}`, "id", "must be a JSON string, got number"},
		{"source is an object", `{"source":{}}`, "source", "must be a JSON string, got object"},
		{"datacontenttype is a boolean", `{"datacontenttype":true}`, "datacontenttype", "got boolean"},
		{"time is not RFC 3339", `{"time":"yesterday"}`, "time", "must be an RFC 3339 timestamp"},
		{"time is the zero time", `{"time":"0001-01-01T00:00:00Z"}`, "time", "zero time"},
		{"time is the zero time in another zone", `{"time":"0000-12-31T23:00:00-01:00"}`, "time", "zero time"},
		{"extension is an object", `{"ext":{"a":1}}`, "ext", "got object"},
		{"extension is an array", `{"ext":[1]}`, "ext", "got array"},
		{"extension is a fraction", `{"ext":1.5}`, "ext", "integer"},
		{"extension is out of int32", `{"ext":2147483648}`, "ext", "-2147483648 to 2147483647"},
		{"known extension is an object", `{"partitionkey":{}}`, "partitionkey", "got object"},
		{"data and data_base64", `{"data":"x","data_base64":"eA=="}`, "data_base64", `together with "data"`},
		{"data_base64 is not base64", `{"data_base64":"!!"}`, "data_base64", "must be standard base64"},
		{"data_base64 is a number", `{"data_base64":1}`, "data_base64", "must be a JSON string"},
		{"non-JSON data is not a string", `{"datacontenttype":"text/plain","data":{"a":1}}`, "data",
			`datacontenttype "text/plain" is not JSON`},
		{"string is not UTF-8", "{\"subject\":\"a\xffb\"}", "subject", "UTF-8"},
		{"escaped string is not UTF-8", "{\"id\":\"\\n\xc3\"}", "id", "UTF-8"},
		{"text data is not UTF-8", "{\"datacontenttype\":\"text/plain\",\"data\":\"\xfe\"}", "data", "UTF-8"},
		{"lone high surrogate", `{"ext":"\ud800x"}`, "ext", "surrogate"},
		{"lone low surrogate", `{"type":"\udc00"}`, "type", "surrogate"},
		{"high surrogate at the end", `{"source":"/\udbff"}`, "source", "surrogate"},
		{"two high surrogates", `{"subject":"\ud800\ud800\udc00"}`, "subject", "surrogate"},
		{"repeated attribute", `{"id":"1","id":"2"}`, "id", "only once"},
		{"repeated extension", `{"ext":"1","ext":2}`, "ext", "only once"},
		{"repeated data", `{"data":1,"data":2}`, "data", "only once"},
		{"negative partition", `{"partition":-1,"offset":0}`, "partition", "non-negative"},
		{"string offset", `{"partition":1,"offset":"2"}`, "offset", "non-negative JSON integer"},
		{"topic is a number", `{"partition":1,"offset":2,"topic":3}`, "topic", "must be a JSON string"},
		{"bad storedtime", `{"partition":1,"offset":2,"storedtime":"x"}`, "storedtime", "RFC 3339"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Event
			err := e.UnmarshalJSON([]byte(tt.json))
			wantAttrError(t, err, tt.attribute, tt.rule)
			if !strings.HasPrefix(err.Error(), "event: JSON: ") {
				t.Fatalf("error %q lacks the format prefix", err)
			}
		})
	}
}

func TestJSON_DecodeReportsEveryAttributeThatDoesNotDecode(t *testing.T) {
	var e Event
	err := e.UnmarshalJSON([]byte(`{"time":"x","ext":[1],"id":1,"id":"2","partition":1,"offset":-1,` +
		`"datacontenttype":"text/plain","data":{}}`))
	if got, want := attributesOf(err), []string{"ext", "id", "time", "offset", "data"}; !slices.Equal(got, want) {
		t.Fatalf("UnmarshalJSON = %v\nattributes %v, want %v (members by name, then the position, then the data)", err, got, want)
	}
	wantAttrError(t, err, "ext", "got array")
	if !strings.HasSuffix(err.Error(), "(and 4 more attributes that do not decode)") {
		t.Errorf("message %q does not count the others", err)
	}
}

func TestJSON_DecodeRejectsNonObjects(t *testing.T) {
	for name, in := range map[string]string{
		"invalid JSON":   `{"id":`,
		"empty input":    ``,
		"array":          `[{"id":"1"}]`,
		"null":           `null`,
		"string":         `"event"`,
		"trailing bytes": `{"id":"1"} x`,
	} {
		t.Run(name, func(t *testing.T) {
			var e Event
			if err := e.UnmarshalJSON([]byte(in)); err == nil {
				t.Fatalf("UnmarshalJSON(%q) = nil, want an error", in)
			}
		})
	}
}

func TestJSON_NonObjectErrorSaysWhatItGot(t *testing.T) {
	var e Event
	err := e.UnmarshalJSON([]byte(`[1]`))
	if err == nil || err.Error() != "event: JSON: an event must be a JSON object, got array" {
		t.Fatalf("UnmarshalJSON([1]) = %v", err)
	}
}

func TestJSON_MarshalRejectsWhatJSONCannotCarry(t *testing.T) {
	tests := []struct {
		name      string
		change    func(*Event)
		attribute string
	}{
		{"extension named like a context attribute", func(e *Event) { e.Extensions = map[string]string{"id": "x"} }, "id"},
		{"extension named like the log position", func(e *Event) { e.Extensions = map[string]string{"topic": "x"} }, "topic"},
		{"time past year 9999", func(e *Event) { e.Time = time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC) }, "time"},
		{"stored time before year 0", func(e *Event) {
			e.Stored, e.StoredAt = true, time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)
		}, "storedtime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := with(minimalEvent(), tt.change).MarshalJSON()
			wantAttrError(t, err, tt.attribute, "")
		})
	}
}

func TestJSON_MarshalWritesOddZonesInUTC(t *testing.T) {
	e := with(minimalEvent(), func(e *Event) {
		e.Time = time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("LMT", 75)) // +00:01:15
	})
	b, _ := e.MarshalJSON()
	var got Event
	if err := got.UnmarshalJSON(b); err != nil || !got.Time.Equal(e.Time) {
		t.Fatalf("time %v became %v (%s, %v)", e.Time, got.Time, b, err)
	}
}

func TestJSON_WorksThroughEncodingJSON(t *testing.T) {
	type envelope struct {
		Event *Event `json:"event"`
	}
	in := envelope{Event: fullEvent()}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out envelope
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if d := diffEvents(in.Event, out.Event); d != "" {
		t.Fatal(d)
	}
}

func TestJSON_MarshalReplacesInvalidUTF8LikeEncodingJSON(t *testing.T) {
	e := with(minimalEvent(), func(e *Event) { e.Subject = "a\xffb\r\x01" })
	b, err := e.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(e.Subject)
	if !strings.Contains(string(b), `"subject":`+string(want)) {
		t.Fatalf("MarshalJSON = %s, want subject %s", b, want)
	}
}
