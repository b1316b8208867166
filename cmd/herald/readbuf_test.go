package main

import (
	"io"
	"net"
	"testing"
)

func TestBufferReads_OneReadTakesInWhatTheClientSent(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := bufferReads(raw)
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// Two HTTP/2 frames' worth in one write; the server reads a 9-byte
	// header first, as Go's HTTP/2 server does.
	sent := make([]byte, 100)
	for i := range sent {
		sent[i] = byte(i)
	}
	if _, err := client.Write(sent); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 9)
	if _, err := io.ReadFull(c, head); err != nil {
		t.Fatal(err)
	}
	bc := c.(*bufferedConn)
	if got := bc.Buffered(); got != len(sent)-len(head) {
		t.Errorf("after a 9-byte read, %d bytes are buffered; want the other %d the client sent", got, len(sent)-len(head))
	}
	rest := make([]byte, len(sent)-len(head))
	if _, err := io.ReadFull(c, rest); err != nil {
		t.Fatal(err)
	}
	if string(append(head, rest...)) != string(sent) {
		t.Error("the bytes read differ from those sent")
	}
	if bc.buf != nil {
		t.Error("a connection whose bytes were all read still holds a buffer")
	}

	// The server's half-close reaches the client; the connection still
	// reads.
	if err := bc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := client.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("the client read %d, %v after the server's CloseWrite; want EOF", n, err)
	}
	client.Write([]byte("x"))
	if b, err := io.ReadAll(io.LimitReader(c, 1)); err != nil || string(b) != "x" {
		t.Errorf("after CloseWrite the server read %q, %v; want x", b, err)
	}
}
