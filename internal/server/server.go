// Package server is Herald's HTTP API (v1): topics, publishing with the
// CloudEvents HTTP binding, reading the log, subscriptions, health; and
// the schema registry's API, compatible with Confluent Schema Registry's,
// under /schema-registry (registry.go). Every error reply is
// application/problem+json with a code from the one table in problems.go
// (in Confluent's error shape under /schema-registry).
package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/heraldevents/herald/internal/auth"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/rpc"
	"github.com/heraldevents/herald/internal/schema"
	"github.com/heraldevents/herald/internal/subscription"
)

// DefaultMaxBodyBytes is the default request body limit: 16 MiB.
const DefaultMaxBodyBytes = 16 << 20

// Options configures a Server. The zero value works.
type Options struct {
	MaxBodyBytes int64        // request body limit; default DefaultMaxBodyBytes
	Logger       *slog.Logger // default: discard; access logs are at debug level

	// Tokens are the API tokens accepted as "Authorization: Bearer
	// TOKEN" on every request but GET /healthz. Empty: no authentication.
	Tokens []string
	// MaxPublishBytes bounds the request bodies of publishes handled at
	// once (default DefaultMaxPublishBytes); MaxWaiting bounds long polls,
	// waiting reads and delivery streams at once, over HTTP and gRPC
	// (default DefaultMaxWaiting). Past either, requests get 429 with
	// Retry-After (gRPC: RESOURCE_EXHAUSTED), with the code overloaded.
	MaxPublishBytes int64
	MaxWaiting      int

	// Keys are more tokens, with their grants (herald serve --auth-file);
	// nil with no Tokens: no authentication.
	Keys *auth.Keyring

	// Subscriptions serves the subscription endpoints; it must be a
	// manager over the same broker. Nil: the server has no subscription
	// endpoints (their paths are 404 not_found).
	Subscriptions *subscription.Manager

	// Schemas serves the schema registry API under RegistryPrefix; it
	// should be the registry that validates the broker's publishes. Nil:
	// the server has no registry endpoints.
	Schemas *schema.Registry
}

// Server serves the v1 HTTP API over a broker. It is an http.Handler.
type Server struct {
	broker  *broker.Broker
	subs    *subscription.Manager // nil: no subscription endpoints
	schemas *schema.Registry      // nil: no schema registry endpoints
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	handler http.Handler

	keys       *auth.Keyring     // accepted API tokens, hashed; empty: no authentication
	routeList  []route           // every HTTP route and the permission it needs
	routeNames map[string]string // the metrics' route label of every pattern
	metrics    *metrics

	publishBudget budget // bytes of publish bodies being handled
	waitBudget    budget // requests waiting (long polls, streams)
	closeOnce     sync.Once
	closing       chan struct{} // closed by Close: long polls return at once
}

// New returns a Server for b.
func New(b *broker.Broker, opts Options) *Server {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxPublishBytes <= 0 {
		opts.MaxPublishBytes = DefaultMaxPublishBytes
	}
	if opts.MaxWaiting <= 0 {
		opts.MaxWaiting = DefaultMaxWaiting
	}
	s := &Server{broker: b, subs: opts.Subscriptions, schemas: opts.Schemas, opts: opts, log: logger(opts.Logger), mux: http.NewServeMux(),
		routeNames: map[string]string{}, closing: make(chan struct{})}
	s.metrics = newMetrics(s)
	s.publishBudget = budget{max: opts.MaxPublishBytes, what: "bytes of publish requests"}
	s.waitBudget = budget{max: int64(opts.MaxWaiting), what: "waiting requests (long polls and streams)"}
	s.routes()
	s.keys = &auth.Keyring{}
	s.keys.Merge(opts.Keys)
	for i, t := range opts.Tokens {
		s.keys.AddToken("token-"+strconv.Itoa(i+1), t)
	}
	s.opts.Tokens = nil // only the hashes are kept
	s.handler = s.observe(s.authenticate(http.HandlerFunc(s.route)))
	return s
}

func (s *Server) routes() {
	var (
		open     = need{scope: scopeOpen}
		anyToken = need{scope: scopeAuthenticated}
		onTopic  = need{scope: scopeTopicAny}
		admin    = need{scope: scopeTopic, action: auth.Admin}
		publish  = need{scope: scopeTopic, action: auth.Publish}
		consume  = need{scope: scopeTopic, action: auth.Consume}
	)
	s.handle("GET /healthz", open, s.health)
	s.handle("GET /metrics", anyToken, s.metricsHandler())
	// The v1 routes read no query parameter but for the reads of the log
	// and of dead letters; the others refuse any (noQuery).
	s.handle("GET /v1/topics", anyToken, s.noQuery(s.listTopics))
	s.handle("PUT /v1/topics/{topic}", admin, s.noQuery(s.putTopic))
	s.handle("GET /v1/topics/{topic}", onTopic, s.noQuery(s.getTopic))
	s.handle("DELETE /v1/topics/{topic}", admin, s.noQuery(s.deleteTopic))
	// gRPC, gRPC-Web and Connect on the same port; each call is checked by
	// the service's interceptor against the topic it names.
	rpcPath, rpcHandler := rpc.NewHandler(rpc.Config{Broker: s.broker, Subscriptions: s.subs, Schemas: s.schemas,
		Closing: s.closing, Admit: s.admitBytes, AdmitWait: s.admitWait, Interceptors: []connect.Interceptor{rpcMetrics{s.metrics}}})
	s.routeList = append(s.routeList, route{pattern: rpcPath, need: anyToken})
	s.routeNames[rpcPath] = rpcPath
	s.mux.HandleFunc(rpcPath, func(w http.ResponseWriter, r *http.Request) {
		setRoute(w, rpcPath)
		rpcHandler.ServeHTTP(w, r)
	})
	s.handle("POST /v1/topics/{topic}/events", publish, s.noQuery(s.publish))
	s.handle("GET /v1/topics/{topic}/events", consume, s.readEvents)
	if s.schemas != nil {
		s.registryRoutes()
	}
	if s.subs == nil {
		return
	}
	const sub = "/v1/topics/{topic}/subscriptions/{name}"
	s.handle("GET /v1/topics/{topic}/subscriptions", onTopic, s.noQuery(s.listSubscriptions))
	s.handle("PUT "+sub, admin, s.noQuery(s.putSubscription))
	s.handle("GET "+sub, onTopic, s.noQuery(s.getSubscription))
	s.handle("DELETE "+sub, admin, s.noQuery(s.deleteSubscription))
	s.handle("POST "+sub+"/pull", consume, s.noQuery(s.pull))
	s.handle("POST "+sub+"/ack", consume, s.noQuery(s.ack))
	s.handle("POST "+sub+"/nack", consume, s.noQuery(s.nack))
	s.handle("POST "+sub+"/extend", consume, s.noQuery(s.extend))
	s.handle("POST "+sub+"/seek", admin, s.noQuery(s.seek))
	s.handle("GET "+sub+"/deadletters", consume, s.deadLetters)
	s.handle("POST "+sub+"/redrive", admin, s.noQuery(s.redrive))
	s.handle("GET "+sub+"/redrives", onTopic, s.noQuery(s.redrives))
	s.handle("GET "+sub+"/stream", consume, s.noQuery(s.stream))
}

// noQuery refuses the query parameters of a route that reads none, so
// that one meant to change what it does (PUT /v1/topics/orders?partitions=3)
// is not ignored while the request goes ahead without it.
func (s *Server) noQuery(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := query(r)
		if err == nil && len(q) > 0 {
			hint := ""
			if r.Method == http.MethodPut || r.Method == http.MethodPost {
				hint = " (what it takes goes in the body)"
			}
			err = fmt.Errorf("%w: %s %s takes no query parameters, got %q%s", errInvalidParameter, r.Method, r.URL.Path, r.URL.RawQuery, hint)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		h(w, r)
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// Close makes pending and future long polls return at once, so that an
// http.Server's Shutdown does not wait for them. Register it with
// http.Server.RegisterOnShutdown. Other requests are unaffected.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
}

// route dispatches to the mux, turning its plain-text 404 and 405 replies
// into problems.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if s.refuseUncleanPath(w, r) {
		return
	}
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	rec := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusMethodNotAllowed:
		allow := rec.header.Get("Allow")
		w.Header().Set("Allow", allow)
		s.writeError(w, r, fmt.Errorf("%w: %s %s (allowed: %s)", errMethodNotAllowed, r.Method, r.URL.Path, allow))
	case http.StatusNotFound:
		s.writeError(w, r, fmt.Errorf("%w: %s %s", errNotFound, r.Method, r.URL.Path))
	default: // a redirect to the cleaned path
		s.mux.ServeHTTP(w, r)
	}
}

// refuseUncleanPath answers a path with "." or ".." segments or "//"
// itself, as nothing. The mux would redirect it to the cleaned path, with
// 307 keeping the method: a client following the redirect, as most do,
// would DELETE or PUT another resource than the one it named
// (…/subscriptions/.. cleans to the topic).
func (s *Server) refuseUncleanPath(w http.ResponseWriter, r *http.Request) bool {
	p := r.URL.EscapedPath() // what the mux matches: an escaped dot is a name
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	if clean == p {
		return false
	}
	setRoute(w, routeUnmatched) // not the route of the path it cleans to
	s.writeError(w, r, fmt.Errorf("%w: %s %s: a path with '.' or '..' segments or '//' names nothing", errNotFound, r.Method, p))
	return true
}

// headerRecorder keeps the status and headers a handler writes and drops
// the body.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) WriteHeader(status int)      { h.status = status }
func (h *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

// observe counts each request in the metrics, by the route that served
// it, and logs it at debug level when that level is enabled.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		took := time.Since(start)
		if sw.route == "" {
			sw.route = s.routeLabel(r)
		}
		s.metrics.observeHTTP(sw.route, methodLabel(r.Method), sw.status, took)
		if s.log.Enabled(r.Context(), slog.LevelDebug) {
			s.log.DebugContext(r.Context(), "http request", "method", r.Method, "path", r.URL.RequestURI(),
				"status", sw.status, "bytes", sw.bytes, "duration", took, "remote", r.RemoteAddr)
		}
	})
}

// statusWriter records the status and size of a reply, and the route
// that served it (set by the route's handler: setRoute).
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
	route  string // the metrics' route label; "" until a route takes the request
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush flushes the underlying writer: streams (gRPC, server-sent events)
// flush after each message, and a writer that cannot would stop them.
func (w *statusWriter) Flush() { _ = w.FlushError() }

// FlushError is Flush with its error, which http.ResponseController
// passes on: a stream learns that its client took nothing.
func (w *statusWriter) FlushError() error {
	return http.NewResponseController(w.ResponseWriter).Flush()
}
