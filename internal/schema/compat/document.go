package compat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// dialect is the JSON Schema draft a document is written in.
type dialect int

const (
	draft7    dialect = 7
	draft2020 dialect = 2020
)

// Role says which side of a comparison a document is on. It decides how a
// remote $ref is stubbed when the document is compiled for value checks: a
// reader's unknown remote schema rejects everything and a writer's accepts
// everything, so a value check can only err on the side of "incompatible".
type role int

const (
	roleReader role = iota
	roleWriter
)

// document is one parsed, validated JSON Schema.
type document struct {
	name      string // "reader" or "writer", for error messages
	role      role
	root      any
	dialect   dialect
	url       string            // the URL the document was compiled under
	resources map[string]string // absolute resource URL ($id) -> JSON pointer
	anchors   map[string]string // absolute URL with anchor fragment -> JSON pointer
	compiler  *jsonschema.Compiler
	compiled  map[string]*jsonschema.Schema // by JSON pointer; nil entry = could not compile
}

var dialects = map[string]dialect{
	"http://json-schema.org/draft-07/schema":       draft7,
	"https://json-schema.org/draft-07/schema":      draft7,
	"http://json-schema.org/draft/2020-12/schema":  draft2020,
	"https://json-schema.org/draft/2020-12/schema": draft2020,
}

// ErrInvalidSchema matches (with errors.Is) every error about a schema the
// caller gave: not JSON, not a schema, a draft Herald does not check, or
// not valid against its draft's metaschema. Other errors are Herald's own.
var ErrInvalidSchema = errors.New("invalid schema")

// schemaError is an ErrInvalidSchema with a message for the developer.
type schemaError struct {
	msg   string
	cause error
}

func (e *schemaError) Error() string        { return e.msg }
func (e *schemaError) Unwrap() error        { return e.cause }
func (e *schemaError) Is(target error) bool { return target == ErrInvalidSchema }

// invalid builds a schemaError, removing the internal URL Herald compiles
// the document under from the validator's text.
func (d *document) invalid(format string, err error) error {
	msg := strings.ReplaceAll(err.Error(), d.url, "")
	return &schemaError{msg: fmt.Sprintf(format, d.name, msg), cause: err}
}

// parseDocument decodes and compiles raw as a JSON Schema. name is used in
// error messages ("reader", "writer", "candidate", "version 2").
func parseDocument(name string, r role, raw []byte) (*document, error) {
	root, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, &schemaError{msg: fmt.Sprintf("%s schema is not valid JSON: %v", name, err), cause: err}
	}
	switch root.(type) {
	case bool, map[string]any:
	default:
		return nil, &schemaError{msg: fmt.Sprintf("%s schema must be a JSON object or a boolean, not %s", name, describeValue(root))}
	}
	d := &document{
		name:      name,
		role:      r,
		root:      root,
		url:       "https://herald.invalid/schema/" + strings.ReplaceAll(name, " ", "-") + ".json",
		resources: map[string]string{},
		anchors:   map[string]string{},
		compiled:  map[string]*jsonschema.Schema{},
	}
	d.dialect, err = dialectOf(root)
	if err != nil {
		return nil, d.invalid("%s schema: %s", err)
	}
	if err := d.scan(); err != nil {
		return nil, d.invalid("%s schema: %s", err)
	}
	if err := CheckNumbers(root); err != nil { // before the validator's compiler, which panics on some
		return nil, d.invalid("%s schema: %s", err)
	}
	d.compiler = jsonschema.NewCompiler()
	d.compiler.DefaultDraft(jsonschema.Draft2020)
	d.compiler.AssertFormat() // as Herald's validator does
	d.compiler.UseLoader(stubLoader{accept: r == roleWriter})
	if err := d.compiler.AddResource(d.url, root); err != nil {
		return nil, d.invalid("%s schema is invalid: %s", err)
	}
	sch, err := d.compiler.Compile(d.url)
	var pe *jsonschema.JSONPointerNotFoundError
	if errors.As(err, &pe) && !strings.HasPrefix(pe.URL, d.url) {
		return nil, d.invalid("%s schema has a $ref into a remote document: %s; Herald does not load remote "+
			"schemas, so a remote $ref may name a whole document but not a location inside one", err)
	}
	if err != nil {
		return nil, d.invalid("%s schema is invalid: %s", err)
	}
	if err := checkCounts(root, ""); err != nil {
		return nil, d.invalid("%s schema: %s", err)
	}
	d.compiled[""] = sch
	return d, nil
}

// countKeywords take a non-negative integer. The validator holds them in
// an int and wraps a larger value around, so Herald refuses one it could
// not hold rather than compare a limit the validator does not apply.
var countKeywords = []string{"minLength", "maxLength", "minItems", "maxItems",
	"minProperties", "maxProperties", "minContains", "maxContains"}

// checkCounts refuses a count keyword, anywhere in the schema, that is not
// an integer from 0 to math.MaxInt.
func checkCounts(v any, ptr string) error {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	for _, kw := range countKeywords {
		c, ok := m[kw]
		if !ok {
			continue
		}
		if r, ok := toRat(c); !ok || !r.IsInt() || r.Sign() < 0 || !r.Num().IsInt64() || r.Num().Int64() > math.MaxInt {
			return fmt.Errorf("%s at %s is %s; Herald takes a count from 0 to %d", kw, pathOf(ptr), describeValue(c), math.MaxInt)
		}
	}
	for _, ref := range subschemaRefs(m) {
		if err := checkCounts(ref.v, ptr+ref.ptr); err != nil {
			return err
		}
	}
	return nil
}

// CheckNumbers refuses a number, anywhere in a decoded schema (numbers as
// json.Number), that math/big cannot read: one whose power of ten, its
// exponent less the digits after its point, is beyond ±1,000,000. The
// validator reads a schema's numbers with math/big: it would take such a
// limit as none, and its compiler panics on such a multipleOf.
func CheckNumbers(schema any) error { return checkNumbers(schema, "") }

func checkNumbers(v any, ptr string) error {
	switch v := v.(type) {
	case json.Number:
		if !readableNumber(string(v)) {
			return fmt.Errorf("the number %s at %s has an exponent beyond ±1,000,000, which Herald cannot compare; "+
				"write it with a smaller exponent", v, pathOf(ptr))
		}
	case map[string]any:
		for k, x := range v {
			if err := checkNumbers(x, ptr+"/"+pointerEscaper.Replace(k)); err != nil {
				return err
			}
		}
	case []any:
		for i, x := range v {
			if err := checkNumbers(x, ptr+"/"+strconv.Itoa(i)); err != nil {
				return err
			}
		}
	}
	return nil
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// readableNumber reports whether math/big reads a JSON number literal:
// whether its power of ten is within ±1,000,000.
func readableNumber(lit string) bool {
	exp, ok := PowerOfTen(lit)
	return ok && exp >= -1e6 && exp <= 1e6
}

// PowerOfTen returns the power of ten of a JSON number literal: its
// exponent less the digits after its point (1.5e3 is 15e2: 2). Reading the
// number exactly, as math/big does, takes time that grows with it. ok is
// false for an exponent that is not an int64.
func PowerOfTen(lit string) (exp int64, ok bool) {
	mant := lit
	if i := strings.IndexAny(lit, "eE"); i >= 0 {
		e, err := strconv.ParseInt(strings.TrimPrefix(lit[i+1:], "+"), 10, 64)
		if err != nil {
			return 0, false
		}
		mant, exp = lit[:i], e
	}
	if _, frac, ok := strings.Cut(mant, "."); ok {
		exp -= int64(len(frac))
	}
	return exp, true
}

func dialectOf(root any) (dialect, error) {
	m, ok := root.(map[string]any)
	if !ok {
		return draft2020, nil
	}
	v, ok := m["$schema"]
	if !ok {
		return draft2020, nil
	}
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("$schema must be a string, not %s", describeValue(v))
	}
	if d, ok := dialects[strings.TrimSuffix(s, "#")]; ok {
		return d, nil
	}
	return 0, fmt.Errorf("unsupported $schema %q: Herald checks JSON Schema draft 2020-12 and draft-07; "+
		"use \"https://json-schema.org/draft/2020-12/schema\" or \"http://json-schema.org/draft-07/schema#\", "+
		"or leave $schema out for 2020-12", s)
}

// stubLoader stands in for every remote document a schema refers to. Herald
// compares remote references by name only (see unsupported.go); for value
// checks a reader's unknown schema rejects everything and a writer's accepts
// everything.
type stubLoader struct{ accept bool }

func (l stubLoader) Load(string) (any, error) { return l.accept, nil }

// scan records every schema resource ($id) and anchor of the document so
// that references to them resolve locally, and refuses embedded resources
// written in another draft.
func (d *document) scan() error {
	base, _ := url.Parse(d.url)
	return d.scanNode(d.root, "", base)
}

func (d *document) scanNode(v any, ptr string, base *url.URL) error {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	if s, ok := m["$schema"].(string); ok && ptr != "" {
		if dl, ok := dialects[strings.TrimSuffix(s, "#")]; !ok || dl != d.dialect {
			return fmt.Errorf("the embedded schema at %s uses $schema %q; Herald needs one draft per document", pathOf(ptr), s)
		}
	}
	base = d.rebase(m, ptr, base)
	if a, ok := m["$anchor"].(string); ok && d.dialect == draft2020 {
		d.anchors[withFragment(base, a)] = ptr
	}
	if a, ok := m["$dynamicAnchor"].(string); ok && d.dialect == draft2020 {
		d.anchors[withFragment(base, a)] = ptr
	}
	for _, ref := range subschemaRefs(m) {
		if err := d.scanNode(ref.v, ptr+ref.ptr, base); err != nil {
			return err
		}
	}
	return nil
}

// rebase applies the node's $id (if any) to base and records the resource.
func (d *document) rebase(m map[string]any, ptr string, base *url.URL) *url.URL {
	id, ok := m["$id"].(string)
	if !ok || id == "" {
		if ptr == "" {
			d.resources[stripFragment(base)] = ""
		}
		return base
	}
	if strings.HasPrefix(id, "#") { // a draft-07 anchor
		if d.dialect == draft7 && len(id) > 1 {
			d.anchors[withFragment(base, id[1:])] = ptr
		}
		if ptr == "" {
			d.resources[stripFragment(base)] = ""
		}
		return base
	}
	u, err := url.Parse(id)
	if err != nil {
		return base
	}
	nb := base.ResolveReference(u)
	d.resources[stripFragment(nb)] = ptr
	if ptr == "" {
		d.resources[stripFragment(base)] = ""
	}
	return nb
}

func stripFragment(u *url.URL) string {
	c := *u
	c.Fragment, c.RawFragment = "", ""
	return c.String()
}

func withFragment(u *url.URL, frag string) string { return stripFragment(u) + "#" + frag }

// subRef is one subschema position inside a schema object.
type subRef struct {
	ptr string // JSON pointer suffix from the parent, e.g. "/properties/a"
	v   any
}

var (
	singleSchemaKws = []string{"additionalProperties", "unevaluatedProperties", "additionalItems",
		"unevaluatedItems", "contains", "propertyNames", "not", "if", "then", "else", "contentSchema"}
	arraySchemaKws = []string{"allOf", "anyOf", "oneOf", "prefixItems"}
	mapSchemaKws   = []string{"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)

// subschemaRefs lists the subschemas of a schema object, in a stable order.
func subschemaRefs(m map[string]any) []subRef {
	var out []subRef
	for _, kw := range singleSchemaKws {
		if v, ok := m[kw]; ok {
			out = append(out, subRef{"/" + kw, v})
		}
	}
	if v, ok := m["items"]; ok {
		if arr, ok := v.([]any); ok {
			for i, e := range arr {
				out = append(out, subRef{"/items/" + strconv.Itoa(i), e})
			}
		} else {
			out = append(out, subRef{"/items", v})
		}
	}
	for _, kw := range arraySchemaKws {
		arr, _ := m[kw].([]any)
		for i, e := range arr {
			out = append(out, subRef{"/" + kw + "/" + strconv.Itoa(i), e})
		}
	}
	for _, kw := range append(mapSchemaKws, "dependencies") {
		mm, _ := m[kw].(map[string]any)
		for _, k := range sortedKeys(mm) {
			if _, isArr := mm[k].([]any); isArr {
				continue
			}
			out = append(out, subRef{"/" + kw + "/" + escapeToken(k), mm[k]})
		}
	}
	return out
}

// validate reports whether v is valid under the subschema at ptr. A
// subschema that cannot be compiled on its own counts as "not valid" for a
// reader and "valid" for a writer, the cautious answer for each side.
func (d *document) validate(ptr string, v any) bool {
	sch, ok := d.compiled[ptr]
	if !ok {
		u := url.URL{Fragment: ptr}
		s, err := d.compiler.Compile(d.url + u.String())
		if err != nil {
			s = nil
		}
		d.compiled[ptr] = s
		sch = s
	}
	if sch == nil {
		return d.role == roleWriter
	}
	return sch.Validate(v) == nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// escapeToken escapes one JSON-pointer reference token (RFC 6901).
func escapeToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func unescapeToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
}

// pathOf renders a JSON pointer as the "#/..." form used in Change.Path.
func pathOf(ptr string) string { return "#" + ptr }
