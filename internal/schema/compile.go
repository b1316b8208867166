package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/heraldevents/herald/internal/schema/compat"
)

// MaxSchemaBytes bounds the text of one schema.
const MaxSchemaBytes = 1 << 20

// schemaURL is the location a schema is compiled at. A schema's own $id
// overrides it as the base of its references.
const schemaURL = "mem://herald/schema.json"

// compiled is a schema ready to validate: the full validator of
// santhosh-tekuri/jsonschema (the authority, and the one that explains a
// refusal) and, when every keyword the schema uses has one, the fast
// validator that checks raw JSON bytes without decoding them.
type compiled struct {
	full *jsonschema.Schema
	fast *fastNode // nil: the schema uses a keyword the fast validator does not have
}

// compile parses and compiles a schema. Its error says what is wrong
// with the schema, for the person who wrote it.
func compile(text []byte) (*compiled, error) {
	if len(text) > MaxSchemaBytes {
		return nil, fmt.Errorf("the schema is %d bytes, the limit is %d", len(text), MaxSchemaBytes)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("the schema is not JSON: %w", err)
	}
	switch doc.(type) {
	case map[string]any, bool:
	default:
		return nil, errors.New("a JSON Schema is an object or a boolean")
	}
	if err := compat.CheckNumbers(doc); err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	full, err := c.Compile(schemaURL)
	if err != nil {
		return nil, compileError(err, doc)
	}
	if full.DraftVersion != 7 && full.DraftVersion != 2020 {
		return nil, fmt.Errorf("the schema is JSON Schema draft %s; Herald takes draft 2020-12 (the default when $schema is absent) or draft-07",
			draftName(full.DraftVersion))
	}
	if loc, ok := refCycle(full); ok {
		return nil, fmt.Errorf("%s refers back to itself through $ref, allOf, anyOf, oneOf, not or if/then/else "+
			"without descending into a property or item, so a validator cannot finish it; "+
			"recurse through properties or items only", strings.Replace(loc, schemaURL, "", 1))
	}
	return &compiled{full: full, fast: compileFast(full)}, nil
}

// refCycle returns the location of a schema that applies itself to the
// value it checks, through subschemas applied to that same value: a
// validator meets it again without end (santhosh-tekuri/jsonschema
// refuses every such value with "reference cycle"). $dynamicRef is not
// followed: where it leads depends on the value's path.
func refCycle(root *jsonschema.Schema) (string, bool) {
	var reachable []*jsonschema.Schema
	seen := map[*jsonschema.Schema]bool{}
	var reach func(s *jsonschema.Schema)
	reach = func(s *jsonschema.Schema) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		reachable = append(reachable, s)
		for _, sub := range sameValue(s) {
			reach(sub)
		}
		for _, sub := range deeper(s) {
			reach(sub)
		}
		if s.DynamicRef != nil {
			reach(s.DynamicRef.Ref)
		}
	}
	reach(root)
	const onPath, done = 1, 2
	state := map[*jsonschema.Schema]int{}
	var visit func(s *jsonschema.Schema) (string, bool)
	visit = func(s *jsonschema.Schema) (string, bool) {
		switch {
		case s == nil || state[s] == done:
			return "", false
		case state[s] == onPath:
			return s.Location, true
		}
		state[s] = onPath
		for _, sub := range sameValue(s) {
			if loc, ok := visit(sub); ok {
				return loc, true
			}
		}
		state[s] = done
		return "", false
	}
	for _, s := range reachable {
		if loc, ok := visit(s); ok {
			return loc, true
		}
	}
	return "", false
}

// sameValue lists the subschemas s applies to the value it checks.
func sameValue(s *jsonschema.Schema) []*jsonschema.Schema {
	out := []*jsonschema.Schema{s.Ref, s.Not, s.If, s.Then, s.Else}
	out = append(out, s.AllOf...)
	out = append(out, s.AnyOf...)
	out = append(out, s.OneOf...)
	for _, d := range s.DependentSchemas {
		out = append(out, d)
	}
	for _, d := range s.Dependencies {
		if d, ok := d.(*jsonschema.Schema); ok {
			out = append(out, d)
		}
	}
	return out
}

// deeper lists the subschemas s applies to the members, items or
// property names of the value it checks.
func deeper(s *jsonschema.Schema) []*jsonschema.Schema {
	out := []*jsonschema.Schema{s.PropertyNames, s.UnevaluatedProperties, s.Contains, s.Items2020, s.UnevaluatedItems, s.ContentSchema}
	for _, p := range s.Properties {
		out = append(out, p)
	}
	for _, p := range s.PatternProperties {
		out = append(out, p)
	}
	for _, a := range []any{s.AdditionalProperties, s.AdditionalItems, s.Items} {
		switch a := a.(type) {
		case *jsonschema.Schema:
			out = append(out, a)
		case []*jsonschema.Schema:
			out = append(out, a...)
		}
	}
	out = append(out, s.PrefixItems...)
	return out
}

func draftName(v int) string {
	if v < 2019 {
		return fmt.Sprintf("%02d", v)
	}
	return fmt.Sprintf("%d", v)
}

// compileError shortens the compiler's messages: they name the internal
// location the schema was compiled at. doc is the schema compiled.
func compileError(err error, doc any) error {
	var lerr *jsonschema.LoadURLError
	if errors.As(err, &lerr) {
		if meta, ok := metaSchema(doc); ok && strings.SplitN(meta, "#", 2)[0] == lerr.URL { // an unknown meta-schema, loaded as any URL
			return fmt.Errorf("$schema %q is not a draft Herald takes: use %q (the default when $schema is absent) or %q",
				meta, "https://json-schema.org/draft/2020-12/schema", "http://json-schema.org/draft-07/schema#")
		}
		return fmt.Errorf("$ref %q points outside the schema; Herald resolves references within the schema only (use \"#/$defs/…\")", lerr.URL)
	}
	var serr *jsonschema.SchemaValidationError
	var verr *jsonschema.ValidationError
	if errors.As(err, &serr) && errors.As(serr.Err, &verr) {
		var parts []string
		leaves(verr, func(l *jsonschema.ValidationError) {
			at := pointer(l.InstanceLocation)
			if at == "" {
				at = "the top level"
			}
			parts = append(parts, "at "+at+": "+describe(l))
		})
		return fmt.Errorf("not a valid JSON Schema: %s", strings.Join(parts, "; "))
	}
	return errors.New(strings.ReplaceAll(err.Error(), schemaURL, "the schema"))
}

// metaSchema returns the $schema of a schema document.
func metaSchema(doc any) (string, bool) {
	m, ok := doc.(map[string]any)
	if !ok {
		return "", false
	}
	meta, ok := m["$schema"].(string)
	return meta, ok
}

// noLoader refuses every URL: a schema may only refer within itself (the
// meta-schemas are built in), so registering a schema never makes the
// server read a file or the network.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("%s: references outside the schema are not loaded", url)
}

// Canonical returns the canonical form of a JSON text: no insignificant
// whitespace, object members sorted by name, numbers as written. Two
// schemas with the same canonical form are the same schema.
func Canonical(text []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(text))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF { // More misses a stray ']' or '}'
		return nil, errors.New("more than one JSON value")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
