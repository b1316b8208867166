package rpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/rpc/heraldv1/heraldv1connect"
)

// readLimit is the largest request message the service reads, for a
// broker that takes batches of up to maxBatchBytes of events as stored
// (CloudEvent.Size). It leaves the broker's check, which says which limit
// a batch breaks, to decide every batch of valid events as the Go client
// encodes them in protobuf:
//
//   - every part of an event but its extensions takes fewer bytes in
//     protobuf than stored. A stored attribute is "ce_" + name + value; in
//     protobuf id, source, type and the known attributes are a tag, a
//     length and the value, specversion is 5 bytes against 17 and the
//     time 9 against at least 27. The tags and lengths of the event, its
//     data and its known attributes (at most 15 bytes) take less than
//     specversion and the names of source and type save (at least 18).
//   - an extension is a map entry: the tags and lengths of the entry, the
//     name, the value message and its string take 8 bytes (more for long
//     values) against the 3 of "ce_". The worst is a one-letter name with
//     an empty value, 9 bytes against 4.
//
// So a valid batch within maxBatchBytes is at most 9/4 of it in protobuf;
// the 1 MiB more holds the request's topic and what other encoders add.
// A request past the limit (other encodings, unknown fields, or simply
// too many events) is refused as batch_too_large (tooLarge).
func readLimit(maxBatchBytes int) int { return maxBatchBytes/4*9 + 1<<20 }

// tooLarge is the error of a request over the read limit: Herald's
// batch_too_large, with connect's reason.
func tooLarge(reason string) error {
	return toConnect(fmt.Errorf("%w: the request is over the server's read limit: %s", broker.ErrBatchTooLarge, reason))
}

// receiveError is the error PublishStream ends with when receiving a
// request failed: a request over the read limit (connect's
// RESOURCE_EXHAUSTED) is a batch too large; any other error is the
// client's stream breaking, reported as connect reports it.
func receiveError(err error) error {
	if ce := new(connect.Error); errors.As(err, &ce) && ce.Code() == connect.CodeResourceExhausted {
		return tooLarge(ce.Message())
	}
	return err
}

// guardPublishSize answers a unary Publish whose message is over limit
// with batch_too_large. Connect refuses such a message itself, before any
// handler or interceptor runs, with a bare RESOURCE_EXHAUSTED that names
// no Herald code; this looks at the size the request declares first (a
// gRPC or gRPC-Web envelope's, or a Connect body's), reading no more than
// the envelope's prefix. A compressed message is left to connect, which
// measures it decompressed.
func guardPublishSize(h http.Handler, limit int) http.Handler {
	errs := connect.NewErrorWriter()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == heraldv1connect.HeraldServicePublishProcedure && errs.IsSupported(r) {
			if size := declaredSize(r); size > int64(limit) {
				_ = errs.Write(w, r, tooLarge(fmt.Sprintf("message size %d is larger than %d", size, limit)))
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// declaredSize returns the size of a unary request's message as the
// request declares it, or -1 when it does not say or the message is
// compressed. It leaves the body as it was for connect to read.
func declaredSize(r *http.Request) int64 {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") { // gRPC's and gRPC-Web's types start so
		if r.Header.Get("Content-Encoding") != "" {
			return -1
		}
		return r.ContentLength // Connect: the body is the message
	}
	var prefix [5]byte // flags, then the length
	n, err := io.ReadFull(r.Body, prefix[:])
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(prefix[:n]), r.Body), r.Body}
	if err != nil || prefix[0]&1 != 0 { // cut short, or compressed
		return -1
	}
	return int64(binary.BigEndian.Uint32(prefix[1:]))
}

// MaxEventBytesKey is the response header that carries the largest event
// the server stores (its stored size, CloudEvent.Size), on every
// response: a client that batches events keeps to it, so that one event
// too large fails alone instead of refusing its batch.
const MaxEventBytesKey = "Herald-Max-Event-Bytes"

// announceLimits puts the broker's event size limit in the headers of
// every response.
func announceLimits(h http.Handler, maxEventBytes int) http.Handler {
	v := []string{strconv.Itoa(maxEventBytes)}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()[MaxEventBytesKey] = v
		h.ServeHTTP(w, r)
	})
}

// MaxEventBytes returns the event size limit a response's headers
// announce, or 0 when they do not.
func MaxEventBytes(h http.Header) int {
	n, err := strconv.Atoi(h.Get(MaxEventBytesKey))
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// serverCodec is protobuf's binary codec, except that it does not decode
// the events of a PublishRequest of more events than the broker takes in
// one publish: an event that takes two bytes on the wire takes a hundred
// and more in memory, so a request within the read limit could otherwise
// cost gigabytes. It decodes the rest of such a request (its topic, which
// authorization checks) and leaves the count of its events in the
// unknown fields, under tooManyField, for the handler to refuse it as
// batch_too_large (tooManyEvents): connect would report an error of the
// codec itself without a Herald code.
type serverCodec struct {
	ProtoCodec
	maxEvents int
}

func (c serverCodec) Unmarshal(b []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("cannot decode into %T", v)
	}
	if _, ok := m.(*heraldv1.PublishRequest); ok {
		if n := publishEvents(b); n > c.maxEvents {
			return unmarshalWithoutEvents(b, m, n)
		}
	}
	return proto.Unmarshal(b, m)
}

// tooManyField is the field number under which serverCodec leaves the
// count of events it did not decode: the largest there is, which the
// message will never use.
const tooManyField = protowire.MaxValidNumber

// unmarshalWithoutEvents decodes an encoded PublishRequest but for its
// events, and records that it had n.
func unmarshalWithoutEvents(b []byte, m proto.Message, n int) error {
	var rest []byte
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return protowire.ParseError(l)
		}
		fl := protowire.ConsumeFieldValue(num, typ, b[l:])
		if fl < 0 {
			return protowire.ParseError(fl)
		}
		if num != publishEventsField {
			rest = append(rest, b[:l+fl]...)
		}
		b = b[l+fl:]
	}
	if err := proto.Unmarshal(rest, m); err != nil {
		return err
	}
	markTooMany(m, n)
	return nil
}

// markTooMany records in m's unknown fields that its request had n events,
// which were not decoded (tooManyEvents reads it).
func markTooMany(m proto.Message, n int) {
	r := m.ProtoReflect()
	r.SetUnknown(protowire.AppendVarint(protowire.AppendTag(r.GetUnknown(), tooManyField, protowire.VarintType), uint64(n)))
}

// tooManyEvents returns the count of events serverCodec left undecoded in
// m, or 0.
func tooManyEvents(m *heraldv1.PublishRequest) int {
	b := m.ProtoReflect().GetUnknown()
	n := 0
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return n
		}
		b = b[l:]
		if num == tooManyField && typ == protowire.VarintType {
			v, vl := protowire.ConsumeVarint(b)
			if vl > 0 && v <= math.MaxInt32 {
				n = int(v)
			}
		}
		if l = protowire.ConsumeFieldValue(num, typ, b); l < 0 {
			return n
		}
		b = b[l:]
	}
	return n
}

// publishEventsField is the field number of PublishRequest.events.
const publishEventsField = 2

// publishEvents counts the events of an encoded PublishRequest without
// decoding them; what it cannot read is left to proto.Unmarshal.
func publishEvents(b []byte) int {
	n := 0
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return n
		}
		b = b[l:]
		l = protowire.ConsumeFieldValue(num, typ, b)
		if l < 0 {
			return n
		}
		b = b[l:]
		if num == publishEventsField {
			n++
		}
	}
	return n
}

// ProtoCodec is protobuf's binary codec for connect, as connect's own
// ("proto"), for codecs that decode some messages their own way to embed.
type ProtoCodec struct{}

func (ProtoCodec) Name() string { return "proto" }

func (ProtoCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("cannot encode %T", v)
	}
	return proto.Marshal(m)
}

// MarshalAppend lets connect encode messages into its pooled buffers.
func (ProtoCodec) MarshalAppend(b []byte, v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("cannot encode %T", v)
	}
	return proto.MarshalOptions{}.MarshalAppend(b, m)
}
