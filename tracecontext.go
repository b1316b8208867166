package herald

import (
	"slices"
	"strings"
)

// passedOnTrace returns the traceparent and tracestate that an event
// caused by one carrying tp and ts continues its trace with: W3C Trace
// Context, as the CloudEvents distributed tracing extension defines
// them, read as OpenTelemetry reads them, or nothing. A traceparent that
// is not one is not passed on, nor a tracestate with it (W3C: restart
// the trace); a tracestate that is not one is dropped. A traceparent of
// a later version is passed on as version 00, the one Herald knows. So
// a publisher's junk, however large, goes no further than its event.
func passedOnTrace(tp, ts string) (string, string) {
	tp, ok := traceParent00(tp)
	if !ok {
		return "", ""
	}
	if !validTraceState(ts) {
		ts = ""
	}
	return tp, ts
}

// traceParent00 returns tp as a version 00 traceparent,
// version-traceid-parentid-flags in lower-case hex, ok false when tp is
// none.
func traceParent00(tp string) (string, bool) {
	if len(tp) < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' ||
		!lowerHex(tp[:2]) || tp[:2] == "ff" || !lowerHex(tp[53:55]) ||
		!lowerHex(tp[3:35]) || !lowerHex(tp[36:52]) ||
		tp[3:35] == strings.Repeat("0", 32) || tp[36:52] == strings.Repeat("0", 16) {
		return "", false
	}
	if tp[:2] == "00" { // nothing may follow, and the flags are two bits
		return tp, len(tp) == 55 && tp[53] == '0' && tp[54] <= '3'
	}
	if len(tp) > 55 && tp[55] != '-' {
		return "", false
	}
	flags := "0123"[hexValue(tp[54])&3] // the flags version 00 has: sampled, random
	return "00" + tp[2:53] + "0" + string(flags), true
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func hexValue(c byte) byte {
	if c >= 'a' {
		return c - 'a' + 10
	}
	return c - '0'
}

// validTraceState reports whether ts is a W3C tracestate: at most 32
// list members key=value, no key twice. An empty one is.
func validTraceState(ts string) bool {
	var keys []string
	for m := range strings.SplitSeq(ts, ",") {
		if m == "" {
			continue
		}
		key, value, ok := strings.Cut(m, "=")
		key, value = strings.TrimLeft(key, " \t"), strings.TrimRight(value, " \t")
		if !ok || len(keys) == 32 || !traceStateKey(key) || !traceStateValue(value) || slices.Contains(keys, key) {
			return false
		}
		keys = append(keys, key)
	}
	return true
}

// traceStateKey reports whether key is a simple-key or a
// tenant-id@system-id.
func traceStateKey(key string) bool {
	tenant, system, ok := strings.Cut(key, "@")
	if !ok {
		return keyPart(key, 256, false)
	}
	return keyPart(tenant, 241, true) && keyPart(system, 14, false)
}

// keyPart reports whether s is at most n characters of a-z, 0-9, _, -, *
// and /, the first a letter (or a digit, when digitFirst).
func keyPart(s string, n int, digitFirst bool) bool {
	if s == "" || len(s) > n || !(s[0] >= 'a' && s[0] <= 'z' || digitFirst && s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && !strings.ContainsRune("_-*/", rune(c)) {
			return false
		}
	}
	return true
}

// traceStateValue reports whether v is 1 to 256 printable ASCII
// characters other than ',' and '=', not ending in a space.
func traceStateValue(v string) bool {
	if v == "" || len(v) > 256 || v[len(v)-1] == ' ' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e || c == ',' || c == '=' {
			return false
		}
	}
	return true
}
