package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/middleware"
)

// route is one subscription a service handles.
type route struct {
	topic, sub string
	types      []string // the event types the subscription takes; none: all
	register   func(*herald.Router)
}

// on declares a typed handler for a subscription that takes events of
// types (or every event, with none).
func on[T any](topic, sub string, fn func(context.Context, herald.Event[T]) error, types ...string) route {
	return route{topic: topic, sub: sub, types: types, register: func(r *herald.Router) {
		herald.Handle(r, topic, sub, fn)
	}}
}

// service is one of the shop's services: the subscriptions it handles.
type service interface{ routes() []route }

// Service names, in the order of the flow.
var serviceNames = []string{"inventory", "payment", "shipping", "email", "analytics"}

// Shop is the order flow: five services, each running its own Router, so
// that stopping one leaves the others working.
type Shop struct {
	c   *herald.Client
	log *slog.Logger

	Inventory *Inventory
	Payment   *Payment
	Shipping  *Shipping
	Email     *Email
	Analytics *Analytics

	mu      sync.Mutex          // guards running
	running map[string]*running // service name to its running router
}

// running is a service's Router while it runs.
type running struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned
}

// NewShop returns the shop's services over a client; Setup prepares
// Herald for them and Start runs them.
func NewShop(c *herald.Client, log *slog.Logger) *Shop {
	return &Shop{c: c, log: log, Inventory: newInventory(c), Payment: newPayment(c), Shipping: newShipping(c),
		Email: newEmail(log), Analytics: newAnalytics(), running: map[string]*running{}}
}

func (s *Shop) service(name string) (service, error) {
	switch name {
	case "inventory":
		return s.Inventory, nil
	case "payment":
		return s.Payment, nil
	case "shipping":
		return s.Shipping, nil
	case "email":
		return s.Email, nil
	case "analytics":
		return s.Analytics, nil
	}
	return nil, fmt.Errorf("unknown service %q (the services are %v)", name, serviceNames)
}

// Setup creates the topics that do not exist and every service's
// subscriptions. It is safe to run again: what exists keeps its events and
// positions, and a topic that exists keeps its partitions.
func (s *Shop) Setup(ctx context.Context) error {
	partitions := 4
	for _, t := range topics {
		_, err := s.c.Topic(ctx, t)
		if errors.Is(err, herald.ErrTopicNotFound) {
			_, _, err = s.c.PutTopic(ctx, t, herald.TopicSpec{Partitions: &partitions})
		}
		if err != nil {
			return fmt.Errorf("topic %s: %w", t, err)
		}
	}
	for _, name := range serviceNames {
		svc, _ := s.service(name)
		for _, rt := range svc.routes() {
			cfg := herald.SubscriptionConfig{
				Start:       "earliest", // a service started late still gets every event
				MaxAttempts: 5,
				Backoff:     herald.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2},
			}
			cfg.Filter.Types = rt.types
			if _, err := s.c.PutSubscription(ctx, rt.topic, rt.sub, cfg); err != nil {
				return fmt.Errorf("subscription %s on %s: %w", rt.sub, rt.topic, err)
			}
		}
	}
	return nil
}

// Start runs a service's Router until Stop or Close. A running service is
// left as it is.
func (s *Shop) Start(name string) error {
	svc, err := s.service(name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running[name] != nil {
		return nil
	}
	log := s.log.With("service", name)
	// The Router reports dead letters and lost connections to the shop's
	// log too, not to slog's default.
	r := herald.NewRouter(s.c, herald.RouterOptions{Logger: log})
	r.Use(middleware.Log(log), middleware.Retry(3, 50*time.Millisecond, time.Second),
		middleware.Timeout(10*time.Second))
	for _, rt := range svc.routes() {
		rt.register(r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{cancel: cancel, done: make(chan struct{})}
	s.running[name] = run
	go func() {
		defer close(run.done)
		if err := r.Run(ctx); err != nil {
			s.log.Error("service stopped", "service", name, "error", err)
		}
	}()
	return nil
}

// StartAll starts every service.
func (s *Shop) StartAll() error {
	for _, name := range serviceNames {
		if err := s.Start(name); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops a service: its Router finishes the events in hand and stops
// pulling. Its subscriptions keep their position, so events published
// meanwhile wait for it.
func (s *Shop) Stop(name string) {
	s.mu.Lock()
	run := s.running[name]
	delete(s.running, name)
	s.mu.Unlock()
	if run != nil {
		run.cancel()
		<-run.done
	}
}

// Close stops every service.
func (s *Shop) Close() {
	for _, name := range serviceNames {
		s.Stop(name)
	}
}

// PlaceOrder publishes an order's OrderPlaced, keyed by the order id, and
// returns it. It is the root of the order's causation chain.
func (s *Shop) PlaceOrder(ctx context.Context, o Order) (*herald.CloudEvent, error) {
	ev, err := newEvent(TypeOrderPlaced, "/shop/orders", o.ID,
		OrderPlaced{OrderID: o.ID, Customer: o.Customer, Items: o.Items, TotalCents: o.Total()})
	if err != nil {
		return nil, err
	}
	if _, err := s.c.Publish(ctx, TopicOrders, ev); err != nil {
		return nil, fmt.Errorf("placing order %s: %w", o.ID, err)
	}
	return ev, nil
}

// Progress is how far an order has come, as the services saw it.
type Progress struct {
	Reserved     bool // inventory reserved its stock
	PaymentTried bool // payment charged it, with the outcome in Paid
	Paid         bool
	Shipped      bool // shipping scheduled it
	Confirmed    bool // email sent the confirmation
	Notified     bool // email sent the last news: shipped, or payment declined
	Counted      bool // analytics counted the order and its payment
}

// Done reports whether every service has done its part.
func (p Progress) Done() bool {
	return p.Reserved && p.PaymentTried && (p.Shipped || !p.Paid) && p.Confirmed && p.Notified && p.Counted
}

// Progress reports how far an order has come.
func (s *Shop) Progress(orderID string) Progress {
	var p Progress
	p.Reserved = s.Inventory.Reserved(orderID)
	p.Paid, p.PaymentTried = s.Payment.Outcome(orderID)
	p.Shipped = s.Shipping.Handled(orderID) > 0
	p.Confirmed = s.Email.Sent(orderID, EmailConfirmation)
	last := EmailDeclined
	if p.Paid {
		last = EmailShipped
	}
	p.Notified = p.PaymentTried && s.Email.Sent(orderID, last)
	saw := s.Analytics.Saw(orderID)
	p.Counted = slices.Contains(saw, TypeOrderPlaced) &&
		(slices.Contains(saw, TypePaymentCompleted) || slices.Contains(saw, TypePaymentFailed))
	return p
}

// WaitDone waits until every order is done, or fails when ctx ends,
// saying how far the orders still under way have come.
func (s *Shop) WaitDone(ctx context.Context, orderIDs ...string) error {
	var pending []string
	err := waitUntil(ctx, func() bool {
		pending = pending[:0]
		for _, id := range orderIDs {
			if !s.Progress(id).Done() {
				pending = append(pending, id)
			}
		}
		return len(pending) == 0
	})
	if err != nil {
		var b strings.Builder
		for _, id := range pending {
			fmt.Fprintf(&b, "; order %s: %+v", id, s.Progress(id))
		}
		return fmt.Errorf("%w%s", err, b.String())
	}
	return nil
}

// waitUntil polls cond until it holds or ctx ends.
func waitUntil(ctx context.Context, cond func() bool) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-tick.C:
		}
	}
	return nil
}
