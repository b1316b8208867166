package schema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/heraldevents/herald/internal/schema/compat"
	"github.com/heraldevents/herald/internal/storage"
)

// stateTopic keeps the registry, as keyed records in a compacted topic
// (the latest record of a key wins; a nil value deletes the key), so the
// Kafka engine carries it unchanged:
//
//	g            global: the default compatibility, the next schema id
//	i/<id>       schema: its text, as first registered
//	s/<subject>  subject: its versions (number, schema id, deleted), its
//	             compatibility, the highest version number handed out
//
// A registration writes its schema record (when the schema is new), its
// subject record and the global record in one append, so a crash keeps
// all of it or none. Versions and schema ids are never handed out twice:
// the global record keeps the next id, and a subject record keeps the
// highest version even after that version is deleted for good.
const stateTopic = "__herald_schemas"

type globalRecord struct {
	Compatibility compat.Mode `json:"compatibility,omitempty"`
	NextID        int         `json:"nextId"`
}

type schemaRecord struct {
	Schema string `json:"schema"`
}

type subjectRecord struct {
	Versions      []version   `json:"versions"`
	Compatibility compat.Mode `json:"compatibility,omitempty"`
	Last          int         `json:"last"`
}

// version is one version of a subject.
type version struct {
	N       int  `json:"version"`
	ID      int  `json:"id"`
	Deleted bool `json:"deleted,omitempty"`
}

const (
	keyGlobal        = "g"
	keySchemaPrefix  = "i/"
	keySubjectPrefix = "s/"
)

func schemaKey(id int) string       { return keySchemaPrefix + strconv.Itoa(id) }
func subjectKey(name string) string { return keySubjectPrefix + name }
func (v version) live() bool        { return !v.Deleted }
func (s *subject) record() subjectRecord {
	return subjectRecord{Versions: s.versions, Compatibility: s.mode, Last: s.last}
}

// snapshot is the registry's state at one moment. It is never changed
// once published: a change builds the next snapshot from a copy, so
// readers (the publish path above all) take no lock.
type snapshot struct {
	subjects map[string]*subject
	schemas  map[int]*stored
	byText   map[string]int // canonical text -> schema id
	global   compat.Mode    // "": the registry's default
	nextID   int
}

// subject is a subject's versions (ascending) and settings.
type subject struct {
	name     string
	versions []version
	mode     compat.Mode // "": the global mode
	last     int         // the highest version number given; never lowered
}

// stored is a schema by its id, compiled on first use.
type stored struct {
	id        int
	text      []byte
	canonical string

	once sync.Once // guards compiling
	c    *compiled
	err  error
}

func (s *stored) compiled() (*compiled, error) {
	s.once.Do(func() { s.c, s.err = compile(s.text) })
	return s.c, s.err
}

func newSnapshot() *snapshot {
	return &snapshot{subjects: map[string]*subject{}, schemas: map[int]*stored{}, byText: map[string]int{}, nextID: 1}
}

// clone copies the maps; subjects are copied when changed (editSubject).
func (s *snapshot) clone() *snapshot {
	n := &snapshot{subjects: make(map[string]*subject, len(s.subjects)), schemas: make(map[int]*stored, len(s.schemas)),
		byText: make(map[string]int, len(s.byText)), global: s.global, nextID: s.nextID}
	for k, v := range s.subjects {
		n.subjects[k] = v
	}
	for k, v := range s.schemas {
		n.schemas[k] = v
	}
	for k, v := range s.byText {
		n.byText[k] = v
	}
	return n
}

// editSubject returns a copy of the subject (a new one if there is none)
// that the snapshot now holds, to change.
func (s *snapshot) editSubject(name string) *subject {
	sub := &subject{name: name}
	if old, ok := s.subjects[name]; ok {
		*sub = *old
		sub.versions = append([]version(nil), old.versions...)
	}
	s.subjects[name] = sub
	return sub
}

func (s *snapshot) addSchema(st *stored) {
	s.schemas[st.id] = st
	s.byText[st.canonical] = st.id
	s.nextID = max(s.nextID, st.id+1)
}

func (s *snapshot) removeSchema(id int) {
	if st, ok := s.schemas[id]; ok {
		delete(s.byText, st.canonical)
		delete(s.schemas, id)
	}
}

// used reports whether a version of any subject (deleted or not) has the
// schema id.
func (s *snapshot) used(id int) bool {
	for _, sub := range s.subjects {
		for _, v := range sub.versions {
			if v.ID == id {
				return true
			}
		}
	}
	return false
}

// writes collects the records of one change.
type writes struct{ storage.StateRecords }

// putSubject writes a subject's record, or deletes it when nothing is
// left of the subject. A subject that ever had a version keeps its record,
// without versions, so that its version numbers are never given again.
func (w *writes) putSubject(s *snapshot, sub *subject) {
	if len(sub.versions) == 0 && sub.mode == "" && sub.last == 0 {
		delete(s.subjects, sub.name)
		w.Delete(subjectKey(sub.name))
		return
	}
	w.Put(subjectKey(sub.name), sub.record())
}

func (w *writes) putGlobal(s *snapshot) {
	w.Put(keyGlobal, globalRecord{Compatibility: s.global, NextID: s.nextID})
}

// openState creates the state topic if it is missing.
func openState(ctx context.Context, e storage.Engine) error {
	err := e.CreateTopic(ctx, stateTopic, storage.TopicConfig{Partitions: 1, Compact: true})
	if errors.Is(err, storage.ErrTopicExists) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("schema registry state: %w", err)
	}
	return nil
}

// replay rebuilds the state from the state topic. It also returns the
// subjects whose version numbers it kept from an older Herald's deletion
// (see apply), whose records must be written anew.
func replay(ctx context.Context, e storage.Engine) (*snapshot, []string, error) {
	s := newSnapshot()
	start, end, err := e.Offsets(ctx, stateTopic, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("schema registry state: %w", err)
	}
	kept := map[string]bool{}
	for off := start; off < end; {
		recs, err := e.Read(ctx, stateTopic, 0, off, 10000, 8<<20)
		if err != nil {
			return nil, nil, fmt.Errorf("schema registry state: %w", err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			if err := s.apply(string(r.Key), r.Value, kept); err != nil {
				return nil, nil, fmt.Errorf("schema registry state at offset %d: %w", r.Offset, err)
			}
		}
		off = recs[len(recs)-1].Offset + 1
	}
	// A read at the end fails when damage (not a torn last write) ends the
	// partition early: the schemas past it cannot be read, and going on
	// without them would lose them.
	if _, err := e.Read(ctx, stateTopic, 0, end, 1, 1); err != nil {
		return nil, nil, fmt.Errorf("schema registry state: %w", err)
	}
	return s, slices.Sorted(maps.Keys(kept)), nil
}

// apply replays one record. A subject deleted while it had given version
// numbers was deleted by an older Herald, which dropped the record of a
// subject deleted for good (putSubject keeps it) and so would give its
// numbers again: the subject is kept without versions, with its highest
// number, and its name goes into kept.
func (s *snapshot) apply(key string, value []byte, kept map[string]bool) error {
	switch {
	case key == keyGlobal:
		var rec globalRecord
		if err := json.Unmarshal(value, &rec); err != nil {
			return fmt.Errorf("global record: %w", err)
		}
		s.global, s.nextID = rec.Compatibility, max(s.nextID, rec.NextID)
	case strings.HasPrefix(key, keySchemaPrefix):
		id, err := strconv.Atoi(key[len(keySchemaPrefix):])
		if err != nil {
			return fmt.Errorf("bad key %q", key)
		}
		if value == nil {
			s.removeSchema(id)
			return nil
		}
		var rec schemaRecord
		if err := json.Unmarshal(value, &rec); err != nil {
			return fmt.Errorf("schema %d: %w", id, err)
		}
		canon, err := Canonical([]byte(rec.Schema))
		if err != nil {
			return fmt.Errorf("schema %d: %w", id, err)
		}
		s.addSchema(&stored{id: id, text: []byte(rec.Schema), canonical: string(canon)})
	case strings.HasPrefix(key, keySubjectPrefix):
		name := key[len(keySubjectPrefix):]
		delete(kept, name)
		if value == nil {
			if old := s.subjects[name]; old != nil && old.last > 0 {
				s.subjects[name] = &subject{name: name, last: old.last}
				kept[name] = true
				return nil
			}
			delete(s.subjects, name)
			return nil
		}
		var rec subjectRecord
		if err := json.Unmarshal(value, &rec); err != nil {
			return fmt.Errorf("subject %q: %w", name, err)
		}
		s.subjects[name] = &subject{name: name, versions: rec.Versions, mode: rec.Compatibility, last: rec.Last}
	default:
		return fmt.Errorf("bad key %q", key)
	}
	return nil
}
