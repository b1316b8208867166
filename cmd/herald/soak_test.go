package main

import (
	"context"
	"encoding/json"
	"testing"
)

func TestSoak_ReportsSamplesOfAMixedWorkload(t *testing.T) {
	r := runApp(context.Background(), nil, "", "soak", "--duration", "1500ms", "--every", "500ms", "--rate", "500", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var got struct{ Samples []soakSample }
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	n := len(got.Samples)
	if n < 3 {
		t.Fatalf("%d samples, want at least 3: %s", n, r.stdout)
	}
	last := got.Samples[n-1]
	if last.Published == 0 || last.Handled == 0 || last.Goroutines == 0 || last.OpenFiles == 0 || last.RSSMiB == 0 {
		t.Fatalf("the last sample measured nothing: %+v", last)
	}
	runApp(context.Background(), nil, "", "soak", "--rate", "0").wantOneErrorLine(t, "--rate at least 1")
}
