package event_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/heraldevents/herald/event"
)

// Build an event, validate it and encode it in the CloudEvents JSON format.
func ExampleEvent_MarshalJSON() {
	e := &event.Event{
		ID:              "order-42",
		Source:          "/shop/orders",
		Type:            "com.example.order.placed",
		SpecVersion:     event.SpecVersion,
		Time:            time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		DataContentType: "application/json",
		Data:            []byte(`{"orderId":42}`),
		PartitionKey:    "customer-7",
		Extensions:      map[string]string{"tenant": "acme"},
	}
	if err := e.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	b, err := e.MarshalJSON()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(b))
	// Output:
	// {"specversion":"1.0","id":"order-42","source":"/shop/orders","type":"com.example.order.placed","time":"2024-05-06T07:08:09Z","datacontenttype":"application/json","partitionkey":"customer-7","tenant":"acme","data":{"orderId":42}}
}

// Validation errors name the attribute and the rule it breaks.
func ExampleValidationError() {
	e := &event.Event{ID: "1", Source: "/shop", Type: "t", SpecVersion: "0.3"}
	err := e.Validate()
	var verr *event.ValidationError
	if errors.As(err, &verr) {
		fmt.Println(verr.Attribute)
	}
	fmt.Println(err)
	// Output:
	// specversion
	// attribute "specversion": must be "1.0", got "0.3"
}
