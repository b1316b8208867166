package event

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Media types of the CloudEvents JSON formats.
const (
	// MediaTypeStructured is the JSON event format (structured mode).
	MediaTypeStructured = "application/cloudevents+json"
	// MediaTypeBatch is the JSON batch format: an array of events.
	MediaTypeBatch = "application/cloudevents-batch+json"
)

// MarshalJSON encodes e in the CloudEvents JSON format. It does not call
// Validate, but it fails for what JSON cannot carry faithfully: an extension
// named like another member, or a time outside years 0000-9999.
//
// data is written as:
//   - the raw JSON value, when datacontenttype is JSON (*/json or
//     */*+json) and Data is valid JSON; whitespace around the value (the
//     newline of a json.Encoder) does not come back from UnmarshalJSON;
//   - a JSON string, when datacontenttype is another media type and Data
//     is UTF-8;
//   - data_base64 otherwise, so that the bytes survive exactly: for JSON
//     content types whose Data is not valid JSON, and for data without a
//     datacontenttype (opaque bytes, as HTTP or Kafka may deliver them;
//     written as data, decoding would declare them application/json).
//
// When Stored is set, the log position is written as the extension
// attributes topic, partition and offset (JSON numbers) and storedtime.
func (e *Event) MarshalJSON() ([]byte, error) {
	return e.appendJSON(make([]byte, 0, 256+len(e.Data)*4/3))
}

// EncodeBatch encodes events in the CloudEvents JSON batch format.
func EncodeBatch(events []*Event) ([]byte, error) {
	b := make([]byte, 0, 64)
	b = append(b, '[')
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		if e == nil {
			return nil, fmt.Errorf("event: JSON batch: event %d is nil", i)
		}
		var err error
		if b, err = e.appendJSON(b); err != nil {
			return nil, fmt.Errorf("event: JSON batch: event %d: %w", i, err)
		}
	}
	return append(b, ']'), nil
}

func (e *Event) appendJSON(b []byte) ([]byte, error) {
	if err := e.checkJSONWritable(); err != nil {
		return nil, err
	}
	w := jsonWriter{b: append(b, '{'), first: true}
	w.string("specversion", e.SpecVersion)
	w.string("id", e.ID)
	w.string("source", e.Source)
	w.string("type", e.Type)
	w.time(attrTime, e.Time)
	w.string("subject", e.Subject)
	w.string(attrDataContentType, e.DataContentType)
	w.string("dataschema", e.DataSchema)
	w.string(attrPartitionKey, e.PartitionKey)
	w.string("traceparent", e.TraceParent)
	w.string("tracestate", e.TraceState)
	w.string("correlationid", e.CorrelationID)
	w.string("causationid", e.CausationID)
	for _, name := range sortedKeys(e.Extensions) {
		w.name(name)
		w.b = appendJSONString(w.b, e.Extensions[name])
	}
	if e.Stored {
		w.string(attrTopic, e.Topic)
		w.int(attrPartition, int64(e.Partition))
		w.int(attrOffset, e.Offset)
		w.time(attrStoredTime, e.StoredAt)
	}
	e.writeData(&w)
	return append(w.b, '}'), nil
}

// checkJSONWritable returns an error for what the JSON format cannot carry.
func (e *Event) checkJSONWritable() error {
	for name := range e.Extensions {
		if reservedName(name) != "" {
			return &ValidationError{Attribute: name, Rule: reservedName(name)}
		}
	}
	if err := checkTimeWritable(attrTime, e.Time); err != nil {
		return err
	}
	if e.Stored {
		return checkTimeWritable(attrStoredTime, e.StoredAt)
	}
	return nil
}

// writeData writes data or data_base64 (see MarshalJSON).
func (e *Event) writeData(w *jsonWriter) {
	switch {
	case len(e.Data) == 0:
	case e.DataContentType == "":
		w.base64(e.Data)
	case isJSONMediaType(e.DataContentType) && json.Valid(e.Data):
		w.name(attrData)
		w.b = append(w.b, e.Data...)
	case !isJSONMediaType(e.DataContentType) && utf8.Valid(e.Data):
		w.name(attrData)
		w.b = appendJSONString(w.b, string(e.Data))
	default:
		w.base64(e.Data)
	}
}

// base64 appends data as the data_base64 member.
func (w *jsonWriter) base64(data []byte) {
	w.name(attrDataBase64)
	w.b = append(w.b, '"')
	w.b = base64.StdEncoding.AppendEncode(w.b, data)
	w.b = append(w.b, '"')
}

// IsJSONContentType reports whether the datacontenttype ct declares JSON
// data: absent, */json or */*+json, ignoring parameters and case.
func IsJSONContentType(ct string) bool { return isJSONMediaType(ct) }

// isJSONMediaType reports whether the datacontenttype ct declares JSON:
// absent, */json or */*+json, ignoring parameters and case.
func isJSONMediaType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, _ := strings.Cut(ct, ";")
	_, sub, ok := strings.Cut(strings.TrimSpace(mt), "/")
	if !ok {
		return false
	}
	return strings.EqualFold(sub, "json") ||
		(len(sub) > 5 && strings.EqualFold(sub[len(sub)-5:], "+json"))
}

// jsonWriter appends the members of a JSON object.
type jsonWriter struct {
	b     []byte
	first bool
}

// name appends the separator and the member name.
func (w *jsonWriter) name(name string) {
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
	w.b = appendJSONString(w.b, name)
	w.b = append(w.b, ':')
}

// string appends a string member unless v is empty.
func (w *jsonWriter) string(name, v string) {
	if v != "" {
		w.name(name)
		w.b = appendJSONString(w.b, v)
	}
}

func (w *jsonWriter) int(name string, v int64) {
	w.name(name)
	w.b = strconv.AppendInt(w.b, v, 10)
}

// time appends an RFC 3339 member unless t is zero.
func (w *jsonWriter) time(name string, t time.Time) {
	if !t.IsZero() {
		w.name(name)
		w.b = append(w.b, '"')
		w.b = appendTime(w.b, t)
		w.b = append(w.b, '"')
	}
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
		}
		b = append(b, s[start:i]...)
		b = appendEscape(b, c)
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendEscape appends the JSON escape of the byte c: a quote, backslash,
// control character, or (c >= 0x80) a byte of invalid UTF-8.
func appendEscape(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	if c >= utf8.RuneSelf {
		return append(b, `\ufffd`...)
	}
	return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}
