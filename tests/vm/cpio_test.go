package vm

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/mnet/mnet/internal/testenv"
)

// cpioEntry is one entry read back by readCPIO.
type cpioEntry struct {
	Name string
	Mode uint32
	Data string
	Rdev [2]uint32
}

// readCPIO is a small independent newc reader for the round-trip test.
func readCPIO(b []byte) ([]cpioEntry, error) {
	var out []cpioEntry
	off := 0
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if off+110 > len(b) {
			return nil, fmt.Errorf("truncated header at %d", off)
		}
		h := b[off : off+110]
		if string(h[:6]) != "070701" {
			return nil, fmt.Errorf("bad magic %q at %d", h[:6], off)
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				panic(err)
			}
			return uint32(v)
		}
		mode, size, rmaj, rmin, namesize := field(1), field(6), field(9), field(10), field(11)
		name := string(b[off+110 : off+110+int(namesize)-1])
		if b[off+110+int(namesize)-1] != 0 {
			return nil, fmt.Errorf("name of %q not NUL-terminated", name)
		}
		off = align(off + 110 + int(namesize))
		data := string(b[off : off+int(size)])
		off = align(off + int(size))
		if name == "TRAILER!!!" {
			if off != len(b) {
				return nil, fmt.Errorf("%d bytes after the trailer", len(b)-off)
			}
			return out, nil
		}
		out = append(out, cpioEntry{Name: name, Mode: mode, Data: data, Rdev: [2]uint32{rmaj, rmin}})
	}
}

func writeSample(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewCPIOWriter(&buf)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.Dir("tmp", 0o1777))
	must(w.File("/init", 0o755, []byte("#!/bin/sh\n")))
	must(w.File("lib/modules/extra/mhost.ko", 0o644, []byte("abc"))) // parents created
	must(w.File("lib/modules/extra/empty.ko", 0o644, nil))           // empty file
	must(w.Symlink("bin/sh", "busybox"))                             // 7-byte target: padding
	must(w.CharDev("dev/console", 0o600, 5, 1))                      // device node
	must(w.File("etc/x", 0o600, []byte(strings.Repeat("y", 4097))))  // odd size
	must(w.Dir("lib/modules", 0o755))                                // already there: no entry
	must(w.File("a/b/c/deep", 0o644, []byte("1234")))                // aligned size
	must(w.Close())
	return buf.Bytes()
}

func TestCPIORoundTrip(t *testing.T) {
	got, err := readCPIO(writeSample(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []cpioEntry{
		{"tmp", cpioModeDir | 0o1777, "", [2]uint32{}},
		{"init", cpioModeReg | 0o755, "#!/bin/sh\n", [2]uint32{}},
		{"lib", cpioModeDir | 0o755, "", [2]uint32{}},
		{"lib/modules", cpioModeDir | 0o755, "", [2]uint32{}},
		{"lib/modules/extra", cpioModeDir | 0o755, "", [2]uint32{}},
		{"lib/modules/extra/mhost.ko", cpioModeReg | 0o644, "abc", [2]uint32{}},
		{"lib/modules/extra/empty.ko", cpioModeReg | 0o644, "", [2]uint32{}},
		{"bin", cpioModeDir | 0o755, "", [2]uint32{}},
		{"bin/sh", cpioModeLink | 0o777, "busybox", [2]uint32{}},
		{"dev", cpioModeDir | 0o755, "", [2]uint32{}},
		{"dev/console", cpioModeChr | 0o600, "", [2]uint32{5, 1}},
		{"etc", cpioModeDir | 0o755, "", [2]uint32{}},
		{"etc/x", cpioModeReg | 0o600, strings.Repeat("y", 4097), [2]uint32{}},
		{"a", cpioModeDir | 0o755, "", [2]uint32{}},
		{"a/b", cpioModeDir | 0o755, "", [2]uint32{}},
		{"a/b/c", cpioModeDir | 0o755, "", [2]uint32{}},
		{"a/b/c/deep", cpioModeReg | 0o644, "1234", [2]uint32{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back:\n%v\nwant:\n%v", got, want)
	}
}

// TestCPIOWithCPIOTool lists and extracts the archive with GNU cpio, when
// the host has it.
func TestCPIOWithCPIOTool(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		testenv.Skipf(t, "no cpio on this host (apt-get install cpio); TestCPIORoundTrip covers the format")
	}
	archive := writeSample(t)
	cmd := exec.Command("cpio", "-t", "--quiet")
	cmd.Stdin = bytes.NewReader(archive)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	if got := strings.Fields(string(out)); len(got) != 17 || got[5] != "lib/modules/extra/mhost.ko" {
		t.Errorf("cpio -t listed %q", got)
	}
	dir := t.TempDir()
	cmd = exec.Command("cpio", "-i", "-d", "--quiet", "--no-absolute-filenames")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(archive)
	if out, err := cmd.CombinedOutput(); err != nil && !strings.Contains(string(out), "dev/console") {
		// Creating the device node needs privileges; anything else is a failure.
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "lib/modules/extra/mhost.ko"))
	if err != nil || string(b) != "abc" {
		t.Errorf("extracted mhost.ko: %q, %v", b, err)
	}
	if l, err := os.Readlink(filepath.Join(dir, "bin/sh")); err != nil || l != "busybox" {
		t.Errorf("extracted bin/sh link: %q, %v", l, err)
	}
	f, err := os.Open(filepath.Join(dir, "etc/x"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, _ := io.Copy(io.Discard, f); n != 4097 {
		t.Errorf("etc/x has %d bytes, want 4097", n)
	}
}
