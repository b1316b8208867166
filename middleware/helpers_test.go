package middleware

import (
	"context"
	"errors"
	"runtime"

	"github.com/heraldevents/herald"
)

func delivery() *herald.Delivery {
	return &herald.Delivery{Event: &herald.CloudEvent{ID: "e1", Type: "order.placed",
		TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, Attempt: 2, Topic: "orders", Subscription: "billing"}
}

// failing fails the first n calls.
func failing(n int, calls *int) herald.Handler {
	return func(ctx context.Context, d *herald.Delivery) error {
		*calls++
		if *calls <= n {
			return errors.New("busy")
		}
		return nil
	}
}

// callExiting calls h wrapped by mw with a handler that ends its goroutine
// (runtime.Goexit, as t.FailNow does) instead of returning, and waits.
func callExiting(mw herald.Middleware) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		mw(func(context.Context, *herald.Delivery) error { runtime.Goexit(); return nil })(context.Background(), delivery())
	}()
	<-done
}
