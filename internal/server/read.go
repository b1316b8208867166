package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldevents/herald/event"
)

// Read limits.
const (
	DefaultReadLimit = 100
	MaxReadLimit     = 10000
	MaxWait          = 30 * time.Second
)

// readParams are the query parameters of GET /v1/topics/{topic}/events.
type readParams struct {
	partition int
	offset    int64      // -1: from since, or from the start
	since     *time.Time // nil: not given (any time, the zero one too, is a given since)
	limit     int
	wait      time.Duration
}

// readEvents reads a partition without a subscription.
func (s *Server) readEvents(w http.ResponseWriter, r *http.Request) {
	events, err := s.read(r)
	if err == nil {
		var b []byte
		if b, err = event.EncodeBatch(events); err == nil {
			s.writeBody(w, r, http.StatusOK, event.MediaTypeBatch, b)
			return
		}
	}
	s.writeError(w, r, err)
}

func (s *Server) read(r *http.Request) ([]*event.Event, error) {
	topic, err := topicName(r)
	if err != nil {
		return nil, err
	}
	values, err := query(r)
	if err != nil {
		return nil, err
	}
	q, err := parseReadParams(values)
	if err != nil {
		return nil, err
	}
	offset, err := s.startOffset(r.Context(), topic, q)
	if err != nil {
		return nil, err
	}
	events, err := s.broker.Read(r.Context(), topic, q.partition, offset, q.limit)
	if err != nil || len(events) > 0 || q.wait <= 0 {
		return events, err
	}
	done, err := s.admitWait()
	if err != nil {
		return nil, err
	}
	defer done()
	if !s.waitForData(r.Context(), topic, q.partition, offset, q.wait) {
		return events, nil
	}
	return s.broker.Read(r.Context(), topic, q.partition, offset, q.limit)
}

// startOffset resolves the offset to read from.
func (s *Server) startOffset(ctx context.Context, topic string, q readParams) (int64, error) {
	switch {
	case q.offset >= 0:
		return q.offset, nil
	case q.since != nil:
		return s.broker.OffsetForTime(ctx, topic, q.partition, *q.since)
	}
	start, _, err := s.broker.Offsets(ctx, topic, q.partition)
	return start, err
}

// waitForData waits up to d for the partition to grow past end, or until
// the server closes. It reports whether it did (or may have).
func (s *Server) waitForData(ctx context.Context, topic string, partition int, end int64, d time.Duration) bool {
	ctx, cancel := s.untilClosed(ctx)
	defer cancel()
	return s.broker.WaitData(ctx, topic, partition, end, d)
}

// query parses the request's query. A pair that does not parse (a bad
// %-escape, a ';' separator) is refused: r.URL.Query() would drop it, and
// the request would be served as if it had not been given.
func query(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: %w: separate parameters with '&' and %%-encode '%%', '&', '+', ';' and '#' in values",
			errInvalidParameter, err)
	}
	return q, nil
}

// parseReadParams checks the query. Unknown parameters are errors, so
// that a typo does not silently read something else.
func parseReadParams(q url.Values) (readParams, error) {
	p := readParams{offset: -1, limit: DefaultReadLimit}
	for name, values := range q {
		if len(values) != 1 {
			return p, fmt.Errorf("%w: %s is given %d times", errInvalidParameter, name, len(values))
		}
		if err := p.set(name, values[0]); err != nil {
			return p, fmt.Errorf("%w: %w", errInvalidParameter, err)
		}
	}
	if p.offset >= 0 && p.since != nil {
		return p, fmt.Errorf("%w: give offset or since, not both", errInvalidParameter)
	}
	return p, nil
}

func (p *readParams) set(name, v string) error {
	var err error
	switch name {
	case "partition":
		var n int64
		n, err = intParam(name, v, 0, 1<<31-1)
		p.partition = int(n)
	case "offset":
		p.offset, err = intParam(name, v, 0, 1<<63-1)
	case "limit":
		var n int64
		n, err = intParam(name, v, 1, MaxReadLimit)
		p.limit = int(n)
	case "since":
		var t time.Time
		if t, err = event.ParseTime(v); err != nil {
			err = fmt.Errorf("since=%q is not an RFC 3339 time such as 2024-05-01T12:00:00Z", v)
			if strings.Contains(v, " ") {
				err = fmt.Errorf("%w (a '+' in a query is read as a space: send it as %%2B)", err)
			}
		}
		p.since = &t
	case "wait":
		p.wait, err = waitParam(v)
	default:
		err = fmt.Errorf("unknown parameter %q (known: partition, offset, since, limit, wait)", name)
	}
	return err
}

func intParam(name, v string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case err == nil && n >= lo && n <= hi:
		return n, nil
	case hi == 1<<63-1:
		return 0, fmt.Errorf("%s=%q: must be an integer of at least %d", name, v, lo)
	}
	return 0, fmt.Errorf("%s=%q: must be an integer from %d to %d", name, v, lo, hi)
}

func waitParam(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > MaxWait {
		return 0, fmt.Errorf("wait=%q: must be a duration from 0s to %s, such as 10s", v, FormatDuration(MaxWait))
	}
	return d, nil
}
