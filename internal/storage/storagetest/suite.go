// Package storagetest is the conformance suite of Herald's storage port: the
// tests that every storage.Engine must pass. An engine package runs it from
// one test function (the engine's names here are only an example):
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, storagetest.Harness{
//			Open: func(t *testing.T, env storagetest.Env) storage.Engine {
//				e, err := log.Open(env.Dir, log.Options{Now: env.Now, SegmentBytes: storagetest.SegmentBytes})
//				if err != nil {
//					t.Fatal(err)
//				}
//				return e
//			},
//			EnforceRetention: func(e storage.Engine) error {
//				return e.(*log.Engine).EnforceRetention()
//			},
//			Compact:  func(e storage.Engine) error { return e.(*log.Engine).Compact() },
//			Features: storagetest.Features{Reopen: true, Retention: true, Compaction: true},
//		})
//	}
//
// The suite is the contract written as code: the doc comments of
// storage.Engine say what an engine must do, and the subtests here check
// each promise, including the ones that are easy to get wrong (all-or-nothing
// appends, contiguous offsets under concurrency, nil versus empty keys,
// reading across segment boundaries). Optional behaviour is switched by
// Features, in the manner of watermill's pub/sub test suite.
//
// Every subtest gets its own Env (a fresh directory and clock) and runs in
// parallel with the others, so Harness.Open must be safe for concurrent use.
// The suite closes every engine it opens.
package storagetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/storage"
)

// SegmentBytes is the largest segment size, in bytes, at which the suite's
// multi-MiB appends are sure to cross segment boundaries. A harness for a
// segment-based engine should configure segments of at most this size;
// Features.Retention requires it, since retention deletes whole segments.
const SegmentBytes = 1 << 20

// Features switches optional behaviour. A feature left false skips its
// subtests.
type Features struct {
	// Reopen: the engine can be closed and opened again on the same Env
	// and finds its topics and records there (persistence tests run).
	Reopen bool
	// Retention: the engine enforces RetentionAge and RetentionBytes when
	// Harness.EnforceRetention is called, measures age with Env.Now, and
	// uses segments of at most SegmentBytes. Requires EnforceRetention.
	Retention bool
	// Compaction: the engine compacts topics with Compact set when
	// Harness.Compact is called. Afterwards no record remains that is
	// followed by more than 2*SegmentBytes of payload in its partition and
	// is superseded (a newer record has its key) or is a tombstone older
	// than TombstoneRetention by Env.Now; nothing else is removed, and
	// the start offset does not move. Requires Compact.
	Compaction bool
}

// Env is where and when one engine under test lives. The suite makes a
// fresh Env for every subtest and passes the same Env again to reopen.
type Env struct {
	// Dir is an empty directory private to the subtest (from t.TempDir),
	// the same on every reopen. An engine that keeps no local files (a
	// Kafka engine) must still give each Dir its own namespace, for
	// example by prefixing topic names with a name derived from it, so
	// that Topics lists only what the subtest created.
	Dir string
	// Now is the subtest's clock: the wall clock, moved forward only by
	// retention tests. Engines that take a clock should use it for record
	// timestamps, topic creation times and retention; Features.Retention
	// requires it.
	Now func() time.Time
}

// Harness is how the suite reaches one engine implementation.
type Harness struct {
	// Open opens an engine on env, or reopens it when an engine on the
	// same env was opened before and closed. It fails t (t.Fatal) if the
	// engine cannot be opened. The suite closes what Open returns. Open
	// is called from parallel subtests.
	Open func(t *testing.T, env Env) storage.Engine
	// EnforceRetention runs the engine's retention pass now and returns
	// when it is done (engines otherwise run it in the background). Nil
	// when the engine has none; required by Features.Retention.
	EnforceRetention func(e storage.Engine) error
	// Compact runs the engine's compaction pass over every compacted
	// topic now and returns when it is done. Nil when the engine has none;
	// required by Features.Compaction.
	Compact func(e storage.Engine) error
	// Features switches optional subtests on.
	Features Features
}

// Run runs the whole conformance suite against the engine that h opens.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Open == nil {
		t.Fatal("storagetest: Harness.Open is nil; it must open an engine on env.Dir")
	}
	if h.Features.Retention && h.EnforceRetention == nil {
		t.Fatal("storagetest: Features.Retention is set but Harness.EnforceRetention is nil; " +
			"the retention tests need it to run the retention pass on demand")
	}
	if h.Features.Compaction && h.Compact == nil {
		t.Fatal("storagetest: Features.Compaction is set but Harness.Compact is nil; " +
			"the compaction tests need it to run the compaction pass on demand")
	}
	t.Run("Topics", func(t *testing.T) { runAll(t, h, topicTests) })
	t.Run("Append", func(t *testing.T) { runAll(t, h, appendTests) })
	t.Run("Read", func(t *testing.T) { runAll(t, h, readTests) })
	t.Run("OffsetForTime", func(t *testing.T) { runAll(t, h, offsetForTimeTests) })
	t.Run("Close", func(t *testing.T) { runAll(t, h, closeTests) })
	t.Run("Reopen", func(t *testing.T) {
		if !h.Features.Reopen {
			t.Skip("engine does not support Features.Reopen")
		}
		runAll(t, h, reopenTests)
	})
	t.Run("Retention", func(t *testing.T) {
		if !h.Features.Retention {
			t.Skip("engine does not support Features.Retention")
		}
		runAll(t, h, retentionTests)
	})
	t.Run("Compaction", func(t *testing.T) {
		if !h.Features.Compaction {
			t.Skip("engine does not support Features.Compaction")
		}
		runAll(t, h, compactionTests)
	})
}

// test is one subtest: a behaviour and the function that checks it on a
// fresh session.
type test struct {
	name string
	run  func(t *testing.T, s *session)
}

func runAll(t *testing.T, h Harness, tests []test) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newSession(t, h))
		})
	}
}

// clock is a subtest's Env.Now: the wall clock plus an offset that only
// grows.
type clock struct {
	mu     sync.Mutex // guards offset
	offset time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// session is one subtest's engine, its Env and the helpers that use it.
// Helpers fail the test on any unexpected error, so test bodies read as the
// behaviour they check.
type session struct {
	t     *testing.T
	h     Harness
	env   Env
	clock *clock
	e     storage.Engine // the engine currently open
	ctx   context.Context
}

func newSession(t *testing.T, h Harness) *session {
	c := &clock{}
	s := &session{t: t, h: h, clock: c, ctx: t.Context()}
	s.env = Env{Dir: t.TempDir(), Now: c.now}
	s.e = s.open()
	return s
}

// open opens an engine on the session's Env and closes it at cleanup.
func (s *session) open() storage.Engine {
	s.t.Helper()
	e := s.h.Open(s.t, s.env)
	if e == nil {
		s.t.Fatal("storagetest: Harness.Open returned a nil engine")
	}
	s.t.Cleanup(func() {
		if err := e.Close(); err != nil && !errors.Is(err, storage.ErrClosed) {
			s.t.Errorf("Close at cleanup: %v", err)
		}
	})
	return e
}

// reopen closes the current engine and opens a new one on the same Env.
func (s *session) reopen() {
	s.t.Helper()
	if err := s.e.Close(); err != nil {
		s.t.Fatalf("Close before reopen: %v", err)
	}
	s.e = s.open()
}

// enforceRetention runs the engine's retention pass.
func (s *session) enforceRetention() {
	s.t.Helper()
	if err := s.h.EnforceRetention(s.e); err != nil {
		s.t.Fatalf("EnforceRetention: %v", err)
	}
}

// wantErr fails the test unless err matches target (errors.Is).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}
