package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/subscription"
)

// publish stores the events of a request (binary, structured or batch
// mode) and replies with their positions once they are durable.
func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	done, err := s.admitPublish(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer done()
	events, err := s.requestEvents(w, r)
	if err != nil {
		s.broker.CountRejected(r.Context(), r.PathValue("topic"))
		s.writeError(w, r, err)
		return
	}
	if err := subscription.CheckPublishedDeadLetters(r.Context(), events); err != nil {
		s.writeError(w, r, err)
		return
	}
	results, err := s.broker.Publish(r.Context(), r.PathValue("topic"), events)
	if errors.Is(err, broker.ErrInvalidEvent) {
		// The broker stops at the first bad event; list them all. Done only
		// on refusal, so a good batch is validated once.
		if all := validateEvents(events, nil, isBatch(r)); all != nil {
			err = all
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, PublishReply{Events: results})
}

// requestEvents decodes the events of a publish request (the broker
// validates them).
func (s *Server) requestEvents(w http.ResponseWriter, r *http.Request) ([]*event.Event, error) {
	if _, err := topicName(r); err != nil {
		return nil, err
	}
	mode, err := publishMode(r.Header)
	if err != nil {
		return nil, err
	}
	body, err := s.readBody(w, r)
	if errors.Is(err, errRequestTooLarge) {
		return nil, fmt.Errorf("%w; send fewer or smaller events per request", err)
	}
	if err != nil {
		return nil, err
	}
	events, err := decodeEvents(mode, r.Header, body, s.broker.Options().MaxBatchEvents)
	if err != nil {
		return nil, err
	}
	for _, e := range events {
		clearPosition(e)
	}
	return events, nil
}

// isBatch reports whether the request is in batch mode.
func isBatch(r *http.Request) bool { return event.IsBatch(r.Header.Get("Content-Type")) }

// Content modes of the CloudEvents HTTP binding.
type contentMode int

const (
	modeBinary contentMode = iota
	modeStructured
	modeBatch
)

// publishMode tells the content mode from the headers.
func publishMode(h http.Header) (contentMode, error) {
	ct := h.Get("Content-Type")
	switch {
	case event.IsBatch(ct):
		return modeBatch, nil
	case event.IsStructured(ct):
		return modeStructured, nil
	case event.IsFormat(ct):
		return 0, fmt.Errorf("%w: %q: Herald reads the JSON event formats only (%s or %s)",
			errUnsupportedMediaType, ct, event.MediaTypeStructured, event.MediaTypeBatch)
	case hasCEHeaders(h):
		return modeBinary, nil
	}
	return 0, fmt.Errorf("%w: %q without ce-* headers is not a CloudEvent: send binary mode (ce-id, ce-source, ce-type, "+
		"ce-specversion headers and the data as the body), or Content-Type %s or %s",
		errUnsupportedMediaType, ct, event.MediaTypeStructured, event.MediaTypeBatch)
}

func hasCEHeaders(h http.Header) bool {
	for name := range h {
		if len(name) > 3 && strings.EqualFold(name[:3], "ce-") {
			return true
		}
	}
	return false
}

// decodeEvents decodes the body in the given mode. Events with attributes
// that do not decode are invalid_event, listing every broken attribute of
// every event; a batch of more than maxEvents events is batch_too_large,
// refused before its events are made; anything else is malformed_request.
func decodeEvents(mode contentMode, h http.Header, body []byte, maxEvents int) ([]*event.Event, error) {
	var events []*event.Event
	var err error
	switch mode {
	case modeBatch:
		events, err = event.DecodeBatchMax(body, maxEvents)
	case modeStructured:
		e := &event.Event{}
		err = e.UnmarshalJSON(body)
		events = []*event.Event{e}
	default:
		var e *event.Event
		e, err = event.FromHTTP(h, body)
		events = []*event.Event{e}
	}
	switch {
	case err == nil:
		return events, nil
	case errors.Is(err, event.ErrTooManyEvents):
		return nil, fmt.Errorf("%w: %w", broker.ErrBatchTooLarge, err)
	}
	decodeErrs, ok := decodeErrors(err, len(events))
	if !ok {
		return nil, fmt.Errorf("%w: %w", errMalformedRequest, err)
	}
	return nil, validateEvents(events, decodeErrs, mode == modeBatch)
}

// decodeErrors returns, for each event, the attribute errors err holds
// for it: err is a decoder's error for a single event, or an
// *event.BatchError. ok is false when an event failed as a whole (a batch
// element that is not an object) or err is not about attributes.
func decodeErrors(err error, n int) (errs [][]error, ok bool) {
	var batch *event.BatchError
	if !errors.As(err, &batch) {
		leaves := attributeLeaves(err)
		return [][]error{leaves}, n == 1 && len(leaves) > 0
	}
	errs = make([][]error, n)
	for _, ev := range batch.Events {
		if errs[ev.Index] = attributeLeaves(ev.Err); len(errs[ev.Index]) == 0 {
			return nil, false
		}
	}
	return errs, true
}

// attributeLeaves returns the *event.ValidationError errors in err's tree,
// in order.
func attributeLeaves(err error) []error {
	switch x := err.(type) {
	case *event.ValidationError:
		return []error{x}
	case interface{ Unwrap() []error }:
		var out []error
		for _, e := range x.Unwrap() {
			out = append(out, attributeLeaves(e)...)
		}
		return out
	case interface{ Unwrap() error }:
		return attributeLeaves(x.Unwrap())
	}
	return nil
}

// clearPosition drops the log position an event read from a topic carries
// (partition, offset, ...), so that read events can be published again.
func clearPosition(e *event.Event) {
	e.Topic, e.Partition, e.Offset, e.StoredAt, e.Stored = "", 0, 0, time.Time{}, false
}
