package faultfs_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/heraldevents/herald/internal/vfs"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// backends are the file systems the injector tests run on.
var backends = []struct {
	name string
	new  func(t *testing.T) (vfs.FS, string)
}{
	{"MemFS", newMem},
	{"OS", func(t *testing.T) (vfs.FS, string) { return vfs.OS, t.TempDir() }},
}

// writes does n one-byte writes to a new file in dir and returns their errors.
func writes(t *testing.T, fsys vfs.FS, dir string, n int) []error {
	t.Helper()
	f, err := fsys.OpenFile(filepath.Join(dir, "f"), os.O_CREATE|os.O_RDWR, 0o644)
	must(t, err)
	defer f.Close()
	errs := make([]error, n)
	for i := range errs {
		_, errs[i] = f.WriteAt([]byte{'x'}, int64(i))
	}
	return errs
}

// failed lists which of errs match target.
func failed(errs []error, target error) []bool {
	out := make([]bool, len(errs))
	for i, err := range errs {
		out[i] = errors.Is(err, target)
	}
	return out
}

func TestInjectors_FailTheRightWrites(t *testing.T) {
	tests := []struct {
		name   string
		inj    func() faultfs.Injector // Fresh per run: injectors keep counts.
		target error
		want   []bool
	}{
		{"FailAfterIsSticky", func() faultfs.Injector { return faultfs.FailAfter(2, faultfs.OpWrite, nil) }, faultfs.ErrInjected,
			[]bool{false, true, true, true}},
		{"FailOnceFailsOnlyTheNth", func() faultfs.Injector { return faultfs.FailOnce(3, faultfs.OpWrite, syscall.EIO) }, syscall.EIO,
			[]bool{false, false, true, false}},
		{"FailAfterIgnoresOtherOps", func() faultfs.Injector { return faultfs.FailAfter(1, faultfs.OpSync, nil) }, faultfs.ErrInjected,
			[]bool{false, false, false, false}},
		{"CutAfterCountsTheCreate", func() faultfs.Injector { return faultfs.CutAfter(3) }, faultfs.ErrPowerCut,
			[]bool{false, false, true, true}},
		{"OnPathSkipsOtherFiles", func() faultfs.Injector {
			return faultfs.OnPath(func(p string) bool { return filepath.Base(p) != "f" },
				faultfs.FailAfter(1, faultfs.OpWrite, nil))
		}, faultfs.ErrInjected,
			[]bool{false, false, false, false}},
	}
	for _, b := range backends {
		for _, tt := range tests {
			t.Run(b.name+"/"+tt.name, func(t *testing.T) {
				fsys, dir := b.new(t)
				errs := writes(t, faultfs.Wrap(fsys, tt.inj()), dir, len(tt.want))
				if got := failed(errs, tt.target); !slices.Equal(got, tt.want) {
					t.Fatalf("failed writes = %v, want %v (errors %v)", got, tt.want, errs)
				}
			})
		}
	}
}

func TestWrap_InjectedErrorsNameOpAndPath(t *testing.T) {
	fsys, dir := newMem(t)
	name := filepath.Join(dir, "f")
	w := faultfs.Wrap(fsys, faultfs.FailAfter(1, faultfs.OpCreate, syscall.ENOSPC))
	_, err := w.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != "create" || pe.Path != name || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("error = %#v, want *fs.PathError{create %s ENOSPC}", err, name)
	}
	w = faultfs.Wrap(fsys, faultfs.FailAfter(1, faultfs.OpRename, nil))
	var le *os.LinkError
	if err := w.Rename(name, name+".new"); !errors.As(err, &le) || !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("rename error = %#v, want *os.LinkError wrapping ErrInjected", err)
	}
}

func TestWrap_DiskErrorHelpers(t *testing.T) {
	fsys, dir := newMem(t)
	w := faultfs.Wrap(fsys, faultfs.NoSpaceError)
	err := w.MkdirAll(filepath.Join(dir, "x"), 0o755)
	var pe *fs.PathError
	if !errors.As(err, &pe) || !errors.Is(err, syscall.ENOSPC) || pe.Op != "mkdir" {
		t.Fatalf("NoSpaceError = %#v, want *fs.PathError{mkdir ENOSPC}", err)
	}
	if err := faultfs.IOError(faultfs.OpSync, "f"); !errors.Is(err, syscall.EIO) {
		t.Fatalf("IOError = %v, want EIO", err)
	}
}

func TestWrap_ShortWriteStoresPrefixThenFails(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			fsys, dir := b.new(t)
			name := filepath.Join(dir, "f")
			inj := faultfs.FailOnce(1, faultfs.OpWrite, faultfs.ShortWrite{N: 3, Err: syscall.ENOSPC})
			f, err := faultfs.Wrap(fsys, inj).OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
			must(t, err)
			defer f.Close()
			n, err := f.WriteAt([]byte("hello"), 0)
			if n != 3 || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("WriteAt = %d, %v; want 3, ENOSPC", n, err)
			}
			if got := read(t, fsys, name); got != "hel" {
				t.Fatalf("file = %q, want \"hel\"", got)
			}
		})
	}
}

func TestWrap_CloseReleasesFileEvenWhenFailed(t *testing.T) {
	fsys, dir := newMem(t)
	w := faultfs.Wrap(fsys, faultfs.FailOnce(1, faultfs.OpClose, nil))
	f, err := w.OpenFile(filepath.Join(dir, "f"), os.O_CREATE|os.O_RDWR, 0o644)
	must(t, err)
	if err := f.Close(); !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("Close = %v, want ErrInjected", err)
	}
	if err := f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("second Close = %v, want os.ErrClosed", err)
	}
}

func TestCounter_CountsEveryKindOfOp(t *testing.T) {
	fsys, dir := newMem(t)
	var c faultfs.Counter
	w := faultfs.Wrap(fsys, c.Inject)
	for _, s := range []step{write(dir+"/f", 0, "a"), write(dir+"/f", 1, "b"), fsync(dir + "/f"), syncDir(dir)} {
		s(t, w)
	}
	read(t, w, dir+"/f")
	want := map[faultfs.Op]int{faultfs.OpCreate: 3, faultfs.OpOpen: 1, faultfs.OpWrite: 2, faultfs.OpSync: 1,
		faultfs.OpSyncDir: 1, faultfs.OpClose: 4, faultfs.OpStat: 1, faultfs.OpRead: 1}
	for op, n := range want {
		if got := c.Count(op); got != n {
			t.Errorf("Count(%v) = %d, want %d", op, got, n)
		}
	}
	if got := c.Mutating(); got != 7 {
		t.Errorf("Mutating = %d, want 7", got)
	}
}

func TestCutAfter_LetsReadsThrough(t *testing.T) {
	fsys, dir := newMem(t)
	write(dir+"/f", 0, "abc")(t, fsys)
	w := faultfs.Wrap(fsys, faultfs.CutAfter(0))
	if err := w.SyncDir(dir); !errors.Is(err, faultfs.ErrPowerCut) || !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("SyncDir after the cut = %v, want ErrPowerCut", err)
	}
	if got := read(t, w, dir+"/f"); got != "abc" {
		t.Fatalf("read after the cut = %q, want \"abc\"", got)
	}
}
