package herald

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// causeKey marks a context that carries the event a handler is handling.
type causeKey struct{}

// withCause returns ctx carrying the event being handled.
func withCause(ctx context.Context, e *CloudEvent) context.Context {
	return context.WithValue(ctx, causeKey{}, e)
}

// CausedBy returns ctx carrying e as the event being handled, so that
// events published with it get their causation from e as from a
// handler's ctx. A batch handler, whose ctx carries no single event, uses
// it for the events it publishes because of one of its batch:
//
//	c.Publish(herald.CausedBy(ctx, es[i].CloudEvent), "shipping", scheduled)
func CausedBy(ctx context.Context, e *CloudEvent) context.Context {
	if e == nil {
		return ctx
	}
	return withCause(ctx, e)
}

// Cause returns the event a handler's context carries, if any.
func Cause(ctx context.Context) (*CloudEvent, bool) {
	e, ok := ctx.Value(causeKey{}).(*CloudEvent)
	return e, ok
}

// stampCausation gives events published while handling another their
// causation and correlation: causationid is the handled event's id,
// correlationid is its correlation id (or its id when it has none), and
// the trace continues (traceparent and tracestate, when they are W3C
// Trace Context: passedOnTrace). Attributes already set are kept,
// and the handled event itself (forwarded) is left as it is.
func stampCausation(ctx context.Context, events []*CloudEvent) {
	stamp(ctx, events, true)
}

// stampCausationIDs is stampCausation without the traceparent: a
// Publisher stamps the ids when an event is handed to it (they count
// towards its size), and the trace when the batch is sent, after the
// publish middleware had the chance to start a span of its own.
func stampCausationIDs(ctx context.Context, e *CloudEvent) {
	stamp(ctx, []*CloudEvent{e}, false)
}

// middlewareTrace is what a Publisher counts for the trace that publish
// middleware may write into an event without one (as TracingPublish
// does): a W3C traceparent (55 characters in version 00) and 512
// characters of tracestate, the length W3C Trace Context asks every
// vendor to pass on.
var middlewareTrace = (&CloudEvent{TraceParent: strings.Repeat("0", 55), TraceState: strings.Repeat("0", 512)}).Size()

// traceGrowth is how many bytes e may gain when a Publisher sends it,
// after it was handed over with ctx: an event without a traceparent gets
// the traceparent and tracestate of the event ctx's handler handles
// (stampSent), or those publish middleware writes (traced: the client
// has some). An event with a traceparent keeps it and gains nothing.
func traceGrowth(ctx context.Context, e *CloudEvent, traced bool) int {
	if e.TraceParent != "" {
		return 0
	}
	n := 0
	if cause, ok := Cause(ctx); ok {
		tp, ts := passedOnTrace(cause.TraceParent, cause.TraceState)
		n = (&CloudEvent{TraceParent: tp, TraceState: ts}).Size()
	}
	if traced {
		n = max(n, middlewareTrace)
	}
	return n
}

func stamp(ctx context.Context, events []*CloudEvent, trace bool) {
	cause, ok := Cause(ctx)
	if !ok {
		return
	}
	corr := cause.CorrelationID
	if corr == "" {
		corr = cause.ID
	}
	var tp, ts string
	if trace {
		tp, ts = passedOnTrace(cause.TraceParent, cause.TraceState)
	}
	for _, e := range events {
		if e.ID == cause.ID && e.Source == cause.Source {
			continue // the handled event itself, forwarded: not its own cause
		}
		if e.CausationID == "" {
			e.CausationID = cause.ID
		}
		if e.CorrelationID == "" {
			e.CorrelationID = corr
		}
		if trace && e.TraceParent == "" && tp != "" {
			e.TraceParent, e.TraceState = tp, ts
		}
	}
}

// submittedKey marks the context a Publisher sends a batch with.
type submittedKey struct{}

// submitted is which context each event of a Publisher's batch was
// handed to Publish with.
type submitted struct {
	events []*CloudEvent
	ctxs   []context.Context

	once  sync.Once
	index map[*CloudEvent]int // built on the first look-up in a large batch
}

// withSubmitted returns ctx carrying the contexts events were handed over
// with (ctxs[i] for events[i]).
// It keeps a copy of the slice: a middleware may reorder or filter the one
// it is given.
func withSubmitted(ctx context.Context, events []*CloudEvent, ctxs []context.Context) context.Context {
	return context.WithValue(ctx, submittedKey{}, &submitted{events: slices.Clone(events), ctxs: ctxs})
}

// at is of for the event at index i of the events the middleware was
// given: the batch's own slice, unless a middleware changed it, so the
// look-up is by index first.
func (s *submitted) at(i int, e *CloudEvent) (context.Context, bool) {
	if i < len(s.events) && s.events[i] == e {
		return s.ctxs[i], true
	}
	return s.of(e)
}

// of returns the context e was handed over with, if e is in the batch.
func (s *submitted) of(e *CloudEvent) (context.Context, bool) {
	if len(s.events) <= 16 {
		for i, x := range s.events {
			if x == e {
				return s.ctxs[i], true
			}
		}
		return nil, false
	}
	s.once.Do(func() {
		s.index = make(map[*CloudEvent]int, len(s.events))
		for i, x := range s.events {
			s.index[x] = i
		}
	})
	i, ok := s.index[e]
	if !ok {
		return nil, false
	}
	return s.ctxs[i], true
}

// PublishedWith returns the context e was handed to Publisher.Publish
// with, when ctx is the context a Publisher sends e's batch with (the one
// a PublishMiddleware is given), without its cancellation; otherwise it
// returns ctx. A batch gathers events handed over in many contexts (many
// handlers, many requests), so a publish middleware that follows each
// event's caller, as tracing does, asks here. Events are found by
// pointer: an event a middleware replaces with a copy is not found, and
// gets ctx.
func PublishedWith(ctx context.Context, e *CloudEvent) context.Context {
	if s, ok := ctx.Value(submittedKey{}).(*submitted); ok {
		if c, ok := s.of(e); ok {
			return context.WithoutCancel(c)
		}
	}
	return ctx
}

// stampSent stamps the causation of events about to be stored: each with
// the context it was handed to a Publisher with, when ctx says so.
func stampSent(ctx context.Context, events []*CloudEvent) {
	s, ok := ctx.Value(submittedKey{}).(*submitted)
	if !ok {
		stampCausation(ctx, events)
		return
	}
	for i, e := range events {
		if c, ok := s.at(i, e); ok {
			stamp(c, []*CloudEvent{e}, true)
		} else {
			stamp(ctx, []*CloudEvent{e}, true)
		}
	}
}
