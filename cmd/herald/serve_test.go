package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/heraldevents/herald/internal/log"
)

// settingsFor parses args like `herald serve` and resolves the settings.
func settingsFor(args []string, env map[string]string) (serveSettings, error) {
	var s serveSettings
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	addServeFlags(fs, &s)
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	err := resolveServeSettings(fs, &s, func(k string) string { return env[k] })
	return s, err
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "herald.json")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestServeSettings_FlagBeatsEnvBeatsFileBeatsDefault(t *testing.T) {
	cfg := writeConfig(t, `{"addr":"file:1","data":"/file","fsync":"none","default-partitions":5,"auto-create-topics":false,"insecure":true}`)
	env := map[string]string{"HERALD_DATA": "/env", "HERALD_FSYNC": "interval", "HERALD_CONFIG": cfg}
	s, err := settingsFor([]string{"--fsync", "always"}, env)
	if err != nil {
		t.Fatal(err)
	}
	got := []any{s.Addr, s.Data, s.Fsync.value, s.DefaultPartitions, s.AutoCreateTopics, s.MaxEventBytes, s.LogLevel.value}
	want := []any{"file:1", "/env", "always", 5, false, 1 << 20, "info"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("setting %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestServeSettings_Defaults(t *testing.T) {
	s, err := settingsFor(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr != "127.0.0.1:7440" || s.Data != "./herald-data" || s.Fsync.value != "always" || !s.AutoCreateTopics ||
		s.DefaultPartitions != 1 || s.MaxEventBytes != 1<<20 {
		t.Errorf("defaults %+v", s)
	}
}

func TestServeSettings_ConfigFlagBeatsConfigEnv(t *testing.T) {
	fromFlag := writeConfig(t, `{"addr":"flag-file:1","insecure":true}`)
	fromEnv := writeConfig(t, `{"addr":"env-file:1"}`)
	s, err := settingsFor([]string{"--config", fromFlag}, map[string]string{"HERALD_CONFIG": fromEnv})
	if err != nil || s.Addr != "flag-file:1" {
		t.Errorf("addr %q, err %v", s.Addr, err)
	}
}

func TestServeSettings_BadValuesSayWhereTheyCameFrom(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		cfg  string
		want string
	}{
		{"bad flag", []string{"--fsync", "sometimes"}, nil, "", `"--fsync" flag: want one of always, interval, none`},
		{"bad env", nil, map[string]string{"HERALD_FSYNC": "sometimes"}, "", `HERALD_FSYNC="sometimes": want one of`},
		{"bad env number", nil, map[string]string{"HERALD_DEFAULT_PARTITIONS": "many"}, "", "HERALD_DEFAULT_PARTITIONS"},
		{"bad file value", nil, nil, `{"fsync":"sometimes"}`, `"fsync"="sometimes": want one of`},
		{"unknown file key", nil, nil, `{"fsynk":"none"}`, `unknown setting "fsynk" (known: addr,`},
		{"file not an object", nil, nil, `["addr"]`, "must be a JSON object"},
		{"file value an object", nil, nil, `{"addr":{}}`, "must be a string, number or boolean"},
		{"missing file", []string{"--config", "/does/not/exist.json"}, nil, "", "config file:"},
		{"zero partitions", []string{"--default-partitions", "0"}, nil, "", "--default-partitions 0"},
		{"huge events", nil, map[string]string{"HERALD_MAX_EVENT_BYTES": "100000000"}, "", "--max-event-bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.cfg != "" {
				args = append(args, "--config", writeConfig(t, tt.cfg))
			}
			_, err := settingsFor(args, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestServe_StartsAndShutsDownGracefully(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
		done <- a.execute(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data", dir, "--fsync", "interval"})
	}()
	line := regexp.MustCompile(`^herald listening on (http://127\.0\.0\.1:\d+) \(data (.+), fsync interval, no authentication\)\n$`)
	waitFor(t, func() bool { return line.MatchString(out.String()) })
	m := line.FindStringSubmatch(out.String())
	if m[2] != dir {
		t.Errorf("printed data dir %q, want %q", m[2], dir)
	}
	env := &cliEnv{t: t, url: m[1]}
	env.mustRun("publish", "orders", "--type", "t", "--source", "/s", `{"n":1}`)
	resp, err := http.Get(m[1] + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v", err)
	}
	resp.Body.Close()

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not shut down")
	}
	eng, err := log.Open(dir, log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if _, end, err := eng.Offsets(context.Background(), "orders", 0); err != nil || end != 1 {
		t.Errorf("after restart: end offset %d, %v", end, err)
	}
}

// serve checks its inputs (the auth file, the TLS files) and takes its
// address before it opens the data directory, so a serve that fails to
// start leaves no data directory behind, and says it is listening only
// once it is.
func TestServe_ThatFailsToStartLeavesNoDataDirectory(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, key := newTestCA(t).issue(t, 2, true)
	tests := map[string][]string{
		"auth file": {"--auth-file", filepath.Join(dir, "typo.json")},
		"tls files": {"--tls-cert", filepath.Join(dir, "no.pem"), "--tls-key", filepath.Join(dir, "no.key")},
		"tls client ca": {"--tls-cert", write("server.pem", cert), "--tls-key", write("server.key", key),
			"--tls-client-ca", write("ca.pem", []byte("not a certificate"))},
		"address taken": {"--addr", taken.Addr().String()},
		"pprof taken":   {"--pprof", taken.Addr().String()},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "herald-data")
			r := runApp(context.Background(), nil, "", append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data}, args...)...)
			r.wantOneErrorLine(t)
			if r.stdout != "" {
				t.Errorf("serve failed (%s) but first printed %q", strings.TrimSpace(r.stderr), r.stdout)
			}
			if _, err := os.Stat(data); err == nil {
				t.Errorf("serve failed (%s) but created %s", strings.TrimSpace(r.stderr), data)
			}
		})
	}
}

func TestServe_ADataPathThatIsAFileIsNamedOnce(t *testing.T) {
	file := writeConfig(t, "{}")
	r := runApp(context.Background(), nil, "", "serve", "--addr", "127.0.0.1:0", "--data", file)
	r.wantOneErrorLine(t, "--data "+file, "not a directory")
	if n := strings.Count(r.stderr, "data directory"); n != 1 {
		t.Errorf("stderr %q says \"data directory\" %d times", r.stderr, n)
	}
}

func TestServeGCPercent_LowerThanGosDefaultUnlessGOGCIsSet(t *testing.T) {
	if pct, ok := serveGCPercent(func(string) string { return "" }); !ok || pct != serveGCTarget || pct >= 100 {
		t.Fatalf("without GOGC: %d, %v; want %d, true", pct, ok, serveGCTarget)
	}
	if _, ok := serveGCPercent(func(k string) string { return map[string]string{"GOGC": "200"}[k] }); ok {
		t.Fatal("GOGC=200 is set, yet serve would override it")
	}
}

// A limit or timeout given a value it cannot mean (a negative count, a
// budget or timeout of zero or less) is refused at start, naming the flag,
// before anything is written, whether it comes from the flag, the
// environment or the config file.
func TestServe_MeaninglessLimitsAreRefusedBeforeAnythingIsWritten(t *testing.T) {
	tests := []struct {
		flag, value, want string
	}{
		{"max-connections", "-1", "--max-connections -1: must be 0 (no limit) or more"},
		{"max-topics", "-1", "--max-topics -1: must be 0 (no limit) or more"},
		{"max-subscriptions", "-5", "--max-subscriptions -5: must be 0 (no limit) or more"},
		{"max-waiting", "0", "--max-waiting 0: must be 1 or more"},
		{"max-waiting", "-1", "--max-waiting -1: must be 1 or more"},
		{"max-publish-bytes", "0", "--max-publish-bytes 0: must be 1 or more"},
		{"max-publish-bytes", "-1", "--max-publish-bytes -1: must be 1 or more"},
		{"read-header-timeout", "0s", "--read-header-timeout 0s: must be more than 0"},
		{"read-header-timeout", "-5s", "--read-header-timeout -5s: must be more than 0"},
	}
	for _, tt := range tests {
		t.Run(tt.flag+"="+tt.value, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "herald-data")
			cfg := writeConfig(t, fmt.Sprintf(`{%q: %q}`, tt.flag, tt.value))
			// A serve that starts after all is stopped, and fails the test.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for how, run := range map[string]func() result{
				"flag": func() result {
					return runApp(ctx, nil, "", "serve", "--addr", "127.0.0.1:0", "--data", data, "--"+tt.flag, tt.value)
				},
				"env": func() result {
					return runApp(ctx, map[string]string{envName(tt.flag): tt.value}, "", "serve", "--addr", "127.0.0.1:0", "--data", data)
				},
				"file": func() result {
					return runApp(ctx, nil, "", "serve", "--addr", "127.0.0.1:0", "--data", data, "--config", cfg)
				},
			} {
				r := run()
				if r.code == 0 {
					t.Fatalf("%s: serve with %s=%s ran and exited 0", how, tt.flag, tt.value)
				}
				r.wantOneErrorLine(t, tt.want)
				if _, err := os.Stat(data); err == nil {
					t.Errorf("%s: serve failed (%s) but created %s", how, strings.TrimSpace(r.stderr), data)
				}
			}
		})
	}
}

// An address that is not host:port with a valid port is refused as such,
// naming --addr, rather than taken for one open to other machines; an
// address in use names --addr too.
func TestServe_ABadOrTakenAddressIsNamed(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	tests := []struct{ addr, want string }{
		{"nonsense", "--addr nonsense: missing port in address"},
		{"127.0.0.1", "--addr 127.0.0.1: missing port in address"},
		{"127.0.0.1:99999", "--addr 127.0.0.1:99999: listen tcp: address 99999: invalid port"},
		{"127.0.0.1:http-alt-typo", "--addr 127.0.0.1:http-alt-typo:"},
		{taken.Addr().String(), "--addr " + taken.Addr().String() + ": listen tcp"},
	}
	for _, tt := range tests {
		data := filepath.Join(t.TempDir(), "herald-data")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a serve that starts after all
		r := runApp(ctx, nil, "", "serve", "--addr", tt.addr, "--data", data)
		cancel()
		r.wantOneErrorLine(t, tt.want)
		if strings.Contains(r.stderr, "--insecure") {
			t.Errorf("--addr %s: %q speaks of authentication", tt.addr, r.stderr)
		}
		if _, err := os.Stat(data); err == nil {
			t.Errorf("--addr %s: serve failed but created %s", tt.addr, data)
		}
	}
}

// The config file of serve takes serve's settings only: --server, which
// every command has but serve does not use, is an unknown setting there.
func TestServe_ConfigFileRefusesSettingsServeDoesNotHave(t *testing.T) {
	data := filepath.Join(t.TempDir(), "herald-data")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a serve that starts after all
	defer cancel()
	cfg := writeConfig(t, `{"server": "http://127.0.0.1:7440"}`)
	r := runApp(ctx, nil, "", "serve", "--addr", "127.0.0.1:0", "--data", data, "--config", cfg)
	r.wantOneErrorLine(t, `unknown setting "server"`)
	if strings.Contains(r.stderr, "server,") || strings.HasSuffix(strings.TrimSpace(r.stderr), "server)") {
		t.Errorf("%q lists server among serve's settings", r.stderr)
	}
}

// Serve removes from its data directory only what it wrote there: over a
// directory that holds other files (a --data pointing at the wrong place),
// the generation files of the dedup index an earlier run left go, and
// every other file stays.
func TestServe_RemovesNoFileItDidNotWrite(t *testing.T) {
	dir := t.TempDir()
	mine := []string{filepath.Join("dedup", "notes.txt"), filepath.Join("dedup", "keep", "x.dedup"), "README"}
	for _, f := range append(mine, filepath.Join("dedup", "3.dedup")) {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int, 1)
	go func() {
		a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &out, getenv: func(string) string { return "" }}
		done <- a.execute(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data", dir})
	}()
	waitFor(t, func() bool { return strings.Contains(out.String(), "herald listening on") })
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, out.String())
	}
	for _, f := range mine {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("serve removed %s, which it did not write: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "dedup", "3.dedup")); !os.IsNotExist(err) {
		t.Errorf("a dedup generation file of an earlier run is still there (%v)", err)
	}
}
