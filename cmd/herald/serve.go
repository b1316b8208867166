package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldevents/herald/internal/auth"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/push"
	"github.com/heraldevents/herald/internal/schema"
	"github.com/heraldevents/herald/internal/server"
	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/subscription"
)

// shutdownTimeout bounds how long in-flight requests may take to finish
// after SIGTERM or SIGINT.
const shutdownTimeout = 30 * time.Second

func (a *app) serveCmd() *cobra.Command {
	s := &serveSettings{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Herald server",
		Long: "Run the Herald server. Every flag can also be set with the environment variable\n" +
			"HERALD_<FLAG> (e.g. HERALD_DATA, HERALD_FSYNC) or in the --config JSON file;\n" +
			"a flag wins over the environment, which wins over the file.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Serve's own flags: --server, which every command has, is not one.
			if err := resolveServeSettings(cmd.LocalFlags(), s, a.getenv); err != nil {
				return err
			}
			if pct, ok := serveGCPercent(a.getenv); ok {
				debug.SetGCPercent(pct)
				defer keepHeapFloor(pct, heapFloor).stop()
			}
			return serve(cmd.Context(), *s, a.stdout, a.stderr)
		},
	}
	addServeFlags(cmd.Flags(), s)
	return cmd
}

// serveGCTarget is the garbage collector's target (GOGC) for the server:
// its heap is mostly the short-lived buffers of events in flight, so a
// lower target than Go's 100 trims its peak memory for little CPU
// (publishing 1 KiB events over gRPC: peak RSS about 50 → 45 MiB, the
// rate unchanged within this machine's noise; the collector took about
// 1% of the CPU).
const serveGCTarget = 75

// serveGCPercent is the target serve sets: serveGCTarget, unless GOGC is
// set (the user's choice wins). Serve also keeps the heap goal at least
// heapFloor (gcfloor.go) unless GOGC is set.
func serveGCPercent(getenv func(string) string) (int, bool) {
	if getenv("GOGC") != "" {
		return 0, false
	}
	return serveGCTarget, true
}

// serve runs the server until ctx is done, then shuts down gracefully:
// in-flight requests finish, then the engine fsyncs and closes. It loads
// the auth file and the TLS files and takes its addresses before it opens
// the data directory, so a serve that cannot start leaves it untouched.
func serve(ctx context.Context, s serveSettings, stdout, stderr io.Writer) error {
	logger := newLogger(stderr, s.LogLevel.value)
	mode, err := log.ParseSyncMode(s.Fsync.value)
	if err != nil {
		return err
	}
	keys := &auth.Keyring{}
	if s.AuthFile != "" {
		if err := keys.LoadFile(s.AuthFile); err != nil {
			return err
		}
	}
	for i, t := range s.tokens() {
		// --token's tokens may do everything: one that is also an entry of
		// the file would silently outgrow that entry's grants.
		if p, ok := keys.Lookup(t); ok {
			return fmt.Errorf("--token: token %d is also token %q of --auth-file %s: a token has one entry; keep it in one of the two", i+1, p.Name, s.AuthFile)
		}
	}
	tlsConfig, err := s.tlsConfig()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %w", s.Addr, err)
	}
	defer ln.Close() // on the paths where no server took it
	if s.Pprof != "" {
		stopPprof, err := servePprof(s.Pprof, logger)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	st, err := openStore(ctx, s, mode, logger)
	if err != nil {
		return err
	}
	srv := server.New(st.broker, server.Options{Logger: logger, MaxBodyBytes: maxBodyBytes(s.MaxEventBytes), Subscriptions: st.subs,
		Schemas: st.schemas, Tokens: s.tokens(), Keys: keys, MaxWaiting: s.MaxWaiting, MaxPublishBytes: s.MaxPublishBytes})
	hs := newHTTPServer(srv, tlsConfig, s.ReadHeaderTimeout, logger)
	pushers := push.Supervise(st.subs, time.Second, push.Options{Logger: logger})
	errc := make(chan error, 1)
	go func() { errc <- serveOn(hs, ln, s.MaxConnections, tlsConfig) }()
	fmt.Fprintf(stdout, "herald listening on %s://%s (data %s, fsync %s, %s)\n", scheme(tlsConfig), ln.Addr(), s.Data, mode, s.authDescription())
	select {
	case err = <-errc: // the listener failed
		err = errors.Join(fmt.Errorf("serve: %w", err), hs.Close())
		srv.Close()
	case <-ctx.Done():
		logger.Info("shutting down")
		err = shutdown(hs, errc)
	}
	stopPushers(pushers) // requests in flight finish (or are nacked) before the state writer stops
	return errors.Join(err, st.close())
}

// store is what the server keeps in its data directory: the log and,
// over it, the schema registry, the broker and the subscriptions.
type store struct {
	engine  *log.Engine
	schemas *schema.Registry
	broker  *broker.Broker
	subs    *subscription.Manager
}

// openStore opens (creating if needed) the data directory and all that
// lives in it.
func openStore(ctx context.Context, s serveSettings, mode log.SyncMode, logger *slog.Logger) (*store, error) {
	eng, err := log.Open(s.Data, log.Options{Sync: mode, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("--data %s: %w", s.Data, err) // the engine says what it could not do
	}
	reg, err := schema.Open(ctx, eng, schema.Options{})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open the schema registry: %w", withRepairHint(err)), eng.Close())
	}
	b, err := broker.New(eng, broker.Options{DisableAutoCreate: !s.AutoCreateTopics, MaxTopics: s.MaxTopics,
		DefaultPartitions: s.DefaultPartitions, MaxEventBytes: s.MaxEventBytes,
		DedupDir: filepath.Join(s.Data, "dedup"), Validator: reg.Validate})
	if err != nil {
		return nil, errors.Join(err, eng.Close())
	}
	subs, err := subscription.New(ctx, b, subscription.Options{CheckPush: push.CheckSettings, MaxSubscriptions: s.MaxSubscriptions})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open subscriptions: %w", withRepairHint(err)), eng.Close())
	}
	return &store{engine: eng, schemas: reg, broker: b, subs: subs}, nil
}

// withRepairHint adds to an error of damaged data what to do about it.
func withRepairHint(err error) error {
	if errors.Is(err, storage.ErrCorrupt) {
		return fmt.Errorf("%w (run herald check for a full report and herald repair to set the damage aside)", err)
	}
	return err
}

// close stops the subscriptions (their state writer finishes first), then
// fsyncs and closes the log.
func (st *store) close() error {
	st.subs.Close()
	return closeEngine(st.engine)
}

// newHTTPServer makes the HTTP server of the API: HTTP/1.1, and HTTP/2
// (over TLS, or cleartext h2c) for gRPC clients.
func newHTTPServer(srv *server.Server, tlsConfig *tls.Config, readHeaderTimeout time.Duration, logger *slog.Logger) *http.Server {
	hs := &http.Server{Handler: srv, TLSConfig: tlsConfig, ReadHeaderTimeout: readHeaderTimeout, MaxHeaderBytes: 64 << 10,
		IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetHTTP2(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	// A client that vanished without a word (its host lost, a partition)
	// is found by a ping after 30s without a frame from it, and its
	// connection and streams end then, not after the kernel's TCP timeouts.
	hs.HTTP2 = &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 15 * time.Second}
	hs.RegisterOnShutdown(srv.Close)
	return hs
}

// serveOn serves hs on ln, limited to maxConns connections at once, over
// TLS when tlsConfig is not nil.
func serveOn(hs *http.Server, ln net.Listener, maxConns int, tlsConfig *tls.Config) error {
	var refusal *tls.Config // to refuse connections over the limit in TLS: no client certificate asked
	if tlsConfig != nil {
		refusal = &tls.Config{Certificates: tlsConfig.Certificates, NextProtos: tlsConfig.NextProtos}
	}
	ln = limitConnections(ln, maxConns, refusal)
	if tlsConfig != nil {
		return hs.ServeTLS(ln, "", "") // the certificate is in hs.TLSConfig
	}
	return hs.Serve(bufferReads(ln)) // TLS reads its records in large reads already
}

// tlsConfig loads the TLS key pair and, for mutual TLS, the client CAs;
// it is nil without --tls-cert.
func (s serveSettings) tlsConfig() (*tls.Config, error) {
	if s.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(s.TLSCert, s.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", s.TLSCert, s.TLSKey, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	if s.TLSClientCA != "" {
		if cfg.ClientCAs, err = certPool("--tls-client-ca", s.TLSClientCA); err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// certPool reads the CA certificates in file, given with flag: those of
// mutual TLS (clients must present a certificate one of them signed), or
// those a client trusts for the server's certificate.
func certPool(flag, file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in it", flag, file)
	}
	return pool, nil
}

func scheme(tlsConfig *tls.Config) string {
	if tlsConfig != nil {
		return "https"
	}
	return "http"
}

// authDescription says how the server asks who is calling, for the
// "listening" line.
func (s serveSettings) authDescription() string {
	n := len(s.tokens())
	var d string
	switch {
	case s.AuthFile != "":
		d = fmt.Sprintf("API tokens: %d from --token, those of %q", n, s.AuthFile)
	case n > 0:
		d = fmt.Sprintf("%d API token(s)", n)
	}
	if s.TLSClientCA == "" {
		if d == "" {
			return "no authentication"
		}
		return d
	}
	if d == "" {
		return fmt.Sprintf("client certificates of %q", s.TLSClientCA)
	}
	return fmt.Sprintf("client certificates of %q and %s", s.TLSClientCA, d)
}

// stopPushers stops push delivery, giving requests in flight up to
// shutdownTimeout.
func stopPushers(s *push.Supervisor) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	s.Stop(ctx)
}

// shutdown stops accepting connections and waits for in-flight requests,
// cutting them off after shutdownTimeout.
func shutdown(hs *http.Server, errc <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := hs.Shutdown(ctx)
	if err != nil {
		err = errors.Join(fmt.Errorf("shutdown: %w", err), hs.Close())
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

func closeEngine(eng *log.Engine) error {
	if err := eng.Close(); err != nil {
		return fmt.Errorf("close the log: %w", err)
	}
	return nil
}

// maxBodyBytes is the request body limit: room for a batch of events,
// and for one event of the largest size in JSON (base64 grows data 4/3).
func maxBodyBytes(maxEventBytes int) int64 {
	return max(server.DefaultMaxBodyBytes, 2*int64(maxEventBytes))
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // the flag allows valid levels only
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
