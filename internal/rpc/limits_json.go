package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/heraldevents/herald/internal/rpc/heraldv1"
)

// serverJSONCodec is connect's protobuf JSON codec (named "json" or
// "json; charset=utf-8", as connect's own), except that, as serverCodec,
// it does not decode the events of a PublishRequest of more events than
// the broker takes in one publish: an empty event takes three bytes in
// JSON and a hundred and more in memory. It decodes the rest of such a
// request and leaves the count of its events for the handler to refuse
// it as batch_too_large (markTooMany).
type serverJSONCodec struct {
	name      string
	maxEvents int
}

func (c serverJSONCodec) Name() string { return c.name }

func (c serverJSONCodec) Marshal(v any) ([]byte, error) {
	return c.MarshalAppend(nil, v)
}

func (c serverJSONCodec) MarshalAppend(b []byte, v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("cannot encode %T", v)
	}
	return protojson.MarshalOptions{}.MarshalAppend(b, m)
}

func (c serverJSONCodec) Unmarshal(b []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("cannot decode into %T", v)
	}
	if len(b) == 0 {
		return errors.New("zero-length payload is not a valid JSON object")
	}
	// Unknown fields are dropped, as connect's codec drops them, so that
	// clients and servers need not have the same version of the messages.
	opts := protojson.UnmarshalOptions{DiscardUnknown: true}
	// n events take at least 3n-1 bytes: a shorter request has few enough.
	if _, ok := m.(*heraldv1.PublishRequest); ok && len(b) >= 3*c.maxEvents+2 {
		if n, rest, ok := jsonWithoutEvents(b); ok && n > c.maxEvents {
			if err := opts.Unmarshal(rest, m); err != nil {
				return err
			}
			markTooMany(m, n)
			return nil
		}
	}
	return opts.Unmarshal(b, m)
}

// jsonWithoutEvents counts the events of a PublishRequest in JSON without
// decoding them, and returns the request without them. ok is false when b
// is not a JSON object: protojson says what is wrong with it.
func jsonWithoutEvents(b []byte) (n int, rest []byte, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return 0, nil, false
	}
	rest = []byte{'{'}
	var raw json.RawMessage // one buffer for every value skipped
	for dec.More() {
		t, err := dec.Token()
		key, isKey := t.(string)
		if err != nil || !isKey {
			return 0, nil, false
		}
		if key != "events" {
			if err := dec.Decode(&raw); err != nil {
				return 0, nil, false
			}
			if len(rest) > 1 {
				rest = append(rest, ',')
			}
			name, _ := json.Marshal(key)
			rest = append(append(append(rest, name...), ':'), raw...)
			continue
		}
		if t, err := dec.Token(); err != nil || t != json.Delim('[') {
			return 0, nil, false // null, or not an array: protojson decides
		}
		for ; dec.More(); n++ {
			if err := dec.Decode(&raw); err != nil {
				return 0, nil, false
			}
		}
		if _, err := dec.Token(); err != nil {
			return 0, nil, false
		}
	}
	return n, append(rest, '}'), true
}
