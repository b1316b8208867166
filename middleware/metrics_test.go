package middleware

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/heraldevents/herald"
)

func returning(err error) herald.Handler {
	return func(context.Context, *herald.Delivery) error { return err }
}

func TestMetrics_CountsDeliveriesByOutcome(t *testing.T) {
	reg := prometheus.NewRegistry()
	mw := Metrics(reg)
	for _, err := range []error{nil, nil, errors.New("busy"), herald.Permanent(errors.New("bad data"))} {
		mw(returning(err))(context.Background(), delivery())
	}
	want := `
# HELP herald_client_deliveries_total Deliveries handled, by how they ended: ack, nack or dead_letter (a permanent error).
# TYPE herald_client_deliveries_total counter
herald_client_deliveries_total{outcome="ack",subscription="billing",topic="orders"} 2
herald_client_deliveries_total{outcome="dead_letter",subscription="billing",topic="orders"} 1
herald_client_deliveries_total{outcome="nack",subscription="billing",topic="orders"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "herald_client_deliveries_total"); err != nil {
		t.Fatal(err)
	}
	if got := histogramCount(t, reg, "herald_client_handle_duration_seconds"); got != 4 {
		t.Fatalf("%d durations observed, want 4", got)
	}
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

func TestMetrics_InFlightWhileTheHandlerRuns(t *testing.T) {
	reg := prometheus.NewRegistry()
	inFlight := newHandlerMetrics(reg).inFlight.WithLabelValues("orders", "billing")
	var during float64
	h := func(context.Context, *herald.Delivery) error { during = testutil.ToFloat64(inFlight); return nil }
	Metrics(reg)(h)(context.Background(), delivery())
	if after := testutil.ToFloat64(inFlight); during != 1 || after != 0 {
		t.Fatalf("in flight %v during the handler and %v after, want 1 and 0", during, after)
	}
}

func TestMetrics_PanicCountsAsNackAndStillPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newHandlerMetrics(reg)
	defer func() {
		if p := recover(); p != "nil map" {
			t.Fatalf("recovered %v, want the handler's panic", p)
		}
		if n := testutil.ToFloat64(m.handled.WithLabelValues("orders", "billing", "nack")); n != 1 {
			t.Fatalf("%v nacks, want 1", n)
		}
		if n := testutil.ToFloat64(m.inFlight.WithLabelValues("orders", "billing")); n != 0 {
			t.Fatalf("%v in flight after the panic", n)
		}
	}()
	Metrics(reg)(func(context.Context, *herald.Delivery) error { panic("nil map") })(context.Background(), delivery())
}

// Two routers (or a router and a client) in one process share the
// registerer: the second registration reuses the first's collectors.
func TestMetrics_RegisteringTwiceSharesTheCollectors(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, second := Metrics(reg), Metrics(reg)
	first(returning(nil))(context.Background(), delivery())
	second(returning(nil))(context.Background(), delivery())
	MetricsPublish(reg)
	MetricsPublish(reg)
	if n := testutil.ToFloat64(newHandlerMetrics(reg).handled.WithLabelValues("orders", "billing", "ack")); n != 2 {
		t.Fatalf("%v acks counted, want 2 in one series", n)
	}
}

func TestMetrics_ConflictingMetricPanicsWithTheReason(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_client_deliveries_total", Help: "mine"}))
	defer func() {
		p := recover()
		if err, ok := p.(error); !ok || !strings.Contains(err.Error(), "herald_client_") {
			t.Fatalf("recovered %v", p)
		}
	}()
	Metrics(reg)
}

func TestMetricsPublish_CountsEventsAndTimesCalls(t *testing.T) {
	reg := prometheus.NewRegistry()
	stored := func(ctx context.Context, topic string, evs []*herald.CloudEvent) ([]herald.Result, error) {
		return []herald.Result{{}, {Duplicate: true}, {}}, nil
	}
	failed := func(context.Context, string, []*herald.CloudEvent) ([]herald.Result, error) {
		return nil, errors.New("disk full")
	}
	three := []*herald.CloudEvent{{}, {}, {}}
	MetricsPublish(reg)(stored)(context.Background(), "orders", three)
	MetricsPublish(reg)(failed)(context.Background(), "orders", three[:2])
	m := newPublishMetrics(reg)
	for outcome, want := range map[string]float64{"ok": 2, "duplicate": 1, "error": 2} {
		if got := testutil.ToFloat64(m.events.WithLabelValues("orders", outcome)); got != want {
			t.Errorf("%s: %v events, want %v", outcome, got, want)
		}
	}
	if got := histogramCount(t, reg, "herald_client_publish_duration_seconds"); got != 2 {
		t.Errorf("%d publish calls timed, want 2", got)
	}
}

// A publish to a topic name that is not UTF-8 fails with the client's
// error; counting it must not panic (Prometheus refuses such a label).
func TestMetricsPublish_ATopicThatIsNotUTF8FailsAndIsCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, err := herald.Open(t.TempDir(), herald.WithPublishMiddleware(MetricsPublish(reg)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Publish(context.Background(), "orders\xff", herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop")))
	if err == nil {
		t.Fatal("a publish to a topic named with invalid UTF-8 succeeded")
	}
	m := newPublishMetrics(reg)
	if got := testutil.ToFloat64(m.events.WithLabelValues("orders\uFFFD", outcomeError)); got != 1 {
		t.Fatalf("%v failed events counted, want 1", got)
	}
}

// Both sides of tracing and metrics on an embedded Herald: the client's
// publishes and the router's deliveries.
func ExampleMetrics() {
	dir, _ := os.MkdirTemp("", "herald-example")
	defer os.RemoveAll(dir)
	reg := prometheus.NewRegistry()
	c, err := herald.Open(dir, herald.WithPublishMiddleware(TracingPublish(), MetricsPublish(reg)))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	ctx, stop := context.WithCancel(context.Background())
	c.PutTopic(ctx, "orders", herald.TopicSpec{})
	c.PutSubscription(ctx, "orders", "billing", herald.SubscriptionConfig{Start: "earliest"})

	r := herald.NewRouter(c, herald.RouterOptions{})
	r.Use(Tracing(), Metrics(reg))
	handled := make(chan struct{})
	r.HandleFunc("orders", "billing", func(ctx context.Context, d *herald.Delivery) error {
		close(handled)
		return nil
	})
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()

	c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", []byte(`{"order":42}`), herald.WithSource("/shop")))
	<-handled
	stop()
	<-done
	families, _ := reg.Gather()
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if v := m.GetCounter().GetValue(); v > 0 {
				fmt.Println(f.GetName(), outcomeLabel(m), v)
			}
		}
	}
	// Output:
	// herald_client_deliveries_total ack 1
	// herald_client_published_events_total ok 1
}

func outcomeLabel(m *dto.Metric) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == "outcome" {
			return l.GetValue()
		}
	}
	return ""
}

// The Router nacks the delivery of a handler that ends its goroutine
// instead of returning; the metrics say so too.
func TestMetrics_AHandlerThatExitsItsGoroutineCountsAsNack(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newHandlerMetrics(reg)
	callExiting(Metrics(reg))
	if n := testutil.ToFloat64(m.handled.WithLabelValues("orders", "billing", "nack")); n != 1 {
		t.Errorf("%v nacks, want 1", n)
	}
	if n := testutil.ToFloat64(m.handled.WithLabelValues("orders", "billing", "ack")); n != 0 {
		t.Errorf("%v acks, want 0", n)
	}
}

// wrapError is an error whose Unwrap panics when it is a nil pointer.
type wrapError struct{ err error }

func (e *wrapError) Error() string { return "wrapped: " + e.err.Error() }
func (e *wrapError) Unwrap() error { return e.err }

// A handler that returns a nil pointer as its error (whose Unwrap panics
// as IsPermanent reads it) is counted as the nack the Router makes of it,
// and the error goes on as it is: Metrics does not panic on it.
func TestMetrics_AnErrorThatPanicsAsItIsReadCountsAsNack(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newHandlerMetrics(reg)
	var bad *wrapError
	err := callRecovering(Metrics(reg)(returning(bad)), delivery())
	if e, ok := err.(*wrapError); !ok || e != nil {
		t.Fatalf("Metrics returned %#v, want the handler's nil *wrapError", err)
	}
	if n := testutil.ToFloat64(m.handled.WithLabelValues("orders", "billing", "nack")); n != 1 {
		t.Errorf("%v nacks, want 1", n)
	}
	if n := testutil.ToFloat64(m.inFlight.WithLabelValues("orders", "billing")); n != 0 {
		t.Errorf("%v in flight after the handler returned", n)
	}
}
