package herald

import "context"

// causeKey marks a context that carries the event a handler is handling.
type causeKey struct{}

// withCause returns ctx carrying the event being handled.
func withCause(ctx context.Context, e *CloudEvent) context.Context {
	return context.WithValue(ctx, causeKey{}, e)
}

// Cause returns the event a handler's context carries, if any.
func Cause(ctx context.Context) (*CloudEvent, bool) {
	e, ok := ctx.Value(causeKey{}).(*CloudEvent)
	return e, ok
}

// stampCausation gives events published while handling another their
// causation and correlation: causationid is the handled event's id,
// correlationid is its correlation id (or its id when it has none), and
// the trace continues (traceparent). Attributes already set are kept.
func stampCausation(ctx context.Context, events []*CloudEvent) {
	cause, ok := Cause(ctx)
	if !ok {
		return
	}
	corr := cause.CorrelationID
	if corr == "" {
		corr = cause.ID
	}
	for _, e := range events {
		if e.CausationID == "" {
			e.CausationID = cause.ID
		}
		if e.CorrelationID == "" {
			e.CorrelationID = corr
		}
		if e.TraceParent == "" {
			e.TraceParent, e.TraceState = cause.TraceParent, cause.TraceState
		}
	}
}
