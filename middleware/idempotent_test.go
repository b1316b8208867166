package middleware

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldevents/herald"
)

// clock is a fake clock for the memory store.
type clock struct {
	mu sync.Mutex // Guards t.
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// counting counts its calls and returns what result says.
type counting struct {
	mu     sync.Mutex // Guards calls.
	calls  int
	result func() error
}

func (h *counting) handle(ctx context.Context, d *herald.Delivery) error {
	h.mu.Lock()
	h.calls++
	h.mu.Unlock()
	if h.result == nil {
		return nil
	}
	return h.result()
}

func (h *counting) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

func idemDelivery() *herald.Delivery {
	d := delivery()
	d.Event.Source = "/shop"
	return d
}

func TestIdempotent_SkipsAnEventAlreadyHandled(t *testing.T) {
	h := &counting{}
	mw := Idempotent(NewMemoryStore())(h.handle)
	for i := range 3 {
		if err := mw(context.Background(), idemDelivery()); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	if h.count() != 1 {
		t.Fatalf("handler ran %d times, want 1", h.count())
	}
}

func TestIdempotent_OtherTopicSubscriptionSourceOrIDRunsAgain(t *testing.T) {
	cases := []struct {
		name   string
		change func(d *herald.Delivery)
	}{
		{"other topic", func(d *herald.Delivery) { d.Topic = "payments" }},
		{"other subscription", func(d *herald.Delivery) { d.Subscription = "shipping" }},
		{"other source", func(d *herald.Delivery) { d.Event.Source = "/shop/eu" }},
		{"other id", func(d *herald.Delivery) { d.Event.ID = "e2" }},
		{"parts shifted across a boundary", func(d *herald.Delivery) { d.Topic, d.Subscription = "orders/bil", "ling" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := &counting{}
			mw := Idempotent(NewMemoryStore())(h.handle)
			other := idemDelivery()
			c.change(other)
			for _, d := range []*herald.Delivery{idemDelivery(), other} {
				if err := mw(context.Background(), d); err != nil {
					t.Fatal(err)
				}
			}
			if h.count() != 2 {
				t.Fatalf("handler ran %d times, want 2", h.count())
			}
		})
	}
}

func TestIdempotent_FailureIsNotRecorded(t *testing.T) {
	cases := []struct {
		name string
		fail func() error
	}{
		{"error", func() error { return errors.New("db down") }},
		{"permanent error", func() error { return herald.Permanent(errors.New("bad data")) }},
		{"panic", func() error { panic("boom") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			failed := false
			h := &counting{result: func() error {
				if !failed {
					failed = true
					return c.fail()
				}
				return nil
			}}
			mw := Idempotent(NewMemoryStore())(h.handle)
			first := callRecovering(mw, idemDelivery())
			if first == nil {
				t.Fatal("the failing delivery was acked")
			}
			// The claim was released: the redelivery runs at once, without
			// waiting for the lease.
			if err := mw(context.Background(), idemDelivery()); err != nil {
				t.Fatalf("redelivery: %v", err)
			}
			if h.count() != 2 {
				t.Fatalf("handler ran %d times, want 2", h.count())
			}
		})
	}
}

// callRecovering calls h and turns a panic into an error, as the router does.
func callRecovering(h herald.Handler, d *herald.Delivery) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = errors.New("panic")
		}
	}()
	return h(context.Background(), d)
}

func TestIdempotent_PermanentErrorStaysPermanent(t *testing.T) {
	h := &counting{result: func() error { return herald.Permanent(errors.New("bad data")) }}
	if err := Idempotent(NewMemoryStore())(h.handle)(context.Background(), idemDelivery()); !herald.IsPermanent(err) {
		t.Fatalf("error %v is no longer permanent", err)
	}
}

// The redelivery after an ack timeout, while the first delivery still
// runs, waits for it and is acked once it completes.
func TestIdempotent_ConcurrentDuplicateWaitsAndIsNotRunTwice(t *testing.T) {
	started, finish := make(chan struct{}), make(chan struct{})
	h := &counting{result: func() error {
		close(started)
		<-finish
		return nil
	}}
	mw := Idempotent(NewMemoryStore(), IdempotencyLease(time.Second))(h.handle)
	first := make(chan error, 1)
	go func() { first <- mw(context.Background(), idemDelivery()) }()
	<-started

	second := make(chan error, 1)
	go func() { second <- mw(context.Background(), idemDelivery()) }()
	select {
	case err := <-second:
		t.Fatalf("the duplicate returned %v while the first delivery still ran", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(finish)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatalf("duplicate after the first completed: %v", err)
	}
	if h.count() != 1 {
		t.Fatalf("handler ran %d times, want 1", h.count())
	}
}

// A waiting duplicate whose ctx ends first fails with ErrInProgress, an
// ordinary error: the event comes again.
func TestIdempotent_ADuplicateWhoseContextEndsWhileWaitingIsInProgress(t *testing.T) {
	store := NewMemoryStore()
	if st, err := store.Claim(context.Background(), idempotencyKey(idemDelivery()), "other", time.Minute); st != Claimed || err != nil {
		t.Fatalf("claim %s, %v", st, err)
	}
	h := &counting{}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := Idempotent(store)(h.handle)(ctx, idemDelivery())
	if !errors.Is(err, ErrInProgress) || !errors.Is(err, context.DeadlineExceeded) || herald.IsPermanent(err) {
		t.Fatalf("error %v, want a retryable ErrInProgress naming the deadline", err)
	}
	if h.count() != 0 {
		t.Fatalf("handler ran %d times while another delivery held the event", h.count())
	}
}

// A consumer that crashed mid-handler never releases its claim: the lease
// running out is what lets the event run again, and the redelivery waits
// for it.
func TestIdempotent_ClaimOfACrashedConsumerRunsOutWithItsLease(t *testing.T) {
	c := newClock()
	store := NewMemoryStore(MemoryStoreClock(c.Now))
	key := idempotencyKey(idemDelivery())
	if st, err := store.Claim(context.Background(), key, "crashed", time.Minute); st != Claimed || err != nil {
		t.Fatalf("claim %s, %v", st, err)
	}
	h := &counting{}
	mw := Idempotent(store, IdempotencyLease(200*time.Millisecond))(h.handle)
	done := make(chan error, 1)
	go func() { done <- mw(context.Background(), idemDelivery()) }()
	select {
	case err := <-done:
		t.Fatalf("within the crashed consumer's lease the delivery returned %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	c.Advance(time.Minute)
	if err := <-done; err != nil || h.count() != 1 {
		t.Fatalf("after the lease: error %v, %d calls", err, h.count())
	}
}

func TestIdempotent_RunsAgainAfterTTL(t *testing.T) {
	c := newClock()
	h := &counting{}
	mw := Idempotent(NewMemoryStore(MemoryStoreClock(c.Now)), IdempotencyTTL(time.Hour))(h.handle)
	deliver := func() {
		t.Helper()
		if err := mw(context.Background(), idemDelivery()); err != nil {
			t.Fatal(err)
		}
	}
	deliver()
	c.Advance(time.Hour - time.Second)
	deliver()
	if h.count() != 1 {
		t.Fatalf("within the TTL the handler ran %d times, want 1", h.count())
	}
	c.Advance(time.Second)
	deliver()
	if h.count() != 2 {
		t.Fatalf("after the TTL the handler ran %d times, want 2", h.count())
	}
}

// A handler that succeeds just as its deadline passes is still recorded.
func TestIdempotent_RecordsAHandlerThatFinishedAsItsContextEnded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	h := &counting{result: func() error { cancel(); return nil }}
	mw := Idempotent(NewMemoryStore())(h.handle)
	if err := mw(ctx, idemDelivery()); err != nil {
		t.Fatal(err)
	}
	if err := mw(context.Background(), idemDelivery()); err != nil || h.count() != 1 {
		t.Fatalf("error %v, %d calls, want the event recorded", err, h.count())
	}
}

// failingStore fails the methods named in fail, and counts releases.
type failingStore struct {
	*MemoryStore
	fail     map[string]bool
	released int
}

var errStore = errors.New("store unreachable")

func (s *failingStore) Claim(ctx context.Context, key, token string, lease time.Duration) (ClaimState, error) {
	if s.fail["claim"] {
		return 0, errStore
	}
	return s.MemoryStore.Claim(ctx, key, token, lease)
}

func (s *failingStore) Complete(ctx context.Context, key string, ttl time.Duration) error {
	if s.fail["complete"] {
		return errStore
	}
	return s.MemoryStore.Complete(ctx, key, ttl)
}

func (s *failingStore) Release(ctx context.Context, key, token string) error {
	s.released++
	if s.fail["release"] {
		return errStore
	}
	return s.MemoryStore.Release(ctx, key, token)
}

func TestIdempotent_StoreErrorNacks(t *testing.T) {
	handlerErr := errors.New("handler failed")
	cases := []struct {
		name      string
		fail      string
		handler   error
		wantCalls int
		wantErrs  []error
	}{
		{"claim fails: the handler does not run", "claim", nil, 0, []error{errStore}},
		{"complete fails: the claim is released", "complete", nil, 1, []error{errStore}},
		{"release fails: both errors are returned", "release", handlerErr, 1, []error{handlerErr, errStore}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := &failingStore{MemoryStore: NewMemoryStore(), fail: map[string]bool{c.fail: true}}
			h := &counting{result: func() error { return c.handler }}
			err := Idempotent(store)(h.handle)(context.Background(), idemDelivery())
			if err == nil || herald.IsPermanent(err) || !strings.Contains(err.Error(), "idempotent: ") {
				t.Fatalf("error %v, want a retryable idempotent error", err)
			}
			for _, want := range c.wantErrs {
				if !errors.Is(err, want) {
					t.Fatalf("error %v does not wrap %v", err, want)
				}
			}
			if h.count() != c.wantCalls {
				t.Fatalf("handler ran %d times, want %d", h.count(), c.wantCalls)
			}
			if c.fail == "complete" && store.released != 1 {
				t.Fatalf("%d releases after a failed complete, want 1", store.released)
			}
		})
	}
}

func TestIdempotent_MemoryStoreForgetsExpiredEvents(t *testing.T) {
	c := newClock()
	store := NewMemoryStore(MemoryStoreClock(c.Now))
	mw := Idempotent(store, IdempotencyTTL(time.Hour))(func(context.Context, *herald.Delivery) error { return nil })
	for i := range 1000 {
		d := idemDelivery()
		d.Event.ID = "e" + strings.Repeat("x", i%50) + string(rune('a'+i/50))
		if err := mw(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		c.Advance(10 * time.Second)
	}
	// One event every 10s and a TTL of 1h: at most 360 live, plus what
	// expired since the last sweep (one a minute: 6).
	store.mu.Lock()
	defer store.mu.Unlock()
	if n := len(store.entries); n > 366 {
		t.Fatalf("store holds %d entries, want at most 366", n)
	}
}

func TestIdempotencyKey_IsUnambiguous(t *testing.T) {
	parts := [][4]string{
		{"a/b", "c", "s", "i"},
		{"a", "b/c", "s", "i"},
		{"a", "bc", "s", "i"},
		{"ab", "c", "s", "i"},
		{"a", "b", "cs", "i"},
		{"a", "b", "c", "si"},
		{"1:a", "", "s", "i"},
		{"", "1:a", "s", "i"},
	}
	seen := map[string][4]string{}
	for _, p := range parts {
		d := &herald.Delivery{Topic: p[0], Subscription: p[1], Event: &herald.CloudEvent{Source: p[2], ID: p[3]}}
		k := idempotencyKey(d)
		if prev, ok := seen[k]; ok {
			t.Fatalf("%q and %q share the key %q", prev, p, k)
		}
		seen[k] = p
	}
}

func TestIdempotencyKey_HashesLongKeys(t *testing.T) {
	d := idemDelivery()
	d.Event.Source = strings.Repeat("s", 1000)
	k := idempotencyKey(d)
	if len(k) > maxKeyLen || !strings.HasPrefix(k, "sha256:") {
		t.Fatalf("key %q", k)
	}
	d.Event.ID = "e2"
	if idempotencyKey(d) == k {
		t.Fatal("two long keys hash alike")
	}
}

func TestIdempotent_RefusesNonPositiveDurations(t *testing.T) {
	for _, o := range []IdempotentOption{IdempotencyTTL(0), IdempotencyLease(-time.Second)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			Idempotent(NewMemoryStore(), o)
		}()
	}
}

// Without a store every event would panic in the handler chain, be
// nacked and end in the dead letters; the mistake is refused up front.
func TestIdempotent_RefusesANilStore(t *testing.T) {
	defer func() {
		if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "store") {
			t.Fatalf("recovered %v, want a panic naming the missing store", p)
		}
	}()
	Idempotent(nil)
}

// A MemoryStore declared without NewMemoryStore works as an empty one,
// instead of panicking at every event and so dead-lettering them all.
func TestIdempotent_ZeroMemoryStoreIsReady(t *testing.T) {
	h := &counting{}
	mw := Idempotent(&MemoryStore{})(h.handle)
	for i := range 2 {
		if err := callRecovering(mw, idemDelivery()); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	if h.count() != 1 {
		t.Fatalf("handler ran %d times, want 1", h.count())
	}
}

// A consumer that took an event, claimed it and crashed leaves its claim
// for a lease longer than the subscription's ack timeout and backoff: the
// redeliveries wait the claim out under the Router's lease instead of
// using up their attempts, so the event is handled, not dead-lettered.
func TestIdempotent_AnEventWhoseConsumerCrashedMidHandlerIsHandledNotDeadLettered(t *testing.T) {
	c, err := herald.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutSubscription(ctx, "orders", "billing", herald.SubscriptionConfig{Start: "earliest",
		AckTimeout: time.Second, MaxAttempts: 3, Backoff: herald.Backoff{Initial: 50 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 2}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop"))); err != nil {
		t.Fatal(err)
	}
	ds, err := c.Pull(ctx, "orders", "billing", 1, time.Second)
	if err != nil || len(ds) != 1 {
		t.Fatalf("pull: %d deliveries, %v", len(ds), err)
	}
	store := NewMemoryStore()
	if st, err := store.Claim(ctx, idempotencyKey(ds[0]), "crashed", 2500*time.Millisecond); st != Claimed || err != nil {
		t.Fatalf("claim %s, %v", st, err)
	}

	h := &counting{}
	r := herald.NewRouter(c, herald.RouterOptions{})
	r.Use(Idempotent(store, IdempotencyLease(2500*time.Millisecond)))
	r.HandleFunc("orders", "billing", h.handle)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := c.Subscription(ctx, "orders", "billing")
		if err != nil {
			t.Fatal(err)
		}
		if p := info.Partitions[0]; p.DeadLettered > 0 {
			t.Fatalf("the event went to the dead letters after %d handler calls", h.count())
		} else if p.Committed == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the event was not handled within 10s: %+v, %d handler calls", info.Partitions[0], h.count())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if h.count() != 1 {
		t.Fatalf("handler ran %d times, want 1", h.count())
	}
}
