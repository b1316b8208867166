package broker

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/log"
)

func benchBroker(b *testing.B, partitions int) *Broker {
	e, err := log.Open(b.TempDir(), log.Options{RetentionInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	br, err := New(e, Options{DefaultPartitions: partitions, DedupDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	return br
}

func benchEvent(id string, size int) *event.Event {
	return &event.Event{ID: id, Source: "/bench", Type: "bench.event", SpecVersion: "1.0",
		PartitionKey: id[len(id)-2:], DataContentType: "application/octet-stream", Data: make([]byte, size)}
}

// BenchmarkPublish measures durable publishes (fsync always) through the
// broker: validation, dedup, partitioning, encoding, group commit.
// Run: go test ./internal/broker -run '^$' -bench Publish -benchtime 200000x
func BenchmarkPublish(b *testing.B) {
	for _, c := range []struct{ size, publishers, batch, partitions int }{
		{1024, 64, 1, 8},
		{1024, 64, 16, 8},
		{100, 64, 16, 8},
	} {
		b.Run(fmt.Sprintf("size=%d/publishers=%d/batch=%d", c.size, c.publishers, c.batch), func(b *testing.B) {
			br := benchBroker(b, c.partitions)
			var left, seq atomic.Int64
			left.Store(int64(b.N))
			b.SetBytes(int64(c.size))
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for w := 0; w < c.publishers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for left.Add(-int64(c.batch)) > -int64(c.batch) {
						batch := make([]*event.Event, c.batch)
						for i := range batch {
							batch[i] = benchEvent(fmt.Sprintf("e-%d", seq.Add(1)), c.size)
						}
						if _, err := br.Publish(context.Background(), "bench", batch); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkPublishLatency publishes single 1 KiB events at a steady 5,000
// events/s for two seconds and reports the latency percentiles.
// Run: go test ./internal/broker -run '^$' -bench PublishLatency -benchtime 1x
func BenchmarkPublishLatency(b *testing.B) {
	br := benchBroker(b, 3)
	const rate, seconds = 5000, 2
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	start, sent := time.Now(), 0
	for now := range tick.C { // send what the schedule says is due, catching up late ticks
		el := now.Sub(start)
		if el > seconds*time.Second {
			break
		}
		for due := int(el.Seconds() * rate); sent < due; sent++ {
			id := fmt.Sprintf("l-%d", sent)
			wg.Add(1)
			go func() {
				defer wg.Done()
				t0 := time.Now()
				if _, err := br.Publish(context.Background(), "lat", []*event.Event{benchEvent(id, 1024)}); err != nil {
					b.Error(err)
				}
				mu.Lock()
				lat = append(lat, time.Since(t0))
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	b.ReportMetric(float64(len(lat))/seconds, "events/s")
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(0.999), "p99.9-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}
