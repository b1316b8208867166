package storagetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/storage"
)

// call is one Append made by a concurrent test and what it returned.
type call struct {
	parts []storage.PartitionRecords
	bases []int64
	err   error
}

// callRecords builds the parts of call i of goroutine g: one or two
// partitions, one to three records each, every value unique.
func callRecords(g, i, partitions int, multi bool) []storage.PartitionRecords {
	ps := []int{g % partitions}
	if multi {
		ps = append(ps, (g+1)%partitions)
	}
	parts := make([]storage.PartitionRecords, len(ps))
	for k, p := range ps {
		rs := make([]storage.Record, 1+(g+i+k)%3)
		for j := range rs {
			rs[j] = rec(fmt.Sprintf("g%d", g), fmt.Sprintf("g%d/call%d/p%d/r%d", g, i, p, j))
		}
		parts[k] = part(p, rs...)
	}
	return parts
}

// position is where a record sits: partition and offset.
type position struct {
	p   int
	off int64
}

// expectedRecords is what successful calls stored, by position. It fails
// the test if two calls were given the same position, or if a goroutine's
// later call to a partition got a lower offset than its earlier one.
func (s *session) expectedRecords(calls [][]call) map[position]storage.Record {
	s.t.Helper()
	want := map[position]storage.Record{}
	for _, gcalls := range calls {
		last := map[int]int64{}
		for _, c := range gcalls {
			if c.err != nil {
				continue
			}
			if len(c.bases) != len(c.parts) {
				s.t.Fatalf("a successful append returned %d bases for %d parts", len(c.bases), len(c.parts))
			}
			for k, pr := range c.parts {
				if prev, ok := last[pr.Partition]; ok && c.bases[k] <= prev {
					s.t.Errorf("a goroutine's later append to partition %d got base %d, after %d",
						pr.Partition, c.bases[k], prev)
				}
				last[pr.Partition] = c.bases[k]
				for _, r := range stored(c.bases[k], pr.Records) {
					at := position{pr.Partition, r.Offset}
					if _, dup := want[at]; dup {
						s.t.Fatalf("two appends were given partition %d offset %d", at.p, at.off)
					}
					want[at] = r
				}
			}
		}
	}
	return want
}

// wantCalls checks a topic after concurrent appends: every record of a
// successful call is at its base offset in order, no failed call left a
// record, and nothing else is stored.
func (s *session) wantCalls(topic string, partitions int, calls [][]call) {
	s.t.Helper()
	want := s.expectedRecords(calls)
	total := 0
	for p := range partitions {
		got := s.readAll(topic, p, 0)
		total += len(got)
		for _, r := range got {
			w, ok := want[position{p, r.Offset}]
			if !ok {
				s.t.Fatalf("partition %d offset %d holds %q, which no successful append stored there",
					p, r.Offset, r.Value)
			}
			if d := diffRecord(r, w); d != "" {
				s.t.Fatalf("partition %d: %s", p, d)
			}
		}
	}
	if total != len(want) {
		s.t.Fatalf("partitions hold %d records, successful appends stored %d", total, len(want))
	}
}

func testConcurrentAppends(t *testing.T, s *session) {
	const goroutines, perGoroutine, partitions = 16, 25, 4
	s.create("orders", storage.TopicConfig{Partitions: partitions})
	calls := make([][]call, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perGoroutine {
				c := call{parts: callRecords(g, i, partitions, i%5 == 0)}
				c.bases, c.err = s.e.Append(s.ctx, "orders", c.parts)
				calls[g] = append(calls[g], c)
			}
		})
	}
	wg.Wait()
	for g, gcalls := range calls {
		for i, c := range gcalls {
			if c.err != nil {
				t.Fatalf("goroutine %d append %d: %v", g, i, c.err)
			}
			if len(c.bases) != len(c.parts) {
				t.Fatalf("goroutine %d append %d: %d bases for %d parts", g, i, len(c.bases), len(c.parts))
			}
		}
	}
	s.wantCalls("orders", partitions, calls)
}

func testCancelledContext(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 2})
	s.appendTo("orders", 0, recs("seed", 3)...)
	cancelled, cancel := context.WithCancel(s.ctx)
	cancel()
	expired, cancel2 := context.WithTimeout(s.ctx, -time.Second)
	defer cancel2()
	want := stored(0, recs("seed", 3))
	var end1 int64
	for name, ctx := range map[string]context.Context{"Cancelled": cancelled, "DeadlineExceeded": expired} {
		_, end := s.offsets("orders", 0)
		rs := recs(name, 2)
		bases, err := s.e.Append(ctx, "orders", []storage.PartitionRecords{part(0, rs...), part(1, rs...)})
		t.Logf("Append with a %s context: %v", name, err)
		if err == nil {
			if len(bases) != 2 || bases[0] != end || bases[1] != end1 {
				t.Fatalf("Append with a %s context succeeded with bases %v, want [%d %d]", name, bases, end, end1)
			}
			want = append(want, stored(end, rs)...)
			end1 += int64(len(rs))
		}
		s.wantOffsets("orders", 0, 0, int64(len(want)))
		s.wantOffsets("orders", 1, 0, end1)
	}
	base := s.appendTo("orders", 0, rec("", "after"))
	if base != int64(len(want)) {
		t.Fatalf("append after the cancelled ones got base %d, want %d", base, len(want))
	}
	want = append(want, stored(base, []storage.Record{rec("", "after")})...)
	wantRecords(t, "partition 0", s.readAll("orders", 0, 0), want)
}

// testCancelMidFlight cancels a context while many appends use it. Each
// append may succeed or fail, but a failed one must store nothing (the
// contract's all or nothing), and the log must stay contiguous.
func testCancelMidFlight(t *testing.T, s *session) {
	const goroutines, maxPerGoroutine, partitions = 8, 200, 2
	s.create("orders", storage.TopicConfig{Partitions: partitions})
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	var succeeded atomic.Int64
	calls := make([][]call, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := 0; i < maxPerGoroutine && ctx.Err() == nil; i++ {
				c := call{parts: callRecords(g, i, partitions, i%2 == 0)}
				c.bases, c.err = s.e.Append(ctx, "orders", c.parts)
				calls[g] = append(calls[g], c)
				if c.err == nil && succeeded.Add(1) == 20 {
					cancel()
				}
			}
		})
	}
	wg.Wait()
	failed := 0
	for _, gcalls := range calls {
		for _, c := range gcalls {
			if c.err != nil {
				failed++
			}
		}
	}
	t.Logf("%d appends succeeded, %d failed", succeeded.Load(), failed)
	s.wantCalls("orders", partitions, calls)
	for p := range partitions {
		_, end := s.offsets("orders", p)
		if base := s.appendTo("orders", p, rec("", "after")); base != end {
			t.Fatalf("partition %d: append after cancellation got base %d, want %d", p, base, end)
		}
	}
}
