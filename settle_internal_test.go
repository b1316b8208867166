package herald

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
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
type stuckFeed struct {
	settling chan struct{}
	closed   atomic.Bool
}

func (f *stuckFeed) next(ctx context.Context, free int) ([]*Delivery, error) { return nil, nil }
func (f *stuckFeed) close(ctx context.Context) error                         { f.closed.Store(true); return nil }
func (f *stuckFeed) settle(ctx context.Context, st settlement) {
	select {
	case f.settling <- struct{}{}:
	default:
	}
	<-ctx.Done()
}

// A close that gives up on settlements that cannot be applied also stops
// the goroutine applying them: it does not go on retrying after the
// router has returned. The feed under it is closed all the same (a
// stream ended, not left open).
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
	if !f.closed.Load() {
		t.Fatal("the feed under it was left open")
	}
}

// recordingFeed records the settlements given to it; each waits for
// release, so that a round of them stays in flight.
type recordingFeed struct {
	mu      sync.Mutex
	got     []settlement
	release chan struct{}
}

func (f *recordingFeed) next(ctx context.Context, free int) ([]*Delivery, error) { return nil, nil }
func (f *recordingFeed) close(ctx context.Context) error                         { return nil }
func (f *recordingFeed) settle(ctx context.Context, st settlement) {
	<-f.release
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, st)
}

// A lease keeper extends many deliveries in settlements the server takes
// (at most MaxAckIDs ids each), one round at a time per feed, and not
// the deliveries settled meanwhile.
func TestLeaseKeeper_ExtendsInSettlementsOfAtMostMaxAckIDs(t *testing.T) {
	k := &leaseKeeper{every: time.Second, extendBy: 4 * time.Second, max: time.Hour,
		held: map[*heldBatch]struct{}{}, extending: map[feed]bool{}}
	f := &recordingFeed{release: make(chan struct{})}
	ds := make([]*Delivery, 2*subscription.MaxAckIDs+5)
	for i := range ds {
		ds[i] = &Delivery{AckID: strconv.Itoa(i)}
	}
	k.hold(f, ds)
	k.drop(ds[:3])
	if ds[0].held != nil {
		t.Fatal("a settled delivery still refers to its batch")
	}
	now := time.Now()
	if got := k.due(now.Add(time.Second / 4)); got != nil {
		t.Fatalf("extended %d feeds' leases an eighth of an ack timeout after they came", len(got))
	}
	due := k.due(now.Add(time.Second / 2))
	ids := due[f]
	if len(due) != 1 || len(ids) != len(ds)-3 || ids[0] != "3" {
		t.Fatalf("due: %d feeds, %d ids starting %q; want 1 feed, %d ids from 3", len(due), len(ids), ids[0], len(ds)-3)
	}
	done := make(chan struct{})
	go func() { defer close(done); k.extend(context.Background(), f, ids) }()
	if again := k.due(now.Add(3 * time.Second)); again != nil {
		t.Fatal("a second round went while the first was in flight")
	}
	close(f.release)
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	total := 0
	for _, st := range f.got {
		if st.kind != settleExtend || len(st.ackIDs) > subscription.MaxAckIDs || st.delay != 4*time.Second {
			t.Fatalf("settlement %v of %d ids, delay %s", st.kind, len(st.ackIDs), st.delay)
		}
		total += len(st.ackIDs)
	}
	if len(f.got) != 3 || total != len(ds)-3 {
		t.Fatalf("%d settlements of %d ids in all, want 3 of %d", len(f.got), total, len(ds)-3)
	}
	if k.due(now.Add(3*time.Second)) == nil {
		t.Fatal("no round after the first ended")
	}
}
