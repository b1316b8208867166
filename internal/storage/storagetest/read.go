package storagetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/heraldevents/herald/internal/storage"
)

var readTests = []test{
	{"FromStartAndFromMiddle", testReadFromStartAndMiddle},
	{"AtEndIsEmptyWithoutError", testReadAtEnd},
	{"PastEndIsErrOffsetOutOfRange", testReadPastEnd},
	{"NegativeOffsetIsErrOffsetOutOfRange", testReadNegative},
	{"UnknownPartitionIsErrUnknownPartition", testUnknownPartition},
	{"MaxRecordsRespected", testReadMaxRecords},
	{"MaxBytesRespected", testReadMaxBytes},
	{"MaxBytesReturnsAtLeastOneRecord", testReadMaxBytesAtLeastOne},
	{"AcrossManyAppends", testReadAcrossManyAppends},
	{"AcrossSegmentBoundaries", testReadAcrossSegments},
	{"WhileAppending", testReadWhileAppending},
}

// segmentSeries is how the suite fills several segments: records of
// segmentRecordBytes, segmentRecords of them (6 MiB, six segments of
// SegmentBytes).
const (
	segmentRecordBytes = 64 << 10
	segmentRecords     = 6 * SegmentBytes / segmentRecordBytes
)

// fillSegments appends segmentRecords records of segmentRecordBytes to
// partition 0 of topic, in appends of one to five records, and returns what
// must be read back.
func (s *session) fillSegments(topic, prefix string) []storage.Record {
	s.t.Helper()
	rs := sizedSeries(prefix, 0, segmentRecords, segmentRecordBytes)
	var want []storage.Record
	for i, n := 0, 1; i < len(rs); i, n = i+n, n%5+1 {
		batch := rs[i:min(i+n, len(rs))]
		want = append(want, stored(s.appendTo(topic, 0, batch...), batch)...)
	}
	return want
}

func testReadFromStartAndMiddle(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	want := stored(0, recs("v", 10))
	s.appendTo("orders", 0, recs("v", 10)...)
	for _, from := range []int64{0, 1, 5, 9} {
		got := s.read("orders", 0, from, 100, 1<<20)
		wantRecords(t, fmt.Sprint("read from ", from), got, want[from:])
	}
}

func testReadAtEnd(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 2})
	s.appendTo("orders", 0, recs("v", 4)...)
	for p, end := range []int64{4, 0} {
		got, err := s.e.Read(s.ctx, "orders", p, end, 10, 1<<20)
		if err != nil || len(got) != 0 {
			t.Errorf("Read partition %d at end %d = %d records, %v; want none, no error", p, end, len(got), err)
		}
	}
}

func testReadPastEnd(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 2})
	s.appendTo("orders", 0, recs("v", 4)...)
	for _, c := range []struct {
		p      int
		offset int64
	}{{0, 5}, {0, 1000}, {1, 1}} {
		_, err := s.e.Read(s.ctx, "orders", c.p, c.offset, 10, 1<<20)
		wantErr(t, "Read past end", err, storage.ErrOffsetOutOfRange)
	}
}

func testReadNegative(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	s.appendTo("orders", 0, recs("v", 4)...)
	for _, offset := range []int64{-1, -2, -1000} {
		_, err := s.e.Read(s.ctx, "orders", 0, offset, 10, 1<<20)
		wantErr(t, "Read at a negative offset", err, storage.ErrOffsetOutOfRange)
	}
}

func testUnknownPartition(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 2})
	s.appendTo("orders", 1, recs("v", 2)...)
	for _, p := range []int{2, -1, 1000} {
		_, err := s.e.Read(s.ctx, "orders", p, 0, 10, 1<<20)
		wantErr(t, "Read", err, storage.ErrUnknownPartition)
		_, _, err = s.e.Offsets(s.ctx, "orders", p)
		wantErr(t, "Offsets", err, storage.ErrUnknownPartition)
		_, err = s.e.OffsetForTime(s.ctx, "orders", p, s.env.Now())
		wantErr(t, "OffsetForTime", err, storage.ErrUnknownPartition)
	}
}

func testReadMaxRecords(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	s.appendTo("orders", 0, recs("v", 20)...)
	want := stored(0, recs("v", 20))
	for _, limit := range []int{1, 3, 7, 20, 1000} {
		var got []storage.Record
		for off := int64(0); off < 20; off = int64(len(got)) {
			got = append(got, s.read("orders", 0, off, limit, 1<<20)...) // read checks len ≤ limit
		}
		wantRecords(t, "paged read", got, want)
	}
}

// testReadMaxBytes reads records of 1000 bytes with a 5000-byte budget.
// "About maxBytes" is taken as: the records before the last one returned
// carry less than maxBytes, so an engine may overshoot by at most the record
// that crosses the limit.
func testReadMaxBytes(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	rs := sizedSeries("v", 0, 50, 1000)
	s.appendTo("orders", 0, rs[:25]...)
	s.appendTo("orders", 0, rs[25:]...)
	want := stored(0, rs)
	const maxBytes = 5000
	var got []storage.Record
	for off := int64(0); off < 50; off = int64(len(got)) {
		page := s.read("orders", 0, off, 1000, maxBytes)
		carried := 0
		for _, r := range page[:len(page)-1] {
			carried += payloadSize(r)
		}
		if carried >= maxBytes {
			t.Fatalf("Read at %d with maxBytes %d returned %d records, %d bytes before the last",
				off, maxBytes, len(page), carried)
		}
		got = append(got, page...)
	}
	wantRecords(t, "paged read", got, want)
}

func testReadMaxBytesAtLeastOne(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	rs := sizedSeries("big", 0, 3, 64<<10)
	s.appendTo("orders", 0, rs...)
	want := stored(0, rs)
	for _, maxBytes := range []int{1, 100, 64 << 10} {
		for i := range want {
			got := s.read("orders", 0, int64(i), 10, maxBytes)
			wantRecords(t, "read bigger than maxBytes", got, want[i:i+1])
		}
	}
}

func testReadAcrossManyAppends(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	var want []storage.Record
	for i := range 500 {
		r := sized("v", i, 10+i%50)
		want = append(want, stored(s.appendTo("orders", 0, r), []storage.Record{r})...)
	}
	var got []storage.Record
	for off := int64(0); off < 500; off = int64(len(got)) {
		got = append(got, s.read("orders", 0, off, 37, 1<<20)...)
	}
	wantRecords(t, "paged read", got, want)
}

func testReadAcrossSegments(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	want := s.fillSegments("orders", "seg")
	s.wantOffsets("orders", 0, 0, int64(len(want)))
	for i := range want {
		got := s.read("orders", 0, int64(i), 2, 1<<30)
		wantRecords(t, "read of up to two records", got, want[i:i+len(got)])
	}
	for _, maxBytes := range []int{100 << 10, SegmentBytes, 4 << 20} {
		var got []storage.Record
		for off := int64(0); off < int64(len(want)); off = int64(len(got)) {
			got = append(got, s.read("orders", 0, off, 1000, maxBytes)...)
		}
		wantRecords(t, "paged read", got, want)
	}
}

// testReadWhileAppending reads a partition while another goroutine appends
// to it: every record read is the right one, and an append's records are
// readable as soon as Append returns.
func testReadWhileAppending(t *testing.T, s *session) {
	const n = 300
	s.create("orders", storage.TopicConfig{Partitions: 1})
	rs := sizedSeries("live", 0, n, 8<<10)
	want := stored(0, rs)
	done := make(chan struct{})
	var appendErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i := range rs {
			if _, appendErr = s.e.Append(s.ctx, "orders", []storage.PartitionRecords{part(0, rs[i])}); appendErr != nil {
				return
			}
			got, err := s.e.Read(s.ctx, "orders", 0, int64(i), 1, 1<<20)
			if err != nil || len(got) != 1 || diffRecord(got[0], want[i]) != "" {
				t.Errorf("Read right after appending offset %d: %d records, %v", i, len(got), err)
				return
			}
		}
	})
	off := int64(0)
	for bad := false; off < n && !bad; {
		finished := isClosed(done) // if so, the read below sees every append
		got, err := s.e.Read(s.ctx, "orders", 0, off, 50, 256<<10)
		if err != nil {
			t.Errorf("Read at %d while appending: %v", off, err)
			break
		}
		if len(got) == 0 && finished {
			break
		}
		for _, r := range got {
			if r.Offset != off {
				t.Errorf("Read while appending at %d: got offset %d", off, r.Offset)
			} else if d := diffRecord(r, want[off]); d != "" {
				t.Errorf("Read while appending: %s", d)
			}
			if bad = t.Failed(); bad {
				break
			}
			off++
		}
	}
	wg.Wait()
	if appendErr != nil {
		t.Fatalf("Append: %v", appendErr)
	}
	if off != n && !t.Failed() {
		t.Fatalf("reader stopped at offset %d, want %d", off, n)
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
