package main

import (
	"context"
	"strings"
	"testing"

	"github.com/heraldevents/herald/internal/broker"
)

// A name of dots is a name like any other to the CLI: it reaches the
// server as that name, which refuses or does not know it. Sent as a bare
// path segment, the server's router would take it for "this" or "the
// parent", and `subs delete orders ..` deleted the topic orders.
func TestCLI_ANameOfDotsIsSentAsThatName(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.mustRun("topics", "create", "orders")
	env.publishN(0, 1)
	env.mustRun("subs", "create", "orders", "billing")
	tests := []struct {
		args  []string
		parts []string
	}{
		{[]string{"subs", "delete", "orders", ".."}, []string{"unknown subscription: .. on topic orders"}},
		{[]string{"subs", "delete", "orders", "."}, []string{"unknown subscription: . on topic orders"}},
		{[]string{"subs", "describe", "orders", ".."}, []string{"unknown subscription: .. on topic orders"}},
		{[]string{"subs", "seek", "orders", "..", "--to", "earliest"}, []string{"unknown subscription"}},
		{[]string{"topics", "describe", "."}, []string{`invalid topic name: "."`}},
		{[]string{"topics", "delete", ".."}, []string{`invalid topic name: ".."`}},
		{[]string{"publish", "..", "--type", "t", "--source", "/s"}, []string{`invalid topic name: ".."`}},
		{[]string{"schemas", "show", ".."}, []string{`subject not found: ".."`}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			env.run("", tt.args...).wantOneErrorLine(t, tt.parts...)
		})
	}
	if _, end, err := env.broker.Offsets(context.Background(), "orders", 0); err != nil || end != 1 {
		t.Errorf("orders partition 0 ends at %d (%v), want its one event kept", end, err)
	}
	env.mustRun("subs", "describe", "orders", "billing")
}

// An empty name is refused before anything is sent: in a path it would
// leave an empty segment, which the server's router cleans away, naming
// another resource.
func TestCLI_AnEmptyNameIsRefused(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.mustRun("topics", "create", "subscriptions")
	env.mustRun("subs", "create", "subscriptions", "billing")
	tests := []struct {
		args  []string
		parts []string
	}{
		{[]string{"subs", "delete", "", "billing"}, []string{"subs delete: argument 1 is empty"}},
		{[]string{"subs", "list", ""}, []string{"subs list: argument 1 is empty"}},
		{[]string{"topics", "create", ""}, []string{"topics create: argument 1 is empty"}},
		{[]string{"read", ""}, []string{"read: argument 1 is empty"}},
		{[]string{"dlq", "show", "subscriptions", "billing", ""}, []string{"dlq show: argument 3 is empty"}},
		{[]string{"publish", "subscriptions", "--type", "t", "--source", "/s", ""}, []string{"publish: argument 2 is empty"}},
		{[]string{"schemas", "check", "-", "--subject", ""}, []string{"--subject is empty"}},
		{[]string{"schemas", "register", "-", "--subject", ""}, []string{"--subject is empty"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			env.run(`{"type":"object"}`, tt.args...).wantOneErrorLine(t, tt.parts...)
		})
	}
	if _, end, _ := env.broker.Offsets(context.Background(), "subscriptions", 0); end != 0 {
		t.Errorf("%d events stored", end)
	}
	env.mustRun("subs", "describe", "subscriptions", "billing")
	if out := env.mustRun("schemas", "list"); strings.Count(out, "\n") != 1 {
		t.Errorf("schemas list printed %q, want no subject", out)
	}
}
