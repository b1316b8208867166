package main

import (
	"bufio"
	"io"
	"net"
)

// connReadBuffer is the read buffer of each plaintext connection.
//
// Go's HTTP/2 server reads each frame from the connection in two reads,
// its 9-byte header and then its payload, and over cleartext (h2c, the
// gRPC clients' usual way to reach Herald) nothing buffers underneath:
// every small frame (a settlement, a flow grant, a single-event publish,
// a WINDOW_UPDATE) cost two read system calls. With the buffer, one read
// takes in whatever the client has sent. HTTP/1.1 and TLS buffer their
// reads already, which costs one copy more here and nothing else. A
// payload as large as the buffer is read straight into the caller's
// slice (bufio skips its own buffer when it is empty).
const connReadBuffer = 8 << 10

// bufferReads wraps ln so that each connection it accepts reads through a
// buffer.
func bufferReads(ln net.Listener) net.Listener { return readBufferListener{ln} }

type readBufferListener struct{ net.Listener }

func (l readBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, connReadBuffer)}, nil
}

// bufferedConn reads through r; everything else goes to the connection.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader // every read goes through it, never around it
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

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
