package push

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/subscription"
)

const (
	maxRetryAfter = time.Hour // a receiver cannot park an event for longer
	maxReplyRead  = 64 << 10  // reply bytes read (and so the connection reused)
	maxHint       = 200       // reply bytes quoted in a nack reason
)

// result is how one POST ended.
type result struct {
	ok     bool
	reason string        // why it failed
	delay  time.Duration // before the redelivery, from Retry-After; 0: the subscription's backoff
}

// deliver POSTs one delivery, acks or nacks it, then frees its slot.
func (p *Pusher) deliver(d subscription.Delivery) {
	defer p.wg.Done()
	defer p.release(1)
	p.settle(d, p.post(d))
}

func (p *Pusher) post(d subscription.Delivery) result {
	req, err := p.request(d)
	if err != nil {
		return result{reason: "push: " + err.Error()}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return result{reason: p.errorReason(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The body is the raw connection, beyond the client's timeout:
		// closing it unread ends the connection.
		return result{reason: statusReason(resp, nil)}
	}
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, maxReplyRead))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return result{ok: true}
	}
	return result{reason: statusReason(resp, reply), delay: retryAfter(resp, p.now())}
}

// request builds the POST of d: CloudEvents binary mode plus Herald's
// headers.
func (p *Pusher) request(d subscription.Delivery) (*http.Request, error) {
	h := http.Header{}
	body, err := encode(d.Event, h)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(p.sendCtx, http.MethodPost, p.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", "Herald-Push/1")
	req.Header.Set(AttemptHeader, strconv.Itoa(d.Attempt))
	req.Header.Set(SubscriptionHeader, p.topic+"/"+p.name)
	if p.cfg.Secret != "" {
		req.Header.Set(SignatureHeader, Sign(p.cfg.Secret, p.now(), body))
	}
	return req, nil
}

// encode writes e in binary mode, or in structured mode when its
// datacontenttype is a CloudEvents format: in binary mode that is the
// Content-Type, and receivers would take the data for the event.
func encode(e *event.Event, h http.Header) ([]byte, error) {
	if !event.IsFormat(e.DataContentType) {
		return event.ToHTTP(e, h), nil
	}
	h.Set("Content-Type", event.MediaTypeStructured)
	return e.MarshalJSON()
}

// settle records the outcome of a POST. It runs even while stopping: the
// lease is this Pusher's, and only it can end it before it expires.
func (p *Pusher) settle(d subscription.Delivery, r result) {
	ctx, ids := context.Background(), []string{d.AckID}
	var res subscription.AckResult
	var err error
	if r.ok {
		res, err = p.m.Ack(ctx, p.topic, p.name, ids)
	} else {
		res, err = p.m.Nack(ctx, p.topic, p.name, ids, r.delay, r.reason)
	}
	switch {
	case err != nil:
		p.log.Warn("push: cannot record a delivery's outcome; it is redelivered when its lease expires",
			"ackId", d.AckID, "delivered", r.ok, "error", err)
	case len(res.Acked) == 0:
		p.log.Warn("push: a delivery's lease ended before its outcome was recorded; it is redelivered",
			"ackId", d.AckID, "delivered", r.ok)
	case !r.ok:
		p.log.Debug("push: delivery failed", "ackId", d.AckID, "attempt", d.Attempt, "reason", r.reason)
	}
}

// errorReason names a POST that got no reply.
func (p *Pusher) errorReason(err error) string {
	switch {
	case p.sendCtx.Err() != nil:
		return "push: stopped before the receiver replied"
	case isTimeout(err):
		return fmt.Sprintf("push: timeout after %s", p.cfg.Timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL may carry credentials; the reason is stored in dead letters
	}
	return "push: " + err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// statusReason names a reply that is not 2xx, quoting the start of a text
// or JSON reply: "push: 500 Internal Server Error: database down".
func statusReason(resp *http.Response, reply []byte) string {
	s := "push: " + strconv.Itoa(resp.StatusCode)
	if text := http.StatusText(resp.StatusCode); text != "" {
		s += " " + text
	}
	if h := hint(resp.Header.Get("Content-Type"), reply); h != "" {
		s += ": " + h
	}
	return s
}

// hint returns the first line of a short text or JSON reply, or "".
func hint(contentType string, reply []byte) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	textual := strings.HasPrefix(mt, "text/") && mt != "text/html" ||
		strings.HasSuffix(mt, "/json") || strings.HasSuffix(mt, "+json")
	if !textual {
		return ""
	}
	// Only the quoted part must be UTF-8: the reply read may end inside a
	// character (it is read up to maxReplyRead).
	line, _, _ := strings.Cut(string(reply), "\n")
	line = strings.TrimSpace(line)
	more := ""
	if len(line) > maxHint {
		i := maxHint
		for i > 0 && !utf8.RuneStart(line[i]) {
			i--
		}
		line, more = line[:i], "…"
	}
	if !utf8.ValidString(line) {
		return ""
	}
	line = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, line))
	if line == "" {
		return ""
	}
	return line + more
}

// retryAfter reads Retry-After (seconds or an HTTP date) of a 429 or 503
// reply, at most maxRetryAfter; 0 when absent.
func retryAfter(resp *http.Response, now time.Time) time.Duration {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0
	}
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) { // too many digits: the largest (or smallest) int64
		d = time.Duration(min(max(secs, 0), int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}
