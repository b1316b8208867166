package herald_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/internal/testserver"
)

// A close that gave up (its settlements outlasted it) ends the Subscribe
// stream at once, even while a send holds it, and leaves no goroutine.
func TestRemoteFeed_CloseThatGaveUpEndsTheStreamAtOnce(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	c := testserver.Start(t, t.TempDir()).Connect(t)
	f := newFixture(t, c, 5)
	f.publish(3)
	if err := herald.CloseFeedGivenUp(context.Background(), c, "orders", "billing"); err != nil {
		t.Fatal(err)
	}
}

// Deliveries the server sent one per message, more messages than a
// buffer of messages would hold, are all taken off the stream at once and
// kept leased while they wait for the one handler: none runs out and
// comes again. (The feed used to buffer 64 messages; those past it waited
// unread in the stream, and their leases ran out.)
func TestRemoteFeed_KeepsTheLeasesOfEverythingTheServerSent(t *testing.T) {
	c := testserver.Start(t, t.TempDir()).Connect(t)
	f := slowSubscription(t, c)
	if _, err := c.PutSubscription(context.Background(), "orders", "slow", herald.SubscriptionConfig{Start: "earliest",
		AckTimeout: time.Second, MaxAttempts: 5, Ordering: herald.OrderNone}); err != nil {
		t.Fatal(err)
	}
	var seen calls
	release := make(chan struct{})
	r := herald.NewRouter(c, herald.RouterOptions{Concurrency: 1, Prefetch: 200})
	herald.Handle(r, "orders", "slow", func(ctx context.Context, e herald.Event[OrderPlaced]) error {
		<-release
		seen.add(e)
		return nil
	})
	f.run(r)
	const n = 120
	time.Sleep(200 * time.Millisecond) // the stream is open: each publish goes out alone
	for i := 0; i < n; i++ {
		f.publish(1)
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(2500 * time.Millisecond) // two and a half ack timeouts
	close(release)
	eventually(t, "every ack", func() bool { return f.committedOn("slow") == n })
	f.stop()
	got := seen.list()
	again := 0
	for _, call := range got {
		if !strings.HasSuffix(call, "/1") {
			again++
		}
	}
	if len(got) != n || again > 0 {
		t.Fatalf("%d handler calls for %d events, %d of them at a later attempt: leases ran out of deliveries the router held", len(got), n, again)
	}
}

// stallGate stops reading the Subscribe stream's request body when told,
// as a server that stops reading would: the client's sends then block in
// HTTP/2 flow control until the stream is cancelled.
type stallGate struct {
	next  http.RoundTripper
	stall atomic.Bool
}

func (g *stallGate) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/Subscribe") {
		req.Body = &stallBody{ReadCloser: req.Body, g: g, ctx: req.Context()}
	}
	return g.next.RoundTrip(req)
}

type stallBody struct {
	io.ReadCloser
	g   *stallGate
	ctx context.Context
}

func (b *stallBody) Read(p []byte) (int, error) {
	if b.g.stall.Load() {
		<-b.ctx.Done()
		return 0, b.ctx.Err()
	}
	return b.ReadCloser.Read(p)
}

// Run ends when its ctx does even while the stream's sends are stuck: the
// Router's loop never waits for a send, and its close gives up after the
// feed close timeout and cancels the stream.
func TestRemoteFeed_RunEndsWhileTheStreamsSendsAreStuck(t *testing.T) {
	defer herald.SetFeedCloseTimeout(time.Second)()
	c := testserver.Start(t, t.TempDir()).Connect(t)
	g := &stallGate{}
	herald.WrapRemoteTransport(c, func(next http.RoundTripper) http.RoundTripper { g.next = next; return g })
	f := newFixture(t, c, 5)
	var handled atomic.Int64
	r := herald.NewRouter(c, herald.RouterOptions{DrainTimeout: 100 * time.Millisecond})
	herald.Handle(r, "orders", "billing", func(ctx context.Context, e herald.Event[OrderPlaced]) error {
		handled.Add(1)
		return nil
	})
	f.run(r)
	f.publish(1)
	eventually(t, "the first event", func() bool { return handled.Load() == 1 })
	g.stall.Store(true)
	f.publish(300) // their acks and the credit for more fill the stalled stream
	time.Sleep(500 * time.Millisecond)
	f.cancelAndWait(15*time.Second, "a feed close timeout of 1s")
}

// Run ends when its ctx does even when more results queue up behind a
// stuck stream than its settlement queue held (4,096): handlers finishing
// then waited for room forever, holding up the drain and the feed's close,
// whose timeout never came into play.
func TestRemoteFeed_RunEndsWhileManyResultsWaitBehindAStuckStream(t *testing.T) {
	defer herald.SetFeedCloseTimeout(time.Second)()
	c := testserver.Start(t, t.TempDir()).Connect(t)
	g := &stallGate{}
	herald.WrapRemoteTransport(c, func(next http.RoundTripper) http.RoundTripper { g.next = next; return g })
	f := newFixture(t, c, 5)
	sixteen := 16 // a subscription reads ahead while it holds at most 500 events pending per partition
	if _, _, err := c.PutTopic(context.Background(), "orders", herald.TopicSpec{Partitions: &sixteen}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutSubscription(context.Background(), "orders", "billing", herald.SubscriptionConfig{Ordering: herald.OrderNone}); err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int64
	// 2,048 handlers and 8,192 ahead: the credit granted before the stall
	// lets the server send 10,240 deliveries.
	r := herald.NewRouter(c, herald.RouterOptions{Concurrency: 2048, DrainTimeout: 100 * time.Millisecond})
	r.HandleFunc("orders", "billing", func(ctx context.Context, d *herald.Delivery) error {
		handled.Add(1)
		return nil
	})
	f.run(r)
	f.publish(1)
	eventually(t, "the first event", func() bool { return handled.Load() == 1 })
	g.stall.Store(true)
	publishKeyed(t, c, "orders", 0, 6000, 6000)
	eventually(t, "6,000 more handled", func() bool { return handled.Load() >= 6001 })
	f.cancelAndWait(15*time.Second, "a feed close timeout of 1s")
}

// Handlers past the drain timeout whose feed broke (their server is down)
// are nacked together, within the feed close timeout: Run no longer
// spends the 30 seconds a Settle call retries on each of them in turn.
func TestRemoteFeed_TheDrainNacksOfABrokenFeedAreBoundedByTheFeedCloseTimeout(t *testing.T) {
	defer herald.SetFeedCloseTimeout(time.Second)()
	ts := testserver.Start(t, t.TempDir())
	c := ts.Connect(t)
	f := newFixture(t, c, 5)
	var log lockedBuffer
	// Free slots, so that the router's loop sees the stream break.
	r := herald.NewRouter(c, herald.RouterOptions{Concurrency: 8, DrainTimeout: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	var started atomic.Int64
	r.HandleFunc("orders", "billing", func(ctx context.Context, d *herald.Delivery) error {
		started.Add(1)
		<-ctx.Done()
		return ctx.Err()
	})
	if _, err := c.PutSubscription(context.Background(), "orders", "billing", herald.SubscriptionConfig{Ordering: herald.OrderNone}); err != nil {
		t.Fatal(err)
	}
	f.publish(4)
	f.run(r)
	eventually(t, "four handlers running", func() bool { return started.Load() == 4 })
	ts.Stop()
	eventually(t, "the feed lost", func() bool { return strings.Contains(log.String(), "subscription feed lost") })
	begun := time.Now()
	f.cancelAndWait(20*time.Second, "a drain timeout of 100ms and a feed close timeout of 1s")
	if took := time.Since(begun); took > 5*time.Second {
		t.Fatalf("Run took %s to return, with a drain timeout of 100ms and a feed close timeout of 1s", took)
	}
}

// A handler that returns during the drain while its feed is broken and
// its server down has its result settled by Settle calls, which retry for
// up to 30 seconds; they end with Run instead of retrying on after it
// returned (with the client the caller is about to close).
func TestRemoteFeed_NoSettlementOutlivesRun(t *testing.T) {
	defer herald.SetFeedCloseTimeout(time.Second)()
	ts := testserver.Start(t, t.TempDir())
	c := ts.Connect(t)
	f := newFixture(t, c, 5)
	var log lockedBuffer
	r := herald.NewRouter(c, herald.RouterOptions{Concurrency: 4, DrainTimeout: 500 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	started, release := make(chan struct{}), make(chan struct{})
	r.HandleFunc("orders", "billing", func(ctx context.Context, d *herald.Delivery) error {
		close(started)
		<-release
		return nil
	})
	f.publish(1)
	f.run(r)
	<-started
	ts.Stop()
	eventually(t, "the feed lost", func() bool { return strings.Contains(log.String(), "subscription feed lost") })
	f.cancel()
	close(release) // its ack goes as a Settle call, to a server that is down
	select {
	case err := <-f.done:
		f.cancel = nil
		if err == nil || !strings.Contains(err.Error(), "results of handlers could not be settled") {
			t.Errorf("Run returned %v, want an error saying the handlers' results could not be settled", err)
		}
	case <-time.After(20 * time.Second):
		f.cancel = nil
		t.Fatal("Run did not return")
	}
	deadline := time.Now().Add(2 * time.Second)
	for stack := settlingStacks(); stack != ""; stack = settlingStacks() {
		if time.Now().After(deadline) {
			t.Fatalf("a settlement still retries 2s after Run returned:\n%s", stack)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settlingStacks returns the stacks of the goroutines settling by Settle
// calls.
func settlingStacks() string {
	buf := make([]byte, 1<<20)
	var out []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "herald.(*streamFeed).settleByCall(") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
