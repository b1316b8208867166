package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/rpc/heraldv1/heraldv1connect"
	"github.com/heraldevents/herald/internal/subscription"
)

// subFixture is newFixture's server with a subscription manager, and a
// gRPC client of it.
type subFixture struct {
	b   *broker.Broker
	m   *subscription.Manager
	srv *httptest.Server
	c   heraldv1connect.HeraldServiceClient
}

func newSubFixture(t *testing.T, cfg Config) *subFixture {
	t.Helper()
	e, err := log.Open(t.TempDir(), log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	b, err := broker.New(e, broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := subscription.New(context.Background(), b, subscription.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	cfg.Broker, cfg.Subscriptions = b, m
	mux := http.NewServeMux()
	mux.Handle(NewHandler(cfg))
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &subFixture{b: b, m: m, srv: srv, c: heraldv1connect.NewHeraldServiceClient(srv.Client(), srv.URL, connect.WithGRPC())}
}

// subscribe creates subscription s of topic orders from its earliest
// event, with a lease of a minute.
func (f *subFixture) subscribe(t *testing.T) {
	t.Helper()
	_, err := f.c.PutSubscription(context.Background(), connect.NewRequest(&heraldv1.PutSubscriptionRequest{Topic: "orders", Name: "s",
		Config: &heraldv1.SubscriptionConfig{Start: "earliest", AckTimeout: durationpb.New(time.Minute)}}))
	if err != nil {
		t.Fatal(err)
	}
}

// publishLarge publishes n events of 8 KiB to orders: 1 MiB a message of
// pullChunk deliveries, far past a stalled client's window.
func (f *subFixture) publishLarge(t *testing.T, n int) {
	t.Helper()
	for b := range n / 64 {
		req := &heraldv1.PublishRequest{Topic: "orders"}
		for i := range 64 {
			e := orderEvent(fmt.Sprintf("%d-%d", b, i))
			data := make([]byte, 8<<10)
			for j := range data {
				data[j] = byte(rand.Uint32())
			}
			e.Data = &heraldv1.CloudEvent_BinaryData{BinaryData: data}
			req.Events = append(req.Events, e)
		}
		if _, err := f.c.Publish(context.Background(), connect.NewRequest(req)); err != nil {
			t.Fatal(err)
		}
	}
}

// stalledClient is a client whose streams take 64 KiB before they are
// read: of a stream it does not read, the first message stops in HTTP/2
// flow control, and the other pullers' messages wait behind it.
func (f *subFixture) stalledClient(t *testing.T) heraldv1connect.HeraldServiceClient {
	tr := &http.Transport{TLSClientConfig: f.srv.Client().Transport.(*http.Transport).TLSClientConfig, Protocols: new(http.Protocols),
		HTTP2: &http.HTTP2Config{MaxReceiveBufferPerStream: 64 << 10, MaxReceiveBufferPerConnection: 64 << 10}}
	tr.Protocols.SetHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return heraldv1connect.NewHeraldServiceClient(&http.Client{Transport: tr}, f.srv.URL, connect.WithGRPC(),
		connect.WithAcceptCompression("gzip", nil, nil))
}

// inFlight is the number of deliveries of s leased and not settled.
func (f *subFixture) inFlight(t *testing.T) int {
	t.Helper()
	info, err := f.m.Get(context.Background(), "orders", "s")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range info.Partitions {
		n += int(p.InFlight)
	}
	return n
}

// waitInFlight waits until n deliveries of s are leased.
func (f *subFixture) waitInFlight(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); f.inFlight(t) < n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events in flight after 10 s", f.inFlight(t), n)
		}
	}
}

var startOrders = &heraldv1.SubscribeRequest{Kind: &heraldv1.SubscribeRequest_Start{Start: &heraldv1.SubscribeStart{Topic: "orders", Subscription: "s"}}}

func flowMsg(n int32) *heraldv1.SubscribeRequest {
	return &heraldv1.SubscribeRequest{Kind: &heraldv1.SubscribeRequest_Flow{Flow: n}}
}

func settleMsg(kind heraldv1.Settlement_Kind, ids ...string) *heraldv1.SubscribeRequest {
	return &heraldv1.SubscribeRequest{Kind: &heraldv1.SubscribeRequest_Settle{Settle: &heraldv1.Settlement{Kind: kind, AckIds: ids}}}
}

// A Subscribe stream whose messages break the protocol ends with
// INVALID_ARGUMENT and a Herald code, as every error of the service does.
func TestSubscribe_MessagesOutOfProtocolEndTheStreamWithAHeraldCode(t *testing.T) {
	f := newSubFixture(t, Config{})
	publish(t, f.c, "orders", orderEvent("a"))
	f.subscribe(t)
	for name, c := range map[string]struct {
		msgs []*heraldv1.SubscribeRequest
		want string
	}{
		"settle before start": {[]*heraldv1.SubscribeRequest{settleMsg(heraldv1.Settlement_KIND_ACK, "x")}, "must be start"},
		"flow before start":   {[]*heraldv1.SubscribeRequest{flowMsg(1)}, "must be start"},
		"start twice":         {[]*heraldv1.SubscribeRequest{startOrders, startOrders}, "only flow and settle"},
		"an empty message":    {[]*heraldv1.SubscribeRequest{startOrders, {}}, "only flow and settle"},
		"zero flow":           {[]*heraldv1.SubscribeRequest{startOrders, flowMsg(0)}, "flow must be positive, got 0"},
		"negative flow":       {[]*heraldv1.SubscribeRequest{startOrders, flowMsg(-5)}, "flow must be positive, got -5"},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s := f.c.Subscribe(ctx)
			defer s.CloseResponse()
			for _, m := range c.msgs {
				s.Send(m)
			}
			var err error
			for err == nil {
				_, err = s.Receive()
			}
			wantCode(t, err, connect.CodeInvalidArgument, "malformed_request", c.want)
		})
	}
}

// When a Subscribe stream breaks while a message of deliveries is being
// sent, the deliveries pulled for it and not yet sent are released: no
// client saw them, so they come again at once, their attempt not counted,
// instead of after their lease. Those of the message being sent stay
// leased (the client may have got part of it).
func TestSubscribe_DeliveriesPulledAndNotSentWhenTheStreamBreaksAreReleased(t *testing.T) {
	f := newSubFixture(t, Config{})
	ctx := context.Background()
	const events = pullers * pullChunk // each puller pulls a full message
	f.publishLarge(t, events)
	f.subscribe(t)

	sctx, cancel := context.WithCancel(ctx)
	s := f.stalledClient(t).Subscribe(sctx)
	s.Send(startOrders)
	s.Send(flowMsg(10 * events))
	f.waitInFlight(t, events)
	cancel()
	s.CloseResponse() // resets the stream

	resp, err := f.c.Pull(ctx, connect.NewRequest(&heraldv1.PullRequest{Topic: "orders", Subscription: "s", Max: events, Wait: durationpb.New(5 * time.Second)}))
	if err != nil {
		t.Fatal(err)
	}
	ds := resp.Msg.GetDeliveries()
	for len(ds) < events-pullChunk {
		more, err := f.c.Pull(ctx, connect.NewRequest(&heraldv1.PullRequest{Topic: "orders", Subscription: "s", Max: events, Wait: durationpb.New(time.Second)}))
		if err != nil {
			t.Fatal(err)
		}
		if len(more.Msg.GetDeliveries()) == 0 {
			break
		}
		ds = append(ds, more.Msg.GetDeliveries()...)
	}
	if len(ds) != events-pullChunk {
		t.Fatalf("%d deliveries came again at once after the stream broke, want the %d never sent", len(ds), events-pullChunk)
	}
	for _, d := range ds {
		if d.GetAttempt() != 1 {
			t.Fatalf("a released delivery came again as attempt %d, want 1", d.GetAttempt())
		}
	}
}

// A client that closes its side before start asked for nothing: the
// stream ends without an error, as a PublishStream without requests does.
func TestSubscribe_AStreamClosedBeforeStartEndsWithoutAnError(t *testing.T) {
	f := newSubFixture(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := f.c.Subscribe(ctx)
	defer s.CloseResponse()
	if err := s.CloseRequest(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Receive(); !errors.Is(err, io.EOF) {
		t.Fatalf("the stream ended with %v, want io.EOF", err)
	}
}

// A server shutting down while a Subscribe stream has deliveries pulled
// and not yet sent (waiting behind a message the client has not read)
// releases those, and waits for the client to settle what it was sent:
// once the client reads that message and acks it, the acks are applied
// and only then does the stream end with the shutdown's error. Nothing
// acked comes again, what was not sent is deliverable at once as a first
// attempt, and nothing is left leased.
func TestSubscribe_AServerShuttingDownReleasesWhatItDidNotSendAndAppliesTheAcksOfWhatItSent(t *testing.T) {
	closing := make(chan struct{})
	f := newSubFixture(t, Config{Closing: closing})
	ctx := context.Background()
	const events = pullers * pullChunk
	f.publishLarge(t, events)
	f.subscribe(t)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s := f.stalledClient(t).Subscribe(sctx)
	defer s.CloseResponse()
	s.Send(startOrders)
	s.Send(flowMsg(events)) // each puller pulls one message, and no more
	f.waitInFlight(t, events)

	close(closing)
	time.Sleep(100 * time.Millisecond) // the stream has seen the shutdown
	resp, err := s.Receive()           // reading lets the message stuck in flow control through
	if err != nil {
		t.Fatal(err)
	}
	sent := map[string]bool{}
	var ids []string
	for _, d := range resp.GetDeliveries() {
		sent[d.GetEvent().GetEvent().GetId()] = true
		ids = append(ids, d.GetAckId())
	}
	if len(sent) != pullChunk {
		t.Fatalf("the first message holds %d deliveries, want %d", len(sent), pullChunk)
	}
	for deadline := time.Now().Add(5 * time.Second); f.inFlight(t) != pullChunk; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries in flight once the shutdown stopped delivering, want the %d sent: the others released", f.inFlight(t), pullChunk)
		}
	}
	time.Sleep(200 * time.Millisecond) // the stream waits for the client's settlements
	if err := s.Send(settleMsg(heraldv1.Settlement_KIND_ACK, ids...)); err != nil {
		t.Fatalf("the stream ended before the client settled what it was sent: %v", err)
	}
	if resp, err := s.Receive(); !IsServerClosing(err) {
		t.Fatalf("after the acks the stream ended with %v (%d more deliveries), want the shutdown's error", err, len(resp.GetDeliveries()))
	}
	if got := f.inFlight(t); got != 0 {
		t.Fatalf("%d deliveries in flight after the stream ended, want none", got)
	}
	ds, err := f.m.PullRemote(ctx, "orders", "s", events, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != events-pullChunk {
		t.Fatalf("%d deliveries came again at once, want the %d never sent", len(ds), events-pullChunk)
	}
	for _, d := range ds {
		if sent[d.Event.ID] || d.Attempt != 1 {
			t.Fatalf("event %s came again as attempt %d; sent and acked: %v", d.Event.ID, d.Attempt, sent[d.Event.ID])
		}
	}
}

// A client that stopped reading does not hold a server's graceful
// shutdown past its grace: the message stuck in flow control is cut off
// (the stream reset) a moment after closeGrace, the deliveries pulled
// behind it are released, and the stream ends. Those of the cut message
// stay leased: the client may have got part of them.
func TestSubscribe_AClientThatStoppedReadingDoesNotHoldAShutdownPastItsGrace(t *testing.T) {
	closing := make(chan struct{})
	f, s := stuckStream(t, closing)

	closed := shutDownPastTheStuckSend(t, f, closing)
	ended := make(chan error, 1)
	go func() {
		for {
			if _, err := s.Receive(); err != nil {
				ended <- err
				return
			}
		}
	}()
	select {
	case err := <-ended:
		t.Logf("the stream ended after %s: %v", time.Since(closed).Round(100*time.Millisecond), err)
	case <-time.After(3 * time.Second):
		t.Fatal("the stream did not end")
	}
}

// A client that closed its side of the stream and stopped reading holds a
// server's graceful shutdown no longer than one that only stopped
// reading: the stream had ended (its client closed), but its send stuck in
// flow control is still cut off after the grace.
func TestSubscribe_AClientThatClosedItsSideAndStoppedReadingDoesNotHoldAShutdown(t *testing.T) {
	closing := make(chan struct{})
	f, s := stuckStream(t, closing)
	if err := s.CloseRequest(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the server sees the client's side end

	shutDownPastTheStuckSend(t, f, closing)
}

// stuckStream opens a Subscribe stream of a client that reads nothing and
// waits until the server has pulled every delivery the client allowed:
// its sends are stuck in flow control. closing is the server's shutdown.
func stuckStream(t *testing.T, closing chan struct{}) (*subFixture, *connect.BidiStreamForClient[heraldv1.SubscribeRequest, heraldv1.SubscribeResponse]) {
	f := newSubFixture(t, Config{Closing: closing})
	const events = pullers * pullChunk
	f.publishLarge(t, events)
	f.subscribe(t)
	s := f.stalledClient(t).Subscribe(context.Background())
	t.Cleanup(func() { s.CloseResponse() })
	s.Send(startOrders)
	s.Send(flowMsg(events))
	f.waitInFlight(t, events)
	return f, s
}

// shutDownPastTheStuckSend begins the shutdown and waits until only the
// deliveries of the stuck message are in flight (the others released),
// failing if that takes longer than the grace and a moment; it returns
// when the shutdown began.
func shutDownPastTheStuckSend(t *testing.T, f *subFixture, closing chan struct{}) time.Time {
	close(closing)
	closed := time.Now()
	for f.inFlight(t) != pullChunk {
		if time.Since(closed) > closeGrace+3*time.Second {
			t.Fatalf("%d deliveries in flight %s after the shutdown began, want the %d of the stuck message: the others released",
				f.inFlight(t), time.Since(closed).Round(time.Second), pullChunk)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return closed
}
