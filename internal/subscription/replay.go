package subscription

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
)

// replay rebuilds every subscription from the state topic in three
// steps: the configs, then the cursors, then everything else. Compaction
// keeps only the newest record of a key, so a subscription's (changed)
// config may come after its cursor and event records, and a partition's
// cursor (rewritten at every settlement) after its done sets and event
// records; a partition the topic gained after the subscription was made is
// known only from its cursor, and records of it read before would be
// dropped. Records carry the incarnation they belong to, so the order
// between kinds does not matter, only the order within a key, which
// compaction keeps.
func (m *Manager) replay(ctx context.Context) error {
	// The cursors (one record per partition of each subscription, few) are
	// kept from the first pass and applied after it, in the order read, so
	// that the state topic is read twice, not three times.
	type cursorRec struct {
		topic, name string
		p           int
		value       []byte
	}
	var cursors []cursorRec
	err := m.state.replay(ctx, func(key string, value []byte) error {
		kind, topic, name, p, _, err := parseKey(key)
		switch {
		case err != nil:
			return err
		case kind == "c":
			return m.replayConfig(topic, name, value)
		case kind == "p":
			cursors = append(cursors, cursorRec{topic, name, p, slices.Clone(value)}) // nil (deleted) stays nil
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range cursors {
		if err := m.replayCursor(c.topic, c.name, c.p, c.value); err != nil {
			return err
		}
	}
	err = m.state.replay(ctx, func(key string, value []byte) error {
		kind, topic, name, p, off, err := parseKey(key)
		if err != nil {
			return err
		}
		switch kind {
		case "c", "p":
			return nil
		case "r":
			return m.replayRedrive(topic, name, p, off, value)
		case "d":
			return m.replayDoneSet(topic, name, p, off, value)
		case "a":
			return m.replayAudit(key, topic, name, value)
		default:
			return m.replayEvent(topic, name, p, off, value)
		}
	})
	if err != nil {
		return err
	}
	if err := m.fitToLogs(ctx); err != nil {
		return err
	}
	for _, s := range m.subs {
		for _, c := range s.parts {
			for low, rs := range c.restoredSets {
				c.doneSets[low] = rs[len(rs)-1][1] - 1
				for _, r := range rs {
					if r[1] > c.committed {
						c.restoredRuns = append(c.restoredRuns, run{max(r[0], c.committed), r[1]})
					}
				}
			}
			c.restoredRuns = mergeRuns(c.restoredRuns)
			c.restoredSets = map[int64][]run{}
			for off := range c.restored {
				if off < c.committed {
					delete(c.restored, off)
				} else {
					c.recorded[off] = true
				}
			}
		}
	}
	return nil
}

func (m *Manager) replayConfig(topic, name string, value []byte) error {
	if value == nil {
		delete(m.subs, subKey(topic, name))
		return nil
	}
	var rec configRecord
	if err := json.Unmarshal(value, &rec); err != nil {
		return fmt.Errorf("subscription %s/%s config: %w", topic, name, err)
	}
	if s, ok := m.subs[subKey(topic, name)]; ok && s.inc == rec.Inc {
		s.cfg = rec.Config // a settings change
		return nil
	}
	m.install(topic, name, rec)
	return nil
}

func (m *Manager) replayCursor(topic, name string, p int, value []byte) error {
	s, ok := m.subs[subKey(topic, name)]
	if !ok || value == nil {
		return nil
	}
	var rec cursorRecord
	if err := json.Unmarshal(value, &rec); err != nil {
		return fmt.Errorf("subscription %s/%s cursor %d: %w", topic, name, p, err)
	}
	if rec.Inc != s.inc {
		return nil
	}
	c, ok := s.parts[p]
	if !ok {
		c = newCursor(p, rec.Committed)
		s.parts[p] = c
	}
	c.committed, c.fetched, c.delivered, c.dead = rec.Committed, rec.Committed, rec.Delivered, rec.Dead
	return nil
}

// replayedCursor returns the live subscription and cursor a record
// belongs to, or nils for a record of a deleted subscription or partition.
func (m *Manager) replayedCursor(topic, name string, p int) (*sub, *cursor) {
	s, ok := m.subs[subKey(topic, name)]
	if !ok {
		return nil, nil
	}
	c, ok := s.parts[p]
	if !ok {
		return nil, nil
	}
	return s, c
}

func (m *Manager) replayDoneSet(topic, name string, p int, low int64, value []byte) error {
	s, c := m.replayedCursor(topic, name, p)
	if c == nil {
		return nil
	}
	if value == nil {
		delete(c.restoredSets, low)
		return nil
	}
	var rec doneRecord
	if err := json.Unmarshal(value, &rec); err != nil {
		return fmt.Errorf("subscription %s/%s done set %d/%d: %w", topic, name, p, low, err)
	}
	if rs := rec.doneRuns(); rec.Inc == s.inc && len(rs) > 0 {
		c.restoredSets[low] = rs
	}
	return nil
}

func (m *Manager) replayEvent(topic, name string, p int, off int64, value []byte) error {
	s, c := m.replayedCursor(topic, name, p)
	if c == nil {
		return nil
	}
	if value == nil {
		delete(c.restored, off)
		return nil
	}
	var rec eventRecord
	if err := json.Unmarshal(value, &rec); err != nil {
		return fmt.Errorf("subscription %s/%s event %d/%d: %w", topic, name, p, off, err)
	}
	if rec.Inc == s.inc {
		c.restored[off] = rec
	}
	return nil
}
