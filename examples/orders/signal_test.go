package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldevents/herald"
)

// runMainEnv, set in a test's own binary run again, makes it run main
// with the arguments that follow "--" instead of the tests.
const runMainEnv = "ORDERS_TEST_RUN_MAIN"

// runMainIfAsked runs main when the test binary was started to run it.
func runMainIfAsked() {
	if os.Getenv(runMainEnv) == "" {
		return
	}
	for i, a := range os.Args {
		if a == "--" {
			os.Args = append([]string{"orders"}, os.Args[i+1:]...)
			break
		}
	}
	main()
	os.Exit(0)
}

// SIGTERM (what kill, timeout, systemd and docker stop send) ends a run as
// Ctrl-C does: the services finish what they hold and run returns, so
// that its deferred clean-up (a temporary data directory's removal, the
// client's close) runs. Here the inventory topic refuses every event
// without a schema, so the orders never go through and the run is still
// waiting when the signal comes.
func TestMain_SIGTERMEndsTheRunAsCtrlCDoes(t *testing.T) {
	dir := t.TempDir()
	c, err := herald.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	require := herald.SchemaPolicyRequire
	if _, _, err := c.PutTopic(context.Background(), TopicInventory, herald.TopicSpec{SchemaPolicy: &require}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$", "--", "-data", dir, "-timeout", "1h")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stdout)
	for placed := 0; placed < 4 && lines.Scan(); {
		if strings.HasPrefix(lines.Text(), "placed order ") {
			placed++
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("the run ended before it was signalled (%v); stderr:\n%s", err, stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the run did not end within 30s of SIGTERM; stderr:\n%s", stderr.String())
	}
	if cmd.ProcessState.Sys().(syscall.WaitStatus).Signaled() {
		t.Fatalf("SIGTERM killed the run (%v) instead of ending it; stderr:\n%s", err, stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(stderr.String(), "orders: terminated signal received") {
		t.Errorf("the run ended with status %d without saying it was stopped; stderr:\n%s", code, stderr.String())
	}
}
