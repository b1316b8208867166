package compat

import (
	"fmt"
	"regexp"
)

// propModel is an object schema's content model: which schema applies to a
// property of a given name.
//
//	open            additionalProperties absent or true: any other property, any value
//	closed          additionalProperties false: no other property
//	partially open  additionalProperties a schema, or patternProperties: other
//	                properties allowed with the values that schema accepts
//
// unevaluatedProperties plays the role of additionalProperties when the
// properties "evaluated" by the schema are known statically (see unevaluated).
type propModel struct {
	declared bool // the schema has any content-model keyword
	names    []string
	props    map[string]node
	patterns []patternSchema
	extra    *node // the schema for any other property; nil: any value
	extraKw  string
	dynamic  bool // an unevaluatedProperties Herald cannot analyse
}

type patternSchema struct {
	src string
	re  *regexp.Regexp
	s   node
}

func (c *checker) modelOf(n node) propModel {
	m := propModel{props: map[string]node{}}
	if pv, ok := n.kw("properties"); ok {
		pm, _ := pv.(map[string]any)
		for k := range pm {
			if ch, ok := n.child("properties", k); ok {
				m.props[k] = ch
			}
		}
		m.declared = true
	}
	if pv, ok := n.kw("patternProperties"); ok {
		pm, _ := pv.(map[string]any)
		for _, k := range sortedKeys(pm) {
			re := c.regexp(k)
			ch, ok := n.child("patternProperties", k)
			if re != nil && ok {
				m.patterns = append(m.patterns, patternSchema{src: k, re: re, s: ch})
			}
		}
		m.declared = true
	}
	if n.has("additionalProperties") {
		s, _ := n.child("additionalProperties")
		m.extra, m.extraKw, m.declared = &s, "additionalProperties", true
	} else if n.has("unevaluatedProperties") {
		c.unevaluated(n, &m)
	}
	m.names = sortedKeys(m.props)
	return m
}

// dynamicApplicators are keywords whose evaluated properties depend on the
// instance, so unevaluatedProperties beside them cannot be analysed.
var dynamicApplicators = []string{"anyOf", "oneOf", "if", "dependentSchemas", "$dynamicRef"}

// unevaluated fills the model of a schema with unevaluatedProperties: the
// properties evaluated by its allOf and $ref subschemas count as declared
// (their constraints are checked as part of the conjunction anyway).
func (c *checker) unevaluated(n node, m *propModel) {
	all := false
	for _, s := range c.flatten([]node{n}) {
		if s.obj() == nil {
			continue
		}
		if isDynamic(s) {
			m.dynamic = true
			return
		}
		if s.key() == n.key() {
			continue
		}
		if s.has("additionalProperties") || s.has("unevaluatedProperties") {
			all = true
		}
		sm := c.modelOf(s)
		for name := range sm.props {
			if _, ok := m.props[name]; !ok {
				m.props[name] = trueNode
			}
		}
		for _, p := range sm.patterns {
			m.patterns = append(m.patterns, patternSchema{src: p.src, re: p.re, s: trueNode})
		}
	}
	if all {
		return // every property is evaluated below: unevaluatedProperties never applies
	}
	s, _ := n.child("unevaluatedProperties")
	m.extra, m.extraKw, m.declared = &s, "unevaluatedProperties", true
}

func isDynamic(s node) bool {
	for _, kw := range dynamicApplicators {
		if s.has(kw) {
			return true
		}
	}
	if s.has("$ref") {
		if _, ok := s.localRef(); !ok {
			return true
		}
	}
	if v, ok := s.kw("dependencies"); ok {
		dm, _ := v.(map[string]any)
		for _, e := range dm {
			if _, isArr := e.([]any); !isArr {
				return true
			}
		}
	}
	return false
}

// schemasFor lists the schemas the model applies to a property name, and
// whether they come from additionalProperties (fromExtra).
func (m propModel) schemasFor(name string) (out []node, fromExtra bool) {
	if p, ok := m.props[name]; ok {
		out = append(out, p)
	}
	for _, p := range m.patterns {
		if p.re.MatchString(name) {
			out = append(out, p.s)
		}
	}
	if len(out) == 0 && m.extra != nil {
		return []node{*m.extra}, true
	}
	return out, false
}

// closedNames reports whether the model allows only its declared names.
func (m propModel) closedNames() bool {
	return m.extra != nil && m.extra.isFalse() && len(m.patterns) == 0
}

func (c *checker) writerModels(ws *wsum) []propModel {
	var out []propModel
	for _, n := range ws.flat {
		if n.obj() == nil {
			continue
		}
		if m := c.modelOf(n); m.declared {
			if m.dynamic {
				m.extra = nil // a writer constraint Herald cannot read is dropped: that only weakens the writer
			}
			out = append(out, m)
		}
	}
	return out
}

// checkObject checks the object keywords of one reader schema.
func (c *checker) checkObject(n node, ws *wsum, path string) []Change {
	if ws.types&tObject == 0 {
		return nil
	}
	var out []Change
	rm := c.modelOf(n)
	if rm.declared {
		out = append(out, c.checkContentModel(rm, ws, path)...)
	}
	out = append(out, c.checkRequired(n, ws, path)...)
	out = append(out, c.checkPropertyCounts(n, ws, path)...)
	out = append(out, c.checkPropertyNames(n, ws, path)...)
	out = append(out, c.checkDependentRequired(n, ws, path)...)
	return out
}

func (c *checker) checkContentModel(rm propModel, ws *wsum, path string) []Change {
	wms := c.writerModels(ws)
	seen := map[string]bool{}
	for _, m := range append([]propModel{rm}, wms...) {
		for _, k := range m.names {
			seen[k] = true
		}
	}
	var out []Change
	for _, name := range sortedKeys(seen) {
		out = append(out, c.checkProperty(name, rm, wms, path)...)
	}
	for _, rp := range rm.patterns {
		if ch := c.otherNames(rp.s, &rp, rm, wms, childPath(path, "patternProperties", rp.src)); unanalysable(ch) {
			out = append(out, ch...)
		} else if len(ch) > 0 {
			out = append(out, Change{Path: childPath(path, "patternProperties", rp.src), Rule: RulePatternPropertiesNarrowed,
				Message: fmt.Sprintf("%s's patternProperties %q does not accept every value %s allows for property names matching it: %s",
					readerRef, rp.src, writerRef, firstReasons(ch))})
		}
	}
	if rm.extra != nil {
		p := childPath(path, rm.extraKw)
		if ch := c.otherNames(*rm.extra, nil, rm, wms, p); unanalysable(ch) {
			out = append(out, ch...)
		} else if len(ch) > 0 {
			msg := fmt.Sprintf("%s's %s schema does not accept every value %s allows for properties %s does not declare: %s",
				readerRef, rm.extraKw, writerRef, readerRef, firstReasons(ch))
			if rm.extra.isFalse() {
				msg = fmt.Sprintf("%s's content model is closed (%s: false), but %s's is not, so data may contain "+
					"properties %s does not declare, and %s rejects them", readerRef, rm.extraKw, writerRef, readerRef, readerRef)
			}
			out = append(out, Change{Path: p, Rule: RuleAdditionalPropertiesNarrowed, Message: msg})
		}
	}
	return out
}

// writerFor returns the writer schemas that apply to a property name, whether
// any writer declares it, and a description of where the schemas come from.
func writerFor(wms []propModel, name string) (wc []node, declared bool, source string) {
	for _, m := range wms {
		if _, ok := m.props[name]; ok {
			declared = true
		}
		s, fromExtra := m.schemasFor(name)
		wc = append(wc, s...)
		if source == "" && len(s) > 0 && !declared {
			source = "patternProperties"
			if fromExtra {
				source = m.extraKw
			}
		}
	}
	return wc, declared, source
}

func (c *checker) checkProperty(name string, rm propModel, wms []propModel, path string) []Change {
	rs, fromExtra := rm.schemasFor(name)
	_, rDeclared := rm.props[name]
	wc, wDeclared, source := writerFor(wms, name)
	p := childPath(path, "properties", name)
	var out []Change
	for _, s := range rs {
		ch := c.descend(s, wc, p)
		if len(ch) == 0 {
			continue
		}
		switch {
		case unanalysable(ch):
			out = append(out, ch...)
		case rDeclared && !wDeclared && source == "":
			out = append(out, Change{Path: p, Rule: RulePropertyAddedToOpenModel, Message: fmt.Sprintf(
				"Property %q is declared in %s but not in %s, whose content model is open (additionalProperties is "+
					"absent or true), so %s's data may contain %q with any value: %s. To add a property safely, "+
					"the writing schema needs a closed content model (additionalProperties: false), or the new "+
					"property the schema {}", name, readerRef, writerRef, writerRef, name, firstReasons(ch))})
		case rDeclared && !wDeclared:
			out = append(out, Change{Path: p, Rule: RulePropertyAddedToPartiallyOpenModel, Message: fmt.Sprintf(
				"Property %q is declared in %s but not in %s, which allows it through its %s with values %s rejects: %s",
				name, readerRef, writerRef, source, readerRef, firstReasons(ch))})
		case !rDeclared && fromExtra && s.isFalse():
			out = append(out, Change{Path: p, Rule: RulePropertyRemovedFromClosedModel, Message: fmt.Sprintf(
				"Property %q is declared in %s but not in %s, whose content model is closed (%s: false), "+
					"so data containing %q is rejected", name, writerRef, readerRef, rm.extraKw, name)})
		case !rDeclared:
			out = append(out, Change{Path: p, Rule: RulePropertyRemovedFromPartiallyOpenModel, Message: fmt.Sprintf(
				"Property %q is declared in %s but not in %s, and the schema %s applies to it instead does not accept "+
					"every value %s allows: %s", name, writerRef, readerRef, readerRef, writerRef, firstReasons(ch))})
		default:
			out = append(out, ch...)
		}
	}
	return out
}

// otherNames checks a reader schema that applies to property names no
// schema declares (target: a patternProperties schema rp, or the
// additionalProperties schema when rp is nil).
func (c *checker) otherNames(target node, rp *patternSchema, rm propModel, wms []propModel, p string) []Change {
	if target.trivial() {
		return nil
	}
	if len(wms) == 0 {
		return c.descend(target, []node{trueNode}, p)
	}
	var first []Change
	for i, wm := range wms {
		var fails []Change
		for _, cand := range wm.otherCandidates(rp, rm) {
			fails = append(fails, c.descend(target, []node{cand}, p)...)
		}
		if len(fails) == 0 {
			return nil
		}
		if i == 0 {
			first = fails
		}
	}
	return first
}

// otherCandidates lists the schemas a writer model may apply to a name of
// the class: each must be accepted by the reader's schema for the class.
func (m propModel) otherCandidates(rp *patternSchema, rm propModel) []node {
	if rp != nil {
		for _, wp := range m.patterns {
			if wp.src == rp.src {
				return []node{wp.s}
			}
		}
	}
	var cands []node
	switch {
	case m.extra == nil:
		cands = append(cands, trueNode)
	case !m.extra.isFalse():
		cands = append(cands, *m.extra)
	}
	for _, wp := range m.patterns {
		if rp == nil && rm.hasPattern(wp.src) {
			continue // such names fall under the reader's own patternProperties
		}
		cands = append(cands, wp.s)
	}
	return cands
}

func (m propModel) hasPattern(src string) bool {
	for _, p := range m.patterns {
		if p.src == src {
			return true
		}
	}
	return false
}

func stringList(v any) []string {
	arr, _ := v.([]any)
	var out []string
	for _, e := range arr {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func writerRequires(ws *wsum, name string) bool {
	for _, n := range ws.flat {
		if v, ok := n.kw("required"); ok && contains(stringList(v), name) {
			return true
		}
	}
	return false
}

func objectsSatisfy(ws *wsum, ok func(map[string]any) bool) bool {
	if !ws.hasValues {
		return false
	}
	for _, v := range ws.values {
		if o, isObj := v.(map[string]any); isObj && !ok(o) {
			return false
		}
	}
	return true
}

// checkRequired: every property the reader requires, the writer must require.
// A default does not help: validation never fills defaults in.
func (c *checker) checkRequired(n node, ws *wsum, path string) []Change {
	v, ok := n.kw("required")
	if !ok {
		return nil
	}
	var out []Change
	for _, name := range stringList(v) {
		if writerRequires(ws, name) || objectsSatisfy(ws, func(o map[string]any) bool { _, has := o[name]; return has }) {
			continue
		}
		msg := fmt.Sprintf("%s requires property %q, but %s does not, so data without %q is rejected", readerRef, name, writerRef, name)
		if prop, ok := n.child("properties", name); ok && prop.obj() != nil {
			if _, hasDefault := prop.obj()["default"]; hasDefault {
				msg += " (its default does not help: JSON Schema validation never fills in defaults)"
			}
		}
		out = append(out, Change{Path: childPath(path, "properties", name), Rule: RuleRequiredAdded, Message: msg})
	}
	return out
}

func (c *checker) checkPropertyCounts(n node, ws *wsum, path string) []Change {
	var out []Change
	if v, ok := n.kw("minProperties"); ok {
		if m, ok := toCount(v); ok && m > 0 {
			wmin, has := writerCount(ws, "minProperties", true)
			proven := (has && wmin >= m) || int64(len(writerRequiredNames(ws))) >= m ||
				objectsSatisfy(ws, func(o map[string]any) bool { return int64(len(o)) >= m })
			if !proven {
				out = append(out, countChange(path, "minProperties", m, wmin, has, RuleMinPropertiesAdded, RuleMinPropertiesIncreased))
			}
		}
	}
	if v, ok := n.kw("maxProperties"); ok {
		if m, ok := toCount(v); ok {
			wmax, has := writerCount(ws, "maxProperties", false)
			for _, wm := range c.writerModels(ws) {
				if wm.closedNames() {
					if k := int64(countAllowed(wm)); !has || k < wmax {
						wmax, has = k, true
					}
				}
			}
			if !(has && wmax <= m) && !objectsSatisfy(ws, func(o map[string]any) bool { return int64(len(o)) <= m }) {
				out = append(out, countChange(path, "maxProperties", m, wmax, has, RuleMaxPropertiesAdded, RuleMaxPropertiesDecreased))
			}
		}
	}
	return out
}

func writerRequiredNames(ws *wsum) map[string]bool {
	names := map[string]bool{}
	for _, n := range ws.flat {
		if v, ok := n.kw("required"); ok {
			for _, s := range stringList(v) {
				names[s] = true
			}
		}
	}
	return names
}

func countAllowed(m propModel) int {
	k := 0
	for _, s := range m.props {
		if !s.isFalse() {
			k++
		}
	}
	return k
}

// checkPropertyNames: the reader's propertyNames must accept every name the
// writer allows.
func (c *checker) checkPropertyNames(n node, ws *wsum, path string) []Change {
	s, ok := n.sub("propertyNames")
	if !ok {
		return nil
	}
	p := childPath(path, "propertyNames")
	w := []node{synthetic(map[string]any{"type": "string"})}
	for _, wn := range ws.flat {
		if ws, ok := wn.sub("propertyNames"); ok {
			w = append(w, ws)
		}
	}
	ch := c.descend(s, w, p)
	if len(ch) == 0 || unanalysable(ch) {
		return ch
	}
	for _, wm := range c.writerModels(ws) {
		if wm.closedNames() && namesAccepted(s, wm.names) {
			return nil
		}
	}
	rule := RulePropertyNamesAdded
	if len(w) > 1 {
		rule = RulePropertyNamesNarrowed
	}
	return []Change{{Path: p, Rule: rule, Message: fmt.Sprintf(
		"%s's propertyNames rejects property names %s allows: %s", readerRef, writerRef, firstReasons(ch))}}
}

func namesAccepted(s node, names []string) bool {
	for _, name := range names {
		if !acceptsValue(s, name) {
			return false
		}
	}
	return true
}

// checkDependentRequired: "if a is present, b must be" in the reader must
// hold for the writer too.
func (c *checker) checkDependentRequired(n node, ws *wsum, path string) []Change {
	var out []Change
	for _, kw := range []string{"dependentRequired", "dependencies"} {
		v, ok := n.kw(kw)
		if !ok {
			continue
		}
		dm, _ := v.(map[string]any)
		for _, a := range sortedKeys(dm) {
			deps, isArr := dm[a].([]any)
			if !isArr {
				continue // a schema dependency: see checkUnsupported
			}
			for _, d := range stringList(deps) {
				if writerRequires(ws, d) || writerDependsOn(ws, a, d) {
					continue
				}
				out = append(out, Change{Path: childPath(path, kw, a), Rule: RuleDependentRequiredAdded, Message: fmt.Sprintf(
					"%s requires property %q whenever %q is present, but %s does not", readerRef, d, a, writerRef)})
			}
		}
	}
	return out
}

func writerDependsOn(ws *wsum, a, d string) bool {
	for _, n := range ws.flat {
		for _, kw := range []string{"dependentRequired", "dependencies"} {
			if v, ok := n.kw(kw); ok {
				dm, _ := v.(map[string]any)
				if deps, isArr := dm[a].([]any); isArr && contains(stringList(deps), d) {
					return true
				}
			}
		}
	}
	return false
}
