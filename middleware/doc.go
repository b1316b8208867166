// Package middleware has handler middleware for herald.Router, one file
// each. A middleware is a herald.Middleware (func(Handler) Handler); add
// them with Router.Use, the first added outermost:
//
//	r.Use(middleware.Log(slog.Default()), middleware.Timeout(10*time.Second), middleware.Retry(3, 100*time.Millisecond, time.Second))
//
// It wraps the handlers of Router.HandleFunc and herald.Handle, not batch
// handlers (herald.HandleBatch): their deliveries are not logged, retried,
// timed, validated, traced or counted by it.
//
// The middleware:
//
//   - Log (log.go): logs each handled event with log/slog.
//   - Retry (retry.go): calls a failing handler again in process, with backoff.
//   - Timeout (timeout.go): bounds each handler call.
//   - Validate (validate.go): dead-letters events a check refuses, and nacks
//     those it could not check (ErrCannotCheck).
//   - Tracing (tracing.go): an OpenTelemetry consumer span per delivery that
//     continues, and links to, the producer's span from the event's traceparent.
//   - Metrics (metrics.go): Prometheus counts, durations and in-flight
//     deliveries by topic, subscription and outcome (names herald_client_*).
//   - Idempotent (idempotent.go): runs the handler at most once per event and
//     subscription, with stores in memory (memorystore.go), SQLite
//     (package sqlitestore) and PostgreSQL (package pgstore).
//
// Tracing and metrics have a publish side too, a herald.PublishMiddleware
// given to the client with herald.WithPublishMiddleware:
// TracingPublish starts a producer span per publish and writes it into the
// traceparent of the events, and MetricsPublish counts and times publishes.
// Use both sides so each hop's trace continues:
//
//	c, err := herald.Open(dir, herald.WithPublishMiddleware(middleware.TracingPublish(), middleware.MetricsPublish(reg)))
//	r := herald.NewRouter(c, herald.RouterOptions{})
//	r.Use(middleware.Tracing(), middleware.Metrics(reg))
//
// # Idempotent consumers
//
// Delivery is at least once, so a handler can see an event again (a
// redelivery after an ack timeout, a replay). Idempotent(store) skips an
// event that the same subscription of the same topic already handled
// successfully, keyed by topic, subscription, source and id, for a TTL
// (IdempotencyTTL, default 24h): the duplicate is acked without calling
// the handler. Before the handler runs, the delivery claims the event in
// the store for a lease (IdempotencyLease, default 1m); only a nil result
// completes the claim and records the event, while an error or a panic
// releases it, so the redelivery runs the handler again. A second delivery
// that arrives while the first still holds the claim waits, asking the
// store every twentieth of the lease (at least every second): it is acked
// once the first completes, and runs the handler once the first releases
// the claim or its lease runs out, as the lease of a consumer that crashed
// does. The Router keeps the waiting delivery's lease, so waiting uses up
// none of the event's attempts; a delivery whose ctx ends while it waits
// (the Router's drain timeout, a Timeout outside Idempotent) fails with
// ErrInProgress, an ordinary error, and comes again. A store that cannot
// be reached nacks the event: the handler never runs unprotected and
// nothing is acked unrecorded. Keep the lease longer than the handler can
// run (Timeout).
//
// The stores: NewMemoryStore for one process; sqlitestore for one machine
// across restarts; pgstore for consumers on many machines. Each claims
// atomically, treats expired entries as absent and purges them as claims
// come in, at most once a minute; the SQL stores in small steps
// (SweepBatch), so that neither a claim nor a failed purge waits on a
// large backlog, the memory store in one pass over its map. The idemtest
// package is the suite they all pass.
package middleware
