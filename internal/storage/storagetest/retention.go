package storagetest

import (
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/storage"
)

// Engines delete whole segments, so these tests assert only what any
// segment-based engine guarantees: the start offset moves forward to a
// record boundary no later than the first record that must be kept, the
// records from there on are intact, and the end offset does not move. The
// suite's segments are at most SegmentBytes (see Features.Retention) and the
// tests write several of them.

var retentionTests = []test{
	{"ByAgeDropsOldRecords", testRetentionByAge},
	{"ByAgeKeepsYoungRecords", testRetentionKeepsYoung},
	{"ByBytesKeepsTheNewest", testRetentionByBytes},
	{"ZeroMeansKeepForever", testRetentionZero},
	{"UpdateTopicAppliesNewRetention", testRetentionAfterUpdate},
	{"AppendsContinueAfterDeletion", testRetentionThenAppend},
	{"StartOffsetSurvivesReopen", testRetentionReopen},
}

// wantTrimmed checks partition p of topic after a retention pass that had
// to delete records before firstKept: want holds every record ever
// appended. It returns the new start offset.
func (s *session) wantTrimmed(topic string, p int, want []storage.Record, firstKept int64) int64 {
	s.t.Helper()
	start, end := s.offsets(topic, p)
	if end != int64(len(want)) {
		s.t.Fatalf("retention moved the end offset to %d, want %d", end, len(want))
	}
	if start <= 0 || start > firstKept {
		s.t.Fatalf("after retention the start offset is %d, want one in (0, %d]", start, firstKept)
	}
	for _, off := range []int64{0, start - 1} {
		_, err := s.e.Read(s.ctx, topic, p, off, 10, 1<<20)
		wantErr(s.t, "Read before the start offset", err, storage.ErrOffsetOutOfRange)
	}
	wantRecords(s.t, "records from the start offset", s.readAll(topic, p, start), want[start:])
	if off := s.offsetForTime(topic, p, time.UnixMilli(0)); off != start {
		s.t.Errorf("OffsetForTime(epoch) after retention = %d, want the start offset %d", off, start)
	}
	return start
}

// wantUntrimmed fails the test unless partition p still holds all of want.
func (s *session) wantUntrimmed(topic string, p int, want []storage.Record) {
	s.t.Helper()
	s.wantOffsets(topic, p, 0, int64(len(want)))
	wantRecords(s.t, "records after a retention pass that had nothing to delete", s.readAll(topic, p, 0), want)
}

// fillOldThenNew fills segments, lets age pass, then appends two segments'
// worth of new records, so that one sealed segment holds both old and new
// records: an engine must keep it, since its newest record is young. It
// returns every record and the offset of the first new one.
func (s *session) fillOldThenNew(topic string, age time.Duration) ([]storage.Record, int64) {
	s.t.Helper()
	want := s.fillSegments(topic, "old")
	s.clock.advance(age)
	rs := sizedSeries("new", 0, 2*SegmentBytes/segmentRecordBytes, segmentRecordBytes)
	base := s.appendTo(topic, 0, rs[:1]...)
	s.appendTo(topic, 0, rs[1:]...)
	return append(want, stored(base, rs)...), base
}

func testRetentionByAge(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1, RetentionAge: time.Hour})
	want, firstNew := s.fillOldThenNew("orders", 2*time.Hour)
	s.enforceRetention()
	s.wantTrimmed("orders", 0, want, firstNew)
}

func testRetentionKeepsYoung(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1, RetentionAge: time.Hour})
	want, _ := s.fillOldThenNew("orders", 30*time.Minute)
	s.enforceRetention()
	s.wantUntrimmed("orders", 0, want)
}

func testRetentionByBytes(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 2, RetentionBytes: SegmentBytes})
	want := s.fillSegments("orders", "big")
	small := recs("small", 3)
	s.appendTo("orders", 1, small...)
	s.enforceRetention()
	last := int64(len(want) - 1)
	start := s.wantTrimmed("orders", 0, want, last)
	kept := 0
	for _, r := range want[start:] {
		kept += payloadSize(r)
	}
	if total := len(want) * segmentRecordBytes; kept > total/2 {
		t.Errorf("RetentionBytes %d kept %d of %d bytes", SegmentBytes, kept, total)
	}
	s.wantUntrimmed("orders", 1, stored(0, small))
}

func testRetentionZero(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	want := s.fillSegments("orders", "old")
	s.clock.advance(10 * 365 * 24 * time.Hour)
	s.enforceRetention()
	s.wantUntrimmed("orders", 0, want)
}

func testRetentionAfterUpdate(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	want := s.fillSegments("orders", "old")
	s.enforceRetention()
	s.wantUntrimmed("orders", 0, want)
	if err := s.e.UpdateTopic(s.ctx, "orders", storage.TopicConfig{Partitions: 1, RetentionBytes: SegmentBytes}); err != nil {
		t.Fatalf("UpdateTopic: %v", err)
	}
	s.enforceRetention()
	s.wantTrimmed("orders", 0, want, int64(len(want)-1))
}

func testRetentionThenAppend(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1, RetentionAge: time.Hour})
	want, firstNew := s.fillOldThenNew("orders", 2*time.Hour)
	s.enforceRetention()
	start := s.wantTrimmed("orders", 0, want, firstNew)
	rs := recs("after", 3)
	if base := s.appendTo("orders", 0, rs...); base != int64(len(want)) {
		t.Fatalf("append after retention got base %d, want %d", base, len(want))
	}
	want = append(want, stored(int64(len(want)), rs)...)
	s.wantOffsets("orders", 0, start, int64(len(want)))
	wantRecords(t, "records after retention and append", s.readAll("orders", 0, start), want[start:])
}

func testRetentionReopen(t *testing.T, s *session) {
	if !s.h.Features.Reopen {
		t.Skip("engine does not support Features.Reopen")
	}
	s.create("orders", storage.TopicConfig{Partitions: 1, RetentionAge: time.Hour})
	want, firstNew := s.fillOldThenNew("orders", 2*time.Hour)
	s.enforceRetention()
	start := s.wantTrimmed("orders", 0, want, firstNew)
	s.reopen()
	s.wantOffsets("orders", 0, start, int64(len(want)))
	s.wantTrimmed("orders", 0, want, firstNew)
	if base := s.appendTo("orders", 0, rec("", "after reopen")); base != int64(len(want)) {
		t.Fatalf("append after reopen got base %d, want %d", base, len(want))
	}
}
