package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
)

// BenchmarkHTTPPublishBatch publishes batches of 100 1-KiB events from 8
// concurrent clients over loopback TCP, fsync always. The request bodies
// are rendered before the timer starts, so the figure is the server's.
// Run: go test ./internal/server -run '^$' -bench HTTPPublishBatch -benchtime 200000x
func BenchmarkHTTPPublishBatch(b *testing.B) {
	const batch, size, clients = 100, 1024, 8
	eng, err := log.Open(b.TempDir(), log.Options{RetentionInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	br, err := broker.New(eng, broker.Options{DefaultPartitions: 8, DedupDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	srv := New(br, Options{})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	requests := b.N / batch
	bodies := make([][]byte, requests)
	data := `"` + strings.Repeat("x", size-2) + `"`
	for r := range bodies {
		var buf bytes.Buffer
		buf.WriteByte('[')
		for i := 0; i < batch; i++ {
			if i > 0 {
				buf.WriteByte(',')
			}
			n := r*batch + i
			fmt.Fprintf(&buf, `{"specversion":"1.0","id":"e-%d","source":"/bench","type":"bench.event","partitionkey":"k-%d","datacontenttype":"application/json","data":%s}`, n, n%1000, data)
		}
		buf.WriteByte(']')
		bodies[r] = buf.Bytes()
	}
	var next atomic.Int64
	b.SetBytes(size)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			for r := next.Add(1) - 1; r < int64(requests); r = next.Add(1) - 1 {
				resp, err := client.Post(hs.URL+"/v1/topics/bench/events", "application/cloudevents-batch+json", bytes.NewReader(bodies[r]))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %s", resp.Status)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(requests*batch)/time.Since(start).Seconds(), "events/s")
}
