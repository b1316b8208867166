package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Past --max-connections a connection is answered with 503 and
// Retry-After and closed; a place freed is taken again.
func TestLimitConnections_OneMoreGets503AndAFreedPlaceIsReused(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limitConnections(raw, 2)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { // an idle server: holds the connection until the client goes
				buf := make([]byte, 1)
				c.Read(buf)
				c.Close()
			}()
		}
	}()
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	third, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(third), nil)
	if err != nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("the connection over the limit: %v %v", resp, err)
	}
	var b strings.Builder
	bufio.NewReader(resp.Body).WriteTo(&b)
	if !strings.Contains(b.String(), "too_many_connections") {
		t.Fatalf("body %q", b.String())
	}
	held[0].Write([]byte("x")) // the server closes it, freeing a place
	held[0].Close()
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(timeNowPlus(200))
		buf := make([]byte, 12)
		n, _ := c.Read(buf)
		c.Close()
		if n == 0 { // held open, not refused
			break
		}
		if i == 50 {
			t.Fatal("a freed place was never given to a new connection")
		}
	}
	held[1].Close()
}

func timeNowPlus(ms int) time.Time { return time.Now().Add(time.Duration(ms) * time.Millisecond) }

// A client that sends its headers too slowly (slowloris) is cut off after
// --read-header-timeout, and the server keeps serving others.
func TestServe_SlowHeadersAreCutOff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
		done <- a.execute(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--read-header-timeout", "300ms"})
	}()
	line := regexp.MustCompile(`^herald listening on http://(127\.0\.0\.1:\d+) `)
	waitFor(t, func() bool { return line.MatchString(out.String()) })
	addr := line.FindStringSubmatch(out.String())[1]
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")) // and never the blank line
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.Copy(io.Discard, c) // returns when the server closes the connection
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("the slow client was cut off after %s, want about 300ms", took)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the server after a slow client: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	<-done
}
