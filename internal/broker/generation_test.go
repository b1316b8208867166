package broker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldevents/herald/event"
)

func TestGeneration_FindsEveryEntryInMemoryAndInAFile(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	entries := map[uint64]uint64{}
	for len(entries) < 5000 {
		entries[rng.Uint64()] = rng.Uint64() >> 16
	}
	for name, path := range map[string]string{"memory": "", "file": filepath.Join(t.TempDir(), "g.dedup")} {
		t.Run(name, func(t *testing.T) {
			g, err := freeze(entries, 1, path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer g.drop()
			for h, want := range entries {
				got, ok, err := g.lookup(h)
				if err != nil || !ok || got != want {
					t.Fatalf("lookup %x: %d %v %v, want %d", h, got, ok, err, want)
				}
			}
			falsePos := 0
			for i := 0; i < 100000; i++ {
				h := rng.Uint64()
				if _, ok := entries[h]; ok {
					continue
				}
				if _, ok, _ := g.lookup(h); ok {
					t.Fatalf("absent hash %x found", h)
				}
				if bloomHas(g.bloom, h) {
					falsePos++
				}
			}
			if rate := float64(falsePos) / 100000; rate > 0.03 {
				t.Fatalf("bloom false positive rate %.3f", rate)
			}
		})
	}
}

func TestPublish_DedupAcrossSpilledGenerations(t *testing.T) {
	defer func(n int) { defaultGenSize = n }(defaultGenSize)
	defaultGenSize = 8
	dir := t.TempDir()
	f := newFixture(t, Options{DefaultPartitions: 2, DedupDir: dir, DefaultDedupWindow: time.Minute})
	var first []Result
	for i := 0; i < 100; i++ {
		first = append(first, f.publish("orders", ev(fmt.Sprint(i), fmt.Sprint("k", i%7)))...)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.dedup")); len(files) < 10 {
		t.Fatalf("%d generation files, want the index spilled", len(files))
	}
	check := func(when string) {
		for i := 0; i < 100; i++ {
			res := f.publish("orders", ev(fmt.Sprint(i), fmt.Sprint("k", i%7)))
			if !res[0].Duplicate || res[0].Offset != first[i].Offset || res[0].Partition != first[i].Partition {
				t.Fatalf("%s: event %d: %+v, first stored as %+v", when, i, res[0], first[i])
			}
		}
	}
	check("before restart")
	f.restart() // the broker wipes the scratch directory and rebuilds from the log
	check("after restart")
	f.clock.Add(76 * time.Second) // past 1.25 windows: every generation is dropped
	res := f.publish("orders", ev("0", "k0"))
	if res[0].Duplicate {
		t.Fatalf("remembered past the window: %+v", res[0])
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.dedup"))
	if len(files) != 0 {
		t.Fatalf("expired generation files left: %v", files)
	}
}

func TestBroker_DeleteTopicDropsItsDedupFiles(t *testing.T) {
	defer func(n int) { defaultGenSize = n }(defaultGenSize)
	defaultGenSize = 4
	dir := t.TempDir()
	f := newFixture(t, Options{DedupDir: dir})
	for i := 0; i < 20; i++ {
		f.publish("orders", &event.Event{ID: fmt.Sprint(i), Source: "/s", Type: "t", SpecVersion: "1.0"})
	}
	if err := f.b.DeleteTopic(context.Background(), "orders"); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("files left after delete: %v", entries)
	}
}

// A topic's index can be replaced (the topic deleted and created again)
// while the old one still freezes a generation; the two must not write
// the same file.
func TestDedupIndex_AReplacedIndexNeverSharesAGenerationFile(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().UnixMilli()
	fill := func(d *dedupIndex, prefix string) *frozenPart {
		d.mu.Lock()
		defer d.mu.Unlock()
		for i := 0; i < 1000; i++ {
			d.rememberLocked(d.hash("/s", fmt.Sprint(prefix, i)), position{offset: int64(i)}, now)
		}
		return d.detach()
	}
	old, fresh := newDedupIndex(time.Minute, dir), newDedupIndex(time.Minute, dir)
	oldPart := fill(old, "old-")
	old.close()
	fresh.build(fill(fresh, "new-"))
	old.build(oldPart) // finishes late, and drops its generation: the index was closed
	for i := 0; i < 1000; i++ {
		v, ok, err := fresh.lookup(fresh.hash("/s", fmt.Sprint("new-", i)))
		if err != nil || !ok || unpack(v).offset != int64(i) {
			t.Fatalf("new-%d: found %v at %v (%v)", i, ok, unpack(v), err)
		}
	}
}

// A topic name may be 249 characters long: its generations are spilled
// to files all the same, not kept in memory.
func TestPublish_ATopicWithTheLongestNameSpillsItsDedupGenerations(t *testing.T) {
	defer func(n int) { defaultGenSize = n }(defaultGenSize)
	defaultGenSize = 4
	dir := t.TempDir()
	f := newFixture(t, Options{DedupDir: dir})
	name := strings.Repeat("t", 249)
	for i := 0; i < 20; i++ {
		f.publish(name, ev(fmt.Sprint(i), ""))
	}
	d := f.b.state(name).dedup
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.spillErr != nil || len(d.gens) == 0 {
		t.Fatalf("%d generations, spill error %v", len(d.gens), d.spillErr)
	}
	for _, g := range d.gens {
		if g.file == nil {
			t.Fatal("a generation kept in memory")
		}
	}
}
