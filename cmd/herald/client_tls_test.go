package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// clientFiles writes a client certificate and key the server's CA signed,
// and the CA, and returns their paths.
func (s *mtlsServe) clientFiles(t *testing.T) (ca, cert, key string) {
	t.Helper()
	cp, kp := s.ca.issue(t, 3, false)
	return s.write(t, "ca.pem", s.ca.pem), s.write(t, "client.pem", cp), s.write(t, "client.key", kp)
}

// The CLI talks to a server with mutual TLS when given the CA of the
// server's certificate and a client certificate, by flags or by their
// environment variables.
func TestCLI_TalksToAMutualTLSServerWithItsCAAndAClientCertificate(t *testing.T) {
	s := startMutualTLSServe(t)
	ca, cert, key := s.clientFiles(t)
	server := "https://" + s.addr
	r := runApp(context.Background(), nil, "", "topics", "create", "orders",
		"--server", server, "--ca-file", ca, "--client-cert", cert, "--client-key", key)
	if r.code != 0 {
		t.Fatalf("topics create by flags: exit %d: %s", r.code, r.stderr)
	}
	env := map[string]string{"HERALD_SERVER": server, "HERALD_CA_FILE": ca, "HERALD_CLIENT_CERT": cert, "HERALD_CLIENT_KEY": key}
	r = runApp(context.Background(), env, "", "topics", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "orders") {
		t.Fatalf("topics list by environment: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// Without a client certificate, with one of another CA, or with the
// wrong CA for the server's certificate, a command fails with one line
// saying which option to give.
func TestCLI_MutualTLSWithoutTheRightCertificateOrTheCASaysWhatToGive(t *testing.T) {
	s := startMutualTLSServe(t)
	ca, cert, key := s.clientFiles(t)
	stranger := newTestCA(t)
	strangerCert, strangerKey := stranger.issue(t, 3, false)
	server := "https://" + s.addr
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no client certificate", []string{"--ca-file", ca}, []string{"asked for a client certificate and none was given", "--client-cert and --client-key"}},
		{"a client certificate of another CA", []string{"--ca-file", ca, "--client-cert", s.write(t, "stranger.pem", strangerCert),
			"--client-key", s.write(t, "stranger.key", strangerKey)}, []string{"--client-cert", "a CA of its --tls-client-ca"}},
		// Not the system's CAs: loaded once, they would stay in the heap
		// of the test binary (TestKeepHeapFloor wants it small).
		{"the CA file of another CA", []string{"--ca-file", s.write(t, "stranger-ca.pem", stranger.pem), "--client-cert", cert, "--client-key", key},
			[]string{"certificate signed by unknown authority", "--ca-file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"topics", "list", "--server", server}, tc.args...)
			runApp(context.Background(), nil, "", args...).wantOneErrorLine(t, tc.want...)
		})
	}
}

// Each TLS option that cannot work is refused with one line naming it,
// before any request: the topic is not created.
func TestCLI_BadTLSOptionsAreRefusedAndChangeNothing(t *testing.T) {
	s := startMutualTLSServe(t)
	ca, cert, key := s.clientFiles(t)
	_, otherKey := s.ca.issue(t, 4, false)
	otherKeyFile := s.write(t, "other.key", otherKey)
	missing := filepath.Join(s.dir, "missing.pem")
	server := "https://" + s.addr
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"unreadable CA file", []string{"--ca-file", missing, "--client-cert", cert, "--client-key", key}, []string{"--ca-file", "missing.pem", "no such file"}},
		{"CA file without a certificate", []string{"--ca-file", key, "--client-cert", cert, "--client-key", key}, []string{"--ca-file", "no PEM certificate"}},
		{"unreadable client certificate", []string{"--ca-file", ca, "--client-cert", missing, "--client-key", key}, []string{"--client-cert", "missing.pem", "no such file"}},
		{"unreadable client key", []string{"--ca-file", ca, "--client-cert", cert, "--client-key", missing}, []string{"--client-key", "missing.pem", "no such file"}},
		{"certificate without its key", []string{"--ca-file", ca, "--client-cert", cert}, []string{"--client-cert needs --client-key"}},
		{"key without its certificate", []string{"--ca-file", ca, "--client-key", key}, []string{"--client-key needs --client-cert"}},
		{"key of another certificate", []string{"--ca-file", ca, "--client-cert", cert, "--client-key", otherKeyFile}, []string{"--client-key", "does not match", "--client-cert"}},
		{"cleartext server", []string{"--server", "http://" + s.addr, "--ca-file", ca, "--client-cert", cert, "--client-key", key}, []string{"http://" + s.addr, "https://"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"topics", "create", "refused", "--server", server}, tc.args...)
			runApp(context.Background(), nil, "", args...).wantOneErrorLine(t, tc.want...)
		})
	}
	r := runApp(context.Background(), nil, "", "topics", "list", "--server", server, "--ca-file", ca, "--client-cert", cert, "--client-key", key)
	if r.code != 0 || strings.Contains(r.stdout, "refused") {
		t.Fatalf("topics list: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// herald bench reaches a server with mutual TLS through the same options,
// over gRPC (the SDK) and over HTTP; without --server they are refused, as
// embedded Herald has no TLS.
func TestBench_MeasuresAMutualTLSServerWithTheClientTLSOptions(t *testing.T) {
	s := startMutualTLSServe(t)
	ca, cert, key := s.clientFiles(t)
	for _, mode := range []string{"publish", "http-publish"} {
		r := runApp(context.Background(), nil, "", "bench", mode, "--count", "20", "--json",
			"--server", "https://"+s.addr, "--ca-file", ca, "--client-cert", cert, "--client-key", key)
		if r.code != 0 || !strings.Contains(r.stdout, `"events":20`) {
			t.Errorf("bench %s: exit %d, stdout %q, stderr %q", mode, r.code, r.stdout, r.stderr)
		}
	}
	runApp(context.Background(), nil, "", "bench", "publish", "--count", "20", "--ca-file", ca).
		wantOneErrorLine(t, "--ca-file", "--server")
}

// Once the server has taken the client certificate, a later failure to
// reach it (the server stopped) says to check that the server runs, not
// that the certificate may be wrong: what a handshake that went well
// noted is no reason for a failure after it.
func TestCLI_AServerThatStopsAfterTakingTheCertificateIsNotBlamedOnIt(t *testing.T) {
	ca := newTestCA(t)
	srvCert, srvKey := ca.issue(t, 2, true)
	cliCert, cliKey := ca.issue(t, 3, false)
	srvPair, err := tls.X509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	cliPair, err := tls.X509KeyPair(cliCert, cliKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{}`))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{srvPair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	defer srv.Close()
	c, err := newClient(srv.URL, &http.Client{Transport: &http.Transport{}}, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cliPair}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.do(ctx, http.MethodGet, "/v1/topics", nil, nil); err != nil {
		t.Fatalf("a request over mutual TLS: %v", err)
	}
	srv.Close()
	_, err = c.do(ctx, http.MethodGet, "/v1/topics", nil, nil)
	if err == nil || strings.Contains(err.Error(), "certificate") || !strings.Contains(err.Error(), "is `herald serve` running") {
		t.Fatalf("a request once the server stopped: %v; want it to ask whether the server runs", err)
	}
}
