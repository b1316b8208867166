// Command sdkload measures the Go SDK's remote client against a running
// `herald serve`: publishing over gRPC, consuming through a Router with
// acks, and publish-to-handler latency at a fixed rate.
//
//	herald serve --data /tmp/hd &
//	go run ./bench/sdkload -mode publish -count 500000 -size 1024
//	go run ./bench/sdkload -mode consume -count 200000 -size 1024 -keys 1000
//	go run ./bench/sdkload -mode latency -rate 5000 -duration 20s
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldevents/herald"
)

type config struct {
	server                     string
	mode                       string
	count, size, batch, keys   int
	clients, concurrency, rate int
	duration                   time.Duration
	partitions                 int
}

func main() {
	var cfg config
	flag.StringVar(&cfg.server, "server", "127.0.0.1:7440", "Herald server address")
	flag.StringVar(&cfg.mode, "mode", "publish", "publish | consume | latency")
	flag.IntVar(&cfg.count, "count", 200000, "events to publish or consume")
	flag.IntVar(&cfg.size, "size", 1024, "event data bytes")
	flag.IntVar(&cfg.batch, "batch", 100, "events per publish call")
	flag.IntVar(&cfg.keys, "keys", 1000, "distinct partition keys")
	flag.IntVar(&cfg.clients, "clients", 8, "concurrent publishers")
	flag.IntVar(&cfg.concurrency, "concurrency", 64, "router handlers at once")
	flag.IntVar(&cfg.rate, "rate", 5000, "events/s in latency mode")
	flag.DurationVar(&cfg.duration, "duration", 20*time.Second, "latency mode run time")
	flag.IntVar(&cfg.partitions, "partitions", 4, "partitions of the topic")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the measured phase to `FILE`")
	flag.Parse()
	profile = *cpuprofile
	ctx := context.Background()
	c, err := herald.Connect(ctx, cfg.server)
	if err != nil {
		fail(err)
	}
	defer c.Close()
	topic := fmt.Sprintf("bench-%s-%d", cfg.mode, time.Now().UnixNano())
	if _, _, err := c.PutTopic(ctx, topic, herald.TopicSpec{Partitions: &cfg.partitions}); err != nil {
		fail(err)
	}
	switch cfg.mode {
	case "publish":
		var d time.Duration
		measure(func() { d = publish(ctx, c, topic, cfg, cfg.count) })
		report("publish", cfg.count, cfg.size, d)
	case "consume":
		if _, err := c.PutSubscription(ctx, topic, "bench", herald.SubscriptionConfig{Start: "earliest"}); err != nil {
			fail(err)
		}
		publish(ctx, c, topic, cfg, cfg.count)
		var d time.Duration
		measure(func() { d = consume(ctx, c, topic, cfg) })
		report("consume+ack", cfg.count, cfg.size, d)
	case "latency":
		latency(ctx, c, topic, cfg)
	default:
		fail(fmt.Errorf("-mode %q: want publish, consume or latency", cfg.mode))
	}
}

// profile is the file the measured phase's CPU profile goes to, if any.
var profile string

// measure runs fn, profiling it when asked to.
func measure(fn func()) {
	if profile == "" {
		fn()
		return
	}
	f, err := os.Create(profile)
	if err != nil {
		fail(err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		fail(err)
	}
	defer pprof.StopCPUProfile()
	fn()
}

// publish sends n events in batches from concurrent publishers and
// returns the time it took; every call returns once its batch is durable.
func publish(ctx context.Context, c *herald.Client, topic string, cfg config, n int) time.Duration {
	var next atomic.Int64
	var wg sync.WaitGroup
	data := make([]byte, cfg.size)
	for i := range data {
		data[i] = 'x'
	}
	start := time.Now()
	for w := 0; w < cfg.clients; w++ {
		wg.Go(func() {
			for {
				from := int(next.Add(int64(cfg.batch))) - cfg.batch
				if from >= n {
					return
				}
				batch := make([]*herald.CloudEvent, 0, cfg.batch)
				for i := from; i < min(from+cfg.batch, n); i++ {
					e := herald.MustNewEvent("bench.tick", data, herald.WithSource("/bench"),
						herald.WithContentType("application/octet-stream"), herald.WithKey("k"+strconv.Itoa(i%cfg.keys)))
					batch = append(batch, e)
				}
				if _, err := c.Publish(ctx, topic, batch...); err != nil {
					fail(err)
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// consume runs a Router with key ordering until every event is acked.
func consume(ctx context.Context, c *herald.Client, topic string, cfg config) time.Duration {
	var handled atomic.Int64
	done := make(chan struct{})
	r := herald.NewRouter(c, herald.RouterOptions{Concurrency: cfg.concurrency})
	r.HandleFunc(topic, "bench", func(ctx context.Context, d *herald.Delivery) error {
		if handled.Add(1) == int64(cfg.count) {
			close(done)
		}
		return nil
	})
	rctx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(ran)
		if err := r.Run(rctx); err != nil {
			fail(err)
		}
	}()
	<-done
	d := time.Since(start)
	stop()
	<-ran
	return d
}

// latency publishes single events at a fixed rate, each carrying its send
// time, and measures until its handler runs.
func latency(ctx context.Context, c *herald.Client, topic string, cfg config) {
	if _, err := c.PutSubscription(ctx, topic, "bench", herald.SubscriptionConfig{Start: "earliest"}); err != nil {
		fail(err)
	}
	var mu sync.Mutex
	var lat []time.Duration
	r := herald.NewRouter(c, herald.RouterOptions{Concurrency: cfg.concurrency})
	r.HandleFunc(topic, "bench", func(ctx context.Context, d *herald.Delivery) error {
		sent := time.Unix(0, int64(binary.BigEndian.Uint64(d.Event.Data)))
		mu.Lock()
		lat = append(lat, time.Since(sent))
		mu.Unlock()
		return nil
	})
	rctx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { defer close(ran); r.Run(rctx) }()
	interval := time.Second / time.Duration(cfg.rate)
	n := int(cfg.duration / interval)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		wg.Go(func() {
			data := make([]byte, max(cfg.size, 8))
			binary.BigEndian.PutUint64(data, uint64(time.Now().UnixNano()))
			e := herald.MustNewEvent("bench.tick", data, herald.WithSource("/bench"),
				herald.WithContentType("application/octet-stream"), herald.WithKey("k"+strconv.Itoa(i%cfg.keys)))
			if _, err := c.Publish(ctx, topic, e); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		got := len(lat)
		mu.Unlock()
		if got >= n {
			break
		}
	}
	stop()
	<-ran
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	q := func(p float64) string { return fmt.Sprintf("%.2fms", float64(lat[int(p*float64(len(lat)-1))])/1e6) }
	fmt.Printf("latency %d events at %d/s: p50 %s p90 %s p99 %s p99.9 %s max %s\n", len(lat), cfg.rate, q(0.5), q(0.9), q(0.99), q(0.999), q(1))
}

func report(what string, n, size int, d time.Duration) {
	eps := float64(n) / d.Seconds()
	fmt.Printf("%s %d events of %d B in %s: %.0f events/s, %.1f MB/s\n", what, n, size, d.Round(time.Millisecond), eps, eps*float64(size)/1e6)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sdkload:", err)
	os.Exit(1)
}
