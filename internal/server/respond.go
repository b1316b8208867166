package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/schema"
)

// Media types of the replies.
const (
	mediaJSON    = "application/json"
	mediaProblem = "application/problem+json"
)

// writeJSON writes v as a JSON reply.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeBody(w, r, status, mediaJSON, b)
}

func (s *Server) writeBody(w http.ResponseWriter, r *http.Request, status int, contentType string, b []byte) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	if _, err := w.Write(append(b, '\n')); err != nil {
		s.log.DebugContext(r.Context(), "write reply", "path", r.URL.Path, "error", err)
	}
}

// writeError replies with the problem for err, as the table says (in
// Confluent's shape under the schema registry's prefix).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if isRegistryPath(r.URL.Path) {
		s.writeRegistryError(w, r, err)
		return
	}
	p := problemFor(err)
	switch {
	case p.Status >= 500 && p.Code != "request_canceled":
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "code", p.Code, "error", err)
	default:
		s.log.DebugContext(r.Context(), "request refused", "method", r.Method, "path", r.URL.Path, "code", p.Code, "error", err)
	}
	if p.Status == http.StatusTooManyRequests || p.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	b, merr := json.Marshal(p)
	if merr != nil { // cannot happen: Problem holds strings and ints
		b = []byte(`{"code":"internal","status":500}`)
	}
	s.writeBody(w, r, p.Status, mediaProblem, b)
}

// problemFor builds the problem details of err.
func problemFor(err error) Problem {
	k := kindOf(err)
	p := Problem{Type: ProblemTypeBase + k.code, Title: k.title, Status: k.status,
		Detail: err.Error(), Code: k.code, Errors: attributeErrors(err)}
	var verr *schema.ViolationError
	if errors.As(err, &verr) {
		p.Violations = verr.Violations
	}
	return p
}

// attributeErrors lists the event attributes err is about, if any.
func attributeErrors(err error) []AttributeError {
	var many *invalidEventsError
	if errors.As(err, &many) {
		return many.errs
	}
	var one *event.ValidationError
	if errors.As(err, &one) {
		return []AttributeError{{Attribute: one.Attribute, Rule: one.Rule}}
	}
	return nil
}

// invalidEventsError reports every invalid event of a publish request.
type invalidEventsError struct {
	first error // the first event's error, for the message
	count int   // invalid events, listed in errs or not
	errs  []AttributeError
}

func (e *invalidEventsError) Error() string {
	switch n := e.count - 1; {
	case n == 1:
		return e.first.Error() + " (and 1 more invalid event)"
	case n > 1:
		return fmt.Sprintf("%s (and %d more invalid events)", e.first, n)
	}
	return e.first.Error()
}

func (e *invalidEventsError) Unwrap() error { return e.first }

// maxAttributeErrors bounds the errors listed in one problem.
const maxAttributeErrors = 100

// validateEvents checks every event and reports every broken attribute of
// every invalid one, with the event's index when batch is set. decodeErrs,
// when not nil, holds for each event the errors of the attributes that did
// not decode; the checks of the others follow them.
func validateEvents(events []*event.Event, decodeErrs [][]error, batch bool) error {
	var all *invalidEventsError
	for i, e := range events {
		var errs []error
		if decodeErrs != nil {
			errs = decodeErrs[i]
		}
		errs = appendOthers(errs, e.ValidateAll())
		if len(errs) == 0 {
			continue
		}
		if all == nil {
			all = &invalidEventsError{first: eventError(i, e, errs[0], batch)}
		}
		all.count++
		for _, err := range errs {
			if len(all.errs) < maxAttributeErrors {
				all.errs = append(all.errs, attributeError(i, err, batch))
			}
		}
	}
	if all == nil {
		return nil
	}
	return all
}

// appendOthers appends the errors of more whose attribute has no error in
// errs yet: a decoder that could not read an attribute leaves it empty,
// which validation would report again, less clearly.
func appendOthers(errs, more []error) []error {
	for _, err := range more {
		if !slices.ContainsFunc(errs, func(have error) bool { return sameAttribute(have, err) }) {
			errs = append(errs, err)
		}
	}
	return errs
}

func sameAttribute(a, b error) bool {
	var va, vb *event.ValidationError
	return errors.As(a, &va) && errors.As(b, &vb) && va.Attribute == vb.Attribute
}

func eventError(i int, e *event.Event, err error, batch bool) error {
	if batch {
		return fmt.Errorf("%w: event %d (id %q): %w", broker.ErrInvalidEvent, i, e.ID, err)
	}
	return fmt.Errorf("%w: %w", broker.ErrInvalidEvent, err)
}

func attributeError(i int, err error, batch bool) AttributeError {
	a := AttributeError{Rule: err.Error()}
	var ve *event.ValidationError
	if errors.As(err, &ve) {
		a.Attribute, a.Rule = ve.Attribute, ve.Rule
	}
	if batch {
		a.Index = &i
	}
	return a
}

// logger returns l, or a logger that discards everything.
func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
