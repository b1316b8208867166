package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldevents/herald/internal/auth"
)

// token create prints an entry that herald serve loads, with a token that
// it then knows; input serve would refuse is refused, printing nothing.
func TestToken_CreateMakesOnlyEntriesServeAccepts(t *testing.T) {
	r := runApp(context.Background(), nil, "", "token", "create", "billing", "--topics", "orders*", "--action", "consume")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "token: hrld_") || !strings.HasPrefix(lines[1], "auth-file entry: ") {
		t.Fatalf("token create: exit %d, printed %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	file := filepath.Join(t.TempDir(), "auth.json")
	if err := os.WriteFile(file, []byte(`{"tokens":[`+strings.TrimPrefix(lines[1], "auth-file entry: ")+`]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := &auth.Keyring{}
	if err := keys.LoadFile(file); err != nil {
		t.Fatalf("serve refuses the entry token create printed: %v", err)
	}
	if p, ok := keys.Lookup(strings.TrimPrefix(lines[0], "token: ")); !ok || p.Name != "billing" || !p.Allowed(auth.Consume, "orders.eu") {
		t.Fatalf("the token is not the entry's: %+v %v", p, ok)
	}

	for _, tt := range []struct {
		args  []string
		parts []string
	}{
		{[]string{"x", "--topics", ""}, []string{`--topics ""`, "a grant needs topics"}},
		{[]string{"x", "--topics", "orders["}, []string{`--topics "orders["`, `'[' is not in topic names`}},
		{[]string{"", "--topics", "orders"}, []string{"token create: argument 1 is empty"}},
		{[]string{"x", "--action", "read"}, []string{`--action "read"`}},
	} {
		r := runApp(context.Background(), nil, "", append([]string{"token", "create"}, tt.args...)...)
		r.wantOneErrorLine(t, tt.parts...)
		if r.stdout != "" {
			t.Errorf("token create %q printed %q", tt.args, r.stdout)
		}
	}
}
