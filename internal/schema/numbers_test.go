package schema

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"pgregory.net/rapid"
)

// fullVerdict is the full validator's verdict; a panic inside it is reported.
func fullVerdict(c *compiled, data []byte) (valid bool, panicked any) {
	defer func() { panicked = recover() }()
	return fullValid(c, data), nil
}

// The fast validator agrees with jsonschema/v6 on every pair of these
// schemas and values, numbers with exponents beyond what math/big reads
// among them: it never says valid where the full validator says invalid
// or panics.
func TestFast_AgreesWithTheFullValidatorOnNumbersAtTheEdges(t *testing.T) {
	schemas := []string{
		`{"type":"integer"}`, `{"type":"number"}`, `{"maximum":0}`, `{"minimum":1}`, `{"exclusiveMaximum":0}`,
		`{"exclusiveMinimum":0}`, `{"maximum":1e400}`, `{"const":0}`, `{"enum":[1e400]}`, `{"enum":[0,1]}`,
		`{"multipleOf":2}`, `{"not":{"type":"integer"}}`, `{"not":{"maximum":0}}`, `{"type":"array","items":{"type":"integer"}}`,
		`{"type":"string","maxLength":2}`, `{"type":"string","pattern":"^.$"}`, `{"enum":["\ufffd"]}`, `{"format":"ipv4"}`,
		`{"type":"array"}`, `{"type":"object","properties":{"a":{"const":0}},"required":["a"]}`,
		`{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"i":{"type":"integer"}},"$ref":"#/definitions/i"}`,
	}
	values := []string{`0`, `1`, `-1`, `1.5`, `1e400`, `1e1000001`, `-1e1000001`, `1e-1000001`, `-1e-1000001`, `0e1000001`,
		`1.5e1000001`, `1e99999999999999999999`, `[1e1000001]`, `{"a":1e-1000001}`, `"ab"`, `"\u00e9"`, "\"\xff\"", `"\ud800"`,
		`"1.2.3.4"`, strings.Repeat("[", 10001) + strings.Repeat("]", 10001)}
	bad := 0
	for _, s := range schemas {
		c := mustCompile(t, s)
		if c.fast == nil {
			t.Fatalf("%s: no fast validator", s)
		}
		for _, v := range values {
			fast, _ := fastCheck(c.fast, []byte(v))
			full, p := fullVerdict(c, []byte(v))
			if p != nil && fast {
				t.Errorf("%s  %.40s: fast accepts; the full validator panics (%v)", s, v, p)
				bad++
			} else if p == nil && fast && !full {
				t.Errorf("%s  %.40s: fast accepts, full refuses", s, v)
				bad++
			}
		}
	}
	if bad > 0 {
		t.Logf("%d disagreements", bad)
	}
}

// The package's property test of the fast validator, with number literals
// beyond what math/big reads (an exponent past ±1,000,000).
func TestFast_AgreesWithTheFullValidatorWithNumbersMathBigCannotRead(t *testing.T) {
	old := numbers
	numbers = append(append([]string{}, old...), "1e1000001", "1e-1000001", "-1e-1000001", "2e1000001")
	defer func() { numbers = old }()
	rapid.Check(t, func(rt *rapid.T) {
		s := genSchema(rt, 3, false)
		s["$defs"] = map[string]any{"d": genSchema(rt, 1, false)}
		text, _ := json.Marshal(s)
		c, err := compile(text)
		if err != nil || c.fast == nil {
			rt.Skip()
		}
		data := genJSON(rt, 3)
		fast, _ := fastCheck(c.fast, []byte(data))
		full, p := fullVerdict(c, []byte(data))
		if p != nil && fast {
			rt.Fatalf("schema %s\ndata %s\nfast accepts; the full validator panics: %v", text, data, p)
		}
		if p == nil && fast && !full {
			rt.Fatalf("schema %s\ndata %s\nthe fast validator accepts what the full one refuses", text, data)
		}
	})
}

// An event whose data holds a number math/big cannot read is not taken for
// valid where jsonschema/v6 would not take it.
func TestValidate_ANumberMathBigCannotReadIsNotTakenForValid(t *testing.T) {
	e := newEnv(t)
	e.register("n.int", `{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}`)
	e.register("n.max", `{"type":"object","properties":{"n":{"maximum":0}},"required":["n"]}`)
	for _, ev := range []struct{ typ, data string }{{"n.int", `{"n":1e1000001}`}, {"n.max", `{"n":1e-1000001}`}} {
		c, _ := e.reg.state.Load().schemas[e.reg.state.Load().subjects[ev.typ].versions[0].ID].compiled()
		full, p := fullVerdict(c, []byte(ev.data))
		vs := violations(t, e.reg, broker.SchemaPolicyValidate, evt("1", ev.typ, ev.data))
		t.Logf("%s %s: Validate violations=%v; full validator valid=%v panic=%v", ev.typ, ev.data, vs, full, p)
		if vs == nil {
			t.Errorf("%s: event %s accepted under policy validate, but jsonschema/v6 does not accept it", ev.typ, ev.data)
		}
	}
}

// Where a keyword must compare a number math/big cannot read, the full
// validator panics; Validate refuses the event instead, with or without a
// fast path.
func TestValidate_ANumberMathBigCannotReadIsRefusedWithoutAPanic(t *testing.T) {
	e := newEnv(t)
	e.register("m", `{"type":"object","properties":{"n":{"minimum":1}}}`)                  // has a fast path that says "invalid"
	e.register("u", `{"type":"array","uniqueItems":true,"items":{"exclusiveMaximum":10}}`) // no fast path
	for _, ev := range []struct{ typ, data string }{{"m", `{"n":1e-1000001}`}, {"u", `[1e-1000001]`}} {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s: Validate(%s) panics: %v", ev.typ, ev.data, p)
				}
			}()
			vs := violations(t, e.reg, broker.SchemaPolicyValidate, evt("1", ev.typ, ev.data))
			t.Logf("%s: %v", ev.typ, vs)
		}()
	}
}

func evt(id, typ, data string, opts ...func(*event.Event)) *event.Event {
	return ev(id, typ, data, opts...)
}

// 10,001 nested arrays, which encoding/json (and so the full validator)
// refuses, are not taken for valid by the fast path.
func TestValidate_NestingTheFullValidatorRefusesIsRefused(t *testing.T) {
	e := newEnv(t)
	e.register("d", `{"type":"array"}`)
	data := strings.Repeat("[", 10001) + strings.Repeat("]", 10001)
	c := mustCompile(t, `{"type":"array"}`)
	if vs := violations(t, e.reg, broker.SchemaPolicyValidate, evt("1", "d", data)); vs == nil && !fullValid(c, []byte(data)) {
		_, err := jsonschemaUnmarshal(data)
		t.Errorf("10001 nested arrays accepted by Validate (fast path); the full validator's decoder refuses them: %v", err)
	}
}

// Usages reads one state: a subject registered and deleted meanwhile does
// not make it panic.
func TestUsages_WhileASubjectIsRegisteredAndDeleted(t *testing.T) {
	e := &env{t: t, dir: t.TempDir(), logOpts: logOptionsNoSync()}
	e.open()
	t.Cleanup(func() { e.eng.Close() })
	e.register("base", userV1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx := context.Background()
		for i := 0; i < 3000; i++ { // keep few subjects: a cheap Usages call makes the window a larger share
			if _, _, err := e.reg.Register(ctx, "x", []byte(userV1)); err != nil {
				return
			}
			e.reg.DeleteSubject(ctx, "x", false)
			e.reg.DeleteSubject(ctx, "x", true)
		}
	}()
	panics := 0
	var first any
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					panics++
					if first == nil {
						first = p
					}
				}
			}()
			_, _ = e.reg.Usages(1, false)
		}()
	}
	if panics > 0 {
		t.Errorf("Usages panicked %d times during concurrent registrations: %v", panics, first)
	}
}

func logOptionsNoSync() log.Options { return log.Options{Sync: log.SyncNone} }

func jsonschemaUnmarshal(data string) (any, error) {
	return jsonschema.UnmarshalJSON(strings.NewReader(data))
}
