package herald

import (
	"context"
	"sync"
	"time"
)

// A Router keeps the leases of the deliveries it holds, so that none runs
// out, and comes again to another consumer, while the Router still means
// to handle it: a delivery waiting for a free handler (Prefetch), or
// received by a remote feed and not yet taken, or being handled. Every
// quarter of the subscription's ack timeout it extends, in one settlement
// per feed, the leases that began or were last extended half an ack
// timeout ago or more, until RouterOptions.MaxExtension has passed since
// the delivery came. After that its lease runs out and the event comes
// again, so a handler stuck for good does not hold its key forever.
// (Google Pub/Sub's clients extend the same way; JetStream leaves it to
// each handler's InProgress.)
//
// Deliveries are held in the batches they came in: a batch is renewed as
// one, and a delivery marks itself settled through its index in it, so
// holding costs a map entry per batch, not per delivery.
type leaseKeeper struct {
	every      time.Duration // between renewals: a quarter of the ack timeout
	renewAfter time.Duration // a lease this old is extended: half the ack timeout
	max        time.Duration // no lease is extended this long after its delivery came

	mu   sync.Mutex // guards held and every heldBatch in it
	held map[*heldBatch]struct{}

	cancel context.CancelFunc // ends run and the extends in flight
	wg     sync.WaitGroup     // run and the extends in flight
}

// heldBatch is deliveries that came together from one feed.
type heldBatch struct {
	f        feed // the feed that leased them, which extends them
	ds       []*Delivery
	settled  []bool // by index in ds
	left     int    // deliveries not settled
	received time.Time
	renewed  time.Time // last extended, or received
}

// newLeaseKeeper starts keeping leases for a subscription whose ack
// timeout is ackTimeout; nil (which keeps nothing) when max is not
// positive.
func newLeaseKeeper(ackTimeout, max time.Duration) *leaseKeeper {
	if max <= 0 || ackTimeout <= 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	k := &leaseKeeper{every: ackTimeout / 4, renewAfter: ackTimeout / 2, max: max,
		held: map[*heldBatch]struct{}{}, cancel: cancel}
	k.wg.Go(func() { k.run(ctx) })
	return k
}

// hold starts keeping the leases of deliveries that f just handed over.
func (k *leaseKeeper) hold(f feed, ds []*Delivery) {
	if k == nil || len(ds) == 0 {
		return
	}
	now := time.Now()
	b := &heldBatch{f: f, ds: ds, settled: make([]bool, len(ds)), left: len(ds), received: now, renewed: now}
	k.mu.Lock()
	defer k.mu.Unlock()
	for i, d := range ds {
		d.held, d.heldIndex = b, i
	}
	k.held[b] = struct{}{}
}

// drop stops keeping the leases of deliveries settled or given back.
func (k *leaseKeeper) drop(ds []*Delivery) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, d := range ds {
		b := d.held
		if b == nil || b.settled[d.heldIndex] {
			continue
		}
		b.settled[d.heldIndex] = true
		if b.left--; b.left == 0 {
			delete(k.held, b)
		}
	}
}

// forget stops keeping the leases f handed over: it is closed, and what
// it leased is given back or runs out.
func (k *leaseKeeper) forget(f feed) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for b := range k.held {
		if b.f == f {
			delete(k.held, b)
		}
	}
}

// close stops renewing and waits for the extends in flight.
func (k *leaseKeeper) close() {
	if k == nil {
		return
	}
	k.cancel()
	k.wg.Wait()
}

func (k *leaseKeeper) run(ctx context.Context) {
	t := time.NewTicker(k.every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			for f, ids := range k.due(time.Now()) {
				k.wg.Go(func() { f.settle(ctx, settlement{kind: settleExtend, ackIDs: ids}) })
			}
		case <-ctx.Done():
			return
		}
	}
}

// due returns, per feed, the ack ids to extend now, and counts them as
// extended.
func (k *leaseKeeper) due(now time.Time) map[feed][]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out map[feed][]string
	for b := range k.held {
		if now.Sub(b.renewed) < k.renewAfter || now.Sub(b.received) >= k.max {
			continue
		}
		b.renewed = now
		if out == nil {
			out = map[feed][]string{}
		}
		for i, d := range b.ds {
			if !b.settled[i] {
				out[b.f] = append(out[b.f], d.AckID)
			}
		}
	}
	return out
}
