package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldevents/herald/internal/broker"
)

// The schemas of these tests give verdicts that do not depend on the
// finer compatibility rules: the same schema is compatible, and userBroken
// (name turned from a string into an integer) is not. Subjects with
// several versions are set to NONE.
const (
	userV1     = `{"type":"object","properties":{"name":{"type":"string"},"email":{"type":"string"}},"required":["name","email"]}`
	userV2     = `{"type":"object","properties":{"name":{"type":"string"},"email":{"type":"string"},"phone":{"type":"string"}},"required":["name","email"]}`
	userBroken = `{"type":"object","properties":{"name":{"type":"integer"},"email":{"type":"string"}},"required":["name","email"]}`
)

// schemaFile writes a schema into a file of the test's directory.
func schemaFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSchemas_RegisterListShow(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	v1 := schemaFile(t, "v1.json", userV1)
	out := env.mustRun("schemas", "register", v1, "--subject", "user.registered")
	if want := "registered user.registered version 1 (id 1); events name it with dataschema herald:schemas/user.registered/versions/1\n"; out != want {
		t.Fatalf("register printed %q, want %q", out, want)
	}
	if out := env.mustRun("schemas", "register", v1, "--subject", "user.registered"); out != "user.registered already has this schema as version 1 (id 1)\n" {
		t.Fatalf("register again printed %q", out)
	}
	out = env.mustRun("schemas", "register", schemaFile(t, "v2.json", userV2), "--subject", "user.registered", "--compatibility", "none")
	if !strings.HasPrefix(out, "registered user.registered version 2 (id 2)") {
		t.Fatalf("register v2 printed %q", out)
	}
	env.run(userV1, "schemas", "register", "-", "--subject", "order.placed").wantCode(t, 0)

	lines := strings.Split(strings.TrimSpace(env.mustRun("schemas", "list")), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "SUBJECT") || !strings.HasPrefix(lines[1], "order.placed ") ||
		strings.Join(strings.Fields(lines[2]), " ") != "user.registered 2 2 2 NONE" {
		t.Fatalf("list printed:\n%s", strings.Join(lines, "\n"))
	}
	var row subjectRow
	jl := strings.Split(strings.TrimSpace(env.mustRun("schemas", "list", "--json")), "\n")
	if len(jl) != 2 || json.Unmarshal([]byte(jl[0]), &row) != nil || row.Subject != "order.placed" || row.Compatibility != "BACKWARD" || row.ID != 1 {
		t.Fatalf("list --json printed %q", jl)
	}

	out = env.mustRun("schemas", "show", "user.registered", "--version", "1")
	for _, want := range []string{"subject:     user.registered", "version:     1", "id:          1",
		"dataschema:  herald:schemas/user.registered/versions/1", `  "required": [`} {
		if !strings.Contains(out, want) {
			t.Errorf("show printed %q, missing %q", out, want)
		}
	}
	if out := env.mustRun("schemas", "show", "user.registered"); !strings.Contains(out, "version:     2") || !strings.Contains(out, `"phone"`) {
		t.Errorf("show latest printed %q", out)
	}
	env.run("", "schemas", "show", "nobody").wantOneErrorLine(t, "subject not found", "(error 40401)")
	env.run("", "schemas", "register", "/no/such/file.json", "--subject", "s").wantOneErrorLine(t, "read the schema")
	env.run("", "schemas", "register", schemaFile(t, "bad.json", `{"type":`), "--subject", "s").wantOneErrorLine(t, "invalid schema", "(error 42201)")
	env.run("", "schemas", "register", v1).wantOneErrorLine(t, `"subject" not set`)
}

func TestSchemas_CheckExitsNonZeroListingBreakingChanges(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.mustRun("schemas", "register", schemaFile(t, "v1.json", userV1), "--subject", "user.registered")

	if out := env.mustRun("schemas", "check", schemaFile(t, "same.json", userV1), "--subject", "user.registered"); out != "compatible with user.registered (BACKWARD)\n" {
		t.Fatalf("check a compatible schema printed %q", out)
	}
	broken := schemaFile(t, "broken.json", userBroken)
	r := env.run("", "schemas", "check", broken, "--subject", "user.registered")
	r.wantOneErrorLine(t, "broken.json is incompatible with user.registered (BACKWARD)", "breaking change")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "incompatible with user.registered (BACKWARD): ") {
		t.Fatalf("check printed %q", r.stdout)
	}
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "  ") || !strings.Contains(l, "version 1") || !strings.Contains(l, "[") {
			t.Errorf("change line %q: want the change, its rule and the version it breaks with", l)
		}
	}
	// register refuses it the same way, printing the same changes.
	reg := env.run("", "schemas", "register", broken, "--subject", "user.registered")
	reg.wantOneErrorLine(t, "incompatible with user.registered, not registered", "(error 409)")
	if reg.stdout != strings.Join(lines[1:], "\n")+"\n" {
		t.Fatalf("register printed %q, want the changes %q", reg.stdout, lines[1:])
	}
	// A subject without versions takes any schema.
	if out := env.mustRun("schemas", "check", broken, "--subject", "new.type"); !strings.HasPrefix(out, "compatible with new.type") {
		t.Fatalf("check against a new subject printed %q", out)
	}
	env.run("", "schemas", "check", broken, "--subject", "user.registered", "--version", "7").wantOneErrorLine(t, "(error 40402)")
}

func TestSchemas_DiffShowsBothDirections(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.mustRun("schemas", "config", "user.registered", "--set", "NONE")
	env.mustRun("schemas", "register", schemaFile(t, "v1.json", userV1), "--subject", "user.registered")
	env.mustRun("schemas", "register", schemaFile(t, "v2.json", userBroken), "--subject", "user.registered")
	out := env.mustRun("schemas", "diff", "user.registered", "1", "2")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 4 || !strings.HasPrefix(lines[0], "backward (version 2 reading data written for version 1): ") {
		t.Fatalf("diff printed %q", out)
	}
	forward := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "forward (version 1 reading data written for version 2): ") {
			forward = i
		}
	}
	if forward < 2 || forward == len(lines)-1 {
		t.Fatalf("diff printed %q, want changes under both directions", out)
	}
	if out := env.mustRun("schemas", "diff", "user.registered", "1", "1"); !strings.Contains(out, "): compatible\nforward") {
		t.Fatalf("diff of a version with itself printed %q", out)
	}
	env.run("", "schemas", "diff", "user.registered", "1", "x").wantOneErrorLine(t, `version "x"`)
	env.run("", "schemas", "diff", "user.registered", "1", "3").wantOneErrorLine(t, "(error 40402)")
}

func TestSchemas_ConfigAndDelete(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	if out := env.mustRun("schemas", "config"); out != "global: BACKWARD\n" {
		t.Fatalf("config printed %q", out)
	}
	if out := env.mustRun("schemas", "config", "user.registered"); out != "user.registered: BACKWARD (the global level)\n" {
		t.Fatalf("config of a subject printed %q", out)
	}
	if out := env.mustRun("schemas", "config", "user.registered", "--set", "full_transitive"); out != "user.registered: FULL_TRANSITIVE\n" {
		t.Fatalf("config --set printed %q", out)
	}
	if out := env.mustRun("schemas", "config", "--set", "FORWARD"); out != "global: FORWARD\n" {
		t.Fatalf("global config --set printed %q", out)
	}
	if out := env.mustRun("schemas", "config", "user.registered", "--unset"); out != "user.registered: FORWARD (the global level)\n" {
		t.Fatalf("config --unset printed %q", out)
	}
	env.run("", "schemas", "config", "--set", "SIDEWAYS").wantOneErrorLine(t, "SIDEWAYS", "(error 42203)")

	env.mustRun("schemas", "config", "user.registered", "--set", "NONE")
	env.mustRun("schemas", "register", schemaFile(t, "v1.json", userV1), "--subject", "user.registered")
	env.mustRun("schemas", "register", schemaFile(t, "v2.json", userV2), "--subject", "user.registered")
	if out := env.mustRun("schemas", "delete", "user.registered", "--version", "1"); out != "soft deleted version 1 of user.registered\n" {
		t.Fatalf("delete a version printed %q", out)
	}
	if out := env.mustRun("schemas", "delete", "user.registered"); out != "soft deleted user.registered: versions 2\n" {
		t.Fatalf("delete a subject printed %q", out)
	}
	if out := env.mustRun("schemas", "delete", "user.registered", "--permanent"); out != "permanently deleted user.registered: versions 1, 2\n" {
		t.Fatalf("permanent delete printed %q", out)
	}
	if lines := strings.Split(strings.TrimSpace(env.mustRun("schemas", "list")), "\n"); len(lines) != 1 {
		t.Fatalf("list after deleting printed %q", lines)
	}
}

// register --compatibility sets the subject's level for the registration;
// a registration that fails (a schema that is not JSON, or one the level
// refuses) leaves the level the subject had: the global one, or its own.
func TestSchemas_RegisterThatFailsLeavesTheLevelAsItWas(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.mustRun("schemas", "register", schemaFile(t, "v1.json", userV1), "--subject", "user.registered")
	env.run("", "schemas", "register", schemaFile(t, "bad.json", `{"type":`), "--subject", "user.registered",
		"--compatibility", "NONE").wantOneErrorLine(t, "invalid schema")
	if out := env.mustRun("schemas", "config", "user.registered"); out != "user.registered: BACKWARD (the global level)\n" {
		t.Errorf("after a failed register, config printed %q; want the global level", out)
	}

	env.mustRun("schemas", "config", "user.registered", "--set", "NONE")
	env.run("", "schemas", "register", schemaFile(t, "broken.json", userBroken), "--subject", "user.registered",
		"--compatibility", "BACKWARD").wantOneErrorLine(t, "incompatible", "(error 409)")
	if out := env.mustRun("schemas", "config", "user.registered"); out != "user.registered: NONE\n" {
		t.Errorf("after a failed register, config printed %q; want the subject's own level NONE", out)
	}

	// A registration that succeeds keeps the level it was given.
	env.mustRun("schemas", "register", schemaFile(t, "v2.json", userV2), "--subject", "user.registered", "--compatibility", "FORWARD")
	if out := env.mustRun("schemas", "config", "user.registered"); out != "user.registered: FORWARD\n" {
		t.Errorf("after a register with --compatibility FORWARD, config printed %q", out)
	}
}

// --version below 1 is refused by every command that takes it: delete
// would otherwise delete every version, show show the latest and check
// check against all.
func TestSchemas_ABadVersionIsRefusedAndDeletesNothing(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	v1 := schemaFile(t, "v1.json", userV1)
	env.mustRun("schemas", "register", v1, "--subject", "user.registered")
	env.mustRun("schemas", "register", schemaFile(t, "v2.json", userV2), "--subject", "user.registered", "--compatibility", "none")
	for _, v := range []string{"-1", "0"} {
		env.run("", "schemas", "delete", "user.registered", "--version", v).wantOneErrorLine(t, "--version "+v)
		env.run("", "schemas", "show", "user.registered", "--version", v).wantOneErrorLine(t, "--version "+v)
		env.run("", "schemas", "check", v1, "--subject", "user.registered", "--version", v).wantOneErrorLine(t, "--version "+v)
	}
	for _, v := range []string{"1", "2"} {
		if out := env.run("", "schemas", "show", "user.registered", "--version", v); out.code != 0 {
			t.Errorf("after the refused deletes, version %s is gone: %s", v, out.stderr)
		}
	}
}

func TestSchemas_TopicPolicyRefusesBadEvents(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	out := env.mustRun("topics", "create", "users", "--schema-policy", "validate")
	if !strings.HasSuffix(out, ", schema policy validate\n") {
		t.Fatalf("create printed %q", out)
	}
	if out := env.mustRun("topics", "describe", "users"); !strings.Contains(out, "schema policy:") || !strings.Contains(out, "validate") {
		t.Fatalf("describe printed %q", out)
	}
	env.mustRun("schemas", "register", schemaFile(t, "v1.json", userV1), "--subject", "user.registered")
	env.mustRun("publish", "users", "--type", "user.registered", "--source", "/accounts", `{"name":"Alice","email":"a@example.com"}`)
	r := env.run("", "publish", "users", "--type", "user.registered", "--source", "/accounts", `{"name":7}`)
	r.wantOneErrorLine(t, "schema violation", "(schema_violation)")
	if !strings.Contains(r.stdout, "  (the data): required: missing property 'email' (#/required)\n") ||
		!strings.Contains(r.stdout, "  /name: type: got number, want string (#/properties/name/type)\n") {
		t.Fatalf("publish printed %q, want each violation", r.stdout)
	}
	env.mustRun("publish", "users", "--type", "user.registered", "--source", "/accounts", "--schema-version", "1", `{"name":"Bob","email":"b@example.com"}`)
	r = env.run("", "publish", "users", "--type", "user.registered", "--source", "/accounts", "--schema-version", "2", `{"name":"Bob","email":"b@example.com"}`)
	r.wantOneErrorLine(t, "version 2", "(schema_violation)")
	out = env.mustRun("read", "users", "--json")
	if !strings.Contains(out, `"dataschema":"herald:schemas/user.registered/versions/1"`) {
		t.Fatalf("read printed %q, want the dataschema of --schema-version", out)
	}
	env.run("", "topics", "create", "users", "--schema-policy", "strict").wantOneErrorLine(t, "(invalid_topic_setting)")
}

// wantCode checks a command's exit code.
func (r result) wantCode(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d; stderr %q", r.code, code, r.stderr)
	}
}

// A schema larger than the registry takes is refused after reading just
// past that size, whatever follows.
func TestSchemas_AFileBeyondTheLargestSchemaIsRefusedUnread(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	for _, cmd := range []string{"register", "check"} {
		in := &countingReader{n: 64 << 20}
		var out, errOut syncBuffer
		a := &app{stdin: in, stdout: &out, stderr: &errOut, http: http.DefaultClient,
			getenv: func(k string) string { return map[string]string{"HERALD_SERVER": env.url}[k] }}
		r := result{code: a.execute(t.Context(), []string{"schemas", cmd, "-", "--subject", "user.registered"})}
		r.stdout, r.stderr = out.String(), errOut.String()
		r.wantOneErrorLine(t, "standard input", "more than 1 MiB")
		if in.read > 2<<20 {
			t.Errorf("schemas %s read %d bytes of standard input", cmd, in.read)
		}
	}
	if out := env.mustRun("schemas", "list"); strings.Count(out, "\n") != 1 {
		t.Errorf("schemas list printed %q, want no subject", out)
	}
}

// TestSchemas_AFileNotInUTF8IsRefused: the request carries the schema as
// a JSON string, which would turn each invalid byte into U+FFFD, so the
// registry would keep (or check) another schema than the file's.
func TestSchemas_AFileNotInUTF8IsRefused(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	latin1 := schemaFile(t, "latin1.json", "{\"type\":\"string\",\"description\":\"caf\xe9\"}")
	env.run("", "schemas", "register", latin1, "--subject", "s").wantOneErrorLine(t, "not UTF-8 (at byte offset 35)")
	env.run("", "schemas", "check", latin1, "--subject", "s").wantOneErrorLine(t, "not UTF-8")
	if out := env.mustRun("schemas", "list"); strings.Count(out, "\n") != 1 {
		t.Errorf("schemas list printed %q, want no subject", out)
	}
}
