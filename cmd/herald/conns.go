package main

import (
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// limitListener accepts at most max connections at once. One more is
// refused at once, in the client's own protocol so that it sees why
// instead of waiting in the kernel's queue or failing on bytes it cannot
// read: HTTP/1.x gets 503 with Retry-After and a problem+json body;
// HTTP/2 (gRPC, with prior knowledge or negotiated over TLS) gets the
// server preface and a GOAWAY frame whose debug data says why. Over TLS
// the refusal first completes a handshake with the server's certificate.
type limitListener struct {
	net.Listener
	tls      *tls.Config   // the server's, for refusals over TLS; nil: plaintext
	refusing chan struct{} // bounds refusals in progress; past it a connection is just closed
	mu       sync.Mutex    // guards open
	open     int
	max      int
}

// maxRefusing bounds the refusals in progress: each holds a goroutine for
// up to a few seconds, and a flood must not turn them into a pile.
const maxRefusing = 256

// limitConnections limits ln to max connections (0: no limit). tlsConfig
// is the server's TLS configuration (certificates, and h2 and http/1.1
// offered), or nil when the server speaks plaintext.
func limitConnections(ln net.Listener, max int, tlsConfig *tls.Config) net.Listener {
	if max <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, max: max, tls: tlsConfig, refusing: make(chan struct{}, maxRefusing)}
}

const refusalDetail = "the server has as many connections open as it takes (herald serve --max-connections); retry in a moment"

// connRefusal is the whole HTTP/1.1 reply to a connection over the limit.
var connRefusal = func() string {
	body := `{"type":"https://herald.dev/problems/too_many_connections","title":"Too many connections","status":503,` +
		`"code":"too_many_connections","detail":"` + refusalDetail + `"}` + "\n"
	return "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/problem+json\r\nConnection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}()

// h2Refusal is the whole HTTP/2 reply: an empty SETTINGS frame (the
// server preface) and GOAWAY with last stream 0 (no request was processed,
// so a client may retry) and ENHANCE_YOUR_CALM, saying why in its debug
// data.
var h2Refusal = func() []byte {
	frame := func(typ byte, payload []byte) []byte {
		h := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typ, 0, 0, 0, 0, 0}
		return append(h, payload...)
	}
	const settings, goAway, enhanceYourCalm = 0x4, 0x7, 0xb
	payload := binary.BigEndian.AppendUint32(nil, 0) // last stream id
	payload = binary.BigEndian.AppendUint32(payload, enhanceYourCalm)
	payload = append(payload, "too_many_connections: "+refusalDetail...)
	return append(frame(settings, nil), frame(goAway, payload)...)
}()

// h2Preface starts every HTTP/2 connection with prior knowledge (h2c).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

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
		select {
		case l.refusing <- struct{}{}:
			go func() {
				defer func() { <-l.refusing }()
				l.refuse(c)
			}()
		default:
			c.Close()
		}
	}
}

// refuse answers a connection over the limit in its protocol and closes
// it, giving the client a moment to read the answer first.
func (l *limitListener) refuse(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	proto := ""
	if l.tls != nil {
		tc := tls.Server(c, l.tls)
		if err := tc.Handshake(); err != nil {
			return
		}
		c, proto = tc, tc.ConnectionState().NegotiatedProtocol
	}
	if proto == "" {
		// Prior knowledge HTTP/2 starts with its preface; an HTTP/1 client
		// with a request line (or, quiet, it is answered in HTTP/1.1).
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		start := make([]byte, 3)
		n, _ := io.ReadFull(c, start)
		if n == 3 && string(start) == h2Preface[:3] {
			proto = "h2"
		}
	}
	if proto == "h2" {
		c.Write(h2Refusal)
	} else {
		c.Write([]byte(connRefusal))
	}
	// Read (and drop) what the client still sends until it closes: closing
	// with unread bytes would reset the connection before it read ours.
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	io.Copy(io.Discard, io.LimitReader(c, 1<<20))
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
