package main

import (
	"context"
	"sync"

	"github.com/heraldevents/herald"
)

// Inventory reserves the stock of every placed order and says so with
// StockReserved.
type Inventory struct {
	c *herald.Client

	mu       sync.Mutex      // guards reserved and units
	reserved map[string]bool // order ids with stock set aside
	units    map[string]int  // product id to units reserved
}

func newInventory(c *herald.Client) *Inventory {
	return &Inventory{c: c, reserved: map[string]bool{}, units: map[string]int{}}
}

func (inv *Inventory) routes() []route {
	return []route{on(TopicOrders, "inventory", inv.orderPlaced, TypeOrderPlaced)}
}

func (inv *Inventory) orderPlaced(ctx context.Context, e herald.Event[OrderPlaced]) error {
	o := e.Data
	inv.reserve(o.OrderID, o.Items)
	ev, err := reaction(e.CloudEvent, TypeStockReserved, "/shop/inventory", o.OrderID,
		StockReserved{OrderID: o.OrderID, Customer: o.Customer, Items: o.Items, TotalCents: o.TotalCents})
	if err != nil {
		return herald.Permanent(err)
	}
	// The handler's ctx makes StockReserved name OrderPlaced as its cause.
	_, err = inv.c.Publish(ctx, TopicInventory, ev)
	return err
}

// reserve sets an order's items aside once, however often it is asked.
func (inv *Inventory) reserve(orderID string, items []Item) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.reserved[orderID] {
		return
	}
	inv.reserved[orderID] = true
	for _, it := range items {
		inv.units[it.ProductID] += it.Quantity
	}
}

// ReservedUnits returns how many units of a product are reserved.
func (inv *Inventory) ReservedUnits(productID string) int {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return inv.units[productID]
}

// Reserved reports whether an order's stock is reserved.
func (inv *Inventory) Reserved(orderID string) bool {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return inv.reserved[orderID]
}
