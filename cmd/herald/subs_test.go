package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/server"
)

func TestSubs_CreateListDescribeDelete(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.mustRun("topics", "create", "orders", "--partitions", "2")

	out := env.mustRun("subs", "create", "orders", "billing", "--start", "earliest", "--ack-timeout", "1m",
		"--max-attempts", "3", "--backoff-initial", "2s", "--backoff-max", "1m", "--backoff-multiplier", "3",
		"--ordering", "partition", "--type", "order.*", "--type", "payment.*", "--source", "/shop", "--subject-prefix", "eu/",
		"--dead-letter-topic", "billing-dead")
	want := "created subscription billing on orders: start earliest, ack timeout 1m, max attempts 3, backoff 2s x3 up to 1m, " +
		"ordering partition, filter types order.*,payment.*; sources /shop; subject prefix eu/, dead letters to billing-dead\n"
	if out != want {
		t.Errorf("create printed\n%q, want\n%q", out, want)
	}
	out = env.mustRun("subs", "create", "orders", "billing", "--max-attempts", "4")
	if !strings.HasPrefix(out, "updated subscription billing on orders: start earliest, ack timeout 1m, max attempts 4, backoff 2s x3 up to 1m,") {
		t.Errorf("update printed %q", out)
	}
	env.mustRun("subs", "create", "orders", "audit")

	lines := strings.Split(strings.TrimSpace(env.mustRun("subs", "list", "orders")), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "audit ") ||
		!strings.HasPrefix(lines[2], "billing ") || !strings.Contains(lines[2], "billing-dead") {
		t.Errorf("list printed:\n%s", strings.Join(lines, "\n"))
	}
	var listed server.Subscription
	jsonLines := strings.Split(strings.TrimSpace(env.mustRun("subs", "list", "orders", "--json")), "\n")
	if len(jsonLines) != 2 || json.Unmarshal([]byte(jsonLines[1]), &listed) != nil || listed.Config.MaxAttempts != 4 {
		t.Errorf("list --json printed %q", jsonLines)
	}

	env.publishN(0, 1)
	out = env.mustRun("subs", "describe", "orders", "billing")
	for _, want := range []string{"name:", "billing", "start:", "earliest", "backoff:", "2s x3 up to 1m", "filter:",
		"dead-letter topic:", "PARTITION", "COMMITTED", "LAG", "IN FLIGHT", "WAITING RETRY", "DEAD LETTERED", "OLDEST UNACKED"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe printed %q, missing %q", out, want)
		}
	}
	var described server.Subscription
	if err := json.Unmarshal([]byte(env.mustRun("subs", "describe", "orders", "billing", "--json")), &described); err != nil ||
		len(described.Partitions) != 2 || !reflect.DeepEqual(described.Config, listed.Config) {
		t.Errorf("describe --json: %v %+v", err, described)
	}

	if out := env.mustRun("subs", "delete", "orders", "billing"); out != "deleted subscription billing on orders\n" {
		t.Errorf("delete printed %q", out)
	}
	env.run("", "subs", "describe", "orders", "billing").wantOneErrorLine(t, "unknown subscription", "(unknown_subscription)")
}

func TestSubs_ErrorsAreOneLine(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.mustRun("topics", "create", "orders")
	env.mustRun("subs", "create", "orders", "billing")
	tests := []struct {
		name  string
		args  []string
		parts []string
	}{
		{"bad ordering", []string{"subs", "create", "orders", "billing", "--ordering", "fifo"}, []string{`"fifo"`, "(invalid_subscription_setting)"}},
		{"bad duration", []string{"subs", "create", "orders", "billing", "--ack-timeout", "30"}, []string{`ackTimeout "30"`, "(invalid_subscription_setting)"}},
		{"other start", []string{"subs", "create", "orders", "billing", "--start", "earliest"}, []string{"seek", "(subscription_conflict)"}},
		{"invalid name", []string{"subs", "create", "orders", "bad name"}, []string{"(invalid_subscription_name)"}},
		{"unknown topic", []string{"subs", "create", "nope", "billing"}, []string{"(unknown_topic)"}},
		{"list unknown topic", []string{"subs", "list", "nope"}, []string{"(unknown_topic)"}},
		{"delete unknown", []string{"subs", "delete", "orders", "nope"}, []string{"(unknown_subscription)"}},
		{"missing name", []string{"subs", "create", "orders"}, []string{"accepts 2 arg(s)"}},
		{"seek without position", []string{"subs", "seek", "orders", "billing"}, []string{"--to"}},
		{"seek bad offset", []string{"subs", "seek", "orders", "billing", "--offset", "0:1"}, []string{`--offset "0:1"`}},
		{"redrive nothing", []string{"subs", "redrive", "orders", "billing"}, []string{"--all or --id"}},
		{"empty type", []string{"subs", "create", "orders", "billing", "--type", ""}, []string{"filter.types", "empty", "(invalid_subscription_setting)"}},
		{"NaN multiplier", []string{"subs", "create", "orders", "billing", "--backoff-multiplier", "NaN"}, []string{`--backoff-multiplier "NaN"`}},
		{"infinite multiplier", []string{"subs", "create", "orders", "billing", "--backoff-multiplier", "-Inf"}, []string{`--backoff-multiplier "-Inf"`}},
		{"seek a partition twice", []string{"subs", "seek", "orders", "billing", "--offset", "0=1", "--offset", "0=0"}, []string{`--offset "0=0"`, "partition 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.run("", tt.args...).wantOneErrorLine(t, tt.parts...)
		})
	}
}

func TestSubs_SeekDeadLettersAndRedrive(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.mustRun("topics", "create", "orders")
	env.mustRun("subs", "create", "orders", "billing", "--start", "earliest", "--max-attempts", "1")
	env.publishN(0, 2)
	consumed := deliveryLines(t, env.mustRun("consume", "orders", "billing", "--nack", "--reason", "card declined"))
	if len(consumed) != 2 {
		t.Fatalf("consumed %d", len(consumed))
	}

	var dl server.DeadLetter
	lines := strings.Split(strings.TrimSpace(env.mustRun("subs", "deadletters", "orders", "billing")), "\n")
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &dl) != nil || dl.Event.Extensions["deadid"] != "id-0" ||
		dl.Event.Extensions["deadreason"] != "card declined" {
		t.Fatalf("deadletters printed %q", lines)
	}
	table := env.mustRun("subs", "deadletters", "orders", "billing", "--limit", "1")
	if strings.Count(table, "\n") != 1 {
		t.Errorf("deadletters --limit 1 printed %q", table)
	}

	r := runApp(t.Context(), map[string]string{"HERALD_SERVER": env.url, "USER": "alice"}, "", "subs", "redrive", "orders", "billing", "--id", "id-1", "--id", "nope")
	if r.code != 0 || r.stdout != "redrove 1 dead letter to billing on orders (0 already being redriven, 0 resolved before)\n" || !strings.Contains(r.stderr, "nope") {
		t.Fatalf("redrive: %+v", r)
	}
	if got := deliveryLines(t, env.mustRun("consume", "orders", "billing")); len(got) != 1 || got[0].Event.ID != "id-1" || got[0].Attempt != 1 {
		t.Fatalf("consume after redrive: %+v", got)
	}
	audit := env.mustRun("subs", "redrives", "orders", "billing")
	if !strings.Contains(audit, "alice") || !strings.Contains(audit, "id-1") {
		t.Errorf("redrives printed %q", audit)
	}

	out := env.mustRun("subs", "seek", "orders", "billing", "--to", "earliest")
	if !strings.HasPrefix(out, "moved subscription billing on orders\nPARTITION") {
		t.Errorf("seek printed %q", out)
	}
	if got := deliveryLines(t, env.mustRun("consume", "orders", "billing")); len(got) != 2 {
		t.Errorf("consume after seek: %d deliveries, want 2", len(got))
	}
	env.mustRun("subs", "seek", "orders", "billing", "--offset", "0=1")
	if got := deliveryLines(t, env.mustRun("consume", "orders", "billing")); len(got) != 1 || got[0].Event.Offset != 1 {
		t.Errorf("consume after seek to offset 1: %+v", got)
	}
}
