package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/storage"
)

var closeTests = []test{
	{"CloseTwiceIsFine", testCloseTwice},
	{"MethodsAfterCloseAreErrClosed", testMethodsAfterClose},
}

var reopenTests = []test{
	{"TopicsAndConfigsPersist", testTopicsPersist},
	{"RecordsAndOffsetsIdentical", testRecordsPersist},
	{"AppendsContinueAtOldEnd", testAppendsContinueAfterReopen},
	{"DeletedTopicStaysDeleted", testDeletedStaysDeleted},
}

func testCloseTwice(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	s.appendTo("orders", 0, recs("v", 3)...)
	if err := s.e.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.e.Close(); err != nil && !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("second Close = %v, want nil or ErrClosed", err)
	}
}

func testMethodsAfterClose(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	s.appendTo("orders", 0, recs("v", 3)...)
	if err := s.e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx, e := s.ctx, s.e
	calls := map[string]func() error{
		"CreateTopic": func() error { return e.CreateTopic(ctx, "new", storage.TopicConfig{Partitions: 1}) },
		"UpdateTopic": func() error { return e.UpdateTopic(ctx, "orders", storage.TopicConfig{Partitions: 2}) },
		"DeleteTopic": func() error { return e.DeleteTopic(ctx, "orders") },
		"Topic":       func() error { _, err := e.Topic(ctx, "orders"); return err },
		"Topics":      func() error { _, err := e.Topics(ctx); return err },
		"Append": func() error {
			_, err := e.Append(ctx, "orders", []storage.PartitionRecords{part(0, rec("", "v"))})
			return err
		},
		"Read":          func() error { _, err := e.Read(ctx, "orders", 0, 0, 10, 1<<20); return err },
		"OffsetForTime": func() error { _, err := e.OffsetForTime(ctx, "orders", 0, time.Now()); return err },
		"Offsets":       func() error { _, _, err := e.Offsets(ctx, "orders", 0); return err },
	}
	for name, call := range calls {
		wantErr(t, name+" after Close", call(), storage.ErrClosed)
	}
}

// snapshot is everything observable about one partition.
type snapshot struct {
	start, end int64
	records    []storage.Record
	byTime     []int64 // OffsetForTime at each record's timestamp
}

func (s *session) snapshot(topic string, p int) snapshot {
	s.t.Helper()
	var snap snapshot
	snap.start, snap.end = s.offsets(topic, p)
	snap.records = s.readAll(topic, p, snap.start)
	for _, r := range snap.records {
		snap.byTime = append(snap.byTime, s.offsetForTime(topic, p, r.Timestamp))
	}
	return snap
}

func (s *session) wantSnapshot(what, topic string, p int, want snapshot) {
	s.t.Helper()
	s.wantOffsets(topic, p, want.start, want.end)
	wantRecords(s.t, what, s.readAll(topic, p, want.start), want.records)
	for i, r := range want.records {
		if got := s.offsetForTime(topic, p, r.Timestamp); got != want.byTime[i] {
			s.t.Errorf("%s: OffsetForTime(%v) = %d, was %d", what, r.Timestamp, got, want.byTime[i])
		}
	}
}

func testTopicsPersist(t *testing.T, s *session) {
	s.create("plain", storage.TopicConfig{Partitions: 1})
	s.create("labelled", storage.TopicConfig{Partitions: 3, RetentionAge: 7 * 24 * time.Hour,
		RetentionBytes: 1 << 30, Labels: map[string]string{"dedupWindow": "2m", "empty": ""}})
	s.create("grown", storage.TopicConfig{Partitions: 1})
	s.create("deleted", storage.TopicConfig{Partitions: 1})
	grown := storage.TopicConfig{Partitions: 3, Labels: map[string]string{"v": "2"}}
	if err := s.e.UpdateTopic(s.ctx, "grown", grown); err != nil {
		t.Fatalf("UpdateTopic: %v", err)
	}
	s.appendTo("grown", 2, recs("new partition", 2)...)
	if err := s.e.DeleteTopic(s.ctx, "deleted"); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	before, err := s.e.Topics(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.reopen()
	after, err := s.e.Topics(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("after reopen Topics lists %d topics, want %d: %+v", len(after), len(before), after)
	}
	for i, want := range before {
		got := after[i]
		if got.Name != want.Name || diffConfig(got.Config, want.Config) != "" {
			t.Errorf("after reopen topic %d is %q %+v, want %q %+v", i, got.Name, got.Config, want.Name, want.Config)
		}
		if d := got.CreatedAt.Sub(want.CreatedAt).Abs(); d > time.Millisecond {
			t.Errorf("after reopen %q was created at %v, want %v", got.Name, got.CreatedAt, want.CreatedAt)
		}
	}
	s.wantOffsets("grown", 1, 0, 0)
	wantRecords(t, "grown partition 2", s.readAll("grown", 2, 0), stored(0, recs("new partition", 2)))
}

func testRecordsPersist(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 3})
	s.appendTo("orders", 0, roundTripRecords()...)
	s.fillSegments("orders", "seg")
	s.appendParts("orders", part(1, recs("one", 5)...), part(0, recs("zero", 2)...))
	var snaps []snapshot
	for p := range 3 {
		snaps = append(snaps, s.snapshot("orders", p))
	}
	for cycle := range 2 {
		s.reopen()
		for p, snap := range snaps {
			s.wantSnapshot("after reopen "+string(rune('1'+cycle)), "orders", p, snap)
		}
	}
}

func testAppendsContinueAfterReopen(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 2})
	var want []storage.Record
	for cycle := range 4 {
		rs := sizedSeries("cycle", cycle*10, 10, 300<<10)
		bases := s.appendParts("orders", part(0, rs...), part(1, rs[:1]...))
		if bases[0] != int64(len(want)) || bases[1] != int64(cycle) {
			t.Fatalf("cycle %d: bases %v, want [%d %d]", cycle, bases, len(want), cycle)
		}
		want = append(want, stored(bases[0], rs)...)
		s.reopen()
		s.wantOffsets("orders", 0, 0, int64(len(want)))
		s.wantOffsets("orders", 1, 0, int64(cycle+1))
	}
	wantRecords(t, "partition 0", s.readAll("orders", 0, 0), want)
}

func testDeletedStaysDeleted(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1})
	s.appendTo("orders", 0, sizedSeries("old", 0, 20, 100<<10)...)
	if err := s.e.DeleteTopic(s.ctx, "orders"); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	s.reopen()
	s.wantUnknownEverywhere("orders")
	s.create("orders", storage.TopicConfig{Partitions: 1})
	s.reopen()
	s.wantOffsets("orders", 0, 0, 0)
	s.appendTo("orders", 0, recs("new", 1)...)
	s.reopen()
	wantRecords(t, "recreated topic", s.readAll("orders", 0, 0), stored(0, recs("new", 1)))
}
