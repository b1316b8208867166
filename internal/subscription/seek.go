package subscription

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/heraldevents/herald/internal/storage"
)

// Position is where Seek moves a subscription: earliest, latest, a time,
// or explicit offsets per partition (partitions not named stay).
type Position struct {
	Start   string        // earliest | latest | RFC 3339 time; empty with Offsets
	Offsets map[int]int64 // partition -> next offset to deliver
}

// Seek moves a subscription, replaying or skipping events. Everything in
// flight is dropped: leases handed out before become stale, retries and
// out-of-order acks are forgotten.
func (m *Manager) Seek(ctx context.Context, topic, name string, pos Position) (Info, error) {
	s, err := m.get(ctx, topic, name)
	if err != nil {
		return Info{}, err
	}
	t, err := m.broker.Topic(ctx, topic)
	if err != nil {
		return Info{}, err
	}
	offs := pos.Offsets
	if pos.Start != "" {
		if pos.Start != "earliest" && pos.Start != "latest" && !isTime(pos.Start) {
			return Info{}, fmt.Errorf("%w: seek to earliest, latest, an RFC 3339 time or offsets, got %q", ErrInvalidConfig, pos.Start)
		}
		if offs, err = m.startOffsets(ctx, t, pos.Start); err != nil {
			return Info{}, err
		}
	}
	if len(offs) == 0 {
		return Info{}, fmt.Errorf("%w: seek needs a position", ErrInvalidConfig)
	}
	for p, off := range offs {
		first, end, err := m.broker.Offsets(ctx, topic, p)
		if errors.Is(err, storage.ErrUnknownPartition) {
			return Info{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		if err != nil {
			return Info{}, err
		}
		if off < first || off > end {
			return Info{}, fmt.Errorf("%w: partition %d holds offsets %d to %d, cannot seek to %d", ErrInvalidConfig, p, first, end, off)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deleted {
		return Info{}, fmt.Errorf("%w: %s on topic %s (deleted)", ErrNotFound, name, topic)
	}
	var b batch
	moved := make(map[int]*cursor, len(offs))
	for p, off := range offs {
		c := newCursor(p, off)
		if old, ok := s.parts[p]; ok {
			for o := range old.recorded {
				b.Delete(eventKey(topic, name, p, o))
			}
			for low := range old.doneSets {
				b.Delete(doneKey(topic, name, p, low))
			}
			c.dead = old.dead
		}
		moved[p] = c
		b.Put(cursorKey(topic, name, p), s.cursorRecord(c))
	}
	if err := m.state.writeSynced(ctx, &b); err != nil {
		return Info{}, err // the subscription is as it was
	}
	maps.Copy(s.parts, moved)
	s.signal()
	return s.info(ctx), nil
}
