//go:build guest

package guest_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// TestInterop has plain UDP sockets talk to an AF_MHOST socket: to them it
// is an ordinary UDP port, over IPv4 and IPv6 alike.
func TestInterop(t *testing.T) {
	mfd, mport := boundSocket(t)
	tests := []struct {
		name   string
		domain int
		ip     string
	}{
		{"AF_INET", unix.AF_INET, "127.0.0.1"},
		{"AF_INET6", unix.AF_INET6, "::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ufd := socketOf(t, tt.domain, unix.SOCK_DGRAM, 0)
			ip := netip.MustParseAddr(tt.ip)
			var dst unix.Sockaddr
			if ip.Is4() {
				dst = &unix.SockaddrInet4{Addr: ip.As4(), Port: mport}
			} else {
				dst = &unix.SockaddrInet6{Addr: ip.As16(), Port: mport}
			}
			if err := unix.Sendto(ufd, []byte("plain "+tt.name), 0, dst); err != nil {
				t.Fatalf("plain UDP sendto %s:%d: %v", tt.ip, mport, err)
			}
			uport := plainPort(t, ufd)

			// The AF_MHOST socket sees an ordinary IP source.
			p, from := recvOne(t, mfd)
			if string(p) != "plain "+tt.name || !bytes.Equal(from, saIP(tt.ip, uport)) {
				t.Fatalf("AF_MHOST socket received %q from %s, want %q from %s",
					p, saString(from), "plain "+tt.name, saString(saIP(tt.ip, uport)))
			}
			if _, err := sendto(mfd, []byte("reply"), 0, from); err != nil {
				t.Fatalf("AF_MHOST reply: %v", errStr(err))
			}

			// The plain socket sees the AF_MHOST socket's port.
			buf := make([]byte, 16)
			n, src, err := unix.Recvfrom(ufd, buf, 0)
			if err != nil {
				t.Fatalf("plain UDP recvfrom: %v", err)
			}
			var got netip.AddrPort
			switch src := src.(type) {
			case *unix.SockaddrInet4:
				got = netip.AddrPortFrom(netip.AddrFrom4(src.Addr), uint16(src.Port))
			case *unix.SockaddrInet6:
				got = netip.AddrPortFrom(netip.AddrFrom16(src.Addr), uint16(src.Port))
			}
			if want := netip.AddrPortFrom(ip, uint16(mport)); string(buf[:n]) != "reply" || got != want {
				t.Fatalf("plain UDP received %q from %v, want \"reply\" from %v", buf[:n], got, want)
			}
		})
	}
}

// TestInteropMhostFirst has an AF_MHOST socket start the conversation
// with plain UDP sockets bound to 127.0.0.1 and ::1: they see its port
// and answer it there.
func TestInteropMhostFirst(t *testing.T) {
	mfd, mport := boundSocket(t)
	for _, lo := range loopbacks {
		t.Run(lo.name, func(t *testing.T) {
			ufd, uport := plainBound(t, lo.ip)
			if _, err := sendto(mfd, []byte("hello plain "+lo.name), 0, saIP(lo.ip, uport)); err != nil {
				t.Fatalf("AF_MHOST sendto %s: %v", saString(saIP(lo.ip, uport)), errStr(err))
			}
			// recvfrom decodes any family here.
			wantRecv(t, ufd, "hello plain "+lo.name, saIP(lo.ip, mport))
			if _, err := sendto(ufd, []byte("hello AF_MHOST"), 0, saIP(lo.ip, mport)); err != nil {
				t.Fatalf("plain UDP reply: %v", errStr(err))
			}
			wantRecv(t, mfd, "hello AF_MHOST", saIP(lo.ip, uport))
		})
	}
}

// TestInteropPortReserved checks that a bound AF_MHOST socket holds its
// UDP port on IPv4 and IPv6, for the wildcard and loopback addresses and
// whatever the plain socket's reuse options, and that closing it gives
// the port back.
func TestInteropPortReserved(t *testing.T) {
	// Closed by the test, not by a cleanup that might close its
	// number once reused.
	mfd, err := openSocket(family, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	isOpen := true
	t.Cleanup(func() {
		if isOpen {
			unix.Close(mfd)
		}
	})
	port := bindAny(t, mfd)
	tests := []struct {
		name string
		ip   string
		opt  int // a SOL_SOCKET option set first, or 0
	}{
		{"0.0.0.0", "0.0.0.0", 0},
		{"::", "::", 0},
		{"127.0.0.1", "127.0.0.1", 0},
		{"::1", "::1", 0},
		{"0.0.0.0 with SO_REUSEADDR", "0.0.0.0", unix.SO_REUSEADDR},
		{":: with SO_REUSEADDR", "::", unix.SO_REUSEADDR},
		{"0.0.0.0 with SO_REUSEPORT", "0.0.0.0", unix.SO_REUSEPORT},
		{":: with SO_REUSEPORT", "::", unix.SO_REUSEPORT},
	}
	// bindPlain binds a new plain UDP socket to ip and port and closes
	// it again.
	bindPlain := func(ip string, opt int) error {
		sa := saIP(ip, port)
		fd, err := unix.Socket(saFamilyOf(sa), unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		if opt != 0 {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, 1); err != nil {
				t.Fatal(err)
			}
		}
		return bind(fd, sa)
	}
	for _, tt := range tests {
		wantErrno(t, bindPlain(tt.ip, tt.opt), unix.EADDRINUSE, fmt.Sprintf("plain UDP bind to %s port %d of an AF_MHOST socket", tt.name, port))
	}

	isOpen = false
	if err := unix.Close(mfd); err != nil {
		t.Fatal(err)
	}
	for _, ip := range []string{"0.0.0.0", "::"} {
		if err := bindPlain(ip, 0); err != nil {
			t.Errorf("plain UDP bind to %s port %d once the AF_MHOST socket is closed: %v", ip, port, errStr(err))
		}
	}
}
