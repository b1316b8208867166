package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// heapFloor is the least heap goal `herald serve` lets the garbage
// collector aim at. With the target of 75 alone, a server whose live heap
// is small (a few MB: a quiet server, or one taking a few thousand events
// a second) collected about thirty times a second, and an event that
// arrived while a collection was marking waited for it: at 5,000 events/s
// the publish-to-handler p99 was a tenth lower with the floor. Under load
// the live heap is larger and the target of 75 decides alone (publishing
// 1 KiB events, the live heap is 10 to 16 MB), so the floor does not raise
// the server's peak memory. `herald bench` keeps the same floor (above
// Go's target of 100), so that its own collections do not show in the
// latency it measures.
const heapFloor = 16 << 20

// goHeapMinimum is the least goal of Go's collector at GOGC=100; it scales
// with the percent (4 MB × GOGC/100), so a percent above
// heapFloor/goHeapMinimum×100 would raise the floor past heapFloor.
const goHeapMinimum = 4 << 20

// gcPercentFor returns the GC percent that keeps the heap goal (live ×
// (1 + percent/100)) at least floor for a live heap of live bytes, never
// below target nor above what keeps Go's own minimum goal within floor. It
// rounds up to a multiple of 25, so that a live heap that moves a little
// does not change it.
func gcPercentFor(live, floor uint64, target int) int {
	if live*uint64(100+target)/100 >= floor {
		return target
	}
	most := int(floor * 100 / goHeapMinimum)
	if live == 0 {
		return max(target, most)
	}
	p := int((floor*100+live-1)/live) - 100
	p = (p + 24) / 25 * 25
	return max(target, min(p, most))
}

// heapFloorKeeper sets the GC percent from the live heap after every
// collection, from keepHeapFloor until stop.
type heapFloorKeeper struct {
	target  int
	floor   uint64
	mu      sync.Mutex       // guards the fields below
	set     int              // the percent set last
	live    []metrics.Sample // read into by adjust
	stopped bool
}

// keepHeapFloor sets the percent for the live heap now and again after
// every collection until stop.
func keepHeapFloor(target int, floor uint64) *heapFloorKeeper {
	k := &heapFloorKeeper{target: target, floor: floor, set: target, live: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	k.adjust()
	k.arm()
	return k
}

// arm runs adjust after the next collection, by the cleanup of an object
// nothing refers to; adjust arms it again. The object is 64 bytes: a
// small one without pointers may share a block of Go's tiny allocator,
// and its cleanup would wait for its neighbours (AddCleanup's caveat for
// objects of about 16 bytes or less). An object allocated while a
// collection marks survives it, so an adjustment may skip a cycle.
func (k *heapFloorKeeper) arm() {
	runtime.AddCleanup(new([64]byte), func(k *heapFloorKeeper) {
		if k.adjust() {
			k.arm()
		}
	}, k)
}

// adjust sets the percent for the live heap now; false once stopped.
func (k *heapFloorKeeper) adjust() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped {
		return false
	}
	metrics.Read(k.live)
	if k.live[0].Value.Kind() != metrics.KindUint64 {
		return false // not measured by this Go
	}
	if p := gcPercentFor(k.live[0].Value.Uint64(), k.floor, k.target); p != k.set {
		debug.SetGCPercent(p)
		k.set = p
	}
	return true
}

// stop ends the adjusting and sets the target back.
func (k *heapFloorKeeper) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopped = true
	debug.SetGCPercent(k.target)
}
