package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/event"
)

// Topics of the shop. Every event is keyed by its order id, so the events of
// one order stay in one partition, in order.
const (
	TopicOrders    = "orders"
	TopicInventory = "inventory"
	TopicPayments  = "payments"
	TopicShipping  = "shipping"
)

// topics is every topic the flow publishes to, in the order of the flow.
var topics = []string{TopicOrders, TopicInventory, TopicPayments, TopicShipping}

// Event types, named for what happened.
const (
	TypeOrderPlaced       = "OrderPlaced"
	TypeStockReserved     = "StockReserved"
	TypePaymentCompleted  = "PaymentCompleted"
	TypePaymentFailed     = "PaymentFailed"
	TypeShipmentScheduled = "ShipmentScheduled"
)

// Item is one line of an order. Money is in cents.
type Item struct {
	ProductID  string `json:"productId"`
	Quantity   int    `json:"quantity"`
	PriceCents int64  `json:"priceCents"`
}

// Order is what a customer asks for.
type Order struct {
	ID       string
	Customer string // an email address
	Items    []Item
}

// Total is the sum of the order's lines, in cents.
func (o Order) Total() int64 {
	var t int64
	for _, it := range o.Items {
		t += int64(it.Quantity) * it.PriceCents
	}
	return t
}

// OrderPlaced is the data of an OrderPlaced event. Like every event of the
// flow it is self-contained: consumers never call back for details.
type OrderPlaced struct {
	OrderID    string `json:"orderId"`
	Customer   string `json:"customer"`
	Items      []Item `json:"items"`
	TotalCents int64  `json:"totalCents"`
}

// StockReserved is the data of a StockReserved event: the order's items
// are set aside for it.
type StockReserved struct {
	OrderID    string `json:"orderId"`
	Customer   string `json:"customer"`
	Items      []Item `json:"items"`
	TotalCents int64  `json:"totalCents"`
}

// PaymentOutcome is the data of a PaymentCompleted or PaymentFailed event.
type PaymentOutcome struct {
	OrderID     string `json:"orderId"`
	Customer    string `json:"customer"`
	AmountCents int64  `json:"amountCents"`
	Reason      string `json:"reason,omitempty"` // why it failed
}

// ShipmentScheduled is the data of a ShipmentScheduled event.
type ShipmentScheduled struct {
	OrderID  string    `json:"orderId"`
	Customer string    `json:"customer"`
	Carrier  string    `json:"carrier"`
	ShipBy   time.Time `json:"shipBy"`
}

// newEvent builds a CloudEvent with JSON data, keyed by key. It fills the
// struct itself so that the example depends on nothing but the event type.
func newEvent(typ, source, key string, data any) (*herald.CloudEvent, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", typ, err)
	}
	return &herald.CloudEvent{ID: randomID(), Source: source, Type: typ, SpecVersion: event.SpecVersion,
		Time: time.Now().UTC(), DataContentType: "application/json", Data: b, PartitionKey: key}, nil
}

// reaction builds the event a service publishes in reaction to cause. Its
// id is derived from the cause's, so a handler that runs twice for one
// event (a redelivery) publishes the same id twice and Herald stores it
// once: publishing is idempotent without any bookkeeping of our own.
func reaction(cause *herald.CloudEvent, typ, source, key string, data any) (*herald.CloudEvent, error) {
	e, err := newEvent(typ, source, key, data)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(cause.Source + "\x00" + cause.ID + "\x00" + typ))
	e.ID = hex.EncodeToString(sum[:16])
	return e, nil
}

// randomID returns 32 random hex digits.
func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// money formats cents as dollars.
func money(cents int64) string { return fmt.Sprintf("$%d.%02d", cents/100, cents%100) }
