//go:build guest

package guest_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// udpChildHash is the sysctl (Linux 6.2) that gives the network namespaces
// created afterwards a UDP hash table of their own instead of the
// initial namespace's.
const udpChildHash = "/proc/sys/net/ipv4/udp_child_hash_entries"

// kernelRelease returns the running kernel's release (uname -r).
func kernelRelease(t *testing.T) string {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	return unix.ByteSliceToString(u.Release[:])
}

// TestNetnsUDPChildHash checks an AF_MHOST port in a namespace with a
// UDP hash table of its own: it must still be a UDP port there (plain
// UDP sockets cannot bind it) and carry datagrams both ways over IPv4 and
// IPv6; a socket in the initial namespace can use the same port. Kernels
// before 6.2 have no such tables: there the namespace shares the initial
// one's, which the test says, and the rest is checked all the same.
func TestNetnsUDPChildHash(t *testing.T) {
	newer, rel := kernelAtLeast(t, 6, 2), kernelRelease(t)
	old, err := os.ReadFile(udpChildHash)
	switch {
	case err == nil:
		if err := os.WriteFile(udpChildHash, []byte("128"), 0); err != nil {
			t.Fatalf("%s: %v", udpChildHash, err)
		}
		t.Cleanup(func() { os.WriteFile(udpChildHash, old, 0) })
	case newer:
		t.Fatalf("kernel %s has no %s: %v", rel, udpChildHash, err)
	default:
		t.Logf("kernel %s predates per-namespace UDP hash tables (6.2): the namespace shares the initial one's", rel)
	}

	ns := newNetNS(t, "udphash")
	if err == nil {
		got := ns.readSysctl(t, "net/ipv4/udp_hash_entries")
		if n, perr := strconv.Atoi(got); perr != nil || n != 128 {
			t.Fatalf("the namespace's udp_hash_entries is %q, want 128: not a table of its own", got)
		}
	}
	ns.setUp(t, "lo")
	m := ns.socket(t, family, unix.SOCK_DGRAM, 0)
	port := bindAny(t, m)

	for _, tc := range []struct {
		name   string
		domain int
		ip     string
	}{{"IPv4", unix.AF_INET, "127.0.0.1"}, {"IPv6", unix.AF_INET6, "::1"}} {
		t.Run(tc.name, func(t *testing.T) {
			taken := ns.socket(t, tc.domain, unix.SOCK_DGRAM, 0)
			wantErrno(t, bind(taken, saIP(tc.ip, port)), unix.EADDRINUSE, "binding a plain UDP socket to the AF_MHOST port")

			u := ns.socket(t, tc.domain, unix.SOCK_DGRAM, 0)
			if err := bind(u, saIP(tc.ip, 0)); err != nil {
				t.Fatalf("bind: %v", errStr(err))
			}
			sa, err := getsockname(u)
			if err != nil {
				t.Fatal(err)
			}
			from := saIP(tc.ip, saPort(sa))
			if _, err := sendto(u, []byte("to mhost"), 0, saIP(tc.ip, port)); err != nil {
				t.Fatalf("sendto the AF_MHOST port: %v", errStr(err))
			}
			wantRecv(t, m, "to mhost", from)
			if _, err := sendto(m, []byte("to udp"), 0, from); err != nil {
				t.Fatalf("sendto from AF_MHOST: %v", errStr(err))
			}
			p, got := recvOne(t, u)
			if string(p) != "to udp" || !strings.EqualFold(saString(got), saString(saIP(tc.ip, port))) {
				t.Errorf("UDP socket received %q from %s, want %q from %s", p, saString(got), "to udp", saString(saIP(tc.ip, port)))
			}
		})
	}

	// The namespace's port is its own: the initial namespace's is free.
	fd := mhostSocket(t)
	if err := bind(fd, saMhost(port, 0)); err != nil {
		t.Errorf("binding port %d in the initial namespace: %v", port, errStr(err))
	}
}
