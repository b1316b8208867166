package main

import (
	"net"
	"strconv"
	"sync"
	"time"
)

// limitListener accepts at most max connections at once. One more is
// answered at once with 503 and Retry-After and closed, so a client sees
// why, instead of waiting in the kernel's queue.
type limitListener struct {
	net.Listener
	mu   sync.Mutex // guards open
	open int
	max  int
}

func limitConnections(ln net.Listener, max int) net.Listener {
	if max <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, max: max}
}

// connRefusal is the whole reply to a connection over the limit.
var connRefusal = func() string {
	body := `{"type":"https://herald.dev/problems/too_many_connections","title":"Too many connections","status":503,` +
		`"code":"too_many_connections","detail":"the server has as many connections open as it takes (herald serve --max-connections); retry in a moment"}` + "\n"
	return "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/problem+json\r\nConnection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}()

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		full := l.open >= l.max
		if !full {
			l.open++
		}
		l.mu.Unlock()
		if !full {
			return &countedConn{Conn: c, l: l}, nil
		}
		go refuse(c)
	}
}

func refuse(c net.Conn) {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	c.Write([]byte(connRefusal))
	c.Close()
}

// countedConn gives its place back when closed (once).
type countedConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
