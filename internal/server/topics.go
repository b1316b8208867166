package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/heraldevents/herald/internal/broker"
)

// topicName returns the {topic} path value, or an error if it cannot be a
// user topic (the internal "__" topics are not reachable over HTTP).
func topicName(r *http.Request) (string, error) {
	name := r.PathValue("topic")
	return name, broker.CheckTopicName(name)
}

// putTopic creates (201) or updates (200) a topic.
func (s *Server) putTopic(w http.ResponseWriter, r *http.Request) {
	name, err := topicName(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	spec, err := parseTopicSpec(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	t, created, err := s.broker.PutTopic(r.Context(), name, spec)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/v1/topics/"+name)
	}
	s.writeJSON(w, r, status, topicJSON(t))
}

// parseTopicSpec decodes a PUT body; an empty body changes nothing.
func parseTopicSpec(body []byte) (broker.TopicSpec, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return broker.TopicSpec{}, nil
	}
	if !json.Valid(body) || body[0] != '{' {
		return broker.TopicSpec{}, fmt.Errorf(`%w: the body must be a JSON object such as {"partitions":3,"retention":"168h"}`, errMalformedRequest)
	}
	var in TopicSpec
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return broker.TopicSpec{}, fmt.Errorf("%w: %w (known settings: partitions, retention, retentionBytes, dedupWindow, schemaPolicy)", broker.ErrInvalidSetting, err)
	}
	return in.broker()
}

// broker converts the JSON spec, parsing its durations.
func (in TopicSpec) broker() (broker.TopicSpec, error) {
	spec := broker.TopicSpec{Partitions: in.Partitions, RetentionBytes: in.RetentionBytes}
	if in.SchemaPolicy != nil {
		p, err := broker.ParseSchemaPolicy(*in.SchemaPolicy)
		if err != nil {
			return spec, err
		}
		spec.SchemaPolicy = &p
	}
	var err error
	if spec.Retention, err = parseSetting("retention", in.Retention, "0 to keep events forever"); err != nil {
		return spec, err
	}
	spec.DedupWindow, err = parseSetting("dedupWindow", in.DedupWindow, "0 to turn deduplication off")
	return spec, err
}

func parseSetting(name string, s *string, zero string) (*time.Duration, error) {
	if s == nil {
		return nil, nil
	}
	d, err := time.ParseDuration(*s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %q is not a duration: use a Go duration such as \"168h\" or \"90m\", or %s",
			broker.ErrInvalidSetting, name, *s, zero)
	}
	return &d, nil
}

// getTopic describes a topic with its partitions' offsets.
func (s *Server) getTopic(w http.ResponseWriter, r *http.Request) {
	name, err := topicName(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.broker.Topic(r.Context(), name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := topicJSON(t)
	for p := 0; p < t.Partitions; p++ {
		start, end, err := s.broker.Offsets(r.Context(), name, p)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out.Offsets = append(out.Offsets, PartitionOffsets{Partition: p, StartOffset: start, EndOffset: end})
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// listTopics lists the user topics.
func (s *Server) listTopics(w http.ResponseWriter, r *http.Request) {
	topics, err := s.broker.Topics(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := TopicList{Topics: make([]Topic, len(topics))}
	for i, t := range topics {
		out.Topics[i] = topicJSON(t)
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// deleteTopic deletes a topic and its events (204).
func (s *Server) deleteTopic(w http.ResponseWriter, r *http.Request) {
	name, err := topicName(r)
	switch {
	case err != nil:
	case s.subs != nil:
		err = s.subs.DeleteTopicAndSubscriptions(r.Context(), name) // its subscriptions go with it
	default:
		err = s.broker.DeleteTopic(r.Context(), name)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// readBody reads the request body up to the size limit.
// readAll reads a body into one buffer sized from Content-Length when
// the client sent it, instead of growing and copying as io.ReadAll does.
func readAll(r io.Reader, length, limit int64) ([]byte, error) {
	size := int64(512)
	if length > 0 && length <= limit {
		size = length + bytes.MinRead // ReadFrom wants MinRead spare bytes before it reads
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := readAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes), r.ContentLength, s.opts.MaxBodyBytes)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, fmt.Errorf("%w: the limit is %d bytes", errRequestTooLarge, tooLarge.Limit)
	case err != nil:
		return nil, fmt.Errorf("%w: reading the body: %w", errMalformedRequest, err)
	}
	return body, nil
}
