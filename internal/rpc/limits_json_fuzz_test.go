package rpc

import (
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/heraldevents/herald/internal/rpc/heraldv1"
)

// FuzzJSONWithoutEvents: whatever a client sends as a PublishRequest in
// JSON, counting its events never panics, and of a request protojson
// decodes it counts the events protojson finds, and leaves the rest as
// protojson decodes it.
func FuzzJSONWithoutEvents(f *testing.F) {
	for _, s := range []string{
		`{"topic":"orders","events":[{},{"id":"1","source":"/s"}]}`,
		`{"events":[{},{}],"topic":"orders"}`,
		`{"events":null,"topic":"o"}`,
		`{"\u0065vents":[{}], "topic" : "a\"b"}`,
		`{"topic":"orders","events":[{"data":{"a":[1,2,{"b":null}]}}],"x":1}`,
		`[]`, `{`, `{"events":[{},]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, rest, ok := jsonWithoutEvents(b)
		var whole heraldv1.PublishRequest
		if !ok || protojson.Unmarshal(b, &whole) != nil {
			return
		}
		if n != len(whole.GetEvents()) {
			t.Fatalf("counted %d events in %s; protojson decodes %d", n, b, len(whole.GetEvents()))
		}
		var part heraldv1.PublishRequest
		if err := protojson.Unmarshal(rest, &part); err != nil {
			t.Fatalf("the request %s without its events, %s, does not decode: %v", b, rest, err)
		}
		if part.GetTopic() != whole.GetTopic() || len(part.GetEvents()) != 0 {
			t.Fatalf("the request %s without its events, %s, decodes as %v; want topic %q", b, rest, &part, whole.GetTopic())
		}
	})
}
