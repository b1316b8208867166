package herald_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/testserver"
)

// pubFixture is an embedded client whose publish middleware records every
// batch (one Client.Publish) and runs hook, if set, before storing it.
type pubFixture struct {
	t       *testing.T
	c       *herald.Client
	mu      sync.Mutex
	batches [][]*herald.CloudEvent
}

func newPubFixture(t *testing.T, hook func(ctx context.Context, topic string, events []*herald.CloudEvent) error) *pubFixture {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	f := &pubFixture{t: t}
	record := func(next herald.PublishFunc) herald.PublishFunc {
		return func(ctx context.Context, topic string, events []*herald.CloudEvent) ([]herald.Result, error) {
			f.mu.Lock()
			f.batches = append(f.batches, events)
			f.mu.Unlock()
			if hook != nil {
				if err := hook(ctx, topic, events); err != nil {
					return nil, err
				}
			}
			return next(ctx, topic, events)
		}
	}
	c, err := herald.Open(t.TempDir(), herald.WithPublishMiddleware(record))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	f.c = c
	return f
}

// publisher returns a Publisher closed when the test ends.
func (f *pubFixture) publisher(opts herald.PublisherOptions) *herald.Publisher {
	p := f.c.NewPublisher(opts)
	f.t.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			f.t.Errorf("Close: %v", err)
		}
	})
	return p
}

// batchSizes returns the number of events of each batch published so far.
func (f *pubFixture) batchSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	sizes := make([]int, len(f.batches))
	for i, b := range f.batches {
		sizes[i] = len(b)
	}
	return sizes
}

// orderEvent is event n of a test, with a fixed id, time and size.
func orderEvent(n int, opts ...herald.EventOption) *herald.CloudEvent {
	opts = append([]herald.EventOption{herald.WithSource("/shop"), herald.WithID(fmt.Sprintf("order-%04d", n)),
		herald.WithTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}, opts...)
	return herald.MustNewEvent("order.placed", OrderPlaced{Order: n}, opts...)
}

// testTraceParent is a W3C traceparent for events that carry one.
const testTraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// tracedOrderEvent is orderEvent with a traceparent of its own: a
// Publisher counts it for its size alone, as it gets no trace when sent.
func tracedOrderEvent(n int) *herald.CloudEvent {
	e := orderEvent(n)
	e.TraceParent = testTraceParent
	return e
}

// padTo sets e's data to a JSON string that makes e size bytes as stored.
func padTo(e *herald.CloudEvent, size int) *herald.CloudEvent {
	e.Data = []byte(`""`)
	e.Data = []byte(`"` + strings.Repeat("a", size-e.Size()) + `"`)
	return e
}

func waitOK(t *testing.T, r *herald.PublishResult) herald.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := r.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return res
}

func waitErr(t *testing.T, r *herald.PublishResult) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := r.Wait(ctx)
	if err == nil {
		t.Fatal("Wait: no error")
	}
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		t.Fatal("Wait: no answer within 10s")
	}
	return err
}

func isDone(r *herald.PublishResult) bool {
	select {
	case <-r.Done():
		return true
	default:
		return false
	}
}

func TestPublisher_AnswersEachEventWithWhereItIsStored(t *testing.T) {
	f := newPubFixture(t, nil)
	ctx := context.Background()
	three := 3
	if _, _, err := f.c.PutTopic(ctx, "orders", herald.TopicSpec{Partitions: &three}); err != nil {
		t.Fatal(err)
	}
	p := f.publisher(herald.PublisherOptions{Linger: time.Millisecond, MaxBatchEvents: 50})
	var results []*herald.PublishResult
	for i := range 300 {
		results = append(results, p.Publish(ctx, "orders", orderEvent(i, herald.WithKey("customer-"+strconv.Itoa(i%10)))))
	}
	stored := map[[2]int64]string{} // partition, offset -> id
	for i, r := range results {
		res := waitOK(t, r)
		if res.ID != fmt.Sprintf("order-%04d", i) || res.Duplicate {
			t.Fatalf("event %d: result %+v", i, res)
		}
		stored[[2]int64{int64(res.Partition), res.Offset}] = res.ID
	}
	n := 0
	for part := range 3 {
		evs, err := f.c.Read(ctx, "orders", part, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if id := stored[[2]int64{int64(part), e.Offset}]; id != e.ID {
				t.Fatalf("partition %d offset %d holds %s, a result says %s", part, e.Offset, e.ID, id)
			}
			n++
		}
	}
	if n != 300 {
		t.Fatalf("%d events stored, want 300", n)
	}
}

func TestPublisher_GroupsEventsIntoBatchesOfMaxBatchEvents(t *testing.T) {
	f := newPubFixture(t, nil)
	p := f.publisher(herald.PublisherOptions{Linger: time.Hour, MaxBatchEvents: 100, MaxBufferedEvents: 10000})
	ctx := context.Background()
	var results []*herald.PublishResult
	for i := range 1000 {
		results = append(results, p.Publish(ctx, "orders", orderEvent(i)))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		waitOK(t, r)
	}
	sizes := f.batchSizes()
	if len(sizes) != 10 {
		t.Fatalf("%d publishes %v, want 10 batches of 100", len(sizes), sizes)
	}
	for _, n := range sizes {
		if n != 100 {
			t.Fatalf("batch sizes %v, want 10 batches of 100", sizes)
		}
	}
}

func TestPublisher_LingerSendsALoneEvent(t *testing.T) {
	f := newPubFixture(t, nil)
	const linger = 50 * time.Millisecond
	p := f.publisher(herald.PublisherOptions{Linger: linger})
	start := time.Now()
	res := waitOK(t, p.Publish(context.Background(), "orders", orderEvent(1)))
	if took := time.Since(start); took < linger {
		t.Fatalf("sent after %v, before the linger of %v passed", took, linger)
	}
	if res.Offset != 0 || len(f.batchSizes()) != 1 {
		t.Fatalf("result %+v, batches %v", res, f.batchSizes())
	}
}

func TestPublisher_WithoutLingerSendsAtOnce(t *testing.T) {
	f := newPubFixture(t, nil)
	p := f.publisher(herald.PublisherOptions{})
	waitOK(t, p.Publish(context.Background(), "orders", orderEvent(1)))
}

func TestPublisher_SplitsBatchesAtMaxBatchBytes(t *testing.T) {
	f := newPubFixture(t, nil)
	size := tracedOrderEvent(0).Size()
	limit := 3*size + size/2
	p := f.publisher(herald.PublisherOptions{Linger: time.Hour, MaxBatchBytes: limit, MaxInFlight: 1})
	ctx := context.Background()
	for i := range 10 {
		p.Publish(ctx, "orders", tracedOrderEvent(i))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(f.batchSizes()); got != "[3 3 3 1]" {
		t.Fatalf("batch sizes %s, want [3 3 3 1] (%d-byte events, %d bytes a batch)", got, size, limit)
	}
}

func TestPublisher_BadEventFailsAloneAndIsNotSent(t *testing.T) {
	f := newPubFixture(t, nil)
	p := f.publisher(herald.PublisherOptions{Linger: time.Hour})
	ctx := context.Background()
	invalid := orderEvent(2)
	invalid.Type = ""
	huge := herald.MustNewEvent("order.placed", []byte(`"`+strings.Repeat("x", 1<<20)+`"`), herald.WithSource("/shop"))
	good1 := p.Publish(ctx, "orders", orderEvent(1))
	bad := []*herald.PublishResult{
		p.Publish(ctx, "orders", invalid),
		p.Publish(ctx, "orders", huge),
		p.Publish(ctx, "orders", nil),
	}
	good2 := p.Publish(ctx, "orders", orderEvent(3))
	for i, r := range bad {
		if !isDone(r) {
			t.Fatalf("bad event %d not answered at once", i)
		}
	}
	var verr *event.ValidationError
	if err := waitErr(t, bad[0]); !errors.Is(err, broker.ErrInvalidEvent) || !errors.As(err, &verr) || verr.Attribute != "type" {
		t.Errorf("invalid event: %v", err)
	}
	if err := waitErr(t, bad[1]); !errors.Is(err, broker.ErrEventTooLarge) {
		t.Errorf("huge event: %v", err)
	}
	if err := waitErr(t, bad[2]); !errors.Is(err, broker.ErrInvalidEvent) {
		t.Errorf("nil event: %v", err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if r1, r2 := waitOK(t, good1), waitOK(t, good2); r1.Offset != 0 || r2.Offset != 1 {
		t.Fatalf("good events at %+v %+v", r1, r2)
	}
	if got := fmt.Sprint(f.batchSizes()); got != "[2]" {
		t.Fatalf("batches %s, want one of the 2 good events", got)
	}
}

// On a client with publish middleware, which may write a trace into
// events without one (TracingPublish does), a Publisher measures such an
// event with room for a W3C traceparent and 512 bytes of tracestate: one
// that would be over the limit with them fails alone at Publish, and its
// batch is stored.
func TestPublisher_LeavesRoomForTheTraceMiddlewareMayWrite(t *testing.T) {
	traceState := "vendor=" + strings.Repeat("x", 505) // 512 bytes
	f := newPubFixture(t, func(ctx context.Context, topic string, events []*herald.CloudEvent) error {
		for _, e := range events {
			if e.TraceParent == "" {
				e.TraceParent, e.TraceState = testTraceParent, traceState
			}
		}
		return nil
	})
	p := f.publisher(herald.PublisherOptions{Linger: time.Hour})
	ctx := context.Background()
	trace := (&herald.CloudEvent{TraceParent: testTraceParent, TraceState: traceState}).Size()
	over := p.Publish(ctx, "orders", padTo(orderEvent(1), 1<<20-trace+1))
	fits := p.Publish(ctx, "orders", padTo(orderEvent(2), 1<<20-trace))
	traced := p.Publish(ctx, "orders", padTo(tracedOrderEvent(3), 1<<20)) // keeps its own trace
	if !isDone(over) {
		t.Fatal("an event over the limit with the trace it may get was accepted")
	}
	if err := waitErr(t, over); !errors.Is(err, herald.ErrEventTooLarge) {
		t.Fatalf("event over the limit with its trace: %v, want ErrEventTooLarge", err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*herald.PublishResult{fits, traced} {
		res := waitOK(t, r)
		got, err := f.c.Read(ctx, "orders", res.Partition, res.Offset, 1)
		if err != nil || len(got) != 1 || got[0].Size() != 1<<20 || got[0].TraceParent != testTraceParent {
			t.Fatalf("read back %s: %v, %v; want it 1 MiB with a traceparent", res.ID, got, err)
		}
	}
}

// A batch a Publisher makes within its limits is stored, embedded and
// remote, also when its events encode to more bytes on the wire than they
// take stored (many extensions with short names do): the server reads a
// request of any batch the broker takes.
func TestPublisher_ABatchOfTheLargestSizeIsStoredWhateverItsEncoding(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		p := c.NewPublisher(herald.PublisherOptions{MaxBatchEvents: 1000, MaxBatchBytes: 32 << 20, Linger: time.Hour})
		defer p.Close(ctx)
		size := (32 << 20) / 1000
		var results []*herald.PublishResult
		for i := range 1000 {
			opts := []herald.EventOption{herald.WithSource("/s"), herald.WithID(fmt.Sprintf("e-%04d", i))}
			for x := range 300 { // 5 bytes more each in protobuf than stored: 1.5 MB a batch
				opts = append(opts, herald.WithExtension(fmt.Sprintf("x%03d", x), ""))
			}
			results = append(results, p.Publish(ctx, "orders", padTo(herald.MustNewEvent("t", nil, opts...), size)))
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for _, r := range []*herald.PublishResult{results[0], results[999]} {
			if _, err := r.Wait(ctx); err != nil {
				t.Fatalf("a batch of 1,000 events of %d bytes: %v", size, err)
			}
		}
	})
}

// A remote client's Publisher keeps to the event size limit its server
// announces (herald serve --max-event-bytes), below or above 1 MiB: an
// event over it fails alone at Publish, and one within it is stored.
func TestPublisher_KeepsToTheEventLimitOfItsServer(t *testing.T) {
	for _, limit := range []int{4 << 10, 2 << 20} {
		t.Run(strconv.Itoa(limit), func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t) })
			c := testserver.StartWith(t, t.TempDir(), testserver.Options{MaxEventBytes: limit}).Connect(t)
			ctx := context.Background()
			p := c.NewPublisher(herald.PublisherOptions{Linger: time.Hour})
			defer p.Close(ctx)
			over := p.Publish(ctx, "orders", padTo(tracedOrderEvent(1), limit+1))
			fits := p.Publish(ctx, "orders", padTo(tracedOrderEvent(2), limit))
			if !isDone(over) {
				t.Fatal("an event over the server's limit was accepted")
			}
			if err := waitErr(t, over); !errors.Is(err, herald.ErrEventTooLarge) {
				t.Fatalf("event over the server's limit: %v, want ErrEventTooLarge", err)
			}
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			waitOK(t, fits)
		})
	}
}

func TestPublisher_FailedBatchFailsOnlyItsOwnEvents(t *testing.T) {
	errBroken := errors.New("storage broken")
	f := newPubFixture(t, func(ctx context.Context, topic string, events []*herald.CloudEvent) error {
		if topic == "broken" {
			return errBroken
		}
		return nil
	})
	p := f.publisher(herald.PublisherOptions{Linger: time.Millisecond, MaxBatchEvents: 4})
	ctx := context.Background()
	var ok, failed []*herald.PublishResult
	for i := range 20 {
		ok = append(ok, p.Publish(ctx, "orders", orderEvent(i)))
		failed = append(failed, p.Publish(ctx, "broken", orderEvent(i)))
	}
	for i := range ok {
		waitOK(t, ok[i])
		if err := waitErr(t, failed[i]); !errors.Is(err, errBroken) {
			t.Fatalf("event %d to the broken topic: %v", i, err)
		}
	}
}

func TestPublisher_FlushWaitsForEverythingPublishedBefore(t *testing.T) {
	f := newPubFixture(t, nil)
	p := f.publisher(herald.PublisherOptions{Linger: time.Hour})
	ctx := context.Background()
	var results []*herald.PublishResult
	for i := range 5 {
		results = append(results, p.Publish(ctx, "orders", orderEvent(i)))
		results = append(results, p.Publish(ctx, "payments", orderEvent(i)))
	}
	if isDone(results[0]) {
		t.Fatal("answered before the linger passed or a flush")
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if !isDone(r) {
			t.Fatalf("event %d not answered after Flush", i)
		}
		waitOK(t, r)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush with nothing pending: %v", err)
	}
}

// A batch counts as pending until its events are answered: a Flush made
// while its publish returns, and its results are being set, waits for
// them. A Flush whose ctx has ended returns nil only when nothing
// published before it is pending, so polling it finds any gap between
// the batch leaving the queue and its answers.
func TestPublisher_FlushWaitsForEventsWhoseBatchIsBeingAnswered(t *testing.T) {
	release := make(chan chan struct{}, 1)
	f := newPubFixture(t, func(ctx context.Context, topic string, events []*herald.CloudEvent) error {
		<-<-release
		return nil
	})
	p := f.publisher(herald.PublisherOptions{MaxBatchEvents: 10000, MaxBatchBytes: 32 << 20, Linger: time.Hour})
	ctx := context.Background()
	ended, cancel := context.WithCancel(ctx)
	cancel()
	early := 0
	for round := range 5 {
		var last *herald.PublishResult
		for i := range 10000 { // a large batch: answering it takes a while
			last = p.Publish(ctx, "orders", tracedOrderEvent(round*10000+i))
		}
		gate := make(chan struct{})
		release <- gate
		flushed := make(chan error, 1)
		go func() { flushed <- p.Flush(ctx) }() // sends the batch, which waits for the gate
		polled := make(chan int)
		go func() {
			n := 0
			for !isDone(last) {
				if err := p.Flush(ended); err == nil && !isDone(last) {
					n++
				}
			}
			polled <- n
		}()
		close(gate)
		early += <-polled
		if err := <-flushed; err != nil {
			t.Fatal(err)
		}
	}
	if early > 0 {
		t.Fatalf("Flush returned nil %d times while the last event published before it was not answered", early)
	}
}

func TestPublisher_FlushReturnsWhenItsCtxEnds(t *testing.T) {
	release := make(chan struct{})
	f := newPubFixture(t, func(ctx context.Context, topic string, events []*herald.CloudEvent) error {
		<-release
		return nil
	})
	p := f.publisher(herald.PublisherOptions{})
	r := p.Publish(context.Background(), "orders", orderEvent(1))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush = %v, want the deadline", err)
	}
	close(release)
	waitOK(t, r)
}

func TestPublisher_CloseFlushesThenRefusesEvents(t *testing.T) {
	f := newPubFixture(t, nil)
	p := f.c.NewPublisher(herald.PublisherOptions{Linger: time.Hour})
	ctx := context.Background()
	var results []*herald.PublishResult
	for i := range 5 {
		results = append(results, p.Publish(ctx, "orders", orderEvent(i)))
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if !isDone(r) {
			t.Fatalf("event %d not answered after Close", i)
		}
		waitOK(t, r)
	}
	if err := waitErr(t, p.Publish(ctx, "orders", orderEvent(9))); !errors.Is(err, herald.ErrPublisherClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush after Close: %v", err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// blockingHook holds every publish until release is closed or its ctx
// ends, and counts the publishes waiting.
type blockingHook struct {
	release chan struct{}
	waiting atomic.Int32
}

func (h *blockingHook) hook(ctx context.Context, topic string, events []*herald.CloudEvent) error {
	h.waiting.Add(1)
	defer h.waiting.Add(-1)
	select {
	case <-h.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestPublisher_PublishWaitsForRoomUntilItsCtxEnds(t *testing.T) {
	size := tracedOrderEvent(0).Size()
	for _, opts := range []herald.PublisherOptions{
		{MaxBufferedEvents: 2, MaxInFlight: 1},
		{MaxBufferedBytes: 2*size + size/2, MaxInFlight: 1},
	} {
		t.Run(fmt.Sprintf("events=%d,bytes=%d", opts.MaxBufferedEvents, opts.MaxBufferedBytes), func(t *testing.T) {
			testPublishWaitsForRoom(t, opts)
		})
	}
}

// testPublishWaitsForRoom publishes to a Publisher that has room for two
// events, while publishes are held.
func testPublishWaitsForRoom(t *testing.T, opts herald.PublisherOptions) {
	h := &blockingHook{release: make(chan struct{})}
	f := newPubFixture(t, h.hook)
	p := f.publisher(opts)
	released := sync.OnceFunc(func() { close(h.release) })
	t.Cleanup(released) // before the publisher's Close (cleanups run last first): a failure must not leave it waiting
	bg := context.Background()
	first, second := p.Publish(bg, "orders", tracedOrderEvent(1)), p.Publish(bg, "orders", tracedOrderEvent(2))

	start := time.Now() // before the deadline is set, which it is measured against
	ctx, cancel := context.WithTimeout(bg, 30*time.Millisecond)
	defer cancel()
	if err := waitErr(t, p.Publish(ctx, "orders", tracedOrderEvent(3))); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish with a full buffer: %v, want the deadline", err)
	}
	if took := time.Since(start); took < 30*time.Millisecond {
		t.Fatalf("Publish returned after %v, before its deadline", took)
	}

	fourth := make(chan *herald.PublishResult)
	go func() { fourth <- p.Publish(bg, "orders", tracedOrderEvent(4)) }()
	select {
	case <-fourth:
		t.Fatal("Publish did not wait for room")
	case <-time.After(20 * time.Millisecond):
	}
	released()
	waitOK(t, first)
	waitOK(t, second)
	if res := waitOK(t, <-fourth); res.Offset != 2 {
		t.Fatalf("fourth event at %+v, want offset 2 (the third never got in)", res)
	}
}

func TestPublisher_CloseGivesUpWhenItsCtxEnds(t *testing.T) {
	h := &blockingHook{release: make(chan struct{})}
	f := newPubFixture(t, h.hook)
	p := f.c.NewPublisher(herald.PublisherOptions{MaxInFlight: 1, MaxBufferedEvents: 3})
	bg := context.Background()
	inFlight := p.Publish(bg, "orders", orderEvent(1))
	for h.waiting.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	queued := []*herald.PublishResult{p.Publish(bg, "orders", orderEvent(2)), p.Publish(bg, "orders", orderEvent(3))}
	blocked := make(chan *herald.PublishResult)
	go func() { blocked <- p.Publish(bg, "orders", orderEvent(4)) }()

	ctx, cancel := context.WithTimeout(bg, 30*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want the deadline", err)
	}
	if err := waitErr(t, <-blocked); !errors.Is(err, herald.ErrPublisherClosed) {
		t.Fatalf("Publish waiting for room during Close: %v", err)
	}
	if err := waitErr(t, inFlight); !errors.Is(err, context.Canceled) {
		t.Fatalf("event in flight: %v, want it cancelled", err)
	}
	for i, r := range queued {
		if err := waitErr(t, r); !errors.Is(err, herald.ErrPublisherClosed) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("queued event %d: %v", i, err)
		}
	}
	if n := len(f.batchSizes()); n != 1 {
		t.Fatalf("%d publishes, want only the one in flight", n)
	}
}

// With several batches in flight, events of one key are still stored in
// the order they were published: batches sharing a key go one by one.
func TestPublisher_KeepsEachKeysOrderWithBatchesInFlight(t *testing.T) {
	f := newPubFixture(t, func(ctx context.Context, topic string, events []*herald.CloudEvent) error {
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond) // let batches overtake each other
		return nil
	})
	p := f.publisher(herald.PublisherOptions{MaxBatchEvents: 7, MaxInFlight: 4})
	ctx := context.Background()
	four := 4
	if _, _, err := f.c.PutTopic(ctx, "orders", herald.TopicSpec{Partitions: &four}); err != nil {
		t.Fatal(err)
	}
	const events, keys = 400, 10
	for i := range events {
		p.Publish(ctx, "orders", orderEvent(i, herald.WithKey("customer-"+strconv.Itoa(i%keys))))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	last := map[string]int{}
	n := 0
	for part := range four {
		evs, err := f.c.Read(ctx, "orders", part, 0, events)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			seq, _ := strconv.Atoi(strings.TrimPrefix(e.ID, "order-"))
			if prev, ok := last[e.PartitionKey]; ok && seq < prev {
				t.Fatalf("key %s: event %d stored after event %d", e.PartitionKey, seq, prev)
			}
			last[e.PartitionKey] = seq
			n++
		}
	}
	if n != events {
		t.Fatalf("%d events stored, want %d", n, events)
	}
}

func TestPublisher_SendsUpToMaxInFlightBatchesOfATopicAtOnce(t *testing.T) {
	var now, peak atomic.Int32
	all := make(chan struct{})
	var once sync.Once
	f := newPubFixture(t, func(ctx context.Context, topic string, events []*herald.CloudEvent) error {
		n := now.Add(1)
		defer now.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		if n == 3 {
			once.Do(func() { close(all) })
		}
		select { // hold the batch until three are in flight
		case <-all:
		case <-time.After(5 * time.Second):
		}
		return nil
	})
	p := f.publisher(herald.PublisherOptions{MaxBatchEvents: 5, MaxInFlight: 3})
	ctx := context.Background()
	for i := range 100 {
		p.Publish(ctx, "orders", orderEvent(i)) // no keys: nothing holds batches back
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := peak.Load(); got != 3 {
		t.Fatalf("at most %d batches in flight at once, want 3", got)
	}
}

// BenchmarkPublisher_Async1KiB publishes 1 KiB events through a Publisher
// to an embedded Herald (fsync always) from one goroutine, and reports
// events stored per second (the clock stops after Flush). Events are
// copies of one with a fresh id, so NewEvent is not measured.
func BenchmarkPublisher_Async1KiB(b *testing.B) {
	for _, inFlight := range []int{1, 4} {
		b.Run("inflight="+strconv.Itoa(inFlight), func(b *testing.B) {
			benchPublisher(b, herald.PublisherOptions{Linger: 5 * time.Millisecond, MaxInFlight: inFlight})
		})
	}
}

func benchPublisher(b *testing.B, opts herald.PublisherOptions) {
	c, err := herald.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	tmpl := herald.MustNewEvent("order.placed", []byte(`{"items":"`+strings.Repeat("x", 880)+`"}`),
		herald.WithSource("/bench"))
	p := c.NewPublisher(opts)
	results := make([]*herald.PublishResult, 0, b.N)
	b.SetBytes(int64(tmpl.Size()))
	b.ResetTimer()
	for i := range b.N {
		e := *tmpl
		e.ID = strconv.Itoa(i)
		results = append(results, p.Publish(ctx, "bench", &e))
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	for _, r := range results {
		if _, err := r.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		b.Fatal(err)
	}
}
