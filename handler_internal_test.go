package herald

import "testing"

type allocOrder struct {
	ID    string  `json:"id"`
	Lines [64]int `json:"lines"`
}

// Decoding JSON data into a pointer type that is not a protobuf message
// makes one value, not a second one only to ask whether it is a message.
func TestHandle_JSONIntoAPointerMakesOneValue(t *testing.T) {
	e := MustNewEvent("order.placed", allocOrder{ID: "o1"})
	var byValue allocOrder
	var byPointer *allocOrder
	values := testing.AllocsPerRun(100, func() { byValue = allocOrder{}; _ = decodeData(e, &byValue) })
	pointers := testing.AllocsPerRun(100, func() { byPointer = nil; _ = decodeData(e, &byPointer) })
	if byPointer == nil || byPointer.ID != "o1" {
		t.Fatalf("decoded %+v", byPointer)
	}
	if pointers > values+1 {
		t.Errorf("decoding into *T took %v allocations, into T %v: more than the one *T itself", pointers, values)
	}
}
