package sqlitestore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"

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
