package event

import (
	"errors"
	"fmt"
	"mime"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// ValidationError says which attribute of an event breaks which rule. The
// decoders return it too, for attributes of the wrong type or form, wrapped
// with a prefix naming the format; use errors.As to get it back.
type ValidationError struct {
	Attribute string // attribute name, e.g. "specversion"
	Rule      string // the rule broken, e.g. `must be "1.0", got "0.3"`
}

// Error returns e.g. `attribute "specversion": must be "1.0", got "0.3"`.
func (e *ValidationError) Error() string {
	return "attribute " + quoteValue(e.Attribute) + ": " + e.Rule
}

// maxExtensionNameLen is the CloudEvents 1.0 limit on attribute names.
const maxExtensionNameLen = 20

// Validate checks e against CloudEvents 1.0 and returns the first problem as
// a *ValidationError, or nil. The decoders do not call it; callers do.
//
// Beyond the spec's rules, extension names may not be those of the
// attributes Herald carries in fields (partitionkey, traceparent,
// tracestate, correlationid, causationid) nor the log position names Herald
// adds (topic, partition, offset, storedtime). Validate ignores Topic,
// Partition, Offset, StoredAt and Stored: a publisher must clear them.
func (e *Event) Validate() error {
	var first error
	e.check(func(err error) bool {
		first = err
		return false
	})
	return first
}

// ValidateAll is Validate that goes on past the first problem: it returns
// one *ValidationError for each attribute that breaks a rule (the first
// rule it breaks), in the order Validate checks them, so that the first is
// the error Validate returns. It returns nil for a valid event.
func (e *Event) ValidateAll() []error {
	var all []error
	var names []string
	e.check(func(err error) bool {
		var ve *ValidationError
		if errors.As(err, &ve) && slices.Contains(names, ve.Attribute) {
			return true // one error per attribute
		}
		if ve != nil {
			names = append(names, ve.Attribute)
		}
		all = append(all, err)
		return true
	})
	return all
}

// check calls report with each problem of e, a *ValidationError, in a
// fixed order, until report returns false: the required attributes, the
// source, the strings, the time, the content type, the data schema, then
// the extensions by name.
func (e *Event) check(report func(error) bool) {
	_ = e.checkRequired(report) &&
		reportErr(report, e.validateSource()) &&
		e.checkStrings(report) &&
		reportErr(report, checkTimeWritable(attrTime, e.Time)) &&
		reportErr(report, e.validateDataContentType()) &&
		reportErr(report, e.validateDataSchema()) &&
		e.checkExtensions(report)
}

// reportErr reports err unless it is nil; it returns false when report
// asks to stop.
func reportErr(report func(error) bool, err error) bool {
	return err == nil || report(err)
}

func (e *Event) checkRequired(report func(error) bool) bool {
	if !reportErr(report, e.checkSpecVersion()) {
		return false
	}
	for _, a := range [...]struct{ name, value string }{
		{"id", e.ID}, {"source", e.Source}, {"type", e.Type},
	} {
		if a.value == "" && !report(required(a.name)) {
			return false
		}
	}
	return true
}

func (e *Event) checkSpecVersion() error {
	switch e.SpecVersion {
	case SpecVersion:
		return nil
	case "":
		return required("specversion")
	}
	return &ValidationError{Attribute: "specversion",
		Rule: fmt.Sprintf("must be %q, got %s", SpecVersion, quoteValue(e.SpecVersion))}
}

func required(name string) error {
	return &ValidationError{Attribute: name, Rule: "is required and must be a non-empty string"}
}

func (e *Event) validateSource() error {
	if okSources.known(e.Source) {
		return nil
	}
	if _, err := url.Parse(e.Source); err != nil {
		return &ValidationError{Attribute: "source",
			Rule: "must be a URI-reference (RFC 3986) such as /orders or urn:shop:orders: " + urlReason(err)}
	}
	okSources.remember(e.Source)
	return nil
}

func (e *Event) validateDataSchema() error {
	if e.DataSchema == "" || okDataSchemas.known(e.DataSchema) {
		return nil
	}
	u, err := url.Parse(e.DataSchema)
	if err != nil {
		return &ValidationError{Attribute: "dataschema",
			Rule: "must be an absolute URI (RFC 3986): " + urlReason(err)}
	}
	if !u.IsAbs() {
		return &ValidationError{Attribute: "dataschema",
			Rule: "must be an absolute URI with a scheme such as https://, got " + quoteValue(e.DataSchema)}
	}
	okDataSchemas.remember(e.DataSchema)
	return nil
}

// urlReason is the reason of a url.Parse error without the repeated input.
func urlReason(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err.Error()
	}
	return err.Error()
}

func (e *Event) validateDataContentType() error {
	ct := e.DataContentType
	if ct == "" || okContentTypes.known(ct) {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && !strings.Contains(mt, "/") {
		err = errors.New("no subtype")
	}
	if err != nil {
		return &ValidationError{Attribute: attrDataContentType,
			Rule: fmt.Sprintf("must be a media type (RFC 2046) such as application/json, got %s: %v",
				quoteValue(ct), err)}
	}
	okContentTypes.remember(ct)
	return nil
}

// checkStrings checks every string attribute against the CloudEvents
// String type: valid UTF-8 without control characters or noncharacters.
func (e *Event) checkStrings(report func(error) bool) bool {
	for i := range fixedAttrs {
		a := &fixedAttrs[i]
		if a.field == nil {
			continue
		}
		if !reportErr(report, checkString(a.name, *a.field(e))) {
			return false
		}
	}
	return reportErr(report, checkString(attrDataContentType, e.DataContentType))
}

// checkString checks that s is a valid CloudEvents String.
func checkString(name, s string) error {
	i := 0
	for ; i+8 <= len(s); i += 8 { // eight printable ASCII bytes at a time
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if !printable8(w) {
			break
		}
	}
	for i < len(s) {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if reason := badRune(r, size); reason != "" {
			return &ValidationError{Attribute: name,
				Rule: fmt.Sprintf("must be a CloudEvents String: %s at byte %d", reason, i)}
		}
		i += size
	}
	return nil
}

// printable8 reports whether every byte of w is printable ASCII (0x20 to
// 0x7e). It may say false for a word that is (the caller then looks at its
// bytes one by one), never true for one that is not: the first term flags
// a byte below 0x20 (the "has a byte less than n" test, exact in saying
// whether there is one), the second a byte of 0x7f or more (adding one
// sets the top bit of 0x7f; a carry comes only out of a 0xff byte, whose
// own top bit is set).
func printable8(w uint64) bool {
	const ones, tops = 0x0101010101010101, 0x8080808080808080
	return ((w-0x20*ones)&^w|(w+ones)|w)&tops == 0
}

// MakeString returns s as a CloudEvents String, for free text such as an
// error message that goes into an attribute: a line break becomes " | ", a
// tab or another control character a space, and invalid UTF-8 or a
// noncharacter U+FFFD. A trailing line break is dropped. A valid String
// comes back unchanged.
func MakeString(s string) string {
	if checkString("", s) == nil {
		return s
	}
	s = strings.TrimRight(s, "\r\n")
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\r' && strings.HasPrefix(s[i+1:], "\n"):
			// written with the \n
		case r == '\n' || r == '\r':
			b.WriteString(" | ")
		case r < 0x20 || (r >= 0x7f && r <= 0x9f):
			b.WriteByte(' ')
		case badRune(r, size) != "":
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// badRune says why r may not appear in a CloudEvents String, or "".
func badRune(r rune, size int) string {
	switch {
	case r == utf8.RuneError && size == 1:
		return "invalid UTF-8"
	case r < 0x20 || (r >= 0x7f && r <= 0x9f):
		return fmt.Sprintf("control character %U", r)
	case (r >= 0xfdd0 && r <= 0xfdef) || r&0xfffe == 0xfffe:
		return fmt.Sprintf("noncharacter %U", r)
	}
	return ""
}

// checkExtensions checks every extension name and value, reporting the
// bad ones by name. The first bad one is found without sorting, so that a
// valid event's extensions are never sorted.
func (e *Event) checkExtensions(report func(error) bool) bool {
	first, err := e.firstBadExtension()
	if err == nil {
		return true
	}
	if !report(err) {
		return false
	}
	for _, name := range sortedKeys(e.Extensions) {
		if name > first && !reportErr(report, checkExtension(name, e.Extensions[name])) {
			return false
		}
	}
	return true
}

// firstBadExtension returns the bad extension whose name sorts first, so
// that the error does not depend on map order, and its error; nil if none.
func (e *Event) firstBadExtension() (string, error) {
	var first string
	var firstErr error
	for name, value := range e.Extensions {
		if err := checkExtension(name, value); err != nil && (firstErr == nil || name < first) {
			first, firstErr = name, err
		}
	}
	return first, firstErr
}

// checkExtension checks an extension's name and value.
func checkExtension(name, value string) error {
	if err := checkExtensionName(name); err != nil {
		return err
	}
	return checkString(name, value)
}

// checkExtensionName checks an extension attribute name.
func checkExtensionName(name string) error {
	if !validExtensionName(name) {
		return &ValidationError{Attribute: name, Rule: fmt.Sprintf(
			"extension name must be 1-%d characters, each a lowercase letter a-z or a digit 0-9",
			maxExtensionNameLen)}
	}
	if rule := reservedName(name); rule != "" {
		return &ValidationError{Attribute: name, Rule: rule}
	}
	return nil
}

func validExtensionName(name string) bool {
	if name == "" || len(name) > maxExtensionNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// reservedName says why name cannot be an entry of Extensions, or "".
func reservedName(name string) string {
	switch name {
	case "id", "source", "specversion", "type", attrTime, "subject",
		attrDataContentType, "dataschema", attrData, attrDataBase64:
		return "extension name collides with the CloudEvents context attribute of that name"
	case attrPartitionKey, "traceparent", "tracestate", "correlationid", "causationid":
		return "is carried in its own Event field, not in Extensions"
	case attrTopic, attrPartition, attrOffset, attrStoredTime:
		return "is reserved for the log position Herald adds to the events it returns"
	}
	return ""
}
