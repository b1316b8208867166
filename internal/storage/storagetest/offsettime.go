package storagetest

import (
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/storage"
)

var offsetForTimeTests = []test{
	{"EmptyPartitionIsEnd", testTimeEmpty},
	{"ExplicitTimestamps", testTimeExplicit},
	{"EqualTimestampsGiveTheFirst", testTimeEqual},
	{"OutOfOrderTimestampsGiveTheFirstAtOrAfter", testTimeOutOfOrder},
	{"AcrossSegmentBoundaries", testTimeAcrossSegments},
}

// t0 is the base of the explicit timestamps in these tests.
var t0 = time.Date(2024, 3, 10, 9, 0, 0, 0, time.UTC)

// timeCase is one OffsetForTime query and its expected answer.
type timeCase struct {
	name string
	at   time.Time
	want int64
}

func (s *session) wantOffsetsForTime(topic string, p int, cases []timeCase) {
	s.t.Helper()
	for _, c := range cases {
		if got := s.offsetForTime(topic, p, c.at); got != c.want {
			s.t.Errorf("OffsetForTime %s (%v) = %d, want %d", c.name, c.at, got, c.want)
		}
	}
}

func testTimeEmpty(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 2})
	s.appendTo("orders", 1, at(recs("v", 3), t0, time.Second)...)
	s.wantOffsetsForTime("orders", 0, []timeCase{
		{"long ago", t0.Add(-time.Hour), 0},
		{"now", s.env.Now(), 0},
		{"far future", t0.AddDate(100, 0, 0), 0},
	})
}

func testTimeExplicit(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	s.appendTo("orders", 0, at(recs("a", 4), t0, 10*time.Second)...)                     // 0..3: t0 … t0+30s
	s.appendTo("orders", 0, at(recs("b", 6), t0.Add(40*time.Second), 10*time.Second)...) // 4..9: t0+40s … t0+90s
	s.wantOffsetsForTime("orders", 0, []timeCase{
		{"before the first record", t0.Add(-time.Hour), 0},
		{"at the first record", t0, 0},
		{"a millisecond after the first", t0.Add(time.Millisecond), 1},
		{"between records", t0.Add(15 * time.Second), 2},
		{"at a record", t0.Add(30 * time.Second), 3},
		{"across appends", t0.Add(35 * time.Second), 4},
		{"at the last record", t0.Add(90 * time.Second), 9},
		{"a millisecond after the last", t0.Add(90*time.Second + time.Millisecond), 10},
		{"long after the last", t0.AddDate(1, 0, 0), 10},
	})
}

func testTimeEqual(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	rs := recs("v", 6)
	for i, d := range []time.Duration{0, 5, 5, 5, 9, 9} {
		rs[i].Timestamp = t0.Add(d * time.Second)
	}
	s.appendTo("orders", 0, rs...)
	s.wantOffsetsForTime("orders", 0, []timeCase{
		{"at the shared timestamp", t0.Add(5 * time.Second), 1},
		{"just before it", t0.Add(4 * time.Second), 1},
		{"at the last shared timestamp", t0.Add(9 * time.Second), 4},
	})
}

// testTimeOutOfOrder: timestamps are stored as given, so they may go back;
// the answer is the first offset whose timestamp is at or after the query.
func testTimeOutOfOrder(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	rs := recs("v", 4)
	for i, d := range []time.Duration{30, 10, 40, 20} {
		rs[i].Timestamp = t0.Add(d * time.Second)
	}
	s.appendTo("orders", 0, rs...)
	s.wantOffsetsForTime("orders", 0, []timeCase{
		{"before all", t0.Add(5 * time.Second), 0},
		{"between the second and the first", t0.Add(15 * time.Second), 0},
		{"at the first", t0.Add(30 * time.Second), 0},
		{"after the first", t0.Add(35 * time.Second), 2},
		{"at the largest", t0.Add(40 * time.Second), 2},
		{"after the largest", t0.Add(41 * time.Second), 4},
	})
}

func testTimeAcrossSegments(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	rs := at(sizedSeries("seg", 0, segmentRecords, segmentRecordBytes), t0, time.Second)
	for i := 0; i < len(rs); i += 7 {
		s.appendTo("orders", 0, rs[i:min(i+7, len(rs))]...)
	}
	var cases []timeCase
	for i := range rs {
		cases = append(cases,
			timeCase{"at a record", t0.Add(time.Duration(i) * time.Second), int64(i)},
			timeCase{"just before a record", t0.Add(time.Duration(i)*time.Second - 500*time.Millisecond), int64(i)})
	}
	cases = append(cases, timeCase{"after the last", t0.Add(time.Duration(len(rs)) * time.Second), int64(len(rs))})
	s.wantOffsetsForTime("orders", 0, cases)
}
