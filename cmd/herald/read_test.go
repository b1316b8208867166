package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/server"
)

// publishN publishes events id-from .. id-(from+n-1) to orders.
func (e *cliEnv) publishN(from, n int) {
	e.t.Helper()
	for i := from; i < from+n; i++ {
		e.mustRun("publish", "orders", "--type", "t", "--source", "/s", "--id", fmt.Sprint("id-", i), fmt.Sprintf(`{"n":%d}`, i))
	}
}

// jsonLines decodes JSON lines output.
func jsonLines(t *testing.T, out string) []*event.Event {
	t.Helper()
	var events []*event.Event
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		e := &event.Event{}
		if err := e.UnmarshalJSON([]byte(line)); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		events = append(events, e)
	}
	return events
}

func TestRead_PrintsJSONLinesWhenNotATerminal(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.publishN(0, 5)
	time.Sleep(5 * time.Millisecond) // the log keeps millisecond timestamps
	mid := time.Now().UTC()
	time.Sleep(5 * time.Millisecond)
	env.publishN(5, 2)
	tests := []struct {
		name  string
		args  []string
		first int
		n     int
	}{
		{"all", nil, 0, 7},
		{"from offset", []string{"--from", "3"}, 3, 4},
		{"with limit", []string{"--from", "1", "--limit", "2"}, 1, 2},
		{"from time", []string{"--from", mid.Format(time.RFC3339Nano)}, 5, 2},
		{"from end", []string{"--from", "end"}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := jsonLines(t, env.mustRun(append([]string{"read", "orders"}, tt.args...)...))
			if len(events) != tt.n {
				t.Fatalf("%d events, want %d", len(events), tt.n)
			}
			for i, e := range events {
				if e.ID != fmt.Sprint("id-", tt.first+i) || !e.Stored || e.Offset != int64(tt.first+i) || e.Partition != 0 ||
					string(e.Data) != fmt.Sprintf(`{"n":%d}`, tt.first+i) {
					t.Errorf("event %d: %+v", i, e)
				}
			}
		})
	}
}

func TestRead_Errors(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.publishN(0, 1)
	tests := []struct {
		name  string
		args  []string
		parts []string
	}{
		{"unknown topic", []string{"read", "nope"}, []string{"(unknown_topic)"}},
		{"past the end", []string{"read", "orders", "--from", "5"}, []string{"offset 5", "(offset_out_of_range)"}},
		{"negative offset", []string{"read", "orders", "--from", "-1"}, []string{"--from -1: offsets start at 0"}},
		{"unknown partition", []string{"read", "orders", "--partition", "3"}, []string{"(unknown_partition)"}},
		{"bad from", []string{"read", "orders", "--from", "yesterday"}, []string{`--from "yesterday"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.run("", tt.args...).wantOneErrorLine(t, tt.parts...)
		})
	}
}

func TestRead_FollowPrintsNewEventsUntilInterrupted(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.publishN(0, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	var out syncBuffer
	go func() {
		a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &out,
			getenv: func(string) string { return "" }, http: nil}
		done <- result{code: a.execute(ctx, []string{"--server", env.url, "read", "orders", "--follow"})}
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
		t.Fatal("read --follow did not stop")
	}
	if events := jsonLines(t, out.String()); len(events) != 3 || events[2].ID != "id-2" {
		t.Errorf("printed %q", out.String())
	}
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out")
}

func TestRead_TableShowsAPreview(t *testing.T) {
	long := strings.Repeat("x", 100)
	tests := map[string]string{"": "-", `{"a": 1,` + "\n" + ` "b": 2}`: `{"a": 1, "b": 2}`, long: strings.Repeat("x", 60) + "…", "\xff\xfe": "<2 bytes>"}
	for in, want := range tests {
		if got := preview([]byte(in)); got != want {
			t.Errorf("preview(%q) = %q, want %q", in, got, want)
		}
	}
	var out strings.Builder
	ew := newEventWriter(&out, false)
	e := &event.Event{ID: "id\t1", Source: "/s", Type: "t", Offset: 7, Stored: true, StoredAt: time.Now(), Data: []byte("hi")}
	if err := ew.write([]*event.Event{e}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "OFFSET") || !strings.HasPrefix(lines[1], "7 ") || !strings.Contains(lines[1], "id 1") {
		t.Errorf("table %q", out.String())
	}
}

// A table goes to a terminal, and events come from anyone who may
// publish: control characters in their data or attributes (escape
// sequences that retitle the window, recolour it or write the clipboard)
// are not passed through.
func TestRead_TableShowsNoControlCharacters(t *testing.T) {
	hostile := "\x1b[31mRED\x1b]0;title\x07 \u009b2J\x00end"
	var out strings.Builder
	ew := newEventWriter(&out, false)
	e := &event.Event{ID: "id", Source: "/s", Type: hostile, PartitionKey: hostile, Offset: 0, StoredAt: time.Now(), Data: []byte(hostile)}
	if err := ew.write([]*event.Event{e}); err != nil {
		t.Fatal(err)
	}
	dw := deliveryWriter{w: &out}
	if err := dw.write([]server.Delivery{{AckID: "a", Attempt: 1, Event: e}}); err != nil {
		t.Fatal(err)
	}
	if i := strings.IndexFunc(strings.ReplaceAll(out.String(), "\n", ""), unicode.IsControl); i >= 0 {
		t.Errorf("the tables hold a control character: %q", out.String())
	}
	if !strings.Contains(out.String(), "RED") || !strings.Contains(out.String(), "end") {
		t.Errorf("the tables lost the text around the control characters: %q", out.String())
	}
}
