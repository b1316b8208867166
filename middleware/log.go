package middleware

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldevents/herald"
)

// Log logs every handled event with log/slog: its id, type, topic,
// subscription, attempt, the trace id from its traceparent (when that is
// valid W3C Trace Context, as Tracing takes it), how long the handler
// took, and the error (at Warn) or nothing (at Debug). A handler that
// panics is logged at Warn too, and the panic goes on to the Router, which
// nacks the event with the stack; so is one that ends its goroutine
// instead of returning (runtime.Goexit), which the Router nacks. A nil l
// logs to slog.Default(), as it is when each event is logged.
func Log(l *slog.Logger) herald.Middleware {
	return func(next herald.Handler) herald.Handler {
		return func(ctx context.Context, d *herald.Delivery) (err error) {
			start, returned := time.Now(), false
			defer func() {
				if p := recover(); p != nil {
					logHandled(ctx, l, d, start, fmt.Errorf("handler panicked: %v", p))
					panic(p)
				}
				logHandled(ctx, l, d, start, result(err, returned))
			}()
			err = next(ctx, d)
			returned = true
			return err
		}
	}
}

// logHandled writes Log's record of one handled event.
func logHandled(ctx context.Context, l *slog.Logger, d *herald.Delivery, start time.Time, err error) {
	if l == nil {
		l = slog.Default()
	}
	attrs := []slog.Attr{
		slog.String("event_id", d.Event.ID), slog.String("type", d.Event.Type),
		slog.String("topic", d.Topic), slog.String("subscription", d.Subscription),
		slog.Int("attempt", d.Attempt), slog.Duration("duration", time.Since(start)),
	}
	if sc := eventTrace(d.Event); sc.IsValid() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
	}
	if err != nil {
		l.LogAttrs(ctx, slog.LevelWarn, "handler failed", append(attrs, slog.String("error", errorText(err)))...)
	} else {
		l.LogAttrs(ctx, slog.LevelDebug, "handled", attrs...)
	}
}

// errorText is err's message or, when reading it panics, as a nil pointer
// returned as an error does, one that says so (the Router nacks such an
// error with the same words).
func errorText(err error) (text string) {
	defer func() {
		if p := recover(); p != nil {
			text = fmt.Sprintf("the handler returned a %T that panicked as it was read (a nil pointer returned as an error?): %v", err, p)
		}
	}()
	return err.Error()
}

// eventTrace is the span context of an event's traceparent, read by W3C
// Trace Context as Tracing reads it by default: a traceparent it refuses
// (and starts a new trace for) gives none.
func eventTrace(e *herald.CloudEvent) trace.SpanContext {
	return trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), eventCarrier{e}))
}
