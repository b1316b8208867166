package event

import (
	"fmt"
	"net/http"
	"strings"
)

// HTTP binary mode header names.
const (
	httpPrefix      = "ce-"
	httpContentType = "Content-Type"
)

// FromHTTP decodes an event sent in the CloudEvents HTTP binding's binary
// mode: each attribute in a ce-<name> header (names are case-insensitive,
// values are percent-decoded), datacontenttype in Content-Type and the data
// as the body. Data aliases body; an empty body is no data. Other headers
// are ignored. It does not call Validate.
//
// A header given twice, a ce-datacontenttype header (binary mode uses
// Content-Type), a malformed ce-time or a value that does not decode to
// UTF-8 is an error that wraps a *ValidationError naming the attribute.
// It decodes every header it can: when several do not decode, the error
// lists each, by attribute name, and the event decoded as far as it could
// be is returned with it.
func FromHTTP(h http.Header, body []byte) (*Event, error) {
	e := &Event{}
	var seen attrSet
	seenContentType := false
	var d jsonDecoder            // for its errors
	for key, values := range h { // failed sorts the errors by name
		var name string
		var err error
		switch {
		case strings.EqualFold(key, httpContentType):
			name = attrDataContentType
			if err = once(attrDataContentType, seenContentType, values); err == nil {
				seenContentType = true
				e.DataContentType = values[0]
			}
		case hasPrefixFold(key, httpPrefix):
			name = strings.ToLower(key[len(httpPrefix):])
			err = e.setHTTPAttr(name, values, &seen)
		}
		if err != nil {
			d.errs = append(d.errs, namedError{name, err})
		}
	}
	if len(body) > 0 {
		e.Data = body
	}
	if d.errs != nil {
		return e, fmt.Errorf("event: HTTP binary mode: %w", d.failed(nil, nil))
	}
	return e, nil
}

func (e *Event) setHTTPAttr(name string, values []string, seen *attrSet) error {
	if name == attrDataContentType {
		return &ValidationError{Attribute: name,
			Rule: "binary mode carries it in the Content-Type header, not in ce-datacontenttype"}
	}
	if err := once(name, false, values); err != nil {
		return err
	}
	v, err := decodeHeaderValue(values[0])
	if err != nil {
		return &ValidationError{Attribute: name, Rule: "header value: " + err.Error()}
	}
	return e.setAttr(name, v, seen)
}

// once checks that a header has exactly one value and was not seen before.
func once(name string, seen bool, values []string) error {
	if seen || len(values) != 1 {
		return repeated(name)
	}
	return nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// ToHTTP writes e in the CloudEvents HTTP binding's binary mode: it sets a
// ce-<name> header for each attribute with a value (percent-encoded as the
// binding asks) and Content-Type for datacontenttype, and returns the body,
// which is e.Data itself. e should be valid. The log position (Topic,
// Partition, Offset, StoredAt) is not written.
func ToHTTP(e *Event, h http.Header) (body []byte) {
	e.eachAttribute(func(name, value string) {
		h.Set(httpPrefix+name, encodeHeaderValue(value))
	})
	if e.DataContentType != "" {
		h.Set(httpContentType, e.DataContentType)
	}
	return e.Data
}

// IsStructured reports whether the media type of the Content-Type value ct
// is the CloudEvents JSON format (structured mode), ignoring parameters
// such as charset and case.
func IsStructured(ct string) bool { return mediaTypeIs(ct, MediaTypeStructured) }

// IsBatch reports whether the media type of the Content-Type value ct is
// the CloudEvents JSON batch format, ignoring parameters and case.
func IsBatch(ct string) bool { return mediaTypeIs(ct, MediaTypeBatch) }

// IsFormat reports whether the media type of the Content-Type value ct is
// a CloudEvents event format (application/cloudevents+xyz, a batch too),
// whatever its encoding, ignoring parameters and case. In binary mode such
// a Content-Type would make a receiver take the data for the event.
func IsFormat(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(mt)), "application/cloudevents")
}

func mediaTypeIs(ct, want string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), want)
}
