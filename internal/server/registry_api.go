package server

import "github.com/heraldevents/herald/internal/schema/compat"

// The JSON bodies of the schema registry API, in Confluent Schema
// Registry's shapes (plus a few members of Herald's own, which clients
// that do not know them ignore). The CLI decodes replies with these types.

// schemaTypeJSON is the one schema type Herald keeps.
const schemaTypeJSON = "JSON"

// RegistrySchemaRequest is the body of a registration, a lookup and a
// compatibility check. Schema is the schema's text, as a JSON string.
type RegistrySchemaRequest struct {
	Schema     string `json:"schema"`
	SchemaType string `json:"schemaType,omitempty"` // JSON; absent is taken as JSON
	References []any  `json:"references,omitempty"` // not supported: must be absent or empty
	ID         int    `json:"id,omitempty"`         // not supported (IMPORT mode)
	Version    int    `json:"version,omitempty"`    // not supported (IMPORT mode)
}

// RegistryRegistered is the reply to a registration: the schema's id and
// (Herald's) the version of the subject it is.
type RegistryRegistered struct {
	ID      int `json:"id"`
	Version int `json:"version"`
}

// RegistryVersion is a version of a subject.
type RegistryVersion struct {
	Subject    string `json:"subject"`
	Version    int    `json:"version"`
	ID         int    `json:"id"`
	SchemaType string `json:"schemaType"`
	Schema     string `json:"schema"`
}

// RegistrySchema is a schema by its id.
type RegistrySchema struct {
	Schema     string `json:"schema"`
	SchemaType string `json:"schemaType"`
}

// RegistrySubjectVersion names a version of a subject.
type RegistrySubjectVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// RegistryCheck is the reply to a compatibility check. With verbose=true
// it has Messages (one line per breaking change) and, Herald's own, the
// changes as objects and the compatibility level checked.
type RegistryCheck struct {
	IsCompatible  bool            `json:"is_compatible"`
	Messages      []string        `json:"messages,omitempty"`
	Changes       []compat.Change `json:"changes,omitempty"`
	Compatibility string          `json:"compatibility,omitempty"`
}

// RegistryConfig is the reply to GET /config and /config/{subject}.
type RegistryConfig struct {
	CompatibilityLevel string `json:"compatibilityLevel"`
}

// RegistryConfigRequest is the body of PUT /config and /config/{subject}
// (compatibility; compatibilityLevel is accepted too) and the reply to it.
type RegistryConfigRequest struct {
	Compatibility      string `json:"compatibility,omitempty"`
	CompatibilityLevel string `json:"compatibilityLevel,omitempty"`
}

// RegistryMode is the reply to GET /mode: always READWRITE.
type RegistryMode struct {
	Mode string `json:"mode"`
}

// RegistryError is an error reply of the registry API.
type RegistryError struct {
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
}
