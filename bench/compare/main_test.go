package main

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A server is measured only when it is the one listening: an address
// something else already listens on (a server left from another run,
// perhaps with other settings) is refused, and the process started is
// not left running.
func TestStartAndWait_RefusesAnAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command("sleep", "30")
	got, err := startAndWait(cmd, ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "already") {
		if got != nil {
			got.Process.Kill()
			got.Wait()
		}
		t.Fatalf("err %v: want the address refused as already in use", err)
	}
	if cmd.Process != nil && cmd.ProcessState == nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the process started was left running")
	}
}

// Herald is measured with fsync always, as the table says, whatever the
// environment the script runs in would set (HERALD_FSYNC, a config file).
func TestHeraldServe_FsyncsAlwaysWhateverTheEnvironment(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "herald")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/herald").CombinedOutput(); err != nil {
		t.Fatalf("build herald: %v: %s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("HERALD_FSYNC", "none")
	cmd := heraldServe(bin, t.TempDir(), addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("read the server's first line: %v", err)
	}
	if !strings.Contains(line, "fsync always") {
		t.Fatalf("server says %q: want fsync always", line)
	}
}

// A benchmark run that fails says why: what the tool printed on stderr is
// in the error, not only its exit status.
func TestHeraldBench_AFailedRunSaysWhy(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "herald")
	script := "#!/bin/sh\necho 'herald: 12 events were not acked when the run ended' >&2\nexit 1\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r := &runner{herald: bin}
	if _, err := r.heraldBench("consume", "--count", "100"); err == nil || !strings.Contains(err.Error(), "12 events were not acked") {
		t.Fatalf("err %v: want what herald printed", err)
	}
}
