// Package middleware has handler middleware for herald.Router, one file
// each. A middleware is a herald.Middleware (func(Handler) Handler); add
// them with Router.Use, the first added outermost:
//
//	r.Use(middleware.Log(slog.Default()), middleware.Timeout(10*time.Second), middleware.Retry(3, 100*time.Millisecond, time.Second))
package middleware
