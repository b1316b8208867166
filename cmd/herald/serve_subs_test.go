package main

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startServe runs `herald serve` on dir (with more args, if given) and
// returns its URL, and a stop function that interrupts it and returns how
// long it took to exit.
func startServe(t *testing.T, dir string, args ...string) (url string, stop func() time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
		done <- a.execute(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dir}, args...))
	}()
	line := regexp.MustCompile(`^herald listening on (http://127\.0\.0\.1:\d+) `)
	waitFor(t, func() bool { return line.MatchString(out.String()) })
	return line.FindStringSubmatch(out.String())[1], func() time.Duration {
		start := time.Now()
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("serve exited %d: %s", code, errOut.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatal("serve did not shut down")
		}
		return time.Since(start)
	}
}

func TestServe_SubscriptionsSurviveARestartAndLongPollsDoNotHoldUpShutdown(t *testing.T) {
	dir := t.TempDir()
	url, stop := startServe(t, dir)
	env := &cliEnv{t: t, url: url}
	env.mustRun("topics", "create", "orders")
	env.mustRun("subs", "create", "orders", "billing", "--start", "earliest")
	env.publishN(0, 2)
	if got := deliveryLines(t, env.mustRun("consume", "orders", "billing", "--max", "1")); len(got) != 2 {
		t.Fatalf("consumed %d, want 2", len(got))
	}
	env.publishN(2, 1)

	env.mustRun("subs", "create", "orders", "other") // starts at the end: its pull waits
	pulled := make(chan int, 1)
	go func() {
		resp, err := http.Post(url+"/v1/topics/orders/subscriptions/other/pull", "application/json", strings.NewReader(`{"wait":"25s"}`))
		if err != nil {
			pulled <- 0
			return
		}
		resp.Body.Close()
		pulled <- resp.StatusCode
	}()
	time.Sleep(200 * time.Millisecond)
	if took := stop(); took > 10*time.Second {
		t.Errorf("shutdown took %s with a waiting pull", took)
	}
	if status := <-pulled; status != http.StatusOK {
		t.Errorf("the waiting pull got %d, want an empty 200 reply", status)
	}

	url, stop = startServe(t, dir)
	defer stop()
	env = &cliEnv{t: t, url: url}
	got := deliveryLines(t, env.mustRun("consume", "orders", "billing"))
	if len(got) != 1 || got[0].Event.ID != "id-2" || got[0].Attempt != 1 {
		t.Fatalf("after the restart consumed %+v, want only id-2", got)
	}
}
