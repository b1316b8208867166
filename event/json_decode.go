package event

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// UnmarshalJSON decodes one event in the CloudEvents JSON format into e,
// replacing all of e. It does not call Validate.
//
// Members that are not context attributes are extensions; their values may
// be strings, booleans or integers (the CloudEvents types; JSON null means
// absent) and are kept in their canonical string form. When partition and
// offset are both present, they and topic and storedtime are read into the
// log position fields and Stored is set.
//
// A data member with a JSON datacontenttype is kept as its raw JSON text; an
// absent datacontenttype then becomes "application/json", as the JSON format
// asks before an event is carried by another binding. With any other
// datacontenttype, data must be a JSON string. Empty data is no data.
//
// Unlike most UnmarshalJSON methods, a JSON null is an error: an event must
// be a JSON object. Errors about one attribute wrap a *ValidationError.
func (e *Event) UnmarshalJSON(b []byte) error {
	if err := e.decodeJSON(b); err != nil {
		return fmt.Errorf("event: JSON: %w", err)
	}
	return nil
}

// DecodeBatch decodes events in the CloudEvents JSON batch format: a JSON
// array of events, which may be empty. It does not call Validate.
//
// When events of a valid JSON array fail to decode, the error is a
// *BatchError listing each of them with its index, and the events are
// returned too, each decoded as far as it could be, so that a caller can
// report every problem of the batch at once.
func DecodeBatch(b []byte) ([]*Event, error) { return DecodeBatchMax(b, math.MaxInt) }

// ErrTooManyEvents is wrapped by the error of DecodeBatchMax for a batch
// of more events than it allows.
var ErrTooManyEvents = errors.New("too many events")

// DecodeBatchMax is DecodeBatch for a batch of at most max events. It
// refuses a longer one before decoding any event: an Event takes a hundred
// times the memory of the smallest JSON object, "{}".
func DecodeBatchMax(b []byte, max int) ([]*Event, error) {
	if err := checkJSON(b); err != nil {
		return nil, fmt.Errorf("event: JSON batch: %w", err)
	}
	s := jsonScanner{b: b}
	if s.next() != '[' {
		return nil, errors.New("event: JSON batch: a batch must be a JSON array of events, got " + jsonKind(b))
	}
	n := 0
	s.elements(func([]byte) { n++ })
	if n > max {
		return nil, fmt.Errorf("event: JSON batch: %w: %d, the limit is %d", ErrTooManyEvents, n, max)
	}
	all := make([]Event, n)
	events := make([]*Event, n)
	var bad []EventError
	i := 0
	s = jsonScanner{b: b}
	s.elements(func(raw []byte) {
		if err := all[i].decodeValidJSON(raw); err != nil {
			bad = append(bad, EventError{Index: i, Err: err})
		}
		events[i] = &all[i]
		i++
	})
	if bad != nil {
		return events, &BatchError{Events: bad}
	}
	return events, nil
}

// BatchError is the error of DecodeBatch when events of a batch fail to
// decode: each of them, in index order.
type BatchError struct {
	Events []EventError // at least one
}

// EventError is why the event at Index of a batch failed to decode. Err
// wraps a *ValidationError for each attribute that did not decode, or is
// about the event as a whole (an element that is not a JSON object).
type EventError struct {
	Index int
	Err   error
}

// Error names the first event that failed and how many more did.
func (e *BatchError) Error() string {
	first := e.Events[0]
	msg := fmt.Sprintf("event: JSON batch: event %d: %v", first.Index, first.Err)
	switch n := len(e.Events) - 1; {
	case n == 1:
		msg += " (and 1 more event that does not decode)"
	case n > 1:
		msg += fmt.Sprintf(" (and %d more events that do not decode)", n)
	}
	return msg
}

// Unwrap returns the error of each event, so that errors.As finds the
// first event's *ValidationError.
func (e *BatchError) Unwrap() []error {
	errs := make([]error, len(e.Events))
	for i, ev := range e.Events {
		errs[i] = ev.Err
	}
	return errs
}

// attributeErrors is the error of an event with more than one attribute
// that does not decode, each a *ValidationError; the first is the one the
// message names.
type attributeErrors []error

func (e attributeErrors) Error() string {
	if n := len(e) - 1; n > 1 {
		return fmt.Sprintf("%v (and %d more attributes that do not decode)", e[0], n)
	}
	return fmt.Sprintf("%v (and 1 more attribute that does not decode)", e[0])
}

func (e attributeErrors) Unwrap() []error { return e }

func (e *Event) decodeJSON(b []byte) error {
	if err := checkJSON(b); err != nil {
		*e = Event{}
		return err
	}
	return e.decodeValidJSON(b)
}

// decodeValidJSON decodes an event from text that json.Valid accepted. It
// decodes every attribute it can: when several do not decode, the error
// lists each (the members' errors by name, so that they do not depend on
// member order, then those of the log position, then that of the data).
func (e *Event) decodeValidJSON(b []byte) error {
	*e = Event{}
	s := jsonScanner{b: b}
	if s.next() != '{' {
		return errors.New("an event must be a JSON object, got " + jsonKind(b))
	}
	var d jsonDecoder
	s.members(func(name, raw []byte) { d.member(e, name, raw) })
	storedErr, dataErr := e.decodeStored(&d), e.decodeData(&d)
	if d.errs == nil && storedErr == nil && dataErr == nil {
		return nil
	}
	return d.failed(storedErr, dataErr)
}

// failed returns the decoding error of an event: the members' errors by
// name, then storedErr and dataErr, one per attribute (the first).
func (d *jsonDecoder) failed(storedErr, dataErr error) error {
	slices.SortStableFunc(d.errs, func(a, b namedError) int { return strings.Compare(a.name, b.name) })
	var errs attributeErrors
	var names []string
	add := func(name string, err error) {
		if err != nil && !slices.Contains(names, name) {
			names = append(names, name)
			errs = append(errs, err)
		}
	}
	for _, ne := range d.errs {
		add(ne.name, ne.err)
	}
	for _, err := range [...]error{storedErr, dataErr} {
		name := ""
		var ve *ValidationError
		if errors.As(err, &ve) {
			name = ve.Attribute
		}
		add(name, err)
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errs
}

// jsonDecoder holds the members decoded after the others, the attributes
// seen so far and the errors of the members.
type jsonDecoder struct {
	data, dataBase64 []byte
	stored           [4][]byte // topic, partition, offset, storedtime
	seen             attrSet
	errs             []namedError
}

// namedError is the error of the member name.
type namedError struct {
	name string
	err  error
}

// Members other than the fixed attributes that a JSON event may have only
// once, as bits of attrSet after the fixed attributes.
const (
	memberDataContentType = len(fixedAttrs) + iota
	memberData
	memberDataBase64
	memberStored // and the three after it
)

// jsonMembers maps member names with their own handling to their bit.
var jsonMembers = map[string]int{
	attrDataContentType: memberDataContentType,
	attrData:            memberData,
	attrDataBase64:      memberDataBase64,
	attrTopic:           memberStored,
	attrPartition:       memberStored + 1,
	attrOffset:          memberStored + 2,
	attrStoredTime:      memberStored + 3,
}

var storedNames = [4]string{attrTopic, attrPartition, attrOffset, attrStoredTime}

func (d *jsonDecoder) member(e *Event, quoted, raw []byte) {
	name, err := jsonKey(quoted)
	if err == nil {
		err = d.decodeMember(e, name, raw)
	}
	if err != nil {
		d.errs = append(d.errs, namedError{string(name), err})
	}
}

func (d *jsonDecoder) decodeMember(e *Event, name, raw []byte) error {
	bit, special := jsonMembers[string(name)]
	if !special {
		return e.decodeAttr(name, raw, &d.seen)
	}
	if d.seen&(1<<bit) != 0 {
		return repeated(string(name))
	}
	d.seen |= 1 << bit
	switch bit {
	case memberDataContentType:
		s, _, err := jsonString(attrDataContentType, raw)
		e.DataContentType = s
		return err
	case memberData:
		d.data = raw
	case memberDataBase64:
		d.dataBase64 = raw
	default:
		d.stored[bit-memberStored] = raw
	}
	return nil
}

// jsonKey returns the unquoted member name.
func jsonKey(quoted []byte) ([]byte, error) {
	body := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return body, nil
	}
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// decodeAttr decodes a fixed or extension attribute from its JSON value.
func (e *Event) decodeAttr(name, raw []byte, seen *attrSet) error {
	var key string
	decode := jsonExtension
	if i, fixed := fixedIndex[string(name)]; fixed {
		key = fixedAttrs[i].name // no allocation for the usual names
		if !fixedAttrs[i].extension {
			decode = jsonString
		}
	} else {
		key = string(name)
	}
	s, ok, err := decode(key, raw)
	if !ok || err != nil {
		return err
	}
	return e.setAttr(key, s, seen)
}

// decodeStored reads the log position when partition and offset are both
// present; otherwise the four names are ordinary extensions.
func (e *Event) decodeStored(d *jsonDecoder) error {
	if isNull(d.stored[1]) || isNull(d.stored[2]) {
		for i, raw := range d.stored {
			if raw == nil {
				continue
			}
			if err := e.decodeAttr([]byte(storedNames[i]), raw, new(attrSet)); err != nil {
				return err
			}
		}
		return nil
	}
	e.Stored = true
	var err error
	if e.Topic, _, err = jsonString(attrTopic, d.stored[0]); err != nil {
		return err
	}
	partition, err := jsonInt(attrPartition, d.stored[1], 32)
	if err != nil {
		return err
	}
	e.Partition = int(partition)
	if e.Offset, err = jsonInt(attrOffset, d.stored[2], 64); err != nil {
		return err
	}
	s, ok, err := jsonString(attrStoredTime, d.stored[3])
	if !ok || err != nil {
		return err
	}
	e.StoredAt, err = parseTime(attrStoredTime, s)
	return err
}

// decodeData sets Data from data or data_base64, once datacontenttype is
// known.
func (e *Event) decodeData(d *jsonDecoder) error {
	if !isNull(d.dataBase64) {
		if !isNull(d.data) {
			return &ValidationError{Attribute: attrDataBase64, Rule: `must not be present together with "data"`}
		}
		s, _, err := jsonString(attrDataBase64, d.dataBase64)
		if err != nil {
			return err
		}
		return e.decodeBase64(s)
	}
	if d.data == nil {
		return nil
	}
	if isJSONMediaType(e.DataContentType) {
		if e.DataContentType == "" {
			e.DataContentType = "application/json"
		}
		e.Data = bytes.Clone(d.data)
		return nil
	}
	s, _, err := jsonString(attrData, d.data)
	if err != nil && d.data[0] == '"' {
		return err
	}
	if err != nil {
		return &ValidationError{Attribute: attrData, Rule: fmt.Sprintf(
			"must be a JSON string when datacontenttype %s is not JSON (send binary data as data_base64), got %s",
			quoteValue(e.DataContentType), jsonKind(d.data))}
	}
	if s != "" {
		e.Data = []byte(s)
	}
	return nil
}

func (e *Event) decodeBase64(s string) error {
	data, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return &ValidationError{Attribute: attrDataBase64,
			Rule: "must be standard base64 (RFC 4648 section 4): " + err.Error()}
	}
	if len(data) > 0 {
		e.Data = data
	}
	return nil
}

// jsonString decodes a JSON string; ok is false for null. A string that
// is not UTF-8, or escapes half of a UTF-16 surrogate pair, is an error:
// encoding/json would turn those into U+FFFD, changing the value silently.
func jsonString(name string, raw []byte) (s string, ok bool, err error) {
	if isNull(raw) {
		return "", false, nil
	}
	if raw[0] != '"' {
		return "", false, &ValidationError{Attribute: name, Rule: "must be a JSON string, got " + jsonKind(raw)}
	}
	body := raw[1 : len(raw)-1]
	if !utf8.Valid(body) {
		return "", false, &ValidationError{Attribute: name, Rule: "must be a JSON string of valid UTF-8"}
	}
	if bytes.IndexByte(body, '\\') < 0 {
		return string(body), true, nil
	}
	return unescapeJSONString(name, raw)
}

// unescapeJSONString is the slow path of jsonString, kept apart so that its
// escaping variable does not cost the fast path an allocation.
func unescapeJSONString(name string, raw []byte) (string, bool, error) {
	if hasLoneSurrogate(raw[1 : len(raw)-1]) {
		return "", false, &ValidationError{Attribute: name,
			Rule: `must not escape a lone UTF-16 surrogate (\ud800-\udfff not in a pair)`}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, &ValidationError{Attribute: name, Rule: err.Error()}
	}
	return s, true, nil
}

// hasLoneSurrogate reports whether the body of a valid JSON string has a
// \u escape of a surrogate that is not half of a high-low pair.
func hasLoneSurrogate(body []byte) bool {
	high := false // the escape just before was a high surrogate
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' || body[i+1] != 'u' {
			if high {
				return true
			}
			if body[i] == '\\' {
				i++
			}
			continue
		}
		var r rune
		for _, c := range body[i+2 : i+6] {
			r = r<<4 | rune(unhex(c))
		}
		i += 5
		if low := r >= 0xdc00 && r <= 0xdfff; low != high {
			return true
		}
		high = r >= 0xd800 && r <= 0xdbff
	}
	return high
}

// jsonExtension decodes an extension value (string, boolean or integer) to
// its canonical string; ok is false for null.
func jsonExtension(name string, raw []byte) (s string, ok bool, err error) {
	if isNull(raw) {
		return "", false, nil
	}
	switch c := raw[0]; {
	case c == '"':
		return jsonString(name, raw)
	case c == 't' || c == 'f':
		return string(raw), true, nil
	case c == '-' || (c >= '0' && c <= '9'):
		n, err := strconv.ParseInt(string(raw), 10, 32)
		if err == nil {
			return strconv.FormatInt(n, 10), true, nil
		}
	}
	return "", false, &ValidationError{Attribute: name, Rule: "must be a string, a boolean or an integer from " +
		"-2147483648 to 2147483647 (the CloudEvents types), got " + jsonKind(raw) + " " + quoteValue(string(raw))}
}

// jsonInt decodes a non-negative JSON integer of at most bits bits.
func jsonInt(name string, raw []byte, bits int) (int64, error) {
	n, err := strconv.ParseInt(string(raw), 10, bits)
	if err != nil || n < 0 {
		return 0, &ValidationError{Attribute: name, Rule: fmt.Sprintf(
			"must be a non-negative JSON integer of at most %d bits, got %s", bits, quoteValue(string(raw)))}
	}
	return n, nil
}

// isNull reports whether raw is absent or the JSON null.
func isNull(raw []byte) bool {
	return len(raw) == 0 || (raw[0] == 'n' && string(raw) == "null")
}

// jsonKind names the kind of the JSON value raw.
func jsonKind(raw []byte) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}
