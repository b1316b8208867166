package middleware

import (
	"sync"
	"time"
)

// SweepSchedule tells an IdempotencyStore when to purge expired entries:
// at most once per SweepInterval, by the one claim that finds the sweep
// due. A sweep that failed is given back, so the next claim tries again.
// The zero value is ready; it is safe for concurrent use.
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
