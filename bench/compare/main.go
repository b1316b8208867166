// Command compare measures Herald and NATS JetStream side by side on this
// machine and writes the result into docs/benchmarks.md (between its
// compare-nats markers) with a PNG chart. Run it through
// bench/compare-nats.sh.
//
// Each round runs every workload on three servers in turn, each started on
// a fresh store on loopback: `herald serve` (fsync before every
// acknowledgement, as always), nats-server -js with its defaults (no fsync
// before acknowledging) and nats-server -js with sync_interval: always.
// Herald is driven by `herald bench`, JetStream by `nats bench`. Figures
// are medians over the rounds.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

type system struct {
	name  string // as shown
	key   string
	start func(dir string) (*exec.Cmd, error)
}

type workload struct {
	key, name string
	unit      string // "events/s" or "ms"
	herald    func(r *runner) (float64, error)
	nats      func(r *runner, always bool) (float64, error) // nil: not measured on JetStream
}

type runner struct {
	work, herald, nats, natsServer string
	natslat                        string // bench/natslat, built here
	pubN, pubAlwaysN, consumeN     int
	latencyFor                     time.Duration
	held                           map[string][]float64 // system -> the rates its latency runs held
}

func main() {
	rounds := flag.Int("rounds", 3, "rounds (medians are taken over them)")
	docs := flag.String("docs", "docs/benchmarks.md", "page to write the table into (between its compare-nats markers)")
	png := flag.String("png", "docs/compare-nats.png", "chart to write")
	flag.Parse()
	r, err := setup()
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(r.work)
	machine := describeMachine(r.work)
	fmt.Println(machine)
	results := map[string]map[string][]float64{} // workload -> system -> runs
	var peak = map[string][]float64{}
	for round := 1; round <= *rounds; round++ {
		for _, w := range workloads() {
			for _, s := range systems(r) {
				v, rss, err := r.measure(w, s)
				if err != nil {
					fail(fmt.Errorf("round %d, %s on %s: %w", round, w.name, s.name, err))
				}
				if v < 0 {
					continue // not measured on this system
				}
				if results[w.key] == nil {
					results[w.key] = map[string][]float64{}
				}
				results[w.key][s.key] = append(results[w.key][s.key], v)
				if w.key == "pub1k" {
					peak[s.key] = append(peak[s.key], rss)
				}
				fmt.Printf("round %d  %-34s %-22s %12.2f %s\n", round, w.name, s.name, v, w.unit)
			}
		}
	}
	table := render(results, peak, r.held, machine, *rounds)
	fmt.Println(table)
	if err := writeDocs(*docs, table); err != nil {
		fail(err)
	}
	if err := chart(*png, results); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "compare:", err)
	os.Exit(1)
}

// setup builds herald and finds (or installs) nats-server and nats.
func setup() (*runner, error) {
	work, err := os.MkdirTemp("", "herald-compare-")
	if err != nil {
		return nil, err
	}
	r := &runner{held: map[string][]float64{}, work: work, herald: filepath.Join(work, "herald"), pubN: 200000, pubAlwaysN: 20000, consumeN: 100000,
		latencyFor: 10 * time.Second}
	if out, err := exec.Command("go", "build", "-o", r.herald, "./cmd/herald").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build herald: %v: %s", err, out)
	}
	r.natslat = filepath.Join(work, "natslat")
	build := exec.Command("go", "build", "-o", r.natslat, ".")
	build.Dir = "bench/natslat" // its own module: Herald does not depend on the NATS client
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build bench/natslat: %v: %s", err, out)
	}
	gobin := filepath.Join(goEnv("GOPATH"), "bin")
	for _, tool := range []struct{ bin, pkg string }{
		{"nats-server", "github.com/nats-io/nats-server/v2@v2.15.2"},
		{"nats", "github.com/nats-io/natscli/nats@v0.5.0"},
	} {
		path, err := exec.LookPath(tool.bin)
		if err != nil {
			path = filepath.Join(gobin, tool.bin)
			if _, serr := os.Stat(path); serr != nil {
				fmt.Println("installing", tool.pkg, "(for measuring only)")
				if out, err := exec.Command("go", "install", tool.pkg).CombinedOutput(); err != nil {
					return nil, fmt.Errorf("go install %s: %v: %s", tool.pkg, err, out)
				}
			}
		}
		if tool.bin == "nats" {
			r.nats = path
		} else {
			r.natsServer = path
		}
	}
	return r, nil
}

func goEnv(name string) string {
	out, _ := exec.Command("go", "env", name).Output()
	return strings.TrimSpace(string(out))
}

func systems(r *runner) []system {
	nats := func(always bool) func(dir string) (*exec.Cmd, error) {
		return func(dir string) (*exec.Cmd, error) {
			conf := fmt.Sprintf("listen: 127.0.0.1:4222\njetstream { store_dir: %q }\n", dir)
			if always {
				conf = fmt.Sprintf("listen: 127.0.0.1:4222\njetstream { store_dir: %q, sync_interval: always }\n", dir)
			}
			file := dir + ".conf"
			if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
				return nil, err
			}
			return startAndWait(exec.Command(r.natsServer, "-c", file), "127.0.0.1:4222")
		}
	}
	return []system{
		{"Herald (fsync always)", "herald", func(dir string) (*exec.Cmd, error) {
			return startAndWait(heraldServe(r.herald, dir, "127.0.0.1:7440"), "127.0.0.1:7440")
		}},
		{"JetStream (default)", "nats", nats(false)},
		{"JetStream (sync always)", "nats-always", nats(true)},
	}
}

// heraldServe is the command of the Herald server measured: with fsync
// always given as a flag, which no HERALD_FSYNC or config file in the
// environment overrides, since the table says so.
func heraldServe(bin, dir, addr string) *exec.Cmd {
	return exec.Command(bin, "serve", "--data", dir, "--addr", addr, "--fsync", "always")
}

func workloads() []workload {
	natsPub := func(size int) func(r *runner, always bool) (float64, error) {
		return func(r *runner, always bool) (float64, error) {
			n := r.pubN
			if always {
				n = r.pubAlwaysN // it runs at its fsync rate
			}
			return r.natsRate("pub", "async", "--create", "--purge", "--storage=file", "--size="+strconv.Itoa(size), "--msgs="+strconv.Itoa(n), "benchsubj")
		}
	}
	natsConsume := func(r *runner, always bool) (float64, error) {
		n := r.consumeN
		if always {
			n = r.pubAlwaysN
		}
		if _, err := r.natsRate("pub", "async", "--create", "--purge", "--storage=file", "--size=1024", "--msgs="+strconv.Itoa(n), "benchsubj"); err != nil {
			return 0, err
		}
		return r.natsRate("fetch", "--msgs="+strconv.Itoa(n))
	}
	return []workload{
		{"pub16", "async publish, 16 B", "events/s",
			func(r *runner) (float64, error) {
				return r.heraldRate("publish", "--size", "16B", "--keys", "0", "--count", strconv.Itoa(r.pubN))
			},
			natsPub(16)},
		{"pub1k", "async publish, 1 KiB", "events/s",
			func(r *runner) (float64, error) {
				return r.heraldRate("publish", "--size", "1KiB", "--keys", "0", "--count", strconv.Itoa(r.pubN))
			},
			natsPub(1024)},
		{"consume1k", "consume + ack, 1 KiB, key order", "events/s",
			func(r *runner) (float64, error) {
				return r.heraldRate("consume", "--size", "1KiB", "--keys", "1000", "--consumers", "64", "--prefetch", consumePrefetch, "--count", strconv.Itoa(r.consumeN))
			},
			natsConsume},
		{"consume1knokey", "consume + ack, 1 KiB, no keys", "events/s",
			func(r *runner) (float64, error) {
				return r.heraldRate("consume", "--size", "1KiB", "--keys", "0", "--consumers", "64", "--prefetch", consumePrefetch, "--count", strconv.Itoa(r.consumeN))
			},
			natsConsume},
		{"lat99", "publish-to-handler p99 at 5,000/s", "ms",
			func(r *runner) (float64, error) {
				res, err := r.heraldBench("pubsub", "--rate", strconv.Itoa(latencyRate), "--publishers", strconv.Itoa(latencyPublishers),
					"--duration", r.latencyFor.String(), "--size", "1KiB")
				return res.Latency.P99, r.heldRate("herald", res, err)
			},
			func(r *runner, always bool) (float64, error) {
				out, err := output(exec.Command(r.natslat, "-url", "nats://127.0.0.1:4222", "-rate", strconv.Itoa(latencyRate), "-publishers", strconv.Itoa(latencyPublishers),
					"-duration", r.latencyFor.String(), "-size", "1024"))
				if err != nil {
					return 0, fmt.Errorf("natslat: %w", err)
				}
				var res benchJSON
				err = json.Unmarshal(out, &res)
				sys := "nats"
				if always {
					sys = "nats-always"
				}
				return res.Latency.P99, r.heldRate(sys, res, err)
			}},
	}
}

// measure runs one workload on one system started afresh; it returns the
// figure (-1 when the system does not run it) and the server's peak RSS
// in MiB.
func (r *runner) measure(w workload, s system) (float64, float64, error) {
	if s.key != "herald" && w.nats == nil {
		return -1, 0, nil
	}
	dir := filepath.Join(r.work, s.key+"-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	cmd, err := s.start(dir)
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		os.RemoveAll(dir)
	}()
	var v float64
	if s.key == "herald" {
		v, err = w.herald(r)
	} else {
		v, err = w.nats(r, s.key == "nats-always")
	}
	return v, peakRSS(cmd.Process.Pid), err
}

// startAndWait starts a server and waits until it listens on addr. It
// refuses an addr something listens on already (a server left from
// another run, perhaps with other settings): the started one could not
// listen there, and the figures would be the other's.
func startAndWait(cmd *exec.Cmd, addr string) (*exec.Cmd, error) {
	if c, err := netDial(addr); err == nil {
		c.Close()
		return nil, fmt.Errorf("something already listens on %s: stop it, or it would be measured instead of %s", addr, filepath.Base(cmd.Path))
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for i := 0; i < 100; i++ {
		if c, err := netDial(addr); err == nil {
			c.Close()
			return cmd, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, fmt.Errorf("%s did not start listening on %s", cmd.Path, addr)
}

// consumePrefetch is how many deliveries Herald's Router takes ahead of
// its 64 handlers in the consume rows: the counterpart of the 500
// messages `nats bench js fetch` asks for at a time (the Router's own
// default, 4×64, keeps fewer in flight).
const consumePrefetch = "512"

// latencyPublishers is how many publishers share the 5,000 events/s of
// the latency row, on both systems: each sends one event at a time and
// waits for its acknowledgement, so they must be enough to hold the rate
// when each acknowledgement waits for an fsync.
const latencyPublishers = 64

// heldRate notes the rate a latency run held: one that did not hold it
// has a latency, counted from when each event was due, that includes a
// growing backlog, and the table says so.
func (r *runner) heldRate(sys string, res benchJSON, err error) error {
	if err == nil {
		r.held[sys] = append(r.held[sys], res.EventsPerSec)
		fmt.Printf("         (%s held %.0f events/s)\n", sys, res.EventsPerSec)
	}
	return err
}

// latencyRate is the rate of the latency row; notHeld is below 97% of it
// (a run that held 90% of it for 10 seconds ends a second behind).
const latencyRate = 5000

func notHeld(rate float64) bool { return rate < 0.97*latencyRate }

type benchJSON struct {
	EventsPerSec float64 `json:"events_per_sec"`
	Latency      struct {
		P99 float64 `json:"p99"`
	} `json:"latency_ms"`
}

func (r *runner) heraldBench(args ...string) (benchJSON, error) {
	args = append([]string{"bench"}, args...)
	args = append(args, "--server", "http://127.0.0.1:7440", "--json")
	out, err := output(exec.Command(r.herald, args...))
	var res benchJSON
	if err != nil {
		return res, fmt.Errorf("herald %s: %w", strings.Join(args, " "), err)
	}
	return res, json.Unmarshal(out, &res)
}

// output runs cmd and returns its stdout; when it fails, the error holds
// what it printed on stderr, which says why.
func output(cmd *exec.Cmd) ([]byte, error) {
	out, err := cmd.Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && len(bytes.TrimSpace(exit.Stderr)) > 0 {
		err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(exit.Stderr))
	}
	return out, err
}

func (r *runner) heraldRate(args ...string) (float64, error) {
	res, err := r.heraldBench(args...)
	return res.EventsPerSec, err
}

var natsStats = regexp.MustCompile(`stats: ([0-9,]+) msgs/sec`)

func (r *runner) natsRate(args ...string) (float64, error) {
	args = append([]string{"--server", "nats://127.0.0.1:4222", "bench", "js"}, args...)
	args = append(args, "--no-progress")
	out, err := exec.Command(r.nats, args...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("nats %s: %v: %s", strings.Join(args, " "), err, out)
	}
	m := natsStats.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("nats %s printed no stats: %s", strings.Join(args, " "), out)
	}
	return strconv.ParseFloat(string(bytes.ReplaceAll(m[1], []byte(","), nil)), 64)
}

// peakRSS is a process's peak resident set (VmHWM) in MiB.
func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// describeMachine reports cores, sequential write speed with fdatasync,
// and the rate of 4 KiB synchronous writes (the fsync rate).
func describeMachine(work string) string {
	file := filepath.Join(work, "dd")
	dd := func(args ...string) string {
		out, _ := exec.Command("dd", append([]string{"if=/dev/zero", "of=" + file}, args...)...).CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return lines[len(lines)-1]
	}
	seq := dd("bs=1M", "count=256", "conv=fdatasync")
	start := time.Now()
	dd("bs=4k", "count=1000", "oflag=dsync")
	rate := 1000 / time.Since(start).Seconds()
	os.Remove(file)
	return fmt.Sprintf("%d cores; sequential write with fdatasync: %s; synchronous 4 KiB writes: %.0f/s", runtime.NumCPU(), lastField(seq), rate)
}

func lastField(ddLine string) string {
	if i := strings.LastIndex(ddLine, ", "); i >= 0 {
		return ddLine[i+2:]
	}
	return ddLine
}

// median is the middle run, or the mean of the middle two of an even
// number of runs.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}
