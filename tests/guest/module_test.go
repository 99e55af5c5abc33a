//go:build guest

package guest_test

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const refcntPath = "/sys/module/mhost/refcnt"

// TestModulePinned checks that an open socket keeps the module loaded. It
// never unloads the module: delete_module is only called while the
// reference count says it must fail.
func TestModulePinned(t *testing.T) {
	before := readSysfs(t, refcntPath)

	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			unix.Close(fd)
		}
	}()

	during := readSysfs(t, refcntPath)
	t.Logf("refcnt %d before the socket, %d with it open", before, during)
	if during < 1 {
		t.Fatalf("refcnt %d with a socket open, want at least 1", during)
	}
	err = unix.DeleteModule("mhost", unix.O_NONBLOCK)
	if err == nil {
		t.Fatal("delete_module(mhost) succeeded with a socket open: the module is gone")
	}
	wantErrno(t, err, unix.EWOULDBLOCK, "delete_module(mhost, O_NONBLOCK) with a socket open")

	// Sockets are freed after an RCU grace period.
	unix.Close(fd)
	closed = true
	var after int
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(10 * time.Millisecond) {
		if after = readSysfs(t, refcntPath); after <= before {
			break
		}
	}
	t.Logf("refcnt %d after closing it", after)
	if after > before {
		t.Errorf("refcnt %d 5s after closing the socket, want back to %d", after, before)
	}
}

func TestModuleFamily(t *testing.T) {
	// The SDK uses the family the module registered.
	const param = "/sys/module/mhost/parameters/family"
	want := 27
	if _, err := os.Stat(param); err == nil {
		want = readSysfs(t, param)
	}
	if family != want {
		t.Errorf("SDK family %d, module family %d", family, want)
	}
	boundSocket(t) // getsockname reports the family too
}
