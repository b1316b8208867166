package faultfs_test

import (
	"errors"
	"maps"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

func TestCrash_KeepsOnlyDurableState(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		want  map[string]string
	}{
		{"UnsyncedWriteIsLost",
			[]step{write("/d/f", 0, "abc"), syncDir("/d")},
			map[string]string{"/d/f": ""}},
		{"SyncedWriteSurvives",
			[]step{write("/d/f", 0, "abc"), fsync("/d/f"), syncDir("/d")},
			map[string]string{"/d/f": "abc"}},
		{"WriteAfterSyncIsLost",
			[]step{write("/d/f", 0, "abc"), fsync("/d/f"), syncDir("/d"), write("/d/f", 3, "def")},
			map[string]string{"/d/f": "abc"}},
		{"NewFileWithoutSyncDirVanishes",
			[]step{write("/d/f", 0, "abc"), fsync("/d/f")},
			map[string]string{}},
		{"UnsyncedRenameReverts",
			[]step{write("/d/m", 0, "v1"), fsync("/d/m"), write("/d/m.tmp", 0, "v2"), fsync("/d/m.tmp"),
				syncDir("/d"), rename("/d/m.tmp", "/d/m")},
			map[string]string{"/d/m": "v1", "/d/m.tmp": "v2"}},
		{"UnsyncedRenameOfUnsyncedNewFileLeavesOldFile",
			[]step{write("/d/m", 0, "v1"), fsync("/d/m"), syncDir("/d"),
				write("/d/m.tmp", 0, "v2"), fsync("/d/m.tmp"), rename("/d/m.tmp", "/d/m")},
			map[string]string{"/d/m": "v1"}},
		{"SyncedRenameSticks",
			[]step{write("/d/m", 0, "v1"), fsync("/d/m"), syncDir("/d"),
				write("/d/m.tmp", 0, "v2"), fsync("/d/m.tmp"), rename("/d/m.tmp", "/d/m"), syncDir("/d")},
			map[string]string{"/d/m": "v2"}},
		{"UnsyncedRemoveReverts",
			[]step{write("/d/f", 0, "abc"), fsync("/d/f"), syncDir("/d"), remove("/d/f")},
			map[string]string{"/d/f": "abc"}},
		{"SyncedRemoveSticks",
			[]step{write("/d/f", 0, "abc"), fsync("/d/f"), syncDir("/d"), remove("/d/f"), syncDir("/d")},
			map[string]string{}},
		{"UnsyncedRemoveAllRestoresTree",
			[]step{mkdir("/d/t"), syncDir("/d"), write("/d/t/s", 0, "abc"), fsync("/d/t/s"), syncDir("/d/t"), removeAll("/d/t")},
			map[string]string{"/d/t/": "", "/d/t/s": "abc"}},
		{"SyncedRemoveAllSticks",
			[]step{mkdir("/d/t"), syncDir("/d"), write("/d/t/s", 0, "abc"), fsync("/d/t/s"), syncDir("/d/t"),
				removeAll("/d/t"), syncDir("/d")},
			map[string]string{}},
		{"UnsyncedTruncateReverts",
			[]step{write("/d/f", 0, "abcdef"), fsync("/d/f"), syncDir("/d"), truncate("/d/f", 2)},
			map[string]string{"/d/f": "abcdef"}},
		{"UnsyncedShrinkAndRegrowReverts",
			[]step{write("/d/f", 0, "abcdef"), fsync("/d/f"), syncDir("/d"), truncate("/d/f", 2), truncate("/d/f", 4)},
			map[string]string{"/d/f": "abcdef"}},
		{"SyncedTruncateSticks",
			[]step{write("/d/f", 0, "abcdef"), fsync("/d/f"), syncDir("/d"), truncate("/d/f", 2), fsync("/d/f")},
			map[string]string{"/d/f": "ab"}},
		{"UnsyncedOpenTruncReverts",
			[]step{write("/d/f", 0, "abc"), fsync("/d/f"), syncDir("/d"), openTrunc("/d/f")},
			map[string]string{"/d/f": "abc"}},
		{"MkdirAllWithoutSyncDirVanishes",
			[]step{mkdir("/d/x/y"), syncDir("/d/x")},
			map[string]string{}},
		{"MkdirAllSyncedLevelByLevelSticks",
			[]step{mkdir("/d/x/y"), syncDir("/d/x"), syncDir("/d")},
			map[string]string{"/d/x/": "", "/d/x/y/": ""}},
		{"MkdirAllOverAnUnsyncedRemovalLeavesItUndone",
			[]step{mkdir("/d/t"), write("/d/t/s", 0, "abc"), fsync("/d/t/s"), syncDir("/d/t"), syncDir("/d"),
				removeAll("/d/t"), mkdir("/d/t")},
			map[string]string{"/d/t/": "", "/d/t/s": "abc"}},
		{"CrossDirRenameWithOnlyTargetSyncedKeepsBothNames",
			[]step{mkdir("/d/a"), mkdir("/d/b"), syncDir("/d"), write("/d/a/f", 0, "abc"), fsync("/d/a/f"), syncDir("/d/a"),
				rename("/d/a/f", "/d/b/f"), syncDir("/d/b")},
			map[string]string{"/d/a/": "", "/d/b/": "", "/d/a/f": "abc", "/d/b/f": "abc"}},
		{"CrossDirRenameWithOnlySourceSyncedLosesFile",
			[]step{mkdir("/d/a"), mkdir("/d/b"), syncDir("/d"), write("/d/a/f", 0, "abc"), fsync("/d/a/f"), syncDir("/d/a"),
				rename("/d/a/f", "/d/b/f"), syncDir("/d/a")},
			map[string]string{"/d/a/": "", "/d/b/": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := faultfs.New()
			must(t, m.MkdirAll("/d", 0o755))
			must(t, m.SyncDir("/"))
			for _, s := range tt.steps {
				s(t, m)
			}
			got := tree(t, m.Crash(faultfs.CrashOptions{}), "/d")
			if !maps.Equal(got, tt.want) {
				t.Fatalf("after crash: got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCrash_TornTailIsAPrefixOfTheAppends(t *testing.T) {
	tests := []struct {
		name      string
		steps     []step
		durable   string
		tail      string
		tornSizes int // How many different tail lengths 200 seeds must show.
	}{
		{"ContiguousAppends", []step{write("/d/f", 4, "BBBBBBBB"), write("/d/f", 12, "CC")}, "AAAA", "BBBBBBBBCC", 11},
		{"OverwriteOfSyncedBytesNeverTears", []step{write("/d/f", 0, "ZZ"), write("/d/f", 4, "BB")}, "AAAA", "BB", 3},
		{"WriteAfterAGapIsLost", []step{write("/d/f", 6, "GG")}, "AAAA", "", 1},
		{"TruncateShortensTheTail", []step{write("/d/f", 4, "BBBB"), truncate("/d/f", 6)}, "AAAA", "BB", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := faultfs.New()
			for _, s := range []step{mkdir("/d"), syncDir("/"), write("/d/f", 0, "AAAA"), fsync("/d/f"), syncDir("/d")} {
				s(t, m)
			}
			for _, s := range tt.steps {
				s(t, m)
			}
			seen := map[int]bool{}
			for seed := range uint64(200) {
				opts := faultfs.CrashOptions{TornWrites: true, Rand: rand.New(rand.NewPCG(seed, 0))}
				got := read(t, m.Crash(opts), "/d/f")
				rest, ok := strings.CutPrefix(got, tt.durable)
				if !ok || !strings.HasPrefix(tt.tail, rest) {
					t.Fatalf("seed %d: got %q, want %q plus a prefix of %q", seed, got, tt.durable, tt.tail)
				}
				seen[len(rest)] = true
			}
			if len(seen) != tt.tornSizes {
				t.Fatalf("saw tail lengths %v, want %d different ones", seen, tt.tornSizes)
			}
		})
	}
}

func TestCrash_HolesKeepTheWholeTailButARunOfZerosWithDataAfterIt(t *testing.T) {
	m := faultfs.New()
	steps := []step{mkdir("/d"), syncDir("/"), write("/d/f", 0, "AAAA"), fsync("/d/f"), syncDir("/d"),
		write("/d/f", 4, "BBBBBBBB"), write("/d/f", 12, "CC")}
	for _, s := range steps {
		s(t, m)
	}
	const tail = "BBBBBBBBCC"
	holes := map[string]bool{}
	for seed := range uint64(200) {
		got := read(t, m.Crash(faultfs.CrashOptions{Holes: true, Rand: rand.New(rand.NewPCG(seed, 0))}), "/d/f")
		rest, ok := strings.CutPrefix(got, "AAAA")
		if !ok || len(rest) != len(tail) {
			t.Fatalf("seed %d: got %q, want AAAA and %d bytes", seed, got, len(tail))
		}
		from := strings.IndexByte(rest, 0)
		to := strings.LastIndexByte(rest, 0) + 1
		if from < 0 || to == len(rest) || strings.Count(rest[from:to], "\x00") != to-from ||
			rest[:from] != tail[:from] || rest[to:] != tail[to:] {
			t.Fatalf("seed %d: tail %q is not %q with one run of zeros before its end", seed, rest, tail)
		}
		holes[rest] = true
	}
	if len(holes) < 20 {
		t.Fatalf("200 seeds made %d different holes", len(holes))
	}
}

func TestCrash_IsDeterministicWithoutRand(t *testing.T) {
	m := faultfs.New()
	for _, s := range []step{mkdir("/d"), syncDir("/"), write("/d/f", 0, "AAAA"), syncDir("/d"), write("/d/f", 4, strings.Repeat("B", 100))} {
		s(t, m)
	}
	opts := faultfs.CrashOptions{TornWrites: true}
	if a, b := read(t, m.Crash(opts), "/d/f"), read(t, m.Crash(opts), "/d/f"); a != b {
		t.Fatalf("two crashes differ: %q and %q", a, b)
	}
}

func TestCrash_OldHandlesDoNotReachTheNewFS(t *testing.T) {
	m := faultfs.New()
	must(t, m.MkdirAll("/d", 0o755))
	must(t, m.SyncDir("/"))
	write("/d/f", 0, "abc")(t, m)
	fsync("/d/f")(t, m)
	syncDir("/d")(t, m)
	f, err := m.OpenFile("/d/f", 2, 0)
	must(t, err)
	defer f.Close()
	crashed := m.Crash(faultfs.CrashOptions{})
	_, err = f.WriteAt([]byte("XYZ"), 0)
	must(t, err)
	must(t, f.Sync())
	write("/d/f", 3, "new")(t, crashed)
	if got := read(t, crashed, "/d/f"); got != "abcnew" {
		t.Fatalf("crashed FS file = %q, want \"abcnew\"", got)
	}
	if got := read(t, m, "/d/f"); got != "XYZ" {
		t.Fatalf("old FS file = %q, want \"XYZ\"", got)
	}
}

func TestClone_KeepsCurrentAndDurableState(t *testing.T) {
	m := faultfs.New()
	for _, s := range []step{mkdir("/d"), syncDir("/"), write("/d/f", 0, "abc"), fsync("/d/f"), syncDir("/d"),
		write("/d/f", 3, "def"), write("/d/g", 0, "new"), remove("/d/f")} {
		s(t, m)
	}
	clone := m.Clone()
	write("/d/g", 0, "changed")(t, m)
	if got, want := tree(t, clone, "/d"), map[string]string{"/d/g": "new"}; !maps.Equal(got, want) {
		t.Fatalf("clone = %q, want %q", got, want)
	}
	crashed := tree(t, clone.Crash(faultfs.CrashOptions{}), "/d")
	if want := tree(t, m.Crash(faultfs.CrashOptions{}), "/d"); !maps.Equal(crashed, want) {
		t.Fatalf("crash of clone = %q, crash of original = %q", crashed, want)
	}
}

func TestCrash_TornBytesAreDurableAfterTheCrash(t *testing.T) {
	m := faultfs.New()
	for _, s := range []step{mkdir("/d"), syncDir("/"), write("/d/f", 0, "AAAA"), syncDir("/d")} {
		s(t, m)
	}
	first := m.Crash(faultfs.CrashOptions{TornWrites: true, Rand: rand.New(rand.NewPCG(3, 0))})
	want := read(t, first, "/d/f")
	if want == "" {
		t.Fatal("the seed kept no torn bytes; pick another")
	}
	if got := read(t, first.Crash(faultfs.CrashOptions{}), "/d/f"); got != want {
		t.Fatalf("second crash = %q, want the first crash's %q", got, want)
	}
}

// A file that shrinks, is synced and grows again must not write into bytes
// that an earlier crash image, or the MemFS it came from, still holds.
func TestCrash_ImageAndOriginalStayApartAfterShrinkSyncAndGrow(t *testing.T) {
	for _, grow := range []string{"crashed", "original"} {
		t.Run(grow, func(t *testing.T) {
			m := faultfs.New()
			for _, s := range []step{mkdir("/d"), syncDir("/"), write("/d/f", 0, "abcdef"), fsync("/d/f"), syncDir("/d")} {
				s(t, m)
			}
			crashed := m.Crash(faultfs.CrashOptions{})
			changed, kept := crashed, m
			if grow == "original" {
				changed, kept = m, crashed
			}
			for _, s := range []step{truncate("/d/f", 2), fsync("/d/f"), write("/d/f", 2, "XY")} {
				s(t, changed)
			}
			if got := read(t, changed, "/d/f"); got != "abXY" {
				t.Fatalf("changed file = %q, want \"abXY\"", got)
			}
			if got := read(t, kept, "/d/f"); got != "abcdef" {
				t.Fatalf("the other MemFS's file = %q, want \"abcdef\"", got)
			}
			if got := read(t, kept.Crash(faultfs.CrashOptions{}), "/d/f"); got != "abcdef" {
				t.Fatalf("the other MemFS's file after a crash = %q, want \"abcdef\"", got)
			}
		})
	}
}

// After a failed fsync Linux marks the pages it could not write clean: a
// later fsync succeeds without writing them, so they are lost in a crash,
// while reads go on returning them until the cache lets them go. Only
// bytes written again are dirty again.
func TestCrash_WritesAFailedSyncDroppedStayLostAfterALaterSync(t *testing.T) {
	m := faultfs.New()
	for _, s := range []step{mkdir("/d"), syncDir("/"), write("/d/f", 0, "AAAA"), fsync("/d/f"), syncDir("/d")} {
		s(t, m)
	}
	w := faultfs.Wrap(m, faultfs.FailOnce(1, faultfs.OpSync, syscall.EIO))
	f, err := w.OpenFile("/d/f", os.O_RDWR, 0)
	must(t, err)
	defer f.Close()
	_, err = f.WriteAt([]byte("BBBBBB"), 2)
	must(t, err)
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("first Sync = %v, want EIO", err)
	}
	must(t, f.Sync())
	if got := read(t, m, "/d/f"); got != "AABBBBBB" {
		t.Fatalf("read after the failed sync = %q, want the written \"AABBBBBB\"", got)
	}
	if got := read(t, m.Crash(faultfs.CrashOptions{}), "/d/f"); got != "AAAA\x00\x00\x00\x00" {
		t.Fatalf("after a crash = %q, want the bytes the failed sync dropped as they were on disk", got)
	}
	_, err = f.WriteAt([]byte("CC"), 3)
	must(t, err)
	must(t, f.Truncate(7))
	must(t, f.Sync())
	if got := read(t, m.Crash(faultfs.CrashOptions{}), "/d/f"); got != "AAACC\x00\x00" {
		t.Fatalf("after rewriting some and a crash = %q, want \"AAACC\\x00\\x00\"", got)
	}
	if got := read(t, m.Clone().Crash(faultfs.CrashOptions{}), "/d/f"); got != "AAACC\x00\x00" {
		t.Fatalf("a clone's crash = %q, want \"AAACC\\x00\\x00\"", got)
	}
}

func TestCrash_ShrinkAfterAFailedSyncForgetsTheDroppedBytesPastTheEnd(t *testing.T) {
	m := faultfs.New()
	for _, s := range []step{mkdir("/d"), syncDir("/"), write("/d/f", 0, "AAAA"), syncDir("/d")} {
		s(t, m)
	}
	w := faultfs.Wrap(m, faultfs.FailOnce(1, faultfs.OpSync, syscall.EIO))
	f, err := w.OpenFile("/d/f", os.O_RDWR, 0)
	must(t, err)
	defer f.Close()
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("first Sync = %v, want EIO", err)
	}
	must(t, f.Truncate(2))
	must(t, f.Sync())
	_, err = f.WriteAt([]byte("BB"), 2)
	must(t, err)
	must(t, f.Sync())
	if got := read(t, m.Crash(faultfs.CrashOptions{}), "/d/f"); got != "\x00\x00BB" {
		t.Fatalf("after a crash = %q, want the two dropped bytes as zeros, then BB", got)
	}
}
