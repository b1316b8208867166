package event

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Attribute names used by more than one codec.
const (
	attrTime            = "time"
	attrDataContentType = "datacontenttype"
	attrData            = "data"
	attrDataBase64      = "data_base64"
	attrPartitionKey    = "partitionkey"

	// The log position Herald adds to events read back from the log
	// (structured JSON only).
	attrTopic      = "topic"
	attrPartition  = "partition"
	attrOffset     = "offset"
	attrStoredTime = "storedtime"
)

// fixedAttr is an attribute that has its own Event field. Bindings write
// them in the order of fixedAttrs; decoders mark each as seen in an attrSet,
// by its index, so that a repeated attribute is an error.
type fixedAttr struct {
	name      string
	extension bool                   // an extension attribute, not a core one
	field     func(e *Event) *string // nil for time
}

// fixedAttrs lists the string attributes with fields, plus time, in the order
// the binary bindings write them. datacontenttype is not here: each binding
// carries it in its own content-type header.
var fixedAttrs = [...]fixedAttr{
	{"specversion", false, func(e *Event) *string { return &e.SpecVersion }},
	{"id", false, func(e *Event) *string { return &e.ID }},
	{"source", false, func(e *Event) *string { return &e.Source }},
	{"type", false, func(e *Event) *string { return &e.Type }},
	{attrTime, false, nil},
	{"subject", false, func(e *Event) *string { return &e.Subject }},
	{"dataschema", false, func(e *Event) *string { return &e.DataSchema }},
	{attrPartitionKey, true, func(e *Event) *string { return &e.PartitionKey }},
	{"traceparent", true, func(e *Event) *string { return &e.TraceParent }},
	{"tracestate", true, func(e *Event) *string { return &e.TraceState }},
	{"correlationid", true, func(e *Event) *string { return &e.CorrelationID }},
	{"causationid", true, func(e *Event) *string { return &e.CausationID }},
}

// fixedIndex maps an attribute name to its index in fixedAttrs.
var fixedIndex = func() map[string]int {
	m := make(map[string]int, len(fixedAttrs))
	for i, a := range fixedAttrs {
		m[a.name] = i
	}
	return m
}()

// value returns the attribute's canonical string form, "" when absent.
func (a *fixedAttr) value(e *Event) string {
	if a.field == nil {
		if e.Time.IsZero() {
			return ""
		}
		return formatTime(e.Time)
	}
	return *a.field(e)
}

// attrSet records which fixed attributes a decoder has already set.
type attrSet uint32

// setAttr sets the attribute name (a fixed attribute or an extension) from
// its canonical string form, as the binary bindings carry it. A repeated
// attribute is an error.
func (e *Event) setAttr(name, value string, seen *attrSet) error {
	i, ok := fixedIndex[name]
	if !ok {
		return e.setExtension(name, value)
	}
	if *seen&(1<<i) != 0 {
		return repeated(name)
	}
	*seen |= 1 << i
	a := &fixedAttrs[i]
	if a.field != nil {
		*a.field(e) = value
		return nil
	}
	t, err := parseTime(name, value)
	if err == nil {
		err = CheckTimeGiven(t)
	}
	e.Time = t
	return err
}

// setExtension adds an extension attribute; a repeated one is an error.
func (e *Event) setExtension(name, value string) error {
	if _, dup := e.Extensions[name]; dup {
		return repeated(name)
	}
	if e.Extensions == nil {
		e.Extensions = make(map[string]string, 4)
	}
	e.Extensions[name] = value
	return nil
}

func repeated(name string) error {
	return &ValidationError{Attribute: name, Rule: "must be given only once"}
}

// eachAttribute calls fn for every attribute with a value except
// datacontenttype, in a fixed order: the fixed attributes, then the
// extensions sorted by name. Extensions are passed even when their value is
// empty, so that they round-trip.
func (e *Event) eachAttribute(fn func(name, value string)) {
	for i := range fixedAttrs {
		a := &fixedAttrs[i]
		if v := a.value(e); v != "" {
			fn(a.name, v)
		}
	}
	for _, name := range sortedKeys(e.Extensions) {
		fn(name, e.Extensions[name])
	}
}

// sortedKeys returns the keys of m in order; nil when m is empty.
func sortedKeys(m map[string]string) []string {
	switch len(m) {
	case 0:
		return nil
	case 1:
		for k := range m {
			return []string{k}
		}
	}
	return slices.Sorted(maps.Keys(m))
}

// canonicalTime returns t in a zone RFC 3339 can write exactly: a whole
// number of minutes less than a day from UTC. Any other zone becomes UTC.
func canonicalTime(t time.Time) time.Time {
	_, off := t.Zone()
	if off%60 != 0 || off <= -24*3600 || off >= 24*3600 {
		return t.UTC()
	}
	return t
}

// appendTime appends t in RFC 3339 with nanoseconds.
func appendTime(b []byte, t time.Time) []byte {
	return canonicalTime(t).AppendFormat(b, time.RFC3339Nano)
}

// timeLen is len(appendTime(nil, t)), worked out without formatting.
func timeLen(t time.Time) int {
	t = canonicalTime(t)
	if y := t.Year(); y < 0 || y > 9999 {
		var buf [64]byte
		return len(appendTime(buf[:0], t))
	}
	n := len("2006-01-02T15:04:05")
	if ns := t.Nanosecond(); ns != 0 {
		digits := 9
		for ns%10 == 0 {
			ns /= 10
			digits--
		}
		n += 1 + digits
	}
	if _, off := t.Zone(); off == 0 {
		n += len("Z")
	} else {
		n += len("+07:00")
	}
	return n
}

// formatTime returns t in RFC 3339 with nanoseconds.
func formatTime(t time.Time) string {
	var buf [64]byte
	return string(appendTime(buf[:0], t))
}

// FormatTime writes t as the bindings write the time attribute: RFC 3339
// with nanoseconds, in t's zone unless RFC 3339 cannot write that zone
// exactly (then in UTC). ParseTime reads it back for every t that Validate
// accepts as a time.
func FormatTime(t time.Time) string { return formatTime(t) }

// ParseTime parses an RFC 3339 timestamp, the form of CloudEvents times,
// such as 2006-01-02T15:04:05.5Z or 2006-01-02T15:04:05+07:00. RFC 3339
// allows a lower-case 't' and 'z' (section 5.6), which Go's time.RFC3339
// layout does not, so they are upper-cased first. Unlike time.Parse, it
// refuses what RFC 3339 does not allow: a one-digit hour, a comma before
// the fraction, an offset of 24 hours or more.
func ParseTime(s string) (time.Time, error) {
	if strings.ContainsAny(s, "tz") {
		s = strings.Map(upperTZ, s)
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, err
	}
	if !strictRFC3339(s) {
		return time.Time{}, fmt.Errorf("parsing time %s: not in the form of RFC 3339", quoteValue(s))
	}
	return t, nil
}

// strictRFC3339 checks, in a string that time.Parse took as RFC 3339, what
// it does not check (go.dev/issue/54580): two hour digits, a period before
// the fraction, an offset hour below 24.
func strictRFC3339(s string) bool {
	const hour = len("2006-01-02T")
	if s[hour+2] != ':' || s[hour+len("15:04:05")] == ',' {
		return false
	}
	if s[len(s)-1] == 'Z' {
		return true
	}
	off := s[len(s)-len("07:00"):]
	return off[0] < '2' || (off[0] == '2' && off[1] < '4')
}

func upperTZ(r rune) rune {
	switch r {
	case 't':
		return 'T'
	case 'z':
		return 'Z'
	}
	return r
}

// parseTime parses an RFC 3339 timestamp of the attribute name.
func parseTime(name, s string) (time.Time, error) {
	t, err := ParseTime(s)
	if err != nil {
		return time.Time{}, &ValidationError{Attribute: name,
			Rule: "must be an RFC 3339 timestamp such as 2006-01-02T15:04:05Z, got " + quoteValue(s)}
	}
	return t, nil
}

// CheckTimeGiven returns a *ValidationError when t, the value given for an
// event's time attribute, is the zero time.Time (0001-01-01T00:00:00Z in
// any zone): Event.Time is zero when an event has no time, so that value
// would be stored as no time at all. Decoders refuse it instead of
// dropping it.
func CheckTimeGiven(t time.Time) error {
	if !t.IsZero() {
		return nil
	}
	return &ValidationError{Attribute: attrTime, Rule: "0001-01-01T00:00:00Z is the zero time, " +
		"which Herald cannot tell from no time: leave time out, or give another time"}
}

// checkTimeWritable reports whether t can be written in RFC 3339, whose
// years have four digits.
func checkTimeWritable(name string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if y := canonicalTime(t).Year(); y < 0 || y > 9999 {
		return &ValidationError{Attribute: name,
			Rule: fmt.Sprintf("year must be within 0000-9999 to be written in RFC 3339, got %d", y)}
	}
	return nil
}

// quoteValue quotes s for an error message, shortened when long.
func quoteValue(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
