package herald_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests that kill a server run the real `herald serve` as a process of
// its own, built once for the test binary and removed by TestMain.
var (
	serveBinOnce sync.Once
	serveBinDir  string
	serveBin     string
	serveBinErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if serveBinDir != "" {
		os.RemoveAll(serveBinDir)
	}
	os.Exit(code)
}

// heraldBinary returns the path of a herald binary built from this module.
func heraldBinary(t *testing.T) string {
	t.Helper()
	serveBinOnce.Do(func() {
		if serveBinDir, serveBinErr = os.MkdirTemp("", "herald-bin-"); serveBinErr != nil {
			return
		}
		serveBin = filepath.Join(serveBinDir, "herald")
		out, err := exec.Command("go", "build", "-o", serveBin, "./cmd/herald").CombinedOutput()
		if err != nil {
			serveBinErr = fmt.Errorf("go build ./cmd/herald: %v\n%s", err, out)
		}
	})
	if serveBinErr != nil {
		t.Fatal(serveBinErr)
	}
	return serveBin
}

// serveProc is one `herald serve` over a data directory, run again as a
// new process after each kill; its address stays the same.
type serveProc struct {
	t        *testing.T
	bin, dir string
	Addr     string   // host:port
	args     []string // more flags of herald serve
	p        *proc    // the running process; nil when none
}

// proc is one process of a serveProc.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has been waited for
	err    error         // how it ended; set before exited is closed
	stderr lockedBuffer
}

// startServe runs `herald serve` over dir on a free loopback port; it is
// killed when the test ends.
func startServe(t *testing.T, dir string) *serveProc {
	t.Helper()
	s := &serveProc{t: t, bin: heraldBinary(t), dir: dir, Addr: "127.0.0.1:0"}
	s.start()
	t.Cleanup(s.kill)
	return s
}

var listeningLine = regexp.MustCompile(`^herald listening on http://(127\.0\.0\.1:\d+) `)

// start runs the process and waits until it says it listens. The port of
// a killed server may take a moment to free: it tries again meanwhile.
func (s *serveProc) start() {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := s.tryStart()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("herald serve did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *serveProc) tryStart() error {
	args := append([]string{"serve", "--addr", s.Addr, "--data", s.dir, "--log-level", "warn"}, s.args...)
	p := &proc{cmd: exec.Command(s.bin, args...), exited: make(chan struct{})}
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := p.cmd.Start(); err != nil {
		return err
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listeningLine.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		p.err = p.cmd.Wait() // after the last read of stdout
		close(p.exited)
	}()
	select {
	case a := <-addr:
		s.Addr, s.p = a, p
		return nil
	case <-p.exited:
		return fmt.Errorf("exited: %v: %s", p.err, p.stderr.String())
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("no listening line in 10s: %s", p.stderr.String())
	}
}

// kill SIGKILLs the process and waits for it to end.
func (s *serveProc) kill() {
	if s.p == nil {
		return
	}
	s.p.cmd.Process.Signal(syscall.SIGKILL)
	<-s.p.exited
	s.p = nil
}

// term sends SIGTERM and returns how the process ended (nil: exit 0)
// and what it wrote to stderr.
func (s *serveProc) term() (error, string) {
	s.t.Helper()
	p := s.p
	s.p = nil
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		s.t.Errorf("herald serve did not end within 20s of SIGTERM")
		p.cmd.Process.Kill()
		<-p.exited
	}
	return p.err, p.stderr.String()
}
