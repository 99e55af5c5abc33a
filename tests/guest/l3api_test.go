//go:build guest

package guest_test

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestL3APIBounds loads mhost_apitest (kmod/tests), whose init checks
// what user space cannot reach: mhost_register_proto() refuses malformed
// protocols and more than MHOST_MAX_PROTOS at once, and
// mhost_unregister_proto() of one that is not registered, its family out
// of bounds included, does nothing (the debug kernel's KASAN would see an
// access out of bounds). The module loads only if every check passed.
func TestL3APIBounds(t *testing.T) {
	const name = "mhost_apitest"
	if err := l3ModLoad(name); err != nil {
		t.Fatalf("%v; the kernel log says:\n%s", err, kernelLogLines(name+":"))
	}
	if err := l3ModUnload(name); err != nil {
		t.Fatal(err)
	}
	if l3ModLoaded(name) {
		t.Errorf("%s is still loaded", name)
	}
}

// kernelLogLines returns the lines of the kernel log buffer that contain
// s.
func kernelLogLines(s string) string {
	buf := make([]byte, 1<<20)
	n, err := unix.Klogctl(unix.SYSLOG_ACTION_READ_ALL, buf)
	if err != nil {
		return "(reading the kernel log: " + err.Error() + ")"
	}
	var lines []string
	for _, l := range strings.Split(string(buf[:n]), "\n") {
		if strings.Contains(l, s) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}
