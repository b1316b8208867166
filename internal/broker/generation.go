package broker

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"os"
	"slices"
	"sort"
	"sync/atomic"
)

// A generation is a frozen part of a dedup index: the (hash, position)
// pairs stored during one stretch of time, sorted by hash. In memory it
// keeps only a blocked Bloom filter (16 bits an event, 0.1% false positives) and, when it
// lives in a file, every fenceEvery-th hash; a lookup that passes the
// filter reads one block of the file. Without a directory the pairs stay
// in memory (16 bytes an event).
type generation struct {
	span   *span // the span it belongs to, once installed
	newest int64 // unix ms of the newest event in it
	n      int
	bloom  []uint64
	pairs  []pair   // in memory, or nil when in a file
	file   *os.File // sorted pairs, 16 bytes each, big-endian
	fences []uint64 // hash of pair i*fenceEvery
}

type pair struct{ hash, pos uint64 }

const (
	fenceEvery   = 256
	pairSize     = 16
	bloomBits    = 16 // per event
	bloomProbes  = 7
	bloomWordLog = 3 // 8 words = one 512-bit block (a cache line)
)

// freeze sorts a generation's entries and, with a path, writes them to
// it. When the file cannot be written the entries stay in memory: the
// generation returned is usable, and the error says why it is not in a
// file.
// Every hash also goes into spanBloom (nil: none), atomically.
func freeze(entries map[uint64]uint64, newest int64, path string, spanBloom []uint64) (*generation, error) {
	pairs := make([]pair, 0, len(entries))
	for h, p := range entries {
		pairs = append(pairs, pair{h, p})
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if a.hash < b.hash {
			return -1
		}
		if a.hash > b.hash {
			return 1
		}
		return 0
	})
	g := &generation{newest: newest, n: len(pairs), bloom: newBloom(len(pairs))}
	for _, p := range pairs {
		bloomAdd(g.bloom, p.hash)
		if spanBloom != nil {
			spanAdd(spanBloom, p.hash)
		}
	}
	if path == "" {
		g.pairs = pairs
		return g, nil
	}
	if err := g.spill(pairs, path); err != nil {
		g.fences, g.pairs = nil, pairs // stays in memory
		return g, err
	}
	return g, nil
}

func (g *generation) spill(pairs []pair, path string) error {
	buf := make([]byte, 0, len(pairs)*pairSize)
	for i, p := range pairs {
		if i%fenceEvery == 0 {
			g.fences = append(g.fences, p.hash)
		}
		buf = binary.BigEndian.AppendUint64(buf, p.hash)
		buf = binary.BigEndian.AppendUint64(buf, p.pos)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("dedup generation: %w", err)
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("dedup generation: %w", err)
	}
	g.file = f
	return nil
}

// lookup returns the position stored for h, if the generation has it.
func (g *generation) lookup(h uint64) (uint64, bool, error) {
	if !bloomHas(g.bloom, h) {
		return 0, false, nil
	}
	if g.file == nil {
		i := sort.Search(len(g.pairs), func(i int) bool { return g.pairs[i].hash >= h })
		if i < len(g.pairs) && g.pairs[i].hash == h {
			return g.pairs[i].pos, true, nil
		}
		return 0, false, nil
	}
	return g.lookupFile(h)
}

// lookupFile reads the one fenced block that can hold h.
func (g *generation) lookupFile(h uint64) (uint64, bool, error) {
	b := sort.Search(len(g.fences), func(i int) bool { return g.fences[i] > h }) - 1
	if b < 0 {
		return 0, false, nil
	}
	count := min(fenceEvery, g.n-b*fenceEvery)
	buf := make([]byte, count*pairSize)
	if _, err := g.file.ReadAt(buf, int64(b*fenceEvery*pairSize)); err != nil {
		return 0, false, fmt.Errorf("dedup generation %s: %w", g.file.Name(), err)
	}
	i := sort.Search(count, func(i int) bool { return binary.BigEndian.Uint64(buf[i*pairSize:]) >= h })
	if i < count && binary.BigEndian.Uint64(buf[i*pairSize:]) == h {
		return binary.BigEndian.Uint64(buf[i*pairSize+8:]), true, nil
	}
	return 0, false, nil
}

// drop releases the generation's file.
func (g *generation) drop() {
	if g.file != nil {
		g.file.Close()
		os.Remove(g.file.Name())
	}
}

// Blocked Bloom filter: a hash picks one 512-bit block and sets
// bloomProbes bits in it, so a test touches one cache line.
func newBloom(n int) []uint64 {
	blocks := max(1, (n*bloomBits+511)/512)
	return make([]uint64, blocks<<bloomWordLog)
}

func bloomBlock(bloom []uint64, h uint64) []uint64 {
	blocks := uint64(len(bloom) >> bloomWordLog)
	hi, _ := bits.Mul64(h, blocks)
	return bloom[hi<<bloomWordLog : (hi+1)<<bloomWordLog]
}

// bloomMask returns h's block of the filter and, per word of it, the bits
// h sets: bloomProbes bits picked by 9-bit slices of a multiplied hash.
func bloomMask(bloom []uint64, h uint64) (block []uint64, mask [1 << bloomWordLog]uint64) {
	block = bloomBlock(bloom, h)
	x := h * 0x9e3779b97f4a7c15
	for i := 0; i < bloomProbes; i++ {
		bit := x >> (64 - 9) // 9 bits: one of 512
		mask[bit>>6] |= 1 << (bit & 63)
		x <<= 9
	}
	return block, mask
}

func bloomAdd(bloom []uint64, h uint64) {
	block, mask := bloomMask(bloom, h)
	for w, m := range mask {
		block[w] |= m
	}
}

func bloomHas(bloom []uint64, h uint64) bool {
	block, mask := bloomMask(bloom, h)
	for w, m := range mask {
		if block[w]&m != m {
			return false
		}
	}
	return true
}

// spanAdd and spanHas are bloomAdd and bloomHas for a span's filter,
// whose bits are set while lookups read it.
func spanAdd(bloom []uint64, h uint64) {
	block, mask := bloomMask(bloom, h)
	for w, m := range mask {
		if m != 0 {
			atomic.OrUint64(&block[w], m)
		}
	}
}

func spanHas(bloom []uint64, h uint64) bool {
	block, mask := bloomMask(bloom, h)
	for w, m := range mask {
		if atomic.LoadUint64(&block[w])&m != m {
			return false
		}
	}
	return true
}
