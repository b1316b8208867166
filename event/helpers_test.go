package event

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"
)

// minimalEvent returns a valid event with only the required attributes.
func minimalEvent() *Event {
	return &Event{ID: "1", Source: "/orders", Type: "OrderPlaced", SpecVersion: SpecVersion}
}

// fullEvent returns a valid event with every attribute set.
func fullEvent() *Event {
	return &Event{
		ID:              "order-42",
		Source:          "https://shop.example/orders",
		Type:            "com.example.order.placed",
		SpecVersion:     SpecVersion,
		Time:            time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC),
		Subject:         "orders/42",
		DataContentType: "application/json",
		DataSchema:      "https://shop.example/schemas/order-placed/v1",
		Data:            []byte(`{"orderId":42,"total":"9.99"}`),
		PartitionKey:    "customer-7",
		TraceParent:     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		TraceState:      "rojo=00f067aa0ba902b7",
		CorrelationID:   "corr-1",
		CausationID:     "cause-1",
		Extensions:      map[string]string{"tenant": "acme", "priority": "5", "urgent": "true"},
	}
}

// with returns a copy of e changed by fn.
func with(e *Event, fn func(*Event)) *Event {
	c := *e
	c.Extensions = maps.Clone(e.Extensions)
	fn(&c)
	return &c
}

// diffEvents describes how a and b differ, or returns "". Times compare by
// instant, Data and Extensions treat nil and empty alike.
func diffEvents(a, b *Event) string {
	var diffs []string
	if !a.Time.Equal(b.Time) {
		diffs = append(diffs, fmt.Sprintf("Time %v != %v", a.Time, b.Time))
	}
	if !a.StoredAt.Equal(b.StoredAt) {
		diffs = append(diffs, fmt.Sprintf("StoredAt %v != %v", a.StoredAt, b.StoredAt))
	}
	if !bytes.Equal(a.Data, b.Data) {
		diffs = append(diffs, fmt.Sprintf("Data %q != %q", a.Data, b.Data))
	}
	if !maps.Equal(a.Extensions, b.Extensions) {
		diffs = append(diffs, fmt.Sprintf("Extensions %v != %v", a.Extensions, b.Extensions))
	}
	ac, bc := *a, *b
	for _, c := range []*Event{&ac, &bc} {
		c.Time, c.StoredAt, c.Data, c.Extensions = time.Time{}, time.Time{}, nil, nil
	}
	if !reflect.DeepEqual(ac, bc) {
		diffs = append(diffs, fmt.Sprintf("fields %+v != %+v", ac, bc))
	}
	return strings.Join(diffs, "; ")
}

// wantAttrError checks that err wraps a *ValidationError for attribute
// whose message contains rule.
func wantAttrError(t *testing.T, err error, attribute, rule string) {
	t.Helper()
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("error = %v, want a *ValidationError for %q", err, attribute)
	}
	if verr.Attribute != attribute || !strings.Contains(verr.Rule, rule) {
		t.Fatalf("error = %v, want attribute %q and a rule containing %q", err, attribute, rule)
	}
	if !strings.Contains(err.Error(), `attribute "`+attribute+`"`) {
		t.Fatalf("error %q does not name attribute %q", err, attribute)
	}
}

// attributesOf returns the attribute of each *ValidationError in err's
// tree, in order.
func attributesOf(err error) []string {
	switch x := err.(type) {
	case *ValidationError:
		return []string{x.Attribute}
	case interface{ Unwrap() []error }:
		var out []string
		for _, e := range x.Unwrap() {
			out = append(out, attributesOf(e)...)
		}
		return out
	case interface{ Unwrap() error }:
		return attributesOf(x.Unwrap())
	}
	return nil
}
