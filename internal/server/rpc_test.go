package server

import (
	"context"
	"fmt"
	"net/http"
	"sync"
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

// A change over gRPC made at the same time as a change of the push
// settings over HTTP keeps the new push settings: it does not write back
// the ones it read before.
func TestServer_AChangeOverRPCDoesNotUndoAPushChangeMadeMeanwhile(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{})
	e.createTopic("orders", "")
	if r := e.do("PUT", "/v1/topics/orders/subscriptions/hook", `{"start":"earliest","push":{"url":"https://billing.example/0"}}`); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	client := heraldv1connect.NewHeraldServiceClient(http.DefaultClient, e.url)
	for round := 1; round <= 100; round++ {
		url := fmt.Sprintf("https://billing.example/%d", round)
		var wg sync.WaitGroup
		wg.Go(func() {
			if r := e.do("PUT", "/v1/topics/orders/subscriptions/hook", `{"push":{"url":"`+url+`"}}`); r.status != http.StatusOK {
				t.Errorf("push change: %d %s", r.status, r.body)
			}
		})
		wg.Go(func() {
			_, err := client.PutSubscription(context.Background(), connect.NewRequest(&heraldv1.PutSubscriptionRequest{
				Topic: "orders", Name: "hook", Config: &heraldv1.SubscriptionConfig{Start: "earliest", MaxAttempts: int32(round + 1)}}))
			if err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		var got Subscription
		e.do("GET", "/v1/topics/orders/subscriptions/hook", "").wantStatus(t, http.StatusOK, mediaJSON, &got)
		if p := got.Config.Push; p == nil || p.URL != url || got.Config.MaxAttempts != round+1 {
			t.Fatalf("round %d: push %+v, maxAttempts %d; want %s and %d: a change was lost", round, p, got.Config.MaxAttempts, url, round+1)
		}
	}
}
