// Package compat decides whether one JSON Schema can stand in for another,
// the check behind the schema registry's compatibility modes (the modes and
// their meaning follow Confluent Schema Registry).
//
// The question underneath every mode is one of subsumption: can a reader
// schema R read every document that a writer schema W allows? Differences
// answers it soundly: when it returns no change, every document valid under
// W is valid under R (the semantic test in this package checks exactly
// that with a real validator). Where Herald cannot prove it, it says so
// with a Change, never by guessing. Each Change names a stable rule
// (rules.go) that docs/schemas.md explains for users.
//
// How the walk works:
//
//   - The writer side is a conjunction of schemas (allOf and $ref expanded).
//     Herald summarises it: the types and, with enum/const, the exact values
//     it allows (each checked with the validator, so an enum value a writer
//     rejects for another reason is left out).
//   - Every keyword of every reader schema must be implied by that
//     conjunction: type, enum/const, number and string limits, the object
//     content model (properties, patternProperties, additionalProperties,
//     unevaluatedProperties), required, arrays (prefixItems, items, counts),
//     anyOf/oneOf.
//   - When that fails and the writer has an anyOf/oneOf, Herald retries once
//     per writer branch, since a writer value matches at least one branch.
//   - Recursive schemas are compared coinductively: a pair under comparison
//     met again one property or item deeper is assumed, which is sound
//     because documents are finite.
//   - Keywords Herald does not analyse (not, if/then/else, contains,
//     dependentSchemas, remote $ref, …) must be identical in the writer.
package compat

import (
	"errors"
	"fmt"
	"strings"
)

// Mode is a subject's compatibility mode.
type Mode string

// The compatibility modes, as in Confluent Schema Registry.
const (
	None               Mode = "NONE"
	Backward           Mode = "BACKWARD"
	BackwardTransitive Mode = "BACKWARD_TRANSITIVE"
	Forward            Mode = "FORWARD"
	ForwardTransitive  Mode = "FORWARD_TRANSITIVE"
	Full               Mode = "FULL"
	FullTransitive     Mode = "FULL_TRANSITIVE"
)

// Modes lists every mode.
var Modes = []Mode{None, Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive}

// ParseMode reads a mode name, ignoring case and surrounding space.
func ParseMode(s string) (Mode, error) {
	m := Mode(strings.ToUpper(strings.TrimSpace(s)))
	for _, v := range Modes {
		if m == v {
			return m, nil
		}
	}
	names := make([]string, len(Modes))
	for i, v := range Modes {
		names[i] = string(v)
	}
	return "", fmt.Errorf("%w %q: use one of %s", ErrUnknownMode, s, strings.Join(names, ", "))
}

// ErrUnknownMode is wrapped by the error for a mode name that is not one of Modes.
var ErrUnknownMode = errors.New("unknown compatibility mode")

func (m Mode) backward() bool {
	return m == Backward || m == BackwardTransitive || m == Full || m == FullTransitive
}

func (m Mode) forward() bool {
	return m == Forward || m == ForwardTransitive || m == Full || m == FullTransitive
}

func (m Mode) transitive() bool {
	return m == BackwardTransitive || m == ForwardTransitive || m == FullTransitive
}

// Change is one incompatibility: where (a JSON path into the schema, e.g.
// "#/properties/address/properties/zip"), which rule (a stable identifier
// such as "property_removed_from_closed_model") and a sentence a developer
// understands.
type Change struct {
	Path    string `json:"path"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
	// Version is, in Check, the previous version (1-based index into
	// previous; in CheckVersions, its number) this change breaks against.
	Version int `json:"version,omitempty"`
	// Direction is "backward" (the new schema reads old data) or "forward"
	// (old schemas read new data).
	Direction string `json:"direction,omitempty"`
}

func (c Change) String() string { return c.Path + ": " + c.Rule + ": " + c.Message }

// Differences lists why a reader schema cannot read every document valid
// under the writer schema (empty: it can). Both are JSON Schema documents
// (draft 2020-12 or draft-07; without $schema, 2020-12); an invalid schema
// is an error.
func Differences(reader, writer []byte) ([]Change, error) {
	r, err := parseDocument("reader", roleReader, reader)
	if err != nil {
		return nil, err
	}
	w, err := parseDocument("writer", roleWriter, writer)
	if err != nil {
		return nil, err
	}
	return render(differences(r, w), "the reader schema", "the writer schema"), nil
}

func differences(r, w *document) []Change {
	return newChecker().check(rootNode(r), wset{nodes: []node{rootNode(w)}}, "#")
}

// Result is a compatibility verdict.
type Result struct {
	Compatible bool     `json:"is_compatible"`
	Changes    []Change `json:"messages"`
}

// Check decides whether candidate may follow previous (oldest first) under
// mode. BACKWARD: candidate reads data written with the latest previous;
// FORWARD: the latest previous reads data written with candidate; FULL:
// both; *_TRANSITIVE: against every previous version; NONE: always
// compatible. No previous versions: compatible. The candidate must be a
// valid schema in every mode. Changes come newest version first.
func Check(mode Mode, candidate []byte, previous [][]byte) (Result, error) {
	versions := make([]Version, len(previous))
	for i, p := range previous {
		versions[i] = Version{N: i + 1, Schema: p}
	}
	return CheckVersions(mode, candidate, versions)
}

// Version is a previous version of a subject: its number, as the subject
// numbers it, and its schema.
type Version struct {
	N      int
	Schema []byte
}

// CheckVersions is Check with the previous versions (oldest first)
// numbered by the caller: each change and its message name the version
// by its number, as when earlier versions were deleted.
func CheckVersions(mode Mode, candidate []byte, previous []Version) (Result, error) {
	if _, err := ParseMode(string(mode)); err != nil {
		return Result{}, err
	}
	candR, err := parseDocument("new", roleReader, candidate)
	if err != nil {
		return Result{}, err
	}
	if mode == None || len(previous) == 0 {
		return Result{Compatible: true, Changes: []Change{}}, nil
	}
	first := len(previous) - 1
	if mode.transitive() {
		first = 0
	}
	changes := []Change{}
	for i := len(previous) - 1; i >= first; i-- {
		ch, err := checkVersion(mode, candR, candidate, previous[i].Schema, previous[i].N)
		if err != nil {
			return Result{}, err
		}
		changes = append(changes, ch...)
	}
	return Result{Compatible: len(changes) == 0, Changes: changes}, nil
}

// checkVersion compares the candidate with one previous version.
func checkVersion(mode Mode, candR *document, candidate, prev []byte, version int) ([]Change, error) {
	name := fmt.Sprintf("version %d", version)
	var out []Change
	if mode.backward() {
		w, err := parseDocument(name, roleWriter, prev)
		if err != nil {
			return nil, err
		}
		for _, ch := range render(differences(candR, w), "the new schema", name) {
			ch.Version, ch.Direction = version, "backward"
			out = append(out, ch)
		}
	}
	if mode.forward() {
		r, err := parseDocument(name, roleReader, prev)
		if err != nil {
			return nil, err
		}
		candW, err := parseDocument("new", roleWriter, candidate)
		if err != nil {
			return nil, err
		}
		for _, ch := range render(differences(r, candW), name, "the new schema") {
			ch.Version, ch.Direction = version, "forward"
			out = append(out, ch)
		}
	}
	return out, nil
}

// render replaces the reader and writer placeholders, capitalises each
// message and drops duplicates.
func render(changes []Change, reader, writer string) []Change {
	out := []Change{}
	seen := map[Change]bool{}
	rep := strings.NewReplacer(readerRef, reader, writerRef, writer)
	for _, ch := range changes {
		ch.Message = rep.Replace(ch.Message)
		if ch.Message != "" {
			ch.Message = strings.ToUpper(ch.Message[:1]) + ch.Message[1:]
		}
		if !strings.HasSuffix(ch.Message, ".") {
			ch.Message += "."
		}
		if !seen[ch] {
			seen[ch] = true
			out = append(out, ch)
		}
	}
	return out
}
