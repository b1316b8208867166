package rpc

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// protocVersionLine is the one line of generated code that depends on the
// protoc binary rather than on the .proto file and the plugins go.mod pins.
var protocVersionLine = regexp.MustCompile(`(?m)^// \tprotoc +v.*$`)

// TestGeneratedCode_MatchesProto regenerates the code of
// proto/herald/v1/herald.proto into a temporary directory with
// proto/gen.sh and fails when the committed files differ, so the committed
// code cannot drift from the .proto file.
func TestGeneratedCode_MatchesProto(t *testing.T) {
	for _, tool := range []string{"protoc", "bash", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found, so the generated code is not checked; install protoc (Debian: apt-get install protobuf-compiler) to check it", tool)
		}
	}
	out := t.TempDir()
	cmd := exec.Command("bash", filepath.Join("..", "..", "proto", "gen.sh"), out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("proto/gen.sh: %v\n%s", err, b)
	}
	fresh := readGenerated(t, filepath.Join(out, "internal", "rpc", "heraldv1"))
	committed := readGenerated(t, "heraldv1")
	for name, want := range fresh {
		got, ok := committed[name]
		if !ok {
			t.Errorf("internal/rpc/heraldv1/%s is not committed; run proto/gen.sh", name)
			continue
		}
		if !bytes.Equal(normalize(got), normalize(want)) {
			t.Errorf("internal/rpc/heraldv1/%s differs from what proto/gen.sh generates; run proto/gen.sh", name)
		}
	}
	for name := range committed {
		if _, ok := fresh[name]; !ok {
			t.Errorf("internal/rpc/heraldv1/%s is not generated from the .proto files; delete it or run proto/gen.sh", name)
		}
	}
}

// readGenerated returns the .go files under dir by relative path.
func readGenerated(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".go" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func normalize(b []byte) []byte {
	return protocVersionLine.ReplaceAll(b, []byte("// \tprotoc (any version)"))
}
