package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
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

// countingReader gives n bytes of JSON-looking text and counts how many
// were read.
type countingReader struct {
	n, read int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	if r.read >= r.n {
		return 0, io.EOF
	}
	k := min(int64(len(p)), r.n-r.read)
	for i := range p[:k] {
		p[i] = ' '
	}
	r.read += k
	return int(k), nil
}

// Data larger than any server takes in one event is refused after
// reading just past that size, whatever follows (a stream that does not
// end, /dev/zero): the CLI does not hold it all in memory to send it.
func TestPublish_DataBeyondTheLargestEventIsRefusedUnread(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	in := &countingReader{n: 3 * maxEventBytesLimit}
	var out, errOut syncBuffer
	a := &app{stdin: in, stdout: &out, stderr: &errOut, http: http.DefaultClient,
		getenv: func(k string) string { return map[string]string{"HERALD_SERVER": env.url}[k] }}
	r := result{code: a.execute(t.Context(), []string{"publish", "orders", "--type", "t", "--source", "/s", "-"})}
	r.stdout, r.stderr = out.String(), errOut.String()
	r.wantOneErrorLine(t, "standard input", "more than 32 MiB")
	if in.read > maxEventBytesLimit+1<<20 {
		t.Errorf("read %d bytes of standard input", in.read)
	}

	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, maxEventBytesLimit+1); err != nil {
		t.Fatal(err)
	}
	env.run("", "publish", "orders", "--type", "t", "--source", "/s", "--content-type", "application/octet-stream", "@"+big).
		wantOneErrorLine(t, big, "more than 32 MiB")
	if _, end, _ := env.broker.Offsets(context.Background(), "orders", 0); end != 0 {
		t.Errorf("%d events stored", end)
	}
}

// Empty standard input or an empty file is not JSON: an event is not
// published without the data it was given to carry (a failed command
// before the pipe gives nothing). Without a data argument an event has
// no data, as ever; other content types may be empty.
func TestPublish_EmptyInputIsNotJSON(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.mustRun("topics", "create", "orders")
	empty := filepath.Join(t.TempDir(), "empty.json")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env.run("", "publish", "orders", "--type", "t", "--source", "/s", "-").wantOneErrorLine(t, "standard input is empty", "not valid JSON")
	env.run("", "publish", "orders", "--type", "t", "--source", "/s", "@"+empty).wantOneErrorLine(t, empty+" is empty", "not valid JSON")
	if _, end, _ := env.broker.Offsets(context.Background(), "orders", 0); end != 0 {
		t.Errorf("%d events stored", end)
	}
	if r := env.run("", "publish", "orders", "--type", "t", "--source", "/s", "--content-type", "text/plain", "-"); r.code != 0 {
		t.Errorf("empty text/plain: %s", r.stderr)
	}
}

// publish sends one event in binary mode, its data the body: a CloudEvents
// format as the data's content type would make the server read the body
// as whole events instead (structured or batch mode), dropping --type,
// --source and --id, and storing a batch before the CLI failed on its
// reply. It is refused, and nothing is stored.
func TestPublish_ACloudEventsContentTypeIsRefused(t *testing.T) {
	env := newCLIEnv(t, broker.Options{})
	env.mustRun("topics", "create", "orders")
	one := `{"specversion":"1.0","id":"x","source":"/other","type":"other"}`
	for _, tt := range []struct{ ct, data string }{
		{"application/cloudevents+json", one},
		{"Application/CloudEvents+JSON; charset=utf-8", one},
		{"application/cloudevents-batch+json", "[" + one + `,{"specversion":"1.0","id":"y","source":"/other","type":"other"}]`},
		{"application/cloudevents+xml", "<event/>"},
	} {
		env.run("", "publish", "orders", "--type", "t", "--source", "/s", "--content-type", tt.ct, tt.data).
			wantOneErrorLine(t, fmt.Sprintf("--content-type %q", tt.ct), "CloudEvents format")
	}
	if _, end, _ := env.broker.Offsets(context.Background(), "orders", 0); end != 0 {
		t.Errorf("%d events stored", end)
	}
}
