package storagetest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/storage"
)

// Compaction (TopicConfig.Compact) keeps the newest record of each key.
// Engines compact closed segments only, so these tests write what
// compaction must remove first and then sealOff, more than 2*SegmentBytes
// of records with keys of their own, which closes every segment before
// them. Nothing written after sealOff can be removed (its keys are unique
// and no tombstone follows it), so what survives is exactly compacted().

var compactionTests = []test{
	{"LatestValuePerKeySurvives", testCompactKeepsLatest},
	{"ReadsAcrossGapsReturnTheNextRecords", testCompactReadsAcrossGaps},
	{"OffsetForTimeAcrossGaps", testCompactOffsetForTime},
	{"TombstonesGoAfterTombstoneRetention", testCompactTombstones},
	{"ZeroTombstoneRetentionKeepsThemADay", testCompactDefaultTombstoneRetention},
	{"NilKeysAreKept", testCompactNilKeys},
	{"TopicWithoutCompactIsUntouched", testCompactOffIsUntouched},
	{"UpdateTopicTurnsCompactionOn", testCompactAfterUpdate},
	{"ConfigRoundTrips", testCompactConfig},
	{"AppendsContinueAtTheEnd", testCompactThenAppend},
	{"StateSurvivesReopen", testCompactReopen},
	{"ConcurrentReadsSeeOldOrNewInOrder", testCompactConcurrentReads},
}

// compact runs the engine's compaction pass.
func (s *session) compact() {
	s.t.Helper()
	if err := s.h.Compact(s.e); err != nil {
		s.t.Fatalf("Compact: %v", err)
	}
}

// tombstone is a record that deletes key: a nil value.
func tombstone(key string) storage.Record { return storage.Record{Key: []byte(key)} }

// stamped gives rs the session's current time, so that tests can compute
// which tombstones have expired.
func (s *session) stamped(rs ...storage.Record) []storage.Record {
	now := time.UnixMilli(s.clock.now().UnixMilli())
	for i := range rs {
		rs[i].Timestamp = now
	}
	return rs
}

// add appends rs to partition p of topic in one append and returns them
// as stored.
func (s *session) add(topic string, p int, rs ...storage.Record) []storage.Record {
	s.t.Helper()
	return stored(s.appendTo(topic, p, rs...), rs)
}

// sealOff appends more than 2*SegmentBytes of payload with keys no other
// record has, so every record before it is in a closed segment, and
// returns it as stored.
func (s *session) sealOff(topic string, p int, prefix string) []storage.Record {
	s.t.Helper()
	rs := sizedSeries(prefix, 0, 2*SegmentBytes/segmentRecordBytes+1, segmentRecordBytes)
	var out []storage.Record
	for i := 0; i < len(rs); i += 4 {
		out = append(out, s.add(topic, p, rs[i:min(i+4, len(rs))]...)...)
	}
	return out
}

// compacted is what compaction leaves of all, every record appended to a
// partition in offset order: records without a key, and each key's newest
// record unless it is a tombstone with a timestamp before cutoff.
func compacted(all []storage.Record, cutoff time.Time) []storage.Record {
	newest := map[string]int64{}
	for _, r := range all {
		if r.Key != nil {
			newest[string(r.Key)] = r.Offset
		}
	}
	var out []storage.Record
	for _, r := range all {
		switch {
		case r.Key == nil:
		case newest[string(r.Key)] != r.Offset:
			continue
		case r.Value == nil && r.Timestamp.Before(cutoff):
			continue
		}
		out = append(out, r)
	}
	return out
}

// readGapped reads once from offset of a partition that may have gaps:
// no error, at most max records, offsets increasing from offset on and
// before the end offset.
func (s *session) readGapped(topic string, p int, offset int64, max int) []storage.Record {
	s.t.Helper()
	got, err := s.e.Read(s.ctx, topic, p, offset, max, 4<<20)
	if err != nil {
		s.t.Fatalf("Read %q/%d at %d: %v", topic, p, offset, err)
	}
	if err := checkGapped(got, offset, max); err != nil {
		s.t.Fatalf("Read %q/%d at %d: %v", topic, p, offset, err)
	}
	return got
}

func checkGapped(got []storage.Record, offset int64, maxN int) error {
	if len(got) > maxN {
		return fmt.Errorf("got %d records, max %d", len(got), maxN)
	}
	prev := offset - 1
	for i, r := range got {
		if r.Offset <= prev {
			return fmt.Errorf("read at %d: record %d has offset %d, after %d", offset, i, r.Offset, prev)
		}
		prev = r.Offset
	}
	return nil
}

// readAllGapped reads a partition that may have gaps from offset to its
// end.
func (s *session) readAllGapped(topic string, p int, offset int64) []storage.Record {
	s.t.Helper()
	_, end := s.offsets(topic, p)
	var all []storage.Record
	for offset < end {
		got := s.readGapped(topic, p, offset, 1000)
		if len(got) == 0 {
			break
		}
		all = append(all, got...)
		offset = got[len(got)-1].Offset + 1
	}
	return all
}

// wantCompacted fails the test unless the partition holds offsets 0 to
// end and exactly the records want.
func (s *session) wantCompacted(what, topic string, p int, want []storage.Record, end int64) {
	s.t.Helper()
	s.wantOffsets(topic, p, 0, end)
	wantRecords(s.t, what, s.readAllGapped(topic, p, 0), want)
}

// superseded writes ten keys, then newer values of half of them in two
// appends, then seals them off. It returns every record written.
func (s *session) superseded(topic string, p int) []storage.Record {
	s.t.Helper()
	all := s.add(topic, p, recs("v1", 10)...)
	all = append(all, s.add(topic, p, recs("v2", 5)...)...)
	all = append(all, s.add(topic, p, recs("v3", 2)...)...)
	return append(all, s.sealOff(topic, p, "fill")...)
}

func testCompactKeepsLatest(t *testing.T, s *session) {
	s.create("state", storage.TopicConfig{Partitions: 2, Compact: true})
	all := s.superseded("state", 0)
	other := s.add("state", 1, recs("p1", 3)...)
	s.compact()
	want := compacted(all, time.Time{})
	if len(want) != len(all)-7 {
		t.Fatalf("test is wrong: %d of %d records should survive", len(want), len(all))
	}
	s.wantCompacted("partition 0 after compaction", "state", 0, want, int64(len(all)))
	s.wantCompacted("partition 1 (nothing superseded)", "state", 1, other, int64(len(other)))
	s.compact()
	s.wantCompacted("partition 0 after a second compaction", "state", 0, want, int64(len(all)))
}

func testCompactReadsAcrossGaps(t *testing.T, s *session) {
	s.create("state", storage.TopicConfig{Partitions: 1, Compact: true})
	all := s.superseded("state", 0)
	s.compact()
	want := compacted(all, time.Time{})
	for o := int64(0); o < int64(len(all)); o++ {
		i := 0
		for i < len(want) && want[i].Offset < o {
			i++
		}
		got := s.readGapped("state", 0, o, 3)
		wantRecords(t, fmt.Sprintf("read of 3 at offset %d", o), got, want[i:min(i+3, len(want))])
	}
	var one []storage.Record
	for o := int64(0); o < int64(len(all)); {
		got := s.readGapped("state", 0, o, 1)
		if len(got) != 1 {
			t.Fatalf("read of 1 at offset %d returned %d records", o, len(got))
		}
		one = append(one, got...)
		o = got[0].Offset + 1
	}
	wantRecords(t, "reading one record at a time", one, want)
}

func testCompactOffsetForTime(t *testing.T, s *session) {
	s.create("state", storage.TopicConfig{Partitions: 1, Compact: true})
	t0 := time.UnixMilli(s.clock.now().Add(-time.Hour).UnixMilli())
	all := s.add("state", 0, at(recs("v1", 10), t0, time.Second)...)
	all = append(all, s.add("state", 0, at(recs("v2", 6), t0.Add(time.Minute), time.Second)...)...)
	all = append(all, s.sealOff("state", 0, "fill")...) // stamped now, after everything above
	s.compact()
	want := s.readAllGapped("state", 0, 0) // with the times the engine stored
	wantRecords(t, "after compaction", want, compacted(all, time.Time{}))
	for _, r := range all[:16] {
		i := 0
		for i < len(want) && want[i].Timestamp.Before(r.Timestamp) {
			i++
		}
		if got := s.offsetForTime("state", 0, r.Timestamp); got != want[i].Offset {
			t.Errorf("OffsetForTime(%v) (offset %d's time) = %d, want %d", r.Timestamp, r.Offset, got, want[i].Offset)
		}
	}
	if got := s.offsetForTime("state", 0, time.UnixMilli(0)); got != want[0].Offset {
		t.Errorf("OffsetForTime(epoch) = %d, want the first record's offset %d", got, want[0].Offset)
	}
}

func testCompactTombstones(t *testing.T, s *session) {
	s.create("state", storage.TopicConfig{Partitions: 1, Compact: true, TombstoneRetention: time.Hour})
	all := s.add("state", 0, s.stamped(recs("v1", 5)...)...)
	all = append(all, s.add("state", 0, s.stamped(tombstone("k1"), tombstone("k3"), tombstone("gone"))...)...)
	all = append(all, s.sealOff("state", 0, "fill")...)
	end := int64(len(all))
	s.compact()
	young := compacted(all, s.clock.now().Add(-time.Hour))
	if len(young) != len(all)-2 {
		t.Fatalf("test is wrong: %d of %d records should survive", len(young), len(all))
	}
	s.wantCompacted("tombstones younger than TombstoneRetention", "state", 0, young, end)

	s.clock.advance(time.Hour + time.Minute)
	s.compact()
	old := compacted(all, s.clock.now().Add(-time.Hour))
	if len(old) != len(all)-5 {
		t.Fatalf("test is wrong: %d of %d records should survive", len(old), len(all))
	}
	s.wantCompacted("tombstones older than TombstoneRetention", "state", 0, old, end)
}

func testCompactDefaultTombstoneRetention(t *testing.T, s *session) {
	s.create("state", storage.TopicConfig{Partitions: 1, Compact: true})
	all := s.add("state", 0, s.stamped(rec("k0", "v"), tombstone("k0"))...)
	all = append(all, s.sealOff("state", 0, "fill")...)
	end := int64(len(all))
	s.clock.advance(23 * time.Hour)
	s.compact()
	s.wantCompacted("tombstone 23 hours old", "state", 0, all[1:], end)
	s.clock.advance(2 * time.Hour)
	s.compact()
	s.wantCompacted("tombstone 25 hours old", "state", 0, all[2:], end)
}

func testCompactNilKeys(t *testing.T, s *session) {
	s.create("state", storage.TopicConfig{Partitions: 1, Compact: true})
	empty := func(v string) storage.Record { return storage.Record{Key: []byte{}, Value: []byte(v)} }
	all := s.add("state", 0, rec("", "nil key 1"), rec("k", "a"), empty("empty key a"), rec("", "nil key 2"))
	all = append(all, s.add("state", 0, rec("k", "b"), rec("", "nil key 3"), empty("empty key b"))...)
	all = append(all, s.add("state", 0, storage.Record{Value: []byte("nil key 4")})...)
	all = append(all, s.sealOff("state", 0, "fill")...)
	s.compact()
	want := compacted(all, time.Time{})
	if len(want) != len(all)-2 {
		t.Fatalf("test is wrong: %d of %d records should survive", len(want), len(all))
	}
	s.wantCompacted("nil keys kept, the empty key compacted", "state", 0, want, int64(len(all)))
}

func testCompactOffIsUntouched(t *testing.T, s *session) {
	s.create("plain", storage.TopicConfig{Partitions: 1})
	all := s.superseded("plain", 0)
	s.compact()
	s.wantUntrimmed("plain", 0, all)
}

func testCompactAfterUpdate(t *testing.T, s *session) {
	s.create("state", storage.TopicConfig{Partitions: 1})
	all := s.superseded("state", 0)
	s.compact()
	s.wantUntrimmed("state", 0, all)
	if err := s.e.UpdateTopic(s.ctx, "state", storage.TopicConfig{Partitions: 1, Compact: true}); err != nil {
		t.Fatalf("UpdateTopic: %v", err)
	}
	s.compact()
	s.wantCompacted("after UpdateTopic set Compact", "state", 0, compacted(all, time.Time{}), int64(len(all)))
}

func testCompactConfig(t *testing.T, s *session) {
	cfg := storage.TopicConfig{Partitions: 2, Compact: true, TombstoneRetention: 90 * time.Minute, RetentionAge: 48 * time.Hour}
	s.create("state", cfg)
	s.wantTopic("state", cfg)
	bad := storage.TopicConfig{Partitions: 1, Compact: true, TombstoneRetention: -time.Second}
	wantErr(t, "CreateTopic with a negative TombstoneRetention", s.e.CreateTopic(s.ctx, "bad", bad), storage.ErrInvalidConfig)
	bad.Partitions = 2
	wantErr(t, "UpdateTopic with a negative TombstoneRetention", s.e.UpdateTopic(s.ctx, "state", bad), storage.ErrInvalidConfig)
	s.wantTopic("state", cfg)
	off := storage.TopicConfig{Partitions: 2}
	if err := s.e.UpdateTopic(s.ctx, "state", off); err != nil {
		t.Fatalf("UpdateTopic: %v", err)
	}
	s.wantTopic("state", off)
	if err := s.e.UpdateTopic(s.ctx, "state", cfg); err != nil {
		t.Fatalf("UpdateTopic: %v", err)
	}
	if s.h.Features.Reopen {
		s.reopen()
	}
	s.wantTopic("state", cfg)
}

func testCompactThenAppend(t *testing.T, s *session) {
	s.create("state", storage.TopicConfig{Partitions: 1, Compact: true})
	all := s.superseded("state", 0)
	s.compact()
	rs := []storage.Record{rec("new 1", "after"), rec("", "after"), rec("new 2", "after")}
	if base := s.appendTo("state", 0, rs...); base != int64(len(all)) {
		t.Fatalf("append after compaction got base %d, want %d", base, len(all))
	}
	all = append(all, stored(int64(len(all)), rs)...)
	s.wantCompacted("after compaction and an append", "state", 0, compacted(all, time.Time{}), int64(len(all)))
}

func testCompactReopen(t *testing.T, s *session) {
	if !s.h.Features.Reopen {
		t.Skip("engine does not support Features.Reopen")
	}
	s.create("state", storage.TopicConfig{Partitions: 1, Compact: true})
	all := s.superseded("state", 0)
	s.compact()
	want := s.readAllGapped("state", 0, 0) // with the times the engine stored
	wantRecords(t, "after compaction", want, compacted(all, time.Time{}))
	byTime := make([]int64, len(want))
	for i, r := range want {
		byTime[i] = s.offsetForTime("state", 0, r.Timestamp)
	}
	for _, step := range []string{"reopen", "compact again", "reopen again"} {
		if step == "compact again" {
			s.compact()
		} else {
			s.reopen()
		}
		s.wantCompacted("after "+step, "state", 0, want, int64(len(all)))
		for i, r := range want {
			if got := s.offsetForTime("state", 0, r.Timestamp); got != byTime[i] {
				t.Errorf("after %s: OffsetForTime(%v) = %d, was %d", step, r.Timestamp, got, byTime[i])
			}
		}
	}
	if base := s.appendTo("state", 0, rec("k0", "after reopen")); base != int64(len(all)) {
		t.Fatalf("append after reopen got base %d, want %d", base, len(all))
	}
}

// testCompactConcurrentReads reads a partition over and over while it is
// compacted: every read succeeds and returns records in offset order, each
// exactly as appended at its offset.
func testCompactConcurrentReads(t *testing.T, s *session) {
	s.create("state", storage.TopicConfig{Partitions: 1, Compact: true})
	var all []storage.Record
	for round := range 12 {
		rs := make([]storage.Record, 8)
		for k := range rs {
			rs[k] = sized(fmt.Sprintf("round %d", round), k, 16<<10)
			rs[k].Key = []byte(fmt.Sprintf("k%d", k))
		}
		all = append(all, s.add("state", 0, rs...)...)
	}
	all = append(all, s.sealOff("state", 0, "fill")...)
	end := int64(len(all))
	var done atomic.Bool
	var passes atomic.Int64
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { errs <- s.readUntil(&done, &passes, "state", all, end) })
	}
	for passes.Load() < 4 && len(errs) == 0 { // readers are under way
		time.Sleep(time.Millisecond)
	}
	s.compact()
	before := passes.Load()
	for passes.Load() < before+4 && len(errs) == 0 { // and read the compacted partition too
		time.Sleep(time.Millisecond)
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s.wantCompacted("after compaction", "state", 0, compacted(all, time.Time{}), end)
}

// readUntil reads partition 0 of topic from the start to end in pages,
// over and over until done, checking each record against all.
func (s *session) readUntil(done *atomic.Bool, passes *atomic.Int64, topic string, all []storage.Record, end int64) error {
	for !done.Load() {
		for o := int64(0); o < end; {
			got, err := s.e.Read(s.ctx, topic, 0, o, 7, 256<<10)
			if err == nil {
				err = checkGapped(got, o, 7)
			}
			if err == nil && len(got) == 0 {
				err = fmt.Errorf("no records before the end offset %d", end)
			}
			for i := 0; err == nil && i < len(got); i++ {
				if d := diffRecord(got[i], all[got[i].Offset]); d != "" {
					err = fmt.Errorf("%s", d)
				}
			}
			if err != nil {
				return fmt.Errorf("read at %d during compaction: %w", o, err)
			}
			o = got[len(got)-1].Offset + 1
		}
		passes.Add(1)
	}
	return nil
}
