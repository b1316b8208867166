package event

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The CloudEvents HTTP binding (section 3.1.3.2) percent-encodes header
// values: space, '"', '%' and every byte outside printable ASCII
// (0x21-0x7E) become %XY with upper-case hex, one per UTF-8 byte. A decoder
// first undoes RFC 7230 quoted strings, then one round of percent-decoding,
// and rejects results that are not UTF-8.

const upperHex = "0123456789ABCDEF"

// needsPercent reports whether the byte c must be percent-encoded.
func needsPercent(c byte) bool {
	return c <= ' ' || c >= 0x7f || c == '"' || c == '%'
}

// encodeHeaderValue percent-encodes an attribute value for an HTTP header.
func encodeHeaderValue(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if needsPercent(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if needsPercent(c) {
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&0xf])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// decodeHeaderValue undoes quoted strings and percent-encoding in an HTTP
// header value and checks that the result is UTF-8.
func decodeHeaderValue(s string) (string, error) {
	var err error
	if strings.IndexByte(s, '"') >= 0 {
		if s, err = unquoteHeader(s); err != nil {
			return "", err
		}
	}
	if strings.IndexByte(s, '%') >= 0 {
		if s, err = percentDecode(s); err != nil {
			return "", err
		}
	}
	if !utf8.ValidString(s) {
		return "", errors.New("decodes to invalid UTF-8")
	}
	return s, nil
}

// unquoteHeader removes RFC 7230 quoted strings ("..." with backslash
// escapes) wherever they appear in s.
func unquoteHeader(s string) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			quoted = !quoted
		case c == '\\' && quoted:
			i++
			if i == len(s) {
				return "", errors.New("quoted string ends with a backslash")
			}
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	if quoted {
		return "", errors.New("quoted string is not closed")
	}
	return b.String(), nil
}

// percentDecode decodes every %XY (hex, either case) in s.
func percentDecode(s string) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", fmt.Errorf("invalid percent-encoding at byte %d: %% must be followed by two hex digits", i)
		}
		b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
		i += 2
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
