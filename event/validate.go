package event

import (
	"errors"
	"fmt"
	"mime"
	"net/url"
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
	checks := [...]func() error{
		e.validateRequired,
		e.validateSource,
		e.validateStrings,
		func() error { return checkTimeWritable(attrTime, e.Time) },
		e.validateDataContentType,
		e.validateDataSchema,
		e.validateExtensions,
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (e *Event) validateRequired() error {
	if e.SpecVersion == "" {
		return required("specversion")
	}
	if e.SpecVersion != SpecVersion {
		return &ValidationError{Attribute: "specversion",
			Rule: fmt.Sprintf("must be %q, got %s", SpecVersion, quoteValue(e.SpecVersion))}
	}
	for _, a := range [...]struct{ name, value string }{
		{"id", e.ID}, {"source", e.Source}, {"type", e.Type},
	} {
		if a.value == "" {
			return required(a.name)
		}
	}
	return nil
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

// validateStrings checks every string attribute against the CloudEvents
// String type: valid UTF-8 without control characters or noncharacters.
func (e *Event) validateStrings() error {
	for i := range fixedAttrs {
		a := &fixedAttrs[i]
		if a.field == nil {
			continue
		}
		if err := checkString(a.name, *a.field(e)); err != nil {
			return err
		}
	}
	return checkString(attrDataContentType, e.DataContentType)
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

// validateExtensions checks every extension name and value. When several
// are bad it reports the one whose name sorts first, so the error does not
// depend on map order.
func (e *Event) validateExtensions() error {
	var first string
	var firstErr error
	for name, value := range e.Extensions {
		err := checkExtensionName(name)
		if err == nil {
			err = checkString(name, value)
		}
		if err != nil && (firstErr == nil || name < first) {
			first, firstErr = name, err
		}
	}
	return firstErr
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
