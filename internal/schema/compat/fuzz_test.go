package compat

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"testing"
)

// FuzzDifferences feeds arbitrary bytes as reader and writer: Differences
// must never panic (bad input is an error), and Check(FULL) must agree with
// Check(BACKWARD) and Check(FORWARD) together.
func FuzzDifferences(f *testing.F) {
	for _, p := range pairs {
		f.Add([]byte(p.new), []byte(p.old))
	}
	f.Add([]byte(`{"type":`), []byte(`{}`))
	f.Add([]byte(`{"$ref":"#"}`), []byte(`{"$ref":"#/$defs/a","$defs":{"a":{"$ref":"#"}}}`))
	f.Fuzz(func(t *testing.T, reader, writer []byte) {
		if _, err := Differences(reader, writer); err != nil {
			return
		}
		fullAgrees(t, reader, writer)
		selfCompatible(t, writer)
	})
}

// selfCompatible: a schema can always read its own data, unless Herald
// says it cannot analyse the schema at all.
func selfCompatible(t *testing.T, schema []byte) {
	changes, err := Differences(schema, schema)
	if err != nil {
		t.Fatalf("Differences(s, s) failed: %v", err)
	}
	for _, c := range changes {
		if c.Rule != RuleRecursionNotAnalysable && c.Rule != RuleAnalysisLimitExceeded {
			t.Fatalf("a schema is incompatible with itself: %s\n%s", c, schema)
		}
	}
}

// fullAgrees checks FULL == BACKWARD && FORWARD for candidate reader after writer.
func fullAgrees(t *testing.T, candidate, previous []byte) {
	prev := [][]byte{previous}
	full, err1 := Check(Full, candidate, prev)
	back, err2 := Check(Backward, candidate, prev)
	fwd, err3 := Check(Forward, candidate, prev)
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatalf("Check failed after Differences succeeded: %v %v %v", err1, err2, err3)
	}
	if full.Compatible != (back.Compatible && fwd.Compatible) {
		t.Fatalf("FULL compatible=%v but BACKWARD=%v FORWARD=%v\ncandidate %s\nprevious %s",
			full.Compatible, back.Compatible, fwd.Compatible, candidate, previous)
	}
	if len(full.Changes) != len(back.Changes)+len(fwd.Changes) {
		t.Fatalf("FULL has %d changes, BACKWARD %d + FORWARD %d", len(full.Changes), len(back.Changes), len(fwd.Changes))
	}
}

// FuzzGeneratedSchemas builds a writer schema from the fuzzer's bytes and a
// reader by mutating it, so that many pairs are compatible. It checks that
// Differences is sound against the real validator on sampled instances,
// and that FULL agrees with BACKWARD and FORWARD.
func FuzzGeneratedSchemas(f *testing.F) {
	for _, seed := range []string{"", "\x00", "\x01\x02\x03\x04", "object-closed\x05\x06", "\xff\xfe\xfd\x10\x20\x30\x40",
		"anyOf\x07\x07\x07\x07", "\x03\x03\x03\x09\x09\x01\x00\x05", "refs\x0b\x0b\x0b\x0b\x02"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &gen{data: data}
		writer := g.root()
		reader := g.mutate(deepCopy(writer), 0)
		wb, _ := json.Marshal(writer)
		rb, _ := json.Marshal(reader)
		changes, err := Differences(rb, wb)
		if err != nil {
			return // a generated schema can be invalid (e.g. a bad pattern): that is an error, not a panic
		}
		res, err := checkSound(string(rb), string(wb), changes, nil, 60, int64(len(data)))
		if err != nil {
			t.Fatalf("validator refused a schema Differences accepted: %v\n%s\n%s", err, rb, wb)
		}
		if len(res.unsound) > 0 {
			t.Fatalf("unsound: no change reported, but the reader rejects writer-valid %s\nreader %s\nwriter %s",
				res.unsound[0], rb, wb)
		}
		fullAgrees(t, rb, wb)
		selfCompatible(t, wb)
	})
}

// gen turns fuzzer bytes into schema-building choices.
type gen struct {
	data []byte
	i    int
}

func (g *gen) next(n int) int {
	if n <= 1 {
		return 0
	}
	if g.i >= len(g.data) {
		g.i++
		return g.i % n
	}
	b := g.data[g.i]
	g.i++
	return int(b) % n
}

var (
	genNames    = []string{"a", "b", "c", "x_1"}
	genTypes    = []string{"null", "boolean", "object", "array", "string", "integer", "number"}
	genNumbers  = []json.Number{"0", "1", "2", "5", "10", "-1", "0.5", "2.5"}
	genPatterns = []string{"^a", "^[a-z]+$", "x", "^x_"}
	genFormats  = []string{"email", "date", "uuid"}
	genValues   = []any{nil, true, "a", "b", json.Number("1"), json.Number("2.5"), map[string]any{"a": "a"}, []any{json.Number("1")}}
)

func (g *gen) root() any {
	s := g.schema(0)
	if m, ok := s.(map[string]any); ok {
		m["$defs"] = map[string]any{"d": g.schema(2)}
	}
	return s
}

func (g *gen) schema(depth int) any {
	switch g.next(16) {
	case 0:
		return true
	case 1:
		if depth > 0 {
			return false
		}
	}
	m := map[string]any{}
	for k := g.next(4) + 1; k > 0; k-- {
		g.keyword(m, depth)
	}
	return m
}

func (g *gen) keyword(m map[string]any, depth int) {
	sub := func() any {
		if depth >= 3 {
			return map[string]any{"type": genTypes[g.next(len(genTypes))]}
		}
		return g.schema(depth + 1)
	}
	switch g.next(22) {
	case 0, 1:
		if g.next(3) == 0 {
			m["type"] = []any{genTypes[g.next(7)], genTypes[g.next(7)]}
		} else {
			m["type"] = genTypes[g.next(7)]
		}
	case 2:
		m["enum"] = []any{genValues[g.next(len(genValues))], genValues[g.next(len(genValues))]}
	case 3:
		m["const"] = genValues[g.next(len(genValues))]
	case 4, 5:
		props := map[string]any{}
		for k := g.next(3) + 1; k > 0; k-- {
			props[genNames[g.next(len(genNames))]] = sub()
		}
		m["properties"] = props
		m["type"] = "object"
	case 6:
		m["additionalProperties"] = []any{false, true, map[string]any{"type": "string"}}[g.next(3)]
	case 7:
		m["required"] = []any{genNames[g.next(len(genNames))]}
	case 8:
		m["patternProperties"] = map[string]any{genPatterns[g.next(len(genPatterns))]: sub()}
	case 9:
		m["items"] = sub()
	case 10:
		m["prefixItems"] = []any{sub(), sub()}
	case 11:
		m[[]string{"minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"}[g.next(6)]] = json.Number(fmt.Sprint(g.next(4)))
	case 12:
		m[[]string{"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}[g.next(4)]] = genNumbers[g.next(len(genNumbers))]
	case 13:
		m["multipleOf"] = []json.Number{"1", "2", "0.5"}[g.next(3)]
	case 14:
		m["pattern"] = genPatterns[g.next(len(genPatterns))]
	case 15:
		m["format"] = genFormats[g.next(len(genFormats))]
	case 16, 17:
		m[[]string{"anyOf", "oneOf"}[g.next(2)]] = []any{sub(), sub()}
	case 18:
		m["allOf"] = []any{sub()}
	case 19:
		m["$ref"] = "#/$defs/d"
	case 20:
		m["uniqueItems"] = true
	case 21:
		m[[]string{"not", "unevaluatedProperties", "propertyNames"}[g.next(3)]] = sub()
	}
}

// mutate changes a few things in a schema, the way a new version would.
func (g *gen) mutate(s any, depth int) any {
	m, ok := s.(map[string]any)
	if !ok {
		if g.next(4) == 0 {
			return g.schema(depth)
		}
		return s
	}
	for _, k := range sortedKeys(m) {
		switch g.next(10) {
		case 0:
			if k != "$defs" {
				delete(m, k)
			}
		case 1:
			g.keyword(m, depth)
		case 2, 3:
			m[k] = g.mutateValue(k, m[k], depth)
		}
	}
	return m
}

func (g *gen) mutateValue(k string, v any, depth int) any {
	switch k {
	case "properties", "patternProperties", "$defs":
		pm, _ := v.(map[string]any)
		for _, name := range sortedKeys(pm) {
			pm[name] = g.mutate(pm[name], depth+1)
		}
		if g.next(3) == 0 {
			pm[genNames[g.next(len(genNames))]] = g.schema(depth + 1)
		}
		return pm
	case "anyOf", "oneOf", "allOf", "prefixItems":
		arr, _ := v.([]any)
		for i := range arr {
			arr[i] = g.mutate(arr[i], depth+1)
		}
		if g.next(3) == 0 {
			arr = append(arr, g.schema(depth+1))
		}
		return arr
	case "items", "additionalProperties", "not", "propertyNames", "unevaluatedProperties":
		return g.mutate(v, depth+1)
	case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
		return genNumbers[g.next(len(genNumbers))]
	case "required":
		return append(v.([]any), genNames[g.next(len(genNames))])
	case "enum":
		return append(v.([]any), genValues[g.next(len(genValues))])
	case "type":
		return genTypes[g.next(7)]
	}
	return v
}

func deepCopy(v any) any {
	b, _ := json.Marshal(v)
	return mustJSON(string(b))
}

// TestGeneratedPairs_Sound runs the generator of FuzzGeneratedSchemas on a
// fixed batch of random inputs, so that every test run, not only fuzzing,
// checks soundness, self-compatibility and FULL = BACKWARD + FORWARD.
func TestGeneratedPairs_Sound(t *testing.T) {
	rnd := rand.New(rand.NewSource(20240601))
	n := 400
	if testing.Short() {
		n = 100
	}
	compatible := 0
	for i := 0; i < n; i++ {
		data := make([]byte, 30+rnd.Intn(70))
		rnd.Read(data)
		g := &gen{data: data}
		writer := g.root()
		reader := g.mutate(deepCopy(writer), 0)
		wb, _ := json.Marshal(writer)
		rb, _ := json.Marshal(reader)
		changes, err := Differences(rb, wb)
		if err != nil {
			continue
		}
		res, err := checkSound(string(rb), string(wb), changes, nil, 40, int64(i))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.unsound) > 0 {
			t.Fatalf("unsound: no change reported, but the reader rejects writer-valid %s\nreader %s\nwriter %s", res.unsound[0], rb, wb)
		}
		if len(changes) == 0 && string(rb) != string(wb) && res.tried > 0 {
			compatible++
		}
		fullAgrees(t, rb, wb)
		selfCompatible(t, wb)
	}
	t.Logf("%d pairs, %d of them different, compatible and tested with writer-valid instances", n, compatible)
}
