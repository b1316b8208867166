package push

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/subscription"
)

// sseMessage is one parsed Server-Sent Events message, or a comment.
type sseMessage struct {
	id, event, data, comment string
}

// sseClient reads a stream over its own transport, closed at cleanup.
type sseClient struct {
	t      *testing.T
	resp   *http.Response
	lines  *bufio.Scanner
	cancel context.CancelFunc
}

func openStream(t *testing.T, url string) *sseClient {
	t.Helper()
	tr := &http.Transport{}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	c := &sseClient{t: t, resp: resp, lines: bufio.NewScanner(resp.Body), cancel: cancel}
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		tr.CloseIdleConnections()
	})
	return c
}

// next reads one message (or comment) with a deadline.
func (c *sseClient) next() sseMessage {
	c.t.Helper()
	got := make(chan sseMessage, 1)
	go func() {
		var m sseMessage
		for c.lines.Scan() {
			line := c.lines.Text()
			switch {
			case line == "":
				if m != (sseMessage{}) {
					got <- m
					return
				}
			case strings.HasPrefix(line, ":"):
				got <- sseMessage{comment: strings.TrimSpace(line[1:])}
				return
			default:
				field, value, _ := strings.Cut(line, ":")
				value = strings.TrimPrefix(value, " ")
				switch field {
				case "id":
					m.id = value
				case "event":
					m.event = value
				case "data":
					m.data += value
				}
			}
		}
		close(got)
	}()
	select {
	case m, ok := <-got:
		if !ok {
			c.t.Fatal("the stream ended")
		}
		return m
	case <-time.After(15 * time.Second):
		c.cancel()
		<-got
		c.t.Fatal("no message within 15s")
	}
	return sseMessage{}
}

func TestStream_DeliversMessagesThatAreAckedByID(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "browser", subscription.Config{})
	srv := httptest.NewServer(StreamHandler(v.m, "orders", "browser", StreamOptions{}))
	t.Cleanup(srv.Close)
	c := openStream(t, srv.URL)
	if ct := c.resp.Header.Get("Content-Type"); c.resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("status %d, content type %q", c.resp.StatusCode, ct)
	}
	v.publish("orders", "a", "b")
	var ids []string
	for i := range 2 {
		m := c.next()
		var d struct {
			AckID   string          `json:"ackId"`
			Attempt int             `json:"attempt"`
			Event   json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal([]byte(m.data), &d); err != nil {
			t.Fatalf("message %d: %v: %+v", i, err, m)
		}
		var ev struct {
			ID   string  `json:"id"`
			Data payload `json:"data"`
		}
		if err := json.Unmarshal(d.Event, &ev); err != nil {
			t.Fatal(err)
		}
		if m.event != "delivery" || m.id != d.AckID || d.Attempt != 1 || ev.Data.Key != []string{"a", "b"}[i] {
			t.Errorf("message %d: %+v (delivery %+v, event %+v)", i, m, d, ev)
		}
		ids = append(ids, m.id)
	}
	if got := v.committed("orders", "browser"); got != 0 {
		t.Fatalf("committed %d before any ack: the stream acked", got)
	}
	res, err := v.m.Ack(v.ctx, "orders", "browser", ids)
	if err != nil || len(res.Acked) != 2 {
		t.Fatalf("ack: %+v, %v", res, err)
	}
	if got := v.committed("orders", "browser"); got != 2 {
		t.Errorf("committed %d after the acks, want 2", got)
	}
}

func TestStream_SendsKeepalivesWhileIdle(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "browser", subscription.Config{})
	srv := httptest.NewServer(StreamHandler(v.m, "orders", "browser", StreamOptions{Keepalive: 20 * time.Millisecond}))
	t.Cleanup(srv.Close)
	c := openStream(t, srv.URL)
	for range 2 {
		if m := c.next(); m.comment != "keepalive" {
			t.Fatalf("got %+v, want a keepalive comment", m)
		}
	}
}

func TestStream_EndsWhenTheClientLeaves(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "browser", subscription.Config{})
	done := make(chan struct{})
	h := StreamHandler(v.m, "orders", "browser", StreamOptions{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c := openStream(t, srv.URL)
	c.cancel()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the handler still runs after the client left")
	}
	v.publish("orders", "a")
	ds, err := v.m.Pull(v.ctx, "orders", "browser", 10, 0)
	if err != nil || len(ds) != 1 {
		t.Fatalf("the event is not left for other consumers: %v, %v", ds, err)
	}
}

// brokenWriter is a stream connection that breaks at the first delivery.
type brokenWriter struct {
	*httptest.ResponseRecorder
}

func (w brokenWriter) Write(b []byte) (int, error) {
	if strings.Contains(string(b), "event: delivery") {
		return 0, errors.New("connection reset")
	}
	return w.ResponseRecorder.Write(b)
}

func (w brokenWriter) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

// When a write breaks the stream, the delivery being written counts as an
// attempt (the client may have got part of it, and it may be what broke
// the stream); those after it, which no client got, are released: they
// come again at once, and with one attempt only the first is
// dead-lettered.
func TestStream_ADeliveryWhoseWriteBrokeIsNackedAndTheRestReleased(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "browser", subscription.Config{MaxAttempts: 1})
	v.publish("orders", "a", "b")
	w := brokenWriter{httptest.NewRecorder()}
	StreamHandler(v.m, "orders", "browser", StreamOptions{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	dead := v.deadLetters("orders.browser.dlq")
	if len(dead) != 1 || !strings.HasPrefix(dead[0].Extensions[subscription.ExtReason], "sse: the stream broke while the delivery was sent") {
		t.Fatalf("dead letters %v, want the delivery whose write broke, with the reason", dead)
	}
	ds, err := v.m.Pull(v.ctx, "orders", "browser", 10, 0)
	if err != nil || len(ds) != 1 || ds[0].Attempt != 1 || ds[0].Event.ID == dead[0].Extensions[subscription.ExtID] || dead[0].Extensions[subscription.ExtID] == "" {
		t.Fatalf("pull after the broken stream = %+v, %v; want the other event at once, at attempt 1", ds, err)
	}
}

// A client that stays connected but stops reading is cut off after the
// write timeout, and what the stream could not write is released to
// other consumers.
func TestStream_EndsWhenTheClientStopsReading(t *testing.T) {
	v := newEnv(t)
	done := make(chan struct{})
	v.streamToANonReader(t, StreamOptions{WriteTimeout: 500 * time.Millisecond}, func(w http.ResponseWriter, r *http.Request, h http.Handler) {
		defer close(done)
		h.ServeHTTP(w, r)
	})
	select { // the client reads nothing
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the handler still writes to a client that stopped reading")
	}
	ds, err := v.m.Pull(v.ctx, "orders", "browser", 100, 0)
	if err != nil || len(ds) == 0 {
		t.Fatalf("pull after the stream ended = %d deliveries, %v; want those it could not write", len(ds), err)
	}
}

func TestStream_RefusesUnknownSubscriptionsAndOtherMethods(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "browser", subscription.Config{})
	cases := []struct {
		name, method, sub string
		want              int
	}{
		{"unknown subscription", http.MethodGet, "nobody", http.StatusNotFound},
		{"POST", http.MethodPost, "browser", http.StatusMethodNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var gotStatus int
			opts := StreamOptions{Error: func(w http.ResponseWriter, _ *http.Request, status int, err error) {
				gotStatus = status
				http.Error(w, err.Error(), status)
			}}
			rec := httptest.NewRecorder()
			StreamHandler(v.m, "orders", tc.sub, opts).ServeHTTP(rec, httptest.NewRequest(tc.method, "/", nil))
			if rec.Code != tc.want || gotStatus != tc.want {
				t.Errorf("status %d (hook %d), want %d: %s", rec.Code, gotStatus, tc.want, rec.Body)
			}
		})
	}
}

// A stream stuck writing to a client that stopped reading ends as soon as
// its context does (the server shutting down), not after WriteTimeout: a
// shutdown does not wait for it.
func TestStream_StuckWritingEndsWhenItsContextEnds(t *testing.T) {
	v := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	v.streamToANonReader(t, StreamOptions{WriteTimeout: time.Hour}, func(w http.ResponseWriter, r *http.Request, h http.Handler) {
		defer close(done)
		h.ServeHTTP(w, r.WithContext(ctx))
	})
	waitLeased := time.Now().Add(10 * time.Second)
	for { // the stream has pulled and is writing (stuck: the client reads nothing)
		info, err := v.m.Get(v.ctx, "orders", "browser")
		if err != nil {
			t.Fatal(err)
		}
		if info.Partitions[0].InFlight > 0 {
			break
		}
		if time.Now().After(waitLeased) {
			t.Fatal("the stream pulled nothing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // into the stuck write
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream still writes 10s after its context ended")
	}
}

// lateDeadlineWriter is a server's response writer that records a write
// deadline set once its handler has returned: over HTTP/2 that call finds
// the stream's state gone and panics, over HTTP/1 it lands on whatever
// the connection serves next. It passes every call on while the handler
// runs.
type lateDeadlineWriter struct {
	http.ResponseWriter
	returned atomic.Bool // the handler has returned
	late     atomic.Bool // a deadline was set after that
}

func (w *lateDeadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *lateDeadlineWriter) SetWriteDeadline(d time.Time) error {
	if !d.IsZero() && d.Before(time.Now()) {
		time.Sleep(200 * time.Millisecond) // a goroutine that runs late
	}
	if w.returned.Load() {
		w.late.Store(true)
		return nil
	}
	return http.NewResponseController(w.ResponseWriter).SetWriteDeadline(d)
}

// The write deadline that ends a stream stuck writing when its context
// ends is set before the handler returns, or not at all: never on a
// response the server has taken back.
func TestStream_SetsNoWriteDeadlineAfterItReturns(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "browser", subscription.Config{})
	h := StreamHandler(v.m, "orders", "browser", StreamOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lw := make(chan *lateDeadlineWriter, 1)
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		w2 := &lateDeadlineWriter{ResponseWriter: w}
		lw <- w2
		h.ServeHTTP(w2, r.WithContext(ctx))
		w2.returned.Store(true)
	}))
	t.Cleanup(srv.Close)
	openStream(t, srv.URL)
	w := <-lw
	cancel() // the server shutting down, while the stream waits for events
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end with its context")
	}
	time.Sleep(400 * time.Millisecond) // a deadline still on its way is set by now
	if w.late.Load() {
		t.Fatal("the stream set a write deadline after its handler returned")
	}
}

// streamToANonReader stores 25 MiB of events in topic orders (more than
// the socket buffers hold), and opens subscription browser's stream,
// served through serve, for a client that sends its request and then
// reads nothing.
func (v *env) streamToANonReader(t *testing.T, opts StreamOptions, serve func(http.ResponseWriter, *http.Request, http.Handler)) {
	v.topic("orders", 1)
	v.sub("orders", "browser", subscription.Config{AckTimeout: time.Hour})
	big := make([]byte, 256<<10)
	for i := range 100 {
		e := &event.Event{ID: fmt.Sprintf("big-%d", i), Source: "/test", Type: "test.event", SpecVersion: "1.0",
			DataContentType: "text/plain", Data: big}
		if _, err := v.b.Publish(v.ctx, "orders", []*event.Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	h := StreamHandler(v.m, "orders", "browser", opts)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serve(w, r, h) }))
	t.Cleanup(srv.Close)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: herald\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
}

// endAfterFirstDelivery is a stream's response writer whose request
// context ends (the client leaving, or the server shutting down) once the
// first delivery is flushed to the client.
type endAfterFirstDelivery struct {
	http.ResponseWriter
	end       context.CancelFunc
	delivered bool // a delivery was written
}

func (w *endAfterFirstDelivery) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *endAfterFirstDelivery) Write(b []byte) (int, error) {
	w.delivered = w.delivered || strings.Contains(string(b), "event: delivery")
	return w.ResponseWriter.Write(b)
}

func (w *endAfterFirstDelivery) FlushError() error {
	err := http.NewResponseController(w.ResponseWriter).Flush()
	if w.delivered {
		w.end()
	}
	return err
}

// Deliveries pulled for a client that left before they were written are
// released, even when it leaves between two of them: the first was
// written and stays leased, the second was not and comes again at once,
// at attempt 1, rather than being nacked (and, with one attempt,
// dead-lettered) as a delivery whose write broke.
func TestStream_ADeliveryNotWrittenBeforeTheClientLeftIsReleased(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "browser", subscription.Config{MaxAttempts: 1})
	v.publish("orders", "a", "b")
	h := StreamHandler(v.m, "orders", "browser", StreamOptions{})
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		h.ServeHTTP(&endAfterFirstDelivery{ResponseWriter: w, end: cancel}, r.WithContext(ctx))
	}))
	t.Cleanup(srv.Close)
	c := openStream(t, srv.URL)
	first := c.next()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end with its context")
	}
	if dead := v.deadLetters("orders.browser.dlq"); len(dead) != 0 {
		t.Fatalf("dead letters %v: the delivery no client got was nacked", dead[0].Extensions)
	}
	ds, err := v.m.Pull(v.ctx, "orders", "browser", 10, 0)
	if err != nil || len(ds) != 1 || ds[0].Attempt != 1 || ds[0].AckID == first.id {
		t.Fatalf("pull after the stream ended = %+v, %v; want the event not written, at once, at attempt 1", ds, err)
	}
}
