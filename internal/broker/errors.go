package broker

import (
	"errors"
	"fmt"

	"github.com/heraldevents/herald/internal/storage"
)

// Errors of the platform layer, grouped by when they happen. The server maps
// each (and the storage errors) to one problem+json code.
var (
	// Publishing.
	ErrInvalidEvent   = errors.New("invalid event")
	ErrEventTooLarge  = errors.New("event too large")
	ErrBatchTooLarge  = errors.New("batch too large")
	ErrEmptyBatch     = errors.New("no events to publish")
	ErrTopicNotFound  = storage.ErrUnknownTopic                                                               // one error, whichever layer finds the topic missing
	ErrAutoCreateOff  = fmt.Errorf("%w and automatic topic creation is off", ErrTopicNotFound)                // is ErrTopicNotFound too
	ErrReservedTopic  = &alsoError{`topic names starting with "__" are reserved for Herald`, ErrInvalidTopic} // is ErrInvalidTopic too
	ErrInvalidTopic   = errors.New("invalid topic name")
	ErrTopicConflict  = errors.New("conflicting topic settings")
	ErrInvalidSetting = errors.New("invalid topic setting")
	ErrTooManyTopics  = errors.New("too many topics")
	ErrNoValidator    = errors.New("the topic's schemaPolicy asks for validation, but this broker has no schema registry")
)

// alsoError is an error with a message of its own that is also another
// error for errors.Is.
type alsoError struct {
	msg  string
	also error
}

func (e *alsoError) Error() string { return e.msg }
func (e *alsoError) Unwrap() error { return e.also }
