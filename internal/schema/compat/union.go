package compat

import (
	"fmt"
	"strconv"
)

// checkUnions: every value the writer allows must be readable through the
// reader's anyOf (by some branch) and oneOf (by exactly one branch).
func (c *checker) checkUnions(n node, ws *wsum, path string) []Change {
	var out []Change
	for _, kw := range []string{"anyOf", "oneOf"} {
		branches := n.children(kw)
		if len(branches) == 0 || c.writerHasSame(ws, n, kw) {
			continue
		}
		out = append(out, c.checkUnion(kw, branches, ws, path)...)
	}
	return out
}

// writerHasSame reports whether a writer schema has the same union: the
// same branches, in any order.
func (c *checker) writerHasSame(ws *wsum, n node, kw string) bool {
	for _, m := range ws.flat {
		if !m.isSynthetic() && m.has(kw) && c.sameBranches(n.children(kw), m.children(kw)) {
			return true
		}
	}
	return false
}

// sameBranches reports whether b is a permutation of a, branch by branch.
func (c *checker) sameBranches(a, b []node) bool {
	if len(a) != len(b) {
		return false
	}
	used := make([]bool, len(b))
	for _, x := range a {
		found := false
		for j, y := range b {
			if !used[j] && c.sameSchema(x, y) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// coverage is one case of the writer's values and the reader branch that reads it.
type coverage struct {
	w      wset
	branch int
	what   string
}

func (c *checker) checkUnion(kw string, branches []node, ws *wsum, path string) []Change {
	p := childPath(path, kw)
	var cov []coverage
	var out []Change
	i, reasons := c.cover(kw, branches, ws.wset, path)
	var cases []coverage
	switch types := ws.types.split(); {
	case i >= 0:
		cov = append(cov, coverage{ws.wset, i, ws.describe()})
	case len(types) > 1:
		for _, t := range types {
			w := wset{nodes: append(append([]node(nil), ws.nodes...), synthetic(map[string]any{"type": t})), done: ws.done}
			cases = append(cases, coverage{w: w, what: "values of type " + t})
		}
	case unanalysable(reasons):
		out = append(out, reasons...)
	default:
		out = append(out, unionChange(p, kw, len(branches), ws.describe(), reasons))
	}
	for _, cs := range cases {
		i, reasons := c.cover(kw, branches, cs.w, path)
		switch {
		case i >= 0:
			cov = append(cov, coverage{cs.w, i, cs.what})
		case unanalysable(reasons):
			out = append(out, reasons...)
		case !c.summarize(cs.w).empty:
			out = append(out, unionChange(p, kw, len(branches), cs.what, reasons))
		}
	}
	if kw == "oneOf" {
		out = append(out, c.checkExclusive(branches, cov, p)...)
	}
	return out
}

func unionChange(p, kw string, n int, what string, reasons []Change) Change {
	return Change{Path: p, Rule: RuleSumTypeNarrowed, Message: fmt.Sprintf(
		"%s allows %s, which match none of %s's %d %s branches: %s", writerRef, what, readerRef, n, kw, firstReasons(reasons))}
}

// cover finds a reader branch that reads every value of w; otherwise it
// returns why each branch does not.
func (c *checker) cover(kw string, branches []node, w wset, path string) (int, []Change) {
	var reasons []Change
	for i, b := range branches {
		ch := c.check(b, w, childPath(path, kw, strconv.Itoa(i)))
		if len(ch) == 0 {
			return i, nil
		}
		first := ch[0]
		first.Message = fmt.Sprintf("branch %d: %s", i, first.Message)
		reasons = append(reasons, first)
	}
	return -1, reasons
}

// checkExclusive: a value matching two oneOf branches is rejected, so every
// covered case must be provably outside the other branches.
func (c *checker) checkExclusive(branches []node, cov []coverage, p string) []Change {
	var out []Change
	reported := map[[2]int]bool{}
	for _, cv := range cov {
		for j, b := range branches {
			if j == cv.branch {
				continue
			}
			pair := [2]int{min(j, cv.branch), max(j, cv.branch)}
			if reported[pair] || c.disjoint(cv.w.nodes, []node{b}) || c.disjoint([]node{branches[cv.branch]}, []node{b}) {
				continue
			}
			reported[pair] = true
			out = append(out, Change{Path: p, Rule: RuleOneOfAmbiguous, Message: fmt.Sprintf(
				"%s allows %s, which %s's oneOf branch %d reads, but branch %d may match them too, and oneOf rejects "+
					"a value that matches two branches; make the branches exclusive (different types or a const "+
					"discriminator property) or use anyOf", writerRef, cv.what, readerRef, cv.branch, j)})
		}
	}
	return out
}

// disjoint reports whether no value can satisfy both conjunctions. It looks
// only at types, enum/const and required properties with disjoint enum/const
// values (a discriminator), and never filters values by validation, so a
// "true" is a proof.
func (c *checker) disjoint(a, b []node) bool {
	sa, sb := c.rough(a), c.rough(b)
	if sa.types&sb.types == 0 {
		return true
	}
	if sa.hasValues && sb.hasValues && len(intersectValues(sa.values, sb.values)) == 0 {
		return true
	}
	for name := range writerRequiredNames(sa) {
		if !writerRequires(sb, name) {
			continue
		}
		va, oka := c.propertyValues(sa, name)
		vb, okb := c.propertyValues(sb, name)
		if oka && okb && len(intersectValues(va, vb)) == 0 {
			return true
		}
	}
	return false
}

// rough summarizes a conjunction by its keywords alone.
func (c *checker) rough(nodes []node) *wsum {
	s := &wsum{wset: wset{nodes: nodes}, types: tAll}
	s.flat = c.flatten(nodes)
	for _, n := range s.flat {
		if n.isFalse() {
			s.types = 0
		}
		if t, ok := n.kw("type"); ok {
			s.types &= parseTypes(t)
		}
		if vs, ok := valueSet(n); ok {
			if s.hasValues {
				s.values = intersectValues(s.values, vs)
			} else {
				s.values, s.hasValues = vs, true
			}
		}
	}
	return s
}

// propertyValues returns the enum/const values a conjunction allows for a property.
func (c *checker) propertyValues(s *wsum, name string) ([]any, bool) {
	var vals []any
	found := false
	for _, n := range s.flat {
		if n.obj() == nil {
			continue
		}
		ps, _ := c.modelOf(n).schemasFor(name)
		for _, p := range ps {
			ps := c.rough([]node{p})
			if !ps.hasValues {
				continue
			}
			if found {
				vals = intersectValues(vals, ps.values)
			} else {
				vals, found = ps.values, true
			}
		}
	}
	return vals, found
}
