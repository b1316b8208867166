package schema

import (
	"math/big"
	"regexp"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The fast validator answers one question, "is this JSON text valid
// against the schema?", in one pass over the bytes, without building
// the decoded value the full validator needs (decoding alone costs more
// than the whole fast check). It covers the keywords event schemas use;
// a schema with any other keyword has no fast validator and every event
// goes to the full one.
//
// The full validator stays the authority: the fast one is only trusted
// to say "valid". When it says "invalid" (or meets anything it does not
// handle, such as broken JSON) the full validator decides, and explains.
// Its keywords follow the full validator's semantics exactly, numbers
// included (compared as exact decimals, not as float64); a property test
// holds the two to the same verdicts on random schemas and values.

// fastNode is one compiled (sub)schema.
type fastNode struct {
	never    bool     // the false schema
	anything bool     // no keyword: any value
	types    typeMask // allowed types; 0: any

	enum   *fastEnum // enum or const (const is a one-value enum)
	consts *fastEnum // const, when the schema has both
	format func(any) error

	// strings
	minLen, maxLen int // -1: none
	pattern        *regexp.Regexp

	// numbers
	minimum, maximum, exMinimum, exMaximum *bound
	multipleOf                             *big.Rat

	// objects
	props              map[string]*fastProp
	propList           []*fastProp // the same, for a linear search when there are few
	required           uint64      // the bits of the required properties
	additional         *fastNode
	noAdditional       bool // additionalProperties: false
	minProps, maxProps int

	// arrays
	prefix             []*fastNode
	items              *fastNode // items after the prefix; nil: any
	noMoreItems        bool      // no items after the prefix
	minItems, maxItems int

	// applicators, checked against the same value
	ref                 *fastNode
	refOnly             bool // draft-07: $ref ignores its siblings
	allOf, anyOf, oneOf []*fastNode
	not                 *fastNode
	ifNode, then, els   *fastNode
}

// fastProp is a property an object schema names (in properties or in
// required).
type fastProp struct {
	name     string
	node     *fastNode // nil: any value
	declared bool      // in properties (else only required)
	bit      uint64    // its required bit, or 0
}

// typeMask is a set of JSON types.
type typeMask uint8

const (
	tNull typeMask = 1 << iota
	tBoolean
	tNumber
	tInteger
	tString
	tArray
	tObject
)

var typeNames = map[string]typeMask{"null": tNull, "boolean": tBoolean, "number": tNumber, "integer": tInteger,
	"string": tString, "array": tArray, "object": tObject}

// compileFast returns the fast validator of a compiled schema, or nil when
// the schema uses a keyword it does not handle.
func compileFast(s *jsonschema.Schema) *fastNode {
	c := fastCompiler{done: map[*jsonschema.Schema]*fastNode{}}
	n := c.node(s)
	if c.unsupported {
		return nil
	}
	return n
}

type fastCompiler struct {
	done        map[*jsonschema.Schema]*fastNode // compiled or being compiled ($ref cycles)
	unsupported bool
}

func (c *fastCompiler) node(s *jsonschema.Schema) *fastNode {
	if s == nil {
		return nil
	}
	if n, ok := c.done[s]; ok {
		return n
	}
	n := &fastNode{minLen: -1, maxLen: -1, minProps: -1, maxProps: -1, minItems: -1, maxItems: -1}
	c.done[s] = n
	if s.Bool != nil {
		n.never = !*s.Bool
		return n
	}
	if s.Ref != nil && s.DraftVersion < 2019 {
		// Before 2019-09 $ref overrides its siblings; the full validator
		// still checks one of them, const, first.
		n.ref = c.node(s.Ref)
		if s.Const != nil {
			if n.enum = newFastEnum([]any{*s.Const}); n.enum == nil {
				c.unsupported = true
			}
		}
		n.refOnly = n.enum == nil
		return n
	}
	if !supported(s) {
		c.unsupported = true
		return n
	}
	if s.Ref != nil {
		n.ref = c.node(s.Ref)
	}
	c.general(n, s)
	c.strings(n, s)
	c.numbers(n, s)
	c.objects(n, s)
	c.arrays(n, s)
	c.applicators(n, s)
	n.refOnly = n.ref != nil && n.onlyRef()
	n.anything = n.ref == nil && n.onlyRef()
	return n
}

// onlyRef reports whether the node has no keyword but $ref, so checking
// the node is checking its target (or, without $ref, accepting anything).
func (n *fastNode) onlyRef() bool {
	m := *n
	m.ref = nil
	return !m.never && m.types == 0 && m.enum == nil && m.consts == nil && m.format == nil && m.minLen < 0 && m.maxLen < 0 &&
		m.pattern == nil && m.minimum == nil && m.maximum == nil && m.exMinimum == nil && m.exMaximum == nil &&
		m.multipleOf == nil && m.props == nil && !m.noAdditional && m.additional == nil && m.minProps < 0 &&
		m.maxProps < 0 && m.prefix == nil && m.items == nil && !m.noMoreItems && m.minItems < 0 && m.maxItems < 0 &&
		m.allOf == nil && m.anyOf == nil && m.oneOf == nil && m.not == nil && m.ifNode == nil
}

// supported reports whether the fast validator handles every keyword of
// s (its subschemas are checked as they are compiled).
func supported(s *jsonschema.Schema) bool {
	switch {
	case s.RecursiveRef != nil, s.DynamicRef != nil, s.PropertyNames != nil, len(s.PatternProperties) > 0,
		len(s.Dependencies) > 0, len(s.DependentRequired) > 0, len(s.DependentSchemas) > 0,
		s.UnevaluatedProperties != nil, s.UnevaluatedItems != nil, s.UniqueItems, s.Contains != nil,
		s.ContentEncoding != nil, s.ContentMediaType != nil, s.ContentSchema != nil, len(s.Extensions) > 0,
		len(s.Required) > 64:
		return false
	}
	return true
}

func (c *fastCompiler) general(n *fastNode, s *jsonschema.Schema) {
	if s.Types != nil {
		for _, t := range s.Types.ToStrings() {
			n.types |= typeNames[t]
		}
	}
	if s.Enum != nil {
		if n.enum = newFastEnum(s.Enum.Values); n.enum == nil {
			c.unsupported = true
		}
	}
	if s.Const != nil {
		e := newFastEnum([]any{*s.Const})
		if e == nil {
			c.unsupported = true
		}
		if n.enum == nil {
			n.enum = e
		} else {
			n.consts = e
		}
	}
	if s.Format != nil {
		n.format = s.Format.Validate
	}
}

func (c *fastCompiler) strings(n *fastNode, s *jsonschema.Schema) {
	if s.MinLength != nil {
		n.minLen = *s.MinLength
	}
	if s.MaxLength != nil {
		n.maxLen = *s.MaxLength
	}
	if s.Pattern != nil {
		re, ok := s.Pattern.(*regexp.Regexp) // the compiler's default engine
		if !ok {
			c.unsupported = true
		}
		n.pattern = re
	}
}

func (c *fastCompiler) numbers(n *fastNode, s *jsonschema.Schema) {
	n.minimum, n.maximum = newBound(s.Minimum), newBound(s.Maximum)
	n.exMinimum, n.exMaximum = newBound(s.ExclusiveMinimum), newBound(s.ExclusiveMaximum)
	n.multipleOf = s.MultipleOf
}

func (c *fastCompiler) objects(n *fastNode, s *jsonschema.Schema) {
	if s.MinProperties != nil {
		n.minProps = *s.MinProperties
	}
	if s.MaxProperties != nil {
		n.maxProps = *s.MaxProperties
	}
	if len(s.Properties) > 0 || len(s.Required) > 0 {
		n.props = map[string]*fastProp{}
	}
	for name, ps := range s.Properties {
		n.props[name] = &fastProp{node: c.node(ps), declared: true}
	}
	for i, name := range s.Required {
		p, ok := n.props[name]
		if !ok {
			p = &fastProp{}
			n.props[name] = p
		}
		if p.bit == 0 { // a name listed twice needs one bit
			p.bit = 1 << i
			n.required |= p.bit
		}
	}
	for name, p := range n.props {
		p.name = name
		n.propList = append(n.propList, p)
	}
	switch a := s.AdditionalProperties.(type) {
	case bool:
		n.noAdditional = !a
	case *jsonschema.Schema:
		n.additional = c.node(a)
	}
}

func (c *fastCompiler) arrays(n *fastNode, s *jsonschema.Schema) {
	if s.MinItems != nil {
		n.minItems = *s.MinItems
	}
	if s.MaxItems != nil {
		n.maxItems = *s.MaxItems
	}
	if s.DraftVersion >= 2020 {
		for _, p := range s.PrefixItems {
			n.prefix = append(n.prefix, c.node(p))
		}
		n.items = c.node(s.Items2020)
		return
	}
	switch items := s.Items.(type) {
	case *jsonschema.Schema:
		n.items = c.node(items)
	case []*jsonschema.Schema:
		for _, p := range items {
			n.prefix = append(n.prefix, c.node(p))
		}
		switch a := s.AdditionalItems.(type) {
		case bool:
			n.noMoreItems = !a
		case *jsonschema.Schema:
			n.items = c.node(a)
		}
	}
}

func (c *fastCompiler) applicators(n *fastNode, s *jsonschema.Schema) {
	for _, sub := range s.AllOf {
		n.allOf = append(n.allOf, c.node(sub))
	}
	for _, sub := range s.AnyOf {
		n.anyOf = append(n.anyOf, c.node(sub))
	}
	for _, sub := range s.OneOf {
		n.oneOf = append(n.oneOf, c.node(sub))
	}
	n.not = c.node(s.Not)
	if s.If != nil {
		n.ifNode, n.then, n.els = c.node(s.If), c.node(s.Then), c.node(s.Else)
	}
}

// maxLinearProps is the most properties looked up by a linear search: a
// few length and byte comparisons cost less than hashing the name.
const maxLinearProps = 12

// prop returns the property a member name selects, or nil.
func (n *fastNode) prop(name []byte) *fastProp {
	if len(n.propList) > maxLinearProps {
		return n.props[string(name)]
	}
	for _, p := range n.propList {
		if len(p.name) == len(name) && p.name == string(name) {
			return p
		}
	}
	return nil
}
