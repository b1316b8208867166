package pgstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldevents/herald/middleware"
	"github.com/heraldevents/herald/middleware/idemtest"
	"github.com/heraldevents/herald/middleware/pgstore"
)

// pool connects to the PostgreSQL named by HERALD_TEST_POSTGRES. Without
// it the test is skipped, except in CI, where a skip would hide that the
// store was never tested.
func pool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	dsn := os.Getenv("HERALD_TEST_POSTGRES")
	if dsn == "" {
		msg := "HERALD_TEST_POSTGRES is not set: set it to a PostgreSQL URL, e.g. postgres://herald:herald@127.0.0.1:5432/herald_test, to test the PostgreSQL store"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI must not skip this test)")
		}
		t.Skip(msg)
	}
	p, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatalf("HERALD_TEST_POSTGRES: %v", err)
	}
	t.Cleanup(p.Close)
	if err := p.Ping(context.Background()); err != nil {
		t.Fatalf("cannot reach the PostgreSQL in HERALD_TEST_POSTGRES: %v", err)
	}
	return p
}

// table returns a table name of the test's own and drops the table when
// the test ends, so that parallel runs on one database never meet.
func table(t *testing.T, p *pgxpool.Pool) string {
	name := "herald_idempotency_test_" + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() {
		if _, err := p.Exec(context.Background(), "DROP TABLE IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
			t.Errorf("drop table %s: %v", name, err)
		}
	})
	return name
}

func TestStore_Conformance(t *testing.T) {
	p := pool(t)
	idemtest.Run(t, func(t *testing.T, now func() time.Time) idemtest.Store {
		s, err := pgstore.New(context.Background(), p, pgstore.WithTable(table(t, p)), pgstore.WithClock(now))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestStore_ConcurrentNewCreatesTheTableOnce(t *testing.T) {
	p := pool(t)
	name := table(t, p)
	errs := make(chan error, 8)
	for range cap(errs) {
		go func() {
			_, err := pgstore.New(context.Background(), p, pgstore.WithTable(name))
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestStore_ClaimFailsWhenThePoolIsClosed(t *testing.T) {
	ctx := context.Background()
	p := pool(t)
	own, err := pgxpool.New(ctx, os.Getenv("HERALD_TEST_POSTGRES"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := pgstore.New(ctx, own, pgstore.WithTable(table(t, p)))
	if err != nil {
		t.Fatal(err)
	}
	own.Close()
	if _, err := s.Claim(ctx, "k", "t", time.Minute); err == nil {
		t.Fatal("claim on a closed pool succeeded")
	}
}

// A consumer back after a long stop finds a backlog of expired rows. Each
// claim's sweep removes at most SweepBatches×SweepBatch of them, in small
// statements, so no claim waits for the whole backlog (or fails because
// its context ended during one long DELETE), and the backlog is gone
// after a few claims.
func TestStore_ClaimsShedABacklogOfExpiredRowsInSteps(t *testing.T) {
	ctx := context.Background()
	p := pool(t)
	name := table(t, p)
	s, err := pgstore.New(ctx, p, pgstore.WithTable(name))
	if err != nil {
		t.Fatal(err)
	}
	tbl := pgx.Identifier{name}.Sanitize()
	perSweep := middleware.SweepBatch * middleware.SweepBatches
	backlog := 2*perSweep + perSweep/2
	if _, err := p.Exec(ctx, `INSERT INTO `+tbl+` SELECT convert_to('old-' || i, 'UTF8'), '', true, $2
		FROM generate_series(1, $1) i`, backlog, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	left := func() (n int) {
		if err := p.QueryRow(ctx, `SELECT count(*) FROM `+tbl+` WHERE key <> convert_to('fresh', 'UTF8')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := left(); n != backlog {
		t.Fatalf("%d expired rows to begin with, want %d", n, backlog)
	}
	for i, want := range []int{backlog - perSweep, backlog - 2*perSweep, 0} {
		if _, err := s.Claim(ctx, "fresh", fmt.Sprint("t", i), time.Minute); err != nil {
			t.Fatalf("claim %d: %v", i, err)
		}
		if n := left(); n != want {
			t.Fatalf("after claim %d, %d expired rows are left, want %d", i, n, want)
		}
	}
}

// A table name PostgreSQL would cut (with its index's) is refused, before
// anything is sent to the database.
func TestNew_RefusesATableNameTooLongForItsIndex(t *testing.T) {
	_, err := pgstore.New(context.Background(), nil, pgstore.WithTable(strings.Repeat("t", 53)))
	if err == nil || !strings.Contains(err.Error(), "at most 52") {
		t.Fatalf("New with a 53-byte table name: %v, want a refusal", err)
	}
}

// A consumer's role may use a table that another role made, without the
// right to create tables (PostgreSQL 15 grants no CREATE on public to
// other roles): New finds the table and does not try to create it again.
func TestNew_UsesAnExistingTableWithoutTheRightToCreateOne(t *testing.T) {
	ctx := context.Background()
	p := pool(t)
	schema := "herald_idempotency_test_" + strings.ToLower(rand.Text()[:12])
	if _, err := p.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := p.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	cfg, err := pgxpool.ParseConfig(os.Getenv("HERALD_TEST_POSTGRES"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	in, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
	s, err := pgstore.New(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, "k", time.Hour); err != nil {
		t.Fatal(err)
	}
	// The role keeps its rights on the table, but may no longer create
	// anything in the schema.
	if _, err := p.Exec(ctx, "REVOKE CREATE ON SCHEMA "+pgx.Identifier{schema}.Sanitize()+" FROM CURRENT_USER"); err != nil {
		t.Fatal(err)
	}
	again, err := pgstore.New(ctx, in)
	if err != nil {
		t.Fatalf("New on an existing table, without CREATE on its schema: %v", err)
	}
	if st, err := again.Claim(ctx, "k", "t", time.Minute); err != nil || st != middleware.Completed {
		t.Fatalf("claim %s, %v, want completed", st, err)
	}
}

func TestNew_RefusesANilPool(t *testing.T) {
	_, err := pgstore.New(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "pool") {
		t.Fatalf("New with a nil pool: %v, want a refusal naming the pool", err)
	}
}
