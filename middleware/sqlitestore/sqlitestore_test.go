package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/heraldevents/herald/middleware"
	"github.com/heraldevents/herald/middleware/idemtest"
	"github.com/heraldevents/herald/middleware/sqlitestore"
)

// open opens a database file of the test's own, with the busy timeout
// that concurrent claims need.
func open(t *testing.T) *sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "idempotency.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestStore_Conformance(t *testing.T) {
	idemtest.Run(t, func(t *testing.T, now func() time.Time) idemtest.Store {
		s, err := sqlitestore.New(context.Background(), open(t), sqlitestore.WithClock(now))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestStore_NewKeepsAnExistingTable(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	table := `odd "table" name`
	s, err := sqlitestore.New(ctx, db, sqlitestore.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, "k", time.Hour); err != nil {
		t.Fatal(err)
	}
	again, err := sqlitestore.New(ctx, db, sqlitestore.WithTable(table))
	if err != nil {
		t.Fatalf("second New on the same table: %v", err)
	}
	if st, err := again.Claim(ctx, "k", "t", time.Minute); err != nil || st.String() != "completed" {
		t.Fatalf("claim %s, %v: the table lost its rows", st, err)
	}
}

func TestStore_ClaimFailsWhenTheDatabaseIsClosed(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	s, err := sqlitestore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := s.Claim(ctx, "k", "t", time.Minute); err == nil {
		t.Fatal("claim on a closed database succeeded")
	}
}

// A consumer back after a long stop finds a backlog of expired rows. Each
// claim's sweep removes at most SweepBatches×SweepBatch of them, in small
// statements, so no claim waits for the whole backlog (or fails because
// its context ended during one long DELETE), and the backlog is gone
// after a few claims.
func TestStore_ClaimsShedABacklogOfExpiredRowsInSteps(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	s, err := sqlitestore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	perSweep := middleware.SweepBatch * middleware.SweepBatches
	backlog := 2*perSweep + perSweep/2
	if _, err := db.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?)
		INSERT INTO herald_idempotency SELECT CAST('old-' || i AS BLOB), '', 1, ? FROM n`,
		backlog, time.Now().Add(-time.Hour).UnixNano()); err != nil {
		t.Fatal(err)
	}
	left := func() (n int) {
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM herald_idempotency WHERE substr(key, 1, 4) = CAST('old-' AS BLOB)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := left(); n != backlog {
		t.Fatalf("%d expired rows to begin with, want %d", n, backlog)
	}
	for i, want := range []int{backlog - perSweep, backlog - 2*perSweep, 0} {
		if _, err := s.Claim(ctx, fmt.Sprintf("fresh-%d", i), "t", time.Minute); err != nil {
			t.Fatalf("claim %d: %v", i, err)
		}
		if n := left(); n != want {
			t.Fatalf("after claim %d, %d expired rows are left, want %d", i, n, want)
		}
	}
}

func TestNew_RefusesANilDatabase(t *testing.T) {
	_, err := sqlitestore.New(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "database") {
		t.Fatalf("New with a nil database: %v, want a refusal naming the database", err)
	}
}
