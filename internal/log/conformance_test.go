package log

import (
	"testing"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/storage/storagetest"
)

// The embedded engine passes the storage port's conformance suite, with
// small segments so reads, retention and compaction cross segment
// boundaries.
func TestConformance(t *testing.T) {
	storagetest.Run(t, storagetest.Harness{
		Open: func(t *testing.T, env storagetest.Env) storage.Engine {
			e, err := Open(env.Dir, Options{Now: env.Now, SegmentBytes: 256 << 10, RetentionInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			return e
		},
		EnforceRetention: func(e storage.Engine) error { return e.(*Engine).EnforceRetention() },
		Compact:          func(e storage.Engine) error { return e.(*Engine).Compact() },
		Features:         storagetest.Features{Reopen: true, Retention: true, Compaction: true},
	})
}
