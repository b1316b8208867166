// Package schema is Herald's schema registry: per event type (the
// subject, a CloudEvents type), versions 1..n of a JSON Schema (draft
// 2020-12, the default, or draft-07), global schema ids, soft and
// permanent deletes, a compatibility level per subject and a global one
// (checked with package compat), and the validation of published events
// that the broker runs through its Validator hook.
//
// State is kept in the internal compacted topic __herald_schemas (see
// state.go for its records) and replayed by Open, so the Kafka engine
// carries it unchanged. The current state is an immutable snapshot:
// readers (validation on every publish above all) load it without a lock;
// a change builds the next snapshot, appends its records durably, then
// publishes it.
//
// Validation compiles each schema once, when first used, into two
// validators: santhosh-tekuri/jsonschema's (the authority, and the one
// that explains a refusal with JSON pointers) and, for schemas whose
// keywords it has, a fast one that checks raw JSON bytes in one pass and
// is trusted only when it says "valid" (fast.go).
//
// Files: registry.go (reads), register.go (registration, compatibility
// checks), delete.go, config.go (compatibility levels), state.go (the
// state topic), compile.go, validate.go (the broker's Validator and
// violations), ref.go (dataschema URIs), fast.go, fastcheck.go,
// fastscan.go and fastnum.go (the fast validator), errors.go.
package schema
