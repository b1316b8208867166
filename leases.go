package herald

import (
	"context"
	"sync"
	"time"

	"github.com/heraldevents/herald/internal/subscription"
)

// A Router keeps the leases of the deliveries it holds, so that none runs
// out, and comes again to another consumer, while the Router still means
// to handle it: a delivery waiting for a free handler (Prefetch), or
// received by a remote feed and not yet taken, or being handled. Every
// quarter of the subscription's ack timeout it extends by an ack timeout,
// in settlements of at most subscription.MaxAckIDs per feed, the leases
// that began or were last extended at least an eighth of an ack timeout
// ago: a lease is renewed with about three quarters of it left. It stops
// once RouterOptions.MaxExtension has passed since the delivery came; the
// lease then runs out and the event comes again, so a handler stuck for
// good does not hold its key forever. (Google Pub/Sub's clients extend
// the same way; JetStream leaves it to each handler's InProgress.) A
// delivery is held until it is settled or given back, also when its feed
// broke: its handler may still be running, and its extensions go as
// Settle calls then, one round at a time per feed.
//
// Deliveries are held in the batches they came in: a batch is renewed as
// one, and a delivery marks itself settled through its index in it, so
// holding costs a map entry per batch, not per delivery.
type leaseKeeper struct {
	every    time.Duration // between renewals: a quarter of the ack timeout
	extendBy time.Duration // the ack timeout, as it was when the Router started
	max      time.Duration // no lease is extended this long after its delivery came

	mu        sync.Mutex // guards held, every heldBatch in it, and extending
	held      map[*heldBatch]struct{}
	extending map[feed]bool // feeds with a round of extensions in flight

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
	k := &leaseKeeper{every: ackTimeout / 4, extendBy: ackTimeout, max: max,
		held: map[*heldBatch]struct{}{}, extending: map[feed]bool{}, cancel: cancel}
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
		if b == nil {
			continue
		}
		d.held = nil // a Delivery kept by the user does not keep its batch
		b.settled[d.heldIndex] = true
		if b.left--; b.left == 0 {
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
				k.wg.Go(func() { k.extend(ctx, f, ids) })
			}
		case <-ctx.Done():
			return
		}
	}
}

// due returns, per feed, the ack ids to extend now, and counts them as
// extended. A feed whose last round is still in flight (a broken feed
// retrying while its server is down) is left for the next tick.
func (k *leaseKeeper) due(now time.Time) map[feed][]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out map[feed][]string
	for b := range k.held {
		// Half a period, not a whole one: a tick taken late must not
		// make the next one skip the batch.
		if now.Sub(b.renewed) < k.every/2 || now.Sub(b.received) >= k.max || k.extending[b.f] {
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
	for f := range out {
		k.extending[f] = true
	}
	return out
}

// extend sends one round of extensions to f, in settlements the server
// takes (at most subscription.MaxAckIDs ids each).
func (k *leaseKeeper) extend(ctx context.Context, f feed, ids []string) {
	defer func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		delete(k.extending, f)
	}()
	for len(ids) > 0 {
		n := min(len(ids), subscription.MaxAckIDs)
		f.settle(ctx, settlement{kind: settleExtend, ackIDs: ids[:n], delay: k.extendBy})
		ids = ids[n:]
	}
}
