package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/schema"
	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/subscription"
)

func TestProblems_EveryCodeIsUniqueAndInternalIsLast(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range problems {
		if seen[k.code] {
			t.Errorf("code %q appears twice", k.code)
		}
		seen[k.code] = true
		if k.status < 400 || k.status > 599 || k.title == "" {
			t.Errorf("code %q: status %d title %q", k.code, k.status, k.title)
		}
		if k.code != codeInternal && len(k.errs) == 0 {
			t.Errorf("code %q matches no error", k.code)
		}
	}
	if last := problems[len(problems)-1]; last.code != codeInternal || last.errs != nil {
		t.Errorf("last row is %q, want the catch-all %q", last.code, codeInternal)
	}
}

// writtenElsewhere are the problem codes of docs/api.md's table that are
// not written from the problems table: herald serve's connection limit
// refuses a connection before any handler runs.
var writtenElsewhere = map[string]int{"too_many_connections": 503}

// docsProblemRow is a row of the problem codes table: | `code` | status | when |.
var docsProblemRow = regexp.MustCompile("^\\| `([a-z_]+)` \\| ([0-9]{3}) \\| .+ \\|$")

// The docs promise that every error reply has a code from their table, so
// the table and problems.go must hold the same codes with the same status.
func TestProblems_TheDocsTableHoldsEveryCodeWithItsStatus(t *testing.T) {
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "\n## Problem codes\n")
	if !ok {
		t.Fatal(`docs/api.md has no "## Problem codes" section`)
	}
	table, _, _ = strings.Cut(table, "\n#")
	documented := map[string]int{}
	for _, line := range strings.Split(table, "\n") {
		if m := docsProblemRow.FindStringSubmatch(line); m != nil {
			status, _ := strconv.Atoi(m[2])
			documented[m[1]] = status
		}
	}
	want := map[string]int{}
	for _, k := range problems {
		want[k.code] = k.status
	}
	for code, status := range writtenElsewhere {
		want[code] = status
	}
	for code, status := range want {
		if got, ok := documented[code]; !ok {
			t.Errorf("code %s (%d) is not in the problem codes table of docs/api.md", code, status)
		} else if got != status {
			t.Errorf("code %s: the docs say %d, the server sends %d", code, got, status)
		}
	}
	for code := range documented {
		if _, ok := want[code]; !ok {
			t.Errorf("the docs' table has code %s, which the server never sends", code)
		}
	}
}

func TestProblems_RegistryCodesAreConfluents(t *testing.T) {
	want := map[string]int{"unknown_subject": 40401, "unknown_schema_version": 40402, "unknown_schema": 40403,
		"subject_soft_deleted": 40404, "subject_not_soft_deleted": 40405, "schema_version_soft_deleted": 40406,
		"schema_version_not_soft_deleted": 40407, "no_subject_compatibility": 40408, "incompatible_schema": 409,
		"invalid_schema": 42201, "invalid_schema_version": 42202, "invalid_compatibility": 42203,
		"operation_not_permitted": 42205, "invalid_subject": 42208, "storage_unavailable": 50001, codeInternal: 50001}
	for _, k := range problems {
		if code, ok := want[k.code]; ok && k.registry != code {
			t.Errorf("%s: registry error_code %d, want %d", k.code, k.registry, code)
		}
		if k.registry != 0 && k.registry/100 != k.status && k.registry != k.status && k.registry < 50000 {
			t.Errorf("%s: error_code %d does not go with status %d", k.code, k.registry, k.status)
		}
	}
}

func TestProblems_EachSentinelMapsToItsCode(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{broker.ErrInvalidEvent, 400, "invalid_event"},
		{errMalformedRequest, 400, "malformed_request"},
		{broker.ErrEmptyBatch, 400, "empty_batch"},
		{errInvalidParameter, 400, "invalid_parameter"},
		{errInvalidArgument, 400, "invalid_parameter"},
		{subscription.ErrNotFound, 404, "unknown_subscription"},
		{subscription.ErrInvalidName, 400, "invalid_subscription_name"},
		{subscription.ErrInvalidConfig, 400, "invalid_subscription_setting"},
		{subscription.ErrConflict, 409, "subscription_conflict"},
		{fmt.Errorf("%w: deadLetterTopic: %w", subscription.ErrInvalidConfig, broker.ErrReservedTopic), 400, "invalid_subscription_setting"},
		{errUnsupportedMediaType, 415, "unsupported_media_type"},
		{broker.ErrTopicNotFound, 404, "unknown_topic"},
		{storage.ErrUnknownTopic, 404, "unknown_topic"},
		{broker.ErrAutoCreateOff, 404, "auto_create_disabled"},
		{broker.ErrInvalidTopic, 400, "invalid_topic_name"},
		{broker.ErrReservedTopic, 400, "reserved_topic_name"},
		{broker.ErrInvalidSetting, 400, "invalid_topic_setting"},
		{storage.ErrInvalidConfig, 400, "invalid_topic_setting"},
		{broker.ErrTopicConflict, 409, "topic_conflict"},
		{storage.ErrTopicExists, 409, "topic_conflict"},
		{broker.ErrEventTooLarge, 413, "event_too_large"},
		{broker.ErrBatchTooLarge, 413, "batch_too_large"},
		{errRequestTooLarge, 413, "request_too_large"},
		{storage.ErrOffsetOutOfRange, 400, "offset_out_of_range"},
		{storage.ErrUnknownPartition, 404, "unknown_partition"},
		{errNotFound, 404, "not_found"},
		{errMethodNotAllowed, 405, "method_not_allowed"},
		{storage.ErrNoSpace, 507, "storage_full"},
		{storage.ErrUnavailable, 503, "storage_unavailable"},
		{storage.ErrClosed, 503, "storage_unavailable"},
		{storage.ErrCorrupt, 500, "storage_corrupt"},
		{context.Canceled, 503, "request_canceled"},
		{schema.ErrViolation, 422, "schema_violation"},
		{&schema.ViolationError{}, 422, "schema_violation"},
		{broker.ErrNoValidator, 503, "no_schema_registry"},
		{schema.ErrSubjectNotFound, 404, "unknown_subject"},
		{schema.ErrVersionNotFound, 404, "unknown_schema_version"},
		{schema.ErrSchemaNotFound, 404, "unknown_schema"},
		{schema.ErrIncompatible, 409, "incompatible_schema"},
		{&schema.IncompatibleError{Subject: "s"}, 409, "incompatible_schema"},
		{schema.ErrInvalidSchema, 422, "invalid_schema"},
		{schema.ErrInvalidVersion, 422, "invalid_schema_version"},
		{schema.ErrInvalidCompatibility, 422, "invalid_compatibility"},
		{schema.ErrInvalidSubject, 422, "invalid_subject"},
		{errNotPermitted, 422, "operation_not_permitted"},
		{errors.New("something else"), 500, "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.code+"/"+tt.err.Error(), func(t *testing.T) {
			p := problemFor(fmt.Errorf("somewhere: %w", tt.err))
			if p.Code != tt.code || p.Status != tt.status || p.Type != ProblemTypeBase+tt.code {
				t.Errorf("got %s %d %s, want %s %d", p.Code, p.Status, p.Type, tt.code, tt.status)
			}
			if p.Detail != "somewhere: "+tt.err.Error() {
				t.Errorf("detail %q", p.Detail)
			}
		})
	}
}

func TestProblems_InvalidEventListsTheAttribute(t *testing.T) {
	err := fmt.Errorf("%w: %w", broker.ErrInvalidEvent, &event.ValidationError{Attribute: "type", Rule: "is required"})
	p := problemFor(err)
	if len(p.Errors) != 1 || p.Errors[0].Attribute != "type" || p.Errors[0].Rule != "is required" || p.Errors[0].Index != nil {
		t.Errorf("errors %+v", p.Errors)
	}
}

func TestFormatDuration_DropsZeroUnits(t *testing.T) {
	for in, want := range map[string]string{"168h": "168h", "2m": "2m", "1h30m": "1h30m", "0": "0s", "90s": "1m30s", "1h0m5s": "1h0m5s"} {
		d, err := parseSetting("x", &in, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := FormatDuration(*d); got != want {
			t.Errorf("FormatDuration(%s) = %s, want %s", in, got, want)
		}
	}
}
