package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/schema/compat"
)

// Violation is one way an event breaks its schema (or the topic's schema
// policy).
type Violation struct {
	Index   int    `json:"index"`             // the event's position in its batch
	ID      string `json:"id"`                // the event's id
	Subject string `json:"subject"`           // the event's type: the subject
	Version int    `json:"version,omitempty"` // the version checked against; 0 when none was
	Pointer string `json:"pointer"`           // JSON pointer into the data; "" for the whole data
	Keyword string `json:"keyword,omitempty"` // the schema keyword broken, e.g. "#/properties/total/minimum"
	Message string `json:"message"`
}

// ViolationError refuses a batch in which events break their schemas: it
// lists each violation (at most MaxViolations) of every such event.
type ViolationError struct {
	Topic      string
	Events     int // events refused
	Total      int // violations found, listed or not
	Violations []Violation
}

// MaxViolations bounds the violations a ViolationError lists.
const MaxViolations = 100

func (e *ViolationError) Error() string {
	if len(e.Violations) == 0 {
		return ErrViolation.Error()
	}
	v := e.Violations[0]
	var b strings.Builder
	fmt.Fprintf(&b, "%s: event %d (id %q) ", ErrViolation, v.Index, v.ID)
	if v.Version > 0 {
		fmt.Fprintf(&b, "breaks version %d of schema %q: ", v.Version, v.Subject)
	} else {
		fmt.Fprintf(&b, "of type %q: ", v.Subject)
	}
	if v.Pointer != "" {
		b.WriteString(v.Pointer + ": ")
	}
	b.WriteString(v.Message)
	if more := e.Total - 1; more > 0 {
		fmt.Fprintf(&b, " (%d more violation%s", more, plural(more))
		if e.Events > 1 {
			fmt.Fprintf(&b, " in %d events", e.Events)
		}
		b.WriteString(")")
	}
	b.WriteString("; nothing of the batch was stored")
	return b.String()
}

func (e *ViolationError) Unwrap() error { return ErrViolation }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Validate checks a batch of events bound for topic t by its schema
// policy (the broker calls it before storing anything): with "validate",
// each event whose type has a schema is checked against the version its
// dataschema names, or the latest; with "require", each event's type must
// have one. It returns a *ViolationError listing every violation, or nil.
func (r *Registry) Validate(t broker.Topic, events []*event.Event) error {
	if t.SchemaPolicy == broker.SchemaPolicyNone || t.SchemaPolicy == "" {
		return nil
	}
	s := r.state.Load()
	var verr *ViolationError
	for i, e := range events {
		found := s.checkEvent(t.SchemaPolicy, e)
		if len(found) == 0 {
			continue
		}
		if verr == nil {
			verr = &ViolationError{Topic: t.Name}
		}
		verr.Events++
		verr.Total += len(found)
		for _, f := range found {
			if len(verr.Violations) == MaxViolations {
				break
			}
			f.Index, f.ID, f.Subject = i, e.ID, e.Type
			verr.Violations = append(verr.Violations, f)
		}
	}
	if verr == nil {
		return nil
	}
	return verr
}

// checkEvent returns the violations of one event (Index, ID and Subject
// not set). It does not allocate for a valid event.
func (s *snapshot) checkEvent(policy broker.SchemaPolicy, e *event.Event) []Violation {
	named, n, ok, err := ParseURI(e.DataSchema)
	if err != nil {
		return []Violation{{Message: err.Error()}}
	}
	if ok && named != e.Type {
		return []Violation{{Message: fmt.Sprintf("dataschema names a version of subject %q, but the event's type is %q: "+
			"an event's schema is registered under its type", named, e.Type)}}
	}
	sub := s.subjects[e.Type]
	var v version
	switch {
	case ok:
		if sub == nil {
			return []Violation{{Message: fmt.Sprintf("dataschema names version %d of %q, but no schema is registered for that type", n, e.Type)}}
		}
		var err error
		if v, err = sub.version(n, false); err != nil {
			return []Violation{{Message: fmt.Sprintf("dataschema names version %d of %q, which does not exist or is deleted", n, e.Type)}}
		}
	default:
		var found bool
		if sub != nil {
			v, found = sub.latest()
		}
		if !found {
			if policy == broker.SchemaPolicyRequire {
				return []Violation{{Message: fmt.Sprintf("no schema is registered for type %q, and the topic's schemaPolicy is require; "+
					"register one, or set the policy to validate", e.Type)}}
			}
			return nil
		}
	}
	return s.checkData(e, v)
}

// checkData validates an event's data against a version.
func (s *snapshot) checkData(e *event.Event, v version) []Violation {
	switch {
	case !event.IsJSONContentType(e.DataContentType):
		return []Violation{{Version: v.N, Message: fmt.Sprintf("datacontenttype %q is not JSON, and a schema validates JSON data only "+
			"(send application/json, or publish to a topic whose schemaPolicy is none)", e.DataContentType)}}
	case len(e.Data) == 0:
		return []Violation{{Version: v.N, Message: "the event has no data to validate against its schema"}}
	}
	st, ok := s.schemas[v.ID]
	if !ok {
		return []Violation{{Version: v.N, Message: fmt.Sprintf("schema id %d is missing", v.ID)}}
	}
	c, err := st.compiled()
	if err != nil {
		return []Violation{{Version: v.N, Message: fmt.Sprintf("schema id %d does not compile: %v", v.ID, err)}}
	}
	found := c.validate(e.Data)
	for i := range found {
		found[i].Version = v.N
	}
	return found
}

// maxNumberWork bounds the sum of the powers of ten (their absolute
// values) of the numbers in data the full validator reads: it reads a
// number a keyword compares exactly, with math/big, in time that grows with
// its power of ten (about 20 ms for 1e999999), and a megabyte of such
// numbers would hold it for most of an hour. Two numbers of the largest
// power Herald takes (±1,000,000) fit.
const maxNumberWork = 2_000_000

// numberWork adds the absolute powers of ten of v's numbers to work,
// stopping once it passes maxNumberWork.
func numberWork(v any, work int64) int64 {
	switch v := v.(type) {
	case json.Number:
		exp, ok := compat.PowerOfTen(string(v))
		if !ok {
			return maxNumberWork + 1
		}
		return work + max(exp, -exp)
	case map[string]any:
		for _, x := range v {
			if work = numberWork(x, work); work > maxNumberWork {
				break
			}
		}
	case []any:
		for _, x := range v {
			if work = numberWork(x, work); work > maxNumberWork {
				break
			}
		}
	}
	return work
}

// validate returns the violations of data; none when it is valid.
func (c *compiled) validate(data []byte) (found []Violation) {
	if c.fast != nil && fastValid(c.fast, data) {
		return nil
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return []Violation{{Message: "the data is not valid JSON: " + err.Error()}}
	}
	if work := numberWork(v, 0); work > maxNumberWork {
		return []Violation{{Message: fmt.Sprintf("the data's numbers have exponents adding up to more than %d, too costly to compare; write them with smaller exponents", maxNumberWork)}}
	}
	defer func() {
		// The full validator panics on a number math/big cannot read (an
		// exponent beyond ±1,000,000) where a keyword must compare it.
		// Such data is refused, not stored unchecked.
		if p := recover(); p != nil {
			found = []Violation{{Message: fmt.Sprintf("the data cannot be validated (a number with an exponent beyond ±1,000,000?): %v", p)}}
		}
	}()
	err = c.full.Validate(v)
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return nil
	}
	var out []Violation
	leaves(verr, func(l *jsonschema.ValidationError) {
		out = append(out, Violation{Pointer: pointer(l.InstanceLocation), Keyword: keyword(l), Message: describe(l)})
	})
	slices.SortStableFunc(out, func(a, b Violation) int { return strings.Compare(a.Pointer, b.Pointer) })
	return out
}

// keyword returns the location of the keyword an error is about,
// relative to the schema ("#/properties/total/minimum").
func keyword(e *jsonschema.ValidationError) string {
	loc := strings.TrimPrefix(e.SchemaURL, schemaURL)
	if kw := e.ErrorKind.KeywordPath(); len(kw) > 0 {
		loc += "/" + strings.Join(kw, "/")
	}
	return loc
}

// leaves calls fn for each error of the tree that has no causes.
func leaves(e *jsonschema.ValidationError, fn func(*jsonschema.ValidationError)) {
	if len(e.Causes) == 0 {
		fn(e)
		return
	}
	for _, c := range e.Causes {
		leaves(c, fn)
	}
}

var printer = message.NewPrinter(language.English)

// describe says what an error is about: its keyword and the validator's
// message, e.g. "minimum: must be >= 1 but found 0".
func describe(e *jsonschema.ValidationError) string {
	msg := e.ErrorKind.LocalizedString(printer)
	if kw := strings.Join(e.ErrorKind.KeywordPath(), "/"); kw != "" && !strings.HasPrefix(msg, kw+":") {
		return kw + ": " + msg
	}
	return msg
}

// pointer writes a JSON pointer (RFC 6901).
func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}
