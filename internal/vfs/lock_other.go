//go:build !unix

package vfs

import "os"

// flock is a no-op where flock(2) does not exist.
func flock(*os.File) error { return nil }
