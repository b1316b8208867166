package compat

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// got renders changes as "rule@path", or with withVersion as
// "rule@path@vN@direction", sorted.
func got(changes []Change, withVersion bool) []string {
	out := []string{}
	for _, c := range changes {
		s := c.Rule + "@" + c.Path
		if withVersion {
			s += fmt.Sprintf("@v%d@%s", c.Version, c.Direction)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	slices.Sort(out)
	return out
}

func TestDifferences_Pairs(t *testing.T) {
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			back, err := Differences([]byte(p.new), []byte(p.old))
			if err != nil {
				t.Fatal(err)
			}
			if g, w := got(back, false), sorted(p.back); !slices.Equal(g, w) {
				t.Errorf("backward (new reads old): got %v, want %v\n%s", g, w, explain(back))
			}
			fwd, err := Differences([]byte(p.old), []byte(p.new))
			if err != nil {
				t.Fatal(err)
			}
			if g, w := got(fwd, false), sorted(p.fwd); !slices.Equal(g, w) {
				t.Errorf("forward (old reads new): got %v, want %v\n%s", g, w, explain(fwd))
			}
			for _, c := range append(back, fwd...) {
				if c.Message == "" || strings.ContainsAny(c.Message, readerRef+writerRef) {
					t.Errorf("message not rendered: %q", c.Message)
				}
			}
		})
	}
}

func explain(changes []Change) string {
	var b strings.Builder
	for _, c := range changes {
		fmt.Fprintf(&b, "\t%s\n", c)
	}
	return b.String()
}

// TestCheck_EveryPairInEveryMode runs each pair as a two-version subject in
// all seven modes: NONE never complains, BACKWARD* reports the pair's
// backward changes, FORWARD* its forward ones, FULL* both.
func TestCheck_EveryPairInEveryMode(t *testing.T) {
	for _, p := range pairs {
		for _, mode := range Modes {
			t.Run(string(mode)+"/"+p.name, func(t *testing.T) {
				res, err := Check(mode, []byte(p.new), [][]byte{[]byte(p.old)})
				if err != nil {
					t.Fatal(err)
				}
				var want []string
				if mode != None {
					if mode.backward() {
						for _, w := range p.back {
							want = append(want, w+"@v1@backward")
						}
					}
					if mode.forward() {
						for _, w := range p.fwd {
							want = append(want, w+"@v1@forward")
						}
					}
				}
				want = sorted(want)
				if g := got(res.Changes, true); !slices.Equal(g, want) {
					t.Errorf("got %v, want %v\n%s", g, want, explain(res.Changes))
				}
				if res.Compatible != (len(want) == 0) {
					t.Errorf("Compatible = %v with %d changes", res.Compatible, len(res.Changes))
				}
			})
		}
	}
}

// transitiveCase is a subject with three versions where the candidate is
// compatible with the latest but not with the first.
type transitiveCase struct {
	name     string
	versions []string // oldest first; the last is the candidate
	want     map[Mode][]string
}

var transitiveCases = []transitiveCase{
	{
		// Closed models: v2 dropped "b", v3 brings "b" back with another type.
		name: "property re-added with another type",
		versions: []string{
			`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"additionalProperties":false}`,
			`{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}`,
			`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"additionalProperties":false}`,
		},
		want: map[Mode][]string{
			Backward:           nil,
			BackwardTransitive: {"type_changed@#/properties/b@v1@backward"},
			Forward:            {"property_removed_from_closed_model@#/properties/b@v2@forward"},
			ForwardTransitive: {"property_removed_from_closed_model@#/properties/b@v2@forward",
				"type_changed@#/properties/b@v1@forward"},
			Full: {"property_removed_from_closed_model@#/properties/b@v2@forward"},
			FullTransitive: {"property_removed_from_closed_model@#/properties/b@v2@forward",
				"type_changed@#/properties/b@v1@backward", "type_changed@#/properties/b@v1@forward"},
		},
	},
	{
		// Readers v1 (integer) and v2 (number); v3 writes numbers up to 10.
		name: "old reader too narrow for the new writer",
		versions: []string{
			`{"type":"object","properties":{"n":{"type":"integer"}}}`,
			`{"type":"object","properties":{"n":{"type":"number"}}}`,
			`{"type":"object","properties":{"n":{"type":"number","maximum":10}}}`,
		},
		want: map[Mode][]string{
			Backward:           {"maximum_added@#/properties/n@v2@backward"},
			BackwardTransitive: {"maximum_added@#/properties/n@v2@backward", "maximum_added@#/properties/n@v1@backward"},
			Forward:            nil,
			ForwardTransitive:  {"type_narrowed@#/properties/n@v1@forward"},
			Full:               {"maximum_added@#/properties/n@v2@backward"},
			FullTransitive: {"maximum_added@#/properties/n@v2@backward", "maximum_added@#/properties/n@v1@backward",
				"type_narrowed@#/properties/n@v1@forward"},
		},
	},
	{
		// v3 says what v2 says (anyOf instead of a type array); v1 had no null.
		name: "equivalent rewrite of a version that added null",
		versions: []string{
			`{"type":"string"}`,
			`{"type":["string","null"]}`,
			`{"anyOf":[{"type":"string"},{"type":"null"}]}`,
		},
		want: map[Mode][]string{
			Backward:           nil,
			BackwardTransitive: nil,
			Forward:            nil,
			ForwardTransitive:  {"type_changed@#@v1@forward"},
			Full:               nil,
			FullTransitive:     {"type_changed@#@v1@forward"},
		},
	},
	{
		// UserRegistered v1 -> v2 (phone) -> v3 (firstName, lastName), closed
		// models; v3 makes phone required, which v1 data does not have.
		name: "UserRegistered v3 requires phone",
		versions: []string{
			`{"type":"object","properties":{"userId":{"type":"string"},"name":{"type":"string"}},
			  "required":["userId"],"additionalProperties":false}`,
			`{"type":"object","properties":{"userId":{"type":"string"},"name":{"type":"string"},"phone":{"type":"string"}},
			  "required":["userId","phone"],"additionalProperties":false}`,
			`{"type":"object","properties":{"userId":{"type":"string"},"name":{"type":"string"},"phone":{"type":"string"},
			  "firstName":{"type":"string"},"lastName":{"type":"string"}},"required":["userId","phone"],"additionalProperties":false}`,
		},
		want: map[Mode][]string{
			Backward:           nil,
			BackwardTransitive: {"required_added@#/properties/phone@v1@backward"},
			Forward: {"property_removed_from_closed_model@#/properties/firstName@v2@forward",
				"property_removed_from_closed_model@#/properties/lastName@v2@forward"},
			ForwardTransitive: {"property_removed_from_closed_model@#/properties/firstName@v2@forward",
				"property_removed_from_closed_model@#/properties/lastName@v2@forward",
				"property_removed_from_closed_model@#/properties/firstName@v1@forward",
				"property_removed_from_closed_model@#/properties/lastName@v1@forward",
				"property_removed_from_closed_model@#/properties/phone@v1@forward"},
			Full: {"property_removed_from_closed_model@#/properties/firstName@v2@forward",
				"property_removed_from_closed_model@#/properties/lastName@v2@forward"},
			FullTransitive: {"property_removed_from_closed_model@#/properties/firstName@v2@forward",
				"property_removed_from_closed_model@#/properties/lastName@v2@forward",
				"required_added@#/properties/phone@v1@backward",
				"property_removed_from_closed_model@#/properties/firstName@v1@forward",
				"property_removed_from_closed_model@#/properties/lastName@v1@forward",
				"property_removed_from_closed_model@#/properties/phone@v1@forward"},
		},
	},
}

func TestCheck_TransitiveAgainstEveryVersion(t *testing.T) {
	for _, tc := range transitiveCases {
		prev := make([][]byte, len(tc.versions)-1)
		for i := range prev {
			prev[i] = []byte(tc.versions[i])
		}
		cand := []byte(tc.versions[len(tc.versions)-1])
		for _, mode := range Modes {
			t.Run(string(mode)+"/"+tc.name, func(t *testing.T) {
				res, err := Check(mode, cand, prev)
				if err != nil {
					t.Fatal(err)
				}
				want := sorted(tc.want[mode])
				if g := got(res.Changes, true); !slices.Equal(g, want) {
					t.Errorf("got %v, want %v\n%s", g, want, explain(res.Changes))
				}
				if res.Compatible != (len(want) == 0) {
					t.Errorf("Compatible = %v, want %v", res.Compatible, len(want) == 0)
				}
			})
		}
	}
}

func TestCheck_ChangesComeNewestVersionFirst(t *testing.T) {
	res, err := Check(BackwardTransitive, []byte(`{"type":"boolean"}`),
		[][]byte{[]byte(`{"type":"string"}`), []byte(`{"type":"integer"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 2 || res.Changes[0].Version != 2 || res.Changes[1].Version != 1 {
		t.Fatalf("changes = %v", res.Changes)
	}
	if m := strings.ToLower(res.Changes[0].Message); !strings.Contains(m, "the new schema") || !strings.Contains(m, "version 2") {
		t.Errorf("message should name the new schema and version 2: %q", res.Changes[0].Message)
	}
}

func TestCheck_NoneAndNoPreviousAreCompatible(t *testing.T) {
	incompatible := [][]byte{[]byte(`{"type":"string"}`)}
	for _, tc := range []struct {
		mode Mode
		prev [][]byte
	}{{None, incompatible}, {Backward, nil}, {FullTransitive, [][]byte{}}} {
		res, err := Check(tc.mode, []byte(`{"type":"integer"}`), tc.prev)
		if err != nil || !res.Compatible || len(res.Changes) != 0 {
			t.Errorf("%s with %d previous: %+v, %v", tc.mode, len(tc.prev), res, err)
		}
	}
}

func TestCheck_RefusesInvalidInput(t *testing.T) {
	ok := []byte(`{"type":"string"}`)
	for _, tc := range []struct {
		name      string
		mode      Mode
		cand      []byte
		prev      [][]byte
		errSubstr string
	}{
		{"unknown mode", Mode("SIDEWAYS"), ok, nil, "use one of NONE, BACKWARD"},
		{"candidate not JSON", Backward, []byte(`{"type":`), nil, "new schema is not valid JSON"},
		{"candidate invalid even under NONE", None, []byte(`{"type":5}`), nil, "new schema is invalid"},
		{"candidate not a schema", Backward, []byte(`[1,2]`), nil, "must be a JSON object or a boolean"},
		{"unsupported draft", Backward, []byte(`{"$schema":"http://json-schema.org/draft-04/schema#"}`), nil, "unsupported $schema"},
		{"previous invalid", Backward, ok, [][]byte{[]byte(`{"minLength":-1}`)}, "version 1 schema is invalid"},
		{"unresolvable local $ref", Backward, []byte(`{"$ref":"#/$defs/missing"}`), nil, "new schema is invalid"},
		{"invalid pattern", Backward, []byte(`{"pattern":"("}`), nil, "new schema is invalid"},
		{"maxLength beyond an int", Backward, []byte(`{"maxLength":18446744073709551619}`), nil, "new schema: maxLength at # is 18446744073709551619"},
		{"nested maxItems beyond an int", Backward, ok, [][]byte{[]byte(`{"properties":{"a":{"maxItems":1e400}}}`)}, "maxItems at #/properties/a"},
		{"maxProperties beyond an int", None, []byte(`{"$defs":{"o":{"maxProperties":18446744073709551616}}}`), nil, "Herald takes a count from 0 to"},
		{"multipleOf math/big cannot read", Backward, []byte(`{"multipleOf":1e-1000000000}`), nil, "exponent beyond"},
		{"minimum math/big cannot read", Backward, ok, [][]byte{[]byte(`{"minimum":1e2000000}`)}, "version 1 schema: the number 1e2000000 at #/minimum"},
		{"remote $ref with a pointer", Backward, []byte(`{"$ref":"https://schemas.example.com/common.json#/$defs/money"}`), nil,
			"a remote $ref may name a whole document but not a location inside one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Check(tc.mode, tc.cand, tc.prev)
			if err == nil || !strings.Contains(err.Error(), tc.errSubstr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.errSubstr)
			}
			if strings.Contains(err.Error(), "herald.invalid") {
				t.Errorf("the error shows Herald's internal URL: %v", err)
			}
			if tc.mode == Mode("SIDEWAYS") {
				if !errors.Is(err, ErrUnknownMode) || errors.Is(err, ErrInvalidSchema) {
					t.Errorf("errors.Is(ErrUnknownMode) should hold alone: %v", err)
				}
			} else if !errors.Is(err, ErrInvalidSchema) {
				t.Errorf("errors.Is(err, ErrInvalidSchema) = false: %v", err)
			}
		})
	}
}

func TestDifferences_RefusesInvalidSchemas(t *testing.T) {
	if _, err := Differences([]byte(`{"type":"strin"}`), []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "reader schema is invalid") {
		t.Errorf("reader: %v", err)
	}
	if _, err := Differences([]byte(`{}`), []byte(`{"required":"a"}`)); err == nil || !strings.Contains(err.Error(), "writer schema is invalid") {
		t.Errorf("writer: %v", err)
	}
}

func TestParseMode_IgnoresCase(t *testing.T) {
	for in, want := range map[string]Mode{"backward": Backward, " Full_Transitive ": FullTransitive, "NONE": None} {
		if m, err := ParseMode(in); err != nil || m != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, m, err)
		}
	}
	if _, err := ParseMode("full-transitive"); err == nil || !strings.Contains(err.Error(), "FULL_TRANSITIVE") {
		t.Errorf("error should list the valid modes: %v", err)
	}
}

// TestDifferences_RecursionWithoutProgress: a reference that loops back to
// itself without descending into the document is never assumed; a validator
// cannot finish such a schema. The second case was found by the fuzzer.
func TestDifferences_RecursionWithoutProgress(t *testing.T) {
	for _, r := range []string{
		`{"$defs":{"a":{"anyOf":[{"$ref":"#/$defs/a"}]}},"$ref":"#/$defs/a"}`,
		`{"$defs":{"d":{"$ref":"#/$defs/d","type":"string"}},"$ref":"#/$defs/d"}`,
	} {
		ch, err := Differences([]byte(r), []byte(`{"type":"string"}`))
		if err != nil {
			t.Fatal(err)
		}
		if len(ch) == 0 || !strings.Contains(explain(ch), RuleRecursionNotAnalysable) {
			t.Errorf("%s: want %s, got\n%s", r, RuleRecursionNotAnalysable, explain(ch))
		}
	}
}

// TestDifferences_StopsAtTheAnalysisLimit: a writer that is an allOf of many
// unions is split into exponentially many cases; Herald stops and says so.
func TestDifferences_StopsAtTheAnalysisLimit(t *testing.T) {
	var branches []string
	for i := 0; i < 12; i++ {
		branches = append(branches, fmt.Sprintf(`{"anyOf":[{"minLength":%d},{"maxLength":%d},{"pattern":"a"},{"format":"email"}]}`, i, i+20))
	}
	w := `{"type":"string","allOf":[` + strings.Join(branches, ",") + `]}`
	ch, err := Differences([]byte(`{"type":"string","format":"date"}`), []byte(w))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(explain(ch), RuleAnalysisLimitExceeded) {
		t.Fatalf("want %s, got %d changes", RuleAnalysisLimitExceeded, len(ch))
	}
}

// TestRules_EveryRuleHasATableCase keeps the table honest: each rule appears
// in some expected verdict (the two "could not analyse" rules have their own
// tests above).
func TestRules_EveryRuleHasATableCase(t *testing.T) {
	seen := map[string]bool{RuleRecursionNotAnalysable: true, RuleAnalysisLimitExceeded: true}
	for _, p := range pairs {
		for _, w := range append(append([]string{}, p.back...), p.fwd...) {
			seen[strings.SplitN(w, "@", 2)[0]] = true
		}
	}
	for _, r := range Rules {
		if !seen[r] {
			t.Errorf("rule %s has no case in pairs_test.go", r)
		}
	}
	if len(pairs) < 40 {
		t.Errorf("only %d pairs", len(pairs))
	}
}

// TestDocs_ExplainEveryRule: docs/schemas.md has a row for every rule.
func TestDocs_ExplainEveryRule(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "schemas.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Rules {
		if !strings.Contains(string(b), "`"+r+"`") {
			t.Errorf("docs/schemas.md does not explain %s", r)
		}
	}
}

// TestDifferences_HugeNumbersStayCautious: numbers beyond exact arithmetic
// never prove anything, and equal ones still compare equal.
func TestDifferences_HugeNumbersStayCautious(t *testing.T) {
	for _, tc := range []struct {
		reader, writer string
		want           string // a rule, or "" for compatible
	}{
		{`{"minimum":1e500}`, `{"type":"number"}`, RuleMinimumAdded},
		{`{"enum":[1E500]}`, `{"enum":[1e500]}`, ""},
		{`{"enum":[10e499]}`, `{"enum":[1e500,2e500]}`, RuleEnumNarrowed},
	} {
		ch, err := Differences([]byte(tc.reader), []byte(tc.writer))
		if err != nil {
			t.Fatal(err)
		}
		if g := got(ch, false); (tc.want == "") != (len(g) == 0) || (tc.want != "" && !strings.HasPrefix(g[0], tc.want+"@")) {
			t.Errorf("R %s W %s: got %v, want %q", tc.reader, tc.writer, g, tc.want)
		}
	}
	if canonicalNumber("120.50e3") != canonicalNumber("1205e2") {
		t.Errorf("canonicalNumber: %s != %s", canonicalNumber("120.50e3"), canonicalNumber("1205e2"))
	}
}
