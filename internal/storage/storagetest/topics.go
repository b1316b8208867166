package storagetest

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/storage"
)

var topicTests = []test{
	{"CreateThenDescribe", testCreateThenDescribe},
	{"CreateDuplicateIsErrTopicExists", testCreateDuplicate},
	{"TopicsListedSortedByName", testTopicsSorted},
	{"NamesWithDotsDashesUnderscores", testTopicNames},
	{"ConfigRoundTrip", testConfigRoundTrip},
	{"LabelsAreCopied", testLabelsAreCopied},
	{"UpdateReplacesConfig", testUpdateReplacesConfig},
	{"UpdateGrowsPartitions", testUpdateGrowsPartitions},
	{"UpdateShrinkIsErrInvalidConfig", testUpdateShrink},
	{"InvalidConfigIsErrInvalidConfig", testInvalidConfig},
	{"UnknownTopicIsErrUnknownTopic", testUnknownTopic},
	{"DeleteThenEveryMethodIsErrUnknownTopic", testDeleteThenUnknown},
	{"DeleteLeavesOtherTopicsAlone", testDeleteLeavesOthers},
	{"RecreateAfterDeleteIsEmpty", testRecreateAfterDelete},
}

// clockSlack is how far an engine's idea of "now" may be from the suite's.
const clockSlack = 2 * time.Second

// wantNow fails the test unless got lies between before and after, give or
// take clockSlack.
func wantNow(t *testing.T, what string, got, before, after time.Time) {
	t.Helper()
	if got.Before(before.Add(-clockSlack)) || got.After(after.Add(clockSlack)) {
		t.Errorf("%s = %v, want a time between %v and %v", what, got, before, after)
	}
}

// diffConfig describes how got differs from want, or returns "". Nil and
// empty label maps are equal.
func diffConfig(got, want storage.TopicConfig) string {
	if got.Partitions != want.Partitions || got.RetentionAge != want.RetentionAge ||
		got.RetentionBytes != want.RetentionBytes || got.Compact != want.Compact ||
		got.TombstoneRetention != want.TombstoneRetention || !maps.Equal(got.Labels, want.Labels) {
		return fmt.Sprintf("config %+v, want %+v", got, want)
	}
	return ""
}

// wantTopic fails the test unless name exists with config want.
func (s *session) wantTopic(name string, want storage.TopicConfig) storage.TopicInfo {
	s.t.Helper()
	info, err := s.e.Topic(s.ctx, name)
	if err != nil {
		s.t.Fatalf("Topic %q: %v", name, err)
	}
	if info.Name != name {
		s.t.Errorf("Topic %q: name %q", name, info.Name)
	}
	if d := diffConfig(info.Config, want); d != "" {
		s.t.Errorf("Topic %q: %s", name, d)
	}
	return info
}

// topicNames lists the names Topics returns, in its order.
func (s *session) topicNames() []string {
	s.t.Helper()
	infos, err := s.e.Topics(s.ctx)
	if err != nil {
		s.t.Fatalf("Topics: %v", err)
	}
	names := make([]string, len(infos))
	for i, info := range infos {
		names[i] = info.Name
	}
	return names
}

func testCreateThenDescribe(t *testing.T, s *session) {
	cfg := storage.TopicConfig{Partitions: 3, Labels: map[string]string{"dedupWindow": "2m"}}
	before := s.env.Now()
	s.create("orders", cfg)
	after := s.env.Now()
	info := s.wantTopic("orders", cfg)
	wantNow(t, "CreatedAt", info.CreatedAt, before, after)
	for p := range 3 {
		s.wantOffsets("orders", p, 0, 0)
	}
}

func testCreateDuplicate(t *testing.T, s *session) {
	cfg := storage.TopicConfig{Partitions: 2, Labels: map[string]string{"a": "1"}}
	s.create("orders", cfg)
	s.appendTo("orders", 1, recs("v", 3)...)
	err := s.e.CreateTopic(s.ctx, "orders", storage.TopicConfig{Partitions: 5})
	wantErr(t, "second CreateTopic", err, storage.ErrTopicExists)
	s.wantTopic("orders", cfg)
	s.wantOffsets("orders", 1, 0, 3)
}

func testTopicsSorted(t *testing.T, s *session) {
	if names := s.topicNames(); len(names) != 0 {
		t.Fatalf("Topics on a new engine = %q, want none", names)
	}
	for _, name := range []string{"payments", "orders", "audit", "orders.v2"} {
		s.create(name, storage.TopicConfig{Partitions: 1})
	}
	want := []string{"audit", "orders", "orders.v2", "payments"}
	if got := s.topicNames(); !slices.Equal(got, want) {
		t.Fatalf("Topics = %q, want %q", got, want)
	}
	infos, err := s.e.Topics(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range infos {
		if info.Config.Partitions != 1 || info.CreatedAt.IsZero() {
			t.Errorf("Topics: %q has config %+v, created %v", info.Name, info.Config, info.CreatedAt)
		}
	}
}

// testTopicNames checks names in Kafka's legal alphabet [a-zA-Z0-9._-].
func testTopicNames(t *testing.T, s *session) {
	names := []string{"orders.v1", "user_events", "a-b-c", "X", "__herald_offsets", "0"}
	for _, name := range names {
		s.create(name, storage.TopicConfig{Partitions: 2})
		s.appendTo(name, 1, rec("", name))
	}
	for _, name := range names {
		got := s.readAll(name, 1, 0)
		wantRecords(t, "topic "+name, got, stored(0, []storage.Record{rec("", name)}))
	}
	if got := s.topicNames(); !slices.Equal(got, slices.Sorted(slices.Values(names))) {
		t.Fatalf("Topics = %q", got)
	}
}

func testConfigRoundTrip(t *testing.T, s *session) {
	configs := map[string]storage.TopicConfig{
		"minimal":  {Partitions: 1},
		"retained": {Partitions: 4, RetentionAge: 36 * time.Hour, RetentionBytes: 1 << 30},
		"labelled": {Partitions: 2, RetentionAge: 90 * time.Minute, Labels: map[string]string{
			"dedupWindow": "2m",
			"empty":       "",
			"schema":      "urn:herald:UserRegistered:v3",
			"unicode":     "événement ✓",
		}},
	}
	for name, cfg := range configs {
		s.create(name, cfg)
	}
	for name, cfg := range configs {
		s.wantTopic(name, cfg)
	}
	infos, err := s.e.Topics(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range infos {
		if d := diffConfig(info.Config, configs[info.Name]); d != "" {
			t.Errorf("Topics: %q: %s", info.Name, d)
		}
	}
}

// testLabelsAreCopied: the engine keeps its own copy of a config's labels,
// and hands out copies.
func testLabelsAreCopied(t *testing.T, s *session) {
	labels := map[string]string{"a": "1"}
	s.create("orders", storage.TopicConfig{Partitions: 1, Labels: labels})
	labels["a"] = "changed by the caller"
	labels["b"] = "added by the caller"
	info := s.wantTopic("orders", storage.TopicConfig{Partitions: 1, Labels: map[string]string{"a": "1"}})
	if info.Config.Labels != nil {
		info.Config.Labels["a"] = "changed in a returned config"
	}
	s.wantTopic("orders", storage.TopicConfig{Partitions: 1, Labels: map[string]string{"a": "1"}})
}

func testUpdateReplacesConfig(t *testing.T, s *session) {
	first := storage.TopicConfig{Partitions: 2, RetentionAge: time.Hour, Labels: map[string]string{"a": "1", "b": "2"}}
	s.create("orders", first)
	created := s.wantTopic("orders", first).CreatedAt
	next := storage.TopicConfig{Partitions: 2, RetentionBytes: 1 << 20, Labels: map[string]string{"b": "3"}}
	if err := s.e.UpdateTopic(s.ctx, "orders", next); err != nil {
		t.Fatalf("UpdateTopic: %v", err)
	}
	if info := s.wantTopic("orders", next); !info.CreatedAt.Equal(created) {
		t.Errorf("UpdateTopic changed CreatedAt from %v to %v", created, info.CreatedAt)
	}
}

func testUpdateGrowsPartitions(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 2})
	s.appendTo("orders", 0, recs("old", 3)...)
	grown := storage.TopicConfig{Partitions: 4}
	if err := s.e.UpdateTopic(s.ctx, "orders", grown); err != nil {
		t.Fatalf("UpdateTopic to 4 partitions: %v", err)
	}
	s.wantTopic("orders", grown)
	s.wantOffsets("orders", 0, 0, 3)
	s.wantOffsets("orders", 2, 0, 0)
	s.wantOffsets("orders", 3, 0, 0)
	if base := s.appendTo("orders", 3, recs("new", 2)...); base != 0 {
		t.Errorf("first append to a new partition got base %d, want 0", base)
	}
	wantRecords(t, "old partition", s.readAll("orders", 0, 0), stored(0, recs("old", 3)))
	wantRecords(t, "new partition", s.readAll("orders", 3, 0), stored(0, recs("new", 2)))
}

func testUpdateShrink(t *testing.T, s *session) {
	cfg := storage.TopicConfig{Partitions: 3}
	s.create("orders", cfg)
	s.appendTo("orders", 2, recs("v", 2)...)
	err := s.e.UpdateTopic(s.ctx, "orders", storage.TopicConfig{Partitions: 2})
	wantErr(t, "UpdateTopic from 3 to 2 partitions", err, storage.ErrInvalidConfig)
	s.wantTopic("orders", cfg)
	wantRecords(t, "partition 2", s.readAll("orders", 2, 0), stored(0, recs("v", 2)))
}

// invalidConfigs are configurations every engine must refuse.
var invalidConfigs = map[string]storage.TopicConfig{
	"ZeroPartitions":         {Partitions: 0},
	"NegativePartitions":     {Partitions: -1},
	"NegativeRetentionAge":   {Partitions: 1, RetentionAge: -time.Hour},
	"NegativeRetentionBytes": {Partitions: 1, RetentionBytes: -1},
}

func testInvalidConfig(t *testing.T, s *session) {
	good := storage.TopicConfig{Partitions: 2, RetentionAge: time.Hour}
	s.create("existing", good)
	for name, cfg := range invalidConfigs {
		err := s.e.CreateTopic(s.ctx, "new", cfg)
		wantErr(t, "CreateTopic "+name, err, storage.ErrInvalidConfig)
		_, err = s.e.Topic(s.ctx, "new")
		wantErr(t, "Topic after refused CreateTopic "+name, err, storage.ErrUnknownTopic)

		err = s.e.UpdateTopic(s.ctx, "existing", cfg)
		wantErr(t, "UpdateTopic "+name, err, storage.ErrInvalidConfig)
		s.wantTopic("existing", good)
	}
}

// wantUnknownEverywhere fails the test unless every method that names
// topic returns ErrUnknownTopic.
func (s *session) wantUnknownEverywhere(topic string) {
	s.t.Helper()
	ctx, e, t := s.ctx, s.e, s.t
	calls := map[string]func() error{
		"UpdateTopic": func() error { return e.UpdateTopic(ctx, topic, storage.TopicConfig{Partitions: 1}) },
		"DeleteTopic": func() error { return e.DeleteTopic(ctx, topic) },
		"Topic":       func() error { _, err := e.Topic(ctx, topic); return err },
		"Append": func() error {
			_, err := e.Append(ctx, topic, []storage.PartitionRecords{part(0, rec("", "v"))})
			return err
		},
		"Read":          func() error { _, err := e.Read(ctx, topic, 0, 0, 10, 1<<20); return err },
		"OffsetForTime": func() error { _, err := e.OffsetForTime(ctx, topic, 0, time.Now()); return err },
		"Offsets":       func() error { _, _, err := e.Offsets(ctx, topic, 0); return err },
	}
	for name, call := range calls {
		wantErr(t, name+" "+topic, call(), storage.ErrUnknownTopic)
	}
	if slices.Contains(s.topicNames(), topic) {
		t.Errorf("Topics lists %q", topic)
	}
}

func testUnknownTopic(t *testing.T, s *session) {
	s.create("other", storage.TopicConfig{Partitions: 1})
	s.wantUnknownEverywhere("missing")
}

func testDeleteThenUnknown(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 2})
	s.appendParts("orders", part(0, recs("a", 3)...), part(1, recs("b", 2)...))
	if err := s.e.DeleteTopic(s.ctx, "orders"); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	s.wantUnknownEverywhere("orders")
}

func testDeleteLeavesOthers(t *testing.T, s *session) {
	for _, name := range []string{"a", "b", "c"} {
		s.create(name, storage.TopicConfig{Partitions: 1})
		s.appendTo(name, 0, recs(name, 4)...)
	}
	if err := s.e.DeleteTopic(s.ctx, "b"); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	if got := s.topicNames(); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("Topics after deleting b = %q", got)
	}
	for _, name := range []string{"a", "c"} {
		wantRecords(t, name, s.readAll(name, 0, 0), stored(0, recs(name, 4)))
	}
}

func testRecreateAfterDelete(t *testing.T, s *session) {
	s.create("orders", storage.TopicConfig{Partitions: 1, Labels: map[string]string{"v": "1"}})
	s.appendTo("orders", 0, sizedSeries("old", 0, 40, 64<<10)...)
	if err := s.e.DeleteTopic(s.ctx, "orders"); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	cfg := storage.TopicConfig{Partitions: 2}
	s.create("orders", cfg)
	s.wantTopic("orders", cfg)
	s.wantOffsets("orders", 0, 0, 0)
	_, err := s.e.Read(s.ctx, "orders", 0, 1, 10, 1<<20)
	wantErr(t, "Read at old offset 1", err, storage.ErrOffsetOutOfRange)
	if base := s.appendTo("orders", 0, recs("new", 2)...); base != 0 {
		t.Fatalf("first append after recreate got base %d, want 0", base)
	}
	wantRecords(t, "recreated topic", s.readAll("orders", 0, 0), stored(0, recs("new", 2)))
	if off := s.offsetForTime("orders", 0, time.UnixMilli(0)); off != 0 {
		t.Errorf("OffsetForTime(epoch) after recreate = %d, want 0", off)
	}
}

// offsetForTime returns OffsetForTime, failing the test on error.
func (s *session) offsetForTime(topic string, p int, at time.Time) int64 {
	s.t.Helper()
	off, err := s.e.OffsetForTime(s.ctx, topic, p, at)
	if err != nil {
		s.t.Fatalf("OffsetForTime %q/%d at %v: %v", topic, p, at, err)
	}
	return off
}
