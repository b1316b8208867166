package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldevents/herald/event"
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

// redrive takes the ID that dlq list shows (ID@topic/sub) as well as the
// event's own id, as dlq show does.
func TestDLQ_RedriveTakesTheIDThatListShows(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.mustRun("topics", "create", "orders")
	env.mustRun("subs", "create", "orders", "billing", "--start", "earliest", "--max-attempts", "1")
	env.publishN(0, 1)
	env.mustRun("consume", "orders", "billing", "--nack")
	var dl server.DeadLetter
	if err := json.Unmarshal([]byte(env.mustRun("dlq", "list", "orders", "billing")), &dl); err != nil {
		t.Fatal(err)
	}
	if dl.Event.ID != "id-0@orders/billing" {
		t.Fatalf("dlq list shows id %q", dl.Event.ID)
	}
	if out := env.mustRun("dlq", "redrive", "orders", "billing", "--id", dl.Event.ID); !strings.HasPrefix(out, "redrove 1 dead letter ") {
		t.Fatalf("dlq redrive --id %s printed %q", dl.Event.ID, out)
	}
	if got := deliveryLines(t, env.mustRun("consume", "orders", "billing")); len(got) != 1 || got[0].Event.ID != "id-0" {
		t.Fatalf("consume after redrive: %+v", got)
	}
}

// A redrive of ids that redrives nothing fails with one line saying why;
// one that redrives some of what it names succeeds and names the rest. A
// redrive of all that finds none succeeds (it may run on a schedule).
func TestDLQ_RedriveOfNothingFails(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.mustRun("topics", "create", "orders")
	env.mustRun("subs", "create", "orders", "billing", "--start", "earliest", "--max-attempts", "1")
	if out := env.mustRun("dlq", "redrive", "orders", "billing", "--all"); !strings.Contains(out, "redrove 0 dead letters") {
		t.Fatalf("redrive of all with none: %q", out)
	}
	env.publishN(0, 1)
	env.mustRun("consume", "orders", "billing", "--nack")

	r := env.run("", "dlq", "redrive", "orders", "billing", "--id", "nope")
	r.wantOneErrorLine(t, "redrove no dead letters to billing on orders", "not dead letters of billing: nope")
	if r.stdout != "" {
		t.Errorf("a failed redrive printed %q", r.stdout)
	}
	env.mustRun("dlq", "redrive", "orders", "billing", "--id", "id-0")
	env.run("", "dlq", "redrive", "orders", "billing", "--id", "id-0").wantOneErrorLine(t, "redrove no dead letters", "1 already being redriven")
	if out := env.mustRun("dlq", "redrive", "orders", "billing", "--all"); !strings.Contains(out, "1 already being redriven") {
		t.Errorf("redrive of all with the one dead letter on its way back: %q", out)
	}
	env.run("", "dlq", "redrive", "orders", "billing", "--id", "id-0", "--all").wantOneErrorLine(t, "--all or --id, not both")
	r = env.run("", "dlq", "redrive", "orders", "billing")
	r.wantOneErrorLine(t, "give --all or --id")
	if strings.Contains(r.stderr, "not both") {
		t.Errorf("redrive without --all or --id: %q", r.stderr)
	}
}

// dlq show finds a dead letter however many dead letters come before it,
// even past what one listing holds (8 MiB of data).
func TestDLQ_ShowFindsADeadLetterBehindMoreThanAListingHolds(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.mustRun("topics", "create", "orders")
	env.mustRun("subs", "create", "orders", "billing", "--start", "earliest", "--max-attempts", "1")
	big := strings.Repeat("x", 1_000_000)
	for i := range 10 {
		e := &event.Event{ID: fmt.Sprintf("big-%d", i), Source: "/test", Type: "test.event", SpecVersion: "1.0",
			DataContentType: "text/plain", Data: []byte(big)}
		if _, err := env.broker.Publish(context.Background(), "orders", []*event.Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	env.mustRun("consume", "orders", "billing", "--nack", "--reason", "too big", "--max", "10")
	var dl server.DeadLetter
	if err := json.Unmarshal([]byte(env.mustRun("dlq", "show", "orders", "billing", "big-9")), &dl); err != nil ||
		dl.Event.Extensions["deadid"] != "big-9" || dl.Event.Extensions["deadreason"] != "too big" {
		t.Fatalf("dlq show of the tenth 1 MB dead letter: %v", err)
	}
}
