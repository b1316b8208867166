package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

func TestGCPercentFor_KeepsTheGoalAtTheFloorAndNeverBelowTheTarget(t *testing.T) {
	const floor, target = 16 << 20, 75
	most := floor * 100 / goHeapMinimum // 400: Go's own minimum goal, 4 MB × 4, is the floor then
	for _, live := range []uint64{0, 1, 100 << 10, 1 << 20, 3 << 20, 3200 << 10, 4 << 20, 6 << 20, 8 << 20, 9 << 20, 9400 << 10, 10 << 20, 64 << 20, 1 << 30} {
		p := gcPercentFor(live, floor, target)
		if p < target || p > most || p%25 != 0 {
			t.Errorf("live %d: percent %d, want a multiple of 25 from %d to %d", live, p, target, most)
		}
		goal := max(live*uint64(100+p)/100, goHeapMinimum*uint64(p)/100)
		if goal < floor {
			t.Errorf("live %d: percent %d aims at %d bytes, below the floor %d", live, p, goal, floor)
		}
		if live*(100+target)/100 >= floor && p != target {
			t.Errorf("live %d: percent %d, want the target %d: the target's goal is above the floor", live, p, target)
		}
		if live > 0 && p > target && live*uint64(100+p-25)/100 >= floor && goHeapMinimum*uint64(p-25)/100 < floor && p > 100 {
			t.Errorf("live %d: percent %d is more than it takes to reach the floor", live, p)
		}
	}
}

func gogc(t *testing.T) uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Skip("this Go does not report /gc/gogc:percent")
	}
	return s[0].Value.Uint64()
}

// liveHeap is the live heap the last collection found, as the keeper
// reads it.
func liveHeap(t *testing.T) uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Skip("this Go does not report /gc/heap/live:bytes")
	}
	return s[0].Value.Uint64()
}

func TestKeepHeapFloor_FollowsEachCollectionAndStops(t *testing.T) {
	old := debug.SetGCPercent(75)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	const floor = 64 << 20 // well above this test's live heap, and what earlier tests left
	// forLive is the percent the keeper must set for the live heap now:
	// above the target while the heap is below the floor. The live heap is
	// what earlier tests of this binary left too, so it is read, not assumed.
	forLive := func() uint64 { return uint64(gcPercentFor(liveHeap(t), floor, 75)) }
	// The cleanup that adjusts runs soon after a collection, on its own
	// goroutine: collect until it has.
	collectUntil := func(ok func(uint64) bool) uint64 {
		for i := 0; i < 1000 && !ok(gogc(t)); i++ {
			runtime.GC()
			runtime.Gosched()
		}
		return gogc(t)
	}
	runtime.GC()
	k := keepHeapFloor(75, floor)
	defer k.stop()
	if got := collectUntil(func(p uint64) bool { return p == forLive() }); got != forLive() || got <= 75 {
		t.Fatalf("GOGC %d with %d bytes live, want %d, above the target 75", got, liveHeap(t), forLive())
	}
	big := make([]byte, 96<<20) // live: above the floor, so the target decides
	for i := range big {
		big[i] = 1
	}
	if got := collectUntil(func(p uint64) bool { return p == 75 }); got != 75 {
		t.Fatalf("GOGC %d with 96 MB live, want the target 75", got)
	}
	runtime.KeepAlive(big)
	if got := collectUntil(func(p uint64) bool { return p > 75 && p == forLive() }); got <= 75 || got != forLive() {
		t.Fatalf("GOGC %d once the 96 MB were garbage, want %d, above the target again", got, forLive())
	}
	k.stop()
	if got := gogc(t); got != 75 {
		t.Fatalf("GOGC %d after stop, want the target 75", got)
	}
	for range 3 {
		runtime.GC()
	}
	if got := gogc(t); got != 75 {
		t.Errorf("GOGC %d after stop and collections, want 75: a stopped keeper must not adjust", got)
	}
}
