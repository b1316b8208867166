// Package idemtest is the conformance suite for idempotency stores: every
// middleware.IdempotencyStore must pass Run. Time is moved on with a fake
// clock, never by sleeping, so a store under test must read the time from
// the clock it is given.
package idemtest

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldevents/herald/middleware"
)

// Store is what the suite tests: an idempotency store that can also purge
// its expired entries on demand (it must do so by itself as well).
type Store interface {
	middleware.IdempotencyStore
	// Purge removes the expired entries and says how many there were.
	Purge(ctx context.Context) (int64, error)
}

// NewStore returns a fresh, empty store that reads the time from now. It
// is called once per test; it registers its own cleanup with t.
type NewStore func(t *testing.T, now func() time.Time) Store

// Clock is a fake clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex // Guards t.
	t  time.Time
}

// NewClock returns a clock stopped at a fixed time.
func NewClock() *Clock {
	return &Clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// The durations the tests use. Together they stay well under
// middleware.SweepInterval, so that a store's own sweep never removes an
// entry that a test expects to find expired but present.
const (
	lease = 10 * time.Second
	ttl   = 30 * time.Second
	short = time.Second
)

// Run runs the whole suite against the stores newStore returns.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store, c *Clock)
	}{
		{"FirstClaimWinsOthersSeeInProgress", testFirstClaimWins},
		{"CompletedKeyIsReportedCompleted", testCompleted},
		{"ReleaseLetsTheNextClaimWin", testRelease},
		{"ReleaseByAnotherTokenKeepsTheClaim", testReleaseOtherToken},
		{"ReleaseKeepsACompletedKey", testReleaseKeepsCompleted},
		{"CompleteRecordsWhoeverHoldsTheClaim", testCompleteAfterLeaseLost},
		{"ExpiredLeaseCanBeClaimedAgain", testLeaseExpiry},
		{"ExpiredCompletionIsForgotten", testTTLExpiry},
		{"KeysAreIndependent", testKeysIndependent},
		{"OddCharactersInKeys", testOddKeys},
		{"ConcurrentClaimsHaveOneWinner", testConcurrentClaims},
		{"ConcurrentClaimsOfAnExpiredKeyHaveOneWinner", testConcurrentExpiredClaims},
		{"PurgeRemovesOnlyExpiredEntries", testPurge},
		{"ClaimsPurgeExpiredEntriesByThemselves", testSweep},
		{"ALeaseOrTTLForEverStaysLive", testForEver},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewClock()
			tc.fn(t, newStore(t, c.Now), c)
		})
	}
}

// claim claims key and fails the test unless Claim returns want.
func claim(t *testing.T, s Store, key, token string, want middleware.ClaimState) {
	t.Helper()
	claimFor(t, s, key, token, lease, want)
}

func claimFor(t *testing.T, s Store, key, token string, lease time.Duration, want middleware.ClaimState) {
	t.Helper()
	got, err := s.Claim(context.Background(), key, token, lease)
	if err != nil {
		t.Fatalf("Claim(%q, %s): %v", key, token, err)
	}
	if got != want {
		t.Fatalf("Claim(%q, %s) = %s, want %s", key, token, got, want)
	}
}

func complete(t *testing.T, s Store, key string, ttl time.Duration) {
	t.Helper()
	if err := s.Complete(context.Background(), key, ttl); err != nil {
		t.Fatalf("Complete(%q): %v", key, err)
	}
}

func release(t *testing.T, s Store, key, token string) {
	t.Helper()
	if err := s.Release(context.Background(), key, token); err != nil {
		t.Fatalf("Release(%q, %s): %v", key, token, err)
	}
}

func purge(t *testing.T, s Store, want int64) {
	t.Helper()
	n, err := s.Purge(context.Background())
	if err != nil {
		t.Fatalf("Purge: %v", err)
	}
	if n != want {
		t.Fatalf("Purge removed %d entries, want %d", n, want)
	}
}

func testFirstClaimWins(t *testing.T, s Store, c *Clock) {
	claim(t, s, "k", "a", middleware.Claimed)
	claim(t, s, "k", "b", middleware.InProgress)
	claim(t, s, "k", "a", middleware.InProgress) // a claim is not re-entrant
}

func testCompleted(t *testing.T, s Store, c *Clock) {
	claim(t, s, "k", "a", middleware.Claimed)
	complete(t, s, "k", ttl)
	claim(t, s, "k", "b", middleware.Completed)
}

func testRelease(t *testing.T, s Store, c *Clock) {
	claim(t, s, "k", "a", middleware.Claimed)
	release(t, s, "k", "a")
	claim(t, s, "k", "b", middleware.Claimed)
	release(t, s, "never-claimed", "x") // releasing nothing is not an error
}

func testReleaseOtherToken(t *testing.T, s Store, c *Clock) {
	claim(t, s, "k", "a", middleware.Claimed)
	release(t, s, "k", "b")
	claim(t, s, "k", "c", middleware.InProgress)
}

func testReleaseKeepsCompleted(t *testing.T, s Store, c *Clock) {
	claim(t, s, "k", "a", middleware.Claimed)
	complete(t, s, "k", ttl)
	release(t, s, "k", "a")
	claim(t, s, "k", "b", middleware.Completed)
}

// A delivery whose lease ran out while its handler still succeeded records
// the key; the delivery that took the key over cannot release it after.
func testCompleteAfterLeaseLost(t *testing.T, s Store, c *Clock) {
	claim(t, s, "k", "a", middleware.Claimed)
	c.Advance(lease)
	claim(t, s, "k", "b", middleware.Claimed)
	complete(t, s, "k", ttl) // a's handler succeeded
	release(t, s, "k", "b")  // b's failed
	claim(t, s, "k", "c", middleware.Completed)
}

func testLeaseExpiry(t *testing.T, s Store, c *Clock) {
	claim(t, s, "k", "a", middleware.Claimed)
	c.Advance(lease - time.Second)
	claim(t, s, "k", "b", middleware.InProgress)
	c.Advance(time.Second)
	claim(t, s, "k", "b", middleware.Claimed)
	release(t, s, "k", "a") // the stale holder cannot drop b's claim
	claim(t, s, "k", "c", middleware.InProgress)
}

func testTTLExpiry(t *testing.T, s Store, c *Clock) {
	claim(t, s, "k", "a", middleware.Claimed)
	c.Advance(10 * time.Second) // the TTL runs from completion, not claim
	complete(t, s, "k", ttl)
	c.Advance(ttl - time.Second)
	claim(t, s, "k", "b", middleware.Completed)
	c.Advance(time.Second)
	claim(t, s, "k", "b", middleware.Claimed)
}

func testKeysIndependent(t *testing.T, s Store, c *Clock) {
	claim(t, s, "a", "t1", middleware.Claimed)
	complete(t, s, "a", ttl)
	for _, k := range []string{"ab", "A", "a ", " a", ""} {
		claim(t, s, k, "t2", middleware.Claimed)
	}
}

func testOddKeys(t *testing.T, s Store, c *Clock) {
	keys := []string{
		`quote'd`, `double"quoted`, `back\slash`, "percent%", "under_score", "star*",
		"semi;colon -- DROP TABLE x", "new\nline\ttab", "nul\x00byte", "bad utf-8 \xff\xfe",
		"ünïcødé 事件 🎉", strings.Repeat("long", 64),
	}
	for i, k := range keys {
		claim(t, s, k, "t", middleware.Claimed)
		if i%2 == 0 {
			complete(t, s, k, ttl)
		}
	}
	for i, k := range keys {
		want := middleware.InProgress
		if i%2 == 0 {
			want = middleware.Completed
		}
		claim(t, s, k, "u", want)
	}
	// Wildcards match only themselves: these were never claimed.
	for _, k := range []string{"percentX", "underXscore", "starX", "nul", "nul\x00", "bad utf-8 "} {
		claim(t, s, k, "t", middleware.Claimed)
	}
}

func testConcurrentClaims(t *testing.T, s Store, c *Clock) {
	for round := range 10 {
		key := "race-" + strings.Repeat("x", round)
		if n := raceClaims(t, s, key); n != 1 {
			t.Fatalf("round %d: %d concurrent claims won, want exactly 1", round, n)
		}
	}
}

func testConcurrentExpiredClaims(t *testing.T, s Store, c *Clock) {
	for round := range 10 {
		key := "expired-" + strings.Repeat("x", round)
		claimFor(t, s, key, "old", short, middleware.Claimed)
		if round%2 == 0 {
			complete(t, s, key, short)
		}
		c.Advance(short)
		if n := raceClaims(t, s, key); n != 1 {
			t.Fatalf("round %d: %d concurrent claims won, want exactly 1", round, n)
		}
	}
}

// raceClaims claims key from many goroutines at once and returns how many
// won. Every other claim must see the key in progress.
func raceClaims(t *testing.T, s Store, key string) int {
	const n = 16
	var (
		start sync.WaitGroup
		done  sync.WaitGroup
		mu    sync.Mutex // Guards won and errs.
		won   int
		errs  []string
	)
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			st, err := s.Claim(context.Background(), key, "token-"+string(rune('a'+i)), lease)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err.Error())
			case st == middleware.Claimed:
				won++
			case st != middleware.InProgress:
				errs = append(errs, "claim returned "+st.String())
			}
		}()
	}
	start.Done()
	done.Wait()
	if len(errs) > 0 {
		t.Fatalf("concurrent claims of %q: %s", key, strings.Join(errs, "; "))
	}
	return won
}

func testPurge(t *testing.T, s Store, c *Clock) {
	claimFor(t, s, "old-claim", "a", short, middleware.Claimed)
	claim(t, s, "old-done", "a", middleware.Claimed)
	complete(t, s, "old-done", short)
	c.Advance(short)
	claim(t, s, "live-claim", "a", middleware.Claimed)
	claim(t, s, "live-done", "a", middleware.Claimed)
	complete(t, s, "live-done", ttl)
	purge(t, s, 2)
	purge(t, s, 0)
	claim(t, s, "live-claim", "b", middleware.InProgress)
	claim(t, s, "live-done", "b", middleware.Completed)
	claim(t, s, "old-claim", "b", middleware.Claimed)
	claim(t, s, "old-done", "b", middleware.Claimed)
}

// A store that is only ever claimed from must still shed expired entries:
// after a sweep interval, the next claim purges them.
func testSweep(t *testing.T, s Store, c *Clock) {
	claim(t, s, "first", "a", middleware.Claimed) // a first claim may sweep at once
	for _, k := range []string{"x", "y", "z"} {
		claim(t, s, k, "a", middleware.Claimed)
		complete(t, s, k, lease)
	}
	c.Advance(middleware.SweepInterval + lease)
	claim(t, s, "trigger", "a", middleware.Claimed)
	purge(t, s, 0)
}

// The longest lease and TTL (a caller's "for ever") end after 2262, where
// Unix nanoseconds end: the entry stays live, not expired at once.
func testForEver(t *testing.T, s Store, c *Clock) {
	forever := time.Duration(math.MaxInt64)
	claimFor(t, s, "held", "a", forever, middleware.Claimed)
	claim(t, s, "held", "b", middleware.InProgress)
	claim(t, s, "done", "a", middleware.Claimed)
	complete(t, s, "done", forever)
	c.Advance(100 * 365 * 24 * time.Hour)
	claim(t, s, "done", "b", middleware.Completed)
	claim(t, s, "held", "b", middleware.InProgress)
	purge(t, s, 0)
}
