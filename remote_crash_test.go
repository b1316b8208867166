package herald_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldevents/herald"
)

// crashRand is the seeded random of a test's kill moments: the seed is
// logged, and HERALD_CRASH_SEED replays one.
func crashRand(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("HERALD_CRASH_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("HERALD_CRASH_SEED: %v", err)
		}
		seed = n
	}
	t.Logf("kill moments from seed %d (HERALD_CRASH_SEED=%d replays them)", seed, seed)
	return rand.New(rand.NewPCG(seed, 0))
}

// between returns a random duration in [lo, hi).
func between(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// killRounds SIGKILLs the server at random moments and starts it again on
// the same data and port, rounds times.
func killRounds(t *testing.T, s *serveProc, rng *rand.Rand, rounds int) {
	t.Helper()
	for i := 0; i < rounds; i++ {
		time.Sleep(between(rng, 100*time.Millisecond, 700*time.Millisecond))
		s.kill()
		time.Sleep(between(rng, 0, 300*time.Millisecond))
		s.start()
	}
}

// startCrashTest starts a crash test: its seeded random, a server process
// on a fresh data directory, and a client of it; no goroutine may be left
// when the test ends (checked last, after endCrashTest).
func startCrashTest(t *testing.T) (*rand.Rand, *serveProc, *herald.Client) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
	rng := crashRand(t)
	s := startServe(t, t.TempDir())
	return rng, s, connectProc(t, s)
}

// endCrashTest closes the client, which must close cleanly, and kills the
// server.
func endCrashTest(t *testing.T, c *herald.Client, s *serveProc) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	s.kill()
}

// connectProc connects a client to a server process; the client is
// closed when the test ends, if the test has not closed it.
func connectProc(t *testing.T, s *serveProc) *herald.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := herald.Connect(ctx, s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readAll reads every event of a topic's partitions.
func readAll(t *testing.T, c *herald.Client, topic string, partitions int) []*herald.CloudEvent {
	t.Helper()
	var all []*herald.CloudEvent
	for p := 0; p < partitions; p++ {
		for off := int64(0); ; {
			evs, err := c.Read(context.Background(), topic, p, off, 10000)
			if err != nil {
				t.Fatalf("read %s/%d at %d: %v", topic, p, off, err)
			}
			if len(evs) == 0 {
				break
			}
			all = append(all, evs...)
			off = evs[len(evs)-1].Offset + 1
		}
	}
	return all
}

var digits = regexp.MustCompile(`[0-9]+`)

// published is what a Publisher answered for each event handed to it.
type published struct {
	mu      sync.Mutex
	results map[string]*herald.PublishResult // event id -> its result
}

func (pl *published) add(id string, r *herald.PublishResult) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.results[id] = r
}

// A Publisher publishing batches while the server is SIGKILLed at random
// moments and started again: every event whose result said stored is in
// the log at the position it was given, no event is in the log twice, a
// key's events from one goroutine are stored in order (a failed batch
// leaves a gap, never a reordering), the failures say why, and the same
// Publisher and client go on publishing once the server is back.
func TestRemote_PublisherKeepsEveryAcknowledgedEventAcrossServerKills(t *testing.T) {
	rng, s, c := startCrashTest(t)
	ctx := context.Background()
	const partitions = 4
	n := partitions
	if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{Partitions: &n}); err != nil {
		t.Fatal(err)
	}
	p := c.NewPublisher(herald.PublisherOptions{MaxBatchEvents: 100, MaxInFlight: 4})
	pl := &published{results: map[string]*herald.PublishResult{}}
	stop := make(chan struct{})
	var producers sync.WaitGroup
	for g := 0; g < 2; g++ {
		producers.Go(func() {
			for i := 0; ; i++ {
				if i%20 == 0 {
					select {
					case <-stop:
						return
					case <-time.After(2 * time.Millisecond):
					}
				}
				id := fmt.Sprintf("g%d-%d", g, i)
				e := herald.MustNewEvent("tick", keyed{Key: "k" + strconv.Itoa(i%16), Seq: i},
					herald.WithSource("/crash"), herald.WithID(id), herald.WithKey("k"+strconv.Itoa(i%16)))
				pl.add(id, p.Publish(ctx, "orders", e))
			}
		})
	}
	killRounds(t, s, rng, 3)
	time.Sleep(300 * time.Millisecond) // publishing to the server back up
	close(stop)
	producers.Wait()
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := p.Flush(fctx); err != nil {
		t.Fatalf("flush: %v", err)
	}

	// The same Publisher goes on: the server is up, so all of these are stored.
	var after []*herald.PublishResult
	for i := 0; i < 300; i++ {
		id := fmt.Sprintf("after-%d", i)
		r := p.Publish(ctx, "orders", herald.MustNewEvent("tick", keyed{Key: "after", Seq: i}, herald.WithSource("/crash"), herald.WithID(id)))
		pl.add(id, r)
		after = append(after, r)
	}
	for i, r := range after {
		if _, err := r.Wait(fctx); err != nil {
			t.Fatalf("publish after-%d with the server back up: %v", i, err)
		}
	}

	stored := map[string]herald.Result{}
	failures := map[string]int{}
	for id, r := range pl.results {
		res, err := r.Wait(fctx)
		if err != nil {
			if errors.Is(err, herald.ErrPublisherClosed) || !strings.HasPrefix(err.Error(), "herald: publish a batch of ") {
				t.Errorf("event %s failed with %v; want the failure of its batch", id, err)
			}
			failures[digits.ReplaceAllString(err.Error(), "N")]++
			continue
		}
		stored[id] = res
	}
	inLog := map[string]*herald.CloudEvent{}
	last := map[string]int{} // producer and key -> the latest seq stored
	for _, e := range readAll(t, c, "orders", partitions) {
		if g, _, ok := strings.Cut(e.ID, "-"); ok && e.PartitionKey != "" {
			var k keyed
			if err := json.Unmarshal(e.Data, &k); err != nil {
				t.Fatal(err)
			}
			if prev, ok := last[g+"/"+k.Key]; ok && k.Seq <= prev {
				t.Errorf("event %s (seq %d of key %s) is stored after seq %d", e.ID, k.Seq, k.Key, prev)
			}
			last[g+"/"+k.Key] = k.Seq
		}
		if prev, ok := inLog[e.ID]; ok {
			t.Errorf("event %s is in the log twice: %d/%d and %d/%d", e.ID, prev.Partition, prev.Offset, e.Partition, e.Offset)
		}
		if _, ok := pl.results[e.ID]; !ok {
			t.Errorf("event %s in the log was never published", e.ID)
		}
		inLog[e.ID] = e
	}
	for id, res := range stored {
		e, ok := inLog[id]
		switch {
		case !ok:
			t.Errorf("event %s was acknowledged at %d/%d but is not in the log", id, res.Partition, res.Offset)
		case e.Partition != res.Partition || e.Offset != res.Offset:
			t.Errorf("event %s was acknowledged at %d/%d but is at %d/%d", id, res.Partition, res.Offset, e.Partition, e.Offset)
		}
	}
	if len(stored) == len(pl.results) {
		t.Logf("no publish failed: the kills missed every batch")
	}
	for msg, n := range failures {
		t.Logf("%d events failed with: %s", n, msg)
	}
	t.Logf("%d events published, %d acknowledged, %d in the log", len(pl.results), len(stored), len(inLog))
	if err := p.Close(fctx); err != nil {
		t.Fatal(err)
	}
	endCrashTest(t, c, s)
}

// setupCrashWork makes topic orders with partitions and subscription work
// on it (leases of ackTimeout), and publishes n events e0..e(n-1) over 16
// keys.
func setupCrashWork(t *testing.T, c *herald.Client, partitions, n int, ackTimeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{Partitions: &partitions}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutSubscription(ctx, "orders", "work", herald.SubscriptionConfig{Start: "earliest",
		AckTimeout: ackTimeout, MaxAttempts: 100}); err != nil {
		t.Fatal(err)
	}
	publishKeyed(t, c, "orders", 0, n, 16)
}

// keepPublishing publishes events e(from).. over 16 keys, ten every 10ms,
// until stop is closed, retrying each batch until it is stored; it returns
// the number of events published.
func keepPublishing(t *testing.T, c *herald.Client, from int, stop <-chan struct{}) <-chan int {
	n := make(chan int, 1)
	go func() {
		i := from
		defer func() { n <- i - from }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			var batch []*herald.CloudEvent
			for range 10 {
				k := fmt.Sprintf("k%d", i%16)
				e := herald.MustNewEvent("tick", keyed{Key: k, Seq: i / 16}, herald.WithSource("/load"), herald.WithID(fmt.Sprintf("e%d", i)), herald.WithKey(k))
				batch = append(batch, e)
				i++
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				_, err := c.Publish(context.Background(), "orders", batch...)
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("publish: %v", err)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()
	return n
}

// settledAll reports whether every event of the subscription is acked
// and nothing is in flight.
func settledAll(t *testing.T, c *herald.Client, topic, sub string) bool {
	info, err := c.Subscription(context.Background(), topic, sub)
	if err != nil {
		return false
	}
	for _, p := range info.Partitions {
		if p.Committed != p.End || p.InFlight != 0 || p.WaitingRetry != 0 {
			return false
		}
	}
	return true
}

// waitSettled waits until subscription work has acked every event of
// orders, and nothing is in flight.
func waitSettled(t *testing.T, c *herald.Client) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !settledAll(t, c, "orders", "work") {
		if time.Now().After(deadline) {
			info, err := c.Subscription(context.Background(), "orders", "work")
			t.Fatalf("timed out waiting for every event acked: %+v %v", info.Partitions, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFor waits up to d for cond.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A Router consuming while the server is SIGKILLed at random moments and
// started again: it reconnects by itself, every event is handled, only
// events whose acks were not yet durable come again, and Run ends cleanly
// afterwards, leaving no goroutine.
func TestRemote_RouterLosesNothingAcrossServerKills(t *testing.T) {
	rng, s, c := startCrashTest(t)
	const first, later = 500, 500
	setupCrashWork(t, c, 4, first, 2*time.Second) // what a kill cut off comes again soon
	h := newHandledLog()
	var logs lockedBuffer
	r := herald.NewRouter(c, herald.RouterOptions{Concurrency: 8, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	herald.Handle(r, "orders", "work", h.handle)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	waitHandled(t, h, 100)
	stop := make(chan struct{})
	produced := keepPublishing(t, c, first, stop)
	const rounds = 3
	killRounds(t, s, rng, rounds)
	close(stop)
	total := first + <-produced
	select {
	case err := <-done:
		t.Fatalf("Run ended across the restarts: %v", err)
	default:
	}
	publishKeyed(t, c, "orders", total, later, 16) // the Router goes on with new events
	total += later
	waitHandled(t, h, total)
	waitSettled(t, c)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	h.mu.Lock()
	twice := 0
	for id, n := range h.times {
		if n > 1 {
			twice++
		}
		if id == "" {
			t.Errorf("handled an event without an id")
		}
	}
	handled := len(h.times)
	h.mu.Unlock()
	if handled != total {
		t.Errorf("handled %d distinct events, want %d", handled, total)
	}
	// Only what was in flight at a kill comes again: at most Concurrency
	// plus Prefetch deliveries held, and the acks not yet durable (a
	// few milliseconds' worth), per kill.
	if limit := rounds * 2 * (8 + 4*8); twice > limit {
		t.Errorf("%d events handled more than once; at most %d were in flight at the kills", twice, limit)
	}
	t.Logf("%d of %d events handled more than once (in flight or acked and not yet durable at a kill); the router logged:\n%s", twice, total, logs.String())
	endCrashTest(t, c, s)
}

// A consumer pulling and acking by hand while the server is SIGKILLed at
// random moments: an event whose Ack answered it acked is never delivered
// again, and every event is acked in the end.
func TestRemote_AnAckThatSucceededIsNeverRedeliveredAcrossServerKills(t *testing.T) {
	rng, s, c := startCrashTest(t)
	const first = 500
	setupCrashWork(t, c, 4, first, 2*time.Second) // a pull whose answer a kill cut off comes again soon
	var mu sync.Mutex
	acked := map[string]bool{} // event id -> an Ack answered it acked
	seen := map[string]bool{}  // event id -> delivered
	var redelivered []string
	var lastErr string
	stop := make(chan struct{})
	consumerDone := make(chan struct{})
	go func() {
		defer close(consumerDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			pctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			ds, err := c.Pull(pctx, "orders", "work", 100, 100*time.Millisecond)
			if err != nil {
				mu.Lock()
				lastErr = "pull: " + err.Error()
				mu.Unlock()
				cancel()
				time.Sleep(20 * time.Millisecond)
				continue
			}
			ids := map[string]string{} // ack id -> event id
			var ackIDs []string
			mu.Lock()
			for _, d := range ds {
				seen[d.Event.ID] = true
				if acked[d.Event.ID] {
					redelivered = append(redelivered, fmt.Sprintf("%s (attempt %d)", d.Event.ID, d.Attempt))
				}
				ids[d.AckID] = d.Event.ID
				ackIDs = append(ackIDs, d.AckID)
			}
			mu.Unlock()
			if len(ackIDs) == 0 {
				cancel()
				continue
			}
			res, err := c.Ack(pctx, "orders", "work", ackIDs...)
			cancel()
			mu.Lock()
			if err != nil {
				lastErr = "ack: " + err.Error()
				mu.Unlock()
				continue
			}
			for _, id := range res.Acked {
				acked[ids[id]] = true
			}
			mu.Unlock()
		}
	}()
	stopProducing := make(chan struct{})
	produced := keepPublishing(t, c, first, stopProducing)
	killRounds(t, s, rng, 3)
	close(stopProducing)
	total := first + <-produced
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		t.Logf("%d delivered, %d answered acked; last error %s", len(seen), len(acked), lastErr)
	})
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-consumerDone
	}()
	// An ack whose answer a kill cut off may have taken effect: its
	// event is done, though not answered acked.
	waitFor(t, 20*time.Second, "every event delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == total
	})
	waitSettled(t, c)
	close(stop)
	mu.Lock()
	defer mu.Unlock()
	if len(redelivered) > 0 {
		t.Errorf("%d events delivered again after an Ack answered them acked, e.g. %v", len(redelivered), redelivered[:min(5, len(redelivered))])
	}
	endCrashTest(t, c, s)
}

// A graceful shutdown (SIGTERM) while a Publisher publishes and a Router
// acks: the server exits cleanly, every publish in flight either succeeds
// (and is in the log after the restart) or fails saying why, and the
// Router's acks take effect, also of handlers that finish during the
// shutdown: no event is handled twice.
func TestRemote_GracefulShutdownLosesNoPublishAndNoAck(t *testing.T) {
	rng, s, c := startCrashTest(t)
	ctx := context.Background()
	const first = 3000
	// Leases that outlast any stall of a busy machine: an event comes
	// again only if its ack is lost.
	setupCrashWork(t, c, 4, first, time.Minute)
	var mu sync.Mutex
	finished := map[string]time.Time{} // event id -> when its handler returned nil (first time)
	var again []string                 // events handled again
	var termAt time.Time
	r := herald.NewRouter(c, herald.RouterOptions{Concurrency: 16, Logger: slog.New(slog.DiscardHandler)})
	r.HandleFunc("orders", "work", func(ctx context.Context, d *herald.Delivery) error {
		time.Sleep(time.Duration(2+d.Event.Offset%4) * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		if at, ok := finished[d.Event.ID]; ok {
			again = append(again, fmt.Sprintf("%s (attempt %d, first handled %s after the signal)", d.Event.ID, d.Attempt, at.Sub(termAt)))
			return nil
		}
		finished[d.Event.ID] = time.Now()
		return nil
	})
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()

	p := c.NewPublisher(herald.PublisherOptions{MaxBatchEvents: 100, MaxInFlight: 4})
	pl := &published{results: map[string]*herald.PublishResult{}}
	stop := make(chan struct{})
	var producer sync.WaitGroup
	producer.Go(func() {
		for i := 0; ; i++ {
			if i%20 == 0 {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
			}
			id := fmt.Sprintf("side-%d", i)
			pl.add(id, p.Publish(ctx, "side", herald.MustNewEvent("tick", keyed{Key: "side", Seq: i}, herald.WithSource("/crash"), herald.WithID(id))))
		}
	})
	stopOrders := make(chan struct{})
	produced := keepPublishing(t, c, first, stopOrders) // the router is busy when the signal comes
	time.Sleep(between(rng, 200*time.Millisecond, 800*time.Millisecond))
	mu.Lock()
	termAt = time.Now()
	mu.Unlock()
	err, stderr := s.term()
	if err != nil {
		t.Errorf("herald serve after SIGTERM: %v\n%s", err, stderr)
	}
	time.Sleep(between(rng, 0, 200*time.Millisecond))
	s.start()
	time.Sleep(200 * time.Millisecond)
	close(stop)
	close(stopOrders)
	producer.Wait()
	total := first + <-produced
	fctx, fcancel := context.WithTimeout(ctx, 20*time.Second)
	defer fcancel()
	if err := p.Close(fctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "every event handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(finished) == total
	})
	waitSettled(t, c)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}

	inLog := map[string]*herald.CloudEvent{}
	for _, e := range readAll(t, c, "side", 1) {
		inLog[e.ID] = e
	}
	failures := map[string]int{}
	stored := 0
	for id, r := range pl.results {
		res, err := r.Wait(fctx)
		if err != nil {
			failures[err.Error()]++
			continue
		}
		stored++
		if e, ok := inLog[id]; !ok || e.Offset != res.Offset {
			t.Errorf("event %s was acknowledged at offset %d; in the log: %v", id, res.Offset, ok)
		}
	}
	for msg, n := range failures {
		t.Logf("%d events failed with: %s", n, msg)
	}
	t.Logf("%d events published through the shutdown, %d acknowledged", len(pl.results), stored)
	mu.Lock()
	defer mu.Unlock()
	if len(again) > 0 {
		t.Errorf("%d events handled again though their handler had returned nil, e.g. %v", len(again), again[:min(5, len(again))])
	}
	endCrashTest(t, c, s)
}
