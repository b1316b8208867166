package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldevents/herald"
)

// benchConfig is what `herald bench` measures and how.
type benchConfig struct {
	mode        string
	size        int
	count       int
	duration    time.Duration
	publishers  int
	consumers   int
	prefetch    int
	batch       int
	keys        int
	partitions  int
	fsync       string
	rate        int
	json        bool
	remote      bool   // --server or HERALD_SERVER was given
	server      string // its URL
	token       string
	tls         *tls.Config // --ca-file, --client-cert, --client-key; nil: none given
	progressOut *os.File    // where the progress bar goes; nil: none
}

var benchModes = []string{"publish", "consume", "pubsub", "http-publish"}

func (a *app) benchCmd() *cobra.Command {
	cfg := &benchConfig{}
	var size string
	cmd := &cobra.Command{
		Use:   "bench MODE",
		Short: "Measure Herald: publish, consume, pubsub or http-publish",
		Long: "Measure Herald with one of four workloads:\n" +
			"  publish       async publishing through the Go SDK (batches per topic)\n" +
			"  consume       events published beforehand, handled by a Router that acks each\n" +
			"  pubsub        publishing and consuming at once; latency is publish to handler\n" +
			"  http-publish  batches POSTed to the HTTP API (application/cloudevents-batch+json)\n" +
			"With --server (or HERALD_SERVER) it measures that server over the network\n" +
			"(over https, --ca-file, --client-cert and --client-key apply as to every command);\n" +
			"without, Herald runs embedded in a temporary directory. --rate holds a steady\n" +
			"load for latency: each event goes out when it is due (in pubsub, alone, by the\n" +
			"publisher that takes it), and latency counts from when it was due, so publishers\n" +
			"that fall behind show in it; otherwise it goes as fast as it can. --json prints\n" +
			"the summary as one JSON object.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.mode = args[0]
			cfg.remote = cmd.Flags().Changed("server") || a.getenv("HERALD_SERVER") != ""
			cfg.server, cfg.token = a.server, a.getenv("HERALD_TOKEN")
			if err := cfg.check(size, cmd.Flags().Changed("fsync"), cmd.Flags().Changed("count")); err != nil {
				return err
			}
			if err := cfg.useTLS(a.tls); err != nil {
				return err
			}
			if f, ok := a.stderr.(*os.File); ok && !cfg.json && isTerminal(f) {
				cfg.progressOut = f // a progress bar on a terminal only
			}
			if a.getenv("GOGC") == "" {
				// The load generator's own collector would otherwise run
				// about ten times a second on its few MB of live heap, and
				// its pauses would show in the latency it measures.
				defer keepHeapFloor(100, heapFloor).stop()
			}
			res, err := runBench(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if cfg.rate > 0 && res.EventsPerSec < 0.97*float64(cfg.rate) {
				fmt.Fprintf(a.stderr, "herald bench: held %.0f of --rate %d events/s; the latency includes the wait for publishers behind schedule (more --publishers may keep up)\n", res.EventsPerSec, cfg.rate)
			}
			return res.print(a.stdout, cfg.json)
		},
	}
	f := cmd.Flags()
	f.StringVar(&size, "size", "1KiB", "event data size: bytes, or with B, KiB, MiB; at most 1023KiB")
	f.IntVar(&cfg.count, "count", 100000, "events to publish (or consume)")
	f.DurationVar(&cfg.duration, "duration", 0, "run for this long instead of --count events")
	f.IntVar(&cfg.publishers, "publishers", 4, "concurrent publishers")
	f.IntVar(&cfg.consumers, "consumers", 64, "handlers running at once in the consuming Router")
	f.IntVar(&cfg.prefetch, "prefetch", 0, "deliveries the consuming Router takes ahead of its free handlers (0: the Router's default, 4×--consumers)")
	f.IntVar(&cfg.batch, "batch", 100, "events per batch a publisher sends")
	f.IntVar(&cfg.keys, "keys", 1000, "distinct partition keys (0: no keys)")
	f.IntVar(&cfg.partitions, "partitions", 4, "partitions of the benchmark topic")
	f.StringVar(&cfg.fsync, "fsync", "always", "embedded only: always, interval or none")
	f.IntVar(&cfg.rate, "rate", 0, "target events/s for all publishers together (0: as fast as possible)")
	f.BoolVar(&cfg.json, "json", false, "print the summary as one JSON object")
	return cmd
}

// maxBenchSize is the largest --size: a server takes events of up to
// 1 MiB by default (herald serve --max-event-bytes), attributes included,
// and a benchmark event's attributes take a few hundred bytes.
const maxBenchSize = 1<<20 - 1<<10

// check refuses settings that cannot work, with the flag to fix.
func (cfg *benchConfig) check(size string, fsyncGiven, countGiven bool) error {
	var err error
	if cfg.size, err = parseSize(size); err != nil {
		return fmt.Errorf("--size %q: %w", size, err)
	}
	switch {
	case !contains(benchModes, cfg.mode):
		return fmt.Errorf("unknown mode %q: want one of %s", cfg.mode, strings.Join(benchModes, ", "))
	case cfg.size < 1 || cfg.size > maxBenchSize:
		return fmt.Errorf("--size %s: must be from 1 B to 1023 KiB (an event, its attributes included, is at most 1 MiB)", size)
	case cfg.duration < 0:
		return fmt.Errorf("--duration %s: must not be negative", cfg.duration)
	case cfg.duration > 0 && countGiven:
		return errors.New("--count and --duration exclude each other: give one")
	case cfg.duration == 0 && cfg.count < 1:
		return fmt.Errorf("--count %d: must be at least 1", cfg.count)
	case cfg.publishers < 1 || cfg.publishers > 1000:
		return fmt.Errorf("--publishers %d: must be from 1 to 1000", cfg.publishers)
	case cfg.consumers < 1 || cfg.consumers > 10000:
		return fmt.Errorf("--consumers %d: must be from 1 to 10000", cfg.consumers)
	case cfg.prefetch < 0 || cfg.prefetch > 100000:
		return fmt.Errorf("--prefetch %d: must be from 0 (the Router's default) to 100000", cfg.prefetch)
	case cfg.batch < 1 || cfg.batch > 10000:
		return fmt.Errorf("--batch %d: must be from 1 to 10000", cfg.batch)
	case cfg.keys < 0:
		return fmt.Errorf("--keys %d: must not be negative", cfg.keys)
	case cfg.partitions < 1 || cfg.partitions > 10000:
		return fmt.Errorf("--partitions %d: must be from 1 to 10000", cfg.partitions)
	case cfg.rate < 0:
		return fmt.Errorf("--rate %d: must not be negative", cfg.rate)
	case cfg.fsync != "always" && cfg.fsync != "interval" && cfg.fsync != "none":
		return fmt.Errorf("--fsync %q: want always, interval or none", cfg.fsync)
	case fsyncGiven && cfg.remote:
		return errors.New("--fsync applies to embedded Herald only: a server's fsync mode is its own (herald serve --fsync)")
	case cfg.mode == "consume" && cfg.duration > 0:
		return errors.New("consume handles a set number of events published first: give --count, not --duration")
	}
	return nil
}

// useTLS takes the client TLS options, which need a server.
func (cfg *benchConfig) useTLS(o clientTLS) error {
	if o.given() && !cfg.remote {
		return errors.New("--ca-file, --client-cert and --client-key are for a server: give --server (or HERALD_SERVER), or leave them out to measure Herald embedded")
	}
	var err error
	cfg.tls, err = o.config(cfg.server)
	return err
}

// parseSize reads 512, 512B, 1KiB or 2MiB.
func parseSize(s string) (int, error) {
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"KB", 1000}, {"MB", 1000 * 1000}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, errors.New("want a number of bytes such as 128, 128B, 1KiB or 1MiB")
	}
	return n * mult, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// benchResult is the summary; its JSON names are part of the command's
// interface for scripts.
type benchResult struct {
	Mode         string        `json:"mode"`
	Target       string        `json:"target"` // "embedded" or the server URL
	Events       int64         `json:"events"`
	Bytes        int64         `json:"bytes"`
	Seconds      float64       `json:"seconds"`
	EventsPerSec float64       `json:"events_per_sec"`
	MBPerSec     float64       `json:"mb_per_sec"`
	Latency      latencyMillis `json:"latency_ms"`
}

type latencyMillis struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

func (r benchResult) print(w interface{ Write([]byte) (int, error) }, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(r)
	}
	_, err := fmt.Fprintf(w, "%s against %s: %d events in %.2fs\n  %.0f events/s, %.1f MB/s\n  latency p50 %.2fms  p90 %.2fms  p99 %.2fms  p99.9 %.2fms  max %.2fms\n",
		r.Mode, r.Target, r.Events, r.Seconds, r.EventsPerSec, r.MBPerSec,
		r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.P999, r.Latency.Max)
	return err
}

// openBenchClient connects to --server, or opens Herald embedded in a
// temporary directory (removed by the returned cleanup).
func openBenchClient(ctx context.Context, cfg *benchConfig) (*herald.Client, func(), error) {
	if cfg.remote {
		var opts []herald.ConnectOption
		if cfg.token != "" {
			opts = append(opts, herald.WithToken(cfg.token))
		}
		if cfg.tls != nil {
			opts = append(opts, herald.WithTLS(cfg.tls))
		}
		c, err := herald.Connect(ctx, cfg.server, opts...)
		if err != nil {
			return nil, nil, err
		}
		return c, func() { c.Close() }, nil
	}
	dir, err := os.MkdirTemp("", "herald-bench-")
	if err != nil {
		return nil, nil, err
	}
	mode := map[string]herald.SyncMode{"always": herald.SyncAlways, "interval": herald.SyncInterval, "none": herald.SyncNone}[cfg.fsync]
	c, err := herald.Open(dir, herald.WithSync(mode))
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return c, func() { c.Close(); os.RemoveAll(dir) }, nil
}
