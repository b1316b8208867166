package main

import (
	"context"
	"sync"

	"github.com/heraldevents/herald"
)

// CardLimitCents is the payment rule of the example: an order whose total
// is above it is declined, any other is paid.
const CardLimitCents = 500_00

// Payment charges every order whose stock is reserved and publishes
// PaymentCompleted or PaymentFailed.
type Payment struct {
	c *herald.Client

	mu       sync.Mutex      // guards outcomes
	outcomes map[string]bool // order id to paid (true) or declined (false)
}

func newPayment(c *herald.Client) *Payment {
	return &Payment{c: c, outcomes: map[string]bool{}}
}

func (p *Payment) routes() []route {
	return []route{on(TopicInventory, "payment", p.stockReserved, TypeStockReserved)}
}

func (p *Payment) stockReserved(ctx context.Context, e herald.Event[StockReserved]) error {
	s := e.Data
	typ, pay := charge(s)
	ev, err := reaction(e.CloudEvent, typ, "/shop/payment", s.OrderID, pay)
	if err != nil {
		return herald.Permanent(err)
	}
	if _, err := p.c.Publish(ctx, TopicPayments, ev); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outcomes[s.OrderID] = typ == TypePaymentCompleted
	return nil
}

// charge applies the card limit: it returns the event type and its data.
func charge(s StockReserved) (string, PaymentOutcome) {
	pay := PaymentOutcome{OrderID: s.OrderID, Customer: s.Customer, AmountCents: s.TotalCents}
	if s.TotalCents > CardLimitCents {
		pay.Reason = "declined: " + money(s.TotalCents) + " is over the card limit of " + money(CardLimitCents)
		return TypePaymentFailed, pay
	}
	return TypePaymentCompleted, pay
}

// Outcome reports whether an order was paid, once its payment was tried.
func (p *Payment) Outcome(orderID string) (paid, tried bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	paid, tried = p.outcomes[orderID]
	return paid, tried
}
