package main

import (
	"context"
	"sync"

	"github.com/heraldevents/herald"
)

// Stats are the analytics service's reports.
type Stats struct {
	Orders, Paid, Declined      int
	PlacedCents, CollectedCents int64
}

// Analytics counts orders, payments and revenue. It counts each event
// once, however often it is delivered.
type Analytics struct {
	mu      sync.Mutex // guards stats, counted and seen
	stats   Stats
	counted map[string]bool     // event ids already counted
	seen    map[string][]string // order id to the event types counted for it
}

func newAnalytics() *Analytics {
	return &Analytics{counted: map[string]bool{}, seen: map[string][]string{}}
}

func (a *Analytics) routes() []route {
	return []route{
		on(TopicOrders, "analytics", a.orderPlaced, TypeOrderPlaced),
		on(TopicPayments, "analytics", a.payment, TypePaymentCompleted, TypePaymentFailed),
	}
}

func (a *Analytics) orderPlaced(ctx context.Context, e herald.Event[OrderPlaced]) error {
	a.count(e.CloudEvent, e.Data.OrderID, func(s *Stats) {
		s.Orders++
		s.PlacedCents += e.Data.TotalCents
	})
	return nil
}

func (a *Analytics) payment(ctx context.Context, e herald.Event[PaymentOutcome]) error {
	a.count(e.CloudEvent, e.Data.OrderID, func(s *Stats) {
		if e.CloudEvent.Type == TypePaymentCompleted {
			s.Paid++
			s.CollectedCents += e.Data.AmountCents
		} else {
			s.Declined++
		}
	})
	return nil
}

// count applies an event to the stats unless it was counted already.
func (a *Analytics) count(e *herald.CloudEvent, orderID string, apply func(*Stats)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.counted[e.ID] {
		return
	}
	a.counted[e.ID] = true
	apply(&a.stats)
	a.seen[orderID] = append(a.seen[orderID], e.Type)
}

// Stats returns the reports so far.
func (a *Analytics) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// Saw returns the event types counted for an order.
func (a *Analytics) Saw(orderID string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen[orderID]...)
}
