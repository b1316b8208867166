// Package sqlitestore is an idempotency store for middleware.Idempotent
// in a SQLite database, for consumers on one machine that must remember
// handled events across restarts.
//
// It works on any database/sql driver for SQLite; it is tested with
// modernc.org/sqlite (pure Go). Concurrent consumers must open the
// database with a busy timeout, or a claim that meets another's write
// fails at once with SQLITE_BUSY (a nack, not a duplicate):
//
//	db, err := sql.Open("sqlite", "file:herald.db?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
//
// The table (default herald_idempotency) is created if absent:
//
//	key        BLOB PRIMARY KEY  the key's bytes, so any byte string is a key
//	token      TEXT              who holds the claim; '' once completed
//	done       INTEGER           1 once completed
//	expires_at INTEGER           Unix nanoseconds (a time after 2262 as the largest); a row at or past it is absent
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/heraldevents/herald/middleware"
)

// Store is a middleware.IdempotencyStore in a SQLite table.
type Store struct {
	db    *sql.DB
	table string // quoted
	now   func() time.Time

	sweep middleware.SweepSchedule
}

var _ middleware.IdempotencyStore = (*Store)(nil)

// Option configures New.
type Option func(*config)

type config struct {
	table string
	now   func() time.Time
}

// WithTable sets the table's name (default herald_idempotency).
func WithTable(name string) Option { return func(c *config) { c.table = name } }

// WithClock makes the store read the time from now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// New returns a store in db, creating its table if absent.
func New(ctx context.Context, db *sql.DB, opts ...Option) (*Store, error) {
	c := config{table: "herald_idempotency", now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	if c.table == "" {
		return nil, errors.New("sqlitestore: empty table name")
	}
	if db == nil {
		return nil, errors.New("sqlitestore: no database (open one with sql.Open)")
	}
	s := &Store{db: db, table: quote(c.table), now: c.now}
	if err := s.createTable(ctx, c.table); err != nil {
		return nil, fmt.Errorf("sqlitestore: create table %s: %w", s.table, err)
	}
	return s, nil
}

func (s *Store) createTable(ctx context.Context, name string) error {
	_, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+s.table+` (
		key BLOB PRIMARY KEY,
		token TEXT NOT NULL,
		done INTEGER NOT NULL,
		expires_at INTEGER NOT NULL
	) WITHOUT ROWID`)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS `+quote(name+"_expires_at")+` ON `+s.table+` (expires_at)`)
	return err
}

// Claim implements middleware.IdempotencyStore. The insert takes the key
// when it is absent or expired in one statement; only when it does not is
// the row read to tell a claim in progress from a completion.
func (s *Store) Claim(ctx context.Context, key, token string, lease time.Duration) (middleware.ClaimState, error) {
	now := s.now()
	s.sweep.Sweep(now, func(limit int) (int64, error) { return s.purge(ctx, now, limit) })
	res, err := s.db.ExecContext(ctx, `INSERT INTO `+s.table+` (key, token, done, expires_at) VALUES (?, ?, 0, ?)
		ON CONFLICT (key) DO UPDATE SET token = excluded.token, done = 0, expires_at = excluded.expires_at
		WHERE `+s.table+`.expires_at <= ?`, []byte(key), token, unixNano(now.Add(lease)), unixNano(now))
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: claim: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return 0, fmt.Errorf("sqlitestore: claim: %w", err)
	} else if n == 1 {
		return middleware.Claimed, nil
	}
	return s.state(ctx, key, now)
}

// state reads why a claim lost. A row that went away in between (released
// or expired) reads as in progress: the delivery comes again and claims.
func (s *Store) state(ctx context.Context, key string, now time.Time) (middleware.ClaimState, error) {
	var done bool
	err := s.db.QueryRowContext(ctx, `SELECT done FROM `+s.table+` WHERE key = ? AND expires_at > ?`,
		[]byte(key), unixNano(now)).Scan(&done)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return middleware.InProgress, nil
	case err != nil:
		return 0, fmt.Errorf("sqlitestore: claim: %w", err)
	case done:
		return middleware.Completed, nil
	}
	return middleware.InProgress, nil
}

// Complete implements middleware.IdempotencyStore.
func (s *Store) Complete(ctx context.Context, key string, ttl time.Duration) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO `+s.table+` (key, token, done, expires_at) VALUES (?, '', 1, ?)
		ON CONFLICT (key) DO UPDATE SET token = '', done = 1, expires_at = excluded.expires_at`,
		[]byte(key), unixNano(s.now().Add(ttl)))
	if err != nil {
		return fmt.Errorf("sqlitestore: complete: %w", err)
	}
	return nil
}

// Release implements middleware.IdempotencyStore.
func (s *Store) Release(ctx context.Context, key, token string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM `+s.table+` WHERE key = ? AND token = ? AND done = 0`, []byte(key), token)
	if err != nil {
		return fmt.Errorf("sqlitestore: release: %w", err)
	}
	return nil
}

// Purge removes the expired rows now and says how many there were. It
// deletes them middleware.SweepBatch at a time.
func (s *Store) Purge(ctx context.Context) (int64, error) {
	now := s.now()
	return middleware.PurgeAll(func(limit int) (int64, error) { return s.purge(ctx, now, limit) })
}

// purge deletes up to limit rows that expired by now.
func (s *Store) purge(ctx context.Context, now time.Time, limit int) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM `+s.table+` WHERE expires_at <= ? AND key IN
		(SELECT key FROM `+s.table+` WHERE expires_at <= ? LIMIT ?)`, unixNano(now), unixNano(now), limit)
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: purge: %w", err)
	}
	return res.RowsAffected()
}

// unixNano is t in the table's Unix nanoseconds. A time past their end
// (after 2262, as a TTL meant as "for ever" gives) is the end, not a
// number wrapped into the past, where the row would count as expired.
func unixNano(t time.Time) int64 {
	switch {
	case t.After(maxTime):
		return math.MaxInt64
	case t.Before(minTime):
		return math.MinInt64
	}
	return t.UnixNano()
}

var minTime, maxTime = time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)

// quote makes name a SQLite identifier, whatever characters it holds.
func quote(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
