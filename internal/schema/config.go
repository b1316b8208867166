package schema

import (
	"context"
	"fmt"

	"github.com/heraldevents/herald/internal/schema/compat"
)

// ParseCompatibility parses a compatibility level (case-insensitive).
func ParseCompatibility(s string) (compat.Mode, error) {
	m, err := compat.ParseMode(s)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidCompatibility, err)
	}
	return m, nil
}

// GlobalCompatibility returns the compatibility level of subjects without
// one of their own.
func (r *Registry) GlobalCompatibility() compat.Mode {
	return r.state.Load().mode("", r.opts.DefaultCompatibility)
}

// Compatibility returns the subject's own compatibility level; ok is
// false when it has none (the global level applies).
func (r *Registry) Compatibility(subject string) (mode compat.Mode, ok bool) {
	if sub, found := r.state.Load().subjects[subject]; found && sub.mode != "" {
		return sub.mode, true
	}
	return "", false
}

// EffectiveCompatibility returns the level that applies to a subject.
func (r *Registry) EffectiveCompatibility(subject string) compat.Mode {
	return r.state.Load().mode(subject, r.opts.DefaultCompatibility)
}

// SetCompatibility sets a subject's compatibility level, or the global
// one for subject "". A subject may have a level before its first
// version.
func (r *Registry) SetCompatibility(ctx context.Context, subject string, mode compat.Mode) error {
	mode, err := ParseCompatibility(string(mode))
	if err != nil {
		return err
	}
	if subject != "" {
		if err := CheckSubject(subject); err != nil {
			return err
		}
	}
	return r.change(ctx, func(s *snapshot, w *writes) error {
		if subject == "" {
			s.global = mode
			w.putGlobal(s)
			return nil
		}
		sub := s.editSubject(subject)
		sub.mode = mode
		w.putSubject(s, sub)
		return nil
	})
}

// DeleteCompatibility removes a subject's own level (the global level
// applies again), or for subject "" puts the global level back to the
// default. It returns the level removed.
func (r *Registry) DeleteCompatibility(ctx context.Context, subject string) (compat.Mode, error) {
	var old compat.Mode
	err := r.change(ctx, func(s *snapshot, w *writes) error {
		if subject == "" {
			old = s.mode("", r.opts.DefaultCompatibility)
			s.global = ""
			w.putGlobal(s)
			return nil
		}
		sub, ok := s.subjects[subject]
		if !ok || sub.mode == "" {
			return fmt.Errorf("%w: %q", ErrNoSubjectConfig, subject)
		}
		old = sub.mode
		sub = s.editSubject(subject)
		sub.mode = ""
		w.putSubject(s, sub)
		return nil
	})
	return old, err
}
