package subscription

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
)

// The crash test runs a consumer (this test binary, re-executed) over a
// real data directory and SIGKILLs it at random moments while it pulls,
// acks and nacks. What must hold: an event whose ack was confirmed is
// never delivered again, and in the end every event is acked (none lost,
// none dead-lettered).

const (
	crashDirEnv = "HERALD_SUB_CRASH_DIR"
	crashEvents = 20000
)

func TestCrashConsumer(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestCrash_SIGKILLedConsumerLosesNothingAndGetsNoAckedEventAgain")
	}
	runCrashConsumer(dir)
}

func openCrashManager(dir string) (*log.Engine, *Manager, error) {
	e, err := log.Open(dir, log.Options{})
	if err != nil {
		return nil, nil, err
	}
	b, err := broker.New(e, broker.Options{})
	if err != nil {
		return nil, nil, err
	}
	m, err := New(context.Background(), b, Options{})
	return e, m, err
}

// runCrashConsumer pulls, then acks nine in ten deliveries and nacks the
// rest (for an immediate retry), printing what it got and what the
// subscription confirmed.
func runCrashConsumer(dir string) {
	_, m, err := openCrashManager(dir)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	ctx := context.Background()
	w := bufio.NewWriter(os.Stdout)
	for idle := 0; idle < 20; {
		ds, err := m.Pull(ctx, "orders", "billing", 50, 10*time.Millisecond)
		if err != nil {
			fmt.Fprintln(w, "pull:", err)
			w.Flush()
			os.Exit(4)
		}
		if len(ds) == 0 {
			idle++
			continue
		}
		idle = 0
		var acks, nacks []string
		for _, d := range ds {
			fmt.Fprintf(w, "got %s %d\n", d.Event.ID, d.Attempt)
			if rand.IntN(10) == 0 {
				nacks = append(nacks, d.AckID)
			} else {
				acks = append(acks, d.AckID)
			}
		}
		w.Flush()
		res, err := m.Ack(ctx, "orders", "billing", acks)
		if err != nil {
			fmt.Fprintln(w, "ack:", err)
			w.Flush()
			os.Exit(5)
		}
		if _, err := m.Nack(ctx, "orders", "billing", nacks, time.Millisecond, "unlucky"); err != nil {
			os.Exit(6)
		}
		for _, id := range res.Acked {
			fmt.Fprintf(w, "acked %s\n", idOfAck(ds, id))
		}
		w.Flush()
	}
	fmt.Fprintln(w, "drained")
	w.Flush()
}

func idOfAck(ds []Delivery, ackID string) string {
	for _, d := range ds {
		if d.AckID == ackID {
			return d.Event.ID
		}
	}
	return "?"
}

func TestCrash_SIGKILLedConsumerLosesNothingAndGetsNoAckedEventAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	dir := t.TempDir()
	seedCrashDir(t, dir)
	acked := map[string]bool{}     // acks the consumer saw confirmed
	delivered := map[string]bool{} // events delivered at least once
	rng := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))
	rounds := 30
	for round := 0; ; round++ {
		kill := round < rounds
		if drained := runConsumerRound(t, dir, acked, delivered, kill, rng); drained {
			break
		}
		if round > rounds+5 {
			t.Fatal("the consumer never drained the subscription")
		}
	}
	// Nothing lost: every event was delivered, and the subscription has
	// finished all of them by acks alone (an ack the consumer was killed
	// before seeing confirmed may have taken effect: that is at-least-once,
	// and such events are never delivered again either).
	if len(delivered) != crashEvents {
		t.Fatalf("%d of %d events delivered", len(delivered), crashEvents)
	}
	e, m, err := openCrashManager(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	defer m.Close()
	ctx := context.Background()
	info, err := m.Get(ctx, "orders", "billing")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range info.Partitions {
		if p.Lag != 0 || p.DeadLettered != 0 {
			t.Fatalf("partition %d after draining: %+v", p.Partition, p)
		}
	}
	if dls, _ := m.DeadLetters(ctx, "orders", "billing", "", 10); len(dls) != 0 {
		t.Fatalf("%d dead letters", len(dls))
	}
	t.Logf("%d rounds killed at random; %d events, %d acks seen confirmed, none delivered after that", rounds, crashEvents, len(acked))
}

func seedCrashDir(t *testing.T, dir string) {
	e, m, err := openCrashManager(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	defer m.Close()
	ctx := context.Background()
	two := 2
	if _, _, err := m.broker.PutTopic(ctx, "orders", broker.TopicSpec{Partitions: &two}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Put(ctx, "orders", "billing", Config{Start: "earliest", MaxAttempts: 1000,
		Backoff: Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < crashEvents; i += 500 {
		batch := make([]*event.Event, 500)
		for j := range batch {
			batch[j] = &event.Event{ID: fmt.Sprintf("o-%d", i+j), Source: "/shop", Type: "order.placed",
				SpecVersion: "1.0", PartitionKey: fmt.Sprintf("customer-%d", (i+j)%97)}
		}
		if _, err := m.broker.Publish(ctx, "orders", batch); err != nil {
			t.Fatal(err)
		}
	}
}

// runConsumerRound runs the child once (SIGKILLing it at a random moment
// when kill is set), checks every delivery against the confirmed acks so
// far, and records the new ones. It reports whether the child drained the
// subscription.
func runConsumerRound(t *testing.T, dir string, acked, delivered map[string]bool, kill bool, rng *rand.Rand) bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashConsumer$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if kill {
		delay := time.Duration(20+rng.IntN(200)) * time.Millisecond
		timer := time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGKILL) })
		defer timer.Stop()
	}
	drained := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 2 && f[0] == "got":
			if acked[f[1]] {
				t.Fatalf("event %s delivered again (attempt %s) after its ack was confirmed", f[1], f[2])
			}
			delivered[f[1]] = true
		case len(f) == 2 && f[0] == "acked":
			acked[f[1]] = true
		case len(f) == 1 && f[0] == "drained":
			drained = true
		case len(f) == 1 && f[0] == "PASS": // the test framework, after a clean exit
		default:
			t.Fatalf("child said %q", sc.Text())
		}
	}
	cmd.Wait()
	return drained
}
