package log

import "errors"

// errIncomplete: a buffer ends before the batch it holds does. Internal: it
// tells the scanner to read more or, at the end of a file, that the tail is
// torn.
var errIncomplete = errors.New("incomplete batch")
