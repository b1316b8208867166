package main

import (
	"context"
	"strings"
	"testing"
)

// A command group (topics, subs, dlq, schemas, token) given a subcommand
// it does not have fails with one line, touching nothing; given none, it
// prints its help.
func TestGroups_AnUnknownSubcommandFailsAndNoneShowsHelp(t *testing.T) {
	env := map[string]string{"HERALD_SERVER": "http://127.0.0.1:1"}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"topics", "lsit"}, `unknown command "lsit" for "herald topics"; did you mean "list"?`},
		{[]string{"dlq", "lst", "orders", "billing"}, `unknown command "lst" for "herald dlq"; did you mean "list"?`},
		{[]string{"subs", "craete", "orders", "billing"}, `unknown command "craete" for "herald subs"; did you mean "create"?`},
		{[]string{"schemas", "regster", "x.json"}, `unknown command "regster" for "herald schemas"; did you mean "register"?`},
		{[]string{"token", "crate", "x"}, `unknown command "crate" for "herald token"; did you mean "create"?`},
		{[]string{"topics", "frobnicate"}, `unknown command "frobnicate" for "herald topics"`},
	} {
		r := runApp(context.Background(), env, "", tt.args...)
		r.wantOneErrorLine(t, tt.want)
		if r.stdout != "" {
			t.Errorf("herald %s printed %q", strings.Join(tt.args, " "), r.stdout)
		}
	}
	for _, group := range []string{"topics", "subs", "dlq", "schemas", "token"} {
		r := runApp(context.Background(), env, "", group)
		if r.code != 0 || !strings.Contains(r.stdout, "Available Commands:") || r.stderr != "" {
			t.Errorf("herald %s: exit %d, stdout %q, stderr %q; want its help", group, r.code, r.stdout, r.stderr)
		}
	}
}

// A flag value that does not parse is named with what the flag wants, in
// one line and without Go's parser in it.
func TestCLI_AFlagValueThatDoesNotParseSaysWhatTheFlagWants(t *testing.T) {
	env := map[string]string{"HERALD_SERVER": "http://127.0.0.1:1"}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"topics", "create", "orders", "--partitions", "abc"}, `--partitions "abc": want a whole number`},
		{[]string{"consume", "orders", "billing", "--max", "1.5"}, `--max "1.5": want a whole number`},
		{[]string{"read", "orders", "--limit", "99999999999999999999"}, `--limit "99999999999999999999": the number is too large`},
		{[]string{"topics", "create", "orders", "--retention-bytes", "1GB"}, `--retention-bytes "1GB": want a whole number`},
		{[]string{"subs", "create", "orders", "billing", "--backoff-multiplier", "x"}, `--backoff-multiplier "x": want a number`},
		{[]string{"read", "orders", "--follow=maybe"}, `--follow "maybe": want true or false`},
		{[]string{"soak", "--duration", "10"}, `--duration "10": want a duration such as`},
		{[]string{"serve", "--fsync", "sometimes"}, `--fsync "sometimes": want one of always, interval, none`},
	} {
		r := runApp(context.Background(), env, "", tt.args...)
		r.wantOneErrorLine(t, tt.want)
		for _, soup := range []string{"strconv", "parsing", "time:", "invalid argument"} {
			if strings.Contains(r.stderr, soup) {
				t.Errorf("herald %s: %q", strings.Join(tt.args, " "), r.stderr)
			}
		}
	}
}
