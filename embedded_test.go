package herald_test

import (
	"os"
	"strings"
	"testing"

	"github.com/heraldevents/herald"
)

// Open without a directory is refused, saying so, and leaves nothing
// behind: it made the working directory a half-made data directory
// (topics/ and LOCK) and failed syncing "".
func TestOpen_AnEmptyDirectoryIsRefusedAndCreatesNothing(t *testing.T) {
	wd := t.TempDir()
	t.Chdir(wd)
	c, err := herald.Open("")
	if err == nil {
		c.Close()
		t.Fatal("Open(\"\") opened")
	}
	if !strings.Contains(err.Error(), "no data directory") {
		t.Errorf("Open(\"\"): %v, want it to say no data directory was given", err)
	}
	if left, _ := os.ReadDir(wd); len(left) != 0 {
		t.Errorf("Open(\"\") left %d entries in the working directory (%s, …)", len(left), left[0].Name())
	}
}
