package schema

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// An event names the schema version its data follows in its dataschema
// attribute, with a URI of either form:
//
//	herald:schemas/<subject>/versions/<n>
//	<scheme>://<host>[/<prefix>]/schema-registry/subjects/<subject>/versions/<n>
//
// The subject is the event's type, percent-encoded as a URI path segment
// ("order.placed" stays as it is, "a/b" is "a%2Fb"). The second form is
// the registry's own URL of that version (GET it for the schema). Any
// other dataschema (an external document, a protobuf type URL) names no
// Herald schema: validation then uses the latest version.

// uriPrefix starts the herald: form.
const uriPrefix = "herald:schemas/"

// URI returns the herald: URI of a version of a subject, to put in an
// event's dataschema.
func URI(subject string, version int) string {
	return uriPrefix + url.PathEscape(subject) + "/versions/" + strconv.Itoa(version)
}

// ParseURI returns the subject and version a dataschema names. ok is
// false when it names no Herald schema; err is set for a URI of a Herald
// form that is malformed.
func ParseURI(dataschema string) (subject string, version int, ok bool, err error) {
	var rest string
	switch {
	case strings.HasPrefix(dataschema, uriPrefix):
		rest = dataschema[len(uriPrefix):]
	case strings.Contains(dataschema, "/schema-registry/subjects/") && strings.Contains(dataschema, "://"):
		u, perr := url.Parse(dataschema)
		if perr != nil || u.RawQuery != "" || u.Fragment != "" {
			return "", 0, false, nil
		}
		_, after, found := strings.Cut(u.EscapedPath(), "/schema-registry/subjects/")
		if !found {
			return "", 0, false, nil
		}
		rest = after
	default:
		return "", 0, false, nil
	}
	seg, num, found := strings.Cut(rest, "/versions/")
	if !found || seg == "" || strings.Contains(seg, "/") {
		return "", 0, false, badURI(dataschema)
	}
	version, err = strconv.Atoi(num)
	if err != nil || version < 1 {
		return "", 0, false, badURI(dataschema)
	}
	if subject, err = url.PathUnescape(seg); err != nil {
		return "", 0, false, badURI(dataschema)
	}
	return subject, version, true, nil
}

func badURI(s string) error {
	return fmt.Errorf("dataschema %q is not of the form herald:schemas/<type>/versions/<n> (the type percent-encoded, n a version number from 1)", s)
}
