package herald

import (
	"context"
	"fmt"
	"strings"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/schema"
)

// RegisterSchema registers a JSON Schema (draft 2020-12, the default, or
// draft-07) for the events of a type, the subject, and returns its
// version: the next one, or the existing version that has the same
// schema. The schema must be compatible with the subject's versions in
// its compatibility level (BACKWARD unless set otherwise over the
// registry's HTTP API or `herald schemas config`); an incompatible one
// is ErrIncompatibleSchema, an *IncompatibleSchemaError listing every
// breaking change.
//
// Topics whose SchemaPolicy is validate or require then validate each
// published event of that type against the version its dataschema names
// (WithSchemaVersion), or the latest.
func (c *Client) RegisterSchema(ctx context.Context, subject string, schema []byte) (version int, err error) {
	if err := c.alive(ctx); err != nil {
		return 0, err
	}
	return c.b.registerSchema(ctx, subject, schema)
}

// SchemaURI returns the URI that names a version of a subject's schema,
// for an event's dataschema: herald:schemas/<subject>/versions/<version>.
func SchemaURI(subject string, version int) string { return schema.URI(subject, version) }

// WithSchemaVersion sets the dataschema to version n (from 1) of the
// schema of the event's type (SchemaURI): the event is validated against
// that version, and a Router's upcasters start from it. A JSON Schema
// describes JSON data: NewEvent refuses it for a proto.Message.
func WithSchemaVersion(n int) EventOption {
	return func(b *eventBuild) { b.e.DataSchema = SchemaURI(b.e.Type, n) }
}

// schemaVersion returns the version of its type's schema an event's
// dataschema names; 0 when it names none.
func schemaVersion(e *CloudEvent) int {
	subject, n, ok, err := schema.ParseURI(e.DataSchema)
	if !ok || err != nil || subject != e.Type {
		return 0
	}
	return n
}

// checkSchemaURI refuses a dataschema of the form WithSchemaVersion makes
// that a server validating schemas would refuse: malformed (a version
// below 1), or naming the schema of another type. A URL is left to the
// server: it may name a schema of another registry, which a topic that
// does not validate schemas stores as it is.
func checkSchemaURI(e *CloudEvent) error {
	if !strings.HasPrefix(e.DataSchema, "herald:") {
		return nil
	}
	subject, _, ok, err := schema.ParseURI(e.DataSchema)
	switch {
	case err != nil:
		return &event.ValidationError{Attribute: "dataschema", Rule: fmt.Sprintf(
			"must be of the form herald:schemas/<type>/versions/<n>, n a version from 1 (WithSchemaVersion), got %q", e.DataSchema)}
	case ok && subject != e.Type:
		return &event.ValidationError{Attribute: "dataschema", Rule: fmt.Sprintf(
			"names a version of the schema of %q, but the event's type is %q: an event's schema is registered under its type", subject, e.Type)}
	}
	return nil
}
