package compat

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"regexp"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// sampler makes instances aimed at a schema: mostly valid ones, some near
// misses. Tests keep those the real validator accepts under the writer.
type sampler struct {
	rnd   *rand.Rand
	root  any
	names []string // property names seen in either schema of a pair
	strs  []string // string literals seen in either schema
}

func newSampler(seed int64, schemas ...any) *sampler {
	s := &sampler{rnd: rand.New(rand.NewSource(seed))}
	seenN, seenS := map[string]bool{}, map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if k == "properties" || k == "patternProperties" || k == "dependentRequired" || k == "dependentSchemas" {
					if m, ok := e.(map[string]any); ok {
						for name := range m {
							if !seenN[name] {
								seenN[name] = true
								s.names = append(s.names, name)
							}
						}
					}
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case string:
			if !seenS[x] {
				seenS[x] = true
				s.strs = append(s.strs, x)
			}
		}
	}
	for _, sch := range schemas {
		walk(sch)
	}
	s.names = append(s.names, "zz")
	return s
}

func (s *sampler) chance(n int) bool { return s.rnd.Intn(n) == 0 }

func (s *sampler) pick(vs []string) string { return vs[s.rnd.Intn(len(vs))] }

// instance generates one instance for sch, whose document root is s.root.
func (s *sampler) instance(sch any, depth int) any {
	m, ok := sch.(map[string]any)
	if !ok || depth > 6 || s.chance(15) {
		return s.random(depth)
	}
	if ref, ok := m["$ref"].(string); ok && strings.HasPrefix(ref, "#") && !s.chance(6) {
		if t, ok := pointerGet(s.root, ref[1:]); ok {
			return s.instance(t, depth+1)
		}
	}
	if c, ok := m["const"]; ok && !s.chance(5) {
		return copyValue(c)
	}
	if e, ok := m["enum"].([]any); ok && len(e) > 0 && !s.chance(5) {
		return copyValue(e[s.rnd.Intn(len(e))])
	}
	for _, kw := range []string{"anyOf", "oneOf", "allOf"} {
		if arr, ok := m[kw].([]any); ok && len(arr) > 0 && !s.chance(4) {
			v := s.instance(arr[s.rnd.Intn(len(arr))], depth+1)
			if o, isObj := v.(map[string]any); isObj && m["properties"] != nil {
				for k, e := range s.object(m, depth).(map[string]any) {
					o[k] = e
				}
			}
			return v
		}
	}
	switch s.pickType(m) {
	case "null":
		return nil
	case "boolean":
		return s.chance(2)
	case "object":
		return s.object(m, depth)
	case "array":
		return s.array(m, depth)
	case "string":
		return s.str(m)
	case "integer":
		return s.number(m, true)
	case "number":
		return s.number(m, s.chance(2))
	}
	return s.random(depth)
}

func (s *sampler) pickType(m map[string]any) string {
	switch t := m["type"].(type) {
	case string:
		return t
	case []any:
		if len(t) > 0 {
			if str, ok := t[s.rnd.Intn(len(t))].(string); ok {
				return str
			}
		}
	}
	switch {
	case m["properties"] != nil || m["required"] != nil || m["additionalProperties"] != nil:
		return "object"
	case m["items"] != nil || m["prefixItems"] != nil:
		return "array"
	case m["minLength"] != nil || m["maxLength"] != nil || m["pattern"] != nil || m["format"] != nil:
		return "string"
	case m["minimum"] != nil || m["maximum"] != nil || m["multipleOf"] != nil:
		return "number"
	}
	return s.pick([]string{"null", "boolean", "object", "array", "string", "integer", "number"})
}

func (s *sampler) object(m map[string]any, depth int) any {
	o := map[string]any{}
	req := map[string]bool{}
	if r, ok := m["required"].([]any); ok {
		for _, e := range r {
			if name, ok := e.(string); ok {
				req[name] = true
			}
		}
	}
	props, _ := m["properties"].(map[string]any)
	for name, ps := range props {
		if req[name] || !s.chance(4) {
			o[name] = s.instance(ps, depth+1)
		}
	}
	for name := range req {
		if _, ok := o[name]; !ok {
			o[name] = s.random(depth + 1)
		}
	}
	pats, _ := m["patternProperties"].(map[string]any)
	for p, ps := range pats {
		key := strings.Trim(p, "^$") + "k"
		if re, err := regexp.Compile(p); err == nil && re.MatchString(key) && !s.chance(3) {
			o[key] = s.instance(ps, depth+1)
		}
	}
	for i := s.rnd.Intn(3); i > 0; i-- {
		name := s.pick(s.names)
		if _, ok := o[name]; ok {
			continue
		}
		if ap, ok := m["additionalProperties"]; ok && !s.chance(3) {
			o[name] = s.instance(ap, depth+1)
		} else {
			o[name] = s.random(depth + 1)
		}
	}
	return o
}

func (s *sampler) array(m map[string]any, depth int) any {
	var prefix []any
	rest := m["items"]
	if arr, ok := m["items"].([]any); ok {
		prefix, rest = arr, m["additionalItems"]
	} else if arr, ok := m["prefixItems"].([]any); ok {
		prefix = arr
	}
	n := s.rnd.Intn(len(prefix) + 3)
	if v, ok := toCount(m["minItems"]); ok && n < int(v) && v < 10 {
		n = int(v)
	}
	out := []any{}
	for i := 0; i < n; i++ {
		if i < len(prefix) {
			out = append(out, s.instance(prefix[i], depth+1))
		} else {
			out = append(out, s.instance(rest, depth+1))
		}
	}
	return out
}

var formatSamples = map[string][]string{
	"email":     {"a@example.com", "not-an-email"},
	"date":      {"2024-02-03", "2024-02-03T04:05:06Z"},
	"date-time": {"2024-02-03T04:05:06Z", "2024-02-03"},
	"uuid":      {"123e4567-e89b-12d3-a456-426614174000"},
}

func (s *sampler) str(m map[string]any) any {
	if f, ok := m["format"].(string); ok && formatSamples[f] != nil && !s.chance(4) {
		return s.pick(formatSamples[f])
	}
	if len(s.strs) > 0 && s.chance(3) {
		return s.pick(s.strs)
	}
	lo, hi := int64(0), int64(10)
	if v, ok := toCount(m["minLength"]); ok && v < 40 {
		lo = v
	}
	if v, ok := toCount(m["maxLength"]); ok && v < 40 {
		hi = v
	}
	if hi < lo {
		hi = lo
	}
	n := lo + s.rnd.Int63n(hi-lo+2) // sometimes one past the limit
	var b strings.Builder
	for i := int64(0); i < n; i++ {
		b.WriteByte("abcXYZ_-0"[s.rnd.Intn(9)])
	}
	return b.String()
}

func (s *sampler) number(m map[string]any, integer bool) any {
	var cands []string
	for _, kw := range []string{"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"} {
		if v, ok := m[kw]; ok {
			cands = append(cands, fmt.Sprint(v))
		}
	}
	cands = append(cands, "0", "1", "-1", "2", "3", "10", "11", "20", "100", "1.5", "0.05", "0.1", "99.5", "2.0")
	c := s.pick(cands)
	if s.chance(3) {
		if r, ok := toRat(json.Number(c)); ok {
			f, _ := r.Float64()
			c = fmt.Sprint(f + float64(s.rnd.Intn(3)-1))
		}
	}
	if integer {
		if r, ok := toRat(json.Number(c)); ok && !r.IsInt() {
			c = "4"
		}
	}
	return json.Number(c)
}

func (s *sampler) random(depth int) any {
	switch s.rnd.Intn(8) {
	case 0:
		return nil
	case 1:
		return s.chance(2)
	case 2:
		return json.Number(s.pick([]string{"0", "1", "-3", "2.5", "100"}))
	case 3:
		if len(s.strs) > 0 && s.chance(2) {
			return s.pick(s.strs)
		}
		return s.pick([]string{"", "a", "hello", "2024-01-01"})
	case 4:
		if depth < 4 {
			return []any{s.random(depth + 1)}
		}
		return []any{}
	case 5:
		if depth < 4 {
			return map[string]any{s.pick(s.names): s.random(depth + 1)}
		}
		return map[string]any{}
	}
	return json.Number("7")
}

func pointerGet(root any, ptr string) (any, bool) {
	if ptr == "" {
		return root, true
	}
	v := root
	for _, t := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[unescapeToken(t)]; !ok {
			return nil, false
		}
	}
	return v, true
}

// remoteStub resolves every remote reference to one fixed schema, the same
// for reader and writer, as the semantic test assumes of a remote $ref.
type remoteStub struct{}

func (remoteStub) Load(string) (any, error) { return map[string]any{"type": "number"}, nil }

// validator compiles a schema for the semantic tests.
func validator(raw string) (*jsonschema.Schema, any, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(raw))
	if err != nil {
		return nil, nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat() // as Herald's validator does
	c.UseLoader(remoteStub{})
	if err := c.AddResource("https://herald.invalid/test.json", doc); err != nil {
		return nil, nil, err
	}
	sch, err := c.Compile("https://herald.invalid/test.json")
	return sch, doc, err
}

func mustJSON(raw string) any {
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(raw))
	if err != nil {
		panic(err)
	}
	return v
}

// copyValue deep-copies a JSON value, so that instances never share (and
// never mutate) the values of the schema they came from.
func copyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = copyValue(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = copyValue(e)
		}
		return a
	}
	return v
}
