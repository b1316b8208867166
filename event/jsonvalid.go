package event

import "encoding/binary"

// validJSON reports whether b is one valid JSON value with optional
// surrounding whitespace, exactly as encoding/json's Valid does (strings
// are not checked for valid UTF-8 there either). It is a single
// recursive-descent pass that never allocates: the publish path validates
// every byte of every event, and json.Valid's state machine was a quarter
// of the cost of an HTTP publish.
func validJSON(b []byte) bool {
	v := validator{b: b}
	v.space()
	if !v.value(0) {
		return false
	}
	v.space()
	return v.i == len(b)
}

// maxJSONDepth bounds nesting, as encoding/json does (10000).
const maxJSONDepth = 10000

type validator struct {
	b []byte
	i int
}

func (v *validator) space() { v.i = skipSpace(v.b, v.i) }

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
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

func (v *validator) value(depth int) bool {
	if v.i >= len(v.b) {
		return false
	}
	switch c := v.b[v.i]; {
	case c == '"':
		return v.str()
	case c == '{':
		return depth < maxJSONDepth && v.object(depth+1)
	case c == '[':
		return depth < maxJSONDepth && v.array(depth+1)
	case c == '-' || (c >= '0' && c <= '9'):
		return v.number()
	case c == 't':
		return v.literal("true")
	case c == 'f':
		return v.literal("false")
	case c == 'n':
		return v.literal("null")
	}
	return false
}

func (v *validator) literal(word string) bool {
	if len(v.b)-v.i < len(word) || string(v.b[v.i:v.i+len(word)]) != word {
		return false
	}
	v.i += len(word)
	return true
}

func (v *validator) object(depth int) bool {
	v.i++ // {
	v.space()
	if v.i < len(v.b) && v.b[v.i] == '}' {
		v.i++
		return true
	}
	for {
		if v.i >= len(v.b) || v.b[v.i] != '"' || !v.str() {
			return false
		}
		v.space()
		if v.i >= len(v.b) || v.b[v.i] != ':' {
			return false
		}
		v.i++
		v.space()
		if !v.value(depth) {
			return false
		}
		if done, ok := v.more('}'); !ok || done {
			return ok
		}
	}
}

func (v *validator) array(depth int) bool {
	v.i++ // [
	v.space()
	if v.i < len(v.b) && v.b[v.i] == ']' {
		v.i++
		return true
	}
	for {
		if !v.value(depth) {
			return false
		}
		if done, ok := v.more(']'); !ok || done {
			return ok
		}
	}
}

// more reads the separator after an element: a comma (more follows) or
// the closing bracket.
func (v *validator) more(closing byte) (done, ok bool) {
	v.space()
	if v.i >= len(v.b) {
		return false, false
	}
	switch v.b[v.i] {
	case ',':
		v.i++
		v.space()
		return false, true
	case closing:
		v.i++
		return true, true
	}
	return false, false
}

func (v *validator) str() bool {
	v.i++ // opening quote
	for v.i < len(v.b) {
		v.i = plainRun(v.b, v.i)
		if v.i >= len(v.b) {
			break
		}
		c := v.b[v.i]
		switch {
		case c == '"':
			v.i++
			return true
		case c == '\\':
			if !v.escape() {
				return false
			}
		case c < 0x20:
			return false
		default:
			v.i++
		}
	}
	return false
}

// SWAR constants: a byte of ones, and the high bit of every byte.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plainRun skips, eight bytes at a time, string bytes that need no
// attention (not a quote, a backslash or a control character) and returns
// the index of the first eight-byte word that holds one. The tests are the
// classic "has a zero byte" and "has a byte less than n" bit tricks; they
// never miss, and a false alarm only hands the word to the byte loop.
func plainRun(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		ctl := (x - ones*0x20) &^ x & highs
		quote := ((x ^ ones*'"') - ones) &^ (x ^ ones*'"') & highs
		slash := ((x ^ ones*'\\') - ones) &^ (x ^ ones*'\\') & highs
		if ctl|quote|slash != 0 {
			return i
		}
	}
	return i
}

func (v *validator) escape() bool {
	v.i++ // backslash
	if v.i >= len(v.b) {
		return false
	}
	switch v.b[v.i] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		v.i++
		return true
	case 'u':
		if len(v.b)-v.i < 5 {
			return false
		}
		for _, h := range v.b[v.i+1 : v.i+5] {
			if !isHex(h) {
				return false
			}
		}
		v.i += 5
		return true
	}
	return false
}

func (v *validator) number() bool {
	if v.b[v.i] == '-' {
		v.i++
	}
	switch {
	case v.i < len(v.b) && v.b[v.i] == '0':
		v.i++
	case v.digits() == 0:
		return false
	}
	if v.i < len(v.b) && v.b[v.i] == '.' {
		v.i++
		if v.digits() == 0 {
			return false
		}
	}
	if v.i < len(v.b) && (v.b[v.i] == 'e' || v.b[v.i] == 'E') {
		v.i++
		if v.i < len(v.b) && (v.b[v.i] == '+' || v.b[v.i] == '-') {
			v.i++
		}
		if v.digits() == 0 {
			return false
		}
	}
	return true
}

func (v *validator) digits() int {
	start := v.i
	for v.i < len(v.b) && v.b[v.i] >= '0' && v.b[v.i] <= '9' {
		v.i++
	}
	return v.i - start
}
