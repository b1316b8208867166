package faultfs

import (
	"math/rand/v2"
	"slices"
)

// CrashOptions says how Crash treats data that was written but not synced.
// The zero value drops all of it.
type CrashOptions struct {
	// TornWrites keeps, for each surviving file, a random prefix of the
	// unsynced bytes that extend its durable contents contiguously.
	TornWrites bool
	// Holes keeps, for each surviving file, all of that unsynced tail but
	// one run of zeros inside it, with some of the tail after the run:
	// what a file system that wrote the later pages before the earlier
	// ones leaves. It takes precedence over TornWrites.
	Holes bool
	// Rand chooses the prefixes, drawing in path order. Nil means a fixed
	// seed, so Crash is deterministic either way. Like any *rand.Rand it
	// must not be shared by concurrent calls.
	Rand *rand.Rand
}

// Crash returns a new MemFS holding what a power cut at this instant would
// leave: the durable entries of every directory reachable from the root
// through durable entries, and the durable contents of every file, plus torn
// tails when opts.TornWrites is set. m is unchanged and its open handles do
// not reach the new MemFS.
func (m *MemFS) Crash(opts CrashOptions) *MemFS {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if (opts.TornWrites || opts.Holes) && opts.Rand == nil {
		opts.Rand = rand.New(rand.NewPCG(1, 2))
	}
	c := crasher{opts: opts, done: map[*inode]*inode{}}
	return &MemFS{root: c.copy(m.root)}
}

// crasher copies the durable state of a tree, each inode once.
type crasher struct {
	opts CrashOptions
	done map[*inode]*inode // Old inode to its copy, so hard links stay links.
}

// copy returns the post-crash copy of n.
func (c *crasher) copy(n *inode) *inode {
	if out, ok := c.done[n]; ok {
		return out
	}
	out := &inode{mode: n.mode, modTime: n.modTime}
	c.done[n] = out
	if n.isDir() {
		out.entries = map[string]*inode{}
		for _, name := range sortedNames(n.durableEntries) {
			out.entries[name] = c.copy(n.durableEntries[name])
		}
		out.durableEntries = cloneEntries(out.entries, nil)
		return out
	}
	c.copyData(n, out)
	return out
}

// copyData gives out n's durable contents and, with torn writes, a random
// prefix of n's contiguous unsynced tail, or with holes, all of it but a
// random run of zeros. Whatever survives is on disk, so it is all durable
// in the new MemFS.
func (c *crasher) copyData(n, out *inode) {
	data := n.durable[:len(n.durable):len(n.durable)]
	tail := n.tail()
	switch {
	case c.opts.Holes && len(tail) > 1:
		from := c.opts.Rand.IntN(len(tail) - 1)
		to := from + 1 + c.opts.Rand.IntN(len(tail)-1-from) // before the end: something after the hole survives
		data = append(data, tail...)
		clear(data[len(n.durable)+from : len(n.durable)+to])
	case c.opts.TornWrites && len(tail) > 0:
		data = append(data, tail[:c.opts.Rand.IntN(len(tail)+1)]...)
	}
	out.data = data
	out.sync() // Shares data with durable; own copies before any change.
}

// Clone returns a new MemFS with the same current and durable state as m:
// a snapshot in which nothing more is lost than in m itself. m's open
// handles do not reach the clone.
func (m *MemFS) Clone() *MemFS {
	m.mu.RLock()
	defer m.mu.RUnlock()
	done := map[*inode]*inode{}
	return &MemFS{root: cloneInode(m.root, done)}
}

// cloneInode deep-copies n and every inode reachable from its current or
// durable entries.
func cloneInode(n *inode, done map[*inode]*inode) *inode {
	if out, ok := done[n]; ok {
		return out
	}
	out := &inode{}
	*out = *n
	done[n] = out
	if !n.isDir() {
		out.data, out.shared = slices.Clone(n.data), false
		return out
	}
	conv := func(child *inode) *inode { return cloneInode(child, done) }
	out.entries = cloneEntries(n.entries, conv)
	out.durableEntries = cloneEntries(n.durableEntries, conv)
	return out
}

// sortedNames returns a directory's entry names in order, so that Crash
// draws random numbers in a reproducible order.
func sortedNames(m map[string]*inode) []string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
