package middleware

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/heraldevents/herald"
)

func recorder(t *testing.T) (*tracetest.SpanRecorder, TracingOption) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return rec, WithTracerProvider(tp)
}

// tracedHerald is an embedded Herald whose publishes are traced, with the
// topics and subscriptions of the order flow, and a router with Tracing
// that runs until the test ends.
func tracedHerald(t *testing.T, opt TracingOption) (*herald.Client, *herald.Router) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	c, err := herald.Open(t.TempDir(), herald.WithPublishMiddleware(TracingPublish(opt)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for topic, sub := range map[string]string{"orders": "billing", "stock": "payment", "payments": ""} {
		if _, _, err := c.PutTopic(ctx, topic, herald.TopicSpec{}); err != nil {
			t.Fatal(err)
		}
		if sub == "" {
			continue
		}
		if _, err := c.PutSubscription(ctx, topic, sub, herald.SubscriptionConfig{Start: "earliest"}); err != nil {
			t.Fatal(err)
		}
	}
	r := herald.NewRouter(c, herald.RouterOptions{})
	r.Use(Tracing(opt))
	return c, r
}

// run runs r until the test ends, then closes c.
func run(t *testing.T, c *herald.Client, r *herald.Router) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		c.Close()
	})
}

// publishTo is a handler that publishes one event to topic through the
// context it was given.
func publishTo(c *herald.Client, topic, typ string) herald.Handler {
	return func(ctx context.Context, d *herald.Delivery) error {
		_, err := c.Publish(ctx, topic, herald.MustNewEvent(typ, []byte(`{}`), herald.WithSource("/test")))
		return err
	}
}

func waitForSpans(t *testing.T, rec *tracetest.SpanRecorder, n int) map[string]sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(rec.Ended()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d spans ended, want %d", len(rec.Ended()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		if _, dup := byName[s.Name()]; dup {
			t.Fatalf("two spans named %q", s.Name())
		}
		byName[s.Name()] = s
	}
	return byName
}

// OrderPlaced -> StockReserved -> PaymentCompleted, each published from
// the previous one's handler: one trace, and each hop's consumer span
// continues and links to the producer span of its event.
func TestTracing_ThreeHopChainIsOneTraceWithLinkedHops(t *testing.T) {
	rec, opt := recorder(t)
	c, r := tracedHerald(t, opt)
	r.HandleFunc("orders", "billing", publishTo(c, "stock", "stock.reserved"))
	r.HandleFunc("stock", "payment", publishTo(c, "payments", "payment.completed"))
	run(t, c, r)
	if _, err := c.Publish(context.Background(), "orders", herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop"))); err != nil {
		t.Fatal(err)
	}
	s := waitForSpans(t, rec, 5)
	sendOrders, processOrders := s["send orders"], s["process orders"]
	sendStock, processStock, sendPayments := s["send stock"], s["process stock"], s["send payments"]
	for name, span := range s {
		if span.SpanContext().TraceID() != sendOrders.SpanContext().TraceID() {
			t.Errorf("%s is in trace %s, not the order's trace %s", name, span.SpanContext().TraceID(), sendOrders.SpanContext().TraceID())
		}
	}
	if sendOrders.Parent().IsValid() {
		t.Errorf("the first publish has parent %v, want a root span", sendOrders.Parent())
	}
	continues(t, processOrders, sendOrders)
	continues(t, processStock, sendStock)
	childOf(t, sendStock, processOrders)
	childOf(t, sendPayments, processStock)
	stock, err := c.Read(context.Background(), "stock", 0, 0, 1)
	if err != nil || len(stock) != 1 {
		t.Fatalf("stock topic: %v, %v", stock, err)
	}
	if got := traceParentSpan(t, stock[0]); got != sendStock.SpanContext().SpanID() {
		t.Errorf("stock.reserved carries span %s, want its producer span %s", got, sendStock.SpanContext().SpanID())
	}
}

// The same hop when the handler publishes through a Publisher, which sends
// the event later in a batch of its own: the send span is still a child of
// the handler's consumer span, and the next consumer continues it.
func TestTracing_AHopThroughAPublisherContinuesTheHandlersSpan(t *testing.T) {
	rec, opt := recorder(t)
	c, r := tracedHerald(t, opt)
	p := c.NewPublisher(herald.PublisherOptions{})
	r.HandleFunc("orders", "billing", func(ctx context.Context, d *herald.Delivery) error {
		_, err := p.Publish(ctx, "stock", herald.MustNewEvent("stock.reserved", []byte(`{}`), herald.WithSource("/test"))).Wait(ctx)
		return err
	})
	r.HandleFunc("stock", "payment", func(ctx context.Context, d *herald.Delivery) error { return nil })
	run(t, c, r)
	t.Cleanup(func() { p.Close(context.Background()) }) // before run's cleanup closes c
	if _, err := c.Publish(context.Background(), "orders", herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop"))); err != nil {
		t.Fatal(err)
	}
	s := waitForSpans(t, rec, 4)
	sendOrders, processOrders, sendStock, processStock := s["send orders"], s["process orders"], s["send stock"], s["process stock"]
	for name, span := range s {
		if span.SpanContext().TraceID() != sendOrders.SpanContext().TraceID() {
			t.Errorf("%s is in trace %s, not the order's trace %s", name, span.SpanContext().TraceID(), sendOrders.SpanContext().TraceID())
		}
	}
	childOf(t, sendStock, processOrders)
	continues(t, processStock, sendStock)
}

// A Publisher's batch that gathers events handed over under two different
// spans is sent under a span linked to both (the messaging conventions'
// batch), and each event carries that send span.
func TestTracingPublish_ABatchFromManyCallersLinksToEach(t *testing.T) {
	rec, opt := recorder(t)
	c, err := herald.Open(t.TempDir(), herald.WithPublishMiddleware(TracingPublish(opt)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	one := 1
	if _, _, err := c.PutTopic(ctx, "stock", herald.TopicSpec{Partitions: &one}); err != nil {
		t.Fatal(err)
	}
	tracer := newTracing([]TracingOption{opt}).tracer
	ctxA, a := tracer.Start(ctx, "handler a")
	ctxB, b := tracer.Start(ctx, "handler b")
	p := c.NewPublisher(herald.PublisherOptions{Linger: time.Hour, MaxBatchEvents: 2}) // the second event sends the batch
	ra := p.Publish(ctxA, "stock", herald.MustNewEvent("stock.reserved", []byte(`{}`), herald.WithSource("/test")))
	rb := p.Publish(ctxB, "stock", herald.MustNewEvent("stock.reserved", []byte(`{}`), herald.WithSource("/test")))
	for _, r := range []*herald.PublishResult{ra, rb} {
		if _, err := r.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	a.End()
	b.End()
	send := waitForSpans(t, rec, 3)["send stock"]
	if send.Parent().IsValid() {
		t.Errorf("send span has parent %s, want none: its callers are two", send.Parent().SpanID())
	}
	linked := map[trace.SpanID]bool{}
	for _, l := range send.Links() {
		linked[l.SpanContext.SpanID()] = true
	}
	if len(linked) != 2 || !linked[a.SpanContext().SpanID()] || !linked[b.SpanContext().SpanID()] {
		t.Errorf("send span links to %v, want the spans of both callers", send.Links())
	}
	events, err := c.Read(ctx, "stock", 0, 0, 2)
	if err != nil || len(events) != 2 {
		t.Fatalf("read: %v, %v", events, err)
	}
	for _, e := range events {
		if got := traceParentSpan(t, e); got != send.SpanContext().SpanID() {
			t.Errorf("event %s carries span %s, want the send span %s", e.ID, got, send.SpanContext().SpanID())
		}
	}
}

// continues checks that a consumer span has the producer span as parent
// and as its one link.
func continues(t *testing.T, consumer, producer sdktrace.ReadOnlySpan) {
	t.Helper()
	if consumer.SpanKind() != trace.SpanKindConsumer || producer.SpanKind() != trace.SpanKindProducer {
		t.Errorf("%s is %s, %s is %s", consumer.Name(), consumer.SpanKind(), producer.Name(), producer.SpanKind())
	}
	want := producer.SpanContext().SpanID()
	if got := consumer.Parent().SpanID(); got != want || !consumer.Parent().IsRemote() {
		t.Errorf("%s has parent %s (remote %v), want %s from the event", consumer.Name(), got, consumer.Parent().IsRemote(), want)
	}
	links := consumer.Links()
	if len(links) != 1 || links[0].SpanContext.SpanID() != want || links[0].SpanContext.TraceID() != producer.SpanContext().TraceID() {
		t.Errorf("%s has links %+v, want one to %s", consumer.Name(), links, want)
	}
}

func childOf(t *testing.T, child, parent sdktrace.ReadOnlySpan) {
	t.Helper()
	if got, want := child.Parent().SpanID(), parent.SpanContext().SpanID(); got != want {
		t.Errorf("%s has parent %s, want %s (%s)", child.Name(), got, want, parent.Name())
	}
}

func traceParentSpan(t *testing.T, e *herald.CloudEvent) trace.SpanID {
	t.Helper()
	sc := trace.SpanContextFromContext(newTracing(nil).prop.Extract(context.Background(), eventCarrier{e}))
	if !sc.IsValid() {
		t.Fatalf("event %s has traceparent %q", e.ID, e.TraceParent)
	}
	return sc.SpanID()
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestTracing_ConsumerSpanFollowsMessagingConventions(t *testing.T) {
	rec, opt := recorder(t)
	d := delivery()
	d.Event.Source, d.Event.SpecVersion, d.Event.CorrelationID = "/shop", "1.0", "c1"
	d.Event.Stored, d.Event.Partition, d.Event.Offset = true, 3, 42
	Tracing(opt)(func(context.Context, *herald.Delivery) error { return nil })(context.Background(), d)
	span := rec.Ended()[0]
	if span.Name() != "process orders" || span.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("span %q of kind %s", span.Name(), span.SpanKind())
	}
	got := attrs(span)
	for k, want := range map[attribute.Key]any{
		"messaging.system": "herald", "messaging.operation.name": "process", "messaging.operation.type": "process",
		"messaging.destination.name": "orders", "messaging.consumer.group.name": "billing",
		"messaging.destination.subscription.name": "billing", "messaging.message.id": "e1",
		"messaging.message.conversation_id": "c1", "messaging.destination.partition.id": "3",
		"messaging.herald.offset": int64(42), "messaging.herald.message.delivery_attempt": int64(2),
		"messaging.herald.outcome": "ack", "cloudevents.event_type": "order.placed",
		"cloudevents.event_source": "/shop", "cloudevents.event_id": "e1",
	} {
		if v, ok := got[k]; !ok || v.AsInterface() != want {
			t.Errorf("%s = %v, want %v", k, v.AsInterface(), want)
		}
	}
	if want := "4bf92f3577b34da6a3ce929d0e0e4736"; span.SpanContext().TraceID().String() != want {
		t.Errorf("trace %s, want the event's %s", span.SpanContext().TraceID(), want)
	}
}

func TestTracing_HandlerErrorsSetErrorStatusAndOutcome(t *testing.T) {
	cases := []struct {
		name, outcome string
		err           error
	}{
		{"error nacks", "nack", errors.New("payment service busy")},
		{"permanent error dead-letters", "dead_letter", herald.Permanent(errors.New("order has no lines"))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, opt := recorder(t)
			err := Tracing(opt)(func(context.Context, *herald.Delivery) error { return c.err })(context.Background(), delivery())
			span := rec.Ended()[0]
			if err != c.err || span.Status().Code != codes.Error || span.Status().Description != c.err.Error() {
				t.Errorf("error %v, status %+v", err, span.Status())
			}
			if got := attrs(span)["messaging.herald.outcome"].AsString(); got != c.outcome {
				t.Errorf("outcome %q, want %q", got, c.outcome)
			}
			if ev := span.Events(); len(ev) != 1 || ev[0].Name != "exception" {
				t.Errorf("events %+v, want the recorded error", ev)
			}
		})
	}
}

func TestTracing_PanicEndsTheSpanAndStillPanics(t *testing.T) {
	rec, opt := recorder(t)
	defer func() {
		if p := recover(); p != "nil map" {
			t.Fatalf("recovered %v, want the handler's panic", p)
		}
		if ended := rec.Ended(); len(ended) != 1 || ended[0].Status().Code != codes.Error {
			t.Fatalf("ended spans %v", ended)
		}
	}()
	Tracing(opt)(func(context.Context, *herald.Delivery) error { panic("nil map") })(context.Background(), delivery())
}

func TestTracing_EventWithoutTraceParentStartsATraceWithoutLinks(t *testing.T) {
	rec, opt := recorder(t)
	d := delivery()
	d.Event.TraceParent = ""
	Tracing(opt)(func(context.Context, *herald.Delivery) error { return nil })(context.Background(), d)
	span := rec.Ended()[0]
	if span.Parent().IsValid() || len(span.Links()) != 0 {
		t.Fatalf("parent %v, links %v; want a root span", span.Parent(), span.Links())
	}
}

func TestTracingPublish_KeepsATraceParentTheEventAlreadyHas(t *testing.T) {
	rec, opt := recorder(t)
	own := delivery().Event
	fresh := herald.MustNewEvent("order.placed", nil, herald.WithSource("/shop"))
	fresh.TraceState = "stale=1"
	ok := func(ctx context.Context, topic string, evs []*herald.CloudEvent) ([]herald.Result, error) {
		return make([]herald.Result, len(evs)), nil
	}
	if _, err := TracingPublish(opt)(ok)(context.Background(), "orders", []*herald.CloudEvent{own, fresh}); err != nil {
		t.Fatal(err)
	}
	span := rec.Ended()[0]
	if own.TraceParent != delivery().Event.TraceParent {
		t.Errorf("traceparent %q was overwritten", own.TraceParent)
	}
	if traceParentSpan(t, fresh) != span.SpanContext().SpanID() || fresh.TraceState != "" {
		t.Errorf("fresh event carries %q %q, want the producer span %s", fresh.TraceParent, fresh.TraceState, span.SpanContext().SpanID())
	}
	if got := attrs(span)["messaging.batch.message_count"].AsInt64(); got != 2 || span.SpanKind() != trace.SpanKindProducer {
		t.Errorf("batch count %d, kind %s", got, span.SpanKind())
	}
}

func TestTracingPublish_FailureIsRecordedAndLeavesTheEventsAsTheyWere(t *testing.T) {
	rec, opt := recorder(t)
	e := herald.MustNewEvent("order.placed", nil, herald.WithSource("/shop"))
	e.TraceState = "vendor=1"
	fail := func(context.Context, string, []*herald.CloudEvent) ([]herald.Result, error) {
		return nil, errors.New("disk full")
	}
	if _, err := TracingPublish(opt)(fail)(context.Background(), "orders", []*herald.CloudEvent{e}); err == nil {
		t.Fatal("no error")
	}
	if span := rec.Ended()[0]; span.Status().Code != codes.Error || span.Name() != "send orders" {
		t.Errorf("span %q status %+v", span.Name(), span.Status())
	}
	if e.TraceParent != "" || e.TraceState != "vendor=1" {
		t.Errorf("event left with %q %q", e.TraceParent, e.TraceState)
	}
}

func TestTracing_AHandlerThatExitsItsGoroutineEndsTheSpanAsNack(t *testing.T) {
	rec, opt := recorder(t)
	callExiting(Tracing(opt))
	span := rec.Ended()[0]
	if got := attrs(span)["messaging.herald.outcome"].AsString(); got != "nack" || span.Status().Code != codes.Error {
		t.Fatalf("outcome %q, status %+v; want nack and an error, as the Router nacks it", got, span.Status())
	}
}

// An event published because of another (a handler's ctx, or CausedBy as
// a batch handler, which no router middleware wraps, names its cause)
// continues the trace of that event when publishes are traced but no
// Tracing consumer span is in ctx: the send span is a child of the span
// the handled event carries, directly or through a Publisher.
func TestTracingPublish_ContinuesTheTraceOfTheHandledEvent(t *testing.T) {
	const traceID, spanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, through := range []string{"Publish", "Publisher"} {
		t.Run(through, func(t *testing.T) {
			rec, opt := recorder(t)
			c, err := herald.Open(t.TempDir(), herald.WithPublishMiddleware(TracingPublish(opt)))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			placed := herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop"))
			placed.TraceParent = "00-" + traceID + "-" + spanID + "-01"
			hctx := herald.CausedBy(ctx, placed)
			reserved := herald.MustNewEvent("stock.reserved", []byte(`{}`), herald.WithSource("/inventory"))
			if through == "Publish" {
				_, err = c.Publish(hctx, "stock", reserved)
			} else {
				p := c.NewPublisher(herald.PublisherOptions{})
				_, err = p.Publish(hctx, "stock", reserved).Wait(ctx)
				p.Close(ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
			send := waitForSpans(t, rec, 1)["send stock"]
			if got := send.SpanContext().TraceID().String(); got != traceID {
				t.Errorf("send span in trace %s, want the handled event's %s", got, traceID)
			}
			if got := send.Parent(); got.SpanID().String() != spanID || !got.IsRemote() {
				t.Errorf("send span has parent %s (remote %v), want %s from the handled event", got.SpanID(), got.IsRemote(), spanID)
			}
			if traceParentSpan(t, reserved) != send.SpanContext().SpanID() {
				t.Errorf("event carries %q, want the send span %s", reserved.TraceParent, send.SpanContext().SpanID())
			}
		})
	}
}

// nilError is an error type whose Error method reads its receiver: a nil
// *nilError returned as an error is not a nil error, and reading it
// panics.
type nilError struct{ key string }

func (e *nilError) Error() string { return "no row for " + e.key }

// A handler that returns an error whose Error method panics (a nil
// pointer of an error type) has its span ended as an error, as the Router
// nacks it, and its error handed on to the Router, instead of the
// middleware panicking as it reads it and the span never ending.
func TestTracing_AnErrorWhoseErrorMethodPanicsEndsTheSpan(t *testing.T) {
	rec, opt := recorder(t)
	var typedNil *nilError
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Errorf("Tracing panicked: %v", p)
			}
		}()
		err = Tracing(opt)(func(context.Context, *herald.Delivery) error { return typedNil })(context.Background(), delivery())
	}()
	if err != error(typedNil) {
		t.Errorf("returned %#v, want the handler's error", err)
	}
	ended := rec.Ended()
	if len(ended) != 1 || ended[0].Status().Code != codes.Error || attrs(ended[0])["messaging.herald.outcome"].AsString() != "nack" {
		t.Fatalf("ended spans %v, want one with an error status and outcome nack", ended)
	}
}
