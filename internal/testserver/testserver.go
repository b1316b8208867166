// Package testserver runs a Herald server in a test's process, on
// loopback, composed as `herald serve` composes it, so that tests of
// remote clients talk to the real HTTP and gRPC handlers.
package testserver

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/internal/auth"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/schema"
	"github.com/heraldevents/herald/internal/server"
	"github.com/heraldevents/herald/internal/subscription"
	"github.com/heraldevents/herald/internal/vfs"
)

// Server is a Herald server in this process, on loopback, as
// `herald serve` composes it.
type Server struct {
	t    *testing.T
	dir  string
	opts Options
	Addr string // host:port, kept across restarts; the HTTP API, gRPC and the schema registry (/schema-registry)
	eng  *log.Engine
	subs *subscription.Manager
	srv  *server.Server
	hs   *http.Server
	done chan error
}

// Options configures a test server. The zero value is a cleartext server
// without authentication.
type Options struct {
	Tokens []string      // accepted API tokens
	Keys   *auth.Keyring // tokens with grants, as an auth file gives them
	TLS    *tls.Config   // serve TLS with this config (it must hold a certificate)
	Logger *slog.Logger  // the server's logger; nil: none
	// MaxEventBytes is the largest event stored, as herald serve
	// --max-event-bytes sets it; 0: the default, 1 MiB.
	MaxEventBytes int
	// MaxWaiting is herald serve --max-waiting; 0: the default.
	MaxWaiting int
	// MaxTopics and MaxSubscriptions are herald serve --max-topics and
	// --max-subscriptions; 0: no limit.
	MaxTopics, MaxSubscriptions int
	// FS is the file system the log is kept on; nil: the operating
	// system's.
	FS vfs.FS
}

// Start runs a server over dir on a free loopback port.
func Start(t *testing.T, dir string) *Server { return StartWith(t, dir, Options{}) }

// StartWith runs a server with opts over dir on a free loopback port.
func StartWith(t *testing.T, dir string, opts Options) *Server {
	ts := &Server{t: t, dir: dir, Addr: "127.0.0.1:0", opts: opts}
	ts.start()
	t.Cleanup(ts.Stop)
	return ts
}

func (ts *Server) start() {
	ts.t.Helper()
	eng, err := log.Open(ts.dir, log.Options{FS: ts.opts.FS})
	if err != nil {
		ts.t.Fatal(err)
	}
	reg, err := schema.Open(context.Background(), eng, schema.Options{})
	if err != nil {
		ts.t.Fatal(err)
	}
	b, err := broker.New(eng, broker.Options{DedupDir: filepath.Join(ts.dir, "dedup"), Validator: reg.Validate, MaxEventBytes: ts.opts.MaxEventBytes,
		MaxTopics: ts.opts.MaxTopics})
	if err != nil {
		ts.t.Fatal(err)
	}
	subs, err := subscription.New(context.Background(), b, subscription.Options{MaxSubscriptions: ts.opts.MaxSubscriptions})
	if err != nil {
		ts.t.Fatal(err)
	}
	var ln net.Listener
	for i := 0; ; i++ { // the port of a restarted server may take a moment to free
		if ln, err = net.Listen("tcp", ts.Addr); err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.Addr = ln.Addr().String()
	ts.eng, ts.subs = eng, subs
	ts.srv = server.New(b, server.Options{Subscriptions: subs, Schemas: reg, Tokens: ts.opts.Tokens, Keys: ts.opts.Keys, Logger: ts.opts.Logger,
		MaxWaiting: ts.opts.MaxWaiting})
	ts.hs = &http.Server{Handler: ts.srv, Protocols: new(http.Protocols)}
	ts.hs.Protocols.SetHTTP1(true)
	ts.hs.Protocols.SetUnencryptedHTTP2(true)
	if ts.opts.TLS != nil {
		ts.hs.Protocols.SetHTTP2(true)
		ln = tls.NewListener(ln, ts.opts.TLS)
	}
	ts.hs.RegisterOnShutdown(ts.srv.Close)
	ts.done = make(chan error, 1)
	go func() { ts.done <- ts.hs.Serve(ln) }()
}

// Stop shuts the server down as `herald serve` does: requests finish,
// streams end, state is written, the engine closes.
func (ts *Server) Stop() {
	if ts.hs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.hs.Shutdown(ctx); err != nil {
		ts.t.Errorf("shutdown: %v", err)
		ts.hs.Close()
	}
	if err := <-ts.done; !errors.Is(err, http.ErrServerClosed) {
		ts.t.Errorf("serve: %v", err)
	}
	ts.subs.Close()
	if err := ts.eng.Close(); err != nil {
		ts.t.Errorf("close engine: %v", err)
	}
	ts.hs = nil
}

// Restart stops the server and starts it again on the same port and data.
func (ts *Server) Restart() {
	ts.Stop()
	ts.start()
}

// Connect returns a remote client of the server, closed when the test ends.
func (ts *Server) Connect(t *testing.T, opts ...herald.ConnectOption) *herald.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := herald.Connect(ctx, ts.Addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// AgeLog runs the log engine's retention on the stopped data directory dir
// as if after had passed since now, so tests can see what retention trims.
func AgeLog(t testing.TB, dir string, after time.Duration) {
	t.Helper()
	e, err := log.Open(dir, log.Options{RetentionInterval: -1, Now: func() time.Time { return time.Now().Add(after) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}
