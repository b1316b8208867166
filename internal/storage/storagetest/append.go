package storagetest

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var appendTests = []test{
	{"EmptyTopicOffsetsAreZero", testEmptyTopicOffsets},
	{"ContiguousOffsetsAcrossCalls", testContiguousOffsets},
	{"MultiPartitionReturnsBaseOffsetPerPart", testMultiPartitionBases},
	{"RecordsRoundTripExactly", testRecordsRoundTrip},
	{"ZeroTimestampBecomesNow", testZeroTimestamp},
	{"TimestampsStoredAsGivenOutOfOrder", testTimestampsOutOfOrder},
	{"UnknownPartitionStoresNothing", testUnknownPartitionAppend},
	{"UnknownTopicIsErrUnknownTopic", testUnknownTopicAppend},
	{"EmptyPartStoresNothing", testEmptyPart},
	{"CallerMayReuseBuffersAfterAppend", testCallerReusesBuffers},
	{"LargeRecords", testLargeRecords},
	{"ConcurrentAppendsGetContiguousOffsets", testConcurrentAppends},
	{"CancelledContextNeverCorrupts", testCancelledContext},
	{"CancelMidFlightIsAllOrNothing", testCancelMidFlight},
}

func testEmptyTopicOffsets(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 3})
	for p := range 3 {
		s.wantOffsets("orders", p, 0, 0)
		if got := s.read("orders", p, 0, 10, 1<<20); len(got) != 0 {
			t.Errorf("Read of empty partition %d returned %d records", p, len(got))
		}
	}
}

func testContiguousOffsets(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	var want []storage.Record
	var next int64
	for i, n := range []int{1, 3, 5, 1, 10} {
		batch := recs(string(rune('a'+i)), n)
		if base := s.appendTo("orders", 0, batch...); base != next {
			t.Fatalf("append %d got base %d, want %d", i, base, next)
		}
		want = append(want, stored(next, batch)...)
		next += int64(n)
		s.wantOffsets("orders", 0, 0, next)
	}
	wantRecords(t, "partition 0", s.readAll("orders", 0, 0), want)
}

func testMultiPartitionBases(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 4})
	s.appendTo("orders", 2, recs("seed", 5)...)
	bases := s.appendParts("orders",
		part(0, recs("p0", 2)...),
		part(2, recs("p2", 3)...),
		part(3, recs("p3", 1)...))
	if want := []int64{0, 5, 0}; bases[0] != want[0] || bases[1] != want[1] || bases[2] != want[2] {
		t.Fatalf("Append bases = %v, want %v", bases, want)
	}
	bases = s.appendParts("orders", part(3, recs("p3b", 2)...), part(0, recs("p0b", 1)...))
	if bases[0] != 1 || bases[1] != 2 {
		t.Fatalf("second Append bases = %v, want [1 2]", bases)
	}
	s.wantOffsets("orders", 0, 0, 3)
	s.wantOffsets("orders", 1, 0, 0)
	s.wantOffsets("orders", 2, 0, 8)
	s.wantOffsets("orders", 3, 0, 3)
	wantRecords(t, "partition 3", s.readAll("orders", 3, 0),
		append(stored(0, recs("p3", 1)), stored(1, recs("p3b", 2))...))
	wantRecords(t, "partition 2", s.readAll("orders", 2, 0),
		append(stored(0, recs("seed", 5)), stored(5, recs("p2", 3))...))
}

// roundTripRecords are records whose every field must come back unchanged.
func roundTripRecords() []storage.Record {
	ts := time.Date(2024, 2, 29, 12, 34, 56, 789_654_321, time.UTC)
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	return []storage.Record{
		{Key: nil, Value: []byte("nil key")},
		{Key: []byte{}, Value: []byte("empty key")},
		{Key: []byte("tombstone"), Value: nil},
		{Key: []byte("empty value"), Value: []byte{}},
		{Key: allBytes, Value: allBytes},
		{Key: []byte("headers"), Value: []byte("v"), Headers: []kmsg.Header{
			{Key: "ce_type", Value: []byte("OrderPlaced")},
			{Key: "ce_id", Value: []byte("1")},
			{Key: "ce_type", Value: []byte("duplicate key, kept in order")},
			{Key: "trace", Value: []byte("same")},
			{Key: "trace", Value: []byte("same")},
			{Key: "empty", Value: []byte{}},
			{Key: "nil", Value: nil},
			{Key: "", Value: []byte("empty header key")},
		}},
		{Value: []byte("sub-millisecond timestamp"), Timestamp: ts},
		{Value: []byte("other zone"), Timestamp: ts.In(time.FixedZone("UTC+5", 5*3600)).Add(time.Hour)},
		{Value: []byte("before 2000"), Timestamp: time.Date(1999, 12, 31, 23, 59, 59, 999_000_000, time.UTC)},
	}
}

func testRecordsRoundTrip(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	rs := roundTripRecords()
	base := s.appendTo("orders", 0, rs...)
	want := stored(base, rs)
	for _, r := range rs { // again, one record per append
		want = append(want, stored(s.appendTo("orders", 0, r), []storage.Record{r})...)
	}
	got := s.readAll("orders", 0, 0)
	wantRecords(t, "round trip", got, want)
	for _, r := range got {
		if r.Timestamp.Nanosecond()%int(time.Millisecond) != 0 {
			t.Errorf("offset %d: timestamp %v is finer than a millisecond", r.Offset, r.Timestamp)
		}
	}
	for i := range want { // and one record per read
		wantRecords(t, "single read", s.read("orders", 0, int64(i), 1, 1<<20), want[i:i+1])
	}
}

func testZeroTimestamp(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	explicit := time.Date(2020, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	rs := recs("v", 3)
	rs[1].Timestamp = explicit
	before := s.env.Now()
	s.appendTo("orders", 0, rs...)
	after := s.env.Now()
	got := s.readAll("orders", 0, 0)
	wantRecords(t, "records", got, stored(0, rs))
	wantNow(t, "timestamp of record 0", got[0].Timestamp, before, after)
	wantNow(t, "timestamp of record 2", got[2].Timestamp, before, after)
	for _, r := range got {
		if r.Timestamp.Nanosecond()%int(time.Millisecond) != 0 {
			t.Errorf("offset %d: timestamp %v is finer than a millisecond", r.Offset, r.Timestamp)
		}
	}
}

func testTimestampsOutOfOrder(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	rs := recs("v", 4)
	for i, d := range []time.Duration{30, 10, 40, 20} {
		rs[i].Timestamp = base.Add(d * time.Second)
	}
	s.appendTo("orders", 0, rs...)
	wantRecords(t, "records", s.readAll("orders", 0, 0), stored(0, rs))
}

func testUnknownPartitionAppend(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 3})
	s.appendTo("orders", 0, recs("seed", 2)...)
	bad := map[string][]storage.PartitionRecords{
		"LastPartBad":   {part(0, recs("x", 2)...), part(3, recs("x", 1)...)},
		"FirstPartBad":  {part(-1, recs("x", 1)...), part(1, recs("x", 2)...)},
		"MiddlePartBad": {part(1, recs("x", 1)...), part(99, recs("x", 1)...), part(2, recs("x", 1)...)},
		"OnlyPartBad":   {part(3, recs("x", 1)...)},
	}
	for name, parts := range bad {
		_, err := s.e.Append(s.ctx, "orders", parts)
		wantErr(t, "Append "+name, err, storage.ErrUnknownPartition)
		s.wantOffsets("orders", 0, 0, 2)
		s.wantOffsets("orders", 1, 0, 0)
		s.wantOffsets("orders", 2, 0, 0)
	}
	if base := s.appendTo("orders", 0, rec("", "after")); base != 2 {
		t.Fatalf("append after refused appends got base %d, want 2", base)
	}
	wantRecords(t, "partition 0", s.readAll("orders", 0, 0),
		append(stored(0, recs("seed", 2)), stored(2, []storage.Record{rec("", "after")})...))
}

func testUnknownTopicAppend(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	_, err := s.e.Append(s.ctx, "order", []storage.PartitionRecords{part(0, rec("", "v"))})
	wantErr(t, "Append to a missing topic", err, storage.ErrUnknownTopic)
	s.wantOffsets("orders", 0, 0, 0)
}

// testEmptyPart allows an append with no records to succeed or fail, but it
// must store nothing and leave offsets where they were.
func testEmptyPart(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 2})
	s.appendTo("orders", 0, recs("seed", 2)...)
	for name, parts := range map[string][]storage.PartitionRecords{
		"NoParts":           nil,
		"PartWithNoRecords": {part(0)},
		"OneEmptyOneFull":   {part(1), part(0, rec("", "full"))},
	} {
		bases, err := s.e.Append(s.ctx, "orders", parts)
		if err == nil && len(bases) != len(parts) {
			t.Errorf("Append %s: %d bases for %d parts", name, len(bases), len(parts))
		}
		t.Logf("Append %s: bases %v, error %v", name, bases, err)
	}
	_, end := s.offsets("orders", 0)
	if end != 2 && end != 3 {
		t.Fatalf("end offset of partition 0 = %d, want 2 (or 3 if the mixed append succeeded)", end)
	}
	s.wantOffsets("orders", 1, 0, 0)
	if base := s.appendTo("orders", 0, rec("", "next")); base != end {
		t.Fatalf("next append got base %d, want %d", base, end)
	}
}

func testCallerReusesBuffers(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	rs := []storage.Record{{Key: []byte("key"), Value: []byte("value"),
		Headers: []kmsg.Header{{Key: "h", Value: []byte("header")}}}}
	want := stored(0, []storage.Record{{Key: []byte("key"), Value: []byte("value"),
		Headers: []kmsg.Header{{Key: "h", Value: []byte("header")}}}})
	s.appendTo("orders", 0, rs...)
	for _, b := range [][]byte{rs[0].Key, rs[0].Value, rs[0].Headers[0].Value} {
		for i := range b {
			b[i] = 'X'
		}
	}
	rs[0].Headers[0].Key = "changed"
	got := s.readAll("orders", 0, 0)
	wantRecords(t, "after the caller changed its buffers", got, want)
	for _, b := range [][]byte{got[0].Key, got[0].Value, got[0].Headers[0].Value} {
		for i := range b {
			b[i] = 'Y'
		}
	}
	wantRecords(t, "after the caller changed a read's result", s.readAll("orders", 0, 0), want)
}

// LargeValueBytes is the value size of the suite's large records. A Kafka
// engine's harness must allow records this big (max.message.bytes).
const LargeValueBytes = 1 << 20

func testLargeRecords(t *testing.T, s *session) {
	s.create("blobs", storage.TopicConfig{Partitions: 1})
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	rs := make([]storage.Record, 4)
	for i := range rs {
		v := make([]byte, LargeValueBytes)
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		rs[i] = storage.Record{Key: []byte{byte(i)}, Value: v}
	}
	s.appendTo("blobs", 0, rs[0])
	s.appendTo("blobs", 0, rs[1:]...)
	want := stored(0, rs)
	for i := range want {
		wantRecords(t, "read with maxBytes 1", s.read("blobs", 0, int64(i), 10, 1), want[i:i+1])
	}
	wantRecords(t, "read all", s.readAll("blobs", 0, 0), want)
}
