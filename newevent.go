package herald

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/heraldevents/herald/event"
)

// NewEvent returns an event with a fresh id, the current time and JSON
// content type, ready to publish.
func NewEvent(typ, source string, data []byte) *CloudEvent {
	return &CloudEvent{ID: newID(), Source: source, Type: typ, SpecVersion: event.SpecVersion,
		Time: time.Now().UTC(), DataContentType: "application/json", Data: data}
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
