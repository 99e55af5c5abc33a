//go:build linux

package ifup

import (
	"errors"
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/internal/testenv"
)

func TestUpLoopback(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		testenv.Skipf(t, "no lo: %v", err)
	}
	// Setting an interface that is already up up again changes nothing,
	// and needs CAP_NET_ADMIN.
	if lo.Flags&net.FlagUp == 0 {
		testenv.Skipf(t, "lo is down here; not changing the host's interfaces")
	}
	idx, err := Up("lo")
	if errors.Is(err, unix.EPERM) {
		testenv.Skipf(t, "no CAP_NET_ADMIN")
	}
	if err != nil {
		t.Fatal(err)
	}
	if idx != lo.Index {
		t.Errorf("Up(lo) = index %d, want %d", idx, lo.Index)
	}
}

func TestUpUnknown(t *testing.T) {
	if _, err := Up("mhnx0"); !errors.Is(err, unix.ENODEV) {
		t.Errorf("Up of a missing interface: %v, want ENODEV", err)
	}
}
