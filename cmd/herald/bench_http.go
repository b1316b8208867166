package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/server"
	"github.com/heraldevents/herald/internal/subscription"
)

// runHTTPBench POSTs batches to the HTTP API of --server, or of a server
// it runs in this process over a temporary directory.
func runHTTPBench(ctx context.Context, cfg *benchConfig) (benchResult, error) {
	base := strings.TrimSuffix(cfg.server, "/")
	if !cfg.remote {
		url, stop, err := startBenchServer(cfg.fsync)
		if err != nil {
			return benchResult{}, err
		}
		defer stop()
		base = url
	}
	r := &benchRun{cfg: cfg, topic: fmt.Sprintf("bench-http-%d", time.Now().UnixNano()), counted: cfg.duration == 0}
	h := &httpBench{run: r, base: base, token: cfg.token, client: withTLS(&http.Client{Timeout: time.Minute}, cfg.tls)}
	if err := h.do(ctx, http.MethodPut, "/v1/topics/"+r.topic, "application/json", []byte(`{"partitions":`+strconv.Itoa(cfg.partitions)+`}`)); err != nil {
		return benchResult{}, fmt.Errorf("create the benchmark topic: %w", err)
	}
	elapsed, err := r.measure(ctx, h.publish)
	if err != nil {
		return benchResult{}, err
	}
	return r.result(elapsed), nil
}

type httpBench struct {
	run    *benchRun
	base   string
	token  string
	client *http.Client
}

// publish is one HTTP publisher: a batch per request
// (application/cloudevents-batch+json); latency is per request.
func (h *httpBench) publish(ctx context.Context, id int) error {
	r := h.run
	for {
		from, n := r.take(r.cfg.batch)
		if n == 0 {
			return nil
		}
		body := h.batch(id, from, n)
		t := r.pace(from)
		if err := h.do(ctx, http.MethodPost, "/v1/topics/"+r.topic+"/events", "application/cloudevents-batch+json", body); err != nil {
			return err
		}
		r.record(time.Since(t))
		r.done.Add(int64(n))
	}
}

// batch renders n events as a JSON array with appends, not encoding/json,
// so the load generator leaves the CPU to the server.
func (h *httpBench) batch(id, from, n int) []byte {
	size := h.run.cfg.size
	data := strings.Repeat("x", max(size-2, 0))
	b := make([]byte, 0, n*(size+160)+2)
	b = append(b, '[')
	for i := from; i < from+n; i++ {
		if i > from {
			b = append(b, ',')
		}
		b = append(b, `{"specversion":"1.0","source":"/bench","type":"bench.event","datacontenttype":"application/json","id":"h`...)
		b = strconv.AppendInt(b, int64(id), 10)
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(i), 10)
		if k := h.run.cfg.keys; k > 0 {
			b = append(b, `","partitionkey":"k`...)
			b = strconv.AppendInt(b, int64(i%k), 10)
		}
		b = append(b, `","data":"`...)
		b = append(b, data...)
		b = append(b, `"}`...)
	}
	return append(b, ']')
}

func (h *httpBench) do(ctx context.Context, method, path, contentType string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(reply))
	}
	return nil
}

// startBenchServer runs a Herald server on a free loopback port over a
// temporary directory, as serve composes one.
func startBenchServer(fsync string) (url string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "herald-bench-")
	if err != nil {
		return "", nil, err
	}
	mode, err := log.ParseSyncMode(fsync)
	if err != nil {
		return "", nil, err
	}
	eng, err := log.Open(dir, log.Options{Sync: mode})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	b, err := broker.New(eng, broker.Options{DedupDir: filepath.Join(dir, "dedup")})
	if err != nil {
		eng.Close()
		os.RemoveAll(dir)
		return "", nil, err
	}
	subs, err := subscription.New(context.Background(), b, subscription.Options{})
	if err != nil {
		eng.Close()
		os.RemoveAll(dir)
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		subs.Close()
		eng.Close()
		os.RemoveAll(dir)
		return "", nil, err
	}
	srv := server.New(b, server.Options{Subscriptions: subs})
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	return "http://" + ln.Addr().String(), func() {
		srv.Close()
		hs.Close()
		subs.Close()
		eng.Close()
		os.RemoveAll(dir)
	}, nil
}
