package middleware

import (
	"sync"
	"time"
)

// SweepBatch is the most expired entries one statement of a sweep
// removes, and SweepBatches the most statements one sweep runs. A claim
// that finds a sweep due pays for at most SweepBatches small statements,
// each of which keeps what it removed even if a later one fails or the
// claim's context ends; a backlog larger than one sweep (a consumer back
// after a long stop) shrinks by as much at each claim until it is gone.
const (
	SweepBatch   = 1000
	SweepBatches = 10
)

// SweepSchedule tells an IdempotencyStore when to purge expired entries:
// at most once per SweepInterval, by the one claim that finds the sweep
// due. A sweep that failed, or stopped with entries left, is given back,
// so the next claim goes on with it. The zero value is ready; it is safe
// for concurrent use.
type SweepSchedule struct {
	mu   sync.Mutex // guards next
	next time.Time
}

// Due reports whether the caller should sweep now, and if so books the
// next sweep.
func (s *SweepSchedule) Due(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Before(s.next) {
		return false
	}
	s.next = now.Add(SweepInterval)
	return true
}

// Failed makes the next Due true again.
func (s *SweepSchedule) Failed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next = time.Time{}
}

// Sweep runs a sweep if one is due: it calls purge, which removes at most
// limit expired entries and says how many it removed, until a call removes
// fewer than SweepBatch, SweepBatches calls were made, or one fails. It
// returns nothing: a sweep that failed must not fail the claim that ran
// it (the claim's own statement reports a store that is down), and it is
// tried again by the next claim.
func (s *SweepSchedule) Sweep(now time.Time, purge func(limit int) (int64, error)) {
	if !s.Due(now) {
		return
	}
	for range SweepBatches {
		n, err := purge(SweepBatch)
		if err != nil {
			s.Failed()
			return
		}
		if n < SweepBatch {
			return
		}
	}
	s.Failed() // entries are left: the next claim goes on
}

// PurgeAll calls purge, as Sweep does, until a call removes fewer than
// SweepBatch entries, and returns how many were removed in all. A store's
// Purge uses it, so that no one statement holds the store for long.
func PurgeAll(purge func(limit int) (int64, error)) (int64, error) {
	var total int64
	for {
		n, err := purge(SweepBatch)
		total += n
		if err != nil || n < SweepBatch {
			return total, err
		}
	}
}
