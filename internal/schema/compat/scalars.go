package compat

import (
	"fmt"
	"math/big"
	"regexp"
)

// checkType: the reader's "type" must accept every type the writer allows.
func (c *checker) checkType(n node, ws *wsum, path string) []Change {
	v, ok := n.kw("type")
	if !ok {
		return nil
	}
	rt := parseTypes(v)
	missing := ws.types &^ rt
	if missing == 0 {
		return nil
	}
	rule := RuleTypeNarrowed
	if ws.types&rt == 0 {
		rule = RuleTypeChanged
	}
	var msg string
	switch {
	case missing == tFrac:
		msg = fmt.Sprintf("%s accepts only integers here, but %s allows any number (e.g. 1.5)", readerRef, writerRef)
	case missing == tNull:
		msg = fmt.Sprintf("%s no longer accepts null here (its type is %s), but %s allows null", readerRef, rt, writerRef)
	case ws.types == tAll:
		msg = fmt.Sprintf("%s requires type %s here, but %s allows any type", readerRef, rt, writerRef)
	default:
		msg = fmt.Sprintf("%s requires type %s here, but %s allows %s", readerRef, rt, writerRef, ws.types)
	}
	return []Change{{Path: path, Rule: rule, Message: msg}}
}

// finiteDomain lists every value of a writer restricted to null and booleans.
func finiteDomain(ws *wsum) ([]any, bool) {
	if ws.hasValues {
		return ws.values, true
	}
	if ws.types&^(tNull|tBool) != 0 {
		return nil, false
	}
	var vals []any
	if ws.types&tNull != 0 {
		vals = append(vals, nil)
	}
	if ws.types&tBool != 0 {
		vals = append(vals, false, true)
	}
	return vals, true
}

// checkValues: the reader's enum and const must contain every writer value.
func (c *checker) checkValues(n node, ws *wsum, path string) []Change {
	var out []Change
	for _, kw := range []string{"enum", "const"} {
		v, ok := n.kw(kw)
		if !ok {
			continue
		}
		allowed := []any{v}
		if kw == "enum" {
			allowed, _ = v.([]any)
		}
		domain, finite := finiteDomain(ws)
		if !finite {
			rule, what := RuleEnumAdded, "enum ["+describeValues(allowed)+"]"
			if kw == "const" {
				rule, what = RuleConstAdded, "const "+describeValue(v)
			}
			out = append(out, Change{Path: path, Rule: rule, Message: fmt.Sprintf(
				"%s restricts the value to %s, but %s allows any %s value here", readerRef, what, writerRef, ws.types)})
			continue
		}
		var missing []any
		for _, d := range domain {
			if !containsValue(allowed, d) {
				missing = append(missing, d)
			}
		}
		if len(missing) == 0 {
			continue
		}
		if kw == "const" {
			out = append(out, Change{Path: path, Rule: RuleConstChanged, Message: fmt.Sprintf(
				"%s's const is %s, but %s allows %s", readerRef, describeValue(v), writerRef, describeValues(missing))})
			continue
		}
		out = append(out, Change{Path: path, Rule: RuleEnumNarrowed, Message: fmt.Sprintf(
			"%s's enum does not contain %s, which %s allows", readerRef, describeValues(missing), writerRef)})
	}
	return out
}

// bound is a writer's numeric limit; excl marks an exclusive one.
type bound struct {
	val  *big.Rat
	excl bool
	kw   string
}

// writerBound finds the tightest lower (lower=true) or upper bound of the writer.
func writerBound(ws *wsum, lower bool) *bound {
	incl, exclKw := "maximum", "exclusiveMaximum"
	if lower {
		incl, exclKw = "minimum", "exclusiveMinimum"
	}
	var best *bound
	consider := func(b bound) {
		if best == nil {
			best = &b
			return
		}
		cmp := b.val.Cmp(best.val)
		if !lower {
			cmp = -cmp
		}
		if cmp > 0 || (cmp == 0 && b.excl && !best.excl) {
			best = &b
		}
	}
	for _, n := range ws.flat {
		for _, kw := range []string{incl, exclKw} {
			if v, ok := n.kw(kw); ok {
				if r, ok := toRat(v); ok {
					consider(bound{val: r, excl: kw == exclKw, kw: kw})
				}
			}
		}
	}
	if best != nil && ws.types&tFrac == 0 {
		// Only integers: an exclusive or fractional bound tightens to the next integer.
		consider(integerBound(*best, lower))
	}
	return best
}

func integerBound(b bound, lower bool) bound {
	num, den := b.val.Num(), b.val.Denom()
	q, m := new(big.Int).DivMod(num, den, new(big.Int)) // floor division
	if lower {
		if m.Sign() != 0 || b.excl {
			q.Add(q, big.NewInt(1))
		}
	} else if m.Sign() == 0 && b.excl {
		q.Sub(q, big.NewInt(1))
	}
	return bound{val: new(big.Rat).SetInt(q), kw: b.kw}
}

// checkNumbers: numeric limits may only be relaxed in the reader.
func (c *checker) checkNumbers(n node, ws *wsum, path string) []Change {
	if ws.types&tNumber == 0 {
		return nil
	}
	var out []Change
	lo, hi := writerBound(ws, true), writerBound(ws, false)
	limits := []struct {
		kw, added, tightened string
		lower, excl          bool
		b                    *bound
	}{
		{"minimum", RuleMinimumAdded, RuleMinimumIncreased, true, false, lo},
		{"exclusiveMinimum", RuleExclusiveMinimumAdded, RuleExclusiveMinimumIncreased, true, true, lo},
		{"maximum", RuleMaximumAdded, RuleMaximumDecreased, false, false, hi},
		{"exclusiveMaximum", RuleExclusiveMaximumAdded, RuleExclusiveMaximumDecreased, false, true, hi},
	}
	for _, l := range limits {
		v, ok := n.kw(l.kw)
		if !ok {
			continue
		}
		r, known := toRat(v)
		if known && within(l.b, r, l.lower, l.excl) {
			continue
		}
		if known && numbersSatisfy(ws, func(x *big.Rat) bool { return inLimit(x, r, l.lower, l.excl) }) {
			continue
		}
		rule, was := l.added, "no such limit"
		if l.b != nil {
			rule, was = l.tightened, fmt.Sprintf("%s %s", l.b.kw, ratString(l.b.val))
		}
		out = append(out, Change{Path: path, Rule: rule, Message: fmt.Sprintf(
			"%s sets %s %s, tighter than %s (%s)", readerRef, l.kw, describeValue(v), writerRef, was)})
	}
	if v, ok := n.kw("multipleOf"); ok {
		if ch, bad := c.checkMultipleOf(v, ws, path); bad {
			out = append(out, ch)
		}
	}
	return out
}

// within reports whether a writer bound b implies the reader limit r.
func within(b *bound, r *big.Rat, lower, excl bool) bool {
	if b == nil {
		return false
	}
	cmp := b.val.Cmp(r)
	if !lower {
		cmp = -cmp
	}
	return cmp > 0 || (cmp == 0 && (!excl || b.excl))
}

func inLimit(x, r *big.Rat, lower, excl bool) bool {
	cmp := x.Cmp(r)
	if !lower {
		cmp = -cmp
	}
	return cmp > 0 || (cmp == 0 && !excl)
}

// numbersSatisfy reports whether the writer's finite values all pass ok.
func numbersSatisfy(ws *wsum, ok func(*big.Rat) bool) bool {
	if !ws.hasValues {
		return false
	}
	for _, v := range ws.values {
		if typeOfValue(v)&tNumber == 0 {
			continue
		}
		x, known := toRat(v)
		if !known || !ok(x) {
			return false
		}
	}
	return true
}

func (c *checker) checkMultipleOf(v any, ws *wsum, path string) (Change, bool) {
	d, known := toRat(v)
	divides := func(x *big.Rat) bool {
		return d.Sign() != 0 && new(big.Rat).Quo(x, d).IsInt()
	}
	if known {
		var prev *big.Rat
		for _, n := range ws.flat {
			if wv, ok := n.kw("multipleOf"); ok {
				if w, ok := toRat(wv); ok {
					prev = w
					if divides(w) {
						return Change{}, false
					}
				}
			}
		}
		if ws.types&tFrac == 0 && divides(big.NewRat(1, 1)) {
			return Change{}, false
		}
		if numbersSatisfy(ws, divides) {
			return Change{}, false
		}
		if prev != nil {
			return Change{Path: path, Rule: RuleMultipleOfChanged, Message: fmt.Sprintf(
				"%s requires multiples of %s, but %s allows multiples of %s, which are not all multiples of %s",
				readerRef, describeValue(v), writerRef, ratString(prev), describeValue(v))}, true
		}
	}
	return Change{Path: path, Rule: RuleMultipleOfAdded, Message: fmt.Sprintf(
		"%s requires multiples of %s, but %s has no such restriction", readerRef, describeValue(v), writerRef)}, true
}

// checkStrings: string limits may only be relaxed in the reader; pattern and
// format must be unchanged or removed.
func (c *checker) checkStrings(n node, ws *wsum, path string) []Change {
	if ws.types&tString == 0 {
		return nil
	}
	var out []Change
	if v, ok := n.kw("minLength"); ok {
		if m, ok := toCount(v); ok && m > 0 {
			wmin, has := writerCount(ws, "minLength", true)
			if !(has && wmin >= m) && !stringsSatisfy(ws, func(s string) bool { return strLen(s) >= m }) {
				out = append(out, countChange(path, "minLength", m, wmin, has, RuleMinLengthAdded, RuleMinLengthIncreased))
			}
		}
	}
	if v, ok := n.kw("maxLength"); ok {
		if m, ok := toCount(v); ok {
			wmax, has := writerCount(ws, "maxLength", false)
			if !(has && wmax <= m) && !stringsSatisfy(ws, func(s string) bool { return strLen(s) <= m }) {
				out = append(out, countChange(path, "maxLength", m, wmax, has, RuleMaxLengthAdded, RuleMaxLengthDecreased))
			}
		}
	}
	if v, ok := n.kw("pattern"); ok {
		if ch, bad := checkPattern(v, ws, path); bad {
			out = append(out, ch)
		}
	}
	if v, ok := n.kw("format"); ok {
		if ch, bad := checkFormat(v, ws, path); bad {
			out = append(out, ch)
		}
	}
	return out
}

// writerCount is the tightest writer value of a count keyword: the largest
// for a minimum (min=true), the smallest for a maximum.
func writerCount(ws *wsum, kw string, min bool) (int64, bool) {
	var best int64
	has := false
	for _, n := range ws.flat {
		v, ok := n.kw(kw)
		if !ok {
			continue
		}
		m, ok := toCount(v)
		if !ok {
			continue
		}
		if !has || (min && m > best) || (!min && m < best) {
			best, has = m, true
		}
	}
	return best, has
}

func countChange(path, kw string, reader, writer int64, has bool, added, tightened string) Change {
	if !has {
		return Change{Path: path, Rule: added, Message: fmt.Sprintf(
			"%s sets %s %d, but %s has no %s", readerRef, kw, reader, writerRef, kw)}
	}
	return Change{Path: path, Rule: tightened, Message: fmt.Sprintf(
		"%s sets %s %d, tighter than %s's %d", readerRef, kw, reader, writerRef, writer)}
}

func stringsSatisfy(ws *wsum, ok func(string) bool) bool {
	if !ws.hasValues {
		return false
	}
	for _, v := range ws.values {
		if s, isStr := v.(string); isStr && !ok(s) {
			return false
		}
	}
	return true
}

// checkPattern: a reader pattern is proven only by the identical writer
// pattern (or by every writer string matching it).
func checkPattern(v any, ws *wsum, path string) (Change, bool) {
	p, _ := v.(string)
	var prev []string
	for _, n := range ws.flat {
		if wv, ok := n.kw("pattern"); ok {
			if wp, _ := wv.(string); wp == p {
				return Change{}, false
			} else {
				prev = append(prev, wp)
			}
		}
	}
	if re, err := regexp.Compile(p); err == nil && stringsSatisfy(ws, re.MatchString) {
		return Change{}, false
	}
	if len(prev) == 0 {
		return Change{Path: path, Rule: RulePatternAdded, Message: fmt.Sprintf(
			"%s requires strings to match pattern %q, but %s has no pattern", readerRef, p, writerRef)}, true
	}
	return Change{Path: path, Rule: RulePatternChanged, Message: fmt.Sprintf(
		"%s's pattern %q differs from %s's %q; Herald accepts a pattern change only when the pattern is unchanged or removed",
		readerRef, p, writerRef, prev[0])}, true
}

// checkFormat: Herald treats format as an assertion; a reader format is
// proven only by the same writer format.
func checkFormat(v any, ws *wsum, path string) (Change, bool) {
	f, _ := v.(string)
	var prev string
	for _, n := range ws.flat {
		if wv, ok := n.kw("format"); ok {
			if wf, _ := wv.(string); wf == f {
				return Change{}, false
			} else {
				prev = wf
			}
		}
	}
	if prev == "" {
		return Change{Path: path, Rule: RuleFormatAdded, Message: fmt.Sprintf(
			"%s requires format %q, but %s has no format", readerRef, f, writerRef)}, true
	}
	return Change{Path: path, Rule: RuleFormatChanged, Message: fmt.Sprintf(
		"%s requires format %q, but %s's format is %q", readerRef, f, writerRef, prev)}, true
}
