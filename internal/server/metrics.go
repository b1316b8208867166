package server

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/storage"
)

// metrics are what GET /metrics serves, from a registry of the Server's
// own (not Prometheus's global one, so that servers in one process do not
// collide). The state of topics and subscriptions is read when scraped
// (stateCollector); only the requests are counted as they happen, once
// per HTTP request or gRPC call, never per event. Every label is bounded:
// topics and subscriptions by the server's limits (--max-topics,
// --max-subscriptions), routes and procedures by the ones the server has,
// methods, codes and outcomes by short fixed lists.
type metrics struct {
	reg          *prometheus.Registry
	httpRequests *prometheus.CounterVec   // route, method, code
	httpDuration *prometheus.HistogramVec // route, method
	rpcCalls     *prometheus.CounterVec   // procedure, code
	rpcDuration  *prometheus.HistogramVec // procedure; unary calls
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_http_request_duration_seconds",
			Help:    "Time from an HTTP request's arrival until its handler returned, by route pattern and method (long polls and streams include their wait).",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		rpcCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_grpc_calls_total",
			Help: "gRPC (and gRPC-Web, Connect) calls finished, by procedure and status code.",
		}, []string{"procedure", "code"}),
		rpcDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_grpc_call_duration_seconds",
			Help:    "Time a unary gRPC call took, by procedure.",
			Buckets: prometheus.DefBuckets,
		}, []string{"procedure"}),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration, m.rpcCalls, m.rpcDuration, &stateCollector{b: s.broker, s: s})
	return m
}

// metricsHandler serves the registry in Prometheus's text format (or
// what the scraper asks for), gzipped when the scraper accepts it.
func (s *Server) metricsHandler() http.HandlerFunc {
	h := promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError, // a metric that fails leaves the others served
	})
	return h.ServeHTTP
}

// observeHTTP counts a finished request by its route.
func (m *metrics) observeHTTP(route, method string, status int, took time.Duration) {
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(took.Seconds())
}

// routeUnmatched labels requests that reached no route (404, 405).
const routeUnmatched = "unmatched"

// routeLabel is the route label of a request the handler of no route
// set it for: one refused before routing (401), or one no route takes.
// Only the failing requests pay for the lookup.
func (s *Server) routeLabel(r *http.Request) string {
	_, pattern := s.mux.Handler(r)
	if route, ok := s.routeNames[pattern]; ok {
		return route
	}
	return routeUnmatched
}

// routeName is the route label of a pattern: its path, without the method.
func routeName(pattern string) string {
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// setRoute gives the request the route label of the route serving it.
func setRoute(w http.ResponseWriter, route string) {
	if sw, ok := w.(*statusWriter); ok {
		sw.route = route
	}
}

// methodLabel bounds the method label to the standard methods: a client
// may send any token as its method.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// rpcMetrics counts gRPC calls by procedure and code; it is the outermost
// interceptor, so calls the authorization check refuses count too. Calls
// connect refuses before any interceptor (an undecodable or oversized
// unary request) count only as HTTP requests.
type rpcMetrics struct{ m *metrics }

var _ connect.Interceptor = rpcMetrics{}

func (r rpcMetrics) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		start := time.Now()
		resp, err := next(ctx, req)
		proc := req.Spec().Procedure
		r.m.rpcCalls.WithLabelValues(proc, rpcCode(err)).Inc()
		r.m.rpcDuration.WithLabelValues(proc).Observe(time.Since(start).Seconds())
		return resp, err
	}
}

func (rpcMetrics) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (r rpcMetrics) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		err := next(ctx, conn)
		r.m.rpcCalls.WithLabelValues(conn.Spec().Procedure, rpcCode(err)).Inc()
		return err
	}
}

// rpcCode is the code label of a call's outcome: "ok" or connect's name
// of the gRPC code ("invalid_argument", "not_found", …).
func rpcCode(err error) string {
	if err == nil {
		return "ok"
	}
	return connect.CodeOf(err).String()
}

// stateCollector reads the state of topics, partitions and subscriptions
// when scraped: nothing on the publish or delivery paths is counted for
// it beyond the per-call counts of broker.PublishStats and
// subscription.Counts.
type stateCollector struct {
	b *broker.Broker
	s *Server
}

var (
	descTopicPartitions = prometheus.NewDesc("herald_topic_partitions",
		"Partitions of the topic.", []string{"topic"}, nil)
	descStartOffset = prometheus.NewDesc("herald_partition_start_offset",
		"First offset the partition still holds (retention moves it up).", []string{"topic", "partition"}, nil)
	descEndOffset = prometheus.NewDesc("herald_partition_end_offset",
		"Offset the partition's next event gets: the events ever stored in it.", []string{"topic", "partition"}, nil)
	descSizeBytes = prometheus.NewDesc("herald_partition_size_bytes",
		"Bytes the partition's events take on disk (segment files, without their indexes).", []string{"topic", "partition"}, nil)
	descPublishedEvents = prometheus.NewDesc("herald_topic_published_events_total",
		"Events stored in the topic by publishes since the server started.", []string{"topic"}, nil)
	descDuplicateEvents = prometheus.NewDesc("herald_topic_duplicate_events_total",
		"Published events found stored already (deduplicated), so not stored again.", []string{"topic"}, nil)
	descPublishRequests = prometheus.NewDesc("herald_topic_publish_requests_total",
		"Publish calls (HTTP, gRPC, dead letters), by outcome: ok, rejected (the events were refused), failed (not stored), canceled.",
		[]string{"topic", "outcome"}, nil)

	subLabels       = []string{"topic", "subscription"}
	descLag         = prometheus.NewDesc("herald_subscription_lag_events", "Events past the subscription's committed offsets, over all partitions.", subLabels, nil)
	descInFlight    = prometheus.NewDesc("herald_subscription_in_flight_events", "Events delivered and not yet acked, nacked or expired.", subLabels, nil)
	descRetry       = prometheus.NewDesc("herald_subscription_retry_waiting_events", "Events waiting for their backoff (or deliverAfter) before their next delivery.", subLabels, nil)
	descOldest      = prometheus.NewDesc("herald_subscription_oldest_unacked_age_seconds", "Age of the oldest event the subscription has not finished (since it was stored); 0 when none.", subLabels, nil)
	descRedriving   = prometheus.NewDesc("herald_subscription_redriving_events", "Dead letters redriven and not yet finished.", subLabels, nil)
	descDead        = prometheus.NewDesc("herald_subscription_dead_lettered_events_total", "Events the subscription dead-lettered since it was created.", subLabels, nil)
	descDeliveries  = prometheus.NewDesc("herald_subscription_deliveries_total", "Deliveries handed out since the server started, retries included.", subLabels, nil)
	descRedelivered = prometheus.NewDesc("herald_subscription_redeliveries_total", "Deliveries of an attempt after the first since the server started.", subLabels, nil)
	descReleased    = prometheus.NewDesc("herald_subscription_released_total", "Deliveries given back unsent since the server started (a stream that could not send them); they come again as the same attempt.", subLabels, nil)
	descAcks        = prometheus.NewDesc("herald_subscription_acks_total", "Acks that took effect since the server started.", subLabels, nil)
	descNacks       = prometheus.NewDesc("herald_subscription_nacks_total", "Nacks and rejects that took effect since the server started.", subLabels, nil)
	descExpired     = prometheus.NewDesc("herald_subscription_expired_leases_total", "Deliveries neither acked nor nacked within the ack timeout since the server started.", subLabels, nil)
)

// collectTimeout bounds the reads of one scrape.
const collectTimeout = 10 * time.Second

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTopicPartitions, descStartOffset, descEndOffset, descSizeBytes,
		descPublishedEvents, descDuplicateEvents, descPublishRequests,
		descLag, descInFlight, descRetry, descOldest, descRedriving, descDead,
		descDeliveries, descRedelivered, descReleased, descAcks, descNacks, descExpired} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	c.collectTopics(ctx, ch)
	if c.s.subs != nil {
		c.collectSubscriptions(ctx, ch)
	}
}

func (c *stateCollector) collectTopics(ctx context.Context, ch chan<- prometheus.Metric) {
	topics, err := c.b.Topics(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descTopicPartitions, err)
		return
	}
	sizer, _ := c.b.Engine().(storage.Sizer)
	for _, t := range topics {
		ch <- prometheus.MustNewConstMetric(descTopicPartitions, prometheus.GaugeValue, float64(t.Partitions), t.Name)
		for p := range t.Partitions {
			start, end, err := c.b.Offsets(ctx, t.Name, p)
			if err != nil {
				continue // deleted while scraped
			}
			part := strconv.Itoa(p)
			ch <- prometheus.MustNewConstMetric(descStartOffset, prometheus.GaugeValue, float64(start), t.Name, part)
			ch <- prometheus.MustNewConstMetric(descEndOffset, prometheus.GaugeValue, float64(end), t.Name, part)
			if sizer == nil {
				continue
			}
			if n, err := sizer.PartitionBytes(t.Name, p); err == nil {
				ch <- prometheus.MustNewConstMetric(descSizeBytes, prometheus.GaugeValue, float64(n), t.Name, part)
			}
		}
		ps := c.b.PublishStats(t.Name)
		ch <- prometheus.MustNewConstMetric(descPublishedEvents, prometheus.CounterValue, float64(ps.Events), t.Name)
		ch <- prometheus.MustNewConstMetric(descDuplicateEvents, prometheus.CounterValue, float64(ps.Duplicates), t.Name)
		for o, n := range ps.Requests {
			ch <- prometheus.MustNewConstMetric(descPublishRequests, prometheus.CounterValue, float64(n), t.Name, broker.PublishOutcome(o).String())
		}
	}
}

func (c *stateCollector) collectSubscriptions(ctx context.Context, ch chan<- prometheus.Metric) {
	for _, st := range c.s.subs.Stats(ctx) {
		var lag, inFlight, retry, dead int64
		var oldest float64
		for _, p := range st.Partitions {
			lag += p.Lag
			inFlight += int64(p.InFlight)
			retry += int64(p.WaitingRetry)
			dead += p.DeadLettered
			oldest = max(oldest, p.OldestUnackedS)
		}
		labels := []string{st.Topic, st.Name}
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
		}
		counter := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
		}
		gauge(descLag, float64(lag))
		gauge(descInFlight, float64(inFlight))
		gauge(descRetry, float64(retry))
		gauge(descOldest, oldest)
		gauge(descRedriving, float64(st.Redriving))
		counter(descDead, float64(dead))
		counter(descDeliveries, float64(st.Counts.Delivered))
		counter(descRedelivered, float64(st.Counts.Redelivered))
		counter(descReleased, float64(st.Counts.Released))
		counter(descAcks, float64(st.Counts.Acked))
		counter(descNacks, float64(st.Counts.Nacked))
		counter(descExpired, float64(st.Counts.Expired))
	}
}
