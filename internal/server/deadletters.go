package server

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/heraldevents/herald/internal/auth"
	"github.com/heraldevents/herald/internal/subscription"
)

// Dead-letter listing limits.
const (
	DefaultDeadLetterLimit = 100
	MaxDeadLetterLimit     = 10000
)

// deadLetters lists a subscription's dead letters, partition by partition
// of the dead-letter topic, in offset order within each.
func (s *Server) deadLetters(w http.ResponseWriter, r *http.Request) {
	topic, name, err := subscriptionPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q, err := query(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id, limit, err := parseDeadLetterQuery(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	dls, err := s.subs.DeadLetters(r.Context(), topic, name, id, limit)
	if err != nil {
		s.writeError(w, r, s.subError(r.Context(), topic, err))
		return
	}
	out := DeadLetterList{DeadLetters: make([]DeadLetter, len(dls))}
	for i, d := range dls {
		out.DeadLetters[i] = DeadLetter{Partition: d.Partition, Offset: d.Offset, Redriving: d.Redriving, Resolved: d.Resolved, Event: d.Event}
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// parseDeadLetterQuery reads the query parameters of a dead-letter
// listing: limit, and id (only that event's dead letters).
func parseDeadLetterQuery(q url.Values) (id string, limit int, err error) {
	limit = DefaultDeadLetterLimit
	for name, values := range q {
		if name != "limit" && name != "id" {
			return "", 0, fmt.Errorf("%w: unknown parameter %q (known: limit, id)", errInvalidParameter, name)
		}
		if len(values) != 1 {
			return "", 0, fmt.Errorf("%w: %s is given %d times", errInvalidParameter, name, len(values))
		}
		if name == "id" {
			if id = values[0]; id == "" {
				return "", 0, fmt.Errorf("%w: id is empty: give an event id, or leave it out to list every dead letter", errInvalidParameter)
			}
			continue
		}
		n, err := intParam(name, values[0], 1, MaxDeadLetterLimit)
		if err != nil {
			return "", 0, fmt.Errorf("%w: %w", errInvalidParameter, err)
		}
		limit = int(n)
	}
	return id, limit, nil
}

// redrive sends dead letters back to the subscription they died in.
func (s *Server) redrive(w http.ResponseWriter, r *http.Request) {
	topic, name, err := subscriptionPath(r)
	var body []byte
	if err == nil {
		body, err = s.readBody(w, r)
	}
	var req RedriveRequest
	if err == nil {
		err = decodeObject(body, &req, errInvalidArgument, "all, ids, actor")
	}
	if err == nil {
		err = req.check()
	}
	var res subscription.RedriveResult
	if err == nil {
		req.Actor = auditActor(r, req.Actor)
		res, err = s.subs.Redrive(r.Context(), topic, name, subscription.RedriveRequest{All: req.All, IDs: req.IDs, Actor: req.Actor})
	}
	if err != nil {
		s.writeError(w, r, s.subError(r.Context(), topic, err))
		return
	}
	s.writeJSON(w, r, http.StatusOK, RedriveReply{Redriven: res.Redriven, AlreadyRedriving: res.Already, AlreadyResolved: res.Resolved, NotFound: nonNil(res.NotFound)})
}

// auditActor is who the audit trail says asked for a redrive. On a server
// that checks tokens it names the token, since whoever holds one can name
// any actor: "alice (token ops)", or "token ops" when no actor is named.
// Without tokens it is the actor named, or the client's address.
func auditActor(r *http.Request, named string) string {
	p, ok := auth.PrincipalOf(r.Context())
	switch {
	case !ok && named == "":
		return r.RemoteAddr
	case !ok:
		return named
	case named == "":
		return "token " + p.Name
	}
	return named + " (token " + p.Name + ")"
}

func (req RedriveRequest) check() error {
	switch {
	case req.All && len(req.IDs) > 0:
		return fmt.Errorf("%w: give all or ids, not both", errInvalidArgument)
	case !req.All && len(req.IDs) == 0:
		return fmt.Errorf(`%w: give {"all":true} or the event ids of dead letters, such as {"ids":["order-42-placed"]}`, errInvalidArgument)
	case len(req.IDs) > MaxAckIDs:
		return fmt.Errorf("%w: %d ids: at most %d per request", errInvalidArgument, len(req.IDs), MaxAckIDs)
	case len(req.Actor) > MaxActorBytes:
		return fmt.Errorf("%w: actor is %d bytes: at most %d, such as a user name or an email address", errInvalidArgument, len(req.Actor), MaxActorBytes)
	}
	return nil
}

// redrives lists the audit trail of a subscription's redrives.
func (s *Server) redrives(w http.ResponseWriter, r *http.Request) {
	topic, name, err := subscriptionPath(r)
	var recs []subscription.AuditRecord
	if err == nil {
		recs, err = s.subs.Audit(r.Context(), topic, name)
	}
	if err != nil {
		s.writeError(w, r, s.subError(r.Context(), topic, err))
		return
	}
	out := RedriveLog{Redrives: make([]Redrive, len(recs))}
	for i, a := range recs {
		out.Redrives[i] = Redrive{Actor: a.Actor, At: a.At, All: a.All, IDs: nonNil(a.IDs), Count: a.Count}
	}
	s.writeJSON(w, r, http.StatusOK, out)
}
