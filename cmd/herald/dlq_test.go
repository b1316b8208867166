package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/server"
)

func TestDLQ_ListShowAndRedrive(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.mustRun("topics", "create", "orders")
	env.mustRun("subs", "create", "orders", "billing", "--start", "earliest", "--max-attempts", "1")
	env.publishN(0, 2)
	env.mustRun("consume", "orders", "billing", "--nack", "--reason", "card declined")

	if lines := strings.Split(strings.TrimSpace(env.mustRun("dlq", "list", "orders", "billing")), "\n"); len(lines) != 2 {
		t.Fatalf("dlq list printed %q", lines)
	}
	var dl server.DeadLetter
	if err := json.Unmarshal([]byte(env.mustRun("dlq", "show", "orders", "billing", "id-1")), &dl); err != nil ||
		dl.Event.Extensions["deadid"] != "id-1" || dl.Event.Extensions["deadreason"] != "card declined" {
		t.Fatalf("dlq show: %+v %v", dl, err)
	}
	env.run("", "dlq", "show", "orders", "billing", "nope").wantOneErrorLine(t, `no dead letter with event id "nope"`)
	if out := env.mustRun("dlq", "redrive", "orders", "billing", "--all"); !strings.HasPrefix(out, "redrove 2 dead letters") {
		t.Fatalf("dlq redrive printed %q", out)
	}
	if got := deliveryLines(t, env.mustRun("consume", "orders", "billing")); len(got) != 2 {
		t.Fatalf("consume after redrive: %d deliveries", len(got))
	}
}
