package schema

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/schema/compat"
	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// The schemas of these tests are chosen so that their compatibility
// verdicts do not depend on the finer rules: identical schemas, and a
// property whose type changes from string to integer (incompatible both
// ways). Subjects that need several versions are set to NONE.
const (
	userV1 = `{"type":"object","properties":{"name":{"type":"string"},"email":{"type":"string"}},"required":["name","email"]}`
	userV2 = `{"type":"object","properties":{"name":{"type":"string"},"email":{"type":"string"},"phone":{"type":"string"}},"required":["name","email"]}`
	// userBroken changes name from a string to an integer.
	userBroken = `{"type":"object","properties":{"name":{"type":"integer"},"email":{"type":"string"}},"required":["name","email"]}`
)

// env is a registry over a real log engine in a temporary directory.
type env struct {
	t       testing.TB
	dir     string
	logOpts log.Options
	eng     *log.Engine
	reg     *Registry
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	e.open()
	t.Cleanup(func() { e.eng.Close() })
	return e
}

func (e *env) open() {
	e.t.Helper()
	eng, err := log.Open(e.dir, e.logOpts)
	if err != nil {
		e.t.Fatal(err)
	}
	reg, err := Open(context.Background(), eng, Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.eng, e.reg = eng, reg
}

// reopen closes the engine and opens the registry again from its topic.
func (e *env) reopen() {
	e.t.Helper()
	if err := e.eng.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

func (e *env) register(subject, text string) SchemaVersion {
	e.t.Helper()
	v, _, err := e.reg.Register(context.Background(), subject, []byte(text))
	if err != nil {
		e.t.Fatalf("register %s: %v", subject, err)
	}
	return v
}

func (e *env) setMode(subject string, m compat.Mode) {
	e.t.Helper()
	if err := e.reg.SetCompatibility(context.Background(), subject, m); err != nil {
		e.t.Fatal(err)
	}
}

func TestRegistry_RegisterNumbersVersionsAndReturnsTheSameVersionForTheSameSchema(t *testing.T) {
	e := newEnv(t)
	e.setMode("user.registered", compat.None)
	v1 := e.register("user.registered", userV1)
	if v1.Version != 1 || v1.ID != 1 || v1.Schema != userV1 {
		t.Fatalf("first registration: %+v", v1)
	}
	// The same schema, written differently: members reordered, spaced.
	again, created, err := e.reg.Register(context.Background(), "user.registered",
		[]byte(`{ "required":["name","email"], "properties":{"email":{"type":"string"},"name":{"type":"string"}}, "type":"object" }`))
	if err != nil || created || again.Version != 1 || again.ID != 1 {
		t.Fatalf("the same schema again: %+v created %v %v, want version 1 not created", again, created, err)
	}
	v2 := e.register("user.registered", userV2)
	if v2.Version != 2 || v2.ID != 2 {
		t.Fatalf("second version: %+v", v2)
	}
	if vs, err := e.reg.Versions("user.registered", false); err != nil || !slices.Equal(vs, []int{1, 2}) {
		t.Fatalf("versions: %v %v", vs, err)
	}
	if latest, err := e.reg.Version("user.registered", Latest, false); err != nil || latest.Version != 2 || latest.Schema != userV2 {
		t.Fatalf("latest: %+v %v", latest, err)
	}
}

func TestRegistry_OneSchemaHasOneIDAcrossSubjects(t *testing.T) {
	e := newEnv(t)
	a := e.register("a.happened", userV1)
	b := e.register("b.happened", userV1)
	c := e.register("c.happened", userV2)
	if a.ID != b.ID || c.ID == a.ID || b.Version != 1 {
		t.Fatalf("ids: a %+v b %+v c %+v", a, b, c)
	}
	usages, err := e.reg.Usages(a.ID, false)
	if err != nil || len(usages) != 2 || usages[0].Subject != "a.happened" || usages[1].Subject != "b.happened" {
		t.Fatalf("usages of id %d: %+v %v", a.ID, usages, err)
	}
	if text, err := e.reg.SchemaByID(c.ID); err != nil || text != userV2 {
		t.Fatalf("schema %d: %q %v", c.ID, text, err)
	}
	if _, err := e.reg.SchemaByID(99); !errors.Is(err, ErrSchemaNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if got := e.reg.Subjects(false); !slices.Equal(got, []string{"a.happened", "b.happened", "c.happened"}) {
		t.Fatalf("subjects: %v", got)
	}
}

func TestRegistry_RefusesAnIncompatibleSchemaListingTheChanges(t *testing.T) {
	e := newEnv(t)
	e.register("user.registered", userV1)
	_, _, err := e.reg.Register(context.Background(), "user.registered", []byte(userBroken))
	var ierr *IncompatibleError
	if !errors.Is(err, ErrIncompatible) || !errors.As(err, &ierr) {
		t.Fatalf("register a broken schema: %v, want an IncompatibleError", err)
	}
	if ierr.Mode != compat.Backward || ierr.Subject != "user.registered" || len(ierr.Changes) == 0 {
		t.Fatalf("error: %+v", ierr)
	}
	for _, c := range ierr.Changes {
		if c.Version != 1 || c.Rule == "" || c.Message == "" || !strings.Contains(err.Error(), c.Message) {
			t.Errorf("change %+v: want version 1, a rule and a message, in %q", c, err)
		}
	}
	if vs, _ := e.reg.Versions("user.registered", true); !slices.Equal(vs, []int{1}) {
		t.Fatalf("versions after a refusal: %v", vs)
	}
	// The check endpoint gives the same verdict without registering.
	res, mode, err := e.reg.CheckCompatibility("user.registered", 0, []byte(userBroken))
	if err != nil || res.Compatible || mode != compat.Backward || len(res.Changes) != len(ierr.Changes) {
		t.Fatalf("check: %+v %s %v", res, mode, err)
	}
	res, _, err = e.reg.CheckCompatibility("user.registered", Latest, []byte(userV1))
	if err != nil || !res.Compatible {
		t.Fatalf("check of the same schema: %+v %v", res, err)
	}
	// NONE lets anything in.
	e.setMode("user.registered", compat.None)
	if v := e.register("user.registered", userBroken); v.Version != 2 {
		t.Fatalf("in NONE: %+v", v)
	}
}

// TestRegistry_ChecksAnOldEnumAgainstANewFormat: Herald's validator
// asserts format, so an old enum value the new format refuses ("nobody" is
// not an email) breaks BACKWARD, and the data it stands for stays valid.
func TestRegistry_ChecksAnOldEnumAgainstANewFormat(t *testing.T) {
	e := newEnv(t) // BACKWARD
	e.register("f", `{"type":"object","properties":{"contact":{"enum":["nobody","a@example.com"]}}}`)
	_, _, err := e.reg.Register(context.Background(), "f",
		[]byte(`{"type":"object","properties":{"contact":{"type":"string","format":"email"}}}`))
	var ierr *IncompatibleError
	if !errors.As(err, &ierr) || len(ierr.Changes) != 1 || ierr.Changes[0].Rule != compat.RuleFormatAdded {
		t.Fatalf("register a format that refuses an old enum value: %v, want format_added", err)
	}
	if vs, _ := e.reg.Versions("f", true); !slices.Equal(vs, []int{1}) {
		t.Fatalf("versions after the refusal: %v, want [1]", vs)
	}
	e.register("g", `{"type":"object","properties":{"contact":{"enum":["a@example.com","b@example.com"]}}}`)
	if v := e.register("g", `{"type":"object","properties":{"contact":{"type":"string","format":"email"}}}`); v.Version != 2 {
		t.Fatalf("a format every old enum value meets: %+v, want version 2", v)
	}
}

func TestRegistry_ChecksAgainstLiveVersionsOnlyAndNumbersChangesByVersion(t *testing.T) {
	e := newEnv(t)
	e.setMode("t", compat.None)
	e.register("t", userV1)
	e.register("t", userV2)
	e.register("t", `{"type":"object"}`)
	if _, err := e.reg.DeleteVersion(context.Background(), "t", 3, false); err != nil {
		t.Fatal(err)
	}
	e.setMode("t", compat.BackwardTransitive)
	res, _, err := e.reg.CheckCompatibility("t", 0, []byte(userBroken))
	if err != nil || res.Compatible {
		t.Fatalf("check: %+v %v", res, err)
	}
	versions := map[int]bool{}
	for _, c := range res.Changes {
		versions[c.Version] = true
	}
	if !versions[1] || !versions[2] || versions[3] {
		t.Fatalf("changes name versions %v, want 1 and 2 (3 is deleted): %+v", versions, res.Changes)
	}
}

// TestRegistry_ChangesNameTheVersionTheyBreakInTheirMessages: with a
// version deleted, or a check against one version, the subject's second
// live version is not its version 2; each message must name the version
// its Version field names.
func TestRegistry_ChangesNameTheVersionTheyBreakInTheirMessages(t *testing.T) {
	e := newEnv(t)
	e.setMode("t", compat.None)
	e.register("t", `{"type":"string"}`)
	e.register("t", `{"type":"integer"}`)
	e.register("t", `{"type":"boolean"}`)
	if _, err := e.reg.DeleteVersion(context.Background(), "t", 1, false); err != nil {
		t.Fatal(err)
	}
	e.setMode("t", compat.BackwardTransitive)
	_, _, err := e.reg.Register(context.Background(), "t", []byte(`{"type":"null"}`))
	var ierr *IncompatibleError
	if !errors.As(err, &ierr) || len(ierr.Changes) != 2 {
		t.Fatalf("register: %v, want an *IncompatibleError with a change for versions 3 and 2", err)
	}
	res, _, err := e.reg.CheckCompatibility("t", Latest, []byte(`{"type":"null"}`))
	if err != nil || len(res.Changes) != 1 {
		t.Fatalf("check against the latest: %+v %v", res, err)
	}
	for _, c := range append(ierr.Changes, res.Changes...) {
		want := fmt.Sprintf("version %d ", c.Version)
		if !strings.Contains(c.Message, want) {
			t.Errorf("change of version %d says %q, want it to name %q", c.Version, c.Message, want)
		}
		for _, other := range []int{1, 2, 3} {
			if n := fmt.Sprintf("version %d ", other); other != c.Version && strings.Contains(c.Message, n) {
				t.Errorf("change of version %d names %q: %q", c.Version, n, c.Message)
			}
		}
	}
}

// TestRegistry_LookupRefusesTextThatIsNotOneJSONValue: a lookup finds
// the version with the same schema, and refuses what is not a JSON text,
// also a value followed by a stray closing bracket.
func TestRegistry_LookupRefusesTextThatIsNotOneJSONValue(t *testing.T) {
	e := newEnv(t)
	e.register("s", `{"type":"object"}`)
	if v, err := e.reg.Lookup("s", []byte(` { "type" : "object" } `), false); err != nil || v.Version != 1 {
		t.Fatalf("lookup of the same schema: %+v %v, want version 1", v, err)
	}
	for _, text := range []string{`{"type":"object"} ]`, `{"type":"object"}}`, `{"type":"object"} {}`, `{"type":"object"} x`} {
		if v, err := e.reg.Lookup("s", []byte(text), false); !errors.Is(err, ErrInvalidSchema) {
			t.Errorf("lookup of %s: %+v %v, want ErrInvalidSchema", text, v, err)
		}
	}
}

func TestRegistry_RefusesWhatIsNotASchemaHeraldTakes(t *testing.T) {
	e := newEnv(t)
	tests := []struct{ name, text, want string }{
		{"not JSON", `{"type":`, "not JSON"},
		{"not an object", `[1]`, "object or a boolean"},
		{"bad keyword value", `{"type":"strange"}`, "at /type"},
		{"remote ref", `{"$ref":"https://example.com/other.json"}`, "outside the schema"},
		{"file ref", `{"$ref":"other.json"}`, "outside the schema"},
		{"draft-04", `{"$schema":"http://json-schema.org/draft-04/schema#","type":"string"}`, "draft 04"},
		{"unknown $schema", `{"$schema":"https://example.com/meta#","type":"string"}`, `$schema "https://example.com/meta#" is not a draft Herald takes`},
		{"two values", `{} {}`, "schema"},
		{"not UTF-8", "{\"type\":\"string\",\"description\":\"caf\xe9\"}", "not UTF-8 (at byte offset 35)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := e.reg.Register(context.Background(), "s", []byte(tt.text))
			if !errors.Is(err, ErrInvalidSchema) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("register %s: %v, want ErrInvalidSchema mentioning %q", tt.text, err, tt.want)
			}
		})
	}
	for _, subject := range []string{"", "a\nb", strings.Repeat("x", 256)} {
		if _, _, err := e.reg.Register(context.Background(), subject, []byte(userV1)); !errors.Is(err, ErrInvalidSubject) {
			t.Errorf("subject %q: %v, want ErrInvalidSubject", subject, err)
		}
	}
	if got := e.reg.Subjects(true); len(got) != 0 {
		t.Fatalf("refused registrations left subjects: %v", got)
	}
	// draft-07 and 2020-12 are taken.
	e.register("d7", `{"$schema":"http://json-schema.org/draft-07/schema#","type":"string"}`)
	e.register("d2020", `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"string"}`)
}

// TestRegistry_RefusesASchemaThatRefersBackToItselfWithoutDescending: a
// validator cannot finish such a schema (the full one refuses every value
// with "reference cycle"), so no event could ever pass it; recursion
// through a property or an item is fine.
func TestRegistry_RefusesASchemaThatRefersBackToItselfWithoutDescending(t *testing.T) {
	e := newEnv(t)
	for _, text := range []string{
		`{"$ref":"#"}`,
		`{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"allOf":[{"$ref":"#/$defs/a"}]}},"$ref":"#/$defs/a"}`,
		`{"type":"object","properties":{"a":{"$ref":"#/$defs/x"}},"$defs":{"x":{"anyOf":[{"type":"string"},{"$ref":"#/$defs/x"}]}}}`,
		`{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"a":{"not":{"$ref":"#/definitions/a"}}},"$ref":"#/definitions/a"}`,
	} {
		_, _, err := e.reg.Register(context.Background(), "s", []byte(text))
		if !errors.Is(err, ErrInvalidSchema) || !strings.Contains(err.Error(), "refers back to itself") {
			t.Errorf("register %s: %v, want ErrInvalidSchema saying it refers back to itself", text, err)
		}
	}
	if got := e.reg.Subjects(true); len(got) != 0 {
		t.Fatalf("refused registrations left subjects: %v", got)
	}
	tree := `{"$defs":{"node":{"type":"object","properties":{"value":{"type":"integer"},` +
		`"children":{"type":"array","items":{"$ref":"#/$defs/node"}}},"allOf":[{"required":["value"]}]}},"$ref":"#/$defs/node"}`
	e.register("tree", tree)
}

// TestRegistry_RefusesANumberMathBigCannotRead: the validator reads the
// numbers of a schema with math/big, which cannot read an exponent beyond
// ±1,000,000: such a minimum would be no limit at all, and such a
// multipleOf made compiling the schema panic.
func TestRegistry_RefusesANumberMathBigCannotRead(t *testing.T) {
	e := newEnv(t)
	for _, text := range []string{
		`{"multipleOf":1e-1000000000}`,
		`{"type":"object","properties":{"n":{"type":"number","minimum":1e2000000}}}`,
		`{"enum":[1,1E+1000001]}`,
	} {
		_, _, err := e.reg.Register(context.Background(), "s", []byte(text))
		if !errors.Is(err, ErrInvalidSchema) || !strings.Contains(err.Error(), "exponent beyond") {
			t.Errorf("register %s: %v, want ErrInvalidSchema about the exponent", text, err)
		}
	}
	if got := e.reg.Subjects(true); len(got) != 0 {
		t.Fatalf("refused registrations left subjects: %v", got)
	}
	e.register("s", `{"type":"number","maximum":1e1000000,"minimum":-1e+1000000}`)
}

// TestRegistry_RefusesACountTheValidatorCannotHold: the validator wraps a
// maxLength beyond an int around (2^64+3 would be 3), so a limit the
// compatibility check reads as "none" would refuse old events.
func TestRegistry_RefusesACountTheValidatorCannotHold(t *testing.T) {
	e := newEnv(t) // BACKWARD
	e.register("s", `{"type":"object","properties":{"code":{"type":"string","maxLength":5}}}`)
	for _, text := range []string{
		`{"type":"object","properties":{"code":{"type":"string","maxLength":18446744073709551619}}}`,
		`{"type":"object","properties":{"tags":{"type":"array","maxItems":1e400}}}`,
	} {
		_, _, err := e.reg.Register(context.Background(), "s", []byte(text))
		if !errors.Is(err, ErrInvalidSchema) || !strings.Contains(err.Error(), "Herald takes a count from 0 to") {
			t.Errorf("register %s: %v, want ErrInvalidSchema about the count", text, err)
		}
		if _, _, err := e.reg.Register(context.Background(), "other", []byte(text)); !errors.Is(err, ErrInvalidSchema) {
			t.Errorf("register %s as a first version: %v, want ErrInvalidSchema", text, err)
		}
	}
	if vs, _ := e.reg.Versions("s", true); !slices.Equal(vs, []int{1}) {
		t.Errorf("versions after the refusals: %v, want [1]", vs)
	}
	if got := e.reg.Subjects(true); !slices.Equal(got, []string{"s"}) {
		t.Errorf("subjects after the refusals: %v, want [s]", got)
	}
}

func TestRegistry_SoftAndPermanentDeletes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.setMode("t", compat.None)
	e.register("t", userV1)
	e.register("t", userV2)
	if n, err := e.reg.DeleteVersion(ctx, "t", Latest, false); err != nil || n != 2 {
		t.Fatalf("soft delete latest: %d %v", n, err)
	}
	if _, err := e.reg.Version("t", 2, false); !errors.Is(err, ErrVersionNotFound) {
		t.Fatalf("a soft-deleted version is found: %v", err)
	}
	if v, err := e.reg.Version("t", 2, true); err != nil || !v.Deleted {
		t.Fatalf("with deleted: %+v %v", v, err)
	}
	if latest, _ := e.reg.Version("t", Latest, false); latest.Version != 1 {
		t.Fatalf("latest after deleting 2: %+v", latest)
	}
	if _, err := e.reg.DeleteVersion(ctx, "t", 2, false); !errors.Is(err, ErrVersionSoftDeleted) {
		t.Fatalf("soft delete twice: %v", err)
	}
	if _, err := e.reg.DeleteVersion(ctx, "t", 1, true); !errors.Is(err, ErrVersionNotSoftDeleted) {
		t.Fatalf("permanent delete of a live version: %v", err)
	}
	if n, err := e.reg.DeleteVersion(ctx, "t", 2, true); err != nil || n != 2 {
		t.Fatalf("permanent delete: %d %v", n, err)
	}
	if _, err := e.reg.SchemaByID(2); !errors.Is(err, ErrSchemaNotFound) {
		t.Fatalf("the schema of a version deleted for good is still there: %v", err)
	}
	// Version numbers are not given again.
	if v := e.register("t", userV2); v.Version != 3 || v.ID != 3 {
		t.Fatalf("registered after a permanent delete: %+v, want version 3 id 3", v)
	}
	if _, err := e.reg.DeleteSubject(ctx, "t", true); !errors.Is(err, ErrSubjectNotSoftDeleted) {
		t.Fatalf("permanent delete of a live subject: %v", err)
	}
	if vs, err := e.reg.DeleteSubject(ctx, "t", false); err != nil || !slices.Equal(vs, []int{1, 3}) {
		t.Fatalf("soft delete subject: %v %v", vs, err)
	}
	if _, err := e.reg.Versions("t", false); !errors.Is(err, ErrSubjectNotFound) {
		t.Fatalf("versions of a soft-deleted subject: %v", err)
	}
	if got := e.reg.Subjects(true); !slices.Equal(got, []string{"t"}) {
		t.Fatalf("subjects with deleted: %v", got)
	}
	if _, err := e.reg.DeleteSubject(ctx, "t", false); !errors.Is(err, ErrSubjectSoftDeleted) {
		t.Fatalf("soft delete twice: %v", err)
	}
	if vs, err := e.reg.DeleteSubject(ctx, "t", true); err != nil || !slices.Equal(vs, []int{1, 3}) {
		t.Fatalf("permanent delete subject: %v %v", vs, err)
	}
	if got := e.reg.Subjects(true); len(got) != 0 {
		t.Fatalf("subjects after a permanent delete: %v", got)
	}
	if _, err := e.reg.DeleteSubject(ctx, "t", false); !errors.Is(err, ErrSubjectNotFound) {
		t.Fatalf("delete a subject that is gone: %v", err)
	}
}

// TestRegistry_VersionNumbersAreNeverGivenAgain: after a permanent delete
// of a version or of the whole subject, and after a level set and removed,
// the next version takes the next number, also after a reopen.
func TestRegistry_VersionNumbersAreNeverGivenAgain(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		delete  func(e *env) error
		withLvl bool
	}{
		{"version", func(e *env) error { _, err := e.reg.DeleteVersion(ctx, "t", 1, true); return err }, false},
		{"version, then a level set and removed", func(e *env) error { _, err := e.reg.DeleteVersion(ctx, "t", 1, true); return err }, true},
		{"subject", func(e *env) error { _, err := e.reg.DeleteSubject(ctx, "t", true); return err }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.register("t", userV1)
			if _, err := e.reg.DeleteVersion(ctx, "t", 1, false); err != nil {
				t.Fatal(err)
			}
			if err := tc.delete(e); err != nil {
				t.Fatal(err)
			}
			if tc.withLvl {
				e.setMode("t", compat.Full)
				if _, err := e.reg.DeleteCompatibility(ctx, "t"); err != nil {
					t.Fatal(err)
				}
			}
			if got := e.reg.Subjects(true); len(got) != 0 {
				t.Fatalf("subjects after the permanent delete: %v, want none", got)
			}
			if _, err := e.reg.Versions("t", true); !errors.Is(err, ErrSubjectNotFound) {
				t.Fatalf("versions after the permanent delete: %v, want ErrSubjectNotFound", err)
			}
			e.reopen()
			if v := e.register("t", userV2); v.Version != 2 {
				t.Fatalf("registered after the permanent delete: version %d, want 2", v.Version)
			}
		})
	}
}

func TestRegistry_CompatibilityLevels(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if g := e.reg.GlobalCompatibility(); g != compat.Backward {
		t.Fatalf("default global level %s", g)
	}
	if _, ok := e.reg.Compatibility("t"); ok {
		t.Fatal("a subject without a level has one")
	}
	e.setMode("", compat.Full)
	e.setMode("t", compat.ForwardTransitive)
	if m, ok := e.reg.Compatibility("t"); !ok || m != compat.ForwardTransitive || e.reg.EffectiveCompatibility("u") != compat.Full {
		t.Fatalf("levels: t %s %v, u %s", m, ok, e.reg.EffectiveCompatibility("u"))
	}
	if err := e.reg.SetCompatibility(ctx, "t", "SIDEWAYS"); !errors.Is(err, ErrInvalidCompatibility) {
		t.Fatalf("a bad level: %v", err)
	}
	if old, err := e.reg.DeleteCompatibility(ctx, "t"); err != nil || old != compat.ForwardTransitive {
		t.Fatalf("delete t's level: %s %v", old, err)
	}
	if _, err := e.reg.DeleteCompatibility(ctx, "t"); !errors.Is(err, ErrNoSubjectConfig) {
		t.Fatalf("delete a level t does not have: %v", err)
	}
	if old, err := e.reg.DeleteCompatibility(ctx, ""); err != nil || old != compat.Full || e.reg.GlobalCompatibility() != compat.Backward {
		t.Fatalf("reset the global level: %s %v, now %s", old, err, e.reg.GlobalCompatibility())
	}
}

func TestRegistry_StateSurvivesAReopen(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.setMode("", compat.Forward)
	e.setMode("a", compat.None)
	e.register("a", userV1)
	e.register("a", userV2)
	e.register("b", userV2)
	if _, err := e.reg.DeleteVersion(ctx, "a", 1, false); err != nil {
		t.Fatal(err)
	}
	e.register("gone", `{"type":"null"}`)
	if _, err := e.reg.DeleteSubject(ctx, "gone", false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.DeleteSubject(ctx, "gone", true); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	if g := e.reg.GlobalCompatibility(); g != compat.Forward {
		t.Fatalf("global level after reopen: %s", g)
	}
	if m, _ := e.reg.Compatibility("a"); m != compat.None {
		t.Fatalf("a's level after reopen: %s", m)
	}
	if vs, _ := e.reg.Versions("a", true); !slices.Equal(vs, []int{1, 2}) {
		t.Fatalf("a's versions after reopen: %v", vs)
	}
	if v, err := e.reg.Version("a", 1, true); err != nil || !v.Deleted || v.Schema != userV1 {
		t.Fatalf("a/1 after reopen: %+v %v", v, err)
	}
	if b, _ := e.reg.Version("b", 1, false); b.ID != 2 {
		t.Fatalf("b/1 after reopen: %+v (want id 2, shared with a/2)", b)
	}
	if got := e.reg.Subjects(true); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("subjects after reopen: %v", got)
	}
	// Ids go on from where they were, even the one of the schema deleted for good.
	if v := e.register("c", `{"type":"boolean"}`); v.ID != 4 {
		t.Fatalf("a new schema after reopen has id %d, want 4", v.ID)
	}
}

func TestRegistry_CompactedStateReplaysTheSame(t *testing.T) {
	e := &env{t: t, dir: t.TempDir(), logOpts: log.Options{SegmentBytes: 256}} // nearly every record in a sealed segment
	e.open()
	t.Cleanup(func() { e.eng.Close() })
	ctx := context.Background()
	e.setMode("a", compat.None)
	for _, text := range []string{userV1, userV2, `{"type":"null"}`} {
		e.register("a", text)
	}
	for _, n := range []int{3, 2} {
		if _, err := e.reg.DeleteVersion(ctx, "a", n, false); err != nil {
			t.Fatal(err)
		}
		if _, err := e.reg.DeleteVersion(ctx, "a", n, true); err != nil {
			t.Fatal(err)
		}
	}
	e.register("b", userV1)
	before, _ := e.reg.Usages(1, true)
	if err := e.eng.Compact(); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	after, _ := e.reg.Usages(1, true)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("after compaction and reopen: %+v, want %+v", after, before)
	}
	if _, err := e.reg.SchemaByID(3); !errors.Is(err, ErrSchemaNotFound) {
		t.Fatalf("schema 3, deleted for good: %v", err)
	}
	// Neither the ids nor the version numbers of what was deleted come back.
	if v := e.register("a", `{"type":"boolean"}`); v.ID != 4 || v.Version != 4 {
		t.Fatalf("registered after compaction: %+v, want id 4 version 4", v)
	}
}

func TestRegistry_KeepsItsStateInACompactedInternalTopic(t *testing.T) {
	e := newEnv(t)
	e.register("a", userV1)
	info, err := e.eng.Topic(context.Background(), stateTopic)
	if err != nil || !info.Config.Compact || info.Config.Partitions != 1 {
		t.Fatalf("state topic: %+v %v", info, err)
	}
	recs, err := e.eng.Read(context.Background(), stateTopic, 0, 0, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{}
	for _, r := range recs {
		keys = append(keys, string(r.Key))
	}
	if !slices.Equal(keys, []string{"i/1", "g", "s/a"}) {
		t.Fatalf("state records: %v, want one append of the schema, the global record and the subject", keys)
	}
}

func TestRegistry_AFailedAppendChangesNothing(t *testing.T) {
	e := newEnv(t)
	e.register("a", userV1)
	failing := &failingEngine{Engine: e.eng}
	e.reg.engine = failing
	_, _, err := e.reg.Register(context.Background(), "b", []byte(userV2))
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("register with a failing engine: %v", err)
	}
	if got := e.reg.Subjects(true); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("subjects after a failed append: %v", got)
	}
	e.reg.engine = e.eng
	if v := e.register("b", userV2); v.ID != 2 || v.Version != 1 {
		t.Fatalf("after the engine recovers: %+v", v)
	}
}

type failingEngine struct{ storage.Engine }

func (f *failingEngine) Append(context.Context, string, []storage.PartitionRecords) ([]int64, error) {
	return nil, fmt.Errorf("disk full: %w", storage.ErrUnavailable)
}

func TestRegistry_ConcurrentRegistrationsGetDistinctVersions(t *testing.T) {
	e := newEnv(t)
	e.setMode("t", compat.None)
	var wg sync.WaitGroup
	got := make([]SchemaVersion, 16)
	for i := range got {
		wg.Go(func() {
			v, _, err := e.reg.Register(context.Background(), "t", fmt.Appendf(nil, `{"const":%d}`, i))
			if err != nil {
				t.Error(err)
			}
			got[i] = v
			e.reg.Subjects(false) // reads race with writes
		})
	}
	wg.Wait()
	seen := map[int]bool{}
	for _, v := range got {
		if seen[v.Version] {
			t.Fatalf("version %d given twice: %+v", v.Version, got)
		}
		seen[v.Version] = true
	}
	e.reopen()
	if vs, _ := e.reg.Versions("t", false); len(vs) != 16 {
		t.Fatalf("after reopen: %d versions", len(vs))
	}
}

// An older Herald deleted the record of a subject deleted for good, so
// that its next version took number 1 again. The records before that
// deletion still hold the numbers it gave: Herald keeps them, and writes
// the subject's record anew so that compaction does not take them away.
func TestRegistry_ASubjectAnOlderHeraldDeletedForGoodKeepsItsVersionNumbers(t *testing.T) {
	e := &env{t: t, dir: t.TempDir(), logOpts: log.Options{SegmentBytes: 256}} // compaction reaches nearly every record
	e.open()
	t.Cleanup(func() { e.eng.Close() })
	ctx := context.Background()
	e.setMode("t", compat.None)
	e.register("t", userV1)
	e.register("t", userBroken)
	if _, err := e.reg.DeleteSubject(ctx, "t", false); err != nil {
		t.Fatal(err)
	}
	// What the older Herald wrote for the permanent delete: the schemas
	// and the subject's record deleted.
	var w storage.StateRecords
	w.Delete(schemaKey(1))
	w.Delete(schemaKey(2))
	w.Delete(subjectKey("t"))
	if _, err := e.eng.Append(ctx, stateTopic, []storage.PartitionRecords{{Partition: 0, Records: w.Records}}); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	for _, m := range []compat.Mode{compat.Full, compat.None, compat.Forward} { // the deletion into a sealed segment
		e.setMode("u", m)
	}
	if err := e.eng.Compact(); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	if got := e.reg.Subjects(true); len(got) != 0 {
		t.Fatalf("subjects: %v, want none", got)
	}
	if _, err := e.reg.Versions("t", true); !errors.Is(err, ErrSubjectNotFound) {
		t.Fatalf("versions of t: %v, want ErrSubjectNotFound", err)
	}
	if v := e.register("t", userV2); v.Version != 3 || v.ID != 3 {
		t.Fatalf("registered after the permanent delete: %+v, want version 3 with id 3", v)
	}
}

// Events name schema versions in other topics, so a schema change is
// fsynced before it is answered in every fsync mode: with interval or none
// a power cut right after a registration, a compatibility change or a
// deletion keeps it, and no later schema is given the lost version's
// number.
func TestRegistry_AnsweredChangesSurviveAPowerCutInEveryFsyncMode(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []log.SyncMode{log.SyncInterval, log.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			mem := faultfs.New()
			e := &env{t: t, dir: "/data", logOpts: log.Options{FS: mem, Sync: mode, SyncInterval: time.Hour, RetentionInterval: -1}}
			e.open()
			powerCut := func() {
				t.Helper()
				after := mem.Crash(faultfs.CrashOptions{})
				e.eng.Close()
				mem = after
				e.logOpts.FS = after
				e.open()
			}
			e.setMode("user.created", compat.None)
			v1 := e.register("user.created", userV1)
			powerCut()
			if got, err := e.reg.Version("user.created", 1, false); err != nil || got.ID != v1.ID {
				t.Fatalf("version 1 after a power cut: %+v %v, want %+v", got, err, v1)
			}
			if m, ok := e.reg.Compatibility("user.created"); !ok || m != compat.None {
				t.Fatalf("compatibility after a power cut: %v %v, want NONE", m, ok)
			}
			if _, err := e.reg.DeleteVersion(ctx, "user.created", 1, false); err != nil {
				t.Fatal(err)
			}
			powerCut()
			if _, err := e.reg.Version("user.created", 1, false); err == nil {
				t.Fatal("a deleted version is back after a power cut")
			}
			if v2 := e.register("user.created", userBroken); v2.Version != 2 {
				t.Fatalf("the next schema after a power cut got version %d, want 2", v2.Version)
			}
			e.eng.Close()
		})
	}
}
