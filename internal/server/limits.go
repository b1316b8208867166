package server

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
)

// Overload limits: past them a request is refused at once with 429 and a
// Retry-After, instead of queueing until memory runs out.
const (
	DefaultMaxPublishBytes = 256 << 20 // request bodies of publishes being handled at once
	DefaultMaxWaiting      = 1024      // long polls, waiting reads and delivery streams at once
)

// errOverloaded is a request refused because the server is at a limit; the
// client should retry after a pause.
var errOverloaded = errors.New("server overloaded")

// budget is a count that requests take from and give back; take never
// waits.
type budget struct {
	mu   sync.Mutex // guards used
	used int64
	max  int64
	what string // for the error: "publish bytes", "waiting requests"
}

func (b *budget) take(n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used > 0 && b.used+n > b.max { // one request alone always fits
		return fmt.Errorf("%w: %d of %d %s in use; retry in a moment", errOverloaded, b.used, b.max, b.what)
	}
	b.used += n
	return nil
}

func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

func (b *budget) give(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// admitPublish takes the request's body size (or the body limit, when
// unknown) from the publish budget; done gives it back.
func (s *Server) admitPublish(r *http.Request) (done func(), err error) {
	n := r.ContentLength
	if n < 0 || n > s.opts.MaxBodyBytes {
		n = s.opts.MaxBodyBytes
	}
	if err := s.publishBudget.take(n); err != nil {
		return nil, err
	}
	return func() { s.publishBudget.give(n) }, nil
}

// admitBytes takes n bytes from the publish budget (gRPC publishes, whose
// size is known once decoded).
func (s *Server) admitBytes(n int64) (done func(), err error) {
	if err := s.publishBudget.take(n); err != nil {
		return nil, err
	}
	return func() { s.publishBudget.give(n) }, nil
}

// admitWait takes one of the places for requests that wait (long polls,
// waiting reads, streams).
func (s *Server) admitWait() (done func(), err error) {
	if err := s.waitBudget.take(1); err != nil {
		return nil, err
	}
	return func() { s.waitBudget.give(1) }, nil
}
