package log

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldevents/herald/internal/storage"
)

func rec(key, value string) storage.Record {
	return storage.Record{Key: []byte(key), Value: []byte(value), Headers: []kmsg.Header{{Key: "ce_id", Value: []byte(value)}}}
}

func TestEngine_AppendReadReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	opts := Options{SegmentBytes: 4096, RetentionInterval: -1}
	e, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.CreateTopic(ctx, "orders", storage.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		bases, err := e.Append(ctx, "orders", []storage.PartitionRecords{{Partition: i % 2, Records: []storage.Record{rec("k", fmt.Sprint(i))}}})
		if err != nil {
			t.Fatal(err)
		}
		if bases[0] != int64(i/2) {
			t.Fatalf("append %d got base %d", i, bases[0])
		}
	}
	check := func(e *Engine) {
		t.Helper()
		recs, err := e.Read(ctx, "orders", 1, 0, 1000, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 100 {
			t.Fatalf("read %d records, want 100", len(recs))
		}
		for i, r := range recs {
			if r.Offset != int64(i) || string(r.Value) != fmt.Sprint(2*i+1) {
				t.Fatalf("record %d: offset %d value %s", i, r.Offset, r.Value)
			}
		}
		recs, err = e.Read(ctx, "orders", 1, 57, 3, 1<<20)
		if err != nil || len(recs) != 3 || recs[0].Offset != 57 {
			t.Fatalf("read from 57: %v %v", recs, err)
		}
		off, err := e.OffsetForTime(ctx, "orders", 0, time.Now().Add(-time.Hour))
		if err != nil || off != 0 {
			t.Fatalf("offset for old time: %d %v", off, err)
		}
		off, err = e.OffsetForTime(ctx, "orders", 0, time.Now().Add(time.Hour))
		if err != nil || off != 100 {
			t.Fatalf("offset for future time: %d %v", off, err)
		}
	}
	check(e)
	if len(e.topics["orders"].parts[0].segs) < 2 {
		t.Fatalf("expected segments to roll")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	check(e)
	bases, err := e.Append(ctx, "orders", []storage.PartitionRecords{{Partition: 1, Records: []storage.Record{rec("k", "x")}}})
	if err != nil || bases[0] != 100 {
		t.Fatalf("append after reopen: %v %v", bases, err)
	}
}
