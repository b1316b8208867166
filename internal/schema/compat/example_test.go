package compat_test

import (
	"fmt"

	"github.com/heraldevents/herald/internal/schema/compat"
)

// Adding an optional property to an open object schema breaks BACKWARD:
// events written with version 1 may already carry "phone" with any value.
func ExampleCheck() {
	v1 := []byte(`{"type":"object","properties":{"userId":{"type":"string"}},"required":["userId"]}`)
	v2 := []byte(`{"type":"object","properties":{"userId":{"type":"string"},"phone":{"type":"string"}},"required":["userId"]}`)

	res, err := compat.Check(compat.Backward, v2, [][]byte{v1})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Compatible)
	for _, c := range res.Changes {
		fmt.Println(c.Version, c.Direction, c.Path, c.Rule)
	}

	// The same change is fine when version 1 has a closed content model.
	v1closed := []byte(`{"type":"object","properties":{"userId":{"type":"string"}},"required":["userId"],"additionalProperties":false}`)
	res, _ = compat.Check(compat.Backward, v2, [][]byte{v1closed})
	fmt.Println(res.Compatible)
	// Output:
	// false
	// 1 backward #/properties/phone property_added_to_open_model
	// true
}

func ExampleDifferences() {
	reader := []byte(`{"type":"object","properties":{"qty":{"type":"integer"}}}`)
	writer := []byte(`{"type":"object","properties":{"qty":{"type":"number"}}}`)
	changes, _ := compat.Differences(reader, writer)
	for _, c := range changes {
		fmt.Println(c.Path, c.Rule)
		fmt.Println(c.Message)
	}
	// Output:
	// #/properties/qty type_narrowed
	// The reader schema accepts only integers here, but the writer schema allows any number (e.g. 1.5).
}
