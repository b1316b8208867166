package subscription

import (
	"context"
)

// fitToLogs brings every cursor back within its partition's log at start,
// and writes what that changed before any event is published or pulled.
//
// A topic's log can end below a subscription's position: with --fsync
// interval or none, a crash loses the log's unsynced tail while the state
// topic keeps what it had synced. The offsets past the log's end will be
// taken by new events, so nothing the subscription knew of them may apply:
// a position there would skip the new events, an attempt record would
// count deliveries they never had, and a done set would mark them acked.
//
// The embedded engine shortens a log only when it opens. An engine whose
// log could shrink under a running subscription would need the same at
// run time, where a done set's offsets are no longer known.
func (m *Manager) fitToLogs(ctx context.Context) error {
	var b batch
	for _, s := range m.subs {
		for _, c := range s.parts {
			_, end, err := m.broker.Offsets(ctx, s.topic, c.p)
			if err != nil {
				continue // the topic or partition is gone; a pull reports it
			}
			s.fitToEnd(c, end, &b)
		}
	}
	return m.state.write(ctx, &b)
}

// fitToEnd cuts a replayed cursor (no events read yet, its done sets still
// by record in restoredSets) at end, in memory and, by what it puts in b, on disk.
func (s *sub) fitToEnd(c *cursor, end int64, b *batch) {
	if c.committed > end || c.delivered > end {
		c.committed, c.fetched = min(c.committed, end), min(c.fetched, end)
		c.delivered = min(c.delivered, end)
		b.Put(cursorKey(s.topic, s.name, c.p), s.cursorRecord(c))
	}
	for off := range c.restored {
		if off >= end {
			delete(c.restored, off)
			b.Delete(eventKey(s.topic, s.name, c.p, off))
		}
	}
	for low, rs := range c.restoredSets {
		if rs[len(rs)-1][1] <= end {
			continue
		}
		if rs[0][0] >= end {
			delete(c.restoredSets, low)
			b.Delete(doneKey(s.topic, s.name, c.p, low))
			continue
		}
		var cut []run // a done set's runs are sorted
		for _, r := range rs {
			if r[0] < end {
				cut = append(cut, run{r[0], min(r[1], end)})
			}
		}
		c.restoredSets[low] = cut
		b.Put(doneKey(s.topic, s.name, c.p, low), doneRecord{Inc: s.inc, Ranges: cut})
	}
}
