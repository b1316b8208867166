package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/heraldevents/herald/internal/subscription"
)

// Defaults of StreamOptions.
const (
	DefaultStreamMaxPerPull   = 10
	DefaultKeepalive          = 15 * time.Second
	DefaultStreamWriteTimeout = time.Minute
)

// ErrStreamMethod is the error of a stream request that is not a GET.
var ErrStreamMethod = errors.New("push: an event stream is read with GET")

// StreamOptions configures StreamHandler. The zero value works.
type StreamOptions struct {
	MaxPerPull int           // deliveries one pull may take; default 10
	Keepalive  time.Duration // a ": keepalive" comment after this much silence; default 15s
	// WriteTimeout ends the stream of a client that has not taken a
	// message within it (connected, but no longer reading); default 1m.
	WriteTimeout time.Duration
	// Error writes the reply when the stream cannot start: status 404 for
	// an unknown subscription, 405 for a method other than GET, 500
	// otherwise. Default: http.Error with the error's text.
	Error  func(w http.ResponseWriter, r *http.Request, status int, err error)
	Logger *slog.Logger // default slog.Default()
}

func (o StreamOptions) withDefaults() StreamOptions {
	if o.MaxPerPull <= 0 {
		o.MaxPerPull = DefaultStreamMaxPerPull
	}
	if o.Keepalive <= 0 {
		o.Keepalive = DefaultKeepalive
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultStreamWriteTimeout
	}
	if o.Error == nil {
		o.Error = func(w http.ResponseWriter, _ *http.Request, status int, err error) {
			http.Error(w, err.Error(), status)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// StreamHandler serves the deliveries of a subscription as Server-Sent
// Events (text/event-stream), for browsers (EventSource) and curl. Each
// delivery is one message, flushed at once:
//
//	id: <ackId>
//	event: delivery
//	data: {"ackId":"…","attempt":1,"event":{…CloudEvents JSON…}}
//
// and a ": keepalive" comment is sent after Keepalive of silence. The
// stream long-polls the subscription while the client is connected; the
// request's context ending (the client leaving, or the server cancelling
// its base context on shutdown) ends it.
//
// The stream does not ack: the client acks or nacks each delivery by its
// ackId through the subscription's ack and nack endpoints. Nor does it know
// which deliveries were acked, so it does not count what a client holds:
// each pull takes at most MaxPerPull, and the subscription bounds the rest
// by its ordering (an unacked event holds back the later events of its key)
// and its ack timeout (an unacked event is redelivered then, on this or
// another stream, until its attempts run out and it is dead-lettered). A
// reconnecting EventSource's Last-Event-ID is ignored for the same reason:
// what was not acked comes again when its lease expires.
//
// Deliveries pulled for a client that left before they were written are
// released: they come again at once rather than after the ack timeout,
// and do not count as an attempt, since no client saw them. When a write
// fails (the connection broke, or the client took nothing for
// WriteTimeout), the delivery being written is nacked, since the client
// may have got part of it and it may be what broke the stream, and those
// after it are released.
func StreamHandler(m *subscription.Manager, topic, name string, opts StreamOptions) http.Handler {
	return &streamHandler{m: m, topic: topic, name: name, opts: opts.withDefaults()}
}

type streamHandler struct {
	m           *subscription.Manager
	topic, name string
	opts        StreamOptions
}

func (h *streamHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		h.opts.Error(w, r, http.StatusMethodNotAllowed, ErrStreamMethod)
		return
	}
	if _, err := h.m.Get(r.Context(), h.topic, h.name); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, subscription.ErrNotFound) {
			status = http.StatusNotFound
		}
		h.opts.Error(w, r, status, err)
		return
	}
	rc := http.NewResponseController(w) // each send sets its own write deadline
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no") // tells buffering proxies (nginx) to pass it through
	w.WriteHeader(http.StatusOK)
	s := &stream{h: h, w: w, rc: rc, ctx: r.Context()}
	if err := rc.Flush(); err != nil {
		h.opts.Logger.Warn("push: event stream cannot flush; closed", "error", err)
		return
	}
	// A write stuck on a client that stopped reading ends with the
	// context (the server shutting down), not after WriteTimeout.
	defer cutOnEnd(s.ctx, rc)()
	s.run(s.ctx)
}

// cutOnEnd sets a write deadline that has passed once ctx ends, so that a
// write stuck on a client that stopped reading fails. The stop it returns
// must run before the handler returns: it waits for a deadline being set,
// and none is set after it, for the response is not to be used then (over
// HTTP/2 that panics).
func cutOnEnd(ctx context.Context, rc *http.ResponseController) (stop func()) {
	var mu sync.Mutex // held while the deadline is set; guards stopped
	stopped := false
	stopCut := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			_ = rc.SetWriteDeadline(time.Now())
		}
	})
	return func() {
		stopCut()
		mu.Lock()
		defer mu.Unlock()
		stopped = true
	}
}

// stream is one client's connection.
type stream struct {
	h   *streamHandler
	w   io.Writer
	rc  *http.ResponseController
	ctx context.Context // the request's: once it ends, nothing more is written
}

func (s *stream) run(ctx context.Context) {
	h := s.h
	last := time.Now() // of the last write
	for {
		wait := h.opts.Keepalive - time.Since(last)
		if wait <= 0 {
			if s.send(": keepalive\n\n") != nil {
				return
			}
			last = time.Now()
			continue
		}
		ds, err := h.m.PullRemote(ctx, h.topic, h.name, h.opts.MaxPerPull, wait)
		if ctx.Err() != nil {
			s.release(ds)
			return
		}
		if err != nil {
			s.sendError(err)
			return
		}
		for i, d := range ds {
			err := s.sendDelivery(d)
			if errors.Is(err, errUnsent) { // the client left: nothing of it was written
				s.release(ds[i:])
				return
			}
			if err != nil {
				// The client may have got part of it, and it may be
				// what broke the stream: it counts as an attempt, so
				// that an event that always does ends in the dead
				// letters. Those after it were not sent.
				s.nack(d, "sse: the stream broke while the delivery was sent: "+err.Error())
				s.release(ds[i+1:])
				return
			}
			last = time.Now()
		}
	}
}

// sendDelivery writes one delivery message and flushes it. An event JSON
// cannot carry is nacked with the reason, so it ends in the dead letters.
func (s *stream) sendDelivery(d subscription.Delivery) error {
	data, err := json.Marshal(d)
	if err != nil {
		s.nack(d, "sse: cannot encode the event as JSON: "+err.Error())
		return nil
	}
	return s.send("id: " + d.AckID + "\nevent: delivery\n" + dataLines(data) + "\n")
}

// errUnsent is the error of a message not written at all, since the
// stream's context had ended.
var errUnsent = errors.New("push: the stream ended before the message was written")

// sendError ends the stream with an error message.
func (s *stream) sendError(err error) {
	data, _ := json.Marshal(map[string]string{"error": err.Error()})
	_ = s.send("event: error\n" + dataLines(data) + "\n")
}

// send writes msg and flushes it, within the write timeout: a client
// that takes nothing for that long is no longer reading.
func (s *stream) send(msg string) error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.h.opts.WriteTimeout)) // ErrNotSupported: no deadline
	defer s.rc.SetWriteDeadline(time.Time{})                         // none while idle: over HTTP/2 one passing resets the stream
	if err := s.ctx.Err(); err != nil {                              // after the deadline is set: the context's end moves it to now
		return fmt.Errorf("%w: %w", errUnsent, err)
	}
	if _, err := io.WriteString(s.w, msg); err != nil {
		return err
	}
	return s.rc.Flush()
}

// dataLines writes data as SSE data fields, one per line.
func dataLines(data []byte) string {
	var b strings.Builder
	for line := range strings.SplitSeq(string(data), "\n") {
		b.WriteString("data: ")
		b.WriteString(strings.TrimSuffix(line, "\r"))
		b.WriteString("\n")
	}
	return b.String()
}

// release gives back deliveries no client got: deliverable again at once,
// not counted as an attempt.
func (s *stream) release(ds []subscription.Delivery) {
	if len(ds) == 0 {
		return
	}
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.AckID
	}
	h := s.h
	if _, err := h.m.Release(context.Background(), h.topic, h.name, ids); err != nil {
		h.opts.Logger.Warn("push: cannot release unsent stream deliveries; they come again after the ack timeout",
			"topic", h.topic, "subscription", h.name, "error", err)
	}
}

// nack gives back a delivery the stream cannot send, with the reason: it
// ends in the dead letters once out of attempts.
func (s *stream) nack(d subscription.Delivery, reason string) {
	h := s.h
	if _, err := h.m.Nack(context.Background(), h.topic, h.name, []string{d.AckID}, 0, reason); err != nil {
		h.opts.Logger.Warn("push: cannot nack a stream delivery; it comes again after the ack timeout",
			"topic", h.topic, "subscription", h.name, "error", err)
	}
}
