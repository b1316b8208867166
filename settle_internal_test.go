package herald

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/subscription"
)

// Acks merged from many handlers never exceed what one settlement may
// carry; the other settlements stay as they are.
func TestMergeAcks_SplitsAtTheAckIDLimit(t *testing.T) {
	var batch []settlement
	for i := 0; i < subscription.MaxAckIDs+5; i++ {
		batch = append(batch, settlement{kind: settleAck, ackIDs: []string{strconv.Itoa(i)}})
	}
	batch = append(batch, settlement{kind: settleNack, ackIDs: []string{"n"}, reason: "busy"})
	out := mergeAcks(batch)
	if len(out) != 3 || out[0].kind != settleNack || len(out[1].ackIDs) != subscription.MaxAckIDs || len(out[2].ackIDs) != 5 {
		t.Fatalf("merged into %d settlements: first %v, sizes %d, %d", len(out), out[0].kind, len(out[1].ackIDs), len(out[len(out)-1].ackIDs))
	}
}

// stuckFeed is a feed whose settlements cannot be applied (its server is
// down): each waits until its context ends.
type stuckFeed struct{ settling chan struct{} }

func (f *stuckFeed) next(ctx context.Context, free int) ([]*Delivery, error) { return nil, nil }
func (f *stuckFeed) close(ctx context.Context) error                         { return nil }
func (f *stuckFeed) settle(ctx context.Context, st settlement) {
	select {
	case f.settling <- struct{}{}:
	default:
	}
	<-ctx.Done()
}

// A close that gives up on settlements that cannot be applied also stops
// the goroutine applying them: it does not go on retrying after the
// router has returned.
func TestBatchingFeed_CloseThatGivesUpStopsApplying(t *testing.T) {
	f := &stuckFeed{settling: make(chan struct{}, 1)}
	b := withBatchedSettles(f)
	b.settle(context.Background(), settlement{kind: settleAck, ackIDs: []string{"a"}})
	b.settle(context.Background(), settlement{kind: settleNack, ackIDs: []string{"b"}, reason: "x"})
	<-f.settling
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := b.close(ctx); err == nil {
		t.Fatal("close returned nil with settlements unapplied")
	}
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the settlements are still being applied after the close gave up")
	}
}
