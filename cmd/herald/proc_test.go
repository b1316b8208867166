package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests of herald serve as a process run the real binary, built once
// for the test binary and removed by TestMain.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// heraldBinary returns the path of a herald binary built from this package.
func heraldBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "herald-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "herald")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// serveProcess is a `herald serve` process.
type serveProcess struct {
	cmd    *exec.Cmd
	addr   string        // host:port it listens on
	stderr syncBuffer    // what it logged
	exited chan struct{} // closed once it has been waited for
	err    error         // how it ended; set before exited is closed
}

var listening = regexp.MustCompile(`^herald listening on https?://(\S+) `)

// startServeProcess runs herald serve with args (--addr 127.0.0.1:0 unless
// args give one) and waits for its listening line; the process is killed
// when the test ends.
func startServeProcess(t *testing.T, args ...string) *serveProcess {
	t.Helper()
	p := &serveProcess{cmd: exec.Command(heraldBinary(t), append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...), exited: make(chan struct{})}
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	select {
	case p.addr = <-addr:
		return p
	case <-p.exited:
		t.Fatalf("herald serve exited: %v: %s", p.err, p.stderr.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("herald serve did not say it listens within 15s: %s", p.stderr.String())
	}
	return nil
}

// signal sends sig to the process.
func (p *serveProcess) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// wait waits up to d for the process to end and reports whether it did.
func (p *serveProcess) wait(d time.Duration) bool {
	select {
	case <-p.exited:
		return true
	case <-time.After(d):
		return false
	}
}

// A graceful shutdown waits for requests in flight (for up to 30s); a
// second SIGTERM or SIGINT during it ends the process at once, saying so,
// and nothing acknowledged before is lost.
func TestServeProcess_ASecondSignalEndsAGracefulShutdownAtOnce(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			p := startServeProcess(t, "--data", dir)
			env := &cliEnv{t: t, url: "http://" + p.addr}
			env.mustRun("publish", "orders", "--type", "t", "--source", "/s", "--id", "e1", `{"n":1}`)
			// A publish whose body never ends holds the shutdown.
			c, err := net.Dial("tcp", p.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprint(c, "POST /v1/topics/orders/events HTTP/1.1\r\nHost: x\r\nce-id: e2\r\nce-source: /s\r\nce-type: t\r\n"+
				"ce-specversion: 1.0\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
			time.Sleep(200 * time.Millisecond) // the request reaches its handler
			p.signal(t, sig)
			waitFor(t, func() bool { return strings.Contains(p.stderr.String(), "shutting down") })
			if p.wait(signalRepeat + 100*time.Millisecond) {
				t.Fatalf("herald serve ended before the request in flight did: %v: %s", p.err, p.stderr.String())
			}
			p.signal(t, sig)
			if !p.wait(5 * time.Second) {
				t.Fatalf("herald serve still runs 5s after a second %s: %s", sig, p.stderr.String())
			}
			if p.err == nil || !strings.Contains(p.stderr.String(), "second signal") {
				t.Errorf("ended with %v, stderr %q; want a failure that says the second signal ended it", p.err, p.stderr.String())
			}
			p = startServeProcess(t, "--data", dir)
			env = &cliEnv{t: t, url: "http://" + p.addr}
			if out := env.mustRun("read", "orders"); !strings.Contains(out, `"e1"`) {
				t.Errorf("after the restart, orders holds %q; want e1 in it", out)
			}
		})
	}
}

// Damage in a topic of platform state (the subscriptions' or the schema
// registry's) that is not a torn last write stops herald serve from
// starting, naming the file and pointing to herald check and herald
// repair, instead of serving without the state that the damage hides;
// after herald repair it starts.
func TestServe_DamagedPlatformStateStopsTheStartUntilRepaired(t *testing.T) {
	for _, state := range []string{"__herald_subscriptions", "__herald_schemas"} {
		t.Run(state, func(t *testing.T) {
			dir := t.TempDir()
			p := startServeProcess(t, "--data", dir)
			env := &cliEnv{t: t, url: "http://" + p.addr}
			schema := filepath.Join(t.TempDir(), "s.json")
			if err := os.WriteFile(schema, []byte(`{"type":"object"}`), 0o600); err != nil {
				t.Fatal(err)
			}
			env.mustRun("topics", "create", "orders")
			env.mustRun("subs", "create", "orders", "billing")
			env.mustRun("schemas", "register", schema, "--subject", "T")
			env.mustRun("subs", "create", "orders", "audit")
			env.mustRun("schemas", "register", schema, "--subject", "U")
			p.signal(t, syscall.SIGTERM)
			if !p.wait(20*time.Second) || p.err != nil {
				t.Fatalf("serve: %v: %s", p.err, p.stderr.String())
			}
			seg := filepath.Join(dir, "topics", state, "0", "00000000000000000000.log")
			b, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			b[30] ^= 0xff // in the first batch, which its CRC covers
			if err := os.WriteFile(seg, b, 0o644); err != nil {
				t.Fatal(err)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a serve that starts after all
			defer cancel()
			r := runApp(ctx, nil, "", "serve", "--addr", "127.0.0.1:0", "--data", dir)
			// The engine logs the damage as it opens the directory; the
			// last line is serve's refusal.
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			last := lines[len(lines)-1]
			if r.code != 1 || !strings.HasPrefix(last, "herald: ") {
				t.Fatalf("exit %d, stderr %q; want exit 1 and a last line \"herald: ...\"", r.code, r.stderr)
			}
			for _, want := range []string{seg, "herald check", "herald repair"} {
				if !strings.Contains(last, want) {
					t.Errorf("refusal %q does not contain %q", last, want)
				}
			}
			if r.stdout != "" {
				t.Errorf("serve refused to start but first printed %q", r.stdout)
			}

			if r := runApp(context.Background(), nil, "", "repair", "--data", dir); r.code != 0 {
				t.Fatalf("repair: exit %d: %s", r.code, r.stderr)
			}
			p = startServeProcess(t, "--data", dir)
			env = &cliEnv{t: t, url: "http://" + p.addr}
			env.mustRun("subs", "create", "orders", "after-repair")
			env.mustRun("schemas", "register", schema, "--subject", "V")
		})
	}
}

// One stop request delivered twice at once (timeout(1) signals the
// process and then its process group) is one signal: the shutdown stays
// graceful and ends with exit 0 once the request in flight is done.
func TestServeProcess_ASignalDeliveredTwiceAtOnceIsOneRequestToStop(t *testing.T) {
	p := startServeProcess(t, "--data", t.TempDir())
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "POST /v1/topics/orders/events HTTP/1.1\r\nHost: x\r\nce-id: e2\r\nce-source: /s\r\nce-type: t\r\n"+
		"ce-specversion: 1.0\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{")
	time.Sleep(200 * time.Millisecond) // the request reaches its handler
	p.signal(t, syscall.SIGTERM)
	p.signal(t, syscall.SIGTERM)
	waitFor(t, func() bool { return strings.Contains(p.stderr.String(), "shutting down") })
	if p.wait(1500 * time.Millisecond) {
		t.Fatalf("herald serve ended before the request in flight did: %v: %s", p.err, p.stderr.String())
	}
	fmt.Fprint(c, `"n":1}`)
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(reply, " 200 ") {
		t.Errorf("the publish in flight got %q, %v; want 200", reply, err)
	}
	if !p.wait(20*time.Second) || p.err != nil {
		t.Errorf("herald serve ended with %v (stderr %q); want exit 0", p.err, p.stderr.String())
	}
}
