package subscription

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
)

// BenchmarkConsumeAck: 8 consumers pull (100 at a time) and ack 1 KiB
// events over 1,000 keys with key ordering, in-process, fsync always.
// Run: go test ./internal/subscription -run '^$' -bench ConsumeAck -benchtime 200000x
func BenchmarkConsumeAck(b *testing.B) {
	for _, ordering := range []Ordering{OrderKey, OrderNone} {
		b.Run("ordering="+string(ordering), func(b *testing.B) { benchConsumeAck(b, ordering) })
	}
}

func benchConsumeAck(b *testing.B, ordering Ordering) {
	ctx := context.Background()
	br, m := benchManager(b, 8)
	eight := 8
	if _, _, err := br.PutTopic(ctx, "bench", broker.TopicSpec{Partitions: &eight}); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 1024)
	for i := 0; i < b.N; i += 1000 {
		batch := make([]*event.Event, min(1000, b.N-i))
		for j := range batch {
			n := i + j
			batch[j] = &event.Event{ID: fmt.Sprint(n), Source: "/bench", Type: "bench", SpecVersion: "1.0",
				PartitionKey: fmt.Sprint("k", n%1000), DataContentType: "application/octet-stream", Data: data}
		}
		if _, err := br.Publish(ctx, "bench", batch); err != nil {
			b.Fatal(err)
		}
	}
	if _, _, err := m.Put(ctx, "bench", "s", Config{Start: "earliest", Ordering: ordering}); err != nil {
		b.Fatal(err)
	}
	var done atomic.Int64
	b.SetBytes(1024)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done.Load() < int64(b.N) {
				ds, err := m.Pull(ctx, "bench", "s", 100, 0)
				if err != nil {
					b.Error(err)
					return
				}
				if len(ds) == 0 {
					continue
				}
				if _, err := m.Ack(ctx, "bench", "s", ackIDs(ds)); err != nil {
					b.Error(err)
					return
				}
				done.Add(int64(len(ds)))
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkPublishToDelivery publishes single 1 KiB events at a steady
// 5,000 events/s for two seconds while 4 consumers long-poll and ack, and
// reports the time from publish to delivery.
// Run: go test ./internal/subscription -run '^$' -bench PublishToDelivery -benchtime 1x -count 3
func BenchmarkPublishToDelivery(b *testing.B) {
	ctx := context.Background()
	br, m := benchManager(b, 3)
	if _, _, err := br.PutTopic(ctx, "lat", broker.TopicSpec{}); err != nil {
		b.Fatal(err)
	}
	if _, _, err := m.Put(ctx, "lat", "s", Config{Start: "latest"}); err != nil {
		b.Fatal(err)
	}
	const rate, seconds = 5000, 2
	var sent sync.Map // id -> time.Time
	var mu sync.Mutex
	var lat []time.Duration
	stop := make(chan struct{})
	var consumers sync.WaitGroup
	for c := 0; c < 4; c++ {
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ds, err := m.Pull(ctx, "lat", "s", 100, 100*time.Millisecond)
				if err != nil {
					b.Error(err)
					return
				}
				now := time.Now()
				mu.Lock()
				for _, d := range ds {
					if t0, ok := sent.Load(d.Event.ID); ok {
						lat = append(lat, now.Sub(t0.(time.Time)))
					}
				}
				mu.Unlock()
				if len(ds) > 0 {
					if _, err := m.Ack(ctx, "lat", "s", ackIDs(ds)); err != nil {
						b.Error(err)
						return
					}
				}
			}
		}()
	}
	data := []byte(`{"pad":"` + strings.Repeat("x", 1024-10) + `"}`)
	b.ResetTimer()
	var producers sync.WaitGroup
	tick := time.NewTicker(time.Millisecond)
	start, n := time.Now(), 0
	for now := range tick.C {
		el := now.Sub(start)
		if el > seconds*time.Second {
			break
		}
		for due := int(el.Seconds() * rate); n < due; n++ {
			id, key := fmt.Sprint("l-", n), fmt.Sprint("k", n%1000)
			producers.Add(1)
			go func() {
				defer producers.Done()
				ev := &event.Event{ID: id, Source: "/lat", Type: "lat", SpecVersion: "1.0",
					PartitionKey: key, DataContentType: "application/json", Data: data}
				sent.Store(id, time.Now())
				if _, err := br.Publish(ctx, "lat", []*event.Event{ev}); err != nil {
					b.Error(err)
				}
			}()
		}
	}
	tick.Stop()
	producers.Wait()
	time.Sleep(500 * time.Millisecond) // let the consumers catch up before stopping them
	close(stop)
	consumers.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		b.Fatal("nothing delivered")
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(lat))/seconds, "delivered/s")
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(0.999), "p99.9-ms")
}

// benchManager opens an engine, broker and manager on real files (fsync
// always), closed when the benchmark ends.
func benchManager(b *testing.B, partitions int) (*broker.Broker, *Manager) {
	e, err := log.Open(b.TempDir(), log.Options{RetentionInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	br, err := broker.New(e, broker.Options{DefaultPartitions: partitions, DedupDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	m, err := New(context.Background(), br, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close(); e.Close() })
	return br, m
}
