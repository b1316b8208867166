// Command natslat measures NATS JetStream's publish-to-consumer latency at
// a steady rate, the counterpart of `herald bench pubsub --rate`:
// publishers share --rate, each taking the next event due, publishing it
// and waiting for the stream's acknowledgement; a durable consumer with
// explicit acks takes them through Consume. Events of --size bytes carry
// the time they were due, and the latency of each is from then to its
// handler, so publishers that fall behind show in the latency. It prints
// one JSON object with events_per_sec (the rate the publishers held) and
// latency_ms p50, p90, p99, p999 and max, as herald bench --json does.
//
// It is its own module so that Herald itself does not depend on the NATS
// client; bench/compare-nats.sh runs it against a nats-server it started.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	url := flag.String("url", "nats://127.0.0.1:4222", "the NATS server")
	rate := flag.Int("rate", 5000, "events per second, all publishers together")
	duration := flag.Duration("duration", 10*time.Second, "how long to publish")
	size := flag.Int("size", 1024, "event size in bytes (at least 8)")
	publishers := flag.Int("publishers", 4, "concurrent publishers")
	flag.Parse()
	if err := run(*url, *rate, *duration, max(*size, 8), *publishers); err != nil {
		fmt.Fprintln(os.Stderr, "natslat:", err)
		os.Exit(1)
	}
}

func run(url string, rate int, duration time.Duration, size, publishers int) error {
	ctx := context.Background()
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "NATSLAT", Subjects: []string{"natslat"}, Storage: jetstream.FileStorage})
	if err != nil {
		return err
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "natslat", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		return err
	}
	total := int(duration.Seconds() * float64(rate))
	var mu sync.Mutex
	lat := make([]time.Duration, 0, total)
	done := make(chan struct{})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		sent := time.Unix(0, int64(binary.BigEndian.Uint64(m.Data())))
		d := time.Since(sent)
		m.Ack()
		mu.Lock()
		lat = append(lat, d)
		if len(lat) == total {
			close(done)
		}
		mu.Unlock()
	})
	if err != nil {
		return err
	}
	defer cc.Stop()
	start := time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	errs := make(chan error, publishers)
	for range publishers {
		wg.Go(func() {
			data := make([]byte, size)
			for i := int(next.Add(1)) - 1; i < total; i = int(next.Add(1)) - 1 {
				due := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
				time.Sleep(time.Until(due))
				binary.BigEndian.PutUint64(data, uint64(due.UnixNano()))
				if _, err := js.Publish(ctx, "natslat", data); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	held := float64(total) / time.Since(start).Seconds()
	select {
	case err := <-errs:
		return err
	default:
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("only %d of %d events reached the consumer", len(lat), total)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(nearestRank(lat, p)) / 1e6 }
	out := map[string]any{"events": len(lat), "events_per_sec": held, "latency_ms": map[string]float64{
		"p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "p999": q(0.999), "max": q(1)}}
	return json.NewEncoder(os.Stdout).Encode(out)
}
