package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/schema/compat"
)

// The schemas of these tests give verdicts that do not depend on the
// finer compatibility rules: the same schema is compatible, a property
// whose type changes from string to integer is not. Subjects that need
// several versions are set to NONE.
const (
	orderV1 = `{"type":"object","properties":{"orderId":{"type":"string"},"total":{"type":"number","minimum":0}},"required":["orderId","total"]}`
	orderV2 = `{"type":"object","properties":{"orderId":{"type":"string"},"total":{"type":"number","minimum":0},"note":{"type":"string"}},"required":["orderId","total"]}`
	// orderBroken makes orderId an integer.
	orderBroken = `{"type":"object","properties":{"orderId":{"type":"integer"},"total":{"type":"number","minimum":0}},"required":["orderId","total"]}`
)

// registry returns a franz-go Schema Registry client of the server.
func (e *testEnv) registry() *sr.Client {
	e.t.Helper()
	c, err := sr.NewClient(sr.URLs(e.url + RegistryPrefix))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func jsonSchema(text string) sr.Schema { return sr.Schema{Schema: text, Type: sr.TypeJSON} }

// wantRegistryError checks that err is the registry's error with the
// status and Confluent error code.
func wantRegistryError(t *testing.T, err error, status, code int) *sr.ResponseError {
	t.Helper()
	var re *sr.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v, want a registry error %d", err, code)
	}
	if re.StatusCode != status || re.ErrorCode != code || re.Message == "" {
		t.Fatalf("error %d %d %q, want status %d error_code %d with a message", re.StatusCode, re.ErrorCode, re.Message, status, code)
	}
	return re
}

func TestRegistryAPI_FranzGoClientRegistersReadsAndLists(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{})
	cl := e.registry()
	ctx := context.Background()

	if types, err := cl.SupportedTypes(ctx); err != nil || !slices.Equal(types, []sr.SchemaType{sr.TypeJSON}) {
		t.Fatalf("types: %v %v", types, err)
	}
	id, err := cl.RegisterSchema(ctx, "order.placed", jsonSchema(orderV1), -1, -1)
	if err != nil || id != 1 {
		t.Fatalf("register: %d %v", id, err)
	}
	// CreateSchema registers and then looks the schema up by its id.
	ss, err := cl.CreateSchema(ctx, "order.shipped", jsonSchema(orderV1))
	if err != nil || ss.ID != 1 || ss.Version != 1 || ss.Subject != "order.shipped" || ss.Type != sr.TypeJSON {
		t.Fatalf("create under another subject: %+v %v, want the same id", ss, err)
	}
	got, err := cl.SchemaByID(ctx, 1)
	if err != nil || got.Schema != orderV1 || got.Type != sr.TypeJSON {
		t.Fatalf("schema by id: %+v %v", got, err)
	}
	if text, err := cl.SchemaTextByID(ctx, 1); err != nil || text != orderV1 {
		t.Fatalf("schema text by id: %q %v", text, err)
	}
	if subjects, err := cl.SubjectsByID(ctx, 1); err != nil || !slices.Equal(subjects, []string{"order.placed", "order.shipped"}) {
		t.Fatalf("subjects by id: %v %v", subjects, err)
	}
	if subjects, err := cl.Subjects(ctx); err != nil || !slices.Equal(subjects, []string{"order.placed", "order.shipped"}) {
		t.Fatalf("subjects: %v %v", subjects, err)
	}
	// A second version (in NONE, so that the verdict is not the test's subject).
	cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, "order.placed")
	if id, err := cl.RegisterSchema(ctx, "order.placed", jsonSchema(orderV2), -1, -1); err != nil || id != 2 {
		t.Fatalf("register v2: %d %v", id, err)
	}
	if again, err := cl.RegisterSchema(ctx, "order.placed", jsonSchema(orderV1), -1, -1); err != nil || again != 1 {
		t.Fatalf("register v1 again: %d %v, want its id", again, err)
	}
	if versions, err := cl.SubjectVersions(ctx, "order.placed"); err != nil || !slices.Equal(versions, []int{1, 2}) {
		t.Fatalf("versions: %v %v", versions, err)
	}
	latest, err := cl.SchemaByVersion(ctx, "order.placed", -1)
	if err != nil || latest.Version != 2 || latest.ID != 2 || latest.Schema.Schema != orderV2 {
		t.Fatalf("latest: %+v %v", latest, err)
	}
	if text, err := cl.SchemaTextByVersion(ctx, "order.placed", 1); err != nil || text != orderV1 {
		t.Fatalf("schema text of version 1: %q %v", text, err)
	}
	found, err := cl.LookupSchema(ctx, "order.placed", jsonSchema(orderV2))
	if err != nil || found.Version != 2 || found.ID != 2 {
		t.Fatalf("lookup: %+v %v", found, err)
	}
	all, err := cl.Schemas(ctx, "order.placed")
	if err != nil || len(all) != 2 || all[0].Version != 1 || all[1].Version != 2 {
		t.Fatalf("schemas of a subject: %+v %v", all, err)
	}

	_, err = cl.LookupSchema(ctx, "order.placed", jsonSchema(orderBroken))
	wantRegistryError(t, err, 404, 40403)
	_, err = cl.SubjectVersions(ctx, "nobody")
	wantRegistryError(t, err, 404, 40401)
	_, err = cl.SchemaByVersion(ctx, "order.placed", 7)
	wantRegistryError(t, err, 404, 40402)
	_, err = cl.SchemaByID(ctx, 42)
	wantRegistryError(t, err, 404, 40403)
	_, err = cl.RegisterSchema(ctx, "order.placed", sr.Schema{Schema: `{"type":`, Type: sr.TypeJSON}, -1, -1)
	wantRegistryError(t, err, 422, 42201)
	_, err = cl.RegisterSchema(ctx, "order.placed", sr.Schema{Schema: `syntax = "proto3";`, Type: sr.TypeProtobuf}, -1, -1)
	wantRegistryError(t, err, 422, 42201)
}

func TestRegistryAPI_AnIncompatibleRegistrationIs409WithEveryChange(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{})
	cl := e.registry()
	ctx := context.Background()
	if _, err := cl.RegisterSchema(ctx, "order.placed", jsonSchema(orderV1), -1, -1); err != nil {
		t.Fatal(err)
	}
	_, err := cl.RegisterSchema(ctx, "order.placed", jsonSchema(orderBroken), -1, -1)
	re := wantRegistryError(t, err, 409, 409)
	if re.SchemaError() != sr.ErrIncompatibleSchema || !strings.Contains(re.Message, "BACKWARD") || !strings.Contains(re.Message, "order.placed") {
		t.Fatalf("409: %+v (%v)", re, re.SchemaError())
	}
	res, _, err := e.schemas.CheckCompatibility("order.placed", 0, []byte(orderBroken))
	if err != nil || len(res.Changes) == 0 {
		t.Fatalf("check: %+v %v", res, err)
	}
	for _, c := range res.Changes {
		if !strings.Contains(re.Message, c.Message) {
			t.Errorf("the 409 message %q does not list the change %+v", re.Message, c)
		}
	}
	if versions, _ := cl.SubjectVersions(ctx, "order.placed"); !slices.Equal(versions, []int{1}) {
		t.Fatalf("versions after the refusal: %v", versions)
	}
}

func TestRegistryAPI_CompatibilityChecksExplainWithVerbose(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{})
	cl := e.registry()
	ctx := context.Background()
	if _, err := cl.RegisterSchema(ctx, "order.placed", jsonSchema(orderV1), -1, -1); err != nil {
		t.Fatal(err)
	}
	res, err := cl.CheckCompatibility(ctx, "order.placed", -1, jsonSchema(orderV1))
	if err != nil || !res.Is {
		t.Fatalf("check the same schema: %+v %v", res, err)
	}
	res, err = cl.CheckCompatibility(ctx, "order.placed", 1, jsonSchema(orderBroken))
	if err != nil || res.Is || len(res.Messages) != 0 {
		t.Fatalf("check without verbose: %+v %v, want incompatible without messages", res, err)
	}
	res, err = cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), "order.placed", -2, jsonSchema(orderBroken))
	if err != nil || res.Is || len(res.Messages) == 0 {
		t.Fatalf("check verbose against every version: %+v %v", res, err)
	}
	for _, m := range res.Messages {
		if !strings.Contains(m, "version 1") {
			t.Errorf("message %q does not name the version it breaks with", m)
		}
	}
	// Herald's members: the changes as objects.
	r := e.do("POST", RegistryPrefix+"/compatibility/subjects/order.placed/versions/latest?verbose=true",
		`{"schema":`+quote(orderBroken)+`}`, "Content-Type", "application/vnd.schemaregistry.v1+json")
	var check RegistryCheck
	r.wantStatus(t, 200, mediaRegistry, &check)
	if check.IsCompatible || len(check.Changes) != len(res.Messages) || check.Compatibility != "BACKWARD" || check.Changes[0].Rule == "" {
		t.Fatalf("verbose reply: %+v", check)
	}
	_, err = cl.CheckCompatibility(ctx, "order.placed", 9, jsonSchema(orderV1))
	wantRegistryError(t, err, 404, 40402)
	_, err = cl.CheckCompatibility(ctx, "nobody", 1, jsonSchema(orderV1))
	wantRegistryError(t, err, 404, 40401)
	if res, err := cl.CheckCompatibility(ctx, "nobody", -2, jsonSchema(orderV1)); err != nil || !res.Is {
		t.Fatalf("check against a subject without versions: %+v %v", res, err)
	}
}

func TestRegistryAPI_ConfigGlobalAndPerSubject(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{})
	cl := e.registry()
	ctx := context.Background()
	global := cl.Compatibility(ctx)
	if global[0].Err != nil || global[0].Level != sr.CompatBackward {
		t.Fatalf("global: %+v", global[0])
	}
	if set := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFullTransitive}, "order.placed"); set[0].Err != nil ||
		set[0].Level != sr.CompatFullTransitive {
		t.Fatalf("set a subject's level: %+v", set[0])
	}
	if got := cl.Compatibility(ctx, "order.placed"); got[0].Err != nil || got[0].Level != sr.CompatFullTransitive {
		t.Fatalf("a subject's level: %+v", got[0])
	}
	wantRegistryError(t, cl.Compatibility(ctx, "other")[0].Err, 404, 40408)
	if got := cl.Compatibility(sr.WithParams(ctx, sr.DefaultToGlobal), "other"); got[0].Err != nil || got[0].Level != sr.CompatBackward {
		t.Fatalf("defaultToGlobal: %+v", got[0])
	}
	if set := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatForward}); set[0].Err != nil {
		t.Fatal(set[0].Err)
	}
	if e.schemas.GlobalCompatibility() != compat.Forward {
		t.Fatalf("global after PUT /config: %s", e.schemas.GlobalCompatibility())
	}
	if reset := cl.ResetCompatibility(ctx, "order.placed"); reset[0].Err != nil || reset[0].Level != sr.CompatFullTransitive {
		t.Fatalf("reset: %+v", reset[0])
	}
	r := e.do("PUT", RegistryPrefix+"/config", `{"compatibility":"SIDEWAYS"}`)
	var re RegistryError
	r.wantStatus(t, 422, mediaRegistry, &re)
	if re.ErrorCode != 42203 || !strings.Contains(re.Message, "SIDEWAYS") {
		t.Fatalf("a bad level: %+v", re)
	}
}

func TestRegistryAPI_SoftAndPermanentDeletes(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{})
	cl := e.registry()
	ctx := context.Background()
	cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, "order.placed")
	for _, s := range []string{orderV1, orderV2} {
		if _, err := cl.RegisterSchema(ctx, "order.placed", jsonSchema(s), -1, -1); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.DeleteSchema(ctx, "order.placed", 1, sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if versions, err := cl.SubjectVersions(ctx, "order.placed"); err != nil || !slices.Equal(versions, []int{2}) {
		t.Fatalf("versions after a soft delete: %v %v", versions, err)
	}
	if versions, err := cl.SubjectVersions(sr.WithParams(ctx, sr.ShowDeleted), "order.placed"); err != nil || !slices.Equal(versions, []int{1, 2}) {
		t.Fatalf("versions with deleted: %v %v", versions, err)
	}
	_, err := cl.SchemaByVersion(ctx, "order.placed", 1)
	wantRegistryError(t, err, 404, 40402)
	wantRegistryError(t, cl.DeleteSchema(ctx, "order.placed", 1, sr.SoftDelete), 404, 40406)
	wantRegistryError(t, cl.DeleteSchema(ctx, "order.placed", 2, sr.HardDelete), 404, 40407)
	if err := cl.DeleteSchema(ctx, "order.placed", 1, sr.HardDelete); err != nil {
		t.Fatal(err)
	}
	_, err = cl.DeleteSubject(ctx, "order.placed", sr.HardDelete)
	wantRegistryError(t, err, 404, 40405)
	if versions, err := cl.DeleteSubject(ctx, "order.placed", sr.SoftDelete); err != nil || !slices.Equal(versions, []int{2}) {
		t.Fatalf("delete subject: %v %v", versions, err)
	}
	if subjects, err := cl.Subjects(ctx); err != nil || len(subjects) != 0 {
		t.Fatalf("subjects after a soft delete: %v %v", subjects, err)
	}
	_, err = cl.DeleteSubject(ctx, "order.placed", sr.SoftDelete)
	wantRegistryError(t, err, 404, 40404)
	if versions, err := cl.DeleteSubject(ctx, "order.placed", sr.HardDelete); err != nil || !slices.Equal(versions, []int{2}) {
		t.Fatalf("permanent delete subject: %v %v", versions, err)
	}
	_, err = cl.DeleteSubject(ctx, "order.placed", sr.SoftDelete)
	wantRegistryError(t, err, 404, 40401)
}

func TestRegistryAPI_ErrorsAndMediaTypesAsConfluent(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{})
	tests := []struct {
		name, method, path, body, ct string
		status, code                 int
	}{
		{"invalid version", "GET", "/subjects/a/versions/zero", "", "", 422, 42202},
		{"version 0", "GET", "/subjects/a/versions/0", "", "", 422, 42202},
		{"unknown path", "GET", "/nothing/here", "", "", 404, 404},
		{"wrong method", "PATCH", "/subjects", "", "", 405, 405},
		{"wrong media type", "POST", "/subjects/a/versions", `{"schema":"{}"}`, "text/plain", 415, 415},
		{"not JSON", "POST", "/subjects/a/versions", `schema`, "application/json", 400, 400},
		{"no schema", "POST", "/subjects/a/versions", `{}`, "application/json", 422, 42201},
		{"references", "POST", "/subjects/a/versions", `{"schema":"{}","references":[{"name":"x","subject":"y","version":1}]}`, "", 422, 42205},
		{"import mode", "POST", "/subjects/a/versions", `{"schema":"{}","id":7}`, "", 422, 42205},
		{"invalid subject", "POST", "/subjects/%0A/versions", `{"schema":"{}"}`, "", 422, 42208},
		// Decoding would turn the bad byte into U+FFFD: another schema.
		{"not UTF-8", "POST", "/subjects/a/versions", "{\"schema\":\"{\\\"description\\\":\\\"caf\xe9\\\"}\"}", "application/json", 400, 400},
		{"not UTF-8 in a check", "POST", "/compatibility/subjects/a/versions", "{\"schema\":\"\xff{}\"}", "", 400, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h []string
			if tt.ct != "" {
				h = []string{"Content-Type", tt.ct}
			}
			r := e.do(tt.method, RegistryPrefix+tt.path, tt.body, h...)
			var re RegistryError
			r.wantStatus(t, tt.status, mediaRegistry, &re)
			if re.ErrorCode != tt.code || re.Message == "" {
				t.Fatalf("error %+v, want error_code %d", re, tt.code)
			}
		})
	}
	r := e.do("POST", RegistryPrefix+"/subjects/a/versions", `{"schema":"{\"type\":\"string\"}"}`, "Content-Type", "application/json")
	var reg RegistryRegistered
	r.wantStatus(t, 200, mediaRegistry, &reg)
	if reg.ID != 1 || reg.Version != 1 {
		t.Fatalf("register with plain JSON and no schemaType: %+v", reg)
	}
	e.do("GET", RegistryPrefix+"/", "").wantStatus(t, 200, mediaRegistry, nil)
	var mode RegistryMode
	e.do("GET", RegistryPrefix+"/mode", "").wantStatus(t, 200, mediaRegistry, &mode)
	if mode.Mode != "READWRITE" {
		t.Fatalf("mode %+v", mode)
	}
	// The v1 API keeps its problem+json errors.
	e.do("GET", "/v1/nothing", "").wantProblem(t, 404, "not_found")
}

// quote returns s as a JSON string.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestPublish_SchemaViolationsAre422AndStoreNothing(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{})
	e.createTopic("orders", `{"schemaPolicy":"validate"}`)
	if _, _, err := e.schemas.Register(context.Background(), "order.placed", []byte(orderV1)); err != nil {
		t.Fatal(err)
	}
	good := `{"specversion":"1.0","id":"o-1","source":"/shop","type":"order.placed","datacontenttype":"application/json","data":{"orderId":"o-1","total":12.5}}`
	bad := `{"specversion":"1.0","id":"o-2","source":"/shop","type":"order.placed","data":{"orderId":2,"total":-1}}`
	other := `{"specversion":"1.0","id":"x-1","source":"/shop","type":"other.thing","data":{"anything":1}}`

	e.do("POST", "/v1/topics/orders/events", good, ctStructured...).publishResults(t)
	e.do("POST", "/v1/topics/orders/events", other, ctStructured...).publishResults(t)

	p := e.do("POST", "/v1/topics/orders/events", "["+good+","+other+","+bad+"]", ctBatch...).wantProblem(t, 422, "schema_violation")
	if len(p.Violations) != 2 {
		t.Fatalf("violations %+v, want 2", p.Violations)
	}
	at := map[string]Violation{}
	for _, v := range p.Violations {
		at[v.Pointer] = v
	}
	if v := at["/orderId"]; v.Index != 2 || v.ID != "o-2" || v.Subject != "order.placed" || v.Version != 1 || !strings.Contains(v.Message, "want string") {
		t.Errorf("violation at /orderId: %+v", v)
	}
	if v := at["/total"]; !strings.Contains(v.Message, "minimum") || v.Keyword != "#/properties/total/minimum" {
		t.Errorf("violation at /total: %+v", v)
	}
	if !strings.Contains(p.Detail, `event 2 (id "o-2")`) || !strings.Contains(p.Detail, "nothing of the batch was stored") {
		t.Errorf("detail %q", p.Detail)
	}
	if ends := e.endOffsets("orders"); ends[0] != 2 {
		t.Fatalf("end offset %d after a refused batch, want 2 (nothing of it stored)", ends[0])
	}
	// Binary mode, and a dataschema naming a version that is not there.
	h := []string{"ce-specversion", "1.0", "ce-id", "o-3", "ce-source", "/shop", "ce-type", "order.placed",
		"ce-dataschema", "herald:schemas/order.placed/versions/4", "Content-Type", "application/json"}
	p = e.do("POST", "/v1/topics/orders/events", `{"orderId":"o-3","total":1}`, h...).wantProblem(t, 422, "schema_violation")
	if len(p.Violations) != 1 || p.Violations[0].Index != 0 || !strings.Contains(p.Violations[0].Message, "version 4") {
		t.Fatalf("a missing version: %+v", p.Violations)
	}
	// Data that is not JSON, for a type with a schema.
	h = []string{"ce-specversion", "1.0", "ce-id", "o-4", "ce-source", "/shop", "ce-type", "order.placed", "Content-Type", "text/csv"}
	p = e.do("POST", "/v1/topics/orders/events", "o-4,1", h...).wantProblem(t, 422, "schema_violation")
	if !strings.Contains(p.Violations[0].Message, "not JSON") {
		t.Fatalf("non-JSON data: %+v", p.Violations)
	}
	// require: a type without a schema is refused too.
	e.do("PUT", "/v1/topics/orders", `{"schemaPolicy":"require"}`).wantStatus(t, 200, mediaJSON, nil)
	p = e.do("POST", "/v1/topics/orders/events", other, ctStructured...).wantProblem(t, 422, "schema_violation")
	if !strings.Contains(p.Violations[0].Message, "require") {
		t.Fatalf("require: %+v", p.Violations)
	}
	if ends := e.endOffsets("orders"); ends[0] != 2 {
		t.Fatalf("end offset %d, want 2", ends[0])
	}
}

func TestTopics_SchemaPolicyIsStoredWithTheTopic(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{})
	var tp Topic
	e.do("PUT", "/v1/topics/orders", `{"schemaPolicy":"require"}`).wantStatus(t, 201, mediaJSON, &tp)
	if tp.SchemaPolicy != "require" {
		t.Fatalf("created: %+v", tp)
	}
	e.do("PUT", "/v1/topics/orders", `{"partitions":2}`).wantStatus(t, 200, mediaJSON, &tp)
	if tp.SchemaPolicy != "require" || tp.Partitions != 2 {
		t.Fatalf("an update of another setting changed the policy: %+v", tp)
	}
	e.do("GET", "/v1/topics/orders", "").wantStatus(t, 200, mediaJSON, &tp)
	if tp.SchemaPolicy != "require" {
		t.Fatalf("get: %+v", tp)
	}
	p := e.do("PUT", "/v1/topics/orders", `{"schemaPolicy":"strict"}`).wantProblem(t, 400, "invalid_topic_setting")
	if !strings.Contains(p.Detail, "none, validate or require") {
		t.Fatalf("detail %q", p.Detail)
	}
	e.do("PUT", "/v1/topics/orders", `{"schemaPolicy":"none"}`).wantStatus(t, 200, mediaJSON, &tp)
	if tp.SchemaPolicy != "none" {
		t.Fatalf("back to none: %+v", tp)
	}
	var fresh Topic
	e.do("PUT", "/v1/topics/plain", ``).wantStatus(t, 201, mediaJSON, &fresh)
	if fresh.SchemaPolicy != "none" {
		t.Fatalf("the default policy: %+v", fresh)
	}
}

// An event whose data holds a number math/big cannot read (an exponent
// beyond ±1,000,000) where its schema compares numbers is a schema
// violation: neither stored unchecked nor a panic of the request.
func TestRegistry_ANumberMathBigCannotReadIsASchemaViolation(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{})
	reg := `{"schemaType":"JSON","schema":` + quote(`{"type":"object","properties":{"n":{"type":"integer","minimum":1}},"required":["n"]}`) + `}`
	if r := e.do("POST", "/schema-registry/subjects/m/versions", reg, "Content-Type", mediaRegistry); r.status != 200 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	reg = `{"schemaType":"JSON","schema":` + quote(`{"type":"object","properties":{"n":{"minimum":1}},"required":["n"]}`) + `}`
	if r := e.do("POST", "/schema-registry/subjects/p/versions", reg, "Content-Type", mediaRegistry); r.status != 200 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	e.createTopic("t", `{"schemaPolicy":"validate"}`)
	send := func(id, data string, typ ...string) (int, string, error) {
		req, _ := http.NewRequest("POST", e.url+"/v1/topics/t/events", strings.NewReader(data))
		for _, kv := range [][2]string{{"ce-specversion", "1.0"}, {"ce-id", id}, {"ce-source", "/s"}, {"ce-type", append(typ, "m")[0]}, {"Content-Type", "application/json"}} {
			req.Header.Set(kv[0], kv[1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	// 1e1000001 is not an integer for jsonschema/v6 (math/big refuses it), the fast path says it is.
	st, body, err := send("a", `{"n":1e1000001}`)
	t.Logf("n=1e1000001: status %d %.120s err %v", st, body, err)
	if st != 422 {
		t.Errorf("n=1e1000001: status %d, want 422 schema_violation (stored: end offsets %v)", st, e.endOffsets("t"))
	}
	// 1e-1000001 fails the fast path (below minimum 1); the full validator then panics.
	st, body, err = send("b", `{"n":1e-1000001}`, "p")
	t.Logf("n=1e-1000001: status %d %.120s err %v", st, body, err)
	if err != nil || st != 422 {
		t.Errorf("n=1e-1000001: status %d err %v, want 422 schema_violation", st, err)
	}
}
