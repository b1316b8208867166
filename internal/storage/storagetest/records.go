package storagetest

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/storage"
)

// This file holds the record builders and the session helpers that every
// group of subtests uses.

// rec builds a record with a key and a value; an empty key string gives a
// nil key.
func rec(key, value string) storage.Record {
	r := storage.Record{Value: []byte(value)}
	if key != "" {
		r.Key = []byte(key)
	}
	return r
}

// recs builds n records valued prefix-0 … prefix-(n-1), keyed by index.
func recs(prefix string, n int) []storage.Record {
	out := make([]storage.Record, n)
	for i := range out {
		out[i] = rec("k"+strconv.Itoa(i), prefix+"-"+strconv.Itoa(i))
	}
	return out
}

// sized builds record i of a series whose value is size bytes of a pattern
// that depends on prefix and i, so a misplaced or truncated record shows.
func sized(prefix string, i, size int) storage.Record {
	v := make([]byte, size)
	seed := prefix + "/" + strconv.Itoa(i) + "/"
	for j := range v {
		v[j] = seed[j%len(seed)]
	}
	return storage.Record{Key: []byte(seed), Value: v}
}

// sizedSeries builds n records of size bytes each, numbered from first.
func sizedSeries(prefix string, first, n, size int) []storage.Record {
	out := make([]storage.Record, n)
	for i := range out {
		out[i] = sized(prefix, first+i, size)
	}
	return out
}

// at returns rs with timestamps base, base+step, base+2*step, ….
func at(rs []storage.Record, base time.Time, step time.Duration) []storage.Record {
	for i := range rs {
		rs[i].Timestamp = base.Add(time.Duration(i) * step)
	}
	return rs
}

// part is the part of an append that goes to partition p.
func part(p int, rs ...storage.Record) storage.PartitionRecords {
	return storage.PartitionRecords{Partition: p, Records: rs}
}

// payloadSize is the bytes a record carries: key, value and headers.
func payloadSize(r storage.Record) int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// stored is what rs must read back as after an append gave them base:
// offsets from base and timestamps at millisecond precision. A zero
// timestamp stays zero, which diffRecord reads as "any time".
func stored(base int64, rs []storage.Record) []storage.Record {
	out := make([]storage.Record, len(rs))
	for i, r := range rs {
		r.Offset = base + int64(i)
		if !r.Timestamp.IsZero() {
			r.Timestamp = time.UnixMilli(r.Timestamp.UnixMilli())
		}
		out[i] = r
	}
	return out
}

// diffRecord describes how got differs from want, or returns "". Nil and
// empty byte slices differ: Kafka records keep the distinction (a nil value
// is a tombstone).
func diffRecord(got, want storage.Record) string {
	switch {
	case got.Offset != want.Offset:
		return fmt.Sprintf("offset %d, want %d", got.Offset, want.Offset)
	case !want.Timestamp.IsZero() && !got.Timestamp.Equal(want.Timestamp):
		return fmt.Sprintf("offset %d: timestamp %v, want %v", want.Offset, got.Timestamp, want.Timestamp)
	case diffBytes(got.Key, want.Key) != "":
		return fmt.Sprintf("offset %d: key %s", want.Offset, diffBytes(got.Key, want.Key))
	case diffBytes(got.Value, want.Value) != "":
		return fmt.Sprintf("offset %d: value %s", want.Offset, diffBytes(got.Value, want.Value))
	case len(got.Headers) != len(want.Headers):
		return fmt.Sprintf("offset %d: %d headers, want %d", want.Offset, len(got.Headers), len(want.Headers))
	}
	for i, h := range want.Headers {
		g := got.Headers[i]
		if g.Key != h.Key || diffBytes(g.Value, h.Value) != "" {
			return fmt.Sprintf("offset %d: header %d is %q=%s, want %q=%s",
				want.Offset, i, g.Key, showBytes(g.Value), h.Key, showBytes(h.Value))
		}
	}
	return ""
}

func diffBytes(got, want []byte) string {
	if (got == nil) != (want == nil) || !bytes.Equal(got, want) {
		return fmt.Sprintf("%s, want %s", showBytes(got), showBytes(want))
	}
	return ""
}

func showBytes(b []byte) string {
	switch {
	case b == nil:
		return "nil"
	case len(b) > 40:
		return fmt.Sprintf("%q… (%d bytes)", b[:40], len(b))
	default:
		return fmt.Sprintf("%q", b)
	}
}

// wantRecords fails the test unless got equals want record by record.
func wantRecords(t *testing.T, what string, got, want []storage.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d records, want %d", what, len(got), len(want))
	}
	for i := range want {
		if d := diffRecord(got[i], want[i]); d != "" {
			t.Fatalf("%s: record %d: %s", what, i, d)
		}
	}
}

// create creates a topic.
func (s *session) create(name string, cfg storage.TopicConfig) {
	s.t.Helper()
	if err := s.e.CreateTopic(s.ctx, name, cfg); err != nil {
		s.t.Fatalf("CreateTopic %q: %v", name, err)
	}
}

// appendParts appends parts to topic and returns the base offsets.
func (s *session) appendParts(topic string, parts ...storage.PartitionRecords) []int64 {
	s.t.Helper()
	bases, err := s.e.Append(s.ctx, topic, parts)
	if err != nil {
		s.t.Fatalf("Append to %q: %v", topic, err)
	}
	if len(bases) != len(parts) {
		s.t.Fatalf("Append to %q: got %d base offsets for %d parts", topic, len(bases), len(parts))
	}
	return bases
}

// appendTo appends rs to one partition and returns the base offset.
func (s *session) appendTo(topic string, p int, rs ...storage.Record) int64 {
	s.t.Helper()
	return s.appendParts(topic, part(p, rs...))[0]
}

// offsets returns a partition's start and end offsets.
func (s *session) offsets(topic string, p int) (start, end int64) {
	s.t.Helper()
	start, end, err := s.e.Offsets(s.ctx, topic, p)
	if err != nil {
		s.t.Fatalf("Offsets %q/%d: %v", topic, p, err)
	}
	return start, end
}

// wantOffsets fails the test unless the partition's offsets are as given.
func (s *session) wantOffsets(topic string, p int, start, end int64) {
	s.t.Helper()
	gs, ge := s.offsets(topic, p)
	if gs != start || ge != end {
		s.t.Fatalf("Offsets %q/%d = (%d, %d), want (%d, %d)", topic, p, gs, ge, start, end)
	}
}

// read reads once and checks what every read must satisfy: offsets
// contiguous from offset, at most max records, and at least one record
// when offset is before the end.
func (s *session) read(topic string, p int, offset int64, max, maxBytes int) []storage.Record {
	s.t.Helper()
	got, err := s.e.Read(s.ctx, topic, p, offset, max, maxBytes)
	if err != nil {
		s.t.Fatalf("Read %q/%d at %d: %v", topic, p, offset, err)
	}
	if len(got) > max {
		s.t.Fatalf("Read %q/%d at %d max %d: got %d records", topic, p, offset, max, len(got))
	}
	for i, r := range got {
		if r.Offset != offset+int64(i) {
			s.t.Fatalf("Read %q/%d at %d: record %d has offset %d, want %d",
				topic, p, offset, i, r.Offset, offset+int64(i))
		}
	}
	if len(got) == 0 {
		if _, end := s.offsets(topic, p); offset < end {
			s.t.Fatalf("Read %q/%d at %d: no records before end offset %d", topic, p, offset, end)
		}
	}
	return got
}

// readAll reads a partition from offset up to its end offset, in pages.
func (s *session) readAll(topic string, p int, offset int64) []storage.Record {
	s.t.Helper()
	_, end := s.offsets(topic, p)
	var all []storage.Record
	for offset < end {
		got := s.read(topic, p, offset, 1000, 4<<20)
		all = append(all, got...)
		offset += int64(len(got))
	}
	return all
}
