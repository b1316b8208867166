package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/server"
)

// deliveryLines decodes consume's JSON lines.
func deliveryLines(t *testing.T, out string) []server.Delivery {
	t.Helper()
	var ds []server.Delivery
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var d server.Delivery
		if err := json.Unmarshal([]byte(line), &d); err != nil || d.Event == nil {
			t.Fatalf("line %q: %v", line, err)
		}
		ds = append(ds, d)
	}
	return ds
}

func TestConsume_PrintsThenAcks(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.mustRun("topics", "create", "orders")
	env.mustRun("subs", "create", "orders", "billing", "--start", "earliest")
	env.publishN(0, 5)
	out := env.mustRun("consume", "orders", "billing", "--max", "2")
	ds := deliveryLines(t, out)
	if len(ds) != 5 {
		t.Fatalf("consumed %d, want 5:\n%s", len(ds), out)
	}
	for i, d := range ds {
		if d.AckID == "" || d.Attempt != 1 || d.Event.ID != "id-"+string(rune('0'+i)) || d.Event.Offset != int64(i) ||
			d.Event.Topic != "orders" || string(d.Event.Data) != `{"n":`+string(rune('0'+i))+`}` {
			t.Errorf("delivery %d: %+v %+v", i, d, d.Event)
		}
	}
	var line map[string]json.RawMessage
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &line); err != nil || len(line) != 3 {
		t.Errorf("line has %d members, want ackId, attempt, event: %v", len(line), err)
	}
	if out := env.mustRun("consume", "orders", "billing"); out != "" {
		t.Errorf("second consume printed %q, want nothing (all acked)", out)
	}
	if !strings.Contains(env.mustRun("subs", "describe", "orders", "billing"), "\n0          5          5    0 ") {
		t.Errorf("describe after consume:\n%s", env.mustRun("subs", "describe", "orders", "billing"))
	}
}

func TestConsume_NackRedeliversAfterTheBackoff(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.mustRun("topics", "create", "orders")
	env.mustRun("subs", "create", "orders", "billing", "--start", "earliest", "--backoff-initial", "500ms")
	env.publishN(0, 1)
	first := deliveryLines(t, env.mustRun("consume", "orders", "billing", "--nack", "--reason", "service down"))
	if len(first) != 1 || first[0].Attempt != 1 {
		t.Fatalf("first consume %+v", first)
	}
	second := deliveryLines(t, env.mustRun("consume", "orders", "billing", "--wait", "1s"))
	if len(second) != 1 || second[0].Attempt != 2 || second[0].Event.ID != "id-0" {
		t.Fatalf("second consume %+v", second)
	}
	if out := env.mustRun("consume", "orders", "billing"); out != "" {
		t.Errorf("third consume printed %q", out)
	}
}

func TestConsume_FollowPrintsUntilInterruptedAndAcksWhatItPrinted(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.mustRun("topics", "create", "orders")
	env.mustRun("subs", "create", "orders", "billing", "--start", "earliest")
	env.publishN(0, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	var out syncBuffer
	go func() {
		a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &out,
			getenv: func(string) string { return "" }, http: nil}
		done <- result{code: a.execute(ctx, []string{"--server", env.url, "consume", "orders", "billing", "--follow"})}
	}()
	waitFor(t, func() bool { return strings.Count(out.String(), "\n") == 1 })
	env.publishN(1, 2)
	waitFor(t, func() bool { return strings.Count(out.String(), "\n") == 3 })
	cancel()
	select {
	case r := <-done:
		if r.code != 0 {
			t.Errorf("exit code %d after interrupt: %s", r.code, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("consume --follow did not stop when interrupted")
	}
	if got := env.mustRun("consume", "orders", "billing"); got != "" {
		t.Errorf("after --follow, consume printed %q (not acked?)", got)
	}
}

func TestConsume_Errors(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.mustRun("topics", "create", "orders")
	env.mustRun("subs", "create", "orders", "billing")
	tests := []struct {
		name  string
		args  []string
		parts []string
	}{
		{"unknown subscription", []string{"consume", "orders", "nope"}, []string{"(unknown_subscription)"}},
		{"unknown topic", []string{"consume", "nope", "billing"}, []string{"(unknown_topic)"}},
		{"max 0", []string{"consume", "orders", "billing", "--max", "0"}, []string{"max 0", "(invalid_parameter)"}},
		{"wait too long", []string{"consume", "orders", "billing", "--wait", "1m"}, []string{`wait "1m"`, "(invalid_parameter)"}},
		{"follow without wait", []string{"consume", "orders", "billing", "-f", "--wait", "0s"}, []string{"--follow needs a --wait"}},
		{"reason without nack", []string{"consume", "orders", "billing", "--reason", "r"}, []string{"--reason and --delay go with --nack"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.run("", tt.args...).wantOneErrorLine(t, tt.parts...)
		})
	}
}

func TestConsume_TableOnATerminal(t *testing.T) {
	var out strings.Builder
	dw := deliveryWriter{w: &out}
	e := &event.Event{ID: "id\t1", Source: "/s", Type: "t", Offset: 7, Stored: true, StoredAt: time.Now(), Data: []byte("hi")}
	if err := dw.write([]server.Delivery{{AckID: "1.0.7.1", Attempt: 2, Event: e}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "ATTEMPT") || !strings.HasPrefix(lines[1], "2 ") || !strings.Contains(lines[1], "id 1") {
		t.Errorf("table %q", out.String())
	}
}

// A --delay the server would refuse is refused before the first pull, so
// no event is leased (and no attempt used up) by a consume that fails.
func TestConsume_ABadDelayLeasesNothing(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.mustRun("topics", "create", "orders")
	env.mustRun("subs", "create", "orders", "billing", "--start", "earliest")
	env.publishN(0, 1)
	for _, delay := range []string{"bogus", "0s", "-1s", "12h0m1s", ""} {
		r := env.run("", "consume", "orders", "billing", "--nack", "--delay", delay)
		r.wantOneErrorLine(t, fmt.Sprintf("--delay %q", delay), "up to 12h")
		if r.stdout != "" {
			t.Errorf("consume --delay %q printed deliveries: %q", delay, r.stdout)
		}
	}
	var s server.Subscription
	if err := json.Unmarshal([]byte(env.mustRun("subs", "describe", "orders", "billing", "--json")), &s); err != nil {
		t.Fatal(err)
	}
	if s.Partitions[0].InFlight != 0 {
		t.Errorf("after the failed consumes, %d event(s) in flight, want 0", s.Partitions[0].InFlight)
	}
	if got := deliveryLines(t, env.mustRun("consume", "orders", "billing", "--nack", "--delay", "12h")); len(got) != 1 || got[0].Attempt != 1 {
		t.Errorf("consume --nack --delay 12h: %+v, want the event at attempt 1", got)
	}
}
