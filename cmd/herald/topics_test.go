package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/server"
)

func TestTopics_CreateListDescribeDelete(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})

	out := env.mustRun("topics", "create", "orders", "--partitions", "3", "--retention", "24h", "--dedup-window", "0")
	if want := "created topic orders: 3 partitions, retention 24h, retention bytes unlimited, dedup window 0s\n"; out != want {
		t.Errorf("create printed %q, want %q", out, want)
	}
	out = env.mustRun("topics", "create", "orders", "--partitions", "4")
	if !strings.HasPrefix(out, "updated topic orders: 4 partitions, retention 24h,") {
		t.Errorf("update printed %q", out)
	}
	env.mustRun("topics", "create", "audit")

	lines := strings.Split(strings.TrimSpace(env.mustRun("topics", "list")), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "audit ") ||
		!strings.HasPrefix(lines[2], "orders ") || !strings.Contains(lines[2], " 4 ") {
		t.Errorf("list printed:\n%s", strings.Join(lines, "\n"))
	}
	var listed server.Topic
	jsonLines := strings.Split(strings.TrimSpace(env.mustRun("topics", "list", "--json")), "\n")
	if len(jsonLines) != 2 || json.Unmarshal([]byte(jsonLines[1]), &listed) != nil || listed.Name != "orders" {
		t.Errorf("list --json printed %q", jsonLines)
	}

	env.mustRun("publish", "orders", "--type", "t", "--source", "/s", "--key", "k", `{"a":1}`)
	out = env.mustRun("topics", "describe", "orders")
	for _, want := range []string{"name:", "orders", "partitions:", "dedup window:", "PARTITION", "END OFFSET"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe printed %q, missing %q", out, want)
		}
	}
	var described server.Topic
	if err := json.Unmarshal([]byte(env.mustRun("topics", "describe", "orders", "--json")), &described); err != nil || len(described.Offsets) != 4 {
		t.Errorf("describe --json: %v %+v", err, described)
	}

	if out := env.mustRun("topics", "delete", "orders"); out != "deleted topic orders\n" {
		t.Errorf("delete printed %q", out)
	}
	env.run("", "topics", "describe", "orders").wantOneErrorLine(t, "unknown topic", "(unknown_topic)")
}

func TestTopics_ErrorsAreOneLine(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.mustRun("topics", "create", "orders", "--partitions", "2")
	tests := []struct {
		name  string
		args  []string
		parts []string
	}{
		{"shrink", []string{"topics", "create", "orders", "--partitions", "1"}, []string{"cannot shrink", "(topic_conflict)"}},
		{"bad retention", []string{"topics", "create", "orders", "--retention", "7d"}, []string{`"7d"`, "(invalid_topic_setting)"}},
		{"invalid name", []string{"topics", "create", "bad name"}, []string{"(invalid_topic_name)"}},
		{"reserved name", []string{"topics", "delete", "__x"}, []string{"(reserved_topic_name)"}},
		{"missing name", []string{"topics", "create"}, []string{"accepts 1 arg(s)"}},
		{"unknown flag", []string{"topics", "list", "--nope"}, []string{"unknown flag: --nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.run("", tt.args...).wantOneErrorLine(t, tt.parts...)
		})
	}
}

func TestClient_ServerURLComesFromFlagThenEnv(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	r := runApp(t.Context(), map[string]string{"HERALD_SERVER": "http://127.0.0.1:1"}, "", "--server", env.url, "topics", "list")
	if r.code != 0 {
		t.Fatalf("--server did not win over HERALD_SERVER: %s", r.stderr)
	}
	r = runApp(t.Context(), map[string]string{"HERALD_SERVER": "http://127.0.0.1:1"}, "", "topics", "list")
	r.wantOneErrorLine(t, "cannot reach the Herald server at http://127.0.0.1:1", "herald serve")
	r = runApp(t.Context(), nil, "", "--server", "localhost:7440", "topics", "list")
	r.wantOneErrorLine(t, `--server "localhost:7440"`)
}

// A --server URL with a query or a fragment is refused: the API paths
// went after them, into the query, and every request went to "/".
func TestClient_AServerURLWithAQueryOrFragmentIsRefused(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	for _, server := range []string{env.url + "?x=1", env.url + "/#top", env.url + "?"} {
		r := runApp(t.Context(), nil, "", "--server", server, "topics", "create", "orders")
		r.wantOneErrorLine(t, fmt.Sprintf("--server %q", server), "no query or fragment")
	}
	if out := env.mustRun("topics", "list"); strings.Contains(out, "orders") {
		t.Errorf("a topic was created: %s", out)
	}
}
