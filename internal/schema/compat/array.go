package compat

import (
	"fmt"
	"strconv"
)

// itemModel is an array schema's content model: the schemas of the leading
// positions (prefixItems, or draft-07's items array) and of every later one.
type itemModel struct {
	declared bool
	prefix   []node
	prefixKw string
	rest     *node // nil: any value
	restKw   string
	dynamic  bool // an unevaluatedItems Herald cannot analyse
}

func itemModelOf(n node) itemModel {
	m := itemModel{prefixKw: "prefixItems", restKw: "items"}
	if n.dialect() == draft7 {
		if v, ok := n.kw("items"); ok {
			if _, isArr := v.([]any); isArr {
				m.prefix, m.prefixKw = n.children("items"), "items"
				if s, ok := n.sub("additionalItems"); ok {
					m.rest, m.restKw = &s, "additionalItems"
				}
			} else if s, ok := n.sub("items"); ok {
				m.rest = &s
			}
			m.declared = true
		}
		return m
	}
	m.prefix = n.children("prefixItems")
	if s, ok := n.sub("items"); ok {
		m.rest = &s
	} else if s, ok := n.sub("unevaluatedItems"); ok {
		if unevaluatedItemsIsItems(n) {
			m.rest, m.restKw = &s, "unevaluatedItems"
		} else {
			m.dynamic = true
		}
	}
	m.declared = n.has("prefixItems") || m.rest != nil
	return m
}

// unevaluatedItemsIsItems reports whether unevaluatedItems means what items
// would: no subschema in place evaluates any item.
func unevaluatedItemsIsItems(n node) bool {
	for _, kw := range []string{"allOf", "anyOf", "oneOf", "$ref", "$dynamicRef", "if", "dependentSchemas", "contains"} {
		if n.has(kw) {
			return false
		}
	}
	return true
}

func writerItemModels(ws *wsum) []itemModel {
	var out []itemModel
	for _, n := range ws.flat {
		if n.obj() == nil {
			continue
		}
		if m := itemModelOf(n); m.declared {
			out = append(out, m)
		}
	}
	return out
}

// writerMaxItems is the most items a writer array can have, if bounded.
func writerMaxItems(ws *wsum, wms []itemModel) (int64, bool) {
	wmax, has := writerCount(ws, "maxItems", false)
	for _, m := range wms {
		if m.rest != nil && m.rest.isFalse() {
			if k := int64(len(m.prefix)); !has || k < wmax {
				wmax, has = k, true
			}
		}
	}
	return wmax, has
}

// at returns the schema a model applies to position i, and whether it comes
// from the prefix.
func (m itemModel) at(i int) (*node, bool) {
	if i < len(m.prefix) {
		return &m.prefix[i], true
	}
	return m.rest, false
}

// checkArray checks the array keywords of one reader schema.
func (c *checker) checkArray(n node, ws *wsum, path string) []Change {
	if ws.types&tArray == 0 {
		return nil
	}
	var out []Change
	wms := writerItemModels(ws)
	wmax, hasMax := writerMaxItems(ws, wms)
	if rm := itemModelOf(n); rm.declared {
		out = append(out, c.checkItems(rm, wms, wmax, hasMax, path)...)
	}
	if v, ok := n.kw("minItems"); ok {
		if m, ok := toCount(v); ok && m > 0 {
			wmin, has := writerCount(ws, "minItems", true)
			if !(has && wmin >= m) && !arraysSatisfy(ws, func(a []any) bool { return int64(len(a)) >= m }) {
				out = append(out, countChange(path, "minItems", m, wmin, has, RuleMinItemsAdded, RuleMinItemsIncreased))
			}
		}
	}
	if v, ok := n.kw("maxItems"); ok {
		if m, ok := toCount(v); ok {
			if !(hasMax && wmax <= m) && !arraysSatisfy(ws, func(a []any) bool { return int64(len(a)) <= m }) {
				out = append(out, countChange(path, "maxItems", m, wmax, hasMax, RuleMaxItemsAdded, RuleMaxItemsDecreased))
			}
		}
	}
	if v, ok := n.kw("uniqueItems"); ok && v == true {
		if !writerUnique(ws) && !(hasMax && wmax <= 1) && !arraysSatisfy(ws, uniqueArray) {
			out = append(out, Change{Path: path, Rule: RuleUniqueItemsAdded, Message: fmt.Sprintf(
				"%s requires unique items, but %s allows arrays with repeated items", readerRef, writerRef)})
		}
	}
	return out
}

func (c *checker) checkItems(rm itemModel, wms []itemModel, wmax int64, hasMax bool, path string) []Change {
	var out []Change
	l := len(rm.prefix)
	for _, wm := range wms {
		l = max(l, len(wm.prefix))
	}
	for i := 0; i < l; i++ {
		if hasMax && int64(i) >= wmax {
			return out
		}
		s, fromPrefix := rm.at(i)
		if s == nil {
			continue
		}
		var wc []node
		wPrefix := false
		for _, wm := range wms {
			w, isPrefix := wm.at(i)
			wPrefix = wPrefix || isPrefix
			if w != nil {
				wc = append(wc, *w)
			}
		}
		p := childPath(path, rm.restKw)
		if fromPrefix {
			p = childPath(path, rm.prefixKw, strconv.Itoa(i))
		}
		ch := c.descend(*s, wc, p)
		switch {
		case len(ch) == 0:
		case unanalysable(ch):
			out = append(out, ch...)
		case fromPrefix && !wPrefix:
			out = append(out, Change{Path: p, Rule: RuleItemAddedToOpenModel, Message: fmt.Sprintf(
				"Item %d is declared in %s's %s but not in %s's, which allows an item there with values %s rejects: %s",
				i, readerRef, rm.prefixKw, writerRef, readerRef, firstReasons(ch))})
		case !fromPrefix && wPrefix && s.isFalse():
			out = append(out, Change{Path: p, Rule: RuleItemRemovedFromClosedModel, Message: fmt.Sprintf(
				"%s allows an item at position %d, but %s's array is closed after %s (%s: false)",
				writerRef, i, readerRef, items(len(rm.prefix)), rm.restKw)})
		default:
			out = append(out, ch...)
		}
	}
	if rm.rest == nil || (hasMax && wmax <= int64(l)) {
		return out
	}
	var wc []node
	for _, wm := range wms {
		if wm.rest != nil {
			wc = append(wc, *wm.rest)
		}
	}
	p := childPath(path, rm.restKw)
	ch := c.descend(*rm.rest, wc, p)
	switch {
	case len(ch) == 0:
	case unanalysable(ch):
		out = append(out, ch...)
	case rm.rest.isFalse():
		out = append(out, Change{Path: p, Rule: RuleAdditionalItemsNarrowed, Message: fmt.Sprintf(
			"%s allows at most %s (%s: false), but %s allows more", readerRef, items(len(rm.prefix)), rm.restKw, writerRef)})
	default:
		out = append(out, ch...)
	}
	return out
}

func writerUnique(ws *wsum) bool {
	for _, n := range ws.flat {
		if v, ok := n.kw("uniqueItems"); ok && v == true {
			return true
		}
	}
	return false
}

func arraysSatisfy(ws *wsum, ok func([]any) bool) bool {
	if !ws.hasValues {
		return false
	}
	for _, v := range ws.values {
		if a, isArr := v.([]any); isArr && !ok(a) {
			return false
		}
	}
	return true
}

func uniqueArray(a []any) bool {
	for i := range a {
		for j := i + 1; j < len(a); j++ {
			if jsonEqual(a[i], a[j]) {
				return false
			}
		}
	}
	return true
}

func items(n int) string {
	if n == 1 {
		return "1 item"
	}
	return strconv.Itoa(n) + " items"
}
