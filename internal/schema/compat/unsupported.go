package compat

import (
	"fmt"
	"strings"
)

// checkUnsupported: a keyword Herald does not analyse is accepted in the
// reader only when a writer schema has it identically (then every writer
// value satisfies it). Missing from the reader it is always fine: the
// reader then accepts more.
func (c *checker) checkUnsupported(n node, ws *wsum, path string) []Change {
	var out []Change
	groups := [][]string{{"not"}, {"if", "then", "else"}, {"contains", "minContains", "maxContains"}, {"$dynamicRef"}}
	for _, g := range groups {
		if n.has(g[0]) && !c.writerHasGroup(ws, n, g) {
			out = append(out, unsupportedChange(childPath(path, g[0]), strings.Join(g, "/")))
		}
	}
	if n.has("$ref") {
		if _, local := n.localRef(); !local && !c.writerHasGroup(ws, n, []string{"$ref"}) {
			out = append(out, unsupportedChange(childPath(path, "$ref"), "a remote or unresolvable $ref"))
		}
	}
	for _, kw := range []string{"dependentSchemas", "dependencies"} {
		v, ok := n.kw(kw)
		if !ok {
			continue
		}
		dm, _ := v.(map[string]any)
		for _, name := range sortedKeys(dm) {
			if _, isArr := dm[name].([]any); isArr {
				continue
			}
			if !c.writerHasDependentSchema(ws, n, kw, name) {
				out = append(out, unsupportedChange(childPath(path, kw, name), kw+" (schema form)"))
			}
		}
	}
	wholeNode := ""
	if n.has("unevaluatedProperties") && c.modelOf(n).dynamic {
		wholeNode = "unevaluatedProperties beside anyOf/oneOf/if/dependentSchemas"
	} else if n.has("unevaluatedItems") && itemModelOf(n).dynamic {
		wholeNode = "unevaluatedItems beside other applicators"
	}
	if wholeNode != "" && !c.writerHasSameNode(ws, n) {
		kw := "unevaluatedProperties"
		if !n.has(kw) {
			kw = "unevaluatedItems"
		}
		out = append(out, unsupportedChange(childPath(path, kw), wholeNode))
	}
	return out
}

func unsupportedChange(p, what string) Change {
	return Change{Path: p, Rule: RuleUnsupportedKeywordChanged, Message: fmt.Sprintf(
		"Herald does not analyse %s, so %s may have it here only if %s has the identical keyword at the same place, and it does not",
		what, readerRef, writerRef)}
}

func (c *checker) writerHasGroup(ws *wsum, n node, group []string) bool {
	for _, m := range ws.flat {
		if m.isSynthetic() || !m.has(group[0]) {
			continue
		}
		same := true
		for _, kw := range group {
			if n.has(kw) != m.has(kw) || (n.has(kw) && !c.sameKeyword(n, m, kw)) {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	return false
}

func (c *checker) writerHasDependentSchema(ws *wsum, n node, kw, name string) bool {
	a, _ := n.child(kw, name)
	for _, m := range ws.flat {
		for _, wkw := range []string{"dependentSchemas", "dependencies"} {
			if !m.has(wkw) {
				continue
			}
			if b, ok := m.child(wkw, name); ok && c.sameSchema(a, b) {
				if _, isArr := b.v.([]any); !isArr {
					return true
				}
			}
		}
	}
	return false
}

func (c *checker) writerHasSameNode(ws *wsum, n node) bool {
	for _, m := range ws.flat {
		if !m.isSynthetic() && c.sameSchema(n, m) {
			return true
		}
	}
	return false
}

// sameSchema reports whether two schemas are identical in every keyword
// that has an effect, following local references (annotations such as
// title, description and default are ignored). Equal answers are proofs.
func (c *checker) sameSchema(a, b node) bool {
	return c.eq(a, b, map[string]bool{})
}

func (c *checker) sameKeyword(a, b node, kw string) bool {
	return c.eqKeyword(a, b, kw, map[string]bool{})
}

func (c *checker) eq(a, b node, seen map[string]bool) bool {
	ab, aBool := a.v.(bool)
	bb, bBool := b.v.(bool)
	switch {
	case aBool && bBool:
		return ab == bb
	case aBool:
		return ab && b.trivial()
	case bBool:
		return bb && a.trivial()
	}
	if a.obj() == nil || b.obj() == nil || a.dialect() != b.dialect() {
		return false
	}
	k := a.key() + "|" + b.key()
	if seen[k] {
		return true
	}
	seen[k] = true
	for _, m := range []map[string]any{a.obj(), b.obj()} {
		for kw := range m {
			if a.has(kw) != b.has(kw) {
				return false
			}
			if a.has(kw) && !c.eqKeyword(a, b, kw, seen) {
				return false
			}
		}
	}
	return true
}

func (c *checker) eqKeyword(a, b node, kw string, seen map[string]bool) bool {
	av, _ := a.kw(kw)
	bv, _ := b.kw(kw)
	switch kw {
	case "$ref", "$dynamicRef":
		as, _ := av.(string)
		bs, _ := bv.(string)
		ta, oka := a.resolve(as)
		tb, okb := b.resolve(bs)
		if oka && okb {
			return c.eq(ta, tb, seen)
		}
		return !oka && !okb && absoluteRef(a, as) == absoluteRef(b, bs)
	case "properties", "patternProperties", "dependentSchemas", "dependencies":
		am, _ := av.(map[string]any)
		bm, _ := bv.(map[string]any)
		if len(am) != len(bm) {
			return false
		}
		for name := range am {
			ca, _ := a.child(kw, name)
			cb, ok := b.child(kw, name)
			if !ok {
				return false
			}
			_, aArr := ca.v.([]any)
			_, bArr := cb.v.([]any)
			if aArr || bArr {
				if !jsonEqual(ca.v, cb.v) {
					return false
				}
			} else if !c.eq(ca, cb, seen) {
				return false
			}
		}
		return true
	case "allOf", "anyOf", "oneOf", "prefixItems", "items":
		aa, aArr := av.([]any)
		ba, bArr := bv.([]any)
		if aArr != bArr {
			return false
		}
		if !aArr {
			ca, _ := a.child(kw)
			cb, _ := b.child(kw)
			return c.eq(ca, cb, seen)
		}
		if len(aa) != len(ba) {
			return false
		}
		ac, bc := a.children(kw), b.children(kw)
		for i := range ac {
			if !c.eq(ac[i], bc[i], seen) {
				return false
			}
		}
		return true
	}
	if contains(singleSchemaKws, kw) {
		ca, _ := a.child(kw)
		cb, _ := b.child(kw)
		return c.eq(ca, cb, seen)
	}
	return jsonEqual(av, bv)
}

func absoluteRef(n node, ref string) string {
	if n.base == nil {
		return ref
	}
	u, err := n.base.Parse(ref)
	if err != nil {
		return ref
	}
	return u.String()
}
