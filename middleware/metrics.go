package middleware

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldevents/herald"
)

// Outcomes of a delivery, as the handler's error decides them. They are
// the values of the outcome label and of the span attribute
// messaging.herald.outcome.
const (
	outcomeAck        = "ack"         // nil: the event is done
	outcomeNack       = "nack"        // an error (or a panic): it comes again after the backoff
	outcomeDeadLetter = "dead_letter" // a Permanent error: it goes to the dead letters now
)

// Outcomes of a publish.
const (
	outcomeOK        = "ok"        // stored
	outcomeDuplicate = "duplicate" // already stored within the topic's dedup window: not stored again
	outcomeError     = "error"     // the publish failed; nothing of the batch was stored
)

// deliveryOutcome says what becomes of a delivery whose handler returned
// err. A nack of the subscription's last allowed attempt dead-letters the
// event too, which a handler cannot know; the subscription's own
// dead-letter count covers those. An error that panics as it is read (a
// nil pointer returned as an error) is a nack, as the Router makes it.
func deliveryOutcome(err error) (outcome string) {
	defer func() {
		if p := recover(); p != nil {
			outcome = outcomeNack
		}
	}()
	switch {
	case err == nil:
		return outcomeAck
	case herald.IsPermanent(err):
		return outcomeDeadLetter
	default:
		return outcomeNack
	}
}

// errHandlerExited is what a handler that ended its goroutine instead of
// returning (runtime.Goexit, as t.FailNow does) is recorded with: the
// Router nacks its delivery.
var errHandlerExited = errors.New("handler exited without returning (runtime.Goexit, as t.FailNow does)")

// result is what a handler call that middleware records in a defer
// ended with: err once it returned, errHandlerExited if it never did.
// An err that panics as it is read (its Error method, IsPermanent), as a
// nil *T returned as an error does, is recorded as an error saying so:
// the Router nacks it so, and reading it would panic in the middleware.
func result(err error, returned bool) (out error) {
	if !returned {
		return errHandlerExited
	}
	if err == nil {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			out = fmt.Errorf("the handler returned a %T that panicked as it was read (a nil pointer returned as an error?): %v", err, p)
		}
	}()
	_, _ = err.Error(), herald.IsPermanent(err)
	return err
}

// Metrics counts and times the deliveries a router's handlers handle (not
// those of batch handlers, which Router middleware does not wrap), in these
// collectors on reg (prometheus.DefaultRegisterer when nil):
//
//	herald_client_deliveries_total{topic,subscription,outcome}  counter: deliveries handled; outcome is ack, nack or dead_letter
//	herald_client_handle_duration_seconds{topic,subscription}   histogram: how long the handler took
//	herald_client_deliveries_in_flight{topic,subscription}      gauge: deliveries being handled now
//
// A handler that panics, or ends its goroutine instead of returning,
// counts as a nack, as the router treats it.
// Calling Metrics again with the same reg (two routers in one process)
// shares the collectors. It panics, as prometheus.MustRegister does, when
// reg already holds a different metric under one of these names.
func Metrics(reg prometheus.Registerer) herald.Middleware {
	m := newHandlerMetrics(orDefault(reg))
	return func(next herald.Handler) herald.Handler {
		return func(ctx context.Context, d *herald.Delivery) (err error) {
			done, returned := m.begin(d), false
			defer func() {
				if p := recover(); p != nil {
					done(fmt.Errorf("handler panicked: %v", p))
					panic(p) // the router turns it into a nack, with the stack
				}
				done(result(err, returned))
			}()
			err = next(ctx, d)
			returned = true
			return err
		}
	}
}

type handlerMetrics struct {
	handled  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
}

func newHandlerMetrics(reg prometheus.Registerer) handlerMetrics {
	labels := []string{"topic", "subscription"}
	return handlerMetrics{
		handled: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_client_deliveries_total",
			Help: "Deliveries handled, by how they ended: ack, nack or dead_letter (a permanent error).",
		}, append(labels, "outcome"))),
		duration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_client_handle_duration_seconds",
			Help:    "How long handlers took, in seconds.",
			Buckets: prometheus.DefBuckets,
		}, labels)),
		inFlight: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_client_deliveries_in_flight",
			Help: "Deliveries being handled now.",
		}, labels)),
	}
}

// begin counts a delivery in flight and returns the func that records how
// it ended.
func (m handlerMetrics) begin(d *herald.Delivery) (done func(error)) {
	start := time.Now()
	inFlight := m.inFlight.WithLabelValues(d.Topic, d.Subscription)
	inFlight.Inc()
	return func(err error) {
		inFlight.Dec()
		m.duration.WithLabelValues(d.Topic, d.Subscription).Observe(time.Since(start).Seconds())
		m.handled.WithLabelValues(d.Topic, d.Subscription, deliveryOutcome(err)).Inc()
	}
}

// MetricsPublish counts and times publishing, in these collectors on reg
// (prometheus.DefaultRegisterer when nil):
//
//	herald_client_published_events_total{topic,outcome}    counter: events published; outcome is ok, duplicate or error
//	herald_client_publish_duration_seconds{topic,outcome}  histogram: how long a publish call took; outcome is ok or error
//
// A batch counts each of its events. Registration works as for Metrics.
func MetricsPublish(reg prometheus.Registerer) herald.PublishMiddleware {
	m := newPublishMetrics(orDefault(reg))
	return func(next herald.PublishFunc) herald.PublishFunc {
		return func(ctx context.Context, topic string, events []*herald.CloudEvent) ([]herald.Result, error) {
			start := time.Now()
			res, err := next(ctx, topic, events)
			m.record(topic, len(events), res, err, time.Since(start))
			return res, err
		}
	}
}

type publishMetrics struct {
	events   *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newPublishMetrics(reg prometheus.Registerer) publishMetrics {
	labels := []string{"topic", "outcome"}
	return publishMetrics{
		events: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_client_published_events_total",
			Help: "Events published, by outcome: ok, duplicate (already stored, not stored again) or error.",
		}, labels)),
		duration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_client_publish_duration_seconds",
			Help:    "How long publish calls took, until the events were durable, in seconds.",
			Buckets: prometheus.DefBuckets,
		}, labels)),
	}
}

// record counts one publish call of n events. A topic name that is not
// UTF-8 (refused by the publish) is counted with its bad bytes replaced,
// as Prometheus takes only UTF-8 label values.
func (m publishMetrics) record(topic string, n int, res []herald.Result, err error, took time.Duration) {
	topic = strings.ToValidUTF8(topic, "\uFFFD")
	if err != nil {
		m.duration.WithLabelValues(topic, outcomeError).Observe(took.Seconds())
		m.events.WithLabelValues(topic, outcomeError).Add(float64(n))
		return
	}
	m.duration.WithLabelValues(topic, outcomeOK).Observe(took.Seconds())
	dups := 0
	for _, r := range res {
		if r.Duplicate {
			dups++
		}
	}
	m.events.WithLabelValues(topic, outcomeOK).Add(float64(len(res) - dups))
	m.events.WithLabelValues(topic, outcomeDuplicate).Add(float64(dups))
}

func orDefault(reg prometheus.Registerer) prometheus.Registerer {
	if reg == nil {
		return prometheus.DefaultRegisterer
	}
	return reg
}

// register registers c on reg. When reg already has the same collector
// (a second router or client in the process), it returns that one, so
// both count into the same series instead of failing.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(fmt.Errorf("herald metrics: %w (does the program register its own metric under a herald_client_ name?)", err))
}
