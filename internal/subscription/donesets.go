package subscription

import (
	"cmp"
	"slices"
)

// A done set records events acked (or dead-lettered) out of order, past a
// pending one, so that a restart does not deliver them again. Each ack
// call writes one, and each goes once committed passes it. While the
// first pending event of a partition is held back for long (a
// deliverafter a day ahead, a nack with a long delay), committed does not
// move and they would pile up, in memory and as distinct keys of the
// state topic. Past maxDoneSets they are merged into one set of runs: every
// offset in [committed, fetched) that is not pending is done, so the runs
// are the gaps between the pending events, at most one more than the
// window's events however many were handled behind the held one.
var maxDoneSets = 64 // a variable for tests that merge at every call

// run is the offsets [from, to).
type run [2]int64

// runsOf returns sorted offsets as runs.
func runsOf(offs []int64) []run {
	var rs []run
	for _, off := range offs {
		if n := len(rs); n > 0 && rs[n-1][1] == off {
			rs[n-1][1]++
		} else {
			rs = append(rs, run{off, off + 1})
		}
	}
	return rs
}

// mergeRuns sorts runs and joins those that touch or overlap.
func mergeRuns(rs []run) []run {
	slices.SortFunc(rs, func(a, b run) int { return cmp.Compare(a[0], b[0]) })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && r[0] <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], r[1])
		} else {
			out = append(out, r)
		}
	}
	return out
}

// doneRuns returns the runs a done record lists, nil if it lists none or
// they are out of order.
func (r doneRecord) doneRuns() []run {
	if r.Ranges == nil {
		if !slices.IsSorted(r.Offsets) {
			return nil
		}
		return runsOf(r.Offsets)
	}
	for i, rr := range r.Ranges {
		if rr[0] >= rr[1] || i > 0 && rr[0] < r.Ranges[i-1][1] {
			return nil
		}
	}
	return r.Ranges
}

// mergeDoneSets replaces a cursor's done sets with one set of runs once
// there are more than maxDoneSets, queueing the records' change in b. A
// set restored from before a restart that reaches past what was read
// since holds offsets no run can say, so it waits until refill passes it.
func (s *sub) mergeDoneSets(c *cursor, b *batch) {
	if len(c.doneSets) <= maxDoneSets {
		return
	}
	for _, high := range c.doneSets {
		if high >= c.fetched {
			return
		}
	}
	var rs []run
	from := c.committed
	pending := make([]int64, 0, len(c.entries))
	for off := range c.entries {
		pending = append(pending, off)
	}
	slices.Sort(pending)
	for _, off := range pending {
		if off > from {
			rs = append(rs, run{from, off})
		}
		from = off + 1
	}
	if from < c.fetched {
		rs = append(rs, run{from, c.fetched})
	}
	low := int64(-1)
	if len(rs) > 0 {
		low = rs[0][0]
	}
	for l := range c.doneSets {
		if l != low {
			b.Delete(doneKey(s.topic, s.name, c.p, l))
		}
		delete(c.doneSets, l)
	}
	if len(rs) > 0 {
		b.Put(doneKey(s.topic, s.name, c.p, low), doneRecord{Inc: s.inc, Ranges: rs})
		c.doneSets[low] = rs[len(rs)-1][1] - 1
	}
}

// isRestoredDone reports whether an event read back was acked out of
// order before a restart. Offsets come in ascending order, so the runs
// behind off are dropped.
func (c *cursor) isRestoredDone(off int64) bool {
	for len(c.restoredRuns) > 0 && c.restoredRuns[0][1] <= off {
		c.restoredRuns = c.restoredRuns[1:]
	}
	if len(c.restoredRuns) > 0 && c.restoredRuns[0][0] <= off {
		delete(c.restored, off)
		return true
	}
	r, ok := c.restored[off]
	if ok && r.Done { // a per-event done record of an older Herald
		delete(c.restored, off)
		return true
	}
	return false
}
