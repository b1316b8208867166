package middleware

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/heraldevents/herald"
)

// Log logs every handled event with log/slog: its id, type, topic,
// subscription, attempt, the trace id from its traceparent, how long the
// handler took, and the error (at Warn) or nothing (at Debug).
func Log(l *slog.Logger) herald.Middleware {
	return func(next herald.Handler) herald.Handler {
		return func(ctx context.Context, d *herald.Delivery) error {
			start := time.Now()
			err := next(ctx, d)
			attrs := []slog.Attr{
				slog.String("event_id", d.Event.ID), slog.String("type", d.Event.Type),
				slog.String("topic", d.Topic), slog.String("subscription", d.Subscription),
				slog.Int("attempt", d.Attempt), slog.Duration("duration", time.Since(start)),
			}
			if id := traceID(d.Event.TraceParent); id != "" {
				attrs = append(attrs, slog.String("trace_id", id))
			}
			if err != nil {
				l.LogAttrs(ctx, slog.LevelWarn, "handler failed", append(attrs, slog.String("error", err.Error()))...)
			} else {
				l.LogAttrs(ctx, slog.LevelDebug, "handled", attrs...)
			}
			return err
		}
	}
}

// traceID takes the trace id out of a W3C traceparent
// (version-traceid-parentid-flags).
func traceID(traceparent string) string {
	f := strings.Split(traceparent, "-")
	if len(f) != 4 || len(f[1]) != 32 {
		return ""
	}
	return f[1]
}
