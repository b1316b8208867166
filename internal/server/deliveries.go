package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldevents/herald/internal/subscription"
)

// Pull and ack limits.
const (
	DefaultPull = 10                     // deliveries per pull when max is not given
	MaxPull     = subscription.MaxPull   // most deliveries per pull
	MaxAckIDs   = subscription.MaxAckIDs // most ack ids per ack, nack or extend
	MaxDelay    = subscription.MaxDelay  // longest nack delay or lease extension

	// MaxActorBytes bounds a redrive's actor, which the audit trail keeps
	// for good.
	MaxActorBytes = 256
)

// pull leases up to max events of a subscription, waiting up to wait for
// the first one.
func (s *Server) pull(w http.ResponseWriter, r *http.Request) {
	topic, name, req, err := s.pullRequest(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.wait > 0 {
		done, err := s.admitWait()
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		defer done()
	}
	ctx, cancel := s.untilClosed(r.Context())
	defer cancel()
	ds, err := s.subs.PullRemote(ctx, topic, name, req.max, req.wait)
	if err != nil {
		s.writeError(w, r, s.subError(r.Context(), topic, err))
		return
	}
	b, err := appendPullReply(nil, ds)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeBody(w, r, http.StatusOK, mediaJSON, b)
}

// appendPullReply renders a PullReply by hand: json.Marshal would scan
// and compact each event's own JSON once more, which was a quarter of a
// pull's cost.
func appendPullReply(b []byte, ds []subscription.Delivery) ([]byte, error) {
	b = append(b, `{"deliveries":[`...)
	for i, d := range ds {
		if i > 0 {
			b = append(b, ',')
		}
		ev, err := d.Event.MarshalJSON()
		if err != nil {
			return nil, err
		}
		b = append(b, `{"ackId":`...)
		b = strconv.AppendQuote(b, d.AckID)
		b = append(b, `,"attempt":`...)
		b = strconv.AppendInt(b, int64(d.Attempt), 10)
		b = append(b, `,"event":`...)
		b = append(b, ev...)
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}

type pullParams struct {
	max  int
	wait time.Duration
}

func (s *Server) pullRequest(w http.ResponseWriter, r *http.Request) (topic, name string, p pullParams, err error) {
	if topic, name, err = subscriptionPath(r); err != nil {
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return
	}
	var req PullRequest
	if err = decodeObject(body, &req, errInvalidArgument, "max, wait"); err != nil {
		return
	}
	p, err = req.params()
	return
}

func (req PullRequest) params() (pullParams, error) {
	p := pullParams{max: DefaultPull}
	if req.Max != nil {
		if *req.Max < 1 || *req.Max > MaxPull {
			return p, fmt.Errorf("%w: max %d: must be from 1 to %d", errInvalidArgument, *req.Max, MaxPull)
		}
		p.max = *req.Max
	}
	if req.Wait != nil {
		d, err := time.ParseDuration(*req.Wait)
		if err != nil || d < 0 || d > MaxWait {
			return p, fmt.Errorf("%w: wait %q: must be a duration from 0s to %s, such as \"10s\"", errInvalidArgument, *req.Wait, FormatDuration(MaxWait))
		}
		p.wait = d
	}
	return p, nil
}

// untilClosed returns a context that also ends when the server closes, so
// that a long poll does not hold up a shutdown.
func (s *Server) untilClosed(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// ack acknowledges deliveries; the reply is sent once the acks are durable.
func (s *Server) ack(w http.ResponseWriter, r *http.Request) {
	var req AckRequest
	s.settle(w, r, &req, "ackIds", func(ctx context.Context, topic, name string) (subscription.AckResult, error) {
		if err := checkAckIDs(req.AckIDs); err != nil {
			return subscription.AckResult{}, err
		}
		return s.subs.Ack(ctx, topic, name, req.AckIDs)
	})
}

// nack gives deliveries back for redelivery after a delay (default: the
// backoff), or to the dead-letter topic when they are out of attempts.
func (s *Server) nack(w http.ResponseWriter, r *http.Request) {
	var req NackRequest
	s.settle(w, r, &req, "ackIds, delay, reason", func(ctx context.Context, topic, name string) (subscription.AckResult, error) {
		delay, err := delayParam("delay", req.Delay, "the subscription's backoff")
		if err == nil {
			err = checkAckIDs(req.AckIDs)
		}
		if err != nil {
			return subscription.AckResult{}, err
		}
		return s.subs.Nack(ctx, topic, name, req.AckIDs, delay, req.Reason)
	})
}

// extend gives leased deliveries more time (default: the ack timeout).
func (s *Server) extend(w http.ResponseWriter, r *http.Request) {
	var req ExtendRequest
	s.settle(w, r, &req, "ackIds, extend", func(ctx context.Context, topic, name string) (subscription.AckResult, error) {
		d, err := delayParam("extend", req.Extend, "the subscription's ack timeout")
		if err == nil {
			err = checkAckIDs(req.AckIDs)
		}
		if err != nil {
			return subscription.AckResult{}, err
		}
		return s.subs.Extend(ctx, topic, name, req.AckIDs, d)
	})
}

// settle decodes the body of an ack, nack or extend into req, runs fn and
// replies with what became of each ack id.
func (s *Server) settle(w http.ResponseWriter, r *http.Request, req any, known string,
	fn func(ctx context.Context, topic, name string) (subscription.AckResult, error)) {
	topic, name, err := subscriptionPath(r)
	var body []byte
	if err == nil {
		body, err = s.readBody(w, r)
	}
	if err == nil {
		err = decodeObject(body, req, errInvalidArgument, known)
	}
	var res subscription.AckResult
	if err == nil {
		res, err = fn(r.Context(), topic, name)
	}
	if err != nil {
		s.writeError(w, r, s.subError(r.Context(), topic, err))
		return
	}
	s.writeJSON(w, r, http.StatusOK, AckReply{Acked: nonNil(res.Acked), Stale: nonNil(res.Stale), Unknown: nonNil(res.Unknown)})
}

func checkAckIDs(ids []string) error {
	switch {
	case len(ids) == 0:
		return fmt.Errorf(`%w: ackIds is empty: give the ack ids of deliveries, such as {"ackIds":["1.0.0.1"]}`, errInvalidArgument)
	case len(ids) > MaxAckIDs:
		return fmt.Errorf("%w: %d ackIds: at most %d per request", errInvalidArgument, len(ids), MaxAckIDs)
	}
	return nil
}

// delayParam parses an optional duration from 1ns to MaxDelay. Absent is
// 0, which the subscription layer reads as "the subscription's default";
// an explicit zero is refused rather than silently read that way.
func delayParam(name string, s *string, dflt string) (time.Duration, error) {
	if s == nil {
		return 0, nil
	}
	d, err := time.ParseDuration(*s)
	if err != nil || d <= 0 || d > MaxDelay {
		return 0, fmt.Errorf("%w: %s %q: must be a duration above 0s and up to %s, such as \"30s\" (leave it out for %s)",
			errInvalidArgument, name, *s, FormatDuration(MaxDelay), dflt)
	}
	return d, nil
}
