package herald_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/internal/testserver"
)

// BenchmarkRemote_Publish1KiB publishes batches of 100 events of 1 KiB
// over gRPC from 8 goroutines to a server in this process (fsync always).
func BenchmarkRemote_Publish1KiB(b *testing.B) {
	t := &testing.T{}
	ts := testserver.Start(t, b.TempDir())
	defer ts.Stop()
	c, err := herald.Connect(context.Background(), ts.Addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	data := make([]byte, 1024)
	for i := range data {
		data[i] = 'x'
	}
	const batch = 100
	var next atomic.Int64
	b.SetBytes(1024)
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			for {
				from := int(next.Add(batch)) - batch
				if from >= b.N {
					return
				}
				es := make([]*herald.CloudEvent, 0, batch)
				for i := from; i < min(from+batch, b.N); i++ {
					es = append(es, herald.MustNewEvent("bench.tick", data, herald.WithSource("/bench"),
						herald.WithContentType("application/octet-stream"), herald.WithKey("k"+strconv.Itoa(i%1000))))
				}
				if _, err := c.Publish(context.Background(), "bench", es...); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRouter_ConsumeAck1KiB handles b.N pre-published events of
// 1 KiB through a Router (key ordering, 1000 keys, 64 handlers), acking
// each, embedded and remote.
func BenchmarkRouter_ConsumeAck1KiB(b *testing.B) {
	for _, kind := range []string{"embedded", "remote"} {
		b.Run(kind, func(b *testing.B) {
			t := &testing.T{}
			var c *herald.Client
			var err error
			if kind == "embedded" {
				c, err = herald.Open(b.TempDir())
			} else {
				ts := testserver.Start(t, b.TempDir())
				defer ts.Stop()
				c, err = herald.Connect(context.Background(), ts.Addr)
			}
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			four := 4
			if _, _, err := c.PutTopic(ctx, "bench", herald.TopicSpec{Partitions: &four}); err != nil {
				b.Fatal(err)
			}
			if _, err := c.PutSubscription(ctx, "bench", "work", herald.SubscriptionConfig{Start: "earliest", Ordering: benchOrdering}); err != nil {
				b.Fatal(err)
			}
			data := make([]byte, 1024)
			for from := 0; from < b.N; from += 500 {
				var es []*herald.CloudEvent
				for i := from; i < min(from+500, b.N); i++ {
					es = append(es, herald.MustNewEvent("bench.tick", data, herald.WithSource("/bench"),
						herald.WithContentType("application/octet-stream"), herald.WithKey("k"+strconv.Itoa(i%benchKeys))))
				}
				if _, err := c.Publish(ctx, "bench", es...); err != nil {
					b.Fatal(err)
				}
			}
			var handled atomic.Int64
			done := make(chan struct{})
			r := herald.NewRouter(c, herald.RouterOptions{Concurrency: 64, Prefetch: benchPrefetch})
			r.HandleFunc("bench", "work", func(context.Context, *herald.Delivery) error {
				if handled.Add(1) == int64(b.N) {
					close(done)
				}
				return nil
			})
			rctx, stop := context.WithCancel(ctx)
			ran := make(chan struct{})
			b.SetBytes(1024)
			b.ResetTimer()
			go func() { defer close(ran); r.Run(rctx) }()
			<-done
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			stop()
			<-ran
		})
	}
}

// Knobs of BenchmarkRouter_ConsumeAck1KiB.
var (
	benchPrefetch = 0 // the router's default
	benchKeys     = 1000
	benchOrdering = herald.OrderKey
)
