package event

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestValidate_AcceptsValidEvents(t *testing.T) {
	for name, e := range map[string]*Event{
		"minimal":                   minimalEvent(),
		"every attribute":           fullEvent(),
		"source is a relative ref":  with(minimalEvent(), func(e *Event) { e.Source = "orders" }),
		"source is a URN":           with(minimalEvent(), func(e *Event) { e.Source = "urn:shop:orders" }),
		"media type with params":    with(minimalEvent(), func(e *Event) { e.DataContentType = "text/plain; charset=utf-8" }),
		"extension of 20 chars":     with(minimalEvent(), func(e *Event) { e.Extensions = map[string]string{"abcdefghij0123456789": "x"} }),
		"empty extension value":     with(minimalEvent(), func(e *Event) { e.Extensions = map[string]string{"flag": ""} }),
		"deliverafter is ordinary":  with(minimalEvent(), func(e *Event) { e.Extensions = map[string]string{"deliverafter": "2024-01-01T00:00:00Z"} }),
		"non-ASCII strings":         with(minimalEvent(), func(e *Event) { e.Subject = "Zürich € 😀" }),
		"time in year 9999":         with(minimalEvent(), func(e *Event) { e.Time = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) }),
		"log position is not check": with(minimalEvent(), func(e *Event) { e.Stored, e.Offset = true, -1 }),
	} {
		t.Run(name, func(t *testing.T) {
			if err := e.Validate(); err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestValidate_RejectsEachBrokenRule(t *testing.T) {
	ext := func(name, value string) func(*Event) {
		return func(e *Event) { e.Extensions = map[string]string{name: value} }
	}
	tests := []struct {
		name      string
		change    func(*Event)
		attribute string
		rule      string
	}{
		{"specversion missing", func(e *Event) { e.SpecVersion = "" }, "specversion", "is required"},
		{"specversion not 1.0", func(e *Event) { e.SpecVersion = "0.3" }, "specversion", `must be "1.0", got "0.3"`},
		{"id missing", func(e *Event) { e.ID = "" }, "id", "is required"},
		{"source missing", func(e *Event) { e.Source = "" }, "source", "is required"},
		{"type missing", func(e *Event) { e.Type = "" }, "type", "is required"},
		{"source not a URI-reference", func(e *Event) { e.Source = "%zz" }, "source", "must be a URI-reference"},
		{"source with missing scheme", func(e *Event) { e.Source = ":orders" }, "source", "missing protocol scheme"},
		{"dataschema relative", func(e *Event) { e.DataSchema = "/schemas/order" }, "dataschema", "must be an absolute URI"},
		{"dataschema unparsable", func(e *Event) { e.DataSchema = "http://[::1" }, "dataschema", "must be an absolute URI"},
		{"datacontenttype not a media type", func(e *Event) { e.DataContentType = "not a media type" }, "datacontenttype", "must be a media type"},
		{"datacontenttype without subtype", func(e *Event) { e.DataContentType = "text" }, "datacontenttype", "no subtype"},
		{"datacontenttype bad parameter", func(e *Event) { e.DataContentType = "text/plain; charset" }, "datacontenttype", "must be a media type"},
		{"time past year 9999", func(e *Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "time", "0000-9999"},
		{"control character", func(e *Event) { e.Subject = "a\nb" }, "subject", "control character U+000A"},
		{"C1 control character", func(e *Event) { e.Type = "a\u0085" }, "type", "control character U+0085"},
		{"invalid UTF-8", func(e *Event) { e.ID = "a\xffb" }, "id", "invalid UTF-8 at byte 1"},
		{"noncharacter", func(e *Event) { e.TraceState = "\uFFFE" }, "tracestate", "noncharacter U+FFFE"},
		{"bad datacontenttype string", func(e *Event) { e.DataContentType = "text/plain\x00" }, "datacontenttype", "control character"},
		{"extension uppercase", ext("Tenant", "x"), "Tenant", "lowercase letter a-z or a digit"},
		{"extension with dash", ext("my-ext", "x"), "my-ext", "lowercase letter a-z or a digit"},
		{"extension of 21 chars", ext("abcdefghij0123456789x", "x"), "abcdefghij0123456789x", "1-20 characters"},
		{"extension with empty name", ext("", "x"), "", "1-20 characters"},
		{"extension named like id", ext("id", "x"), "id", "collides with the CloudEvents context attribute"},
		{"extension named data", ext("data", "x"), "data", "collides"},
		{"extension named partitionkey", ext("partitionkey", "x"), "partitionkey", "its own Event field"},
		{"extension named offset", ext("offset", "3"), "offset", "reserved for the log position"},
		{"extension value with control char", ext("tenant", "a\tb"), "tenant", "control character U+0009"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := with(fullEvent(), tt.change).Validate()
			wantAttrError(t, err, tt.attribute, tt.rule)
		})
	}
}

func TestValidate_ErrorNamesAttributeAndRule(t *testing.T) {
	err := with(minimalEvent(), func(e *Event) { e.SpecVersion = "0.3" }).Validate()
	if got, want := err.Error(), `attribute "specversion": must be "1.0", got "0.3"`; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestValidate_ReportsTheFirstBadExtensionByName(t *testing.T) {
	e := with(minimalEvent(), func(e *Event) {
		e.Extensions = map[string]string{"zz-z": "", "b-b": "", "ok": "", "c-c": ""}
	})
	for range 20 { // map order varies between runs
		var verr *ValidationError
		if err := e.Validate(); !errors.As(err, &verr) || verr.Attribute != "b-b" {
			t.Fatalf("Validate() = %v, want the error for b-b", err)
		}
	}
}

func TestValidateAll_ListsEveryBrokenAttributeOnceFromValidatesError(t *testing.T) {
	e := with(fullEvent(), func(e *Event) {
		e.SpecVersion, e.ID, e.Type = "0.3", "", ""
		e.Source = "%zz\n"         // not a URI-reference, and a control character: one error
		e.Subject = "a\x00"        // a control character
		e.DataContentType = "text" // no subtype
		e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		e.Extensions = map[string]string{"zz-z": "", "ok": "", "b-b": "", "tenant": "\x01"}
	})
	var got []string
	for _, err := range e.ValidateAll() {
		var verr *ValidationError
		if !errors.As(err, &verr) {
			t.Fatalf("%v is not a *ValidationError", err)
		}
		got = append(got, verr.Attribute)
	}
	want := []string{"specversion", "id", "type", "source", "subject", "time", "datacontenttype", "b-b", "tenant", "zz-z"}
	if !slices.Equal(got, want) {
		t.Fatalf("ValidateAll attributes %v, want %v", got, want)
	}
	if first := e.ValidateAll()[0]; first.Error() != e.Validate().Error() {
		t.Errorf("ValidateAll starts with %v, Validate returns %v", first, e.Validate())
	}
	if errs := fullEvent().ValidateAll(); errs != nil {
		t.Errorf("ValidateAll of a valid event = %v", errs)
	}
}

func TestValidate_ShortensLongValuesInErrors(t *testing.T) {
	err := with(minimalEvent(), func(e *Event) { e.SpecVersion = strings.Repeat("9", 1000) }).Validate()
	if len(err.Error()) > 150 {
		t.Fatalf("error is %d bytes long: %q", len(err.Error()), err)
	}
}

// checkString's eight-bytes-at-a-time path must agree with looking at
// every byte: every byte value at every position of a printable word, and
// random strings mixing printable, control, high and multi-byte runes.
func TestCheckString_WordPathAgreesWithBytes(t *testing.T) {
	slow := func(s string) bool {
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			if badRune(r, size) != "" {
				return false
			}
			i += size
		}
		return true
	}
	base := []byte("abcdefghijklmnop")
	for pos := 0; pos < len(base); pos++ {
		for c := 0; c < 256; c++ {
			s := append([]byte(nil), base...)
			s[pos] = byte(c)
			if got, want := checkString("x", string(s)) == nil, slow(string(s)); got != want {
				t.Fatalf("%q: checkString ok=%v, per byte ok=%v", s, got, want)
			}
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"a", "Z", " ", "~", "\x7f", "\x1f", "\x00", "\xff", "é", "€", "😀", "\u0085", "\ufdd0", "\xc3", "\t"}
	for i := 0; i < 50000; i++ {
		var b strings.Builder
		for n := rng.IntN(40); n > 0; n-- {
			if rng.IntN(4) == 0 {
				b.WriteString(pieces[rng.IntN(len(pieces))])
			} else {
				b.WriteByte(byte(0x20 + rng.IntN(0x5f)))
			}
		}
		s := b.String()
		if got, want := checkString("x", s) == nil, slow(s); got != want {
			t.Fatalf("%q: checkString ok=%v, per byte ok=%v", s, got, want)
		}
	}
}

func TestMakeString_TurnsFreeTextIntoAValidString(t *testing.T) {
	for in, want := range map[string]string{
		"card declined": "card declined",
		"panic: boom\ngoroutine 1:\n\tmain.go:12\n": "panic: boom | goroutine 1: |  main.go:12",
		"a\r\nb\rc":                      "a | b | c",
		"bell\x07 del\x7f c1\u0085":      "bell  del  c1 ",
		"bad \xff utf-8, nonchar \uFDD0": "bad \uFFFD utf-8, nonchar \uFFFD",
	} {
		got := MakeString(in)
		if got != want {
			t.Errorf("MakeString(%q) = %q, want %q", in, got, want)
		}
		if err := checkString("reason", got); err != nil {
			t.Errorf("MakeString(%q) = %q, not a CloudEvents String: %v", in, got, err)
		}
	}
}

func FuzzMakeString(f *testing.F) {
	for _, s := range []string{"", "ok", "a\nb", "\x00\xff\uFDD0\r\n", "\u2028 tab\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := MakeString(s)
		if err := checkString("s", got); err != nil {
			t.Fatalf("MakeString(%q) = %q: %v", s, got, err)
		}
		if checkString("s", s) == nil && got != s {
			t.Fatalf("MakeString changed the valid String %q to %q", s, got)
		}
	})
}

// time.Parse lets through forms RFC 3339 does not have (go.dev/issue/54580);
// every decoder refuses them, and still reads the forms it does have.
func TestTime_DecodersRefuseWhatRFC3339Refuses(t *testing.T) {
	decoders := map[string]func(s string) (*Event, error){
		"JSON": func(s string) (*Event, error) {
			var e Event
			err := e.UnmarshalJSON([]byte(`{"time":"` + s + `"}`))
			return &e, err
		},
		"HTTP": func(s string) (*Event, error) { return FromHTTP(http.Header{"Ce-Time": {s}}, nil) },
		"Kafka": func(s string) (*Event, error) {
			return FromKafka(nil, nil, []kmsg.Header{{Key: "ce_time", Value: []byte(s)}})
		},
	}
	for name, decode := range decoders {
		for _, s := range []string{"2024-01-02T3:04:05Z", "2024-01-02T03:04:05,5Z", "2024-01-02T03:04:05+24:00",
			"2024-01-02T03:04:05.5-24:00", "2024-01-02"} {
			t.Run(name+" refuses "+s, func(t *testing.T) {
				_, err := decode(s)
				wantAttrError(t, err, "time", "RFC 3339")
			})
		}
		for s, want := range map[string]time.Time{
			"2024-01-02T03:04:05Z":                time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
			"2024-01-02T03:04:05.25+23:59":        time.Date(2024, 1, 1, 3, 5, 5, 25e7, time.UTC),
			"0000-01-01T00:00:00.123456789-01:00": time.Date(0, 1, 1, 1, 0, 0, 123456789, time.UTC),
		} {
			t.Run(name+" reads "+s, func(t *testing.T) {
				e, err := decode(s)
				if err != nil || !e.Time.Equal(want) {
					t.Fatalf("time %s decoded as %v, %v; want %v", s, e.Time, err, want)
				}
			})
		}
	}
}
