package main

import (
	"context"
	"sync"
	"time"

	"github.com/heraldevents/herald"
)

// Shipping schedules a shipment for every paid order. Its subscription
// takes only PaymentCompleted: declined orders never reach it.
type Shipping struct {
	c *herald.Client

	mu      sync.Mutex     // guards handled
	handled map[string]int // order id to PaymentCompleted events handled
}

func newShipping(c *herald.Client) *Shipping {
	return &Shipping{c: c, handled: map[string]int{}}
}

func (s *Shipping) routes() []route {
	return []route{on(TopicPayments, "shipping", s.paymentCompleted, TypePaymentCompleted)}
}

func (s *Shipping) paymentCompleted(ctx context.Context, e herald.Event[PaymentOutcome]) error {
	p := e.Data
	// Ship by the next day after the payment: derived from the event, not
	// the clock, so a redelivery schedules the same shipment.
	ship := ShipmentScheduled{OrderID: p.OrderID, Customer: p.Customer, Carrier: "Parcel Express",
		ShipBy: e.CloudEvent.Time.Add(24 * time.Hour).Truncate(time.Hour)}
	ev, err := reaction(e.CloudEvent, TypeShipmentScheduled, "/shop/shipping", p.OrderID, ship)
	if err != nil {
		return herald.Permanent(err)
	}
	if _, err := s.c.Publish(ctx, TopicShipping, ev); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handled[p.OrderID]++
	return nil
}

// Handled reports how many times shipping scheduled an order: 1 once it is
// scheduled (more only after a redelivery).
func (s *Shipping) Handled(orderID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handled[orderID]
}
