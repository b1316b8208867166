package herald

import (
	"context"
	"sync"

	"github.com/heraldevents/herald/internal/subscription"
)

// batchingFeed queues a feed's settlements and applies them in the
// background, merging the acks that queue up meanwhile into one: a
// handler's slot frees as soon as its result is queued, not once it is
// durable, and one durable write (or one message) answers many handlers.
// close applies everything queued before it closes the feed.
type batchingFeed struct {
	feed
	mu     sync.RWMutex // held shared to queue, exclusively to close the queue
	closed bool
	queue  chan settlement
	done   chan struct{}      // closed when run has applied the last settlement
	ctx    context.Context    // settlements are applied with it
	abort  context.CancelFunc // cancels ctx: a close that gave up stops applying
}

func withBatchedSettles(f feed) *batchingFeed {
	ctx, abort := context.WithCancel(context.Background())
	b := &batchingFeed{feed: f, queue: make(chan settlement, 4096), done: make(chan struct{}), ctx: ctx, abort: abort}
	go b.run()
	return b
}

// settle queues st (waiting while the queue is full); once the feed is
// closed, it settles directly.
func (b *batchingFeed) settle(ctx context.Context, st settlement) {
	b.mu.RLock()
	if !b.closed {
		b.queue <- st
		b.mu.RUnlock()
		return
	}
	b.mu.RUnlock()
	b.feed.settle(ctx, st)
}

func (b *batchingFeed) close(ctx context.Context) error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.queue)
	}
	b.mu.Unlock()
	select {
	case <-b.done:
	case <-ctx.Done():
		b.abort() // what is left is not retried (its events come again), so run ends soon
		// The feed is closed all the same, with ctx done: a stream is
		// ended at once instead of left open.
		b.feed.close(ctx)
		return ctx.Err()
	}
	defer b.abort()
	return b.feed.close(ctx)
}

// run applies queued settlements: whatever has queued up goes together,
// its acks merged into one settlement.
func (b *batchingFeed) run() {
	defer close(b.done)
	for st := range b.queue {
		batch := []settlement{st}
	more:
		for len(batch) < 1024 {
			select {
			case next, ok := <-b.queue:
				if !ok {
					break more
				}
				batch = append(batch, next)
			default:
				break more
			}
		}
		for _, st := range mergeAcks(batch) {
			b.feed.settle(b.ctx, st)
		}
	}
}

// mergeAcks returns the batch with its acks merged into settlements of at
// most subscription.MaxAckIDs ids, after the others.
func mergeAcks(batch []settlement) []settlement {
	out := batch[:0:0]
	var acks []string
	for _, st := range batch {
		if st.kind == settleAck {
			acks = append(acks, st.ackIDs...)
		} else {
			out = append(out, st)
		}
	}
	for len(acks) > 0 {
		n := min(len(acks), subscription.MaxAckIDs)
		out = append(out, settlement{kind: settleAck, ackIDs: acks[:n]})
		acks = acks[n:]
	}
	return out
}
