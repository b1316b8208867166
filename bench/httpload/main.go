// Command httpload measures a real `herald serve` process over HTTP on
// loopback: it publishes batches of events from concurrent clients (or at
// a fixed rate), and reports events/s, MB/s, request latency percentiles
// and the server's peak resident memory.
//
//	go build -o /tmp/herald ./cmd/herald
//	go run ./bench/httpload -herald /tmp/herald -total 5GiB -batch 100 -size 1024 -clients 8
//	go run ./bench/httpload -herald /tmp/herald -rate 5000 -batch 1 -duration 10s
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	bin := flag.String("herald", "", "path to the herald binary (required)")
	total := flag.String("total", "1GiB", "bytes of event data to publish (throughput mode)")
	size := flag.Int("size", 1024, "event data size in bytes")
	batch := flag.Int("batch", 100, "events per request")
	clients := flag.Int("clients", 8, "concurrent clients (throughput mode)")
	rate := flag.Int("rate", 0, "events/s at a fixed rate instead of as fast as possible")
	duration := flag.Duration("duration", 10*time.Second, "run time at a fixed rate")
	partitions := flag.Int("partitions", 8, "partitions of the topic")
	flag.Parse()
	if *bin == "" {
		fail("-herald is required")
	}
	bytesTotal, err := parseBytes(*total)
	if err != nil {
		fail(err.Error())
	}
	srv := startServer(*bin)
	defer srv.stop()
	createTopic(srv.url, *partitions)
	l := &load{url: srv.url + "/v1/topics/bench/events", size: *size, batch: *batch}
	peak := &rssSampler{pid: srv.cmd.Process.Pid, done: make(chan struct{})}
	go peak.run()
	start := time.Now()
	if *rate > 0 {
		l.fixedRate(*rate, *duration)
	} else {
		l.throughput(*clients, int(bytesTotal/int64(*size)))
	}
	el := time.Since(start)
	peak.stop()
	l.report(el, peak.max.Load(), srv.dir)
}

type server struct {
	cmd *exec.Cmd
	url string
	dir string
}

func startServer(bin string) *server {
	dir, err := os.MkdirTemp("", "herald-httpload")
	if err != nil {
		fail(err.Error())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err.Error())
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve", "--addr", addr, "--data", filepath.Join(dir, "data"))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fail(err.Error())
	}
	s := &server{cmd: cmd, url: "http://" + addr, dir: filepath.Join(dir, "data")}
	for i := 0; i < 100; i++ {
		if resp, err := http.Get(s.url + "/healthz"); err == nil {
			resp.Body.Close()
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	fail("server did not answer /healthz")
	return nil
}

func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
	os.RemoveAll(filepath.Dir(s.dir))
}

func createTopic(url string, partitions int) {
	body := fmt.Sprintf(`{"partitions":%d}`, partitions)
	req, _ := http.NewRequest(http.MethodPut, url+"/v1/topics/bench", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fail(err.Error())
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		fail("create topic: " + resp.Status)
	}
}

type load struct {
	url         string
	size, batch int
	seq         atomic.Int64
	events      atomic.Int64
	mu          sync.Mutex
	lat         []time.Duration
}

// body renders one batch request with fresh ids and keys, with appends
// rather than fmt, so the load generator leaves the CPU to the server.
func (l *load) body() []byte {
	head := []byte(`{"specversion":"1.0","source":"/httpload","type":"bench.event","datacontenttype":"application/json","id":"e-`)
	data := []byte(`","data":"` + strings.Repeat("x", l.size-2) + `"}`)
	b := make([]byte, 0, l.batch*(len(head)+len(data)+40)+2)
	b = append(b, '[')
	for i := 0; i < l.batch; i++ {
		n := l.seq.Add(1)
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, head...)
		b = strconv.AppendInt(b, n, 10)
		b = append(b, `","partitionkey":"k-`...)
		b = strconv.AppendInt(b, n%1000, 10)
		b = append(b, data...)
	}
	return append(b, ']')
}

func (l *load) send(client *http.Client) {
	body := l.body()
	t0 := time.Now()
	resp, err := client.Post(l.url, "application/cloudevents-batch+json", bytes.NewReader(body))
	if err != nil {
		fail(err.Error())
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fail("publish: " + resp.Status)
	}
	d := time.Since(t0)
	l.events.Add(int64(l.batch))
	l.mu.Lock()
	l.lat = append(l.lat, d)
	l.mu.Unlock()
}

func (l *load) throughput(clients, events int) {
	requests := atomic.Int64{}
	requests.Store(int64(events / l.batch))
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			for requests.Add(-1) >= 0 {
				l.send(client)
			}
		}()
	}
	wg.Wait()
}

// fixedRate offers rate events/s: every millisecond it sends the requests
// that the schedule says are due by now (catching up if the ticker was
// late), each on its own goroutine, so a slow reply does not slow the
// offered load.
func (l *load) fixedRate(rate int, d time.Duration) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var wg sync.WaitGroup
	start, sent := time.Now(), 0
	for now := range tick.C {
		el := now.Sub(start)
		if el > d {
			break
		}
		for due := int(el.Seconds() * float64(rate) / float64(l.batch)); sent < due; sent++ {
			wg.Add(1)
			go func() { defer wg.Done(); l.send(client) }()
		}
	}
	wg.Wait()
}

func (l *load) report(el time.Duration, peakRSS int64, dir string) {
	slices.Sort(l.lat)
	pct := func(p float64) float64 { return float64(nearestRank(l.lat, p)) / 1e6 }
	n := l.events.Load()
	out := map[string]any{
		"events":         n,
		"seconds":        el.Seconds(),
		"events_per_sec": float64(n) / el.Seconds(),
		"mb_per_sec":     float64(n) * float64(l.size) / el.Seconds() / 1e6,
		"latency_ms": map[string]float64{"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99),
			"p999": pct(0.999), "max": pct(1)},
		"peak_rss_mib":   float64(peakRSS) / (1 << 20),
		"data_dir_bytes": dirSize(dir),
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(out)
}

// rssSampler records the highest resident set size of a process.
type rssSampler struct {
	pid  int
	max  atomic.Int64
	done chan struct{}
}

func (r *rssSampler) run() {
	for {
		if rss := readRSS(r.pid); rss > r.max.Load() {
			r.max.Store(rss)
		}
		select {
		case <-r.done:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (r *rssSampler) stop() {
	close(r.done)
	if rss := readHWM(r.pid); rss > r.max.Load() {
		r.max.Store(rss)
	}
}

// nearestRank is the p-th quantile of sorted samples by nearest rank, as
// herald bench computes it: the ceil(p*n)-th smallest (0 for none).
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p*float64(len(sorted)) - 1e-9))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func readRSS(pid int) int64 { return statusKiB(pid, "VmRSS:") }
func readHWM(pid int) int64 { return statusKiB(pid, "VmHWM:") }

func statusKiB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field) {
			f := strings.Fields(line)
			kib, _ := strconv.ParseInt(f[1], 10, 64)
			return kib << 10
		}
	}
	return 0
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}

func parseBytes(s string) (int64, error) {
	units := map[string]int64{"GiB": 1 << 30, "MiB": 1 << 20, "KiB": 1 << 10, "": 1}
	for _, u := range []string{"GiB", "MiB", "KiB", ""} {
		if num, ok := strings.CutSuffix(s, u); ok {
			n, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("bad size %q (use e.g. 5GiB)", s)
			}
			return int64(n * float64(units[u])), nil
		}
	}
	return 0, fmt.Errorf("bad size %q", s)
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "httpload:", msg)
	os.Exit(1)
}
