package herald

import "testing"

// passedOnTrace reads a traceparent and a tracestate any publisher may
// set: whatever they hold, it passes on nothing or a version 00
// traceparent of the same trace and parent, with the tracestate as it
// was or none, and what it passes on it passes on again unchanged.
func FuzzPassedOnTrace(f *testing.F) {
	for _, seed := range [][2]string{
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-later", "a@b=c"},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", "x=y"},
		{"", "k=v,"},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "k=\x00"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, tp, ts string) {
		outTP, outTS := passedOnTrace(tp, ts)
		if outTP == "" {
			if outTS != "" {
				t.Fatalf("no traceparent passed on, but tracestate %q", outTS)
			}
			return
		}
		if len(outTP) != 55 || outTP[:3] != "00-" || outTP[3:53] != tp[3:53] {
			t.Fatalf("traceparent %q passed on as %q: not version 00 of the same trace and parent", tp, outTP)
		}
		if outTS != "" && (outTS != ts || !validTraceState(outTS)) {
			t.Fatalf("tracestate %q passed on as %q", ts, outTS)
		}
		if againTP, againTS := passedOnTrace(outTP, outTS); againTP != outTP || againTS != outTS {
			t.Fatalf("passed on again, %q %q became %q %q", outTP, outTS, againTP, againTS)
		}
	})
}
