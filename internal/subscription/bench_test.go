package subscription

import (
	"context"
	"fmt"
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
	e, err := log.Open(b.TempDir(), log.Options{RetentionInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	br, err := broker.New(e, broker.Options{DefaultPartitions: 8, DedupDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	m, err := New(ctx, br, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
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
