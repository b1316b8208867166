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
//
// The queue has no bound of its own: queueing never waits, so that a
// feed whose settlements are stuck (a stream stalled in flow control)
// holds up neither the handlers nor the drain, and close's timeout
// bounds the shutdown. What it holds is bounded by the deliveries the
// router holds.
type batchingFeed struct {
	feed
	mu     sync.Mutex // guards closed and queue
	closed bool
	queue  []settlement
	more   chan struct{}      // a token when the queue gained a settlement or was closed
	done   chan struct{}      // closed when run has applied the last settlement
	ctx    context.Context    // settlements are applied with it
	abort  context.CancelFunc // cancels ctx: a close that gave up stops applying
}

// maxApplied is how many queued settlements run takes at a time.
const maxApplied = 1024

func withBatchedSettles(f feed) *batchingFeed {
	ctx, abort := context.WithCancel(context.Background())
	b := &batchingFeed{feed: f, more: make(chan struct{}, 1), done: make(chan struct{}), ctx: ctx, abort: abort}
	go b.run()
	return b
}

// settle queues st; once the feed is closed, it settles directly.
func (b *batchingFeed) settle(ctx context.Context, st settlement) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.feed.settle(ctx, st)
		return
	}
	b.queue = append(b.queue, st)
	b.mu.Unlock()
	b.wake()
}

// wake leaves run a token, unless one is there.
func (b *batchingFeed) wake() {
	select {
	case b.more <- struct{}{}:
	default:
	}
}

func (b *batchingFeed) close(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.wake()
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

// run applies queued settlements: whatever has queued up goes together
// (up to maxApplied), its acks merged into one settlement. It ends once
// the feed is closed and the queue is empty.
func (b *batchingFeed) run() {
	defer close(b.done)
	for {
		batch, closed := b.take()
		if len(batch) == 0 {
			if closed {
				return
			}
			<-b.more
			continue
		}
		for _, st := range mergeAcks(batch) {
			b.feed.settle(b.ctx, st)
		}
	}
}

// take takes up to maxApplied queued settlements, and says whether the
// feed is closed.
func (b *batchingFeed) take() ([]settlement, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(len(b.queue), maxApplied)
	batch := b.queue[:n:n]
	if b.queue = b.queue[n:]; len(b.queue) == 0 {
		b.queue = nil // the next append starts a new array, letting this one go
	}
	return batch, b.closed
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
