package herald_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/internal/testserver"
)

type keyed struct {
	Key string `json:"key"`
	Seq int    `json:"seq"` // per key, from 0
}

// publishKeyed publishes n events over keys, each carrying its key's
// sequence number, in batches.
func publishKeyed(t *testing.T, c *herald.Client, topic string, from, n, keys int) {
	t.Helper()
	var batch []*herald.CloudEvent
	for i := from; i < from+n; i++ {
		k := fmt.Sprintf("k%d", i%keys)
		data, _ := json.Marshal(keyed{Key: k, Seq: i / keys})
		e := herald.MustNewEvent("tick", data, herald.WithSource("/load"))
		e.ID, e.PartitionKey = fmt.Sprintf("e%d", i), k
		batch = append(batch, e)
		if len(batch) == 100 || i == from+n-1 {
			publishRetrying(t, c, topic, batch)
			batch = nil
		}
	}
}

// publishRetrying publishes, retrying while the server is unreachable
// (the dedup window makes a retried batch harmless).
func publishRetrying(t *testing.T, c *herald.Client, topic string, batch []*herald.CloudEvent) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := c.Publish(context.Background(), topic, batch...)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// handledLog records every handler call, checking per-key order.
type handledLog struct {
	mu         sync.Mutex
	times      map[string]int // event id -> completed handler calls
	lastSeq    map[string]int // key -> highest seq handled
	outOfOrder []string
	retried    []string // events delivered more than once (attempt > 1)
}

func newHandledLog() *handledLog {
	return &handledLog{times: map[string]int{}, lastSeq: map[string]int{}}
}

func (h *handledLog) handle(ctx context.Context, e herald.Event[keyed]) error {
	time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
	h.mu.Lock()
	defer h.mu.Unlock()
	last, seen := h.lastSeq[e.Data.Key]
	if seen && e.Data.Seq < last {
		h.outOfOrder = append(h.outOfOrder, fmt.Sprintf("%s seq %d after %d", e.Data.Key, e.Data.Seq, last))
	}
	h.lastSeq[e.Data.Key] = max(last, e.Data.Seq)
	h.times[e.CloudEvent.ID]++
	if e.Attempt > 1 {
		h.retried = append(h.retried, fmt.Sprintf("%s at attempt %d", e.CloudEvent.ID, e.Attempt))
	}
	return nil
}

func (h *handledLog) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.times)
}

// runRouter starts a router on orders/work and returns its stop function,
// which drains it and waits until Run has returned.
func runRouter(t *testing.T, c *herald.Client, h *handledLog) (stop func()) {
	r := herald.NewRouter(c, herald.RouterOptions{Concurrency: 16})
	herald.Handle(r, "orders", "work", h.handle)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func setupWork(t *testing.T, c *herald.Client) {
	ctx := context.Background()
	two := 2
	if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{Partitions: &two}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutSubscription(ctx, "orders", "work", herald.SubscriptionConfig{Start: "earliest"}); err != nil {
		t.Fatal(err)
	}
}

func waitHandled(t *testing.T, h *handledLog, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for h.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("handled %d of %d events", h.count(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Routers stopped and started again while events flow: a graceful stop
// acks every finished handler before Run returns and releases what it took
// ahead, so no event is lost, none is handled twice or redelivered, and
// each key stays in order.
func TestRouter_DrainUnderLoadLosesNothingAndHandlesNothingTwice(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		const total, keys = 3000, 40
		setupWork(t, c)
		h := newHandledLog()
		published := make(chan struct{})
		go func() {
			defer close(published)
			publishKeyed(t, c, "orders", 0, total, keys)
		}()
		for _, upTo := range []int{total / 4, total / 2, 3 * total / 4} {
			stop := runRouter(t, c, h)
			waitHandled(t, h, upTo)
			stop()
		}
		stop := runRouter(t, c, h)
		<-published
		waitHandled(t, h, total)
		stop()
		h.mu.Lock()
		defer h.mu.Unlock()
		for id, n := range h.times {
			if n != 1 {
				t.Errorf("event %s handled %d times across graceful stops", id, n)
			}
		}
		if len(h.outOfOrder) > 0 {
			t.Errorf("per-key order broken: %v", h.outOfOrder[:min(5, len(h.outOfOrder))])
		}
		// Deliveries taken ahead and never started are released, not
		// nacked or left to expire: no graceful stop costs an attempt.
		if len(h.retried) > 0 {
			t.Errorf("%d deliveries came again after graceful stops, e.g. %v", len(h.retried), h.retried[:min(5, len(h.retried))])
		}
		info, err := c.Subscription(context.Background(), "orders", "work")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range info.Partitions {
			if p.Committed != p.End || p.InFlight != 0 {
				t.Errorf("partition %d: committed %d of %d, %d in flight", p.Partition, p.Committed, p.End, p.InFlight)
			}
		}
	})
}

// A server restart under a running router: the router reconnects and
// resumes; every event is handled, and only deliveries in flight at the
// restart may come twice (at-least-once).
func TestRemote_RouterKeepsWorkingAcrossAServerRestart(t *testing.T) {
	ts := testserver.Start(t, t.TempDir())
	c := ts.Connect(t)
	const total, keys = 1000, 40
	setupWork(t, c)
	h := newHandledLog()
	stop := runRouter(t, c, h)
	defer stop()
	publishKeyed(t, c, "orders", 0, total/2, keys)
	waitHandled(t, h, total/4)

	// A publisher keeps going through the restart; what the server
	// acknowledged must all be there afterwards.
	var mu sync.Mutex
	confirmed := map[string]herald.Result{}
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		for i := 0; i < 200; i++ {
			e := herald.MustNewEvent("tick", keyed{Key: "side", Seq: i}, herald.WithID(fmt.Sprintf("side-%d", i)), herald.WithKey("side"))
			if res, err := c.Publish(context.Background(), "orders", e); err == nil {
				mu.Lock()
				confirmed[e.ID] = res[0]
				mu.Unlock()
			}
			time.Sleep(time.Millisecond)
		}
	}()
	ts.Restart()
	publishKeyed(t, c, "orders", total/2, total/2, keys)
	<-pubDone
	waitHandled(t, h, total+len(confirmed))

	h.mu.Lock()
	twice := 0
	for _, n := range h.times {
		if n > 1 {
			twice++
		}
	}
	h.mu.Unlock()
	// In flight at the restart: up to 16 handlers plus 64 taken ahead.
	if twice > 16+4*16 { // Concurrency plus Prefetch
		t.Fatalf("%d events handled more than once; only those in flight at the restart may be", twice)
	}
	for id, r := range confirmed {
		evs, err := c.Read(context.Background(), "orders", r.Partition, r.Offset, 1)
		if err != nil || len(evs) != 1 || evs[0].ID != id {
			t.Fatalf("acknowledged %s at %d/%d is not there after the restart: %v %v", id, r.Partition, r.Offset, evs, err)
		}
	}
	t.Logf("%d of %d events handled twice (in flight at the restart); %d publishes acknowledged through it, none lost",
		twice, total, len(confirmed))
}

// A server shutting down gracefully stops delivering but lets a router
// settle what it was sent: a handler that finishes during the shutdown
// has its ack applied before the stream ends, and its event does not come
// again after the restart. (The stream used to end at once: the ack went
// as a call to the restarted server, came back stale, and the event was
// handled twice.)
func TestRemote_AServerShuttingDownAppliesTheAcksOfDeliveriesInFlight(t *testing.T) {
	ts := testserver.Start(t, t.TempDir())
	c := ts.Connect(t)
	f := newFixture(t, c, 5)
	f.publish(3)
	var mu sync.Mutex
	handled := map[string]int{}
	started, release := make(chan struct{}, 3), make(chan struct{})
	r := herald.NewRouter(c, herald.RouterOptions{Concurrency: 3, Logger: slog.New(slog.DiscardHandler)})
	r.HandleFunc("orders", "billing", func(ctx context.Context, d *herald.Delivery) error {
		mu.Lock()
		handled[d.Event.ID]++
		first := handled[d.Event.ID] == 1
		mu.Unlock()
		if first {
			started <- struct{}{}
			<-release
		}
		return nil
	})
	f.run(r)
	for range 3 {
		<-started
	}
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		ts.Restart()
	}()
	time.Sleep(300 * time.Millisecond) // the shutdown has begun
	close(release)
	<-restarted
	eventually(t, "every event acked", func() bool { return f.committed() == 3 })
	time.Sleep(200 * time.Millisecond) // an event that comes again would come now
	mu.Lock()
	defer mu.Unlock()
	for id, n := range handled {
		if n != 1 {
			t.Errorf("event %s handled %d times; its ack was sent during the shutdown", id, n)
		}
	}
}

func TestRouter_BatchHandlerGetsBatchesAndDeadLettersUndecodableAlone(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		f := newFixture(t, c, 5)
		// Unordered: with key ordering a batch holds at most one event per key.
		if _, err := c.PutSubscription(ctx, "orders", "billing", herald.SubscriptionConfig{Ordering: herald.OrderNone}); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		seen, biggest := map[int]bool{}, 0
		r := herald.NewRouter(c, herald.RouterOptions{})
		herald.HandleBatch(r, "orders", "billing", herald.BatchOptions{MaxSize: 50, MaxWait: 50 * time.Millisecond},
			func(ctx context.Context, es []herald.Event[OrderPlaced]) error {
				mu.Lock()
				defer mu.Unlock()
				biggest = max(biggest, len(es))
				for _, e := range es {
					seen[e.Data.Order] = true
				}
				return nil
			})
		var batch []*herald.CloudEvent
		for i := 0; i < 300; i++ {
			batch = append(batch, herald.MustNewEvent("order.placed", []byte(`{"order":`+itoa(i)+`}`), herald.WithSource("/shop")))
		}
		batch = append(batch, herald.MustNewEvent("order.placed", []byte(`{"order":"x"}`), herald.WithSource("/shop")))
		if _, err := c.Publish(ctx, "orders", batch...); err != nil {
			t.Fatal(err)
		}
		f.run(r)
		eventually(t, "every event finished", func() bool { return f.committed() == 301 })
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 300 || biggest < 2 || biggest > 50 {
			t.Fatalf("saw %d orders, biggest batch %d (want 300, 2..50)", len(seen), biggest)
		}
		if dead := f.deadLetters(); len(dead) != 1 {
			t.Fatalf("%d dead letters, want the undecodable event alone", len(dead))
		}
	})
}
