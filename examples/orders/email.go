package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/heraldevents/herald"
)

// Email kinds, one per event the customer hears about.
const (
	EmailConfirmation = "confirmation"
	EmailDeclined     = "payment-declined"
	EmailShipped      = "shipped"
)

// Mail is one email the Email service sent.
type Mail struct {
	To, Subject, Kind, OrderID string
	EventID                    string // the event it was sent for
}

// Email tells customers what happens to their orders. It "sends" by
// logging and appending to its outbox; it publishes nothing.
type Email struct {
	log *slog.Logger

	mu     sync.Mutex      // guards outbox and sent
	outbox []Mail          // in the order sent
	sent   map[string]bool // event ids already mailed: one email per event
}

func newEmail(log *slog.Logger) *Email {
	return &Email{log: log, sent: map[string]bool{}}
}

func (m *Email) routes() []route {
	return []route{
		on(TopicOrders, "email", m.orderPlaced, TypeOrderPlaced),
		on(TopicPayments, "email", m.paymentFailed, TypePaymentFailed),
		on(TopicShipping, "email", m.shipmentScheduled, TypeShipmentScheduled),
	}
}

func (m *Email) orderPlaced(ctx context.Context, e herald.Event[OrderPlaced]) error {
	m.send(ctx, e.CloudEvent, Mail{To: e.Data.Customer, Kind: EmailConfirmation, OrderID: e.Data.OrderID,
		Subject: "We received your order " + e.Data.OrderID + " (" + money(e.Data.TotalCents) + ")"})
	return nil
}

func (m *Email) paymentFailed(ctx context.Context, e herald.Event[PaymentOutcome]) error {
	m.send(ctx, e.CloudEvent, Mail{To: e.Data.Customer, Kind: EmailDeclined, OrderID: e.Data.OrderID,
		Subject: "Your payment for order " + e.Data.OrderID + " was " + e.Data.Reason})
	return nil
}

func (m *Email) shipmentScheduled(ctx context.Context, e herald.Event[ShipmentScheduled]) error {
	m.send(ctx, e.CloudEvent, Mail{To: e.Data.Customer, Kind: EmailShipped, OrderID: e.Data.OrderID,
		Subject: "Order " + e.Data.OrderID + " ships with " + e.Data.Carrier + " by " + e.Data.ShipBy.Format("Mon 2 Jan 15:04 MST")})
	return nil
}

// send sends a mail once per event: a redelivered event is not mailed
// again (an idempotent consumer).
func (m *Email) send(ctx context.Context, cause *herald.CloudEvent, mail Mail) {
	mail.EventID = cause.ID
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sent[cause.ID] {
		return
	}
	m.sent[cause.ID] = true
	m.outbox = append(m.outbox, mail)
	m.log.InfoContext(ctx, "email sent", "to", mail.To, "subject", mail.Subject)
}

// Outbox returns the mails sent so far.
func (m *Email) Outbox() []Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Mail(nil), m.outbox...)
}

// Sent reports whether an order got a mail of a kind.
func (m *Email) Sent(orderID, kind string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mail := range m.outbox {
		if mail.OrderID == orderID && mail.Kind == kind {
			return true
		}
	}
	return false
}
