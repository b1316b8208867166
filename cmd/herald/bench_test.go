package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/internal/testserver"
)

func TestBench_RefusesSettingsThatCannotWork(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"bench", "sideways"}, nil, `unknown mode "sideways"`},
		{[]string{"bench", "publish", "--size", "huge"}, nil, `--size "huge"`},
		{[]string{"bench", "publish", "--size", "2MiB"}, nil, "from 1 B to 1023 KiB"},
		{[]string{"bench", "publish", "--size", "1MiB"}, nil, "from 1 B to 1023 KiB"},
		{[]string{"bench", "publish", "--count", "10", "--duration", "1s"}, nil, "--count and --duration exclude each other"},
		{[]string{"bench", "publish", "--count", "0"}, nil, "--count 0"},
		{[]string{"bench", "publish", "--publishers", "0"}, nil, "--publishers 0"},
		{[]string{"bench", "publish", "--batch", "20000"}, nil, "--batch 20000"},
		{[]string{"bench", "consume", "--prefetch", "-1"}, nil, "--prefetch -1"},
		{[]string{"bench", "publish", "--rate", "-1"}, nil, "--rate -1"},
		{[]string{"bench", "publish", "--fsync", "sometimes"}, nil, `--fsync "sometimes"`},
		{[]string{"bench", "publish", "--fsync", "none"}, map[string]string{"HERALD_SERVER": "http://127.0.0.1:1"}, "embedded Herald only"},
		{[]string{"bench", "consume", "--duration", "1s"}, nil, "give --count, not --duration"},
		{[]string{"bench"}, nil, "accepts 1 arg"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			runApp(context.Background(), tc.env, "", tc.args...).wantOneErrorLine(t, tc.want)
		})
	}
}

// The SDK's errors begin with "herald: ", as a Go library's do; the CLI
// prints them after its own "herald: " only once.
func TestBench_AnErrorOfTheSDKHasOnePrefix(t *testing.T) {
	r := runApp(context.Background(), nil, "", "bench", "publish", "--count", "10", "--server", "http://127.0.0.1:1")
	r.wantOneErrorLine(t, "herald: connect to http://127.0.0.1:1")
	if strings.HasPrefix(r.stderr, "herald: herald:") {
		t.Errorf("stderr %q", r.stderr)
	}
}

// Each mode on a tiny run prints one JSON object with the fields scripts
// read, and its counts add up.
func TestBench_JSONSummaryOfEachModeOnATinyRun(t *testing.T) {
	ts := testserver.Start(t, t.TempDir())
	for _, tc := range []struct {
		name     string
		env      map[string]string
		args     []string
		min, max float64 // events the summary may count
	}{
		{"publish embedded", nil, []string{"bench", "publish", "--count", "300", "--size", "128B", "--json"}, 300, 300},
		{"consume embedded", nil, []string{"bench", "consume", "--count", "300", "--json"}, 300, 300},
		{"consume embedded with prefetch", nil, []string{"bench", "consume", "--count", "300", "--prefetch", "512", "--json"}, 300, 300},
		{"pubsub embedded", nil, []string{"bench", "pubsub", "--count", "300", "--json"}, 300, 300},
		{"http-publish embedded", nil, []string{"bench", "http-publish", "--count", "300", "--json"}, 300, 300},
		{"publish remote", map[string]string{"HERALD_SERVER": "http://" + ts.Addr}, []string{"bench", "publish", "--count", "300", "--json"}, 300, 300},
		// At a rate, no more than were due in the run (one more per
		// publisher at the end), and as many as a loaded machine sends.
		{"pubsub remote at a rate", map[string]string{"HERALD_SERVER": "http://" + ts.Addr}, []string{"bench", "pubsub", "--rate", "1000", "--duration", "600ms", "--json"}, 1, 604},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runApp(context.Background(), tc.env, "", tc.args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("stdout is not one JSON object: %v\n%s", err, r.stdout)
			}
			for _, k := range []string{"events_per_sec", "mb_per_sec", "latency_ms", "events", "seconds", "mode", "target"} {
				if _, ok := got[k]; !ok {
					t.Errorf("summary lacks %q: %s", k, r.stdout)
				}
			}
			lat, _ := got["latency_ms"].(map[string]any)
			for _, k := range []string{"p50", "p90", "p99", "p999", "max"} {
				if _, ok := lat[k].(float64); !ok {
					t.Errorf("latency_ms lacks %q: %s", k, r.stdout)
				}
			}
			if n, _ := got["events"].(float64); n < tc.min || n > tc.max || got["events_per_sec"].(float64) <= 0 {
				t.Errorf("events %v, events_per_sec %v: want %v to %v events and a rate", got["events"], got["events_per_sec"], tc.min, tc.max)
			}
			if !strings.HasPrefix(tc.name, "consume") && lat["max"].(float64) <= 0 {
				t.Errorf("no latency measured: %s", r.stdout)
			}
		})
	}
}

// The largest --size makes events that fit a server's default limit of
// 1 MiB an event, their attributes included.
func TestBench_TheLargestSizeFits(t *testing.T) {
	for _, mode := range []string{"publish", "http-publish"} {
		r := runApp(context.Background(), nil, "", "bench", mode, "--size", "1023KiB", "--count", "2", "--batch", "1", "--json")
		if r.code != 0 {
			t.Errorf("bench %s --size 1023KiB: exit %d: %s", mode, r.code, r.stderr)
		}
	}
}

// A run that cannot hold its --rate says so on stderr, and its latency
// counts from when each event was due: publishers behind schedule show in
// it rather than hiding it. stdout stays one JSON object.
func TestBench_SaysWhenTheRateIsNotHeld(t *testing.T) {
	r := runApp(context.Background(), nil, "", "bench", "pubsub", "--rate", "10000000", "--duration", "200ms", "--publishers", "1", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var got struct {
		EventsPerSec float64 `json:"events_per_sec"`
		Latency      struct {
			Max float64 `json:"max"`
		} `json:"latency_ms"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, r.stdout)
	}
	if !strings.Contains(r.stderr, "herald bench: held ") || !strings.Contains(r.stderr, "of --rate 10000000 events/s") {
		t.Fatalf("stderr %q: want the rate held", r.stderr)
	}
	// 10 million events were due within 200ms; one publisher sends far
	// fewer, so the last ones it sends were due long before.
	if got.Latency.Max < 50 {
		t.Fatalf("max latency %.2fms: want the wait behind schedule counted", got.Latency.Max)
	}
}

// Percentiles are by nearest rank: p of n sorted latencies is the
// ceil(p*n)-th, so no percentile is drawn from below its share of the
// samples (p99 of ten is the largest, not the ninth).
func TestBench_PercentilesAreByNearestRank(t *testing.T) {
	for _, tc := range []struct {
		ms   []int
		want latencyMillis
	}{
		{[]int{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, latencyMillis{P50: 5, P90: 9, P99: 10, P999: 10, Max: 10}},
		{[]int{4, 1, 3, 2}, latencyMillis{P50: 2, P90: 4, P99: 4, P999: 4, Max: 4}},
		{[]int{7}, latencyMillis{P50: 7, P90: 7, P99: 7, P999: 7, Max: 7}},
		{seq(1, 1000), latencyMillis{P50: 500, P90: 900, P99: 990, P999: 999, Max: 1000}},
		{nil, latencyMillis{}},
	} {
		r := &benchRun{cfg: &benchConfig{mode: "pubsub"}}
		for _, ms := range tc.ms {
			r.record(time.Duration(ms) * time.Millisecond)
		}
		if got := r.result(time.Second).Latency; got != tc.want {
			t.Errorf("%d samples: got %+v, want %+v", len(tc.ms), got, tc.want)
		}
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// At a rate every publisher follows the run's one schedule: a publisher
// that starts late (a goroutine the scheduler runs late) sends events that
// were due at the run's start, and their latency counts from then, not
// from when that publisher happened to start.
func TestBench_APublisherThatStartsLateIsMeasuredFromTheRunsSchedule(t *testing.T) {
	ctx := context.Background()
	cfg := &benchConfig{mode: "publish", size: 64, count: 5, publishers: 1, batch: 1, keys: 0, partitions: 1, fsync: "none", rate: 1000}
	c, cleanup, err := openBenchClient(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	r := &benchRun{cfg: cfg, c: c, topic: "late", counted: true}
	if _, _, err := c.PutTopic(ctx, r.topic, herald.TopicSpec{Partitions: &cfg.partitions}); err != nil {
		t.Fatal(err)
	}
	const late = 200 * time.Millisecond
	elapsed, err := r.measure(ctx, func(ctx context.Context, id int) error {
		time.Sleep(late)
		return r.publish(ctx, id)
	})
	if err != nil {
		t.Fatal(err)
	}
	// The first event was due as the run started and went out 200ms later.
	if res := r.result(elapsed); res.Events != 5 || res.Latency.Max < float64(late.Milliseconds()) {
		t.Fatalf("%d events, max latency %.2fms: want 5, the first counted from the run's start (at least %v)", res.Events, res.Latency.Max, late)
	}
}

// The consume run counts each event once and ends only when every one has
// been handled and acked: events that come again (here the subscription
// is moved back by Seek while the run is halfway, as a lease that ran out
// or a stale ack after a reconnect brings them again) are not counted a
// second time in place of events not yet handled.
func TestBench_ConsumeCountsEachEventOnceAndEndsWithAllAcked(t *testing.T) {
	ctx := context.Background()
	const count = 2000
	cfg := &benchConfig{mode: "consume", size: 64, count: count, publishers: 1, consumers: 1, batch: 100, keys: 0, partitions: 1, fsync: "none"}
	c, cleanup, err := openBenchClient(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	r := &benchRun{cfg: cfg, c: c, topic: "again", counted: true}
	if _, _, err := c.PutTopic(ctx, r.topic, herald.TopicSpec{Partitions: &cfg.partitions}); err != nil {
		t.Fatal(err)
	}
	sought := make(chan error, 1)
	go func() { // once half the events are acked, replays them all
		for {
			info, err := c.Subscription(ctx, r.topic, "bench")
			if err == nil && info.Partitions[0].Committed >= count/2 {
				_, err = c.Seek(ctx, r.topic, "bench", herald.SeekPosition{Start: "earliest"})
				sought <- err
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	elapsed, err := r.consume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-sought; err != nil {
		t.Fatal(err)
	}
	info, err := c.Subscription(ctx, r.topic, "bench")
	if err != nil {
		t.Fatal(err)
	}
	if res := r.result(elapsed); res.Events != count || info.Partitions[0].Lag != 0 {
		t.Fatalf("%d events counted, %d not acked when the run ended: want %d counted, all acked", res.Events, info.Partitions[0].Lag, count)
	}
}
