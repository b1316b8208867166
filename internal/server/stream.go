package server

import (
	"net/http"

	"github.com/heraldevents/herald/internal/push"
)

// stream serves GET .../subscriptions/{name}/stream: the subscription's
// deliveries as Server-Sent Events (acks go through .../ack as with pull).
// It ends when the client leaves or the server closes. HEAD answers the
// headers a GET would have, and leases nothing.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	topic, name, err := subscriptionPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if r.Method == http.MethodHead {
		s.streamHead(w, r, topic, name)
		return
	}
	done, err := s.admitWait()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer done()
	ctx, cancel := s.untilClosed(r.Context())
	defer cancel()
	opts := push.StreamOptions{Logger: s.log, Error: func(w http.ResponseWriter, r *http.Request, _ int, err error) {
		s.writeError(w, r, s.subError(r.Context(), topic, err))
	}}
	push.StreamHandler(s.subs, topic, name, opts).ServeHTTP(w, r.WithContext(ctx))
}

// streamHead answers a HEAD of a stream: the status and headers of its
// GET, without the stream (which the push handler serves to GET only).
func (s *Server) streamHead(w http.ResponseWriter, r *http.Request, topic, name string) {
	if _, err := s.subs.Get(r.Context(), topic, name); err != nil {
		s.writeError(w, r, s.subError(r.Context(), topic, err))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
}
