package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// --pprof serves the profiles, with contended locks and blocking sampled
// too, and stops serving them when stopped.
func TestServePprof_ServesProfilesOfWaitingToo(t *testing.T) {
	defer runtime.SetMutexProfileFraction(runtime.SetMutexProfileFraction(-1))
	defer runtime.SetBlockProfileRate(0)
	var logged bytes.Buffer
	stop, err := servePprof("127.0.0.1:0", slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if f := runtime.SetMutexProfileFraction(-1); f <= 0 {
		t.Fatalf("mutex profile fraction %d: want contended locks sampled", f)
	}
	m := regexp.MustCompile(`url=(http://\S+/debug/pprof/)`).FindStringSubmatch(logged.String())
	if m == nil {
		t.Fatalf("no profiling url logged: %s", logged.String())
	}
	resp, err := http.Get(m[1] + "mutex?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "mutex") {
		t.Fatalf("mutex profile: %s %.200s", resp.Status, body)
	}
	stop()
	if _, err := http.Get(m[1]); err == nil {
		t.Fatal("profiles still served after stop")
	}
	if _, err := servePprof("256.0.0.1:0", slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "--pprof 256.0.0.1:0") {
		t.Fatalf("a bad address: %v", err)
	}
}

// The profiling endpoints need no token and /debug/pprof/cmdline shows
// the command line, --token included: an address other machines can
// reach is refused unless --insecure says so.
func TestServe_PprofBeyondLoopbackIsRefusedUnlessInsecure(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:6060", ":6060", "[::]:0"} {
		_, err := settingsFor([]string{"--pprof", addr, "--token", "t"}, nil)
		if err == nil || !strings.Contains(err.Error(), "--pprof "+addr) || !strings.Contains(err.Error(), "--insecure") {
			t.Errorf("--pprof %s: %v; want it refused, naming --pprof and --insecure", addr, err)
		}
		if _, err := settingsFor([]string{"--pprof", addr, "--insecure"}, nil); err != nil {
			t.Errorf("--pprof %s --insecure: %v", addr, err)
		}
	}
	if _, err := settingsFor([]string{"--pprof", "127.0.0.1:0"}, nil); err != nil {
		t.Errorf("--pprof on loopback: %v", err)
	}
}
