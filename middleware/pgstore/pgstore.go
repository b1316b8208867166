// Package pgstore is an idempotency store for middleware.Idempotent in
// PostgreSQL, for consumers on many machines that share one subscription.
//
// Times come from the consumers' clocks (so that tests can move them on):
// keep those clocks in sync, as a skew of s shortens or lengthens leases
// and TTLs by s.
//
// The table (default herald_idempotency) is created if absent; an existing
// one is used as it is, so the consumers' role needs only SELECT, INSERT,
// UPDATE and DELETE on a table made for them:
//
//	key        bytea PRIMARY KEY  the key's bytes, so any byte string is a key
//	token      text               who holds the claim; '' once completed
//	done       boolean            true once completed
//	expires_at timestamptz        a row at or past it is absent
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldevents/herald/middleware"
)

// Store is a middleware.IdempotencyStore in a PostgreSQL table.
type Store struct {
	pool  *pgxpool.Pool
	table string // quoted
	now   func() time.Time

	sweep middleware.SweepSchedule
}

var _ middleware.IdempotencyStore = (*Store)(nil)

// Option configures New.
type Option func(*config)

// maxTableName is the longest table name: PostgreSQL's 63 bytes of a
// name, less the "_expires_at" of the index's name. Cut to 63 bytes, a
// longer index name would be the table's, and the index would never be
// made.
const maxTableName = 63 - len("_expires_at")

type config struct {
	table string
	now   func() time.Time
}

// WithTable sets the table's name (default herald_idempotency), found
// through the connection's search_path: at most 52 bytes, since
// PostgreSQL keeps 63 bytes of a name and the table's index is named
// after it with "_expires_at".
func WithTable(name string) Option { return func(c *config) { c.table = name } }

// WithClock makes the store read the time from now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// New returns a store in pool's database, creating its table if absent.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	c := config{table: "herald_idempotency", now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	if c.table == "" {
		return nil, errors.New("pgstore: empty table name")
	}
	if n := len(c.table); n > maxTableName {
		return nil, fmt.Errorf("pgstore: table name %q is %d bytes: at most %d, so that PostgreSQL keeps it and its index's name (%s_expires_at) whole", c.table, n, maxTableName, c.table)
	}
	if pool == nil {
		return nil, errors.New("pgstore: no pool (open one with pgxpool.New)")
	}
	s := &Store{pool: pool, table: pgx.Identifier{c.table}.Sanitize(), now: c.now}
	if err := s.createTable(ctx, c.table); err != nil {
		return nil, fmt.Errorf("pgstore: create table %s: %w", s.table, err)
	}
	return s, nil
}

// createTable holds an advisory lock while it creates the table: two
// consumers starting together would otherwise race inside CREATE TABLE IF
// NOT EXISTS and one would fail on the catalog's unique index. A table
// that exists is left alone, so a role that may use it but not create
// tables (or indexes on a table it does not own) can open the store.
func (s *Store) createTable(ctx context.Context, name string) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, s.table).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "herald idempotency table "+name); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+s.table+` (
			key bytea PRIMARY KEY,
			token text NOT NULL,
			done boolean NOT NULL,
			expires_at timestamptz NOT NULL
		)`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE INDEX IF NOT EXISTS `+pgx.Identifier{name + "_expires_at"}.Sanitize()+` ON `+s.table+` (expires_at)`)
		return err
	})
}

// Claim implements middleware.IdempotencyStore. The insert takes the key
// when it is absent or expired in one statement (ON CONFLICT locks the
// row, so concurrent claims of an expired key queue and only the first
// sees it expired); only when it does not is the row read to tell a claim
// in progress from a completion.
func (s *Store) Claim(ctx context.Context, key, token string, lease time.Duration) (middleware.ClaimState, error) {
	now := s.now()
	s.sweep.Sweep(now, func(limit int) (int64, error) { return s.purge(ctx, now, limit) })
	tag, err := s.pool.Exec(ctx, `INSERT INTO `+s.table+` AS t (key, token, done, expires_at) VALUES ($1, $2, false, $3)
		ON CONFLICT (key) DO UPDATE SET token = excluded.token, done = false, expires_at = excluded.expires_at
		WHERE t.expires_at <= $4`, []byte(key), token, now.Add(lease), now)
	if err != nil {
		return 0, fmt.Errorf("pgstore: claim: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return middleware.Claimed, nil
	}
	return s.state(ctx, key, now)
}

// state reads why a claim lost. A row that went away in between (released
// or expired) reads as in progress: the delivery comes again and claims.
func (s *Store) state(ctx context.Context, key string, now time.Time) (middleware.ClaimState, error) {
	var done bool
	err := s.pool.QueryRow(ctx, `SELECT done FROM `+s.table+` WHERE key = $1 AND expires_at > $2`, []byte(key), now).Scan(&done)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return middleware.InProgress, nil
	case err != nil:
		return 0, fmt.Errorf("pgstore: claim: %w", err)
	case done:
		return middleware.Completed, nil
	}
	return middleware.InProgress, nil
}

// Complete implements middleware.IdempotencyStore.
func (s *Store) Complete(ctx context.Context, key string, ttl time.Duration) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO `+s.table+` (key, token, done, expires_at) VALUES ($1, '', true, $2)
		ON CONFLICT (key) DO UPDATE SET token = '', done = true, expires_at = excluded.expires_at`,
		[]byte(key), s.now().Add(ttl))
	if err != nil {
		return fmt.Errorf("pgstore: complete: %w", err)
	}
	return nil
}

// Release implements middleware.IdempotencyStore.
func (s *Store) Release(ctx context.Context, key, token string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM `+s.table+` WHERE key = $1 AND token = $2 AND NOT done`, []byte(key), token)
	if err != nil {
		return fmt.Errorf("pgstore: release: %w", err)
	}
	return nil
}

// Purge removes the expired rows now and says how many there were. It
// deletes them middleware.SweepBatch at a time.
func (s *Store) Purge(ctx context.Context) (int64, error) {
	now := s.now()
	return middleware.PurgeAll(func(limit int) (int64, error) { return s.purge(ctx, now, limit) })
}

// purge deletes up to limit rows that expired by now. The outer condition
// is checked again on a row a concurrent claim took meanwhile (it waits for
// the claim's lock, then sees the new expiry), so a fresh claim is never
// deleted; SKIP LOCKED leaves such rows to a later sweep instead of waiting.
func (s *Store) purge(ctx context.Context, now time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM `+s.table+` WHERE expires_at <= $1 AND key IN
		(SELECT key FROM `+s.table+` WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, now, limit)
	if err != nil {
		return 0, fmt.Errorf("pgstore: purge: %w", err)
	}
	return tag.RowsAffected(), nil
}
