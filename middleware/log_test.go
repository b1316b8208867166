package middleware

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/heraldevents/herald"
)

func TestLog_RecordsTheEventAndTheError(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := func(ctx context.Context, d *herald.Delivery) error { return errors.New("card declined") }
	Log(l)(h)(context.Background(), delivery())
	out := buf.String()
	for _, want := range []string{`"level":"WARN"`, `"event_id":"e1"`, `"type":"order.placed"`, `"attempt":2`,
		`"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`, `"error":"card declined"`, `"subscription":"billing"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log %s lacks %s", out, want)
		}
	}
}

func TestLog_RecordsAHandlerThatPanicsAndPanicsOn(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, nil))
	h := func(ctx context.Context, d *herald.Delivery) error { panic("nil map") }
	func() {
		defer func() {
			if p := recover(); p != "nil map" {
				t.Errorf("recovered %v, want the handler's panic to go on to the Router", p)
			}
		}()
		Log(l)(h)(context.Background(), delivery())
	}()
	out := buf.String()
	for _, want := range []string{`"level":"WARN"`, `"event_id":"e1"`, `"error":"handler panicked: nil map"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q lacks %s", out, want)
		}
	}
}

func TestLog_RecordsAHandlerThatExitsItsGoroutine(t *testing.T) {
	var buf bytes.Buffer
	callExiting(Log(slog.New(slog.NewJSONHandler(&buf, nil))))
	out := buf.String()
	for _, want := range []string{`"level":"WARN"`, `"event_id":"e1"`, `"error":"handler exited without returning`} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q lacks %s", out, want)
		}
	}
}

// Log(nil) logs to slog.Default(), as a Router's nil Logger does, rather
// than panicking after every handler has run (which would nack, and so
// repeat, events that were handled).
func TestLog_NilLoggerLogsToTheDefault(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&buf, nil)))
	defer slog.SetDefault(old)
	h := func(ctx context.Context, d *herald.Delivery) error { return errors.New("card declined") }
	if err := callRecovering(Log(nil)(h), delivery()); err == nil || err.Error() != "card declined" {
		t.Fatalf("error %v, want the handler's", err)
	}
	if out := buf.String(); !strings.Contains(out, `"error":"card declined"`) {
		t.Fatalf("default log %q lacks the failure", out)
	}
}

// The trace id logged is the one a traceparent gives by W3C Trace
// Context, as Tracing reads it: a malformed traceparent (upper-case or
// non-hex digits, an all-zero id, version ff) gives none, since Tracing
// starts a new trace for it, and one of a later version with more fields
// gives its trace id, since Tracing continues it.
func TestLog_TraceIDIsTheOneTracingContinues(t *testing.T) {
	rec, opt := recorder(t)
	for _, tp := range []string{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"00-4bf92f3577b34da6a3c\n929d0e0e4736-00f067aa0ba902b7-01",
	} {
		var buf bytes.Buffer
		d := delivery()
		d.Event.TraceParent = tp
		h := func(context.Context, *herald.Delivery) error { return nil }
		if err := Tracing(opt)(Log(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))(h))(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		spans := rec.Ended()
		span := spans[len(spans)-1]
		want := ""
		if span.Parent().IsValid() { // Tracing continued the event's trace
			want = `"trace_id":"` + span.SpanContext().TraceID().String() + `"`
		}
		got := ""
		if i := strings.Index(buf.String(), `"trace_id":`); i >= 0 {
			got = buf.String()[i : i+len(`"trace_id":"`)+33]
		}
		if got != want {
			t.Errorf("traceparent %q: logged %q, want %q (log %s)", tp, got, want, buf.String())
		}
	}
}

// badError is an error whose Error method panics when it is a nil
// pointer, as a handler's "var err *badError; return err" is.
type badError struct{ msg string }

func (e *badError) Error() string { return e.msg }

// A handler that returns a nil pointer as its error has it logged as such,
// and the error goes on to the Router as it is, which nacks it naming the
// mistake: Log neither panics reading it nor leaves it unlogged.
func TestLog_AnErrorThatPanicsAsItIsReadIsLoggedAndGoesOn(t *testing.T) {
	var buf bytes.Buffer
	var bad *badError
	h := func(context.Context, *herald.Delivery) error { return bad }
	err := callRecovering(Log(slog.New(slog.NewJSONHandler(&buf, nil)))(h), delivery())
	if e, ok := err.(*badError); !ok || e != nil {
		t.Fatalf("Log returned %#v, want the handler's nil *badError", err)
	}
	out := buf.String()
	for _, want := range []string{`"level":"WARN"`, `"event_id":"e1"`, `*middleware.badError`, `panicked as it was read`} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q lacks %s", out, want)
		}
	}
}
