package broker

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/log"
)

// The crash test runs a publisher in a child process (this test binary,
// re-executed), SIGKILLs it at a random moment, and checks the data
// directory it leaves: every event the child saw acknowledged is stored
// exactly once, events of a key are in publish order, and the log takes
// new appends. Fifty rounds run on one directory, so each round also
// recovers from the damage of all the rounds before it.

const (
	crashDirEnv   = "HERALD_CRASH_CHILD_DIR"
	crashRoundEnv = "HERALD_CRASH_CHILD_ROUND"
	crashKeys     = 8
	crashTopic    = "crash"
)

func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestCrash_SIGKILLKeepsEveryAcknowledgedEvent")
	}
	runCrashChild(dir, os.Getenv(crashRoundEnv))
}

// runCrashChild publishes forever from one goroutine per key, writing
// "ack <id> <partition> <offset>" for each acknowledged event.
func runCrashChild(dir, round string) {
	e, err := log.Open(dir, log.Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	b, err := New(e, Options{DefaultPartitions: 3, DedupDir: filepath.Join(dir, "dedup")})
	if err != nil {
		fmt.Println("broker:", err)
		os.Exit(3)
	}
	var out sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for k := 0; k < crashKeys; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ; seq++ {
				ev := crashEvent(round, k, seq)
				batch := []*event.Event{ev}
				if seq%5 == 0 { // some batches, to cover multi-event appends
					ev2 := crashEvent(round, k, seq+1)
					batch = append(batch, ev2)
				}
				res, err := b.Publish(context.Background(), crashTopic, batch)
				if err != nil {
					fmt.Println("publish:", err)
					os.Exit(4)
				}
				out.Lock()
				for _, r := range res {
					fmt.Fprintf(w, "ack %s %d %d\n", r.ID, r.Partition, r.Offset)
				}
				w.Flush()
				out.Unlock()
				seq += len(batch) - 1
			}
		}()
	}
	wg.Wait()
}

func crashEvent(round string, key, seq int) *event.Event {
	return &event.Event{ID: fmt.Sprintf("r%s-k%d-%d", round, key, seq), Source: "/crash", Type: "test.crash",
		SpecVersion: "1.0", PartitionKey: fmt.Sprintf("key-%d", key), DataContentType: "application/json",
		Data: []byte(fmt.Sprintf(`{"seq":%d}`, seq))}
}

type ack struct {
	partition int
	offset    int64
}

func TestCrash_SIGKILLKeepsEveryAcknowledgedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	dir := t.TempDir()
	rounds := 50
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	acked := map[string]ack{}
	for round := 0; round < rounds; round++ {
		for id, a := range runAndKill(t, dir, round, rng) {
			acked[id] = a
		}
		verifyCrashDir(t, dir, acked)
	}
	t.Logf("%d rounds, %d acknowledged events verified", rounds, len(acked))
}

// runAndKill starts the child, lets it publish for a random while after
// its first acknowledgement, SIGKILLs it and returns what it acknowledged.
func runAndKill(t *testing.T, dir string, round int, rng *rand.Rand) map[string]ack {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acks := map[string]ack{}
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	first := <-lines
	parseAck(t, first, acks)
	timer := time.After(time.Duration(rng.IntN(150)) * time.Millisecond)
	for killed := false; ; {
		select {
		case line, ok := <-lines:
			if !ok {
				cmd.Wait()
				return acks
			}
			parseAck(t, line, acks)
		case <-timer:
			if !killed {
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
			}
		}
	}
}

func parseAck(t *testing.T, line string, acks map[string]ack) {
	t.Helper()
	var id string
	var a ack
	if _, err := fmt.Sscanf(line, "ack %s %d %d", &id, &a.partition, &a.offset); err != nil {
		t.Fatalf("child said %q", line)
	}
	acks[id] = a
}

// verifyCrashDir reopens the directory and checks the invariants.
func verifyCrashDir(t *testing.T, dir string, acked map[string]ack) {
	t.Helper()
	e, err := log.Open(dir, log.Options{})
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer e.Close()
	b, err := New(e, Options{DefaultPartitions: 3, DedupDir: filepath.Join(dir, "dedup")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	seen := map[string]ack{}
	lastSeq := map[string]int{}
	for p := 0; p < 3; p++ {
		for _, ev := range readAll(t, b, crashTopic, p) {
			if _, dup := seen[ev.ID]; dup {
				t.Fatalf("event %s stored twice", ev.ID)
			}
			seen[ev.ID] = ack{ev.Partition, ev.Offset}
			round, seq := crashSeq(t, ev.ID)
			key := round + "/" + ev.PartitionKey
			if last, ok := lastSeq[key]; ok && seq <= last {
				t.Fatalf("key %s: seq %d stored after %d", key, seq, last)
			}
			lastSeq[key] = seq
		}
	}
	for id, a := range acked {
		if got, ok := seen[id]; !ok || got != a {
			t.Fatalf("acknowledged event %s at %v: found %v (present %v)", id, a, got, ok)
		}
	}
	res, err := b.Publish(ctx, crashTopic, []*event.Event{crashEvent("verify", 0, len(acked))})
	if err != nil || res[0].Duplicate {
		t.Fatalf("append after recovery: %v %v", res, err)
	}
	acked[res[0].ID] = ack{res[0].Partition, res[0].Offset}
}

func crashSeq(t *testing.T, id string) (string, int) {
	parts := strings.Split(id, "-")
	seq, err := strconv.Atoi(parts[len(parts)-1])
	if err != nil {
		t.Fatalf("bad id %q", id)
	}
	return parts[0], seq
}

func readAll(t *testing.T, b *Broker, topic string, p int) []*event.Event {
	t.Helper()
	ctx := context.Background()
	start, end, err := b.Offsets(ctx, topic, p)
	if err != nil {
		t.Fatal(err)
	}
	var all []*event.Event
	for off := start; off < end; {
		evs, err := b.Read(ctx, topic, p, off, 1000)
		if err != nil {
			t.Fatalf("read partition %d at %d: %v", p, off, err)
		}
		all = append(all, evs...)
		off = evs[len(evs)-1].Offset + 1
	}
	return all
}
