package server

import (
	"fmt"
	"testing"

	"github.com/heraldevents/herald/internal/broker"
)

func TestProbe(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{})
	show := func(m, p, b string, h ...string) {
		r := e.do(m, p, b, h...)
		fmt.Printf("%s %s -> %d ct=%q %.300s\n", m, p, r.status, r.header.Get("Content-Type"), r.body)
	}
	show("GET", "/v1/topics/nope/subscriptions", "")
	show("DELETE", "/v1/topics/nope", "")
	show("DELETE", "/v1/topics/nope/subscriptions/x", "")
	show("GET", "/v1/topics/nope/subscriptions/x/redrives", "")
	show("POST", "/v1/topics/nope/subscriptions/x/ack", `{"ackIds":["a"]}`)
	show("GET", "/v1/topics/nope/subscriptions/x/stream", "")
	show("POST", "/v1/topics/nope/subscriptions/x/pull", `{"wait":"1s"}`)
	show("GET", "/v1/topics/nope/events?wait=1s", "")
	e.createTopic("orders", "")
	show("GET", "/v1/topics/orders/events?since=2024-05-01T12:00:00+01:00", "")
	show("GET", "/v1/topics/orders/events?since=2024-05-01T12:00:00%2B01:00", "")
	show("GET", "/v1/topics/orders/events?since=0001-01-01T00:00:00Z", "")
	show("GET", "/v1/topics/orders/events?since=9999-12-31T23:59:59Z", "")
	show("GET", "/v1/topics/orders/events?since=10000-01-01T00:00:00Z", "")
	show("GET", "/v1/topics/orders/events?since=1000-01-01T00:00:00Z", "")
	show("GET", "/v1/topics/orders/events?offset=9223372036854775807", "")
	show("GET", "/v1/topics/orders/events?offset=0&wait=100ms", "")
	show("GET", "/v1/topics/orders/events?offset=1&wait=100ms", "")
}
