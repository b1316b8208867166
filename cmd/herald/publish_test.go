package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/heraldevents/herald/internal/broker"
)

func TestPublish_DataFromArgumentFileAndStdin(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	file := filepath.Join(t.TempDir(), "order.json")
	if err := os.WriteFile(file, []byte(`{"from":"file"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		stdin string
		args  []string
		data  string
		ct    string
	}{
		{"argument", "", []string{`{"from":"arg"}`}, `{"from":"arg"}`, "application/json"},
		{"file", "", []string{"@" + file}, `{"from":"file"}`, "application/json"},
		{"stdin", `{"from":"stdin"}`, []string{"-"}, `{"from":"stdin"}`, "application/json"},
		{"text", "", []string{"--content-type", "text/plain", "hello world"}, "hello world", "text/plain"},
		{"no data", "", nil, "", ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"publish", "orders", "--type", "order.placed", "--source", "/shop", "--subject", "o-1"}, tt.args...)
			r := env.run(tt.stdin, args...)
			if r.code != 0 || r.stdout != "partition 0 offset "+string(rune('0'+i))+"\n" {
				t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
			}
			events, err := env.broker.Read(context.Background(), "orders", 0, int64(i), 1)
			if err != nil || len(events) != 1 {
				t.Fatalf("read back: %v", err)
			}
			e := events[0]
			if string(e.Data) != tt.data || e.Type != "order.placed" || e.Source != "/shop" || e.Subject != "o-1" ||
				!regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(e.ID) || e.DataContentType != tt.ct {
				t.Errorf("stored %+v", e)
			}
		})
	}
}

func TestPublish_SameIDIsADuplicate(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	args := []string{"publish", "orders", "--type", "t", "--source", "/s", "--id", "order-1", "--key", "customer-7", `{"n":1}`}
	if out := env.mustRun(args...); out != "partition 0 offset 0\n" {
		t.Errorf("first publish printed %q", out)
	}
	if out := env.mustRun(args...); out != "partition 0 offset 0 (duplicate)\n" {
		t.Errorf("second publish printed %q", out)
	}
}

func TestPublish_Errors(t *testing.T) {
	env := newCLIEnv(t, broker.Options{DisableAutoCreate: true})
	env.mustRun("topics", "create", "orders")
	tests := []struct {
		name  string
		args  []string
		parts []string
	}{
		{"unknown topic with auto-create off", []string{"publish", "nope", "--type", "t", "--source", "/s"},
			[]string{"automatic topic creation is off", "(auto_create_disabled)"}},
		{"missing type", []string{"publish", "orders", "--source", "/s"}, []string{`required flag(s) "type" not set`}},
		{"data not JSON", []string{"publish", "orders", "--type", "t", "--source", "/s", "not json"}, []string{"not valid JSON", "--content-type text/plain"}},
		{"missing file", []string{"publish", "orders", "--type", "t", "--source", "/s", "@/does/not/exist"}, []string{"read event data"}},
		{"invalid source", []string{"publish", "orders", "--type", "t", "--source", "%zz"}, []string{`attribute "source"`, "(invalid_event)"}},
		{"bad content type", []string{"publish", "orders", "--type", "t", "--source", "/s", "--content-type", "nonsense", "x"},
			[]string{"datacontenttype", "(invalid_event)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.run("", tt.args...).wantOneErrorLine(t, tt.parts...)
		})
	}
	if _, end, _ := env.broker.Offsets(context.Background(), "orders", 0); end != 0 {
		t.Errorf("%d events stored", end)
	}
}

func TestPublish_ASchemaVersionBelowOneIsRefused(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.mustRun("topics", "create", "orders")
	for _, v := range []string{"-1", "0"} {
		env.run("", "publish", "orders", "--type", "user.registered", "--source", "/s", "--schema-version", v,
			`{"name":"a","email":"b"}`).wantOneErrorLine(t, "--schema-version "+v)
	}
	if _, end, _ := env.broker.Offsets(context.Background(), "orders", 0); end != 0 {
		t.Errorf("%d events stored", end)
	}
}
