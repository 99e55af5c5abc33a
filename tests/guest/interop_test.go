//go:build guest

package guest_test

import (
	"bytes"
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
