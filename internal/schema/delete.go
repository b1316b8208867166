package schema

import (
	"context"
	"fmt"
)

// DeleteVersion deletes version n (or Latest) of a subject. A soft delete
// hides the version: it is no longer listed, checked against or used to
// validate, but its schema keeps its id. A permanent delete removes a
// version that was soft deleted first (as in Confluent Schema Registry);
// its number is never given again. It returns the version's number.
func (r *Registry) DeleteVersion(ctx context.Context, subject string, n int, permanent bool) (int, error) {
	var deleted int
	err := r.change(ctx, func(s *snapshot, w *writes) error {
		sub, err := s.subject(subject, true)
		if err != nil {
			return err
		}
		v, err := sub.version(n, n != Latest || permanent) // a soft delete of "latest" is of the latest live version
		if err != nil {
			return err
		}
		switch {
		case !permanent && v.Deleted:
			return fmt.Errorf("%w: version %d of %q; delete it with permanent=true to remove it for good", ErrVersionSoftDeleted, v.N, subject)
		case permanent && !v.Deleted:
			return fmt.Errorf("%w: version %d of %q must be soft deleted before it is deleted permanently", ErrVersionNotSoftDeleted, v.N, subject)
		}
		deleted = v.N
		sub = s.editSubject(subject)
		for i := range sub.versions {
			if sub.versions[i].N != v.N {
				continue
			}
			if permanent {
				sub.versions = append(sub.versions[:i], sub.versions[i+1:]...)
			} else {
				sub.versions[i].Deleted = true
			}
			break
		}
		w.putSubject(s, sub)
		if permanent {
			dropUnused(s, w, v.ID)
		}
		return nil
	})
	return deleted, err
}

// DeleteSubject deletes every version of a subject: soft (they are kept,
// hidden) or, once they all are soft deleted, permanently (the subject
// and its compatibility level are gone; its version numbers are never
// given again). It returns the versions it deleted.
func (r *Registry) DeleteSubject(ctx context.Context, subject string, permanent bool) ([]int, error) {
	var deleted []int
	err := r.change(ctx, func(s *snapshot, w *writes) error {
		sub, err := s.subject(subject, true)
		if err != nil {
			return err
		}
		live := false
		for _, v := range sub.versions {
			live = live || v.live()
		}
		switch {
		case !permanent && !live:
			return fmt.Errorf("%w: %q; delete it with permanent=true to remove it for good", ErrSubjectSoftDeleted, subject)
		case permanent && live:
			return fmt.Errorf("%w: %q must be soft deleted before it is deleted permanently", ErrSubjectNotSoftDeleted, subject)
		}
		sub = s.editSubject(subject)
		deleted = []int{}
		if permanent {
			for _, v := range sub.versions {
				deleted = append(deleted, v.N)
			}
			old := sub.versions
			sub.versions, sub.mode = nil, ""
			w.putSubject(s, sub)
			for _, v := range old {
				dropUnused(s, w, v.ID)
			}
			return nil
		}
		for i := range sub.versions {
			if sub.versions[i].live() {
				sub.versions[i].Deleted = true
				deleted = append(deleted, sub.versions[i].N)
			}
		}
		w.putSubject(s, sub)
		return nil
	})
	return deleted, err
}

// dropUnused deletes a schema that no version has any more.
func dropUnused(s *snapshot, w *writes, id int) {
	if _, ok := s.schemas[id]; ok && !s.used(id) {
		s.removeSchema(id)
		w.Delete(schemaKey(id))
	}
}
