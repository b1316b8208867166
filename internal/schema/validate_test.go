package schema

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/schema/compat"
)

func ev(id, typ, data string, opts ...func(*event.Event)) *event.Event {
	e := &event.Event{ID: id, Source: "/test", Type: typ, SpecVersion: "1.0", DataContentType: "application/json", Data: []byte(data)}
	for _, o := range opts {
		o(e)
	}
	return e
}

func withSchema(uri string) func(*event.Event) { return func(e *event.Event) { e.DataSchema = uri } }

func topic(p broker.SchemaPolicy) broker.Topic { return broker.Topic{Name: "t", SchemaPolicy: p} }

// violations validates events and returns the violations (nil when the
// batch is accepted).
func violations(t *testing.T, r *Registry, p broker.SchemaPolicy, events ...*event.Event) []Violation {
	t.Helper()
	err := r.Validate(topic(p), events)
	if err == nil {
		return nil
	}
	var verr *ViolationError
	if !errors.As(err, &verr) || !errors.Is(err, ErrViolation) {
		t.Fatalf("validate: %v, want a ViolationError", err)
	}
	return verr.Violations
}

func TestValidate_GoodAndBadEventsByPolicy(t *testing.T) {
	e := newEnv(t)
	e.register("user.registered", userV1)
	good := ev("1", "user.registered", `{"name":"Alice","email":"a@example.com"}`)
	bad := ev("2", "user.registered", `{"name":7}`)
	untyped := ev("3", "other.thing", `{"anything":true}`)

	if vs := violations(t, e.reg, broker.SchemaPolicyNone, bad, untyped); vs != nil {
		t.Fatalf("policy none: %+v", vs)
	}
	if vs := violations(t, e.reg, broker.SchemaPolicyValidate, good, untyped); vs != nil {
		t.Fatalf("policy validate, good events: %+v", vs)
	}
	vs := violations(t, e.reg, broker.SchemaPolicyValidate, good, bad, untyped)
	if len(vs) != 2 {
		t.Fatalf("policy validate, a bad event: %+v, want 2 violations", vs)
	}
	if vs[0].Index != 1 || vs[0].ID != "2" || vs[0].Subject != "user.registered" || vs[0].Version != 1 {
		t.Errorf("violation names the event: %+v", vs[0])
	}
	want := map[string]string{"": "missing property 'email'", "/name": "got number, want string"}
	for _, v := range vs {
		if !strings.Contains(v.Message, want[v.Pointer]) || want[v.Pointer] == "" || !strings.HasPrefix(v.Keyword, "#") {
			t.Errorf("violation %+v, want at %q: %q", v, v.Pointer, want[v.Pointer])
		}
	}
	vs = violations(t, e.reg, broker.SchemaPolicyRequire, good, untyped)
	if len(vs) != 1 || vs[0].Index != 1 || !strings.Contains(vs[0].Message, `no schema is registered for type "other.thing"`) {
		t.Fatalf("policy require, a type without a schema: %+v", vs)
	}
}

func TestValidate_DataschemaNamesTheVersion(t *testing.T) {
	e := newEnv(t)
	e.setMode("user.registered", compat.None)
	e.register("user.registered", userV1)
	e.register("user.registered", userBroken) // version 2: name is an integer
	v1Data := `{"name":"Alice","email":"a@example.com"}`
	v2Data := `{"name":7,"email":"a@example.com"}`
	tests := []struct {
		name    string
		event   *event.Event
		wantErr string // "" for valid
	}{
		{"no dataschema: the latest", ev("1", "user.registered", v2Data), ""},
		{"no dataschema, v1 data", ev("1", "user.registered", v1Data), "got string, want integer"},
		{"herald URI v1", ev("1", "user.registered", v1Data, withSchema(URI("user.registered", 1))), ""},
		{"herald URI v1, v2 data", ev("1", "user.registered", v2Data, withSchema(URI("user.registered", 1))), "got number, want string"},
		{"registry URL v1", ev("1", "user.registered", v1Data,
			withSchema("http://127.0.0.1:7440/schema-registry/subjects/user.registered/versions/1")), ""},
		{"an external dataschema: the latest", ev("1", "user.registered", v2Data, withSchema("https://example.com/schemas/user")), ""},
		{"a version that does not exist", ev("1", "user.registered", v1Data, withSchema(URI("user.registered", 9))), "version 9"},
		{"another type's schema", ev("1", "user.registered", v1Data, withSchema(URI("order.placed", 1))), `subject "order.placed"`},
		{"a malformed herald URI", ev("1", "user.registered", v1Data, withSchema("herald:schemas/user.registered/versions/one")), "not of the form"},
		{"not JSON", ev("1", "user.registered", "name=Alice", func(e *event.Event) { e.DataContentType = "text/plain" }), "not JSON"},
		{"broken JSON", ev("1", "user.registered", `{"name":`), "not valid JSON"},
		{"no data", ev("1", "user.registered", ""), "no data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := violations(t, e.reg, broker.SchemaPolicyValidate, tt.event)
			switch {
			case tt.wantErr == "" && vs != nil:
				t.Fatalf("refused: %+v", vs)
			case tt.wantErr != "" && (len(vs) == 0 || !strings.Contains(vs[0].Message, tt.wantErr)):
				t.Fatalf("violations %+v, want one saying %q", vs, tt.wantErr)
			}
		})
	}
	if _, err := e.reg.DeleteVersion(t.Context(), "user.registered", 1, false); err != nil {
		t.Fatal(err)
	}
	vs := violations(t, e.reg, broker.SchemaPolicyValidate, ev("1", "user.registered", v1Data, withSchema(URI("user.registered", 1))))
	if len(vs) != 1 || !strings.Contains(vs[0].Message, "deleted") {
		t.Fatalf("a soft-deleted version named: %+v", vs)
	}
}

func TestValidate_ListsEveryViolationUpToTheLimit(t *testing.T) {
	e := newEnv(t)
	e.register("n", `{"type":"integer"}`)
	var events []*event.Event
	for i := 0; i < MaxViolations+10; i++ {
		events = append(events, ev("x", "n", `"not a number"`))
	}
	err := e.reg.Validate(topic(broker.SchemaPolicyValidate), events)
	var verr *ViolationError
	if !errors.As(err, &verr) || len(verr.Violations) != MaxViolations || verr.Total != MaxViolations+10 || verr.Events != MaxViolations+10 {
		t.Fatalf("validate: %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "109 more violations in 110 events") || !strings.Contains(msg, "nothing of the batch was stored") {
		t.Fatalf("message %q", msg)
	}
}

func TestURI_RoundTripsAndParses(t *testing.T) {
	for _, subject := range []string{"order.placed", "com.example/orders v2", "ünï"} {
		got, n, ok, err := ParseURI(URI(subject, 3))
		if err != nil || !ok || got != subject || n != 3 {
			t.Errorf("%q: %q %d %v %v", subject, got, n, ok, err)
		}
	}
	tests := []struct {
		uri     string
		subject string
		version int
		ok, bad bool
	}{
		{"herald:schemas/a.b/versions/12", "a.b", 12, true, false},
		{"https://reg.example/schema-registry/subjects/a%2Fb/versions/2", "a/b", 2, true, false},
		{"http://h:7440/x/schema-registry/subjects/a/versions/1", "a", 1, true, false},
		{"https://example.com/schemas/a.json", "", 0, false, false},
		{"https://type.googleapis.com/shop.Order", "", 0, false, false},
		{"", "", 0, false, false},
		{"herald:schemas/a/versions/0", "", 0, false, true},
		{"herald:schemas/a/versions/latest", "", 0, false, true},
		{"herald:schemas/a", "", 0, false, true},
		{"herald:schemas/a/b/versions/1", "", 0, false, true},
	}
	for _, tt := range tests {
		s, n, ok, err := ParseURI(tt.uri)
		if s != tt.subject || n != tt.version || ok != tt.ok || (err != nil) != tt.bad {
			t.Errorf("%q: %q %d %v %v", tt.uri, s, n, ok, err)
		}
	}
}

func TestNumbers_IntegralAndExactFloats(t *testing.T) {
	integral := map[string]bool{"0": true, "-0": true, "7": true, "7.0": true, "7.50e1": true, "1e2": true, "250e-1": true,
		"0.0e-3": true, "100e-2": true, "2.5": false, "25e-2": false, "1e-1": false, "0.1": false, "-3.000001": false}
	for lit, want := range integral {
		if got := isIntegral([]byte(lit)); got != want {
			t.Errorf("isIntegral(%s) = %v", lit, got)
		}
	}
	floats := []struct {
		lit   string
		f     float64
		exact bool
	}{{"12", 12, true}, {"-12", -12, true}, {"0.5", 0.5, false}, {"19.99", 19.99, false}, {"1e3", 1000, false},
		{"123456789012345678", 123456789012345678, false}}
	for _, tt := range floats {
		if f, exact := parseFloat([]byte(tt.lit)); f != tt.f || exact != tt.exact {
			t.Errorf("parseFloat(%s) = %v %v", tt.lit, f, exact)
		}
	}
}

// BenchmarkValidate_Order1KiB validates a typical 1 KiB order event (six
// line items, an address, patterns, a date-time, enums and bounds)
// through the registry, as a publish to a topic with schemaPolicy
// validate does. Run with -cpu 1 for the one-core figure. validations/s
// is by the clock; validations/cpu-s by the CPU time the process used,
// which other load on the machine does not change.
func BenchmarkValidate_Order1KiB(b *testing.B) {
	e := newEnv(b)
	text, err := os.ReadFile("testdata/order.schema.json")
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile("testdata/order.json")
	if err != nil {
		b.Fatal(err)
	}
	v, _, err := e.reg.Register(b.Context(), "order.placed", text)
	if err != nil {
		b.Fatal(err)
	}
	events := []*event.Event{ev("o-1", "order.placed", string(data), withSchema(URI("order.placed", v.Version)))}
	tp := topic(broker.SchemaPolicyValidate)
	if err := e.reg.Validate(tp, events); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if err := e.reg.Validate(tp, events); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "validations/s")
	if used := cpuTime() - cpu; used > 0 {
		b.ReportMetric(float64(b.N)/used.Seconds(), "validations/cpu-s")
	}
}

// BenchmarkValidate_Order1KiBFullValidator is the same event through the
// full validator alone (decoding the data, then validating the value):
// what every event would cost without the fast validator.
func BenchmarkValidate_Order1KiBFullValidator(b *testing.B) {
	text, err := os.ReadFile("testdata/order.schema.json")
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile("testdata/order.json")
	if err != nil {
		b.Fatal(err)
	}
	c := mustCompile(b, string(text))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if !fullValid(c, data) {
			b.Fatal("invalid")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "validations/s")
	if used := cpuTime() - cpu; used > 0 {
		b.ReportMetric(float64(b.N)/used.Seconds(), "validations/cpu-s")
	}
}

// Numbers of huge powers of ten cost the validator about as much time as
// their exponents are long to read exactly (20 ms for 1e999999), so data
// whose numbers add up to more than maxNumberWork of exponent is refused
// unread: a 1 MiB event of such numbers would have taken 40 minutes of CPU.
// One such number, or many ordinary ones, is validated as before.
func TestValidate_DataWhoseNumbersAreTooCostlyToCompareIsRefusedUnread(t *testing.T) {
	e := newEnv(t)
	e.register("n", `{"type":"array","items":{"maximum":10}}`)
	costly := "[" + strings.Repeat("1e999999,", 199) + "1e999999]"
	found := violations(t, e.reg, broker.SchemaPolicyValidate, ev("x", "n", costly))
	if len(found) != 1 || !strings.Contains(found[0].Message, "exponents") {
		t.Fatalf("200 numbers of 1e999999: %+v, want one violation saying their exponents are too large to validate", found)
	}
	found = violations(t, e.reg, broker.SchemaPolicyValidate, ev("y", "n", "[1e999999]"))
	if len(found) != 1 || !strings.HasSuffix(found[0].Keyword, "maximum") {
		t.Fatalf("one number of 1e999999: %+v, want it validated (over the maximum)", found)
	}
	ordinary := "[" + strings.Repeat("1.5e3,", 9999) + "1]"
	found = violations(t, e.reg, broker.SchemaPolicyValidate, ev("z", "n", ordinary))
	if len(found) == 0 || !strings.HasSuffix(found[0].Keyword, "maximum") {
		t.Fatalf("10,000 ordinary numbers: %+v, want the maximum's violations", found)
	}
}
