// Package event is Herald's event model: CloudEvents 1.0, the one envelope
// every Herald event uses, and its codecs (structured and batch JSON, the
// HTTP binary binding, and the Kafka binding in binary mode that the log
// stores).
//
// Files: event.go (the type), validate.go (CloudEvents 1.0 rules,
// ValidationError), attributes.go (the attribute table the codecs share),
// json.go and json_decode.go (structured and batch JSON; jsonscan.go walks
// validated JSON without allocating), http.go and percent.go (HTTP binary
// mode), kafka.go (Kafka binary mode, the stored form, and Size).
//
// Decoders never call Validate; callers do, after decoding. Every decoder
// accepts what the matching encoder writes for a valid event, and the fuzz
// tests check that a decoded valid event survives every codec unchanged.
package event

import "time"

// SpecVersion is the only CloudEvents spec version Herald accepts.
const SpecVersion = "1.0"

// Event is a CloudEvent. Required: ID, Source, Type, SpecVersion. Known
// extension attributes have fields; every other extension is kept in
// Extensions (name to string value) and never dropped.
//
// Partition, Offset and StoredAt are set by Herald when the event comes from
// the log; they are not part of what a producer sends.
type Event struct {
	ID              string
	Source          string
	Type            string
	SpecVersion     string
	Time            time.Time // zero when absent, so the zero time cannot be given (see CheckTimeGiven)
	Subject         string
	DataContentType string
	DataSchema      string
	Data            []byte // raw payload bytes (JSON text for JSON content types)

	PartitionKey  string
	TraceParent   string
	TraceState    string
	CorrelationID string
	CausationID   string

	Extensions map[string]string

	// Set by the broker on events read back from the log.
	Topic     string
	Partition int
	Offset    int64
	StoredAt  time.Time
	Stored    bool // Topic/Partition/Offset/StoredAt are meaningful
}
