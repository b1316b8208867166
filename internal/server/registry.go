package server

import (
	"encoding/json"
	"fmt"
	"github.com/heraldevents/herald/internal/auth"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/heraldevents/herald/internal/schema"
)

// The schema registry's HTTP API, compatible with Confluent Schema
// Registry's REST API for what applies to JSON Schema, so that its
// clients work when given http://HOST:PORT/schema-registry as the
// registry URL. Replies are application/vnd.schemaregistry.v1+json;
// errors are {"error_code": …, "message": …} with Confluent's codes
// (the problem table's registry column).

// RegistryPrefix is where the schema registry API is served.
const RegistryPrefix = "/schema-registry"

// mediaRegistry is the media type of the registry's replies.
const mediaRegistry = "application/vnd.schemaregistry.v1+json"

func isRegistryPath(path string) bool {
	return path == RegistryPrefix || strings.HasPrefix(path, RegistryPrefix+"/")
}

func (s *Server) registryRoutes() {
	const p = RegistryPrefix
	const version = p + "/subjects/{subject}/versions/{version}"
	routes := map[string]http.HandlerFunc{
		"GET " + p + "/{$}":                                        s.srRoot,
		"GET " + p + "/schemas/types":                              s.srTypes,
		"GET " + p + "/schemas/ids/{id}":                           s.srSchemaByID,
		"GET " + p + "/schemas/ids/{id}/schema":                    s.srSchemaTextByID,
		"GET " + p + "/schemas/ids/{id}/subjects":                  s.srSubjectsByID,
		"GET " + p + "/schemas/ids/{id}/versions":                  s.srVersionsByID,
		"GET " + p + "/subjects":                                   s.srSubjects,
		"POST " + p + "/subjects/{subject}":                        s.srLookup,
		"DELETE " + p + "/subjects/{subject}":                      s.srDeleteSubject,
		"GET " + p + "/subjects/{subject}/versions":                s.srVersions,
		"POST " + p + "/subjects/{subject}/versions":               s.srRegister,
		"GET " + version:                                           s.srVersion,
		"DELETE " + version:                                        s.srDeleteVersion,
		"GET " + version + "/schema":                               s.srVersionSchema,
		"GET " + version + "/referencedby":                         s.srReferencedBy,
		"POST " + p + "/compatibility/subjects/{subject}/versions": s.srCheck,
		"POST " + p + "/compatibility" + version[len(p):]:          s.srCheck,
		"GET " + p + "/config":                                     s.srGetConfig,
		"PUT " + p + "/config":                                     s.srPutConfig,
		"DELETE " + p + "/config":                                  s.srDeleteConfig,
		"GET " + p + "/config/{subject}":                           s.srGetConfig,
		"PUT " + p + "/config/{subject}":                           s.srPutConfig,
		"DELETE " + p + "/config/{subject}":                        s.srDeleteConfig,
		"GET " + p + "/mode":                                       s.srMode,
		"GET " + p + "/mode/{subject}":                             s.srMode,
	}
	for pattern, h := range routes {
		n := need{scope: scopeAuthenticated} // reading and checking schemas
		if !strings.HasPrefix(pattern, "GET ") && !strings.Contains(pattern, "/compatibility/") && pattern != "POST "+p+"/subjects/{subject}" {
			n = need{scope: scopeGlobal, action: auth.Admin} // registering, deleting, configuring
		}
		s.handle(pattern, n, h)
	}
}

// writeRegistry writes a registry reply.
func (s *Server) writeRegistry(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeBody(w, r, http.StatusOK, mediaRegistry, b)
}

// writeRegistryError replies in Confluent's error shape.
func (s *Server) writeRegistryError(w http.ResponseWriter, r *http.Request, err error) {
	k := kindOf(err)
	if k.status >= 500 && k.code != "request_canceled" {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "code", k.code, "error", err)
	} else {
		s.log.DebugContext(r.Context(), "request refused", "method", r.Method, "path", r.URL.Path, "code", k.code, "error", err)
	}
	code := k.registry
	if code == 0 {
		code = k.status
	}
	b, _ := json.Marshal(RegistryError{ErrorCode: code, Message: err.Error()})
	s.writeBody(w, r, k.status, mediaRegistry, b)
}

// registryBody reads a registry request's JSON body into v. The media
// types Confluent's clients send are accepted, as are plain JSON and no
// Content-Type. A body that is not UTF-8 is refused.
func (s *Server) registryBody(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		switch mt {
		case mediaRegistry, "application/vnd.schemaregistry+json", mediaJSON, "application/octet-stream":
		default:
			return fmt.Errorf("%w: %q: send %s or %s", errUnsupportedMediaType, ct, mediaRegistry, mediaJSON)
		}
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	if !utf8.Valid(body) { // decoding would turn a bad byte into U+FFFD: another schema
		return fmt.Errorf("%w: the body is not UTF-8; send it as UTF-8, as JSON requires", errMalformedRequest)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: the body is not the JSON object expected: %w", errMalformedRequest, err)
	}
	return nil
}

// boolParam reads a true/false query parameter (absent: false).
func boolParam(r *http.Request, name string) bool {
	v, _ := strconv.ParseBool(r.URL.Query().Get(name))
	return v
}

// versionParam reads {version}: a number from 1, or "latest" (also -1).
func versionParam(r *http.Request) (int, error) {
	v := r.PathValue("version")
	if v == "latest" || v == "-1" {
		return schema.Latest, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > math.MaxInt32 {
		return 0, fmt.Errorf("%w: %q: a version is a number from 1 to %d, or \"latest\"", schema.ErrInvalidVersion, v, math.MaxInt32)
	}
	return n, nil
}

func idParam(r *http.Request) (int, error) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 1 {
		return 0, fmt.Errorf("%w: %q is not a schema id", schema.ErrSchemaNotFound, r.PathValue("id"))
	}
	return id, nil
}

func (s *Server) srRoot(w http.ResponseWriter, r *http.Request) {
	s.writeRegistry(w, r, struct{}{})
}

func (s *Server) srTypes(w http.ResponseWriter, r *http.Request) {
	s.writeRegistry(w, r, []string{schemaTypeJSON})
}

func (s *Server) srMode(w http.ResponseWriter, r *http.Request) {
	s.writeRegistry(w, r, RegistryMode{Mode: "READWRITE"})
}

func (s *Server) srSchemaByID(w http.ResponseWriter, r *http.Request) {
	if text, ok := s.schemaOfIDParam(w, r); ok {
		s.writeRegistry(w, r, RegistrySchema{Schema: text, SchemaType: schemaTypeJSON})
	}
}

func (s *Server) srSchemaTextByID(w http.ResponseWriter, r *http.Request) {
	if text, ok := s.schemaOfIDParam(w, r); ok {
		s.writeSchemaText(w, r, text)
	}
}

// schemaOfIDParam returns the schema whose global id the path names, or
// answers with the error and returns false.
func (s *Server) schemaOfIDParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	id, err := idParam(r)
	if err == nil {
		var text string
		if text, err = s.schemas.SchemaByID(id); err == nil {
			return text, true
		}
	}
	s.writeError(w, r, err)
	return "", false
}

// writeSchemaText replies with a schema's text as it is (no newline
// added: clients take the body as the schema).
func (s *Server) writeSchemaText(w http.ResponseWriter, r *http.Request, text string) {
	w.Header().Set("Content-Type", mediaRegistry)
	if _, err := io.WriteString(w, text); err != nil {
		s.log.DebugContext(r.Context(), "write reply", "path", r.URL.Path, "error", err)
	}
}

func (s *Server) srSubjectsByID(w http.ResponseWriter, r *http.Request) {
	usages, err := s.usages(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	subjects := []string{}
	for _, u := range usages {
		if len(subjects) == 0 || subjects[len(subjects)-1] != u.Subject {
			subjects = append(subjects, u.Subject)
		}
	}
	s.writeRegistry(w, r, subjects)
}

func (s *Server) srVersionsByID(w http.ResponseWriter, r *http.Request) {
	usages, err := s.usages(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]RegistrySubjectVersion, len(usages))
	for i, u := range usages {
		out[i] = RegistrySubjectVersion{Subject: u.Subject, Version: u.Version}
	}
	s.writeRegistry(w, r, out)
}

func (s *Server) usages(r *http.Request) ([]schema.SchemaVersion, error) {
	id, err := idParam(r)
	if err != nil {
		return nil, err
	}
	return s.schemas.Usages(id, boolParam(r, "deleted"))
}

func (s *Server) srSubjects(w http.ResponseWriter, r *http.Request) {
	prefix := r.URL.Query().Get("subjectPrefix")
	subjects := []string{}
	for _, name := range s.schemas.Subjects(boolParam(r, "deleted")) {
		if strings.HasPrefix(name, prefix) {
			subjects = append(subjects, name)
		}
	}
	s.writeRegistry(w, r, subjects)
}

func (s *Server) srVersions(w http.ResponseWriter, r *http.Request) {
	versions, err := s.schemas.Versions(r.PathValue("subject"), boolParam(r, "deleted"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeRegistry(w, r, versions)
}

// version returns the version the request names.
func (s *Server) version(r *http.Request) (schema.SchemaVersion, error) {
	n, err := versionParam(r)
	if err != nil {
		return schema.SchemaVersion{}, err
	}
	return s.schemas.Version(r.PathValue("subject"), n, boolParam(r, "deleted"))
}

func (s *Server) srVersion(w http.ResponseWriter, r *http.Request) {
	v, err := s.version(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeRegistry(w, r, registryVersion(v))
}

func (s *Server) srVersionSchema(w http.ResponseWriter, r *http.Request) {
	v, err := s.version(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeSchemaText(w, r, v.Schema)
}

// srReferencedBy lists the schemas that refer to a version: none, as
// Herald has no schema references.
func (s *Server) srReferencedBy(w http.ResponseWriter, r *http.Request) {
	if _, err := s.version(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeRegistry(w, r, []int{})
}

// schemaRequest reads the body of a registration, lookup or check.
func (s *Server) schemaRequest(w http.ResponseWriter, r *http.Request) (RegistrySchemaRequest, error) {
	var req RegistrySchemaRequest
	if err := s.registryBody(w, r, &req); err != nil {
		return req, err
	}
	switch {
	case req.SchemaType != "" && !strings.EqualFold(req.SchemaType, schemaTypeJSON):
		return req, fmt.Errorf("%w: schemaType %q: Herald keeps JSON Schemas only (schemaType JSON)", schema.ErrInvalidSchema, req.SchemaType)
	case len(req.References) > 0:
		return req, fmt.Errorf("%w: schema references: Herald resolves $ref within a schema only", errNotPermitted)
	case strings.TrimSpace(req.Schema) == "":
		return req, fmt.Errorf("%w: the body has no schema: send {\"schemaType\":\"JSON\",\"schema\":\"<the schema as a string>\"}", schema.ErrInvalidSchema)
	}
	return req, nil
}

func (s *Server) srRegister(w http.ResponseWriter, r *http.Request) {
	req, err := s.schemaRequest(w, r)
	if err == nil && (req.ID > 0 || req.Version > 0) {
		err = fmt.Errorf("%w: registering with a given id or version (IMPORT mode): Herald assigns both", errNotPermitted)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	v, _, err := s.schemas.Register(r.Context(), r.PathValue("subject"), []byte(req.Schema))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeRegistry(w, r, RegistryRegistered{ID: v.ID, Version: v.Version})
}

func (s *Server) srLookup(w http.ResponseWriter, r *http.Request) {
	req, err := s.schemaRequest(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.schemas.Lookup(r.PathValue("subject"), []byte(req.Schema), boolParam(r, "deleted"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeRegistry(w, r, registryVersion(v))
}

func (s *Server) srDeleteSubject(w http.ResponseWriter, r *http.Request) {
	versions, err := s.schemas.DeleteSubject(r.Context(), r.PathValue("subject"), boolParam(r, "permanent"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeRegistry(w, r, versions)
}

func (s *Server) srDeleteVersion(w http.ResponseWriter, r *http.Request) {
	n, err := versionParam(r)
	if err == nil {
		n, err = s.schemas.DeleteVersion(r.Context(), r.PathValue("subject"), n, boolParam(r, "permanent"))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeRegistry(w, r, n)
}

// srCheck checks a schema against one version, or (without a version in
// the path) against every version the subject's mode covers. With
// verbose=true the reply explains an incompatible verdict.
func (s *Server) srCheck(w http.ResponseWriter, r *http.Request) {
	req, err := s.schemaRequest(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	n := 0
	if r.PathValue("version") != "" {
		if n, err = versionParam(r); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	res, mode, err := s.schemas.CheckCompatibility(r.PathValue("subject"), n, []byte(req.Schema))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := RegistryCheck{IsCompatible: res.Compatible}
	if boolParam(r, "verbose") {
		out.Messages, out.Changes, out.Compatibility = []string{}, nonNil(res.Changes), string(mode)
		for _, c := range res.Changes {
			out.Messages = append(out.Messages, schema.FormatChange(c))
		}
	}
	s.writeRegistry(w, r, out)
}

func (s *Server) srGetConfig(w http.ResponseWriter, r *http.Request) {
	subject := r.PathValue("subject")
	if subject == "" {
		s.writeRegistry(w, r, RegistryConfig{CompatibilityLevel: string(s.schemas.GlobalCompatibility())})
		return
	}
	mode, ok := s.schemas.Compatibility(subject)
	switch {
	case ok:
	case boolParam(r, "defaultToGlobal"):
		mode = s.schemas.GlobalCompatibility()
	default:
		s.writeError(w, r, fmt.Errorf("%w: %q (ask with defaultToGlobal=true for the level that applies to it)", schema.ErrNoSubjectConfig, subject))
		return
	}
	s.writeRegistry(w, r, RegistryConfig{CompatibilityLevel: string(mode)})
}

func (s *Server) srPutConfig(w http.ResponseWriter, r *http.Request) {
	var req RegistryConfigRequest
	if err := s.registryBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	level := req.Compatibility
	if level == "" {
		level = req.CompatibilityLevel
	}
	if level == "" {
		s.writeError(w, r, fmt.Errorf("%w: the body has no level: send {\"compatibility\":\"BACKWARD\"}", schema.ErrInvalidCompatibility))
		return
	}
	mode, err := schema.ParseCompatibility(level)
	if err == nil {
		err = s.schemas.SetCompatibility(r.Context(), r.PathValue("subject"), mode)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeRegistry(w, r, RegistryConfigRequest{Compatibility: string(mode)})
}

func (s *Server) srDeleteConfig(w http.ResponseWriter, r *http.Request) {
	old, err := s.schemas.DeleteCompatibility(r.Context(), r.PathValue("subject"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeRegistry(w, r, RegistryConfigRequest{Compatibility: string(old)})
}

func registryVersion(v schema.SchemaVersion) RegistryVersion {
	return RegistryVersion{Subject: v.Subject, Version: v.Version, ID: v.ID, SchemaType: schemaTypeJSON, Schema: v.Schema}
}
