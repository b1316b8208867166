package rpc

import (
	"context"
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
