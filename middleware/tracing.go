package middleware

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldevents/herald"
)

// tracerName is the instrumentation scope of the spans made here.
const tracerName = "github.com/heraldevents/herald/middleware"

// Herald's own span attributes, named as the messaging semantic
// conventions name system-specific ones (messaging.<system>.*).
const (
	attrDeliveryAttempt = attribute.Key("messaging.herald.message.delivery_attempt")
	attrOffset          = attribute.Key("messaging.herald.offset")
	attrOutcome         = attribute.Key("messaging.herald.outcome") // ack, nack or dead_letter, as in the metrics
)

// A TracingOption configures Tracing and TracingPublish.
type TracingOption func(*tracingConfig)

type tracingConfig struct {
	tp   trace.TracerProvider
	prop propagation.TextMapPropagator
}

// WithTracerProvider sets where spans go. The default is the global
// provider, which follows a later otel.SetTracerProvider.
func WithTracerProvider(tp trace.TracerProvider) TracingOption {
	return func(c *tracingConfig) { c.tp = tp }
}

// WithPropagator sets how a span context is written to and read from an
// event's traceparent and tracestate. The default is W3C Trace Context,
// not the global propagator: those two attributes are W3C Trace Context
// by definition (the CloudEvents distributed tracing extension), and the
// global propagator does nothing until a program sets one, which would
// silently cut every trace at the first hop.
func WithPropagator(p propagation.TextMapPropagator) TracingOption {
	return func(c *tracingConfig) { c.prop = p }
}

// tracing is what both middlewares need, made once: looking a tracer up
// in its provider on every span would cost a lock each time.
type tracing struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

func newTracing(opts []TracingOption) tracing {
	c := tracingConfig{tp: otel.GetTracerProvider(), prop: propagation.TraceContext{}}
	for _, o := range opts {
		o(&c)
	}
	return tracing{tracer: c.tp.Tracer(tracerName, trace.WithSchemaURL(semconv.SchemaURL)), prop: c.prop}
}

// Tracing starts a CONSUMER span, "process <topic>", around each delivery.
// The span continues the trace of the event's traceparent: its parent is
// the producer's span, and it also links to that span, as the messaging
// conventions ask, so the hop stays visible to backends that follow links
// rather than parents. The handler's ctx carries the span, so events it
// publishes through TracingPublish continue the trace. A handler error
// (or panic, or an end of its goroutine) is recorded and sets the status
// to Error.
func Tracing(opts ...TracingOption) herald.Middleware {
	t := newTracing(opts)
	return func(next herald.Handler) herald.Handler {
		return func(ctx context.Context, d *herald.Delivery) (err error) {
			ctx, span := t.startProcess(ctx, d)
			returned := false
			defer func() {
				if p := recover(); p != nil {
					endSpan(span, fmt.Errorf("handler panicked: %v", p), true)
					panic(p) // the router turns it into a nack, with the stack
				}
				endSpan(span, result(err, returned), true)
			}()
			err = next(ctx, d)
			returned = true
			return err
		}
	}
}

// startProcess extracts the producer's span context from the event and
// starts the consumer span under it, linked to it.
func (t tracing) startProcess(ctx context.Context, d *herald.Delivery) (context.Context, trace.Span) {
	before := trace.SpanContextFromContext(ctx)
	ctx = t.prop.Extract(ctx, eventCarrier{d.Event})
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(processAttrs(d)...)}
	// Link only to what the event carried, not to a span ctx had already.
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && !sc.Equal(before) {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	return t.tracer.Start(ctx, "process "+d.Topic, opts...)
}

// processAttrs describes a delivery by the messaging and CloudEvents
// semantic conventions. A Herald subscription is both a consumer group
// (it shares the work among its consumers) and a named subscription, so
// it is given under both names.
func processAttrs(d *herald.Delivery) []attribute.KeyValue {
	a := append(messagingAttrs("process", semconv.MessagingOperationTypeProcess, d.Topic),
		semconv.MessagingConsumerGroupName(d.Subscription),
		semconv.MessagingDestinationSubscriptionName(d.Subscription),
		attrDeliveryAttempt.Int(d.Attempt))
	a = append(a, eventAttrs(d.Event)...)
	if e := d.Event; e.Stored {
		a = append(a, semconv.MessagingDestinationPartitionID(strconv.Itoa(e.Partition)), attrOffset.Int64(e.Offset))
	}
	return a
}

// messagingAttrs are the attributes every span made here has.
func messagingAttrs(op string, opType attribute.KeyValue, topic string) []attribute.KeyValue {
	return []attribute.KeyValue{semconv.MessagingSystemKey.String("herald"),
		semconv.MessagingOperationName(op), opType, semconv.MessagingDestinationName(topic)}
}

// eventAttrs describes one event. Its correlation id is the messaging
// conventions' conversation id: the id shared by all events of one flow.
func eventAttrs(e *herald.CloudEvent) []attribute.KeyValue {
	a := []attribute.KeyValue{semconv.MessagingMessageID(e.ID), semconv.MessagingMessageBodySize(len(e.Data)),
		semconv.CloudEventsEventID(e.ID), semconv.CloudEventsEventSource(e.Source),
		semconv.CloudEventsEventType(e.Type), semconv.CloudEventsEventSpecVersion(e.SpecVersion)}
	if e.Subject != "" {
		a = append(a, semconv.CloudEventsEventSubject(e.Subject))
	}
	if e.CorrelationID != "" {
		a = append(a, semconv.MessagingMessageConversationID(e.CorrelationID))
	}
	return a
}

// endSpan records err, if any, and ends the span. A consumer span also
// says how the delivery ends (ack, nack or dead_letter).
func endSpan(span trace.Span, err error, consumer bool) {
	if consumer {
		span.SetAttributes(attrOutcome.String(deliveryOutcome(err)))
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(semconv.ErrorType(err))
	}
	span.End()
}

// TracingPublish starts a PRODUCER span, "send <topic>", around each
// publish call, as a child of the span in ctx (the consumer span when a
// handler publishes). A ctx without a span that carries the event being
// handled (a handler's without Tracing, or herald.CausedBy's) gives the
// span that event's traceparent names, so the trace goes on. Each event
// without a traceparent gets this span's context as its traceparent and
// tracestate, so its consumers continue the trace from here; events that
// already carry one keep it. If the
// publish fails, the events get their old trace attributes back, so that
// publishing them again starts from a fresh span.
//
// A Publisher sends events handed to it in many contexts as one batch.
// The span's parent is then the span those contexts share; when they
// carry different spans (several handlers), the span links to each of
// them instead, as the messaging conventions ask of a batch.
func TracingPublish(opts ...TracingOption) herald.PublishMiddleware {
	t := newTracing(opts)
	return func(next herald.PublishFunc) herald.PublishFunc {
		return func(ctx context.Context, topic string, events []*herald.CloudEvent) (res []herald.Result, err error) {
			start := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(sendAttrs(topic, events)...)}
			ctx, start = t.callers(ctx, events, start)
			ctx, span := t.tracer.Start(ctx, "send "+topic, start...)
			defer func() { endSpan(span, err, false) }()
			undo := t.inject(ctx, events)
			if res, err = next(ctx, topic, events); err != nil {
				undo()
				return res, err
			}
			if len(events) == 1 && len(res) == 1 {
				span.SetAttributes(semconv.MessagingDestinationPartitionID(strconv.Itoa(res[0].Partition)), attrOffset.Int64(res[0].Offset))
			}
			return res, err
		}
	}
}

// maxLinks bounds the links of one send span to the spans of the events'
// callers (OpenTelemetry's SDK keeps 128 by default).
const maxLinks = 128

// callers finds the spans the events were handed over in (a Publisher's
// batch; herald.PublishedWith). One span shared by all becomes the send
// span's parent; several become links. A direct publish, or callers with
// no span, leave ctx as it is, but for the span of the event it carries
// as being handled, if it has none of its own (withCauseSpan).
func (t tracing) callers(ctx context.Context, events []*herald.CloudEvent, opts []trace.SpanStartOption) (context.Context, []trace.SpanStartOption) {
	var spans []trace.SpanContext
	for _, e := range events {
		c := herald.PublishedWith(ctx, e)
		if c == ctx {
			continue
		}
		sc := t.callerSpan(c)
		if sc.IsValid() && len(spans) < maxLinks && !slices.ContainsFunc(spans, sc.Equal) {
			spans = append(spans, sc)
		}
	}
	switch len(spans) {
	case 0:
		return t.withCauseSpan(ctx), opts
	case 1:
		return trace.ContextWithSpanContext(ctx, spans[0]), opts
	}
	links := make([]trace.Link, len(spans))
	for i, sc := range spans {
		links[i] = trace.Link{SpanContext: sc}
	}
	return ctx, append(opts, trace.WithLinks(links...))
}

// callerSpan is the span a publish in ctx continues (withCauseSpan).
func (t tracing) callerSpan(ctx context.Context) trace.SpanContext {
	return trace.SpanContextFromContext(t.withCauseSpan(ctx))
}

// withCauseSpan returns ctx, with, when it has no span, the span named by
// the traceparent of the event it carries as being handled (herald.Cause):
// the trace that event's effects continue without tracing too.
func (t tracing) withCauseSpan(ctx context.Context) context.Context {
	if trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	if cause, ok := herald.Cause(ctx); ok {
		return t.prop.Extract(ctx, eventCarrier{cause})
	}
	return ctx
}

// sendAttrs describes a publish call: the event itself when there is one,
// the batch size when there are more (the conventions keep the count for
// batches).
func sendAttrs(topic string, events []*herald.CloudEvent) []attribute.KeyValue {
	a := messagingAttrs("send", semconv.MessagingOperationTypeSend, topic)
	if len(events) == 1 {
		return append(a, eventAttrs(events[0])...)
	}
	return append(a, semconv.MessagingBatchMessageCount(len(events)))
}

// inject writes the span context in ctx into each event without a
// traceparent, and returns a func that puts back what was there.
func (t tracing) inject(ctx context.Context, events []*herald.CloudEvent) (undo func()) {
	type saved struct {
		e     *herald.CloudEvent
		state string // a tracestate without a traceparent means nothing, but it was the caller's
	}
	var changed []saved
	for _, e := range events {
		if e.TraceParent == "" {
			changed = append(changed, saved{e, e.TraceState})
			e.TraceState = "" // it must not outlive a traceparent it was not written with
			t.prop.Inject(ctx, eventCarrier{e})
		}
	}
	return func() {
		for _, s := range changed {
			s.e.TraceParent, s.e.TraceState = "", s.state
		}
	}
}

// eventCarrier lets a propagator read and write an event's traceparent
// and tracestate. A CloudEvent has no place for other keys (baggage, B3):
// they are dropped.
type eventCarrier struct{ e *herald.CloudEvent }

func (c eventCarrier) Get(key string) string {
	switch key {
	case "traceparent":
		return c.e.TraceParent
	case "tracestate":
		return c.e.TraceState
	}
	return ""
}

func (c eventCarrier) Set(key, value string) {
	switch key {
	case "traceparent":
		c.e.TraceParent = value
	case "tracestate":
		c.e.TraceState = value
	}
}

func (c eventCarrier) Keys() []string { return []string{"traceparent", "tracestate"} }

var _ propagation.TextMapCarrier = eventCarrier{}
