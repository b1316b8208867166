package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
)

// Numbers are compared exactly, as the full validator compares them (as
// rational numbers), yet mostly with float64: rounding a decimal to the
// nearest float64 never reverses an order, so when two numbers round to
// different floats their order is the floats' order. Only numbers that
// round to the same float are compared as rationals.

// bound is a minimum or maximum.
type bound struct {
	exact  *big.Rat
	f      float64 // exact rounded to the nearest float64
	fExact bool    // f is exact
}

func newBound(r *big.Rat) *bound {
	if r == nil {
		return nil
	}
	f, exact := r.Float64()
	return &bound{exact: r, f: f, fExact: exact}
}

// number is a number literal with its nearest float64.
type number struct {
	lit   []byte
	f     float64
	exact bool // f is the literal's exact value
}

// cmp compares the number x to b.
func (b *bound) cmp(x number) int {
	switch {
	case x.f < b.f:
		return -1
	case x.f > b.f:
		return 1
	case x.exact && b.fExact:
		return 0
	}
	r, ok := new(big.Rat).SetString(string(x.lit))
	if !ok {
		return 0 // cannot happen for a JSON number
	}
	return r.Cmp(b.exact)
}

// hugeExponent reports whether a JSON number literal's exponent is beyond
// ±1,000,000, which math/big (and with it the full validator) cannot read.
func hugeExponent(lit []byte) bool {
	i := bytes.IndexAny(lit, "eE")
	if i < 0 {
		return false
	}
	digits := bytes.TrimLeft(bytes.TrimLeft(lit[i+1:], "+-"), "0")
	return len(digits) > 7 || len(digits) == 7 && string(digits) > "1000000"
}

// parseFloat returns the float64 nearest a JSON number literal (±Inf or
// 0 for one out of range, which keeps the order) and whether it is the
// literal's exact value. Literals of at most 15 digits with a small
// exponent take Clinger's fast path (one exact multiplication or
// division); the rest strconv.
func parseFloat(lit []byte) (float64, bool) {
	i, neg := 0, false
	if lit[0] == '-' {
		i, neg = 1, true
	}
	var m uint64
	digits, exp := 0, 0
	for ; i < len(lit) && lit[i] >= '0' && lit[i] <= '9'; i++ {
		m, digits = m*10+uint64(lit[i]-'0'), digits+1
	}
	if i < len(lit) && lit[i] == '.' {
		for i++; i < len(lit) && lit[i] >= '0' && lit[i] <= '9'; i++ {
			m, digits, exp = m*10+uint64(lit[i]-'0'), digits+1, exp-1
		}
	}
	if i == len(lit) && digits <= 15 && exp >= -22 {
		f := float64(m)
		exact := exp == 0
		if exp < 0 {
			f /= pow10[-exp]
		}
		if neg {
			f = -f
		}
		return f, exact
	}
	f, _ := strconv.ParseFloat(string(lit), 64)
	return f, false
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
	1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// isIntegral reports whether a JSON number literal is a whole number:
// "3", "3.50e1", "1e2" and "250e-1" are; "2.5" and "25e-2" are not.
func isIntegral(lit []byte) bool {
	i := 0
	if lit[0] == '-' {
		i++
	}
	intStart := i
	for i < len(lit) && lit[i] >= '0' && lit[i] <= '9' {
		i++
	}
	intEnd, fracStart, fracEnd := i, i, i
	if i < len(lit) && lit[i] == '.' {
		i++
		fracStart = i
		for i < len(lit) && lit[i] >= '0' && lit[i] <= '9' {
			i++
		}
		fracEnd = i
	}
	exp := 0
	if i < len(lit) {
		e, err := strconv.Atoi(string(lit[i+1:]))
		if err != nil { // an exponent beyond an int: not worth the fast path
			return false
		}
		exp = e
	}
	for fracEnd > fracStart && lit[fracEnd-1] == '0' {
		fracEnd--
	}
	if fracEnd > fracStart { // fraction digits remain: the exponent must move them all
		return exp >= fracEnd-fracStart
	}
	for intEnd > intStart && lit[intEnd-1] == '0' && exp < 0 {
		intEnd--
		exp++
	}
	return exp >= 0 || intEnd == intStart
}

// fastEnum is the values of an enum (or a const) that the fast validator
// compares: scalars only.
type fastEnum struct {
	strings      map[string]bool
	numbers      []*bound
	null         bool
	true, false_ bool
}

// newFastEnum returns the enum of values, or nil when one of them is an
// object or an array.
func newFastEnum(values []any) *fastEnum {
	e := &fastEnum{strings: map[string]bool{}}
	for _, v := range values {
		switch v := v.(type) {
		case nil:
			e.null = true
		case bool:
			if v {
				e.true = true
			} else {
				e.false_ = true
			}
		case string:
			e.strings[v] = true
		case json.Number:
			r, ok := new(big.Rat).SetString(string(v))
			if !ok {
				return nil
			}
			e.numbers = append(e.numbers, newBound(r))
		case float64, int, int64:
			r, ok := new(big.Rat).SetString(fmt.Sprint(v))
			if !ok {
				return nil
			}
			e.numbers = append(e.numbers, newBound(r))
		default:
			return nil
		}
	}
	return e
}

func (e *fastEnum) hasNumber(x number) bool {
	for _, b := range e.numbers {
		if b.cmp(x) == 0 {
			return true
		}
	}
	return false
}
