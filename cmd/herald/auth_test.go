package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestServe_RefusesANonLoopbackAddressWithoutAuthentication(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		r := runApp(context.Background(), nil, "", "serve", "--addr", addr, "--data", t.TempDir())
		r.wantOneErrorLine(t, "--addr "+addr, "--token, --auth-file or --tls-client-ca", "--insecure")
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0"} {
		if _, err := settingsFor([]string{"--addr", addr}, nil); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	if _, err := settingsFor([]string{"--addr", "0.0.0.0:0", "--insecure"}, nil); err != nil {
		t.Errorf("--insecure: %v", err)
	}
	if _, err := settingsFor([]string{"--addr", "0.0.0.0:0"}, map[string]string{"HERALD_TOKEN": "t"}); err != nil {
		t.Errorf("with a token: %v", err)
	}
}

// A server with an auth file: the CLI with a token granted consume on
// orders* reads orders but may not publish, a token on nothing is refused,
// and no token appears in the server's logs, even at debug level.
func TestServe_AuthFileGrantsAndNoSecretInTheLogs(t *testing.T) {
	const consumer, publisher = "hrld_consumer-secret", "hrld_publisher-secret"
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	file := filepath.Join(t.TempDir(), "auth.json")
	os.WriteFile(file, []byte(`{"tokens": [
	  {"name": "reader", "sha256": "`+sum(consumer)+`", "grants": [{"topics": "orders*", "actions": ["consume"]}]},
	  {"name": "writer", "sha256": "`+sum(publisher)+`", "grants": [{"topics": "orders", "actions": ["admin"]}]}]}`), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
		done <- a.execute(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--auth-file", file,
			"--token", "hrld_plain-secret", "--log-level", "debug"})
	}()
	line := regexp.MustCompile(`^herald listening on (http://127\.0\.0\.1:\d+) `)
	waitFor(t, func() bool { return line.MatchString(out.String()) })
	url := line.FindStringSubmatch(out.String())[1]
	as := func(token string, args ...string) result {
		return runApp(context.Background(), map[string]string{"HERALD_SERVER": url, "HERALD_TOKEN": token}, "", args...)
	}
	if r := as(publisher, "publish", "orders", "--type", "t", "--source", "/s", `{"n":1}`); r.code != 0 {
		t.Fatalf("publish with an admin grant: %s", r.stderr)
	}
	if r := as(consumer, "read", "orders", "--partition", "0"); r.code != 0 || !strings.Contains(r.stdout, `"n":1`) {
		t.Fatalf("read with a consume grant: %d %s %s", r.code, r.stdout, r.stderr)
	}
	as(consumer, "publish", "orders", "--type", "t", "--source", "/s", "{}").wantOneErrorLine(t, "forbidden", `may not publish on topic "orders"`)
	as("hrld_unknown", "read", "orders").wantOneErrorLine(t, "unauthorized")
	as("", "topics", "list").wantOneErrorLine(t, "unauthorized")
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not shut down")
	}
	logs := out.String() + errOut.String()
	if !strings.Contains(logs, "/v1/topics/orders/events") {
		t.Fatalf("the debug access log is missing (the check below would prove nothing):\n%s", logs)
	}
	for _, secret := range []string{consumer, publisher, "hrld_plain-secret", "hrld_unknown"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the server's output contains the token %q", secret)
		}
	}
}

// A 401 reads as one sentence and says how the CLI sends a token: in
// HERALD_TOKEN, unset or not accepted.
func TestCLI_UnauthorizedNamesHERALD_TOKEN(t *testing.T) {
	url, stop := startServe(t, t.TempDir(), "--token", "hrld_right")
	defer stop()
	for token, want := range map[string]string{"": "HERALD_TOKEN, which is not set", "hrld_wrong": "HERALD_TOKEN, which the server does not accept"} {
		r := runApp(context.Background(), map[string]string{"HERALD_SERVER": url, "HERALD_TOKEN": token}, "", "topics", "list")
		r.wantOneErrorLine(t, "unauthorized: send an API token", want)
	}
	if r := runApp(context.Background(), map[string]string{"HERALD_SERVER": url, "HERALD_TOKEN": "hrld_right"}, "", "topics", "list"); r.code != 0 {
		t.Errorf("with the right token: %s", r.stderr)
	}
}

// HERALD_TOKEN is the variable serve reads its tokens from: the CLI reads
// it the same way, so a shell that runs both works. It sends the first of
// a comma-separated list, without the blanks around it (a line read from
// a file keeps its line break); a token no header can carry is named.
func TestCLI_HERALD_TOKENIsReadAsServeReadsIt(t *testing.T) {
	url, stop := startServe(t, t.TempDir(), "--token", "hrld_old, hrld_new")
	defer stop()
	for _, token := range []string{"hrld_old, hrld_new", "hrld_new,hrld_old", "hrld_new\n", " hrld_old\r\n"} {
		r := runApp(context.Background(), map[string]string{"HERALD_SERVER": url, "HERALD_TOKEN": token}, "", "topics", "list")
		if r.code != 0 {
			t.Errorf("HERALD_TOKEN=%q: exit %d: %s", token, r.code, r.stderr)
		}
	}
	for _, token := range []string{"hrld_new\x00", "hrld_\nnew"} {
		r := runApp(context.Background(), map[string]string{"HERALD_SERVER": url, "HERALD_TOKEN": token}, "", "topics", "create", "orders")
		r.wantOneErrorLine(t, "HERALD_TOKEN holds a control character")
		if strings.Contains(r.stderr, "cannot reach") {
			t.Errorf("HERALD_TOKEN=%q: %s", token, r.stderr)
		}
	}
}

// An auth file without tokens would let in everyone (the keyring is empty,
// which means no authentication): serve refuses it, on any address, and
// leaves the data directory untouched.
func TestServe_AnAuthFileWithoutTokensIsRefused(t *testing.T) {
	for _, body := range []string{`{"tokens": []}`, `{}`, `null`} {
		file := filepath.Join(t.TempDir(), "auth.json")
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		data := filepath.Join(t.TempDir(), "data")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r := runApp(ctx, nil, "", "serve", "--addr", "0.0.0.0:0", "--data", data, "--auth-file", file)
		cancel()
		r.wantOneErrorLine(t, "auth file", file, "no tokens")
		if _, err := os.Stat(data); err == nil {
			t.Errorf("%s: the data directory was created", body)
		}
	}
}

// Mutual TLS asks who is calling: with --tls-client-ca a non-loopback
// address needs no token, and the listening line says how callers are
// known.
func TestServe_MutualTLSIsAuthenticationForANonLoopbackAddress(t *testing.T) {
	s, err := settingsFor([]string{"--addr", "0.0.0.0:0", "--tls-cert", "s.pem", "--tls-key", "s.key", "--tls-client-ca", "ca.pem"}, nil)
	if err != nil {
		t.Fatalf("mutual TLS on 0.0.0.0: %v", err)
	}
	if d := s.authDescription(); !strings.Contains(d, "client certificates") || strings.Contains(d, "no authentication") {
		t.Errorf("listening line says %q; want the client certificates", d)
	}
	if _, err := settingsFor([]string{"--addr", "0.0.0.0:0", "--tls-cert", "s.pem", "--tls-key", "s.key"}, nil); err == nil {
		t.Error("TLS without client certificates on 0.0.0.0 was allowed without a token")
	}
}

// A token given with --token may do everything; one that is also an entry
// of the auth file, with that entry's grants, would silently get the
// larger of the two. Serve refuses it, as the auth file refuses a token
// listed twice, and leaves the data directory untouched.
func TestServe_ATokenBothInTokenAndTheAuthFileIsRefused(t *testing.T) {
	const token = "hrld_reader-secret"
	sum := sha256.Sum256([]byte(token))
	file := filepath.Join(t.TempDir(), "auth.json")
	os.WriteFile(file, []byte(`{"tokens": [{"name": "reader", "sha256": "`+hex.EncodeToString(sum[:])+`", "grants": [{"topics": "orders", "actions": ["consume"]}]}]}`), 0o600)
	data := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := runApp(ctx, nil, "", "serve", "--addr", "127.0.0.1:0", "--data", data, "--auth-file", file, "--token", "hrld_other, "+token)
	r.wantOneErrorLine(t, "--token", "token 2", `"reader"`, file)
	if strings.Contains(r.stderr, token) {
		t.Errorf("the error shows the token: %s", r.stderr)
	}
	if _, err := os.Stat(data); err == nil {
		t.Error("the data directory was created")
	}
}

// A --token (or HERALD_TOKEN) that holds no token a client could send is
// refused, on loopback too: only commas and blanks would run the server
// without authentication, and a control character no header carries.
func TestServe_ATokenNoClientCanSendIsRefused(t *testing.T) {
	for _, tc := range []struct{ token, want string }{
		{",", "holds no token"}, {" , ", "holds no token"}, {" ", "holds no token"},
		{"hrld_a,hrld_\x01b", "control character"}, {"hrld_a\tb", "control character"},
	} {
		for _, env := range []map[string]string{nil, {"HERALD_TOKEN": tc.token}} {
			args := []string{"--addr", "127.0.0.1:0"}
			if env == nil {
				args = append(args, "--token", tc.token)
			}
			_, err := settingsFor(args, env)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--token") {
				t.Errorf("token %q (env %v): %v, want an error containing %q", tc.token, env != nil, err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "hrld_") {
				t.Errorf("token %q: the error shows the token: %v", tc.token, err)
			}
		}
	}
	if _, err := settingsFor([]string{"--addr", "127.0.0.1:0", "--token", ""}, nil); err != nil {
		t.Errorf("an empty --token (no authentication): %v", err)
	}
}
