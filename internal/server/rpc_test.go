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
