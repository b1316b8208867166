package herald_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/heraldevents/herald"
)

// Open without a directory is refused, saying so, and leaves nothing
// behind: it made the working directory a half-made data directory
// (topics/ and LOCK) and failed syncing "".
func TestOpen_AnEmptyDirectoryIsRefusedAndCreatesNothing(t *testing.T) {
	wd := t.TempDir()
	t.Chdir(wd)
	c, err := herald.Open("")
	if err == nil {
		c.Close()
		t.Fatal("Open(\"\") opened")
	}
	if !strings.Contains(err.Error(), "no data directory") {
		t.Errorf("Open(\"\"): %v, want it to say no data directory was given", err)
	}
	if left, _ := os.ReadDir(wd); len(left) != 0 {
		t.Errorf("Open(\"\") left %d entries in the working directory (%s, …)", len(left), left[0].Name())
	}
}

// A second Open of a directory in use is refused, naming it, and the
// first client goes on unharmed; once it is closed the directory opens
// again with everything it stored.
func TestOpen_ADirectoryInUseIsRefusedAndLeftWhole(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	first, err := herald.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(c *herald.Client, id string) error {
		_, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop"), herald.WithID(id)))
		return err
	}
	if err := publish(first, "o-1"); err != nil {
		t.Fatal(err)
	}
	if second, err := herald.Open(dir); err == nil || !strings.Contains(err.Error(), "in use") {
		if second != nil {
			second.Close()
		}
		t.Fatalf("second Open: %v, want it refused as in use", err)
	}
	if err := publish(first, "o-2"); err != nil {
		t.Fatalf("publish after the refused Open: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := herald.Open(dir)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	defer again.Close()
	if got, err := again.Read(ctx, "orders", 0, 0, 10); err != nil || len(got) != 2 || got[1].ID != "o-2" {
		t.Fatalf("read after reopening: %v, %v; want o-1 and o-2", got, err)
	}
}

// Options that cannot mean what was given are refused by Open, opening
// nothing, as herald serve refuses its flags: an unknown sync mode never
// fsynced (SyncNone's behaviour, silently), and a default partition count
// out of 1..10000 was made 1 or failed every publish that creates a topic.
func TestOpen_RefusesOptionsOutOfRange(t *testing.T) {
	for name, opt := range map[string]herald.OpenOption{
		"sync mode 3":              herald.WithSync(herald.SyncMode(3)),
		"sync mode -1":             herald.WithSync(herald.SyncMode(-1)),
		"0 default partitions":     herald.WithDefaultPartitions(0),
		"-1 default partitions":    herald.WithDefaultPartitions(-1),
		"10001 default partitions": herald.WithDefaultPartitions(10001),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			c, err := herald.Open(dir, opt)
			if err == nil {
				c.Close()
				t.Fatal("Open took it")
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("the refused Open left %s in the directory", left[0].Name())
			}
		})
	}
	for _, n := range []int{1, 10000} {
		c, err := herald.Open(t.TempDir(), herald.WithDefaultPartitions(n))
		if err != nil {
			t.Fatalf("%d default partitions: %v", n, err)
		}
		c.Close()
	}
}
