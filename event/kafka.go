package event

import (
	"unsafe"

	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka binary mode header names.
const (
	kafkaPrefix      = "ce_"
	kafkaContentType = "content-type"
)

// ToKafka maps e to a Kafka record with the CloudEvents Kafka protocol
// binding in binary mode, the form Herald's log stores:
//   - key is the partitionkey (nil when empty);
//   - value is Data (nil when there is no data);
//   - headers are ce_<name> for every attribute with a value, in a fixed
//     order (extensions sorted by name), including ce_partitionkey so that
//     the event round-trips exactly, and content-type for datacontenttype.
//
// Header values are the attributes' canonical strings, UTF-8, not
// percent-encoded. The log position is not written: the log knows it.
// e should be valid; value aliases e.Data, and key and the header values
// alias e's strings (no copy per attribute): they are read-only, for
// encoding only.
func ToKafka(e *Event) (key []byte, value []byte, headers []kmsg.Header) {
	key, value = KafkaKeyValue(e)
	headers, _ = AppendKafkaHeaders(make([]kmsg.Header, 0, MaxKafkaHeaders(e)), nil, e)
	return key, value, headers
}

// KafkaKeyValue is the key and value ToKafka gives e (read-only, aliasing
// e's partition key and data).
func KafkaKeyValue(e *Event) (key, value []byte) {
	if e.PartitionKey != "" {
		key = readOnlyBytes(e.PartitionKey)
	}
	if len(e.Data) > 0 {
		value = e.Data
	}
	return key, value
}

// MaxKafkaHeaders is the most headers ToKafka gives e.
func MaxKafkaHeaders(e *Event) int { return len(fixedAttrs) + len(e.Extensions) + 1 }

// AppendKafkaHeaders appends the headers ToKafka gives e to dst, writing
// the time into scratch: a caller encoding many events can give them one
// header array and one scratch buffer. It returns both, grown; values
// already handed out stay valid when scratch grows.
func AppendKafkaHeaders(dst []kmsg.Header, scratch []byte, e *Event) ([]kmsg.Header, []byte) {
	for i := range fixedAttrs {
		a := &fixedAttrs[i]
		if a.field != nil {
			if v := *a.field(e); v != "" {
				dst = append(dst, kmsg.Header{Key: kafkaHeaderKeys[a.name], Value: readOnlyBytes(v)})
			}
			continue
		}
		if !e.Time.IsZero() {
			start := len(scratch)
			scratch = appendTime(scratch, e.Time)
			dst = append(dst, kmsg.Header{Key: kafkaHeaderKeys[a.name], Value: scratch[start:len(scratch):len(scratch)]})
		}
	}
	for _, name := range sortedKeys(e.Extensions) {
		dst = append(dst, kmsg.Header{Key: kafkaPrefix + name, Value: readOnlyBytes(e.Extensions[name])})
	}
	if e.DataContentType != "" {
		dst = append(dst, kmsg.Header{Key: kafkaContentType, Value: readOnlyBytes(e.DataContentType)})
	}
	return dst, scratch
}

// readOnlyBytes is s's bytes without a copy. Writing to them would change
// an immutable string: only encoders may read them.
func readOnlyBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// kafkaHeaderKeys holds the header names of the fixed attributes, so that
// encoding them does not allocate.
var kafkaHeaderKeys = func() map[string]string {
	m := make(map[string]string, len(fixedAttrs))
	for _, a := range fixedAttrs {
		m[a.name] = kafkaPrefix + a.name
	}
	return m
}()

func kafkaHeaderKey(name string) string {
	if k, ok := kafkaHeaderKeys[name]; ok {
		return k
	}
	return kafkaPrefix + name
}

// FromKafka decodes a Kafka record written in the CloudEvents Kafka binding's
// binary mode. Every ce_<name> header is an attribute (unknown names become
// Extensions), content-type is datacontenttype, and other headers are
// ignored. Without a ce_partitionkey header, a non-empty key becomes the
// partitionkey. Data aliases value; an empty value is no data. It does not
// call Validate and never panics.
//
// A repeated header, a ce_datacontenttype header or a malformed ce_time is
// an error that wraps a *ValidationError naming the attribute.
func FromKafka(key, value []byte, headers []kmsg.Header) (*Event, error) {
	e := &Event{}
	var seen attrSet
	seenContentType := false
	// One string holds the values of the headers read, and the key: an
	// event costs one allocation for them instead of one each.
	var b strings.Builder
	b.Grow(headerValuesLen(key, headers))
	b.Write(key)
	for _, h := range headers {
		if isEventHeader(h.Key) {
			b.Write(h.Value)
		}
	}
	all := b.String()
	next := func(n int) string {
		v := all[:n]
		all = all[n:]
		return v
	}
	keyString := next(len(key))
	for _, h := range headers {
		var err error
		switch {
		case strings.EqualFold(h.Key, kafkaContentType):
			if seenContentType {
				err = repeated(attrDataContentType)
			}
			seenContentType = true
			e.DataContentType = next(len(h.Value))
		case strings.HasPrefix(h.Key, kafkaPrefix):
			err = e.setKafkaAttr(h.Key[len(kafkaPrefix):], next(len(h.Value)), &seen)
		}
		if err != nil {
			return nil, fmt.Errorf("event: Kafka binary mode: %w", err)
		}
	}
	if seen&(1<<fixedIndex[attrPartitionKey]) == 0 && len(key) > 0 {
		e.PartitionKey = keyString
	}
	if len(value) > 0 {
		e.Data = value
	}
	return e, nil
}

func (e *Event) setKafkaAttr(name, value string, seen *attrSet) error {
	if name == attrDataContentType {
		return &ValidationError{Attribute: name,
			Rule: "binary mode carries it in the content-type header, not in ce_datacontenttype"}
	}
	return e.setAttr(name, value, seen)
}

// isEventHeader reports whether FromKafka reads a header's value.
func isEventHeader(key string) bool {
	return strings.HasPrefix(key, kafkaPrefix) || strings.EqualFold(key, kafkaContentType)
}

// headerValuesLen is the length of the key and the values FromKafka reads.
func headerValuesLen(key []byte, headers []kmsg.Header) int {
	n := len(key)
	for _, h := range headers {
		if isEventHeader(h.Key) {
			n += len(h.Value)
		}
	}
	return n
}

// HeaderValue returns the value of the first header called name (compared
// exactly), or nil when there is none. The broker uses it to read ce_id and
// ce_source from stored records.
func HeaderValue(headers []kmsg.Header, name string) []byte {
	for i := range headers {
		if headers[i].Key == name {
			return headers[i].Value
		}
	}
	return nil
}

// Size returns the size of e as the log stores it: the lengths of the
// record key, value, and header names and values that ToKafka produces.
// Herald's event size limit applies to it.
func (e *Event) Size() int {
	n := len(e.PartitionKey) + len(e.Data)
	for i := range fixedAttrs {
		a := &fixedAttrs[i]
		if a.field == nil {
			n += e.timeHeaderSize()
		} else if v := *a.field(e); v != "" {
			n += len(kafkaPrefix) + len(a.name) + len(v)
		}
	}
	for name, v := range e.Extensions {
		n += len(kafkaPrefix) + len(name) + len(v)
	}
	if e.DataContentType != "" {
		n += len(kafkaContentType) + len(e.DataContentType)
	}
	return n
}

func (e *Event) timeHeaderSize() int {
	if e.Time.IsZero() {
		return 0
	}
	return len(kafkaPrefix) + len(attrTime) + timeLen(e.Time)
}
