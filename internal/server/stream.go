package server

import (
	"net/http"

	"github.com/heraldevents/herald/internal/push"
)

// stream serves GET .../subscriptions/{name}/stream: the subscription's
// deliveries as Server-Sent Events (acks go through .../ack as with pull).
// It ends when the client leaves or the server closes.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	topic, name, err := subscriptionPath(r)
	if err != nil {
		s.writeError(w, r, err)
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
