package log

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/storage"
)

// BenchmarkAppend measures in-process appends with fsync before ack from
// many concurrent publishers, each appending `batch` records per call.
// Run: go test ./internal/log -run '^$' -bench Append -benchtime 200000x
func BenchmarkAppend(b *testing.B) {
	for _, c := range []struct {
		size, publishers, batch, partitions int
	}{
		{1024, 64, 1, 1},
		{1024, 64, 1, 8},
		{100, 64, 1, 1},
		{100, 64, 16, 1},
		{1024, 64, 16, 8},
		{1024, 64, 16, 1},
		{1024, 64, 16, 3},
	} {
		name := fmt.Sprintf("size=%d/publishers=%d/batch=%d/partitions=%d", c.size, c.publishers, c.batch, c.partitions)
		b.Run(name, func(b *testing.B) { benchAppend(b, c.size, c.publishers, c.batch, c.partitions) })
	}
}

func benchAppend(b *testing.B, size, publishers, batch, partitions int) {
	e, err := Open(b.TempDir(), Options{RetentionInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	if err := e.CreateTopic(ctx, "bench", storage.TopicConfig{Partitions: partitions}); err != nil {
		b.Fatal(err)
	}
	recs := make([]storage.Record, batch)
	for i := range recs {
		recs[i] = storage.Record{Key: []byte("key"), Value: make([]byte, size)}
	}
	var left atomic.Int64
	left.Store(int64(b.N))
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < publishers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-int64(batch)) > -int64(batch) {
				parts := []storage.PartitionRecords{{Partition: w % partitions, Records: recs}}
				if _, err := e.Append(ctx, "bench", parts); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(b.N)/el, "events/s")
}
