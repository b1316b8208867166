package schema

import (
	"encoding/json"
	"unicode/utf8"
)

// fastValid reports whether data (one JSON value, with whitespace around
// it allowed) is valid against n. False means "not known to be valid":
// invalid, not JSON, or beyond what the fast validator handles.
func fastValid(n *fastNode, data []byte) bool {
	ok, _ := fastCheck(n, data)
	return ok
}

// fastCheck is fastValid that also reports whether the check gave up
// (nesting, or a schema that refers to itself, deeper than maxDepth).
func fastCheck(n *fastNode, data []byte) (valid, gaveUp bool) {
	c := checker{b: data}
	c.path = c.buf[:0]
	end, ok := c.value(n, skipSpace(data, 0), 0)
	return ok && !c.gaveUp && end >= 0 && skipSpace(data, end) == len(data), c.gaveUp
}

// maxDepth bounds nesting of values and of schemas checked against one
// value (a schema that refers to itself without consuming input).
const maxDepth = 10000

// checker walks one JSON text. Its methods take the index of a value's
// first byte and return the index after it with the verdict; an end of
// -1 means the text is not JSON (or too deep), which no schema makes
// valid. After a false verdict the end is not meaningful: the caller
// that needs it (an applicator trying another branch) skips the value
// itself.
type checker struct {
	b      []byte
	gaveUp bool    // too deep, or a schema cycle
	path   []visit // the schemas descended into, outermost first
	buf    [16]visit
}

// visit is a schema being checked against the value at pos.
type visit struct {
	n   *fastNode
	pos int
}

func (c *checker) value(n *fastNode, i, depth int) (int, bool) {
	if depth >= maxDepth { // encoding/json refuses 10,000 levels and more
		c.gaveUp = true
		return -1, false
	}
	if i >= len(c.b) {
		return -1, false
	}
	if n == nil || n.anything {
		end := c.skip(i, depth)
		return end, end >= 0
	}
	if n.never {
		return 0, false
	}
	if n.refOnly {
		return c.descend(n.ref, i, depth)
	}
	end, ok := c.typed(n, i, depth)
	if !ok || end < 0 {
		return end, false
	}
	if !c.applicators(n, i, depth) {
		return 0, false
	}
	return end, true
}

// typed checks the keywords of n that depend on the value's type.
func (c *checker) typed(n *fastNode, i, depth int) (int, bool) {
	switch ch := c.b[i]; {
	case ch == '{':
		if !n.allows(tObject) {
			return 0, false
		}
		return c.object(n, i, depth)
	case ch == '[':
		if !n.allows(tArray) {
			return 0, false
		}
		return c.array(n, i, depth)
	case ch == '"':
		return c.str(n, i)
	case ch == '-' || (ch >= '0' && ch <= '9'):
		return c.number(n, i)
	case ch == 't':
		return c.literal(i, "true"), n.allows(tBoolean) && (n.enum == nil || n.enum.true) && (n.consts == nil || n.consts.true)
	case ch == 'f':
		return c.literal(i, "false"), n.allows(tBoolean) && (n.enum == nil || n.enum.false_) && (n.consts == nil || n.consts.false_)
	case ch == 'n':
		return c.literal(i, "null"), n.allows(tNull) && (n.enum == nil || n.enum.null) && (n.consts == nil || n.consts.null)
	}
	return -1, false
}

func (n *fastNode) allows(t typeMask) bool { return n.types == 0 || n.types&t != 0 }

// applicators checks $ref (2019+), allOf, anyOf, oneOf, not and
// if/then/else against the value at i.
func (c *checker) applicators(n *fastNode, i, depth int) bool {
	if n.ref != nil && !c.valid(n.ref, i, depth) {
		return false
	}
	for _, s := range n.allOf {
		if !c.valid(s, i, depth) {
			return false
		}
	}
	if len(n.anyOf) > 0 && !c.anyValid(n.anyOf, i, depth) {
		return false
	}
	if len(n.oneOf) > 0 {
		count := 0
		for _, s := range n.oneOf {
			if c.valid(s, i, depth) {
				count++
			}
		}
		if count != 1 {
			return false
		}
	}
	if n.not != nil && c.valid(n.not, i, depth) {
		return false
	}
	if n.ifNode != nil {
		next := n.els
		if c.valid(n.ifNode, i, depth) {
			next = n.then
		}
		if next != nil && !c.valid(next, i, depth) {
			return false
		}
	}
	return true
}

func (c *checker) anyValid(ns []*fastNode, i, depth int) bool {
	for _, s := range ns {
		if c.valid(s, i, depth) {
			return true
		}
	}
	return false
}

// valid checks the value at i against n; the text there is known to be
// JSON (the caller checks it).
func (c *checker) valid(n *fastNode, i, depth int) bool {
	end, ok := c.descend(n, i, depth)
	return ok && end >= 0
}

// descend checks the value at i against n, a schema the value's schema
// applies to the same value ($ref, allOf, …). A schema met again at the
// same position (a cycle of $refs that consumes no input) would never
// end: it is left to the full validator. Descents at one position are
// together at the end of the path.
func (c *checker) descend(n *fastNode, i, depth int) (int, bool) {
	for k := len(c.path) - 1; k >= 0 && c.path[k].pos == i; k-- {
		if c.path[k].n == n {
			c.gaveUp = true
			return -1, false
		}
	}
	c.path = append(c.path, visit{n, i})
	end, ok := c.value(n, i, depth+1)
	c.path = c.path[:len(c.path)-1]
	return end, ok
}

func (c *checker) object(n *fastNode, i, depth int) (int, bool) {
	i = skipSpace(c.b, i+1)
	var seen uint64
	var buf [16]span
	plainNames := buf[:0]     // the names so far, to find one given twice: where they are in the text,
	var decodedNames [][]byte // or decoded when they had escapes
	if i < len(c.b) && c.b[i] == '}' {
		i++
	} else {
		for {
			if i >= len(c.b) || c.b[i] != '"' {
				return -1, false
			}
			nameEnd, plain := c.stringEnd(i)
			if nameEnd < 0 {
				return -1, false
			}
			name := c.b[i+1 : nameEnd-1]
			if !plain {
				s, ok := decodeString(c.b[i:nameEnd])
				if !ok {
					return -1, false
				}
				name = []byte(s)
			}
			if repeated(c.b, plainNames, decodedNames, name) {
				// The full validator sees the last value of a name given
				// twice (as encoding/json decodes it); leave it to it.
				c.gaveUp = true
				return -1, false
			}
			if plain {
				plainNames = append(plainNames, span{int32(i + 1), int32(nameEnd - 1)})
			} else {
				decodedNames = append(decodedNames, name)
			}
			i = skipSpace(c.b, nameEnd)
			if i >= len(c.b) || c.b[i] != ':' {
				return -1, false
			}
			i = skipSpace(c.b, i+1)
			end, ok := c.member(n, name, i, depth, &seen)
			if !ok || end < 0 {
				return end, false
			}
			i = skipSpace(c.b, end)
			if i < len(c.b) && c.b[i] == ',' {
				i = skipSpace(c.b, i+1)
				continue
			}
			if i < len(c.b) && c.b[i] == '}' {
				i++
				break
			}
			return -1, false
		}
	}
	count := len(plainNames) + len(decodedNames)
	ok := seen == n.required && (n.minProps < 0 || count >= n.minProps) && (n.maxProps < 0 || count <= n.maxProps) &&
		(n.enum == nil && n.consts == nil)
	return i, ok
}

// span is where a string's bytes are in the text.
type span struct{ start, end int32 }

// repeated reports whether name is one of the names seen.
func repeated(b []byte, plain []span, decoded [][]byte, name []byte) bool {
	for _, s := range plain {
		if int(s.end-s.start) == len(name) && string(b[s.start:s.end]) == string(name) {
			return true
		}
	}
	for _, d := range decoded {
		if string(d) == string(name) {
			return true
		}
	}
	return false
}

// member checks one member's value by the schema its name selects.
func (c *checker) member(n *fastNode, name []byte, i, depth int, seen *uint64) (int, bool) {
	if p := n.prop(name); p != nil {
		*seen |= p.bit
		if p.declared {
			return c.value(p.node, i, depth+1)
		}
	}
	switch {
	case n.noAdditional:
		return 0, false
	case n.additional != nil:
		return c.value(n.additional, i, depth+1)
	}
	return c.value(nil, i, depth+1)
}

func (c *checker) array(n *fastNode, i, depth int) (int, bool) {
	i = skipSpace(c.b, i+1)
	count := 0
	if i < len(c.b) && c.b[i] == ']' {
		i++
	} else {
		for {
			var item *fastNode
			switch {
			case count < len(n.prefix):
				item = n.prefix[count]
			case n.noMoreItems:
				return 0, false
			default:
				item = n.items
			}
			end, ok := c.value(item, i, depth+1)
			if !ok || end < 0 {
				return end, false
			}
			count++
			i = skipSpace(c.b, end)
			if i < len(c.b) && c.b[i] == ',' {
				i = skipSpace(c.b, i+1)
				continue
			}
			if i < len(c.b) && c.b[i] == ']' {
				i++
				break
			}
			return -1, false
		}
	}
	ok := (n.minItems < 0 || count >= n.minItems) && (n.maxItems < 0 || count <= n.maxItems) && n.enum == nil && n.consts == nil
	return i, ok
}

func (c *checker) str(n *fastNode, i int) (int, bool) {
	end, kind := c.scanString(i)
	if end < 0 {
		return -1, false
	}
	if !n.allows(tString) {
		return end, false
	}
	if n.enum == nil && n.consts == nil && n.minLen < 0 && n.maxLen < 0 && n.pattern == nil && n.format == nil {
		return end, true
	}
	raw := c.b[i+1 : end-1]
	if kind == escaped {
		s, ok := decodeString(c.b[i:end])
		if !ok {
			return -1, false
		}
		raw = []byte(s)
	}
	return end, n.stringOK(raw, kind == plainASCII)
}

// stringOK checks a string's value by the string keywords.
func (n *fastNode) stringOK(s []byte, ascii bool) bool {
	switch {
	case n.enum != nil && !n.enum.strings[string(s)]:
		return false
	case n.consts != nil && !n.consts.strings[string(s)]:
		return false
	case (n.minLen >= 0 || n.maxLen >= 0) && !lengthOK(n, runeCount(s, ascii)):
		return false
	case n.pattern != nil && !n.pattern.Match(s):
		return false
	case n.format != nil && n.format(string(s)) != nil:
		return false
	}
	return true
}

func runeCount(s []byte, ascii bool) int {
	if ascii {
		return len(s)
	}
	return utf8.RuneCount(s)
}

func lengthOK(n *fastNode, runes int) bool {
	return (n.minLen < 0 || runes >= n.minLen) && (n.maxLen < 0 || runes <= n.maxLen)
}

func (c *checker) number(n *fastNode, i int) (int, bool) {
	end := numberEnd(c.b, i)
	if end < 0 {
		return -1, false
	}
	lit := c.b[i:end]
	if hugeExponent(lit) {
		c.gaveUp = true // math/big cannot read it: the full validator decides
		return end, false
	}
	switch {
	case n.types == 0 || n.types&tNumber != 0:
	case n.types&tInteger != 0:
		if !isIntegral(lit) {
			return end, false
		}
	default:
		return end, false
	}
	if n.enum == nil && n.minimum == nil && n.maximum == nil && n.exMinimum == nil && n.exMaximum == nil && n.multipleOf == nil {
		return end, true
	}
	x := number{lit: lit}
	x.f, x.exact = parseFloat(lit)
	ok := (n.enum == nil || n.enum.hasNumber(x)) && (n.consts == nil || n.consts.hasNumber(x)) &&
		(n.minimum == nil || n.minimum.cmp(x) >= 0) && (n.maximum == nil || n.maximum.cmp(x) <= 0) &&
		(n.exMinimum == nil || n.exMinimum.cmp(x) > 0) && (n.exMaximum == nil || n.exMaximum.cmp(x) < 0) &&
		(n.multipleOf == nil || isMultiple(lit, n))
	return end, ok
}

// decodeString decodes a JSON string literal (quotes included) as
// encoding/json does, invalid UTF-8 becoming U+FFFD.
func decodeString(lit []byte) (string, bool) {
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return "", false
	}
	return s, true
}
