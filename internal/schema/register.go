package schema

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/heraldevents/herald/internal/schema/compat"
)

// Register adds a schema to a subject as its next version, unless a live
// version already has the same schema (the same canonical JSON): then it
// returns that version and created is false. The schema must be a valid
// JSON Schema (draft 2020-12 or draft-07) and compatible, in the
// subject's mode, with its live versions; an incompatible schema is an
// *IncompatibleError listing every breaking change. The same schema
// under several subjects has one id.
func (r *Registry) Register(ctx context.Context, subject string, text []byte) (v SchemaVersion, created bool, err error) {
	if err := CheckSubject(subject); err != nil {
		return SchemaVersion{}, false, err
	}
	canon, c, err := checkSchema(text)
	if err != nil {
		return SchemaVersion{}, false, err
	}
	err = r.change(ctx, func(s *snapshot, w *writes) error {
		if sub, ok := s.subjects[subject]; ok {
			if old, ok := s.find(sub, canon, false); ok {
				v, err = s.schemaVersion(subject, old)
				return err
			}
		}
		if err := r.checkCompatible(s, subject, text); err != nil {
			return err
		}
		v, err = r.add(s, w, subject, text, canon, c)
		created = err == nil
		return err
	})
	return v, created, err
}

// checkSchema compiles a schema and returns its canonical text. The text
// must be UTF-8: the state record keeps it as a JSON string, which would
// turn an invalid byte into U+FFFD and so change the schema on replay.
func checkSchema(text []byte) (string, *compiled, error) {
	if err := CheckText(text); err != nil {
		return "", nil, err
	}
	c, err := compile(text)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrInvalidSchema, err)
	}
	canon, err := Canonical(text)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrInvalidSchema, err)
	}
	return string(canon), c, nil
}

// checkCompatible checks text against the subject's live versions in its
// mode.
func (r *Registry) checkCompatible(s *snapshot, subject string, text []byte) error {
	mode := s.mode(subject, r.opts.DefaultCompatibility)
	res, err := s.check(subject, mode, text, nil)
	if err != nil {
		return err
	}
	if !res.Compatible {
		return &IncompatibleError{Subject: subject, Mode: mode, Changes: res.Changes}
	}
	return nil
}

// check runs the compatibility check of text against the subject's live
// versions (or only those listed in against), oldest first; each change
// names the version it breaks with by its number.
func (s *snapshot) check(subject string, mode compat.Mode, text []byte, against []version) (compat.Result, error) {
	if against == nil {
		if sub, ok := s.subjects[subject]; ok {
			for _, v := range sub.versions {
				if v.live() {
					against = append(against, v)
				}
			}
		}
	}
	previous := make([]compat.Version, len(against))
	for i, v := range against {
		st, ok := s.schemas[v.ID]
		if !ok {
			return compat.Result{}, fmt.Errorf("%w: version %d of %q names schema id %d, which is missing", ErrSchemaNotFound, v.N, subject, v.ID)
		}
		previous[i] = compat.Version{N: v.N, Schema: st.text}
	}
	res, err := compat.CheckVersions(mode, text, previous)
	if err != nil {
		return compat.Result{}, fmt.Errorf("%w: %w", ErrInvalidSchema, err)
	}
	return res, nil
}

// add stores text as the subject's next version, under the id its
// canonical form already has or a new one.
func (r *Registry) add(s *snapshot, w *writes, subject string, text []byte, canon string, c *compiled) (SchemaVersion, error) {
	id, ok := s.byText[canon]
	if !ok {
		id = s.nextID
		st := &stored{id: id, text: text, canonical: canon}
		st.once.Do(func() { st.c = c }) // compiled already
		s.addSchema(st)
		w.Put(schemaKey(id), schemaRecord{Schema: string(text)})
		w.putGlobal(s)
	}
	sub := s.editSubject(subject)
	sub.last++
	sub.versions = append(sub.versions, version{N: sub.last, ID: id})
	w.putSubject(s, sub)
	return SchemaVersion{Subject: subject, Version: sub.last, ID: id, Schema: string(s.schemas[id].text)}, nil
}

// CheckCompatibility checks a schema against a subject's versions, as a
// registration would in the subject's mode: against version n (a number
// or Latest), or, with n == 0, against every live version the mode
// covers. A subject without versions accepts any schema when n == 0.
func (r *Registry) CheckCompatibility(subject string, n int, text []byte) (compat.Result, compat.Mode, error) {
	if _, _, err := checkSchema(text); err != nil {
		return compat.Result{}, "", err
	}
	s := r.state.Load()
	mode := s.mode(subject, r.opts.DefaultCompatibility)
	if n == 0 {
		res, err := s.check(subject, mode, text, nil)
		return res, mode, err
	}
	sub, err := s.subject(subject, false)
	if err != nil {
		return compat.Result{}, mode, err
	}
	v, err := sub.version(n, false)
	if err != nil {
		return compat.Result{}, mode, err
	}
	res, err := s.check(subject, mode, text, []version{v})
	return res, mode, err
}

// invalidUTF8At returns the offset of the first byte of text that is not
// part of a UTF-8 sequence.
// CheckText returns ErrInvalidSchema for a schema text that is not
// UTF-8, as Register does (a remote client checks it before sending,
// since a gRPC request cannot carry it).
func CheckText(text []byte) error {
	if !utf8.Valid(text) {
		return fmt.Errorf("%w: the schema is not UTF-8 (at byte offset %d); send it as UTF-8, as JSON requires", ErrInvalidSchema, invalidUTF8At(text))
	}
	return nil
}

func invalidUTF8At(text []byte) int {
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRune(text[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(text)
}
