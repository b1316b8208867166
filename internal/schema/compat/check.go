package compat

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Placeholders in change messages. Differences and Check replace them with
// names the developer knows ("the reader schema", "version 2", "the new
// schema"). Every user-supplied string in a message is quoted with %q, which
// escapes these control characters, so they cannot be forged.
const (
	readerRef = "\x01"
	writerRef = "\x02"
)

// maxSteps bounds the comparisons one Differences call makes, so that a
// hostile or huge schema cannot make the registry spin.
const maxSteps = 20000

// maxValues is the largest enum Herald checks value by value.
const maxValues = 512

// checker decides whether a reader schema accepts everything a writer schema
// accepts. It is sound, not complete: an empty answer is a proof, a change
// is either a real incompatibility or something Herald could not prove.
type checker struct {
	steps      int
	depth      int            // how many instance levels (properties, items) the walk is below the root
	inProgress map[string]int // check keys under way -> depth they started at
	regexps    map[string]*regexp.Regexp
}

func newChecker() *checker {
	return &checker{inProgress: map[string]int{}, regexps: map[string]*regexp.Regexp{}}
}

// regexp compiles a patternProperties pattern once per check; nil if it
// does not compile (the validator refuses such a schema before this point).
func (c *checker) regexp(src string) *regexp.Regexp {
	re, ok := c.regexps[src]
	if !ok {
		re, _ = regexp.Compile(src)
		c.regexps[src] = re
	}
	return re
}

// wset is the writer side of a comparison: a conjunction of schemas (every
// writer value satisfies all of them), with the unions already split.
type wset struct {
	nodes []node
	done  []string // anyOf/oneOf keywords already case-split, by node key + keyword
}

// wsum is what the checker knows about a writer conjunction.
type wsum struct {
	wset
	flat      []node  // the conjunction with $ref and allOf expanded
	types     typeSet // the types a writer value can have
	values    []any   // with hasValues: every value the writer allows is one of these
	hasValues bool
	empty     bool // provably no writer value at all
}

func (s *wsum) key() string {
	keys := make([]string, 0, len(s.flat)+len(s.done))
	for _, n := range s.flat {
		keys = append(keys, n.key())
	}
	sort.Strings(keys)
	return strings.Join(keys, ",") + "|" + strings.Join(s.done, ",")
}

// describe says in words what the writer allows, for messages.
func (s *wsum) describe() string {
	if s.hasValues {
		return "the values " + describeValues(s.values)
	}
	if s.types == tAll {
		return "values of any type"
	}
	return "values of type " + s.types.String()
}

// check lists why some value valid under the writer conjunction w may be
// invalid under r. path is the logical location of r, e.g. "#/properties/a".
func (c *checker) check(r node, w wset, path string) []Change {
	if c.steps >= maxSteps {
		return []Change{{Path: path, Rule: RuleAnalysisLimitExceeded, Message: fmt.Sprintf(
			"The schemas are too large or too recursive for Herald to compare completely "+
				"(more than %d comparisons); simplify them or register with compatibility NONE", maxSteps)}}
	}
	c.steps++
	if r.trivial() {
		return nil
	}
	ws := c.summarize(w)
	if ws.empty {
		return nil
	}
	key := r.key() + "|" + ws.key()
	if d, ok := c.inProgress[key]; ok {
		if c.depth > d {
			return nil // a recursive schema compared with itself one level down: assume it, prove the rest
		}
		return []Change{{Path: path, Rule: RuleRecursionNotAnalysable, Message: readerRef +
			" refers back to itself here without descending into a property or item; " +
			"Herald cannot analyse such a reference"}}
	}
	c.inProgress[key] = c.depth
	defer delete(c.inProgress, key)

	if ws.hasValues && len(ws.values) <= maxValues && c.readerAccepts(r, ws.values) {
		return nil
	}
	rflat, cyclic := c.flattenCycles([]node{r})
	if cyclic {
		return []Change{{Path: path, Rule: RuleRecursionNotAnalysable, Message: readerRef +
			" refers back to itself here through $ref or allOf without descending into a property or item; " +
			"a validator cannot finish such a schema"}}
	}
	changes := c.direct(rflat, ws, path)
	if len(changes) == 0 {
		return nil
	}
	if split, ok := c.splitWriter(r, ws, path); ok {
		return split
	}
	return changes
}

// descend checks r against the writer schemas w one instance level down.
func (c *checker) descend(r node, w []node, path string) []Change {
	c.depth++
	defer func() { c.depth-- }()
	return c.check(r, wset{nodes: w}, path)
}

// direct checks every keyword of every reader schema in the conjunction.
func (c *checker) direct(rnodes []node, ws *wsum, path string) []Change {
	var out []Change
	for _, n := range rnodes {
		if n.isFalse() {
			out = append(out, Change{Path: path, Rule: RuleSchemaRejectsEverything, Message: fmt.Sprintf(
				"%s is false here and rejects every value, but %s allows %s", readerRef, writerRef, ws.describe())})
			continue
		}
		if n.obj() == nil {
			continue
		}
		out = append(out, c.checkType(n, ws, path)...)
		out = append(out, c.checkValues(n, ws, path)...)
		out = append(out, c.checkNumbers(n, ws, path)...)
		out = append(out, c.checkStrings(n, ws, path)...)
		out = append(out, c.checkObject(n, ws, path)...)
		out = append(out, c.checkArray(n, ws, path)...)
		out = append(out, c.checkUnions(n, ws, path)...)
		out = append(out, c.checkUnsupported(n, ws, path)...)
	}
	return out
}

// flatten expands $ref and allOf into one conjunction of schemas, each once.
func (c *checker) flatten(start []node) []node {
	out, _ := c.flattenCycles(start)
	return out
}

// flattenCycles is flatten that also reports an in-place reference cycle
// ($ref or allOf leading back to a schema being expanded, with no property
// or item in between). A validator cannot finish such a schema and rejects
// the value, so a reader with one is not analysable; a writer's is dropped,
// which only weakens the writer.
func (c *checker) flattenCycles(start []node) ([]node, bool) {
	seen, onPath := map[string]bool{}, map[string]bool{}
	cyclic := false
	var out []node
	var visit func(n node)
	visit = func(n node) {
		k := n.key()
		if onPath[k] {
			cyclic = true
		}
		if seen[k] {
			return
		}
		seen[k], onPath[k] = true, true
		defer delete(onPath, k)
		if n.obj() == nil {
			out = append(out, n)
			return
		}
		if n.dialect() == draft7 && n.has("$ref") {
			if t, ok := n.localRef(); ok {
				visit(t) // draft-07: $ref replaces the whole schema
				return
			}
			out = append(out, n)
			return
		}
		out = append(out, n)
		if t, ok := n.localRef(); ok {
			visit(t)
		}
		for _, ch := range n.children("allOf") {
			visit(ch)
		}
	}
	for _, n := range start {
		visit(n)
	}
	return out, cyclic
}

// summarize works out the types and values a writer conjunction allows.
func (c *checker) summarize(w wset) *wsum {
	s := &wsum{wset: w, types: tAll}
	s.flat = c.flatten(w.nodes)
	for _, n := range s.flat {
		if n.isFalse() {
			s.empty = true
			return s
		}
		if t, ok := n.kw("type"); ok {
			s.types &= parseTypes(t)
		}
		if m, ok := n.kw("multipleOf"); ok {
			if r, ok := toRat(m); ok && r.IsInt() {
				s.types &^= tFrac
			}
		}
		if vs, ok := valueSet(n); ok && len(vs) <= maxValues {
			// A larger enum is left out: that only weakens the writer.
			if s.hasValues {
				s.values = intersectValues(s.values, vs)
			} else {
				s.values, s.hasValues = vs, true
			}
		}
	}
	if s.hasValues {
		var kept []any
		var vt typeSet
		for _, v := range s.values {
			if typeOfValue(v)&s.types == 0 {
				continue
			}
			if len(s.values) <= maxValues && !writerAccepts(s.flat, v) {
				continue
			}
			kept = append(kept, v)
			vt |= typeOfValue(v)
		}
		s.values = kept
		s.types &= vt
	}
	s.empty = s.types == 0
	return s
}

// writerAccepts reports whether v is valid under every writer schema.
func writerAccepts(nodes []node, v any) bool {
	for _, n := range nodes {
		if !acceptsValue(n, v) {
			return false
		}
	}
	return true
}

// readerAccepts reports whether every value is valid under r.
func (c *checker) readerAccepts(r node, values []any) bool {
	for _, v := range values {
		if !acceptsValue(r, v) {
			return false
		}
	}
	return true
}

// acceptsValue validates v under a node: a document's subschema with the
// real validator, a synthetic schema by its only keyword.
func acceptsValue(n node, v any) bool {
	if !n.isSynthetic() {
		return n.doc.validate(n.ptr, v)
	}
	if b, ok := n.v.(bool); ok {
		return b
	}
	if t, ok := n.obj()["type"]; ok {
		return typeOfValue(v)&parseTypes(t) != 0
	}
	return true
}

// splitWriter retries the check once for each branch of the first writer
// anyOf/oneOf not yet split: a value valid under the writer is valid under
// one of its branches. ok is false when the writer has no union to split.
func (c *checker) splitWriter(r node, ws *wsum, path string) ([]Change, bool) {
	for _, n := range ws.flat {
		for _, kw := range []string{"anyOf", "oneOf"} {
			id := n.key() + "/" + kw
			branches := n.children(kw)
			if len(branches) == 0 || contains(ws.done, id) {
				continue
			}
			var out []Change
			for i, b := range branches {
				nodes := append(append([]node(nil), ws.nodes...), b)
				done := append(append([]string(nil), ws.done...), id)
				for _, ch := range c.check(r, wset{nodes: nodes, done: done}, path) {
					ch.Message = fmt.Sprintf("For values matching branch %d of %s's %s: %s", i, writerRef, kw, ch.Message)
					out = append(out, ch)
				}
			}
			return out, true
		}
	}
	return nil, false
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// childPath appends pointer tokens to a change path.
func childPath(path string, tokens ...string) string {
	var b strings.Builder
	b.WriteString(path)
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(escapeToken(t))
	}
	return b.String()
}

// unanalysable reports whether every change says Herald could not analyse
// the schema. Such reasons are passed on as they are, never summarised under
// a rule that would claim a narrowing.
func unanalysable(changes []Change) bool {
	for _, ch := range changes {
		if ch.Rule != RuleRecursionNotAnalysable && ch.Rule != RuleAnalysisLimitExceeded {
			return false
		}
	}
	return len(changes) > 0
}

// firstReasons joins the messages of nested changes for a summary change.
func firstReasons(changes []Change) string {
	var parts []string
	for i, ch := range changes {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(changes)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%s at %s)", strings.TrimSuffix(ch.Message, "."), ch.Rule, ch.Path))
	}
	return strings.Join(parts, "; ")
}
