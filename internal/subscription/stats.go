package subscription

import (
	"context"
	"sort"
)

// Counts are what a subscription did since the Manager opened: they live
// in memory only, and start at zero again after a restart (Prometheus
// counters may). Each is added to once per pull or settlement, under the
// subscription's lock the call holds anyway.
type Counts struct {
	Delivered   uint64 // deliveries handed out, first attempts and retries
	Redelivered uint64 // of those, the deliveries of an attempt after the first
	Released    uint64 // of those, the deliveries given back unsent (Release): they come again as the same attempt
	Acked       uint64 // acks that took effect
	Nacked      uint64 // nacks and rejects that took effect (then retried or dead-lettered)
	Expired     uint64 // leases that ended without an ack or nack within the ack timeout
}

// Stats is a subscription's state with its counts.
type Stats struct {
	Info
	Counts Counts
}

// Stats describes every subscription, with its per-partition state and
// its counts, sorted by topic and name. It only reads: a lease past its
// deadline that the subscription has not noticed yet still counts as in
// flight.
func (m *Manager) Stats(ctx context.Context) []Stats {
	subs := m.all()
	sort.Slice(subs, func(i, j int) bool {
		if subs[i].topic != subs[j].topic {
			return subs[i].topic < subs[j].topic
		}
		return subs[i].name < subs[j].name
	})
	out := make([]Stats, 0, len(subs))
	for _, s := range subs {
		if st, ok := s.stats(ctx); ok {
			out = append(out, st)
		}
	}
	return out
}

func (s *sub) stats(ctx context.Context) (Stats, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deleted {
		return Stats{}, false
	}
	return Stats{Info: s.info(ctx), Counts: s.counts}, true
}
