package storage

import "encoding/json"

// StateRecords collects the records of one change to a keyed state topic
// (a compacted topic whose newest record of a key is that key's value, and
// a record without a value deletes the key), to append together.
// Herald's subscriptions and schema registry keep their state this way.
type StateRecords struct{ Records []Record }

// Put records v, as JSON, as the value of key.
func (s *StateRecords) Put(key string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // state records are Herald's own types, which always marshal
	}
	s.Records = append(s.Records, Record{Key: []byte(key), Value: data})
}

// Delete records the deletion of key.
func (s *StateRecords) Delete(key string) {
	s.Records = append(s.Records, Record{Key: []byte(key)})
}
