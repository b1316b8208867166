package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
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
	ln := limitConnections(raw, 2, nil)
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

// Over the limit a client is refused in its own protocol: an HTTP/2 client
// (gRPC), cleartext or over TLS, gets a GOAWAY saying why; an HTTP/1.1
// client over TLS gets the 503 after the handshake.
func TestLimitConnections_RefusesInTheClientsProtocol(t *testing.T) {
	ca := newTestCA(t)
	certPEM, keyPEM := ca.issue(t, 2, true)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.pem)
	for _, overTLS := range []bool{false, true} {
		raw, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var refusal *tls.Config
		scheme := "http"
		if overTLS {
			refusal, scheme = serverTLS, "https"
		}
		hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
		hs.Protocols = new(http.Protocols)
		hs.Protocols.SetHTTP1(true)
		hs.Protocols.SetHTTP2(true)
		hs.Protocols.SetUnencryptedHTTP2(true)
		ln := limitConnections(raw, 1, refusal)
		if overTLS {
			hs.TLSConfig = serverTLS.Clone()
			go hs.ServeTLS(ln, "", "")
		} else {
			go hs.Serve(ln)
		}
		held, err := net.Dial("tcp", raw.Addr().String()) // takes the one place
		if err != nil {
			t.Fatal(err)
		}
		client := func(h2 bool) *http.Client {
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, Protocols: new(http.Protocols)}
			switch {
			case !h2:
				tr.Protocols.SetHTTP1(true)
			case overTLS:
				tr.Protocols.SetHTTP2(true)
			default:
				tr.Protocols.SetUnencryptedHTTP2(true)
			}
			return &http.Client{Transport: tr, Timeout: 10 * time.Second}
		}
		url := scheme + "://" + raw.Addr().String() + "/"
		_, err = client(true).Get(url)
		if err == nil || !strings.Contains(err.Error(), "GOAWAY") || !strings.Contains(err.Error(), "ENHANCE_YOUR_CALM") {
			t.Errorf("HTTP/2 over the limit (TLS %v): %v, want a GOAWAY with ENHANCE_YOUR_CALM", overTLS, err)
		}
		if !overTLS { // the GOAWAY's debug data says why
			c, err := net.Dial("tcp", raw.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte(h2Preface + "\x00\x00\x00\x04\x00\x00\x00\x00\x00")) // preface, empty SETTINGS
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, _ := io.ReadAll(c)
			c.Close()
			if !strings.Contains(string(got), "too_many_connections") || got[3] != 0x4 || got[9+3] != 0x7 {
				t.Errorf("the raw HTTP/2 refusal %q: want SETTINGS, then GOAWAY saying too_many_connections", got)
			}
		}
		if overTLS {
			resp, err := client(false).Get(url)
			if err != nil {
				t.Fatalf("HTTP/1.1 over TLS over the limit: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 503 || !strings.Contains(string(body), "too_many_connections") {
				t.Errorf("HTTP/1.1 over TLS over the limit: %d %s", resp.StatusCode, body)
			}
		}
		held.Close()
		hs.Close()
	}
}
