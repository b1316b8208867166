package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldevents/herald"
)

// benchRun is one run's shared state: what to publish and what was seen.
type benchRun struct {
	cfg   *benchConfig
	c     *herald.Client
	topic string

	next    atomic.Int64 // events handed out to publishers (past the end when it is reached)
	sent    atomic.Int64 // events published (pubsub)
	done    atomic.Int64 // events finished (published, or handled when consuming)
	mu      sync.Mutex   // guards lat
	lat     []time.Duration
	start   time.Time // when the run's publishing started: at a rate, event i is due i/rate after it
	stopAt  time.Time // zero: run to --count
	counted bool      // the run ends at --count events

	optsOnce sync.Once
	baseOpts []herald.EventOption   // every event's
	keyOpts  [][]herald.EventOption // baseOpts and the key's, by key
}

func runBench(ctx context.Context, cfg *benchConfig) (benchResult, error) {
	if cfg.mode == "http-publish" {
		return runHTTPBench(ctx, cfg)
	}
	c, cleanup, err := openBenchClient(ctx, cfg)
	if err != nil {
		return benchResult{}, err
	}
	defer cleanup()
	r := &benchRun{cfg: cfg, c: c, topic: fmt.Sprintf("bench-%s-%d", cfg.mode, time.Now().UnixNano()), counted: cfg.duration == 0}
	if _, _, err := c.PutTopic(ctx, r.topic, herald.TopicSpec{Partitions: &cfg.partitions}); err != nil {
		return benchResult{}, err
	}
	var elapsed time.Duration
	switch cfg.mode {
	case "publish":
		elapsed, err = r.measure(ctx, r.publish)
	case "consume":
		elapsed, err = r.consume(ctx)
	case "pubsub":
		elapsed, err = r.pubsub(ctx)
	}
	if err != nil {
		return benchResult{}, err
	}
	return r.result(elapsed), nil
}

// measure runs publishers to the end (count or duration) with a progress
// bar, and returns how long they took.
func (r *benchRun) measure(ctx context.Context, publisher func(ctx context.Context, id int) error) (time.Duration, error) {
	start := time.Now()
	r.start = start // before any publisher runs: they share its schedule
	if !r.counted {
		r.stopAt = start.Add(r.cfg.duration)
	}
	stopProgress := r.progress(start)
	defer stopProgress()
	errc := make(chan error, r.cfg.publishers)
	for id := 0; id < r.cfg.publishers; id++ {
		go func() { errc <- publisher(ctx, id) }()
	}
	var first error
	for range r.cfg.publishers {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return time.Since(start), first
}

// take hands a publisher up to n more events: the index of the first and
// how many (0: the run is over).
func (r *benchRun) take(n int) (int, int) {
	if !r.counted {
		if time.Now().After(r.stopAt) {
			return 0, 0
		}
		return int(r.next.Add(int64(n))) - n, n
	}
	from := int(r.next.Add(int64(n))) - n
	return from, max(0, min(n, r.cfg.count-from))
}

// pace waits until event i is due at --rate (publishers share the rate
// and the run's schedule, from its start) and returns the time its
// latency counts from: at a rate, the time it was due, so that publishers
// falling behind, or starting late, show in the latency instead of hiding
// it (coordinated omission); else now.
func (r *benchRun) pace(i int) time.Time {
	if r.cfg.rate <= 0 {
		return time.Now()
	}
	due := r.start.Add(time.Duration(i) * time.Second / time.Duration(r.cfg.rate))
	time.Sleep(time.Until(due))
	return due
}

// newEvent makes event i, its data starting with sent, the time its
// latency counts from. The options are made once per key (as a program
// sending many events would keep them), so that the run measures Herald,
// not their making.
func (r *benchRun) newEvent(i int, sent time.Time) *herald.CloudEvent {
	data := make([]byte, max(r.cfg.size, 8))[:r.cfg.size]
	if len(data) >= 8 {
		binary.BigEndian.PutUint64(data, uint64(sent.UnixNano()))
	}
	return herald.MustNewEvent("bench.event", data, r.eventOptions(i)...)
}

// maxKeptKeyOptions bounds the keys whose options are made only once.
const maxKeptKeyOptions = 100000

// eventOptions returns the options of event i: its key's, made once.
func (r *benchRun) eventOptions(i int) []herald.EventOption {
	r.optsOnce.Do(func() {
		base := []herald.EventOption{herald.WithSource("/bench"), herald.WithContentType("application/octet-stream")}
		r.baseOpts = base
		r.keyOpts = make([][]herald.EventOption, min(r.cfg.keys, maxKeptKeyOptions))
		for k := range r.keyOpts {
			r.keyOpts[k] = append(base[:len(base):len(base)], herald.WithKey("k"+strconv.Itoa(k)))
		}
	})
	switch k := i % max(r.cfg.keys, 1); {
	case r.cfg.keys == 0:
		return r.baseOpts
	case k < len(r.keyOpts):
		return r.keyOpts[k]
	default:
		return append(r.baseOpts[:len(r.baseOpts):len(r.baseOpts)], herald.WithKey("k"+strconv.Itoa(k)))
	}
}

func (r *benchRun) record(d time.Duration) {
	r.mu.Lock()
	r.lat = append(r.lat, d)
	r.mu.Unlock()
}

// publish is one async publisher: events go through the SDK's Publisher
// in batches of --batch; each event's latency is from submission to its
// durable result.
func (r *benchRun) publish(ctx context.Context, _ int) error {
	p := r.c.NewPublisher(herald.PublisherOptions{MaxBatchEvents: r.cfg.batch, Linger: time.Millisecond, MaxInFlight: 4})
	type pending struct {
		at  time.Time
		res *herald.PublishResult
	}
	waits := make(chan pending, 4*r.cfg.batch)
	errc := make(chan error, 1)
	go func() { // collects results in submission order
		var first error
		for w := range waits {
			if _, err := w.res.Wait(ctx); err != nil && first == nil {
				first = err
			}
			r.record(time.Since(w.at))
			r.done.Add(1)
		}
		errc <- first
	}()
	for {
		from, n := r.take(r.cfg.batch)
		if n == 0 {
			break
		}
		for i := from; i < from+n; i++ {
			at := r.pace(i)
			waits <- pending{at: at, res: p.Publish(ctx, r.topic, r.newEvent(i, at))}
		}
	}
	close(waits)
	err := <-errc
	if cerr := p.Close(ctx); err == nil {
		err = cerr
	}
	return err
}

// consume publishes --count events (not measured), then times a Router
// that handles and acks them all.
func (r *benchRun) consume(ctx context.Context) (time.Duration, error) {
	if _, err := r.c.PutSubscription(ctx, r.topic, "bench", herald.SubscriptionConfig{Start: "earliest"}); err != nil {
		return 0, err
	}
	if _, err := r.measure(ctx, r.publish); err != nil {
		return 0, err
	}
	r.done.Store(0)
	r.lat = nil
	return r.handle(ctx, func() bool { return r.done.Load() >= int64(r.cfg.count) }, false)
}

// pubsub runs publishers and a Router at once; latency is from an
// event's sending to its handler.
func (r *benchRun) pubsub(ctx context.Context) (time.Duration, error) {
	if _, err := r.c.PutSubscription(ctx, r.topic, "bench", herald.SubscriptionConfig{Start: "earliest"}); err != nil {
		return 0, err
	}
	var published atomic.Bool
	var pubErr error
	go func() {
		_, pubErr = r.measure(ctx, r.publishQuiet)
		published.Store(true)
	}()
	elapsed, err := r.handle(ctx, func() bool { return published.Load() && r.done.Load() >= r.sent.Load() }, true)
	if err == nil {
		err = pubErr
	}
	return elapsed, err
}

// publishQuiet publishes like publish without recording latency (pubsub
// records it in the handler instead). At a steady rate each event goes
// alone, as it is due, and each publisher takes the next event due: with
// a batch of consecutive events one publisher would wait on each send
// while the others slept until their batch was due.
func (r *benchRun) publishQuiet(ctx context.Context, id int) error {
	take := r.cfg.batch
	if r.cfg.rate > 0 {
		take = 1
	}
	for {
		from, n := r.take(take)
		if n == 0 {
			return nil
		}
		batch := make([]*herald.CloudEvent, 0, n)
		for i := from; i < from+n; i++ {
			batch = append(batch, r.newEvent(i, r.pace(i)))
		}
		if err := r.send(ctx, batch); err != nil {
			return err
		}
	}
}

func (r *benchRun) send(ctx context.Context, batch []*herald.CloudEvent) error {
	if len(batch) == 0 {
		return nil
	}
	if _, err := r.c.Publish(ctx, r.topic, batch...); err != nil {
		return err
	}
	r.sent.Add(int64(len(batch)))
	return nil
}

// handle runs a Router until finished says so (or 30 seconds pass without
// progress), counting in done each event handled the first time (one that
// comes again is not counted again, nor its latency recorded), then stops
// it. The time ends once the Router has returned, every ack it sent
// applied and durable, and the subscription must then have every event
// acked.
func (r *benchRun) handle(ctx context.Context, finished func() bool, latency bool) (time.Duration, error) {
	var seenMu sync.Mutex // guards seen
	seen := map[[2]int64]bool{}
	router := herald.NewRouter(r.c, herald.RouterOptions{Concurrency: r.cfg.consumers, Prefetch: r.cfg.prefetch})
	router.HandleFunc(r.topic, "bench", func(ctx context.Context, d *herald.Delivery) error {
		at := [2]int64{int64(d.Event.Partition), d.Event.Offset}
		seenMu.Lock()
		again := seen[at]
		seen[at] = true
		seenMu.Unlock()
		if again {
			return nil
		}
		if latency && len(d.Event.Data) >= 8 {
			r.record(time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(d.Event.Data)))))
		}
		r.done.Add(1)
		return nil
	})
	rctx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	start := time.Now()
	go func() { ran <- router.Run(rctx) }()
	stopProgress := r.progress(start)
	last, lastAt := int64(-1), time.Now()
	for !finished() {
		select {
		case err := <-ran:
			stop()
			stopProgress()
			return 0, fmt.Errorf("the router stopped: %v", err)
		case <-ctx.Done():
			stop()
			stopProgress()
			return 0, ctx.Err()
		case <-time.After(time.Millisecond):
		}
		if n := r.done.Load(); n != last {
			last, lastAt = n, time.Now()
		} else if time.Since(lastAt) > 30*time.Second {
			stop()
			stopProgress()
			return 0, fmt.Errorf("no event handled for 30s (%d handled)", n)
		}
	}
	stop()
	err := <-ran // once the acks sent are applied
	elapsed := time.Since(start)
	stopProgress()
	if err != nil {
		return 0, err
	}
	return elapsed, r.allAcked(ctx)
}

// allAcked checks that the benchmark subscription has no event left
// unacked.
func (r *benchRun) allAcked(ctx context.Context) error {
	info, err := r.c.Subscription(ctx, r.topic, "bench")
	if err != nil {
		return err
	}
	var lag int64
	for _, p := range info.Partitions {
		lag += p.Lag
	}
	if lag != 0 {
		return fmt.Errorf("%d events were not acked when the run ended (%d handled)", lag, r.done.Load())
	}
	return nil
}

// progress prints a progress line to the terminal until stopped.
func (r *benchRun) progress(start time.Time) (stop func()) {
	if r.cfg.progressOut == nil {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				fmt.Fprint(r.cfg.progressOut, "\r\033[K")
				return
			case <-tick.C:
				n := r.done.Load()
				s := time.Since(start).Seconds()
				fmt.Fprintf(r.cfg.progressOut, "\r\033[K%s %s: %d events, %.0f events/s", r.cfg.mode, r.bar(n), n, float64(n)/s)
			}
		}
	}()
	return func() { close(quit); <-done }
}

// bar draws how far the run is, by count or by time.
func (r *benchRun) bar(n int64) string {
	frac := 0.0
	switch {
	case r.counted && r.cfg.count > 0:
		frac = float64(n) / float64(r.cfg.count)
	case !r.stopAt.IsZero():
		frac = 1 - time.Until(r.stopAt).Seconds()/r.cfg.duration.Seconds()
	}
	const width = 30
	filled := max(0, min(width, int(frac*width)))
	return "[" + string(slices.Repeat([]byte("#"), filled)) + string(slices.Repeat([]byte("."), width-filled)) + "]"
}

func (r *benchRun) result(elapsed time.Duration) benchResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.done.Load()
	res := benchResult{Mode: r.cfg.mode, Target: "embedded", Events: n, Bytes: n * int64(r.cfg.size), Seconds: elapsed.Seconds()}
	if r.cfg.remote {
		res.Target = r.cfg.server
	}
	if s := elapsed.Seconds(); s > 0 {
		res.EventsPerSec = float64(n) / s
		res.MBPerSec = float64(res.Bytes) / s / 1e6
	}
	slices.Sort(r.lat)
	q := func(p float64) float64 { return float64(nearestRank(r.lat, p)) / 1e6 }
	res.Latency = latencyMillis{P50: q(0.5), P90: q(0.9), P99: q(0.99), P999: q(0.999), Max: q(1)}
	return res
}

// nearestRank is the p-th quantile of sorted samples by nearest rank: the
// ceil(p*n)-th smallest, so that at most a share of 1-p lie above it (0
// for none).
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// Less a hair, so that 0.99*100, 99.00000000000001 in floating point,
	// is rank 99.
	rank := int(math.Ceil(p*float64(len(sorted)) - 1e-9))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
