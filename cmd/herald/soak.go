package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldevents/herald"
)

// soakSample is one reading of the process while the soak runs.
type soakSample struct {
	Seconds    float64 `json:"seconds"`
	Published  int64   `json:"published"`
	Handled    int64   `json:"handled"`
	HeapMiB    float64 `json:"heap_mib"`
	RSSMiB     float64 `json:"rss_mib"`
	Goroutines int     `json:"goroutines"`
	OpenFiles  int     `json:"open_files"`
}

func (a *app) soakCmd() *cobra.Command {
	var duration, every time.Duration
	var rate int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "soak",
		Short: "Run a mixed workload on embedded Herald for a while and report memory, goroutines and open files",
		Long: "Run Herald embedded in a temporary directory under a mixed workload for --duration:\n" +
			"keyed publishes at --rate, a Router that acks most events and nacks some, reads of\n" +
			"the log, and topics created, used and deleted. Every --every it prints the heap,\n" +
			"the resident memory, the goroutines and the open files of the process, which\n" +
			"should stay flat.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if duration <= 0 || every <= 0 || rate < 1 {
				return errors.New("--duration and --every must be positive and --rate at least 1")
			}
			samples, err := soak(cmd.Context(), duration, every, rate, a.stdout, a.stderr, asJSON)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(a.stdout).Encode(map[string]any{"samples": samples})
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&duration, "duration", 10*time.Minute, "how long to run")
	cmd.Flags().DurationVar(&every, "every", 30*time.Second, "how often to sample")
	cmd.Flags().IntVar(&rate, "rate", 2000, "events published per second")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the samples as one JSON object at the end instead of a table")
	return cmd
}

func soak(ctx context.Context, duration, every time.Duration, rate int, out, logw io.Writer, quiet bool) ([]soakSample, error) {
	dir, err := os.MkdirTemp("", "herald-soak-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	c, err := herald.Open(dir)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	four, day := 4, 24*time.Hour
	if _, _, err := c.PutTopic(ctx, "soak", herald.TopicSpec{Partitions: &four, Retention: &day}); err != nil {
		return nil, err
	}
	if _, err := c.PutSubscription(ctx, "soak", "work", herald.SubscriptionConfig{Start: "earliest", MaxAttempts: 3,
		Backoff: herald.Backoff{Initial: 10 * time.Millisecond, Max: time.Second, Multiplier: 2}}); err != nil {
		return nil, err
	}
	ctx, stop := context.WithTimeout(ctx, duration)
	defer stop()
	var published, handled atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Go(func() { errc <- soakPublish(ctx, c, rate, &published) })
	wg.Go(func() { errc <- soakConsume(ctx, c, &handled, logw) })
	wg.Go(func() { errc <- soakChurn(ctx, c) })

	start := time.Now()
	var samples []soakSample
	sample := func() {
		s := takeSample(time.Since(start), published.Load(), handled.Load())
		samples = append(samples, s)
		if !quiet {
			if len(samples) == 1 {
				fmt.Fprintf(out, "%8s %10s %10s %9s %9s %10s %10s\n", "SECONDS", "PUBLISHED", "HANDLED", "HEAP_MIB", "RSS_MIB", "GOROUTINES", "OPEN_FILES")
			}
			fmt.Fprintf(out, "%8.0f %10d %10d %9.1f %9.1f %10d %10d\n", s.Seconds, s.Published, s.Handled, s.HeapMiB, s.RSSMiB, s.Goroutines, s.OpenFiles)
		}
	}
	sample()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-tick.C:
			sample()
		case <-ctx.Done():
			done = true
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			return samples, err
		}
	}
	sample()
	return samples, nil
}

func takeSample(elapsed time.Duration, published, handled int64) soakSample {
	runtime.GC() // the live heap, not the garbage of the last seconds
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds, _ := os.ReadDir("/proc/self/fd")
	return soakSample{Seconds: elapsed.Seconds(), Published: published, Handled: handled,
		HeapMiB: float64(ms.HeapAlloc) / (1 << 20), RSSMiB: float64(rssBytes()) / (1 << 20),
		Goroutines: runtime.NumGoroutine(), OpenFiles: len(fds)}
}

// rssBytes reads the resident set size of this process (Linux).
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

func soakPublish(ctx context.Context, c *herald.Client, rate int, published *atomic.Int64) error {
	p := c.NewPublisher(herald.PublisherOptions{Linger: 5 * time.Millisecond})
	defer p.Close(context.Background())
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	data := make([]byte, 512)
	for i := 0; ; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		for range max(rate/100, 1) {
			e := herald.MustNewEvent("soak.tick", data, herald.WithSource("/soak"), herald.WithContentType("application/octet-stream"),
				herald.WithKey("k"+strconv.Itoa(i%500)))
			p.Publish(ctx, "soak", e)
			published.Add(1)
			i++
		}
	}
}

func soakConsume(ctx context.Context, c *herald.Client, handled *atomic.Int64, logw io.Writer) error {
	// The workload dead-letters events on purpose: only errors are logged.
	quiet := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelError}))
	r := herald.NewRouter(c, herald.RouterOptions{Concurrency: 32, DrainTimeout: 5 * time.Second, Logger: quiet})
	r.HandleFunc("soak", "work", func(ctx context.Context, d *herald.Delivery) error {
		handled.Add(1)
		switch n := rand.IntN(100); {
		case n < 2:
			return errors.New("soak: a failure to retry")
		case n < 3:
			return herald.Permanent(errors.New("soak: a dead letter"))
		}
		return nil
	})
	return r.Run(ctx)
}

// soakChurn reads the log and creates, uses and deletes topics.
func soakChurn(ctx context.Context, c *herald.Client) error {
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if _, err := c.Read(ctx, "soak", i%4, 0, 100); err != nil && !errors.Is(err, herald.ErrOffsetOutOfRange) {
			return err
		}
		name := "churn-" + strconv.Itoa(i)
		if _, _, err := c.PutTopic(ctx, name, herald.TopicSpec{}); err != nil {
			return err
		}
		if _, err := c.Publish(ctx, name, herald.MustNewEvent("soak.churn", nil, herald.WithSource("/soak"))); err != nil {
			return err
		}
		if err := c.DeleteTopic(ctx, name); err != nil {
			return err
		}
	}
}
