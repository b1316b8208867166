package middleware

import (
	"context"
	"sync"
	"time"
)

// SweepInterval is how often, at most, a store removes its expired
// entries as claims come in. The idempotency stores in the sqlitestore and
// pgstore packages use it too.
const SweepInterval = time.Minute

// MemoryStore is an IdempotencyStore in this process's memory: it suits a
// single consumer process, and forgets everything when the process ends.
// The zero value is an empty store.
type MemoryStore struct {
	now func() time.Time

	mu      sync.Mutex // Guards entries.
	entries map[string]memoryEntry
	sweep   SweepSchedule
}

type memoryEntry struct {
	token   string // who holds the claim; empty once completed
	done    bool
	expires time.Time
}

var _ IdempotencyStore = (*MemoryStore)(nil)

// MemoryStoreOption configures NewMemoryStore.
type MemoryStoreOption func(*MemoryStore)

// MemoryStoreClock makes the store read the time from now instead of
// time.Now (tests use it to move time on without sleeping).
func MemoryStoreClock(now func() time.Time) MemoryStoreOption {
	return func(s *MemoryStore) { s.now = now }
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore(opts ...MemoryStoreOption) *MemoryStore {
	s := &MemoryStore{now: time.Now, entries: make(map[string]memoryEntry)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Claim implements IdempotencyStore.
func (s *MemoryStore) Claim(ctx context.Context, key, token string, lease time.Duration) (ClaimState, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepIfDue(now)
	if e, ok := s.entries[key]; ok && now.Before(e.expires) {
		if e.done {
			return Completed, nil
		}
		return InProgress, nil
	}
	if s.entries == nil {
		s.entries = make(map[string]memoryEntry)
	}
	s.entries[key] = memoryEntry{token: token, expires: now.Add(lease)}
	return Claimed, nil
}

// Complete implements IdempotencyStore.
func (s *MemoryStore) Complete(ctx context.Context, key string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entries == nil {
		s.entries = make(map[string]memoryEntry)
	}
	s.entries[key] = memoryEntry{done: true, expires: now.Add(ttl)}
	return nil
}

// Release implements IdempotencyStore.
func (s *MemoryStore) Release(ctx context.Context, key, token string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[key]; ok && !e.done && e.token == token {
		delete(s.entries, key)
	}
	return nil
}

// Purge removes the expired entries now and says how many there were.
func (s *MemoryStore) Purge(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.purge(now), nil
}

// clock reads the store's clock, time.Now unless MemoryStoreClock set one.
func (s *MemoryStore) clock() time.Time {
	if s.now == nil {
		return time.Now()
	}
	return s.now()
}

// sweepIfDue purges at most once per SweepInterval, so that a claim pays
// for a scan of the whole map only rarely.
func (s *MemoryStore) sweepIfDue(now time.Time) {
	if s.sweep.Due(now) {
		s.purge(now)
	}
}

func (s *MemoryStore) purge(now time.Time) int64 {
	var n int64
	for k, e := range s.entries {
		if !now.Before(e.expires) {
			delete(s.entries, k)
			n++
		}
	}
	return n
}
