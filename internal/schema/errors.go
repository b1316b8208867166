package schema

import (
	"errors"
	"fmt"
	"strings"

	"github.com/heraldevents/herald/internal/schema/compat"
)

// Errors of the registry, grouped by when they happen. The HTTP API maps
// each to its problem code and to Confluent Schema Registry's error code.
var (
	// Naming a subject, version or schema.
	ErrSubjectNotFound = errors.New("subject not found")
	ErrVersionNotFound = errors.New("version not found")
	ErrSchemaNotFound  = errors.New("schema not found")
	ErrInvalidSubject  = errors.New("invalid subject")
	ErrInvalidVersion  = errors.New("invalid version")

	// Registering.
	ErrInvalidSchema = errors.New("invalid schema")
	ErrIncompatible  = errors.New("incompatible schema")

	// Deleting.
	ErrSubjectSoftDeleted    = errors.New("subject was soft deleted")
	ErrSubjectNotSoftDeleted = errors.New("subject was not soft deleted first")
	ErrVersionSoftDeleted    = errors.New("version was soft deleted")
	ErrVersionNotSoftDeleted = errors.New("version was not soft deleted first")

	// Configuring.
	ErrInvalidCompatibility = errors.New("invalid compatibility level")
	ErrNoSubjectConfig      = errors.New("subject has no compatibility level of its own")

	// Publishing.
	ErrViolation = errors.New("schema violation")
)

// IncompatibleError refuses a schema that breaks compatibility with the
// subject's versions: every breaking change, each with its JSON path, the
// rule it breaks, the version it breaks with and the direction (backward:
// the new schema cannot read data of that version; forward: that version
// cannot read data of the new schema).
type IncompatibleError struct {
	Subject string
	Mode    compat.Mode
	Changes []compat.Change
}

func (e *IncompatibleError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: the schema breaks %s compatibility of subject %q with %d change", ErrIncompatible, e.Mode, e.Subject, len(e.Changes))
	if len(e.Changes) != 1 {
		b.WriteString("s")
	}
	for i, c := range e.Changes {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		b.WriteString(sep)
		b.WriteString(FormatChange(c))
	}
	return b.String()
}

func (e *IncompatibleError) Unwrap() error { return ErrIncompatible }

// FormatChange writes a breaking change on one line.
func FormatChange(c compat.Change) string {
	var b strings.Builder
	b.WriteString(c.Path)
	if c.Path != "" {
		b.WriteString(": ")
	}
	b.WriteString(c.Message)
	b.WriteString(" [")
	b.WriteString(c.Rule)
	if c.Version > 0 {
		fmt.Fprintf(&b, "; version %d", c.Version)
	}
	if c.Direction != "" {
		b.WriteString("; ")
		b.WriteString(c.Direction)
	}
	b.WriteString("]")
	return b.String()
}
