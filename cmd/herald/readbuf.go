package main

import (
	"io"
	"net"
	"sync"
)

// connReadBuffer is the size of the read buffer of each plaintext
// connection.
//
// Go's HTTP/2 server reads each frame from the connection in two reads,
// its 9-byte header and then its payload, and over cleartext (h2c, the
// gRPC clients' usual way to reach Herald) nothing buffers underneath:
// every small frame (a settlement, a flow grant, a single-event publish,
// a WINDOW_UPDATE) cost two read system calls. With the buffer, one read
// takes in whatever the client has sent. HTTP/1.1 and TLS buffer their
// reads already, which costs one copy more here and nothing else. A read
// as large as the buffer goes straight into the caller's slice, and a
// connection holds a buffer only while it has bytes in it: idle ones
// (up to --max-connections of them) hold none.
const connReadBuffer = 8 << 10

var connReadBufs = sync.Pool{New: func() any { return new([connReadBuffer]byte) }}

// bufferReads wraps ln so that each connection it accepts reads through a
// buffer.
func bufferReads(ln net.Listener) net.Listener { return readBufferListener{ln} }

type readBufferListener struct{ net.Listener }

func (l readBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: c}, nil
}

// bufferedConn reads through a pooled buffer; everything else goes to the
// connection. Reads are not concurrent (net/http reads a connection from
// one goroutine at a time).
type bufferedConn struct {
	net.Conn
	buf  *[connReadBuffer]byte // nil when empty
	r, w int                   // buf[r:w] is unread
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.buf == nil {
		if len(p) >= connReadBuffer {
			return c.Conn.Read(p)
		}
		buf := connReadBufs.Get().(*[connReadBuffer]byte)
		n, err := c.Conn.Read(buf[:])
		if n == 0 {
			connReadBufs.Put(buf)
			return 0, err
		}
		c.buf, c.r, c.w = buf, 0, n
		if err != nil {
			// Bytes and an error at once: hand out the bytes; the
			// connection gives the error again on the next read.
			err = nil
		}
	}
	n := copy(p, c.buf[c.r:c.w])
	c.r += n
	if c.r == c.w {
		connReadBufs.Put(c.buf)
		c.buf = nil
	}
	return n, nil
}

// Buffered is how many bytes were read from the connection and not yet
// from c.
func (c *bufferedConn) Buffered() int { return c.w - c.r }

// ReadFrom keeps the connection's own ReadFrom (sendfile, splice) for
// what is written to it.
func (c *bufferedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite half-closes the connection where it can, as net/http does
// when it ends an HTTP/1.1 connection cleanly.
func (c *bufferedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
