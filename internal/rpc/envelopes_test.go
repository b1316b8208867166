package rpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// envelopePrefix returns a gRPC envelope prefix for a message of n bytes.
func envelopePrefix(n int) []byte {
	return binary.BigEndian.AppendUint32([]byte{0}, uint32(n))
}

// message returns n bytes that tell where they came from.
func message(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}

// recordingWriter records each write that reaches the response.
type recordingWriter struct {
	*httptest.ResponseRecorder
	writes [][]byte
	fail   error
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	if w.fail != nil {
		return 0, w.fail
	}
	w.writes = append(w.writes, bytes.Clone(p))
	return w.ResponseRecorder.Write(p)
}

func TestJoinEnvelopeWrites_AMessageGoesInOneWriteWithItsPrefix(t *testing.T) {
	for _, size := range []int{0, 3, 100, smallWrite - maxHeld, smallWrite, 10 << 10, 300 << 10} {
		rec := &recordingWriter{ResponseRecorder: httptest.NewRecorder()}
		h := JoinEnvelopeWrites(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for i := range 3 { // as connect writes: the prefix, then the message, then a flush
				w.Write(envelopePrefix(size))
				w.Write(message(byte(i), size))
				w.(http.Flusher).Flush()
			}
		}))
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
		var want []byte
		for i := range 3 {
			want = append(append(want, envelopePrefix(size)...), message(byte(i), size)...)
		}
		if got := rec.Body.Bytes(); !bytes.Equal(got, want) {
			t.Fatalf("size %d: the response has %d bytes, want %d in order", size, len(got), len(want))
		}
		// A message larger than the server's own buffer goes in one write
		// with its prefix; a smaller one may go in two, which that buffer
		// joins.
		if size+maxHeld > smallWrite && len(rec.writes) != 3 {
			t.Errorf("size %d: %d writes reached the response, want one per message (3)", size, len(rec.writes))
		}
	}
}

func TestJoinEnvelopeWrites_WhatIsHeldGoesAtTheEndOrOnFlush(t *testing.T) {
	rec := &recordingWriter{ResponseRecorder: httptest.NewRecorder()}
	flushed := false
	h := JoinEnvelopeWrites(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte{1, 2})
		w.(http.Flusher).Flush()
		flushed = rec.Body.Len() == 2 && rec.Flushed
		w.Write([]byte{3, 4, 5}) // held, and the handler returns
	}))
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if !flushed {
		t.Error("Flush did not write what was held, or did not flush")
	}
	if got := rec.Body.Bytes(); !bytes.Equal(got, []byte{1, 2, 3, 4, 5}) {
		t.Errorf("the response is %v, want [1 2 3 4 5]", got)
	}
}

func TestJoinEnvelopeWrites_AFailedWriteFailsTheMessage(t *testing.T) {
	broken := errors.New("connection reset")
	rec := &recordingWriter{ResponseRecorder: httptest.NewRecorder(), fail: broken}
	var errs []error
	h := JoinEnvelopeWrites(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := w.Write(envelopePrefix(10 << 10))
		errs = append(errs, err)
		_, err = w.Write(message(0, 10<<10))
		errs = append(errs, err)
	}))
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if errs[0] != nil || !errors.Is(errs[1], broken) {
		t.Errorf("errors %v, want the prefix held (nil) and the message's write failing with %v", errs, broken)
	}
}

func TestJoinEnvelopeWrites_ResponseControllerReachesTheWriter(t *testing.T) {
	rec := &recordingWriter{ResponseRecorder: httptest.NewRecorder()}
	var err error
	h := JoinEnvelopeWrites(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte{9})
		err = http.NewResponseController(w).Flush()
	}))
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if err != nil || !rec.Flushed || rec.Body.Len() != 1 {
		t.Errorf("ResponseController.Flush: %v, flushed %v, %d bytes", err, rec.Flushed, rec.Body.Len())
	}
}

// writeEnvelopes writes envelopes to a pipe the way connect does: the
// prefix, then the message, as two writes.
func writeEnvelopes(w *io.PipeWriter, sizes []int) {
	for i, n := range sizes {
		w.Write(envelopePrefix(n))
		w.Write(message(byte(i), n))
	}
}

func TestJoinEnvelopeReads_APrefixIsReadWithItsMessage(t *testing.T) {
	sizes := []int{100, 0, 5, 1, 4 << 10}
	pr, pw := io.Pipe()
	go func() {
		writeEnvelopes(pw, sizes)
		pw.Close()
	}()
	r := JoinEnvelopeReads(pr)
	buf := make([]byte, 64<<10)
	var got []byte
	reads := 0
	for {
		n, err := r.Read(buf)
		if n > 0 {
			reads++
			got = append(got, buf[:n]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	var want []byte
	for i, n := range sizes {
		want = append(append(want, envelopePrefix(n)...), message(byte(i), n)...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want %d in order", len(got), len(want))
	}
	// Each message with bytes comes with its prefix; the empty one's
	// prefix is read alone (its empty write ends no read).
	if wantReads := len(sizes); reads != wantReads {
		t.Errorf("%d reads returned bytes, want %d (one per message)", reads, wantReads)
	}
}

func TestJoinEnvelopeReads_NeverWaitsForTheNextMessage(t *testing.T) {
	// A message larger than the reader's buffer is read in pieces; a
	// piece of 5 bytes at its end is not a prefix, and the read must not
	// wait for more: nothing more is written until it returns.
	const size = 64<<10 + 5 - maxHeld // prefix + message = 64 KiB + 5
	pr, pw := io.Pipe()
	r := JoinEnvelopeReads(pr)
	go writeEnvelopes(pw, []int{size})
	buf := make([]byte, 64<<10)
	total := 0
	for total < maxHeld+size {
		done := make(chan int, 1)
		go func() {
			n, _ := r.Read(buf)
			done <- n
		}()
		select {
		case n := <-done:
			total += n
		case <-time.After(10 * time.Second):
			t.Fatalf("a read waits for bytes not yet written, after %d of %d", total, maxHeld+size)
		}
	}
	pw.Close()
	if n, err := r.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("after the message: %d, %v; want 0, EOF", n, err)
	}
}
