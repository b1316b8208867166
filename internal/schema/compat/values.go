package compat

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// typeSet is a set of JSON instance types. Numbers are split into integers
// and non-integers so that integer ⊂ number can be expressed.
type typeSet uint8

const (
	tNull typeSet = 1 << iota
	tBool
	tObject
	tArray
	tString
	tInt
	tFrac // a number with a fractional part

	tNumber = tInt | tFrac
	tAll    = tNull | tBool | tObject | tArray | tString | tNumber
)

// parseTypes reads the value of a "type" keyword.
func parseTypes(v any) typeSet {
	one := func(s string) typeSet {
		switch s {
		case "null":
			return tNull
		case "boolean":
			return tBool
		case "object":
			return tObject
		case "array":
			return tArray
		case "string":
			return tString
		case "integer":
			return tInt
		case "number":
			return tNumber
		}
		return 0
	}
	switch t := v.(type) {
	case string:
		return one(t)
	case []any:
		var s typeSet
		for _, e := range t {
			if str, ok := e.(string); ok {
				s |= one(str)
			}
		}
		return s
	}
	return tAll
}

// typeOfValue is the JSON Schema type of an instance value.
func typeOfValue(v any) typeSet {
	switch x := v.(type) {
	case nil:
		return tNull
	case bool:
		return tBool
	case map[string]any:
		return tObject
	case []any:
		return tArray
	case string:
		return tString
	case json.Number, float64, int:
		r, ok := toRat(x)
		switch {
		case !ok:
			return tNumber // too large to tell; both, to stay cautious
		case r.IsInt():
			return tInt
		}
		return tFrac
	}
	return 0
}

func (t typeSet) String() string {
	if t == tAll {
		return "any type"
	}
	var names []string
	add := func(bit typeSet, name string) {
		if t&bit != 0 {
			names = append(names, name)
		}
	}
	add(tNull, "null")
	add(tBool, "boolean")
	add(tObject, "object")
	add(tArray, "array")
	add(tString, "string")
	switch t & tNumber {
	case tNumber:
		names = append(names, "number")
	case tInt:
		names = append(names, "integer")
	case tFrac:
		names = append(names, "non-integer number")
	}
	return strings.Join(names, ", ")
}

// split returns the single JSON types of t as "type" keyword values, for
// case analysis; integers and other numbers stay together as "number".
func (t typeSet) split() []string {
	var out []string
	for _, e := range []struct {
		bit  typeSet
		name string
	}{{tNull, "null"}, {tBool, "boolean"}, {tObject, "object"}, {tArray, "array"}, {tString, "string"}} {
		if t&e.bit != 0 {
			out = append(out, e.name)
		}
	}
	switch {
	case t&tFrac != 0:
		out = append(out, "number")
	case t&tInt != 0:
		out = append(out, "integer")
	}
	return out
}

// maxExponent bounds the decimal exponents Herald turns into exact
// rationals; a number beyond it is "unknown" and never proves anything.
const maxExponent = 400

// toRat converts a JSON number to an exact rational.
func toRat(v any) (*big.Rat, bool) {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if i := strings.IndexAny(s, "eE"); i >= 0 {
			e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
			if err != nil || e > maxExponent || e < -maxExponent {
				return nil, false
			}
		}
		if len(s) > 2*maxExponent {
			return nil, false
		}
		r, ok := new(big.Rat).SetString(s)
		return r, ok
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, false
		}
		return new(big.Rat).SetFloat64(x), true
	case int:
		return new(big.Rat).SetInt64(int64(x)), true
	}
	return nil, false
}

// toCount reads a non-negative integer keyword (minLength, maxItems, …).
// parseDocument refuses counts beyond math.MaxInt; should one get here, it
// is "infinite": a minimum nothing meets, a maximum nothing reaches.
func toCount(v any) (int64, bool) {
	r, ok := toRat(v)
	if !ok {
		if _, isNum := v.(json.Number); isNum {
			return math.MaxInt64, true
		}
		return 0, false
	}
	if !r.IsInt() || r.Sign() < 0 {
		return 0, false
	}
	if !r.Num().IsInt64() {
		return math.MaxInt64, true
	}
	return r.Num().Int64(), true
}

// jsonEqual is JSON Schema equality: numbers by value, objects by members.
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !jsonEqual(xv, yv) {
				return false
			}
		}
		return true
	}
	ra, oka := toRat(a)
	rb, okb := toRat(b)
	if oka && okb {
		return ra.Cmp(rb) == 0
	}
	if oka != okb {
		return false
	}
	// Two numbers too large to compare as rationals: compare them as
	// canonical decimals.
	return canonicalNumber(fmt.Sprint(a)) == canonicalNumber(fmt.Sprint(b))
}

// canonicalNumber rewrites a JSON number as sign, significant digits and
// exponent ("-12e3"), so that equal numbers have equal text.
func canonicalNumber(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	exp := 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil {
			return sign + s
		}
		exp, s = e, s[:i]
	}
	if i := strings.IndexByte(s, '.'); i >= 0 {
		exp -= len(s) - i - 1
		s = s[:i] + s[i+1:]
	}
	s = strings.TrimLeft(s, "0")
	for strings.HasSuffix(s, "0") {
		s, exp = s[:len(s)-1], exp+1
	}
	if s == "" {
		return "0"
	}
	return sign + s + "e" + strconv.Itoa(exp)
}

func containsValue(set []any, v any) bool {
	for _, e := range set {
		if jsonEqual(e, v) {
			return true
		}
	}
	return false
}

// intersectValues keeps the values of a that are also in b.
func intersectValues(a, b []any) []any {
	var out []any
	for _, v := range a {
		if containsValue(b, v) {
			out = append(out, v)
		}
	}
	return out
}

// valueSet returns the finite set of values a schema node allows by enum or
// const, if it has one.
func valueSet(n node) ([]any, bool) {
	var vals []any
	found := false
	if e, ok := n.kw("enum"); ok {
		if arr, ok := e.([]any); ok {
			vals, found = arr, true
		}
	}
	if c, ok := n.kw("const"); ok {
		if found {
			vals = intersectValues(vals, []any{c})
		} else {
			vals, found = []any{c}, true
		}
	}
	return vals, found
}

// strLen is the JSON Schema length of a string: its code points.
func strLen(s string) int64 { return int64(utf8.RuneCountInString(s)) }

// describeValue renders a JSON value short enough for a message.
func describeValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(b)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// describeValues renders up to five values.
func describeValues(vs []any) string {
	var parts []string
	for i, v := range vs {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(vs)-5))
			break
		}
		parts = append(parts, describeValue(v))
	}
	return strings.Join(parts, ", ")
}

func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}
