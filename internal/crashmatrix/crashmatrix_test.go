package crashmatrix

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/subscription"
)

const (
	dirEnv   = "HERALD_CRASH_MATRIX_DIR"
	roundEnv = "HERALD_CRASH_MATRIX_ROUND"
	drainEnv = "HERALD_CRASH_MATRIX_DRAIN"

	partitions = 4
	keys       = 40
	rounds     = 150 // killed rounds; with the broker's and the subscriptions' crash tests, over 200 in CI
)

// A child runs against the engine as `herald serve` composes it, with
// small segments so that retention deletes files while it runs.
func open(dir string) (*log.Engine, *broker.Broker, *subscription.Manager, error) {
	e, err := log.Open(dir, log.Options{SegmentBytes: 64 << 10})
	if err != nil {
		return nil, nil, nil, err
	}
	b, err := broker.New(e, broker.Options{DedupDir: dir + "/dedup"})
	if err != nil {
		e.Close()
		return nil, nil, nil, err
	}
	m, err := subscription.New(context.Background(), b, subscription.Options{})
	if err != nil {
		e.Close()
		return nil, nil, nil, err
	}
	return e, b, m, nil
}

// history writes the child's confirmed steps, one line each, flushed at
// once: a line printed is a step that happened.
type history struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (h *history) say(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fmt.Fprintf(h.w, format+"\n", args...)
	h.w.Flush()
}

func TestCrashMatrixChild(t *testing.T) {
	dir := os.Getenv(dirEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestCrashMatrix_KilledAtRandomKeepsEveryPromise")
	}
	round, _ := strconv.Atoi(os.Getenv(roundEnv))
	if err := runChild(dir, round, os.Getenv(drainEnv) != ""); err != nil {
		fmt.Println("error:", err)
		os.Exit(3)
	}
}

func runChild(dir string, round int, drain bool) error {
	e, b, m, err := open(dir)
	if err != nil {
		return err
	}
	defer e.Close()
	defer m.Close()
	ctx := context.Background()
	if err := setup(ctx, b, m); err != nil {
		return err
	}
	h := &history{w: bufio.NewWriter(os.Stdout)}
	h.say("up")
	if drain {
		return consume(ctx, m, h, nil, true)
	}
	errc := make(chan error, 3)
	rng := rand.New(rand.NewPCG(uint64(round), uint64(time.Now().UnixNano())))
	go func() { errc <- publish(ctx, b, h, round) }()
	go func() { errc <- consume(ctx, m, h, rand.New(rand.NewPCG(rng.Uint64(), 1)), false) }()
	go func() { errc <- chaos(ctx, e, b, m, h, round, rand.New(rand.NewPCG(rng.Uint64(), 2))) }()
	return <-errc // runs until killed
}

func setup(ctx context.Context, b *broker.Broker, m *subscription.Manager) error {
	n, small := partitions, int64(32<<10)
	if _, _, err := b.PutTopic(ctx, "orders", broker.TopicSpec{Partitions: &n}); err != nil {
		return err
	}
	if _, _, err := b.PutTopic(ctx, "logs", broker.TopicSpec{RetentionBytes: &small}); err != nil {
		return err
	}
	_, _, err := m.Put(ctx, "orders", "billing", subscription.Config{Start: "earliest", MaxAttempts: 3, AckTimeout: time.Second,
		Backoff: subscription.Backoff{Initial: 2 * time.Millisecond, Max: 2 * time.Millisecond, Multiplier: 1}})
	return err
}

type payload struct {
	Key string `json:"key"`
	Seq int    `json:"seq"`
}

// publish stores keyed batches; each key's sequence grows across rounds.
func publish(ctx context.Context, b *broker.Broker, h *history, round int) error {
	for i := 0; ; {
		n := 1 + i%17
		batch := make([]*event.Event, n)
		for j := range batch {
			k := fmt.Sprintf("k%d", (i+j)%keys)
			data, _ := json.Marshal(payload{Key: k, Seq: round*1_000_000 + i + j})
			batch[j] = &event.Event{ID: fmt.Sprintf("r%d-%d", round, i+j), Source: "/crash", Type: "tick",
				SpecVersion: "1.0", PartitionKey: k, Data: data, DataContentType: "application/json"}
		}
		res, err := b.Publish(ctx, "orders", batch)
		if err != nil {
			return err
		}
		for _, r := range res {
			h.say("pub %s %d %d", r.ID, r.Partition, r.Offset)
		}
		i += n
		time.Sleep(2 * time.Millisecond) // keeps the directory small enough to reopen 150 times
	}
}

// consume pulls and acks most deliveries, nacks some (at once or after a
// delay) and rejects a few; draining, it acks all until nothing is left.
func consume(ctx context.Context, m *subscription.Manager, h *history, rng *rand.Rand, drain bool) error {
	for idle := 0; ; {
		ds, err := m.Pull(ctx, "orders", "billing", 32, 20*time.Millisecond)
		if err != nil {
			return err
		}
		if len(ds) == 0 {
			if drain && idle > 10 && finished(ctx, m) {
				h.say("drained")
				return nil
			}
			idle++
			continue
		}
		idle = 0
		for _, d := range ds {
			h.say("got %s %d %s", d.Event.ID, d.Attempt, d.AckID)
			if err := settle(ctx, m, h, d, rng, drain); err != nil {
				return err
			}
		}
	}
}

func settle(ctx context.Context, m *subscription.Manager, h *history, d subscription.Delivery, rng *rand.Rand, drain bool) error {
	ids := []string{d.AckID}
	roll := 0
	if !drain {
		roll = rng.IntN(100)
	}
	var err error
	switch {
	case roll < 80:
		h.say("try-ack %s", d.Event.ID)
		var res subscription.AckResult
		if res, err = m.Ack(ctx, "orders", "billing", ids); err == nil && len(res.Acked) == 1 {
			h.say("ack %s", d.Event.ID)
		}
	case roll < 88:
		h.say("try-nack %s", d.Event.ID)
		_, err = m.Nack(ctx, "orders", "billing", ids, 0, "busy")
	case roll < 95:
		h.say("try-nack %s", d.Event.ID)
		_, err = m.Nack(ctx, "orders", "billing", ids, 30*time.Millisecond, "later") // delayed delivery
	default:
		h.say("try-reject %s", d.Event.ID)
		_, err = m.Reject(ctx, "orders", "billing", ids, "bad order")
	}
	return err
}

func finished(ctx context.Context, m *subscription.Manager) bool {
	info, err := m.Get(ctx, "orders", "billing")
	if err != nil || info.Redriving > 0 {
		return false
	}
	for _, p := range info.Partitions {
		if p.Lag != 0 || p.InFlight != 0 || p.WaitingRetry != 0 {
			return false
		}
	}
	return true
}

// chaos redrives dead letters, feeds a topic that retention trims, and
// creates and deletes topics.
func chaos(ctx context.Context, e *log.Engine, b *broker.Broker, m *subscription.Manager, h *history, round int, rng *rand.Rand) error {
	for i := 0; ; i++ {
		time.Sleep(time.Duration(2+rng.IntN(8)) * time.Millisecond)
		switch rng.IntN(3) {
		case 0:
			res, err := m.Redrive(ctx, "orders", "billing", subscription.RedriveRequest{All: true, Actor: "crash-matrix"})
			if err != nil {
				return err
			}
			h.say("redrive %d", res.Redriven)
		case 1:
			batch := make([]*event.Event, 20)
			for j := range batch {
				batch[j] = &event.Event{ID: fmt.Sprintf("l%d-%d-%d", round, i, j), Source: "/crash", Type: "log",
					SpecVersion: "1.0", Data: make([]byte, 512)}
			}
			if _, err := b.Publish(ctx, "logs", batch); err != nil {
				return err
			}
			if err := e.EnforceRetention(); err != nil {
				return err
			}
		default:
			name := fmt.Sprintf("tmp-%d-%d", round, i)
			if _, _, err := b.PutTopic(ctx, name, broker.TopicSpec{}); err != nil {
				return err
			}
			h.say("created %s", name)
			ev := &event.Event{ID: "x", Source: "/crash", Type: "tmp", SpecVersion: "1.0"}
			if _, err := b.Publish(ctx, name, []*event.Event{ev}); err != nil {
				return err
			}
			if err := b.DeleteTopic(ctx, name); err != nil {
				return err
			}
			if err := m.DeleteTopic(ctx, name); err != nil {
				return err
			}
			h.say("deleted %s", name)
		}
	}
}

// record is what the parent learned from the children's histories.
type record struct {
	published map[string][2]int64 // id -> partition, offset (confirmed)
	acked     map[string]bool     // ack confirmed
	ackRound  map[string]int      // the round that confirmed it
	tried     map[string]bool     // an ack was attempted (it may have taken effect)
	failed    map[string]bool     // nacked or rejected at least once: may be dead-lettered and redriven
	delivered map[string]bool
	deleted   map[string]bool // topics whose deletion was confirmed
	drained   bool
}

func TestCrashMatrix_KilledAtRandomKeepsEveryPromise(t *testing.T) {
	if testing.Short() {
		t.Skip("crash matrix skipped in -short mode")
	}
	dir := t.TempDir()
	rec := &record{published: map[string][2]int64{}, acked: map[string]bool{}, ackRound: map[string]int{}, tried: map[string]bool{},
		failed: map[string]bool{}, delivered: map[string]bool{}, deleted: map[string]bool{}}
	rng := rand.New(rand.NewPCG(11, uint64(time.Now().UnixNano())))
	for round := 0; round < rounds; round++ {
		runRound(t, dir, round, false, rng, rec) // each round reopens what the last one left
		if round%10 == 9 {
			verifyLog(t, dir, rec)
		}
	}
	runRound(t, dir, rounds, true, rng, rec)
	if !rec.drained {
		t.Fatal("the final round did not drain the subscription")
	}
	verifyLog(t, dir, rec)
	verifyFinished(t, dir, rec)
	t.Logf("%d rounds killed at random: %d events published, %d acks confirmed, %d deliveries",
		rounds, len(rec.published), len(rec.acked), len(rec.delivered))
}

// runRound runs a child, SIGKILLing it 20-220ms after it is up (unless it
// drains), and checks each line of its history as it comes.
func runRound(t *testing.T, dir string, round int, drain bool, rng *rand.Rand, rec *record) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashMatrixChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), dirEnv+"="+dir, roundEnv+"="+strconv.Itoa(round))
	if drain {
		cmd.Env = append(cmd.Env, drainEnv+"=1")
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 1 && f[0] == "up" && !drain {
			timer = time.AfterFunc(time.Duration(20+rng.IntN(200))*time.Millisecond, func() { cmd.Process.Signal(syscall.SIGKILL) })
			continue
		}
		rec.apply(t, round, f, sc.Text())
	}
	cmd.Wait()
}

// baseID is the id a delivery's event was published with (a redriven dead
// letter carries "<id>@<topic>/<subscription>").
func baseID(id string) string {
	base, _, _ := strings.Cut(id, "@")
	return base
}

func (rec *record) apply(t *testing.T, round int, f []string, line string) {
	t.Helper()
	switch {
	case len(f) == 4 && f[0] == "pub":
		p, _ := strconv.Atoi(f[2])
		off, _ := strconv.ParseInt(f[3], 10, 64)
		rec.published[f[1]] = [2]int64{int64(p), off}
	case len(f) == 4 && f[0] == "got":
		id := baseID(f[1])
		if rec.acked[id] && !rec.failed[id] {
			t.Fatalf("round %d: %s (published at partition/offset %v) delivered again (attempt %s, ack id %s) after its ack was confirmed in round %d",
				round, id, rec.published[id], f[2], f[3], rec.ackRound[id])
		}
		rec.delivered[id] = true
	case len(f) == 2 && f[0] == "try-ack":
		rec.tried[baseID(f[1])] = true
	case len(f) == 2 && f[0] == "ack":
		rec.acked[baseID(f[1])] = true
		rec.ackRound[baseID(f[1])] = round
	case len(f) == 2 && (f[0] == "try-nack" || f[0] == "try-reject"):
		rec.failed[baseID(f[1])] = true
	case len(f) == 2 && f[0] == "deleted":
		rec.deleted[f[1]] = true
	case len(f) == 1 && f[0] == "drained":
		rec.drained = true
	case (len(f) == 2 && (f[0] == "redrive" || f[0] == "created")) || (len(f) == 1 && (f[0] == "PASS" || f[0] == "up")):
	default:
		t.Fatalf("round %d: the child said %q", round, line)
	}
}

// verifyLog reopens the directory and checks the log: every confirmed
// publish where it was acknowledged, no id twice, each key in order, and no
// topic whose deletion was confirmed.
func verifyLog(t *testing.T, dir string, rec *record) {
	t.Helper()
	e, b, m, err := open(dir)
	if err != nil {
		t.Fatalf("reopen after a crash: %v", err)
	}
	defer e.Close()
	defer m.Close()
	ctx := context.Background()
	seen := map[string][2]int64{}
	for p := 0; p < partitions; p++ {
		last := map[string]int{}
		for off := int64(0); ; {
			evs, err := b.Read(ctx, "orders", p, off, 1000)
			if err != nil {
				t.Fatalf("read orders/%d@%d: %v", p, off, err)
			}
			if len(evs) == 0 {
				break
			}
			for _, ev := range evs {
				if at, dup := seen[ev.ID]; dup {
					t.Fatalf("event %s stored twice: %v and %d/%d", ev.ID, at, p, ev.Offset)
				}
				seen[ev.ID] = [2]int64{int64(p), ev.Offset}
				var pl payload
				if err := json.Unmarshal(ev.Data, &pl); err != nil {
					t.Fatalf("event %s: %v", ev.ID, err)
				}
				if prev, ok := last[pl.Key]; ok && pl.Seq <= prev {
					t.Fatalf("partition %d: key %s seq %d stored after %d", p, pl.Key, pl.Seq, prev)
				}
				last[pl.Key] = pl.Seq
				off = ev.Offset + 1
			}
		}
	}
	for id, at := range rec.published {
		if got, ok := seen[id]; !ok || got != at {
			t.Fatalf("acknowledged event %s at %v is missing or moved (found %v, %v)", id, at, got, ok)
		}
	}
	topics, err := b.Topics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range topics {
		if rec.deleted[tp.Name] {
			t.Fatalf("topic %s is back after its deletion was confirmed", tp.Name)
		}
	}
}

// verifyFinished checks, after the drain, that every event is finished:
// acked (confirmed, or attempted: an ack may take effect just before a
// kill) or dead-lettered. A position moved past an event that was neither
// would leave it here unaccounted for.
func verifyFinished(t *testing.T, dir string, rec *record) {
	t.Helper()
	e, b, m, err := open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	defer m.Close()
	ctx := context.Background()
	dead := map[string]bool{}
	resolved := 0
	for off := int64(0); ; {
		evs, err := b.Read(ctx, "orders.billing.dlq", 0, off, 1000)
		if err != nil {
			t.Fatalf("read dead letters: %v", err)
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			dead[baseID(ev.ID)] = true
			if id := baseID(ev.ID); rec.acked[id] && !rec.failed[id] {
				resolved++ // died unseen, then acked after a redrive: later redrives must leave it out
			}
			off = ev.Offset + 1
		}
	}
	for id := range rec.published {
		if !rec.tried[id] && !dead[id] {
			t.Errorf("event %s was never acked nor dead-lettered, yet the subscription has finished it", id)
		}
		if !rec.delivered[id] && !dead[id] { // dead-lettered unseen: every delivery's consumer died before it could say
			t.Errorf("event %s was never delivered", id)
		}
	}
	t.Logf("%d dead letters died unseen and were acked after a redrive (later redrives of all left them out)", resolved)
}
