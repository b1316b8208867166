package compat

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
)

// node is one subschema of a document, or a synthetic schema the checker
// made up (a type split, or the "true" that stands for an evaluated
// property under unevaluatedProperties).
type node struct {
	doc  *document
	ptr  string   // JSON pointer of the subschema from the document root
	base *url.URL // the resource it lives in, for resolving $ref
	v    any      // bool or map[string]any (other JSON only inside non-schema values)
}

func rootNode(d *document) node {
	b, _ := url.Parse(d.url)
	n := node{doc: d, v: d.root}
	n.base = b
	if m, ok := d.root.(map[string]any); ok {
		n.base = rebaseURL(m, b)
	}
	return n
}

func synthetic(v any) node { return node{v: v} }

var trueNode = synthetic(true)

func (n node) isSynthetic() bool { return n.doc == nil }

// key identifies the node for cycle detection and deduplication.
func (n node) key() string {
	if n.isSynthetic() {
		b, _ := json.Marshal(n.v)
		return "~" + string(b)
	}
	if n.doc.role == roleReader {
		return "r" + n.ptr
	}
	return "w" + n.ptr
}

func (n node) obj() map[string]any {
	m, _ := n.v.(map[string]any)
	return m
}

// isFalse reports whether the node is the schema false.
func (n node) isFalse() bool { b, ok := n.v.(bool); return ok && !b }

func (n node) dialect() dialect {
	if n.isSynthetic() {
		return draft2020
	}
	return n.doc.dialect
}

// draft-07 keywords that assert or apply subschemas; any other keyword in a
// draft-07 document is an annotation or unknown and has no effect.
var draft7Keywords = setOf("$ref", "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum",
	"minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "format", "items", "additionalItems",
	"maxItems", "minItems", "uniqueItems", "contains", "maxProperties", "minProperties", "required",
	"properties", "patternProperties", "additionalProperties", "dependencies", "propertyNames",
	"if", "then", "else", "allOf", "anyOf", "oneOf", "not")

var draft2020Keywords = setOf("$ref", "$dynamicRef", "type", "enum", "const", "multipleOf", "maximum",
	"exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "format",
	"prefixItems", "items", "maxItems", "minItems", "uniqueItems", "contains", "minContains", "maxContains",
	"unevaluatedItems", "maxProperties", "minProperties", "required", "dependentRequired", "properties",
	"patternProperties", "additionalProperties", "unevaluatedProperties", "dependentSchemas",
	"dependencies", "propertyNames", "if", "then", "else", "allOf", "anyOf", "oneOf", "not")

func setOf(s ...string) map[string]bool {
	m := make(map[string]bool, len(s))
	for _, k := range s {
		m[k] = true
	}
	return m
}

// kw returns the value of an effective keyword: one its draft knows, and in
// draft-07 nothing but $ref when $ref is present (siblings of $ref are
// ignored there).
func (n node) kw(name string) (any, bool) {
	m := n.obj()
	if m == nil {
		return nil, false
	}
	if n.dialect() == draft7 {
		if !draft7Keywords[name] {
			return nil, false
		}
		if _, hasRef := m["$ref"]; hasRef && name != "$ref" {
			return nil, false
		}
	} else if !draft2020Keywords[name] {
		return nil, false
	}
	v, ok := m[name]
	return v, ok
}

func (n node) has(name string) bool { _, ok := n.kw(name); return ok }

// trivial reports whether the node has no effective keyword at all (true or {}).
func (n node) trivial() bool {
	if b, ok := n.v.(bool); ok {
		return b
	}
	for k := range n.obj() {
		if n.has(k) {
			return false
		}
	}
	return true
}

// child returns the value at the pointer suffix tokens below n as a node.
func (n node) child(tokens ...string) (node, bool) {
	c := n
	for _, t := range tokens {
		switch v := c.v.(type) {
		case map[string]any:
			e, ok := v[t]
			if !ok {
				return node{}, false
			}
			c.v = e
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(v) {
				return node{}, false
			}
			c.v = v[i]
		default:
			return node{}, false
		}
		if !c.isSynthetic() {
			c.ptr += "/" + escapeToken(t)
		}
		if m, ok := c.v.(map[string]any); ok && c.base != nil {
			c.base = rebaseURL(m, c.base)
		}
	}
	return c, true
}

func rebaseURL(m map[string]any, base *url.URL) *url.URL {
	id, ok := m["$id"].(string)
	if !ok || id == "" || strings.HasPrefix(id, "#") {
		return base
	}
	u, err := url.Parse(id)
	if err != nil {
		return base
	}
	return base.ResolveReference(u)
}

// children returns the schemas of an array keyword (allOf, prefixItems, …).
func (n node) children(kw string) []node {
	v, ok := n.kw(kw)
	if !ok {
		return nil
	}
	arr, _ := v.([]any)
	out := make([]node, 0, len(arr))
	for i := range arr {
		if c, ok := n.child(kw, strconv.Itoa(i)); ok {
			out = append(out, c)
		}
	}
	return out
}

// sub returns the schema of a single-schema keyword (not, items, …).
func (n node) sub(kw string) (node, bool) {
	if !n.has(kw) {
		return node{}, false
	}
	return n.child(kw)
}

// resolve follows a reference string to a node of the same document.
// ok is false for a remote reference or one that does not resolve.
func (n node) resolve(ref string) (node, bool) {
	if n.isSynthetic() || n.base == nil {
		return node{}, false
	}
	u, err := url.Parse(ref)
	if err != nil {
		return node{}, false
	}
	abs := n.base.ResolveReference(u)
	resPtr, ok := n.doc.resources[stripFragment(abs)]
	if !ok {
		return node{}, false
	}
	frag := abs.Fragment
	if frag != "" && !strings.HasPrefix(frag, "/") {
		p, ok := n.doc.anchors[stripFragment(abs)+"#"+frag]
		if !ok {
			return node{}, false
		}
		return n.doc.at(p)
	}
	return n.doc.at(resPtr + frag)
}

// at returns the node at an absolute JSON pointer of the document.
func (d *document) at(ptr string) (node, bool) {
	n := rootNode(d)
	if ptr == "" {
		return n, true
	}
	if !strings.HasPrefix(ptr, "/") {
		return node{}, false
	}
	toks := strings.Split(ptr[1:], "/")
	for i, t := range toks {
		toks[i] = unescapeToken(t)
	}
	return n.child(toks...)
}

// localRef returns the target of the node's $ref when it is in the same document.
func (n node) localRef() (node, bool) {
	v, ok := n.kw("$ref")
	if !ok {
		return node{}, false
	}
	s, ok := v.(string)
	if !ok {
		return node{}, false
	}
	return n.resolve(s)
}
