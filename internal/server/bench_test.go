package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/subscription"
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

// BenchmarkHTTPPullAck: 8 clients pull batches of 100 1-KiB events over
// loopback TCP and ack each batch (key ordering over 1,000 keys, fsync
// always). Events are published before the timer starts.
// Run: go test ./internal/server -run '^$' -bench HTTPPullAck -benchtime 200000x
func BenchmarkHTTPPullAck(b *testing.B) {
	ctx := context.Background()
	eng, err := log.Open(b.TempDir(), log.Options{RetentionInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	br, err := broker.New(eng, broker.Options{DefaultPartitions: 8, DedupDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	subs, err := subscription.New(ctx, br, subscription.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer subs.Close()
	data := []byte(`{"pad":"` + strings.Repeat("x", 1024-10) + `"}`) // a 1 KiB JSON document
	for i := 0; i < b.N; i += 1000 {
		batch := make([]*event.Event, min(1000, b.N-i))
		for j := range batch {
			n := i + j
			batch[j] = &event.Event{ID: fmt.Sprint(n), Source: "/bench", Type: "bench", SpecVersion: "1.0",
				PartitionKey: fmt.Sprint("k", n%1000), DataContentType: "application/json", Data: data}
		}
		if _, err := br.Publish(ctx, "bench", batch); err != nil {
			b.Fatal(err)
		}
	}
	if _, _, err := subs.Put(ctx, "bench", "s", subscription.Config{Start: "earliest"}); err != nil {
		b.Fatal(err)
	}
	srv := New(br, Options{Subscriptions: subs})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	base := hs.URL + "/v1/topics/bench/subscriptions/s/"
	var done atomic.Int64
	b.SetBytes(1024)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
			for done.Load() < int64(b.N) {
				var reply []byte
				if err := postJSON(client, base+"pull", `{"max":100}`, &reply); err != nil {
					b.Error(err)
					return
				}
				ids := ackIDsOf(reply)
				if len(ids) == 0 {
					continue
				}
				body, _ := json.Marshal(AckRequest{AckIDs: ids})
				if err := postJSON(client, base+"ack", string(body), nil); err != nil {
					b.Error(err)
					return
				}
				done.Add(int64(len(ids)))
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

func postJSON(client *http.Client, url, body string, into *[]byte) error {
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s", resp.Status, msg)
	}
	if into == nil {
		_, err := io.Copy(io.Discard, resp.Body)
		return err
	}
	*into, err = io.ReadAll(resp.Body)
	return err
}

// ackIDsOf picks the ack ids out of a pull reply without decoding the
// events, so the benchmark's client leaves the CPU to the server.
func ackIDsOf(reply []byte) []string {
	var ids []string
	const key = `"ackId":"`
	for {
		i := bytes.Index(reply, []byte(key))
		if i < 0 {
			return ids
		}
		reply = reply[i+len(key):]
		j := bytes.IndexByte(reply, '"')
		ids = append(ids, string(reply[:j]))
		reply = reply[j:]
	}
}
