package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/internal/testserver"
)

// A data directory used for longer than the topics' retention (7 days)
// has its oldest events trimmed: the next run reads each partition from
// its first offset still stored, not from 0, and prints the new chain.
func TestRun_PrintsTheChainAfterRetentionTrimmedTheLog(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-data", dir}, &stdout, &stderr); err != nil {
		t.Fatalf("first run: %v\nstderr:\n%s", err, stderr.String())
	}
	testserver.AgeLog(t, dir, 8*24*time.Hour)

	// Retention did trim: some partition no longer starts at 0.
	c, err := herald.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	trimmed := 0
	for _, topic := range topics {
		tp, err := c.Topic(context.Background(), topic)
		if err != nil {
			t.Fatal(err)
		}
		for p := range tp.Partitions {
			if _, err := c.Read(context.Background(), topic, p, 0, 1); errors.Is(err, herald.ErrOffsetOutOfRange) {
				trimmed++
			}
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if trimmed == 0 {
		t.Fatal("retention trimmed no partition: the test shows nothing")
	}

	stdout.Reset()
	if err := run(context.Background(), []string{"-data", dir}, &stdout, &stderr); err != nil {
		t.Fatalf("run after retention: %v\nstderr:\n%s", err, stderr.String())
	}
	_, tail, ok := strings.Cut(stdout.String(), "causation chain of order ")
	if lines := strings.Split(strings.TrimSpace(tail), "\n"); !ok || len(lines) != 6 || !strings.Contains(lines[5], TypeShipmentScheduled) {
		t.Fatalf("want the first order's chain of four events:\n%s", stdout.String())
	}
}
