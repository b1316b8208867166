package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/subscription"
)

// subscriptionPath returns the {topic} and {name} path values.
func subscriptionPath(r *http.Request) (topic, name string, err error) {
	topic, err = topicName(r)
	return topic, r.PathValue("name"), err
}

// subError explains a subscription that was not found: when its topic
// does not exist either, that is the clearer error.
func (s *Server) subError(ctx context.Context, topic string, err error) error {
	if errors.Is(err, subscription.ErrNotFound) {
		if _, terr := s.broker.Topic(ctx, topic); terr != nil {
			return terr
		}
	}
	return err
}

// putSubscription creates (201) or updates (200) a subscription.
func (s *Server) putSubscription(w http.ResponseWriter, r *http.Request) {
	topic, name, err := subscriptionPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var spec SubscriptionSpec
	if err := decodeObject(body, &spec, subscription.ErrInvalidConfig,
		"start, ackTimeout, maxAttempts, backoff, ordering, filter, deadLetterTopic, push"); err != nil {
		s.writeError(w, r, err)
		return
	}
	info, created, err := s.applySpec(r.Context(), topic, name, spec)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/v1/topics/"+url.PathEscape(topic)+"/subscriptions/"+url.PathEscape(name))
	}
	s.writeJSON(w, r, status, subscriptionJSON(info))
}

// applySpec creates a subscription from the spec and the defaults, or
// changes the settings the spec names on an existing one.
// The settings are read and changed as one step: two PUTs that change
// different settings at once both hold.
func (s *Server) applySpec(ctx context.Context, topic, name string, spec SubscriptionSpec) (subscription.Info, bool, error) {
	return s.subs.Change(ctx, topic, name, func(cfg subscription.Config, exists bool) (subscription.Config, error) {
		if exists && spec.Start != nil && *spec.Start != "" && !sameStart(*spec.Start, cfg.Start) { // "" is refused below
			return cfg, fmt.Errorf("%w: subscription %s on topic %s started at %q; "+
				"the start position is fixed at creation: seek to move it (POST .../seek)", subscription.ErrConflict, name, topic, cfg.Start)
		}
		err := spec.apply(&cfg)
		return cfg, err
	})
}

// sameStart reports whether two start positions are the same (times may
// be written differently).
func sameStart(a, b string) bool {
	ta, erra := event.ParseTime(a)
	tb, errb := event.ParseTime(b)
	if erra == nil && errb == nil {
		return ta.Equal(tb)
	}
	return a == b
}

// apply sets the fields the spec has. The subscription layer checks the
// values; here zero values are refused where it would read them as "the
// default", so that what is asked for is what is stored.
func (spec SubscriptionSpec) apply(c *subscription.Config) error {
	if spec.Start != nil {
		if *spec.Start == "" {
			return fmt.Errorf(`%w: start is empty: use "earliest", "latest" or an RFC 3339 time (leave it out for "latest")`, subscription.ErrInvalidConfig)
		}
		c.Start = *spec.Start
	}
	if spec.Ordering != nil {
		if *spec.Ordering == "" {
			return fmt.Errorf(`%w: ordering is empty: use "key", "partition" or "none" (leave it out to keep the current one)`, subscription.ErrInvalidConfig)
		}
		c.Ordering = subscription.Ordering(*spec.Ordering)
	}
	if spec.DeadLetterTopic != nil {
		if *spec.DeadLetterTopic == "" {
			return fmt.Errorf("%w: deadLetterTopic is empty: name a topic (leave it out to keep the current one, by default {topic}.{name}.dlq)", subscription.ErrInvalidConfig)
		}
		c.DeadLetterTopic = *spec.DeadLetterTopic
	}
	if p := spec.Push; p != nil {
		ps := &subscription.PushSettings{}
		if c.Push != nil {
			*ps = *c.Push // a change keeps what it does not give, as for backoff
		}
		if p.URL != nil {
			ps.URL = *p.URL
		}
		if p.Secret != nil {
			ps.Secret = *p.Secret
		}
		if err := p.applyLimits(ps); err != nil {
			return err
		}
		c.Push = ps
		switch {
		case p.URL != nil && *p.URL == "":
			c.Push = nil // back to pull
		case ps.URL == "":
			return fmt.Errorf("%w: push.url is missing: give the endpoint's absolute http or https URL", subscription.ErrInvalidConfig)
		}
	}
	if spec.MaxAttempts != nil {
		if *spec.MaxAttempts == 0 {
			return fmt.Errorf("%w: maxAttempts must be between 1 and 1000, got 0", subscription.ErrInvalidConfig)
		}
		c.MaxAttempts = *spec.MaxAttempts
	}
	if err := setDuration(&c.AckTimeout, "ackTimeout", spec.AckTimeout, `"30s" or "5m"`); err != nil {
		return err
	}
	if f := spec.Filter; f != nil { // an empty pattern is refused by the subscription layer, for every API
		c.Filter.Types = keep(f.Types, c.Filter.Types)
		c.Filter.Sources = keep(f.Sources, c.Filter.Sources)
		if f.SubjectPrefix != nil {
			c.Filter.SubjectPrefix = *f.SubjectPrefix
		}
	}
	if spec.Backoff != nil {
		return spec.Backoff.apply(&c.Backoff)
	}
	return nil
}

// applyLimits sets maxInFlight and timeout when they are given. Zero is
// refused: the push layer would take it for the default.
func (p PushSpec) applyLimits(ps *subscription.PushSettings) error {
	if p.MaxInFlight != nil {
		if *p.MaxInFlight == 0 {
			return fmt.Errorf("%w: push.maxInFlight must be between 1 and 1000, got 0 (leave it out for the default, 16)", subscription.ErrInvalidConfig)
		}
		ps.MaxInFlight = *p.MaxInFlight
	}
	return setDuration(&ps.Timeout, "push.timeout", p.Timeout, `"10s" (from 1s to 5m)`)
}

func (b BackoffSpec) apply(c *subscription.Backoff) error {
	if err := setDuration(&c.Initial, "backoff.initial", b.Initial, `"1s", or "10ms" for an almost immediate retry`); err != nil {
		return err
	}
	if err := setDuration(&c.Max, "backoff.max", b.Max, `"5m"`); err != nil {
		return err
	}
	if b.Multiplier != nil {
		if *b.Multiplier == 0 {
			return fmt.Errorf("%w: backoff multiplier must be between 1 and 100, got 0", subscription.ErrInvalidConfig)
		}
		c.Multiplier = *b.Multiplier
	}
	return nil
}

// keep returns set when it was given (not nil), else old.
func keep(set, old []string) []string {
	if set != nil {
		return set
	}
	return old
}

// setDuration parses a duration setting into *d when it is given. Zero
// is refused: the subscription layer would take it for the default.
func setDuration(d *time.Duration, name string, s *string, example string) error {
	if s == nil {
		return nil
	}
	v, err := time.ParseDuration(*s)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %s %q is not a duration: use a Go duration such as %s", subscription.ErrInvalidConfig, name, *s, example)
	case v == 0:
		return fmt.Errorf("%w: %s %q: must be more than 0, such as %s", subscription.ErrInvalidConfig, name, *s, example)
	}
	*d = v
	return nil
}

// getSubscription describes a subscription with its per-partition state.
func (s *Server) getSubscription(w http.ResponseWriter, r *http.Request) {
	topic, name, err := subscriptionPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	info, err := s.subs.Get(r.Context(), topic, name)
	if err != nil {
		s.writeError(w, r, s.subError(r.Context(), topic, err))
		return
	}
	s.writeJSON(w, r, http.StatusOK, subscriptionJSON(info))
}

// listSubscriptions lists the subscriptions of a topic, by name.
func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	topic, err := topicName(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	infos, err := s.subs.List(r.Context(), topic)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := SubscriptionList{Subscriptions: make([]Subscription, len(infos))}
	for i, info := range infos {
		out.Subscriptions[i] = subscriptionJSON(info)
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// deleteSubscription deletes a subscription and its state (204); its
// dead-letter topic stays.
func (s *Server) deleteSubscription(w http.ResponseWriter, r *http.Request) {
	topic, name, err := subscriptionPath(r)
	if err == nil {
		err = s.subs.Delete(r.Context(), topic, name)
	}
	if err != nil {
		s.writeError(w, r, s.subError(r.Context(), topic, err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// seek moves a subscription to a start position or to offsets.
func (s *Server) seek(w http.ResponseWriter, r *http.Request) {
	topic, name, err := subscriptionPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req SeekRequest
	err = decodeObject(body, &req, errInvalidArgument, "start, offsets")
	if err == nil && req.Offsets != nil {
		err = checkNullOffsets(body)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pos, err := req.position()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	info, err := s.subs.Seek(r.Context(), topic, name, pos)
	if err != nil {
		s.writeError(w, r, s.subError(r.Context(), topic, err))
		return
	}
	s.writeJSON(w, r, http.StatusOK, subscriptionJSON(info))
}

// checkNullOffsets refuses a null offset in a seek body, which decoding
// into SeekRequest reads as offset 0: a replay of the whole partition.
func checkNullOffsets(body []byte) error {
	var raw struct {
		Offsets map[string]*int64 `json:"offsets"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return fmt.Errorf("%w: %w", errInvalidArgument, err)
	}
	for p, off := range raw.Offsets {
		if off == nil {
			return fmt.Errorf(`%w: offset of partition %s is null: give the next offset to deliver, such as {"0":12}`, errInvalidArgument, p)
		}
	}
	return nil
}

func (req SeekRequest) position() (subscription.Position, error) {
	switch {
	case req.Start != nil && req.Offsets != nil:
		return subscription.Position{}, fmt.Errorf("%w: give start or offsets, not both", errInvalidArgument)
	case req.Start != nil:
		return subscription.Position{Start: *req.Start}, nil
	case len(req.Offsets) > 0:
		return subscription.Position{Offsets: req.Offsets}, nil
	}
	return subscription.Position{}, fmt.Errorf(`%w: give start ("earliest", "latest" or an RFC 3339 time) `+
		`or offsets (next offset per partition, such as {"0":12})`, errInvalidArgument)
}

// decodeObject decodes a JSON object body into v. An empty body leaves v
// as it is. A body that is not a JSON object is malformed_request; an
// unknown field or a wrong type is wrapped in invalid.
func decodeObject(body []byte, v any, invalid error, known string) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	if !json.Valid(body) || body[0] != '{' {
		return fmt.Errorf("%w: the body must be a JSON object", errMalformedRequest)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w (known fields: %s)", invalid, err, known)
	}
	return nil
}
