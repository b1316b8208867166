package schema

import (
	"encoding/binary"
	"math/big"
	"unicode/utf8"
)

// The JSON grammar, as encoding/json accepts it, for the fast validator.

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// skip returns the index after the JSON value at i, or -1 if there is
// none.
func (c *checker) skip(i, depth int) int {
	if depth >= maxDepth || i >= len(c.b) {
		return -1
	}
	switch ch := c.b[i]; {
	case ch == '{':
		return c.skipObject(i, depth)
	case ch == '[':
		return c.skipArray(i, depth)
	case ch == '"':
		end, _ := c.stringEnd(i)
		return end
	case ch == '-' || (ch >= '0' && ch <= '9'):
		return numberEnd(c.b, i)
	case ch == 't':
		return c.literal(i, "true")
	case ch == 'f':
		return c.literal(i, "false")
	case ch == 'n':
		return c.literal(i, "null")
	}
	return -1
}

func (c *checker) skipObject(i, depth int) int {
	i = skipSpace(c.b, i+1)
	if i < len(c.b) && c.b[i] == '}' {
		return i + 1
	}
	for {
		if i >= len(c.b) || c.b[i] != '"' {
			return -1
		}
		end, _ := c.stringEnd(i)
		if end < 0 {
			return -1
		}
		i = skipSpace(c.b, end)
		if i >= len(c.b) || c.b[i] != ':' {
			return -1
		}
		if i = c.skip(skipSpace(c.b, i+1), depth+1); i < 0 {
			return -1
		}
		i = skipSpace(c.b, i)
		switch {
		case i < len(c.b) && c.b[i] == ',':
			i = skipSpace(c.b, i+1)
		case i < len(c.b) && c.b[i] == '}':
			return i + 1
		default:
			return -1
		}
	}
}

func (c *checker) skipArray(i, depth int) int {
	i = skipSpace(c.b, i+1)
	if i < len(c.b) && c.b[i] == ']' {
		return i + 1
	}
	for {
		if i = c.skip(i, depth+1); i < 0 {
			return -1
		}
		i = skipSpace(c.b, i)
		switch {
		case i < len(c.b) && c.b[i] == ',':
			i = skipSpace(c.b, i+1)
		case i < len(c.b) && c.b[i] == ']':
			return i + 1
		default:
			return -1
		}
	}
}

func (c *checker) literal(i int, word string) int {
	if len(c.b)-i < len(word) || string(c.b[i:i+len(word)]) != word {
		return -1
	}
	return i + len(word)
}

// stringEnd returns the index after the string literal at i, or -1, and
// whether it is plain: no escapes and valid UTF-8, so its bytes are its
// value.
func (c *checker) stringEnd(i int) (int, bool) {
	end, kind := c.scanString(i)
	return end, kind != escaped
}

// The kinds of string literal.
const (
	plainASCII = iota // its bytes are its value, one character each
	plainUTF8         // its bytes are its value
	escaped           // it has escapes or bytes that are not UTF-8: decode it
)

// scanString returns the index after the string literal at i, or -1,
// and its kind.
func (c *checker) scanString(i int) (int, int) {
	b := c.b
	start := i + 1
	kind := plainASCII
	for i++; i < len(b); i++ {
		for i+8 <= len(b) && plainWord(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		if i >= len(b) {
			break
		}
		ch := b[i]
		if !special[ch] {
			continue
		}
		switch {
		case ch == '"':
			if kind == plainUTF8 && !utf8.Valid(b[start:i]) { // checked once, at the end
				kind = escaped
			}
			return i + 1, kind
		case ch == '\\':
			kind = escaped
			if i = escapeEnd(b, i); i < 0 {
				return -1, escaped
			}
		case ch < 0x20:
			return -1, escaped
		case kind == plainASCII:
			kind = plainUTF8
		}
	}
	return -1, escaped
}

// plainWord reports whether none of 8 bytes is special: all ASCII, none
// a quote, a backslash or a control character (word-at-a-time tests for
// a zero byte and for a byte below n).
func plainWord(v uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	hasZero := func(x uint64) bool { return (x-lo)&^x&hi != 0 }
	return v&hi == 0 && !hasZero(v^(lo*'"')) && !hasZero(v^(lo*'\\')) && (v-lo*0x20)&^v&hi == 0
}

// special marks the bytes a string scan stops at: the quote, the
// backslash, control characters and the bytes of non-ASCII characters.
var special = func() (t [256]bool) {
	for i := range t {
		t[i] = i < 0x20 || i == '"' || i == '\\' || i >= 0x80
	}
	return t
}()

// escapeEnd returns the index of the last byte of the escape at i.
func escapeEnd(b []byte, i int) int {
	if i+1 >= len(b) {
		return -1
	}
	switch b[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i + 1
	case 'u':
		if i+5 >= len(b) {
			return -1
		}
		for _, h := range b[i+2 : i+6] {
			if !isHex(h) {
				return -1
			}
		}
		return i + 5
	}
	return -1
}

func isHex(h byte) bool {
	return (h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')
}

// numberEnd returns the index after the number literal at i, or -1.
func numberEnd(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digitsEnd(b, i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := digitsEnd(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digitsEnd(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digitsEnd(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// isMultiple reports whether the number literal is a multiple of the
// node's multipleOf, exactly.
func isMultiple(lit []byte, n *fastNode) bool {
	x, ok := new(big.Rat).SetString(string(lit))
	if !ok {
		return false
	}
	return new(big.Rat).Quo(x, n.multipleOf).IsInt()
}
