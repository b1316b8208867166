package schema

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/heraldevents/herald/internal/schema/compat"
	"github.com/heraldevents/herald/internal/storage"
)

// Options configures a Registry. The zero value works.
type Options struct {
	// DefaultCompatibility is the global compatibility until one is set;
	// default BACKWARD, as in Confluent Schema Registry.
	DefaultCompatibility compat.Mode
}

// Registry is the schema registry. It is safe for concurrent use: reads
// (validation above all) take no lock, changes are serialized.
type Registry struct {
	engine storage.Engine
	opts   Options

	writeMu sync.Mutex               // serializes changes: read the state, append, publish the next state
	state   atomic.Pointer[snapshot] // the current state; never changed, replaced
}

// Latest names the latest version where a version number is expected.
const Latest = -1

// SchemaVersion is one version of a subject.
type SchemaVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
	ID      int    `json:"id"`
	Schema  string `json:"schema"`
	Deleted bool   `json:"deleted,omitempty"`
}

// Open opens the registry kept in engine, replaying its state.
func Open(ctx context.Context, engine storage.Engine, opts Options) (*Registry, error) {
	if opts.DefaultCompatibility == "" {
		opts.DefaultCompatibility = compat.Backward
	}
	if _, err := compat.ParseMode(string(opts.DefaultCompatibility)); err != nil {
		return nil, fmt.Errorf("schema registry: %w", err)
	}
	if err := openState(ctx, engine); err != nil {
		return nil, err
	}
	s, kept, err := replay(ctx, engine)
	if err != nil {
		return nil, err
	}
	r := &Registry{engine: engine, opts: opts}
	r.state.Store(s)
	if err := r.rewriteSubjects(ctx, kept); err != nil {
		return nil, err
	}
	return r, nil
}

// rewriteSubjects writes the records of subjects anew: those whose version
// numbers replay kept from an older Herald's deletion, which only records
// before the deletion hold, and compaction would drop.
func (r *Registry) rewriteSubjects(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return nil
	}
	return r.change(ctx, func(s *snapshot, w *writes) error {
		for _, name := range names {
			w.putSubject(s, s.subjects[name])
		}
		return nil
	})
}

// change applies fn to a copy of the state and, when fn wrote records,
// appends them durably and makes the copy the state. Durably in every
// fsync mode: events in other topics name schema versions, so a power cut
// must not keep such an event and lose its schema, nor give the number of
// a lost version to another schema.
func (r *Registry) change(ctx context.Context, fn func(next *snapshot, w *writes) error) error {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	next := r.state.Load().clone()
	var w writes
	if err := fn(next, &w); err != nil {
		return err
	}
	if len(w.Records) == 0 {
		return nil
	}
	if _, err := r.engine.Append(ctx, stateTopic, []storage.PartitionRecords{{Partition: 0, Records: w.Records}}); err != nil {
		return fmt.Errorf("schema registry: %w", err)
	}
	if syncer, ok := r.engine.(storage.Syncer); ok {
		if err := syncer.Sync(ctx, stateTopic); err != nil {
			return fmt.Errorf("schema registry: %w", err)
		}
	}
	r.state.Store(next)
	return nil
}

// CheckSubject returns a clear error for a name that cannot be a subject.
// Subjects are CloudEvents types: 1 to 255 bytes of UTF-8 without
// control characters.
func CheckSubject(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: a subject is an event type and cannot be empty", ErrInvalidSubject)
	case len(name) > 255:
		return fmt.Errorf("%w: %q…: a subject is at most 255 bytes", ErrInvalidSubject, name[:32])
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: %q is not UTF-8", ErrInvalidSubject, name)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: %q has control characters", ErrInvalidSubject, name)
	}
	return nil
}

// Subjects lists the subjects with a version (with deleted, also those
// whose versions are all deleted), sorted.
func (r *Registry) Subjects(deleted bool) []string {
	return r.state.Load().subjectNames(deleted)
}

// subjectNames lists the subjects of one state, as Subjects does.
func (s *snapshot) subjectNames(deleted bool) []string {
	names := []string{}
	for name, sub := range s.subjects {
		if slices.ContainsFunc(sub.versions, func(v version) bool { return deleted || v.live() }) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// Versions lists a subject's version numbers (with deleted, also the
// deleted ones), ascending.
func (r *Registry) Versions(subject string, deleted bool) ([]int, error) {
	sub, err := r.state.Load().subject(subject, deleted)
	if err != nil {
		return nil, err
	}
	ns := []int{}
	for _, v := range sub.versions {
		if deleted || v.live() {
			ns = append(ns, v.N)
		}
	}
	return ns, nil
}

// Version returns a version of a subject: a number, or Latest (the
// newest version not deleted; with deleted, the newest).
func (r *Registry) Version(subject string, n int, deleted bool) (SchemaVersion, error) {
	s := r.state.Load()
	sub, err := s.subject(subject, deleted)
	if err != nil {
		return SchemaVersion{}, err
	}
	v, err := sub.version(n, deleted)
	if err != nil {
		return SchemaVersion{}, err
	}
	return s.schemaVersion(subject, v)
}

// SchemaByID returns a schema's text by its id.
func (r *Registry) SchemaByID(id int) (string, error) {
	st, ok := r.state.Load().schemas[id]
	if !ok {
		return "", fmt.Errorf("%w: no schema has id %d", ErrSchemaNotFound, id)
	}
	return string(st.text), nil
}

// Usages lists the subject versions that have a schema id (with deleted,
// also deleted ones), by subject then version.
func (r *Registry) Usages(id int, deleted bool) ([]SchemaVersion, error) {
	s := r.state.Load()
	st, ok := s.schemas[id]
	if !ok {
		return nil, fmt.Errorf("%w: no schema has id %d", ErrSchemaNotFound, id)
	}
	out := []SchemaVersion{}
	for _, name := range s.subjectNames(true) { // the same state as st: a subject made since is not in s
		for _, v := range s.subjects[name].versions {
			if v.ID == id && (deleted || v.live()) {
				out = append(out, SchemaVersion{Subject: name, Version: v.N, ID: id, Schema: string(st.text), Deleted: v.Deleted})
			}
		}
	}
	return out, nil
}

// Lookup finds the version of a subject whose schema is the same as text
// (the same canonical JSON); with deleted, deleted versions count too.
func (r *Registry) Lookup(subject string, text []byte, deleted bool) (SchemaVersion, error) {
	canon, err := Canonical(text)
	if err != nil {
		return SchemaVersion{}, fmt.Errorf("%w: the schema is not JSON: %w", ErrInvalidSchema, err)
	}
	s := r.state.Load()
	sub, err := s.subject(subject, deleted)
	if err != nil {
		return SchemaVersion{}, err
	}
	if v, ok := s.find(sub, string(canon), deleted); ok {
		return s.schemaVersion(subject, v)
	}
	return SchemaVersion{}, fmt.Errorf("%w: subject %q has no version with this schema", ErrSchemaNotFound, subject)
}

// subject returns a subject that has a version (live, or any with
// deleted).
func (s *snapshot) subject(name string, deleted bool) (*subject, error) {
	sub, ok := s.subjects[name]
	if !ok || !slices.ContainsFunc(sub.versions, func(v version) bool { return deleted || v.live() }) {
		return nil, fmt.Errorf("%w: %q", ErrSubjectNotFound, name)
	}
	return sub, nil
}

// version returns version n (or Latest) of a subject.
func (sub *subject) version(n int, deleted bool) (version, error) {
	if n == Latest {
		for i := len(sub.versions) - 1; i >= 0; i-- {
			if v := sub.versions[i]; deleted || v.live() {
				return v, nil
			}
		}
	}
	for _, v := range sub.versions {
		if v.N == n && (deleted || v.live()) {
			return v, nil
		}
	}
	what := fmt.Sprint(n)
	if n == Latest {
		what = "latest"
	}
	return version{}, fmt.Errorf("%w: subject %q has no version %s", ErrVersionNotFound, sub.name, what)
}

// latest returns the newest live version, if any.
func (sub *subject) latest() (version, bool) {
	for i := len(sub.versions) - 1; i >= 0; i-- {
		if sub.versions[i].live() {
			return sub.versions[i], true
		}
	}
	return version{}, false
}

// find returns the version of sub whose schema has the canonical text.
func (s *snapshot) find(sub *subject, canonical string, deleted bool) (version, bool) {
	id, ok := s.byText[canonical]
	if !ok {
		return version{}, false
	}
	for _, v := range sub.versions {
		if v.ID == id && (deleted || v.live()) {
			return v, true
		}
	}
	return version{}, false
}

func (s *snapshot) schemaVersion(subject string, v version) (SchemaVersion, error) {
	st, ok := s.schemas[v.ID]
	if !ok {
		return SchemaVersion{}, fmt.Errorf("%w: version %d of %q names schema id %d, which is missing", ErrSchemaNotFound, v.N, subject, v.ID)
	}
	return SchemaVersion{Subject: subject, Version: v.N, ID: v.ID, Schema: string(st.text), Deleted: v.Deleted}, nil
}

// mode returns the compatibility mode that applies to a subject.
func (s *snapshot) mode(name string, def compat.Mode) compat.Mode {
	if sub, ok := s.subjects[name]; ok && sub.mode != "" {
		return sub.mode
	}
	if s.global != "" {
		return s.global
	}
	return def
}
