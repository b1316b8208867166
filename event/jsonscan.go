package event

import (
	"encoding/json"
	"errors"
)

// jsonScanner walks JSON text that validJSON has accepted, so it can skip
// values by their brackets and quotes without checking their grammar. It
// never allocates.
type jsonScanner struct {
	b []byte
	i int
}

// checkJSON returns nil if b is valid JSON, else encoding/json's error.
func checkJSON(b []byte) error {
	if validJSON(b) {
		return nil
	}
	if err := json.Unmarshal(b, new(json.RawMessage)); err != nil {
		return err
	}
	return errors.New("invalid JSON")
}

func (s *jsonScanner) skipSpace() { s.i = skipSpace(s.b, s.i) }

// next returns the first byte of the next value, after whitespace.
func (s *jsonScanner) next() byte {
	s.skipSpace()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// value returns the text of the next value and moves past it.
func (s *jsonScanner) value() []byte {
	s.skipSpace()
	start := s.i
	s.skipValue()
	return s.b[start:s.i]
}

func (s *jsonScanner) skipValue() {
	switch s.b[s.i] {
	case '"':
		s.skipString()
	case '{', '[':
		s.skipNested()
	default: // number, true, false, null
		for s.i < len(s.b) && !endsLiteral(s.b[s.i]) {
			s.i++
		}
	}
}

// endsLiteral reports whether c ends a number or true, false or null.
func endsLiteral(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

func (s *jsonScanner) skipString() {
	s.i++ // opening quote
	for s.i < len(s.b) {
		if s.i = plainRun(s.b, s.i); s.i >= len(s.b) {
			return
		}
		c := s.b[s.i]
		s.i++
		switch c {
		case '\\':
			s.i++
		case '"':
			return
		}
	}
}

func (s *jsonScanner) skipNested() {
	depth := 0
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '"':
			s.skipString()
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
		s.i++
		if depth == 0 {
			return
		}
	}
}

// members calls fn with the quoted name and the value text of each member
// of the object that starts at the scanner.
func (s *jsonScanner) members(fn func(name, value []byte)) {
	s.next()
	s.i++ // {
	for {
		switch s.next() {
		case '}':
			s.i++
			return
		case ',':
			s.i++
		}
		name := s.value()
		s.next()
		s.i++ // :
		fn(name, s.value())
	}
}

// elements calls fn with the text of each element of the array that starts
// at the scanner.
func (s *jsonScanner) elements(fn func(value []byte)) {
	s.next()
	s.i++ // [
	for {
		switch s.next() {
		case ']':
			s.i++
			return
		case ',':
			s.i++
		}
		fn(s.value())
	}
}
