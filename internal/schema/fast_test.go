package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"pgregory.net/rapid"
)

// fullValid is the full validator's verdict, the authority.
func fullValid(c *compiled, data []byte) bool {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return false
	}
	return c.full.Validate(v) == nil
}

func mustCompile(t testing.TB, text string) *compiled {
	t.Helper()
	c, err := compile([]byte(text))
	if err != nil {
		t.Fatalf("compile %s: %v", text, err)
	}
	return c
}

// TestFastValidator_AgreesWithFull checks hand-picked cases where a fast
// validator would most easily go wrong: exact numbers, integers written
// as decimals, escapes and Unicode in strings, duplicate names, $ref.
func TestFastValidator_AgreesWithFull(t *testing.T) {
	tests := []struct {
		schema string
		valid  []string
		bad    []string
	}{
		{`{"type":"integer"}`, []string{`1`, `1.0`, `1e2`, `250e-1`, `-0`, `12345678901234567890`, `1.5e1`},
			[]string{`1.5`, `25e-2`, `"1"`, `true`, `null`, `1e-400`}},
		{`{"type":"number","minimum":0.1,"exclusiveMaximum":3}`, []string{`0.1`, `0.10000000000000001`, `2.9999999999999999999`, `1e-1`},
			[]string{`0.09999999999999999`, `3`, `3.0`, `30e-1`, `-1`}},
		{`{"multipleOf":0.1}`, []string{`0.3`, `1`, `"x"`}, []string{`0.35`}},
		{`{"enum":[1,"a",null,true]}`, []string{`1.0`, `10e-1`, `"a"`, `null`, `true`}, []string{`2`, `"b"`, `false`, `{}`, `[]`}},
		{`{"const":"é"}`, []string{`"é"`, `"\u00e9"`}, []string{`"e"`}},
		{`{"type":"string","minLength":2,"maxLength":3}`, []string{`"ab"`, `"日本語"`, `"\ud83d\ude00x"`, `"a\n"`},
			[]string{`"a"`, `"日本語x"`, `"\u0041"`}},
		{`{"type":"string","pattern":"^a+$"}`, []string{`"aa"`, `"\u0061"`}, []string{`"ab"`, `""`}},
		{`{"format":"date-time"}`, []string{`"2026-01-02T03:04:05Z"`, `7`}, []string{`"yesterday"`}},
		{`{"type":"object","properties":{"a":{"type":"string"},"b":{}},"required":["a","b"],"additionalProperties":false}`,
			[]string{`{"a":"x","b":1}`}, []string{`{"a":"x"}`, `{"a":1,"b":1}`, `{"a":"x","b":1,"c":2}`}},
		{`{"properties":{"a":{}},"required":["b"],"additionalProperties":false}`, []string{`[]`}, []string{`{"b":1}`, `{}`, `{"a":1}`}},
		{`{"minProperties":2}`, []string{`{"a":1,"b":2}`}, []string{`{"a":1,"a":2}`, `{}`}},
		{`{"properties":{"a":{"type":"integer"}}}`, []string{`{"a":1,"a":2}`, `{"\u0061":3}`}, []string{`{"a":1,"a":"x"}`, `{"\u0061":"x"}`}},
		{`{"prefixItems":[{"type":"string"}],"items":false}`, []string{`[]`, `["a"]`}, []string{`["a",1]`, `[1]`}},
		{`{"$schema":"http://json-schema.org/draft-07/schema#","items":[{"type":"string"}],"additionalItems":{"type":"integer"}}`,
			[]string{`["a",1,2]`}, []string{`["a","b"]`}},
		{`{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"s":{"type":"string"}},"$ref":"#/definitions/s","type":"integer"}`,
			[]string{`"a"`}, []string{`1`}},
		{`{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"s":{"type":"string"}},"$ref":"#/definitions/s","const":"a"}`,
			[]string{`"a"`}, []string{`"b"`}},
		{`{"$defs":{"s":{"type":"string"}},"$ref":"#/$defs/s","maxLength":1}`, []string{`"a"`}, []string{`"ab"`, `1`}},
		{`{"$defs":{"node":{"type":"object","properties":{"next":{"$ref":"#/$defs/node"}},"additionalProperties":false}},"$ref":"#/$defs/node"}`,
			[]string{`{"next":{"next":{}}}`}, []string{`{"next":{"x":1}}`}},
		{`{"oneOf":[{"type":"integer"},{"minimum":2}]}`, []string{`1`, `2.5`, `"x"`}, []string{`3`}},
		{`{"anyOf":[{"type":"string"},{"type":"null"}]}`, []string{`"x"`, `null`}, []string{`1`}},
		{`{"not":{"type":"string"}}`, []string{`1`, `{}`}, []string{`"x"`}},
		{`{"if":{"properties":{"k":{"const":1}}},"then":{"required":["v"]},"else":{"required":["w"]}}`,
			[]string{`{"k":1,"v":0}`, `{"k":2,"w":0}`}, []string{`{"k":1,"w":0}`, `{"w":0,"k":1.0}`}},
		{`false`, nil, []string{`1`, `{}`}},
		{`true`, []string{`1`, ` {"a" : [1, 2, {}] } `}, []string{`{`, `[1,]`, `01`, `"\x"`, `1 2`, `nul`}},
	}
	for _, tt := range tests {
		c := mustCompile(t, tt.schema)
		if c.fast == nil {
			t.Errorf("%s: no fast validator", tt.schema)
			continue
		}
		for _, data := range tt.valid {
			if !fullValid(c, []byte(data)) {
				t.Errorf("%s: the full validator refuses %s (a wrong test case)", tt.schema, data)
			}
			if !fastValid(c.fast, []byte(data)) && !strings.Contains(data, `"a":1,"a"`) {
				t.Errorf("%s: the fast validator refuses %s", tt.schema, data)
			}
		}
		for _, data := range tt.bad {
			if fullValid(c, []byte(data)) {
				t.Errorf("%s: the full validator accepts %s (a wrong test case)", tt.schema, data)
			}
			if fastValid(c.fast, []byte(data)) {
				t.Errorf("%s: the fast validator accepts %s, which the full validator refuses", tt.schema, data)
			}
		}
	}
}

func TestFastValidator_SkipsUnsupportedKeywords(t *testing.T) {
	for _, s := range []string{`{"uniqueItems":true}`, `{"patternProperties":{"^x":{}}}`, `{"unevaluatedProperties":false}`,
		`{"enum":[{"a":1}]}`, `{"properties":{"a":{"contains":{"type":"string"}}}}`} {
		if c := mustCompile(t, s); c.fast != nil {
			t.Errorf("%s: has a fast validator, but it does not handle the keyword", s)
		}
	}
}

// TestFastValidator_NeverAcceptsWhatFullRefuses generates schemas from
// the keywords the fast validator handles and values around them, and
// holds the fast validator to the full one: it may only say "valid"
// when the full validator does, and (without duplicate member names,
// where it is stricter on purpose) must say it whenever the full one does.
func TestFastValidator_NeverAcceptsWhatFullRefuses(t *testing.T) {
	agreedValid := 0
	rapid.Check(t, func(rt *rapid.T) {
		draft7 := rapid.Bool().Draw(rt, "draft7")
		s := genSchema(rt, 3, draft7)
		if draft7 {
			s["$schema"] = "http://json-schema.org/draft-07/schema#"
		}
		s["$defs"] = map[string]any{"d": genSchema(rt, 1, draft7)}
		s["definitions"] = s["$defs"]
		text, _ := json.Marshal(s)
		c, err := compile(text)
		if err != nil {
			rt.Skip("not a schema:", err)
		}
		if c.fast == nil {
			rt.Fatalf("no fast validator for %s", text)
		}
		data := genJSON(rt, 3)
		fast, gaveUp := fastCheck(c.fast, []byte(data))
		full := fullValid(c, []byte(data))
		if fast && !full {
			rt.Fatalf("schema %s\ndata %s\nthe fast validator accepts what the full one refuses", text, data)
		}
		if full && !fast && !gaveUp && !hasDuplicateNames(data) {
			rt.Fatalf("schema %s\ndata %s\nthe fast validator refuses what the full one accepts", text, data)
		}
		if full {
			agreedValid++
		}
	})
	if agreedValid == 0 {
		t.Error("no generated value was valid: the generators test nothing")
	}
}

var (
	propNames = []string{"a", "b", "c"}
	numbers   = []string{"0", "-0", "1", "1.0", "1e0", "2", "2.5", "25e-1", "-3", "0.1", "0.30000000000000004", "1e21", "100", "7"}
	words     = []string{"", "a", "ab", "abc", "é", "日本", "2026-01-02T03:04:05Z", "x@y.z", "A1"}
)

func genSchema(t *rapid.T, depth int, draft7 bool) map[string]any {
	s := map[string]any{}
	n := rapid.IntRange(0, 3).Draw(t, "keywords")
	for i := 0; i < n; i++ {
		kw := rapid.SampledFrom(schemaKeywords(depth, draft7)).Draw(t, "keyword")
		s[kw] = genKeyword(t, kw, depth, draft7)
	}
	return s
}

func schemaKeywords(depth int, draft7 bool) []string {
	kws := []string{"type", "enum", "const", "minLength", "maxLength", "pattern", "format", "minimum", "maximum",
		"exclusiveMinimum", "exclusiveMaximum", "multipleOf", "required", "minProperties", "maxProperties",
		"minItems", "maxItems", "$ref"}
	if depth > 0 {
		kws = append(kws, "properties", "additionalProperties", "items", "allOf", "anyOf", "oneOf", "not", "if")
		if !draft7 {
			kws = append(kws, "prefixItems")
		} else {
			kws = append(kws, "additionalItems")
		}
	}
	return kws
}

func genKeyword(t *rapid.T, kw string, depth int, draft7 bool) any {
	sub := func() any {
		if rapid.IntRange(0, 5).Draw(t, "boolSchema") == 0 {
			return rapid.Bool().Draw(t, "bool")
		}
		return genSchema(t, depth-1, draft7)
	}
	subs := func() []any {
		out := []any{}
		for i := rapid.IntRange(1, 3).Draw(t, "n"); i > 0; i-- {
			out = append(out, sub())
		}
		return out
	}
	switch kw {
	case "type":
		types := []string{"null", "boolean", "number", "integer", "string", "array", "object"}
		if rapid.Bool().Draw(t, "typeList") {
			return []string{rapid.SampledFrom(types).Draw(t, "t1"), rapid.SampledFrom(types).Draw(t, "t2")}
		}
		return rapid.SampledFrom(types).Draw(t, "type")
	case "enum":
		out := []any{}
		for i := rapid.IntRange(1, 3).Draw(t, "n"); i > 0; i-- {
			out = append(out, json.RawMessage(genScalar(t)))
		}
		return out
	case "const":
		return json.RawMessage(genScalar(t))
	case "minLength", "maxLength", "minProperties", "maxProperties", "minItems", "maxItems":
		return rapid.IntRange(0, 3).Draw(t, kw)
	case "pattern":
		return rapid.SampledFrom([]string{"^a", "b", "^[a-c]*$", "\\d"}).Draw(t, kw)
	case "format":
		return rapid.SampledFrom([]string{"date-time", "email", "uuid", "ipv4"}).Draw(t, kw)
	case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
		return json.RawMessage(rapid.SampledFrom(numbers).Draw(t, kw))
	case "multipleOf":
		return json.RawMessage(rapid.SampledFrom([]string{"0.1", "0.5", "2", "3"}).Draw(t, kw))
	case "required":
		return []string{rapid.SampledFrom(propNames).Draw(t, "r1"), rapid.SampledFrom(propNames).Draw(t, "r2")}
	case "$ref":
		if draft7 {
			return "#/definitions/d"
		}
		return "#/$defs/d"
	case "properties":
		props := map[string]any{}
		for _, name := range propNames {
			if rapid.Bool().Draw(t, "has_"+name) {
				props[name] = sub()
			}
		}
		return props
	case "additionalProperties", "not", "if", "additionalItems":
		return sub()
	case "items":
		if draft7 && rapid.Bool().Draw(t, "tuple") {
			return subs()
		}
		return sub()
	case "prefixItems", "allOf", "anyOf", "oneOf":
		return subs()
	}
	panic(kw)
}

func genScalar(t *rapid.T) string {
	switch rapid.IntRange(0, 3).Draw(t, "scalar") {
	case 0:
		return rapid.SampledFrom(numbers).Draw(t, "number")
	case 1:
		b, _ := json.Marshal(rapid.SampledFrom(words).Draw(t, "word"))
		return string(b)
	case 2:
		return rapid.SampledFrom([]string{"true", "false"}).Draw(t, "bool")
	}
	return "null"
}

// genJSON writes a JSON text with the odd spellings JSON allows:
// escapes, whitespace, numbers written several ways, repeated names.
func genJSON(t *rapid.T, depth int) string {
	kind := rapid.IntRange(0, 5).Draw(t, "kind")
	if depth == 0 && kind >= 4 {
		kind = 0
	}
	switch kind {
	case 0:
		return genScalar(t)
	case 1:
		w := rapid.SampledFrom(words).Draw(t, "word")
		if rapid.Bool().Draw(t, "escape") && w != "" {
			return fmt.Sprintf(`"\u%04x%s"`, []rune(w)[0], string([]rune(w)[1:]))
		}
		b, _ := json.Marshal(w)
		return string(b)
	case 2, 3:
		return rapid.SampledFrom(numbers).Draw(t, "number")
	case 4:
		var parts []string
		for i := rapid.IntRange(0, 3).Draw(t, "n"); i > 0; i-- {
			parts = append(parts, genJSON(t, depth-1))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	var parts []string
	for i := rapid.IntRange(0, 3).Draw(t, "n"); i > 0; i-- {
		parts = append(parts, fmt.Sprintf(`%q : %s`, rapid.SampledFrom(propNames).Draw(t, "name"), genJSON(t, depth-1)))
	}
	return " {" + strings.Join(parts, ",") + "} "
}

// hasDuplicateNames reports whether an object in the text repeats a name.
func hasDuplicateNames(text string) bool {
	dec := json.NewDecoder(strings.NewReader(text))
	var stack []map[string]bool
	expectName := []bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, map[string]bool{})
				expectName = append(expectName, true)
				continue
			case '[':
				stack = append(stack, nil)
				expectName = append(expectName, false)
				continue
			default:
				stack, expectName = stack[:len(stack)-1], expectName[:len(expectName)-1]
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1] != nil && expectName[n-1] {
				if stack[n-1][v] {
					return true
				}
				stack[n-1][v] = true
				expectName[n-1] = false
				continue
			}
		}
		if n := len(stack); n > 0 && stack[n-1] != nil {
			expectName[n-1] = true
		}
	}
}

// FuzzFastValidator feeds arbitrary bytes, as a publisher may send, to
// the fast validator of a schema that uses every keyword it handles: it
// must never panic, and never accept what the full validator refuses.
func FuzzFastValidator(f *testing.F) {
	order, err := os.ReadFile("testdata/order.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{string(order), `{}`, `[]`, `{"orderId":"ord-00000000"}`, `{"a":1,"a":2}`, `"\ud800"`, `1e999`, `-0.0e-0`,
		`{"items":[{"sku":"SKU-1","quantity":1.0,"unitPrice":1e-9}]}`, "\"\xff\"", `{"notes":null,"giftWrap":true}`} {
		f.Add([]byte(seed))
	}
	schemas := []*compiled{}
	for _, path := range []string{"testdata/order.schema.json", "testdata/keywords.schema.json"} {
		text, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		c := mustCompile(f, string(text))
		if c.fast == nil {
			f.Fatalf("%s has no fast validator", path)
		}
		schemas = append(schemas, c)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range schemas {
			if fastValid(c.fast, data) && !fullValid(c, data) {
				t.Fatalf("the fast validator accepts %q, which the full one refuses", data)
			}
		}
	})
}
