// Package middleware has handler middleware for herald.Router, one file
// each. A middleware is a herald.Middleware (func(Handler) Handler); add
// them with Router.Use, the first added outermost:
//
//	r.Use(middleware.Log(slog.Default()), middleware.Timeout(10*time.Second), middleware.Retry(3, 100*time.Millisecond, time.Second))
//
// The middleware:
//
//   - Log (log.go): logs each handled event with log/slog.
//   - Retry (retry.go): calls a failing handler again in process, with backoff.
//   - Timeout (timeout.go): bounds each handler call.
//   - Validate (validate.go): dead-letters events a check refuses.
//   - Tracing (tracing.go): an OpenTelemetry consumer span per delivery that
//     continues, and links to, the producer's span from the event's traceparent.
//   - Metrics (metrics.go): Prometheus counts, durations and in-flight
//     deliveries by topic, subscription and outcome (names herald_client_*).
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
package middleware
