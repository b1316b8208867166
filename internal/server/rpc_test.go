package server

import (
	"context"
	"net/http"
	"testing"

	"connectrpc.com/connect"

	"github.com/heraldevents/herald/internal/broker"
	heraldv1 "github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/rpc/heraldv1/heraldv1connect"
)

// The gRPC service is served on the HTTP API's own port.
func TestServer_ServesTheRPCServiceOnTheSamePort(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{})
	e.createTopic("orders", "")
	client := heraldv1connect.NewHeraldServiceClient(http.DefaultClient, e.url)
	res, err := client.ListTopics(context.Background(), connect.NewRequest(&heraldv1.ListTopicsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if topics := res.Msg.GetTopics(); len(topics) != 1 || topics[0].GetName() != "orders" {
		t.Fatalf("topics over RPC: %v", topics)
	}
}

// Push settings are not part of the protobuf API: a change of a push
// subscription over gRPC keeps them instead of turning push off.
func TestServer_AChangeOverRPCKeepsThePushSettings(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{})
	e.createTopic("orders", "")
	r := e.do("PUT", "/v1/topics/orders/subscriptions/hook",
		`{"start":"earliest","push":{"url":"https://billing.example/hooks","secret":"s3cret","maxInFlight":4}}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	client := heraldv1connect.NewHeraldServiceClient(http.DefaultClient, e.url)
	_, err := client.PutSubscription(context.Background(), connect.NewRequest(&heraldv1.PutSubscriptionRequest{
		Topic: "orders", Name: "hook", Config: &heraldv1.SubscriptionConfig{Start: "earliest", MaxAttempts: 3}}))
	if err != nil {
		t.Fatal(err)
	}
	var got Subscription
	e.do("GET", "/v1/topics/orders/subscriptions/hook", "").wantStatus(t, http.StatusOK, mediaJSON, &got)
	if got.Config.MaxAttempts != 3 {
		t.Errorf("maxAttempts %d: the change was not made", got.Config.MaxAttempts)
	}
	if p := got.Config.Push; p == nil || p.URL != "https://billing.example/hooks" || !p.Signed || p.MaxInFlight != 4 {
		t.Errorf("push after the change over gRPC: %+v, want the settings kept", p)
	}
}
