//go:build !unix

package schema

import "time"

// cpuTime is not measured here.
func cpuTime() time.Duration { return 0 }
