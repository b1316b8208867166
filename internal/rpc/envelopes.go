package rpc

import (
	"encoding/binary"
	"io"
	"net/http"
	"sync"
)

// A gRPC message goes on the wire as a 5-byte prefix (flags and length)
// and the message, and connect writes them as two writes. Go's HTTP/2
// server and client each turn a write into frames of their own: the
// server's response writer has a 4 KiB buffer, so a larger message went
// out as one 4 KiB DATA frame and then the rest, each waited for in turn;
// the client's request body is a pipe it reads write by write, sending
// the prefix in a 5-byte DATA frame with a system call of its own. Joining
// the prefix to the message it belongs to makes each message one write
// on either side, at the cost of one copy on the server.

// maxHeld is the largest write held back to go with the next one: an
// envelope prefix.
const maxHeld = 5

// JoinEnvelopeWrites wraps a gRPC handler so that each message goes to
// the response in one write.
func JoinEnvelopeWrites(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jw := &joiningWriter{ResponseWriter: w}
		defer jw.writeHeld()
		h.ServeHTTP(jw, r)
	})
}

// joiningWriter holds a write of a prefix back and writes it together
// with the next one.
type joiningWriter struct {
	http.ResponseWriter
	held  [maxHeld]byte
	nheld int
	err   error // of writing held bytes alone
}

var joinBufs sync.Pool // *[]byte

// smallWrite is the size of the server's own buffer of a response: a
// prefix and a message that fit in it go out together without a copy.
const smallWrite = 4 << 10

// maxPooledJoin bounds the buffers kept for joining, so that one large
// message does not pin its size in the pool.
const maxPooledJoin = 1 << 20

func (w *joiningWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.nheld+len(p) <= maxHeld {
		w.nheld += copy(w.held[w.nheld:], p)
		return len(p), nil
	}
	if w.nheld == 0 {
		return w.ResponseWriter.Write(p)
	}
	if w.nheld+len(p) <= smallWrite {
		if w.writeHeld(); w.err != nil {
			return 0, w.err
		}
		return w.ResponseWriter.Write(p)
	}
	bp, _ := joinBufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b := append(append((*bp)[:0], w.held[:w.nheld]...), p...)
	w.nheld = 0
	_, err := w.ResponseWriter.Write(b)
	if cap(b) <= maxPooledJoin {
		*bp = b
		joinBufs.Put(bp)
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeHeld writes what is held back, if anything.
func (w *joiningWriter) writeHeld() {
	if w.nheld == 0 || w.err != nil {
		return
	}
	n := w.nheld
	w.nheld = 0
	_, w.err = w.ResponseWriter.Write(w.held[:n])
}

// Flush writes what is held back and flushes, through any writer that
// wraps the response and can be unwrapped.
func (w *joiningWriter) Flush() {
	w.writeHeld()
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the response writer.
func (w *joiningWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// JoinEnvelopeReads wraps a streaming request body (connect's pipe, which
// a read takes one write of at a time) so that a read that took just an
// envelope's prefix goes on to take its message, which connect writes
// right after it: the transport then sends both in one DATA frame. It
// follows the envelopes' lengths, so it never waits for bytes of another
// message.
func JoinEnvelopeReads(body io.ReadCloser) io.ReadCloser { return &joiningReader{ReadCloser: body} }

type joiningReader struct {
	io.ReadCloser
	left   int64         // bytes of the current message not yet read
	prefix [maxHeld]byte // of the next message, as far as read
	np     int
}

func (r *joiningReader) Read(p []byte) (int, error) {
	atPrefix := r.left == 0 && r.np == 0
	n, err := r.ReadCloser.Read(p)
	r.follow(p[:n])
	if atPrefix && n == maxHeld && r.left > 0 && err == nil && len(p) > n {
		m, err := r.ReadCloser.Read(p[n:])
		r.follow(p[n : n+m])
		return n + m, err
	}
	return n, err
}

// follow moves the envelope boundaries past b.
func (r *joiningReader) follow(b []byte) {
	for len(b) > 0 {
		if r.left > 0 {
			k := min(r.left, int64(len(b)))
			r.left -= k
			b = b[k:]
			continue
		}
		k := copy(r.prefix[r.np:], b)
		r.np += k
		b = b[k:]
		if r.np == maxHeld {
			r.left = int64(binary.BigEndian.Uint32(r.prefix[1:]))
			r.np = 0
		}
	}
}
