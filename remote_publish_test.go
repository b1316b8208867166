package herald_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/internal/testserver"
)

// publishGate counts a remote client's Publish requests (the messages of
// its PublishStream calls) and holds the ones numbered in hold (1 is the
// first) before they leave, until each is released, so that calls made
// meanwhile queue up.
type publishGate struct {
	next     http.RoundTripper
	requests atomic.Int32
	hold     map[int32]chan struct{}
	mu       sync.Mutex                // guards streams
	streams  map[int32]context.Context // the context of the stream carrying each request
}

// gatePublishes holds the first Publish request, and those numbered in
// more.
func gatePublishes(t *testing.T, c *herald.Client, more ...int32) *publishGate {
	g := &publishGate{hold: map[int32]chan struct{}{1: make(chan struct{})}, streams: map[int32]context.Context{}}
	for _, n := range more {
		g.hold[n] = make(chan struct{})
	}
	herald.WrapRemoteTransport(c, func(next http.RoundTripper) http.RoundTripper { g.next = next; return g })
	t.Cleanup(func() {
		for n := range g.hold {
			g.releaseN(n)
		}
	})
	return g
}

func (g *publishGate) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/PublishStream") {
		req.Body = &messageGate{body: req.Body, g: g, ctx: req.Context()}
	}
	return g.next.RoundTrip(req)
}

// messageGate reads a stream's request body, gRPC messages each framed by
// a flag byte and a 4-byte length, and counts (and holds) each message at
// its first byte.
type messageGate struct {
	body    io.ReadCloser
	g       *publishGate
	ctx     context.Context // the stream's
	header  []byte          // a frame header read and not yet returned
	payload int             // bytes of the current message not yet returned
}

func (m *messageGate) Read(p []byte) (int, error) {
	if len(m.header) == 0 && m.payload == 0 {
		h := make([]byte, 5)
		if _, err := io.ReadFull(m.body, h); err != nil {
			return 0, err
		}
		m.header, m.payload = h, int(binary.BigEndian.Uint32(h[1:]))
		n := m.g.requests.Add(1)
		m.g.mu.Lock()
		m.g.streams[n] = m.ctx
		m.g.mu.Unlock()
		if ch, ok := m.g.hold[n]; ok {
			<-ch
		}
	}
	if len(m.header) > 0 {
		n := copy(p, m.header)
		m.header = m.header[n:]
		return n, nil
	}
	n, err := m.body.Read(p[:min(len(p), m.payload)])
	m.payload -= n
	return n, err
}

func (m *messageGate) Close() error { return m.body.Close() }

// release lets the first request go.
func (g *publishGate) release() { g.releaseN(1) }

func (g *publishGate) releaseN(n int32) {
	select {
	case <-g.hold[n]:
	default:
		close(g.hold[n])
	}
}

// waitCancelled waits until the stream carrying request n is cancelled.
func (g *publishGate) waitCancelled(t *testing.T, n int32) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		g.mu.Lock()
		ctx := g.streams[n]
		g.mu.Unlock()
		if ctx != nil && ctx.Err() != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream of request %d is not cancelled", n)
		}
	}
}

// waitRequests waits until n Publish requests have reached the gate.
func (g *publishGate) waitRequests(t *testing.T, n int32) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); g.requests.Load() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d Publish requests, want %d", g.requests.Load(), n)
		}
	}
}

// holdFirst publishes first to topic and holds its request at a gate
// (with the requests numbered in more), so that the calls made next queue
// behind it.
func holdFirst(t *testing.T, c *herald.Client, topic string, first *herald.CloudEvent, more ...int32) (*publishGate, <-chan publishOutcome) {
	t.Helper()
	g := gatePublishes(t, c, more...)
	out := publishAsync(context.Background(), c, topic, first)
	g.waitRequests(t, 1)
	return g, out
}

// queueCall publishes events in the background and waits until it is the
// n-th call queued to topic.
func queueCall(t *testing.T, ctx context.Context, c *herald.Client, topic string, n int, events ...*herald.CloudEvent) <-chan publishOutcome {
	t.Helper()
	out := publishAsync(ctx, c, topic, events...)
	waitQueued(t, c, topic, n)
	return out
}

// waitQueued waits until n Publish calls to topic wait for a request.
func waitQueued(t *testing.T, c *herald.Client, topic string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); herald.QueuedPublishCalls(c, topic) != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, want %d", herald.QueuedPublishCalls(c, topic), n)
		}
	}
}

// publishAsync publishes in the background; the call's outcome comes on
// the returned channel.
func publishAsync(ctx context.Context, c *herald.Client, topic string, events ...*herald.CloudEvent) <-chan publishOutcome {
	out := make(chan publishOutcome, 1)
	go func() {
		res, err := c.Publish(ctx, topic, events...)
		out <- publishOutcome{res, err}
	}()
	return out
}

type publishOutcome struct {
	res []herald.Result
	err error
}

// storedIDs reads partition 0 of topic from the start.
func storedIDs(t *testing.T, c *herald.Client, topic string) []string {
	t.Helper()
	evs, err := c.Read(context.Background(), topic, 0, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.ID)
	}
	return ids
}

// ordersClient is a remote client of a new server with topic "orders" of
// one partition (so that reads see every event in publish order).
func ordersClient(t *testing.T) *herald.Client {
	c := testserver.Start(t, t.TempDir()).Connect(t)
	one := 1
	if _, _, err := c.PutTopic(context.Background(), "orders", herald.TopicSpec{Partitions: &one}); err != nil {
		t.Fatal(err)
	}
	return c
}

// auditClient is a remote client of a new server with topic "audit" of
// one partition, whose events must match a registered schema:
// audit.logged events need a "who".
func auditClient(t *testing.T) *herald.Client {
	ctx := context.Background()
	c := testserver.Start(t, t.TempDir()).Connect(t)
	require, one := herald.SchemaPolicyRequire, 1
	if _, _, err := c.PutTopic(ctx, "audit", herald.TopicSpec{SchemaPolicy: &require, Partitions: &one}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterSchema(ctx, "audit.logged", []byte(`{"type":"object","required":["who"]}`)); err != nil {
		t.Fatal(err)
	}
	return c
}

// goodAudit is a valid event for auditClient's topic.
func goodAudit(id string) *herald.CloudEvent {
	return herald.MustNewEvent("audit.logged", map[string]string{"who": "ann"}, herald.WithID(id))
}

// badAudit breaks the schema of auditClient's topic.
func badAudit(id string) *herald.CloudEvent {
	return herald.MustNewEvent("audit.logged", map[string]string{"what": "no who"}, herald.WithID(id))
}

// Publish calls made while a request of their topic is in flight go
// together in the next request, and each call gets its own events'
// results.
func TestRemotePublish_ConcurrentCallsShareOneRequest(t *testing.T) {
	ctx := context.Background()
	c := ordersClient(t)
	g, first := holdFirst(t, c, "orders", herald.MustNewEvent("order.placed", nil, herald.WithID("first")))
	var waits []<-chan publishOutcome
	for i := range 10 {
		events := []*herald.CloudEvent{herald.MustNewEvent("order.placed", nil, herald.WithID(fmt.Sprintf("o-%d-a", i)))}
		if i%2 == 0 { // calls of one and of two events
			events = append(events, herald.MustNewEvent("order.placed", nil, herald.WithID(fmt.Sprintf("o-%d-b", i))))
		}
		waits = append(waits, publishAsync(ctx, c, "orders", events...))
		waitQueued(t, c, "orders", i+1)
	}
	g.release()
	if o := <-first; o.err != nil || len(o.res) != 1 || o.res[0].ID != "first" {
		t.Fatalf("first call: %+v, %v", o.res, o.err)
	}
	for i, w := range waits {
		o := <-w
		want := 1 + (i+1)%2
		if o.err != nil || len(o.res) != want || o.res[0].ID != fmt.Sprintf("o-%d-a", i) || o.res[want-1].Offset != o.res[0].Offset+int64(want-1) {
			t.Fatalf("call %d: %+v, %v", i, o.res, o.err)
		}
	}
	if n := g.requests.Load(); n != 2 {
		t.Fatalf("%d Publish requests for 11 calls made while one was in flight, want 2", n)
	}
	if ids := storedIDs(t, c, "orders"); len(ids) != 16 || ids[0] != "first" || ids[1] != "o-0-a" || ids[15] != "o-9-a" {
		t.Fatalf("stored %v", ids)
	}
}

// A merged request the server refuses as invalid stored nothing: each of
// its calls is sent again alone, so only the call with the bad event
// fails, with its own error.
func TestRemotePublish_AnInvalidCallFailsAloneWhenMerged(t *testing.T) {
	ctx := context.Background()
	c := auditClient(t)
	g, first := holdFirst(t, c, "audit", goodAudit("first"))
	a := queueCall(t, ctx, c, "audit", 1, goodAudit("a"))
	bad := queueCall(t, ctx, c, "audit", 2, badAudit("bad"))
	b := queueCall(t, ctx, c, "audit", 3, goodAudit("b"))
	g.release()
	for name, w := range map[string]<-chan publishOutcome{"first": first, "a": a, "b": b} {
		if o := <-w; o.err != nil || len(o.res) != 1 || o.res[0].ID != name {
			t.Fatalf("call %s: %+v, %v", name, o.res, o.err)
		}
	}
	o := <-bad
	var verr *herald.SchemaViolationError
	if !errors.Is(o.err, herald.ErrSchemaViolation) || !errors.As(o.err, &verr) || len(verr.Violations) != 1 || verr.Violations[0].ID != "bad" || verr.Violations[0].Index != 0 {
		t.Fatalf("the bad call: %+v, %v", o.res, o.err)
	}
	if n := g.requests.Load(); n != 5 { // first, the merged three, then each alone
		t.Fatalf("%d Publish requests, want 5", n)
	}
	if ids := storedIDs(t, c, "audit"); len(ids) != 3 || ids[0] != "first" || ids[1] != "a" || ids[2] != "b" {
		t.Fatalf("stored %v", ids)
	}
}

// A caller that gives up while its call waits for a request gets its
// context's error, and its events are never sent; the calls around it
// are published.
func TestRemotePublish_ACallGivenUpWhileWaitingIsNotSent(t *testing.T) {
	ctx := context.Background()
	c := ordersClient(t)
	g, first := holdFirst(t, c, "orders", herald.MustNewEvent("order.placed", nil, herald.WithID("first")))
	cctx, cancel := context.WithCancel(ctx)
	gaveUp := queueCall(t, cctx, c, "orders", 1, herald.MustNewEvent("order.placed", nil, herald.WithID("given-up")))
	kept := queueCall(t, ctx, c, "orders", 2, herald.MustNewEvent("order.placed", nil, herald.WithID("kept")))
	cancel()
	if o := <-gaveUp; !errors.Is(o.err, context.Canceled) {
		t.Fatalf("the call given up: %+v, %v", o.res, o.err)
	}
	waitQueued(t, c, "orders", 1)
	g.release()
	var wg sync.WaitGroup
	for _, w := range []<-chan publishOutcome{first, kept} {
		wg.Go(func() {
			if o := <-w; o.err != nil {
				t.Error(o.err)
			}
		})
	}
	wg.Wait()
	if ids := storedIDs(t, c, "orders"); len(ids) != 2 || ids[0] != "first" || ids[1] != "kept" {
		t.Fatalf("stored %v", ids)
	}
}

// A call whose context has already ended sends nothing, as a plain call
// would not, even with other calls waiting to go together.
func TestRemotePublish_ACallWithAnEndedContextSendsNothing(t *testing.T) {
	ctx := context.Background()
	c := ordersClient(t)
	g, first := holdFirst(t, c, "orders", herald.MustNewEvent("order.placed", nil, herald.WithID("first")))
	waiting := queueCall(t, ctx, c, "orders", 1, herald.MustNewEvent("order.placed", nil, herald.WithID("waiting")))
	ended, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Publish(ended, "orders", herald.MustNewEvent("order.placed", nil, herald.WithID("late"))); !errors.Is(err, context.Canceled) {
		t.Fatalf("publish with an ended context: %v", err)
	}
	g.release()
	for _, w := range []<-chan publishOutcome{first, waiting} {
		if o := <-w; o.err != nil {
			t.Fatal(o.err)
		}
	}
	if ids := storedIDs(t, c, "orders"); len(ids) != 2 || ids[0] != "first" || ids[1] != "waiting" {
		t.Fatalf("stored %v", ids)
	}
}

// When a merged request is refused as invalid, a call whose caller gave up
// while it was in flight is not sent again on its own.
func TestRemotePublish_ARefusedMergeDoesNotResendCallsGivenUp(t *testing.T) {
	ctx := context.Background()
	c := auditClient(t)
	g, first := holdFirst(t, c, "audit", goodAudit("first"), 2)
	bad := queueCall(t, ctx, c, "audit", 1, badAudit("bad"))
	xctx, cancelX := context.WithCancel(ctx)
	x := queueCall(t, xctx, c, "audit", 2, goodAudit("x"))
	g.release()
	g.waitRequests(t, 2) // bad and x, merged, held
	cancelX()
	if o := <-x; !errors.Is(o.err, context.Canceled) {
		t.Fatalf("the call given up: %+v, %v", o.res, o.err)
	}
	g.releaseN(2)
	if o := <-bad; !errors.Is(o.err, herald.ErrSchemaViolation) {
		t.Fatalf("the bad call: %+v, %v", o.res, o.err)
	}
	if o := <-first; o.err != nil {
		t.Fatal(o.err)
	}
	if n := g.requests.Load(); n != 3 { // first, the merge, bad alone
		t.Fatalf("%d Publish requests, want 3", n)
	}
	if ids := storedIDs(t, c, "audit"); len(ids) != 1 || ids[0] != "first" {
		t.Fatalf("stored %v", ids)
	}
}

// A call whose deadline passes while its request is on its way ends with
// the deadline, and its request is cancelled with the stream carrying it:
// held before it left, it is never stored, and the next call goes on a
// new stream.
func TestRemotePublish_ACallEndsAtItsDeadlineAndItsRequestIsCancelled(t *testing.T) {
	c := ordersClient(t)
	g := gatePublishes(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", nil, herald.WithID("late"))); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("publish held past its deadline: %v, want context.DeadlineExceeded", err)
	}
	g.waitCancelled(t, 1) // the caller is told first; its stream is cancelled just after
	g.release()
	if _, err := c.Publish(context.Background(), "orders", herald.MustNewEvent("order.placed", nil, herald.WithID("next"))); err != nil {
		t.Fatal(err)
	}
	if ids := storedIDs(t, c, "orders"); fmt.Sprint(ids) != "[next]" {
		t.Fatalf("stored %v, want only the call that was not given up", ids)
	}
}

// Streams kept open between Publish requests end with the server that
// served them: after a restart, the next calls go on new streams, and
// those kept open meanwhile are not reused.
func TestRemotePublish_CallsAfterAServerRestartGoOnNewStreams(t *testing.T) {
	ts := testserver.Start(t, t.TempDir())
	c := ts.Connect(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 { // several requests at once leave several streams open
		wg.Go(func() {
			if _, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", nil, herald.WithID(fmt.Sprint("before-", i)))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	ts.Restart()
	for i := range 8 {
		if _, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", nil, herald.WithID(fmt.Sprint("after-", i)))); err != nil {
			t.Fatalf("publish %d after the restart: %v", i, err)
		}
	}
}

// A caller whose deadline passes just as its answer comes leaves no
// cancelled stream behind for the next call: calls with deadlines around
// the round trip, each followed by a call without one, which must work.
func TestRemotePublish_ADeadlineAtTheAnswerLeavesNoBrokenStream(t *testing.T) {
	c := ordersClient(t)
	ctx := context.Background()
	for i := range 1500 {
		d, cancel := context.WithTimeout(ctx, time.Duration(50+i%400)*time.Microsecond)
		c.Publish(d, "orders", herald.MustNewEvent("order.placed", nil)) // may end either way
		cancel()
		if _, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", nil)); err != nil {
			t.Fatalf("call %d after a call that met its deadline: %v", i, err)
		}
	}
}

// A call whose request is on its way when the client closes fails with
// ErrClientClosed, as an embedded client's does, not with a cancellation
// its caller did not ask for.
func TestRemotePublish_ACallInFlightWhenTheClientClosesIsErrClientClosed(t *testing.T) {
	ts := testserver.Start(t, t.TempDir())
	for i := range 20 {
		c := ts.Connect(t)
		g, out := holdFirst(t, c, "orders", herald.MustNewEvent("order.placed", nil))
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		g.release()
		if o := <-out; !errors.Is(o.err, herald.ErrClientClosed) {
			t.Fatalf("round %d: a call in flight when the client closed: %v, %v; want ErrClientClosed", i, o.res, o.err)
		}
	}
}
