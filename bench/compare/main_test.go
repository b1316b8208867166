package main

import (
	"net"
	"os/exec"
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
