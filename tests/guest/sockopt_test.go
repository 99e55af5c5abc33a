//go:build guest

package guest_test

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhost"
)

func TestSockoptBuffers(t *testing.T) {
	fd := mhostSocket(t)
	tests := []struct {
		name     string
		set, get int
		value    int
	}{
		{"SO_RCVBUF", unix.SO_RCVBUF, unix.SO_RCVBUF, 32768},
		{"SO_SNDBUF", unix.SO_SNDBUF, unix.SO_SNDBUF, 32768},
		{"SO_RCVBUFFORCE", unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, 4 << 20}, // past rmem_max: root only
		{"SO_SNDBUFFORCE", unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, 4 << 20},
	}
	for _, tt := range tests {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, tt.set, tt.value); err != nil {
			t.Errorf("setsockopt(%s, %d): %v", tt.name, tt.value, errStr(err))
			continue
		}
		// The kernel doubles the value, for its bookkeeping overhead.
		if got, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, tt.get); err != nil || got != 2*tt.value {
			t.Errorf("after setting %s to %d, getsockopt = %d, %v; want %d", tt.name, tt.value, got, err, 2*tt.value)
		}
	}
}

func TestSockoptIP(t *testing.T) {
	fd := mhostSocket(t)
	tests := []struct {
		name       string
		level, opt int
	}{
		{"IP_TTL", unix.SOL_IP, unix.IP_TTL},
		{"IPV6_UNICAST_HOPS", unix.SOL_IPV6, unix.IPV6_UNICAST_HOPS},
	}
	for _, tt := range tests {
		if err := unix.SetsockoptInt(fd, tt.level, tt.opt, 42); err != nil {
			t.Errorf("setsockopt(%s, 42): %v", tt.name, errStr(err))
			continue
		}
		if got, err := unix.GetsockoptInt(fd, tt.level, tt.opt); err != nil || got != 42 {
			t.Errorf("getsockopt(%s) = %d, %v; want 42", tt.name, got, err)
		}
	}
}

// An AF_MHOST socket is always dual-stack.
func TestSockoptV6Only(t *testing.T) {
	fd := mhostSocket(t)
	wantErrno(t, unix.SetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_V6ONLY, 1), unix.EINVAL, "setsockopt(IPV6_V6ONLY, 1)")
	if v, err := unix.GetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_V6ONLY); err != nil || v != 0 {
		t.Errorf("getsockopt(IPV6_V6ONLY) = %d, %v; want 0", v, err)
	}
}

// meminfo reads SO_MEMINFO.
func meminfo(t *testing.T, fd int) [unix.SK_MEMINFO_VARS]uint32 {
	t.Helper()
	var raw [unix.SK_MEMINFO_VARS * 4]byte
	n, err := getsockoptBytes(fd, unix.SOL_SOCKET, unix.SO_MEMINFO, raw[:])
	if err != nil || n != len(raw) {
		t.Fatalf("getsockopt(SO_MEMINFO) = %d bytes, %v; want %d", n, errStr(err), len(raw))
	}
	var mi [unix.SK_MEMINFO_VARS]uint32
	for i := range mi {
		mi[i] = binary.NativeEndian.Uint32(raw[4*i:])
	}
	return mi
}

func TestSockoptMeminfo(t *testing.T) {
	fd, _ := boundSocket(t)
	mi := meminfo(t, fd)
	if mi[unix.SK_MEMINFO_RCVBUF] == 0 || mi[unix.SK_MEMINFO_SNDBUF] == 0 || mi[unix.SK_MEMINFO_DROPS] != 0 {
		t.Errorf("SO_MEMINFO of a new socket = %v: want buffer sizes and no drops", mi)
	}
}

// TestSockoptRxqOvfl overflows a small receive buffer, with IPv4
// datagrams and with testproto ones over loopback, and checks that the
// next datagram carries the drop count, as SO_MEMINFO reports it.
func TestSockoptRxqOvfl(t *testing.T) {
	t.Run("IPv4", func(t *testing.T) {
		// The datagram after the drops comes over IPv6: the count is
		// the socket's, not a network layer's.
		rxqOvfl(t, func(port int) []byte { return sa4("127.0.0.1", port) }, func(port int) []byte { return sa6("::1", port) })
	})
	t.Run("testproto", func(t *testing.T) {
		useL3Protos(t, testproto)
		enableL3(t, 0, 1) // testproto over lo
		lo := func(port int) []byte { return saLo(mhost.FamilyTestProto, port) }
		rxqOvfl(t, lo, lo)
	})
}

// rxqOvfl sends 64 datagrams to a socket with SO_RXQ_OVFL on and the
// smallest receive buffer, to the addresses overflow gives for its port,
// and then one more to the address after gives.
func rxqOvfl(t *testing.T, overflow, after func(port int) []byte) {
	c := listen(t)
	rport := portOf(t, c)
	rfd := fdOf(t, c)
	if err := unix.SetsockoptInt(rfd, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1); err != nil {
		t.Fatalf("setsockopt(SO_RXQ_OVFL): %v", errStr(err))
	}
	if err := c.SetReadBuffer(1); err != nil { // the smallest the kernel allows
		t.Fatal(err)
	}

	fd := mhostSocket(t)
	payload := make([]byte, 1000)
	for range 64 {
		if _, err := sendto(fd, payload, 0, overflow(rport)); err != nil {
			t.Fatal(err)
		}
	}
	// sendto returns once a datagram is on loopback's backlog; ksoftirqd
	// may deliver (or drop) it later, so wait for the drops to show.
	var drops uint32
	if !poll(ioTimeout, func() bool {
		drops = meminfo(t, rfd)[unix.SK_MEMINFO_DROPS]
		return drops > 0
	}) {
		t.Fatal("no datagram dropped: the receive buffer did not overflow")
	}
	// Every datagram ends up queued or dropped, none lost or counted twice.
	queued := 0
	poll(ioTimeout, func() bool {
		for {
			if _, _, _, _, err := c.ReadMsg(make([]byte, 2000), nil, unix.MSG_DONTWAIT); err != nil {
				wantErrno(t, err, unix.EAGAIN, "draining the socket")
				break
			}
			queued++
		}
		drops = meminfo(t, rfd)[unix.SK_MEMINFO_DROPS]
		return queued+int(drops) >= 64
	})
	t.Logf("64 datagrams sent: %d queued, %d dropped", queued, drops)
	if queued+int(drops) != 64 {
		t.Errorf("%d queued + %d dropped != 64 sent", queued, drops)
	}

	// Datagrams queued after drops carry the count so far.
	if _, err := sendto(fd, []byte("after"), 0, after(rport)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(deadline())
	buf, oob := make([]byte, 16), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := c.ReadMsg(buf, oob, 0)
	if err != nil || string(buf[:n]) != "after" {
		t.Fatalf("ReadMsg = %q, %v", buf[:n], err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 || msgs[0].Header.Level != unix.SOL_SOCKET ||
		msgs[0].Header.Type != unix.SO_RXQ_OVFL || len(msgs[0].Data) < 4 {
		t.Fatalf("control messages %+v, %v; want one SO_RXQ_OVFL", msgs, err)
	}
	if got := binary.NativeEndian.Uint32(msgs[0].Data); got != drops {
		t.Errorf("SO_RXQ_OVFL says %d drops, SO_MEMINFO %d", got, drops)
	}
}

// TestSockoptOnTheWire sets the TOS and TTL of IPv4 datagrams and the
// traffic class and hop limit of IPv6 ones on an AF_MHOST socket and
// reads them from the datagrams plain UDP sockets receive. Each option
// goes to its own family's datagrams only.
func TestSockoptOnTheWire(t *testing.T) {
	sfd, _ := boundSocket(t)
	r4, port4 := plainBound(t, "127.0.0.1")
	r6, port6 := plainBound(t, "::1")
	for _, o := range []struct{ fd, level, opt int }{
		{r4, unix.SOL_IP, unix.IP_RECVTOS}, {r4, unix.SOL_IP, unix.IP_RECVTTL},
		{r6, unix.SOL_IPV6, unix.IPV6_RECVTCLASS}, {r6, unix.SOL_IPV6, unix.IPV6_RECVHOPLIMIT},
	} {
		if err := unix.SetsockoptInt(o.fd, o.level, o.opt, 1); err != nil {
			t.Fatalf("setsockopt(%d, %d, 1) on a plain UDP socket: %v", o.level, o.opt, errStr(err))
		}
	}

	// recv sends a datagram to the receiver r and returns what its
	// control messages of kinds tc and hl say.
	recv := func(what string, r int, dst []byte, tc, hl cmsgKind) (int, int) {
		t.Helper()
		if _, err := sendto(sfd, []byte(what), 0, dst); err != nil {
			t.Fatalf("%s: sendto: %v", what, errStr(err))
		}
		buf, oob := make([]byte, 64), make([]byte, 256)
		n, oobn, _, _, err := unix.Recvmsg(r, buf, oob, 0)
		if err != nil || string(buf[:n]) != what {
			t.Fatalf("%s: plain UDP recvmsg = %q, %v", what, buf[:n], err)
		}
		data := wantCmsgs(t, what, oob[:oobn], tc, hl)
		tcv := 0
		if tc == cmsgIPTOS { // one byte, unlike the others
			if len(data[tc]) < 1 {
				t.Fatalf("%s: empty IP_TOS", what)
			}
			tcv = int(data[tc][0])
		} else {
			tcv = cmsgInt(t, data[tc])
		}
		return tcv, cmsgInt(t, data[hl])
	}
	check := func(when string, tos, ttl, tclass, hops int) {
		t.Helper()
		if gtos, gttl := recv("IPv4 "+when, r4, sa4("127.0.0.1", port4), cmsgIPTOS, cmsgIPTTL); gtos != tos || gttl != ttl {
			t.Errorf("IPv4 datagram %s: TOS %#x TTL %d, want %#x and %d", when, gtos, gttl, tos, ttl)
		}
		if gtc, ghops := recv("IPv6 "+when, r6, sa6("::1", port6), cmsgIPv6TClass, cmsgIPv6HopLimit); gtc != tclass || ghops != hops {
			t.Errorf("IPv6 datagram %s: traffic class %#x hop limit %d, want %#x and %d", when, gtc, ghops, tclass, hops)
		}
	}

	check("by default", 0, readSysfs(t, "/proc/sys/net/ipv4/ip_default_ttl"), 0, readSysfs(t, "/proc/sys/net/ipv6/conf/lo/hop_limit"))
	for _, o := range []struct {
		name       string
		level, opt int
		value      int
	}{
		{"IP_TOS", unix.SOL_IP, unix.IP_TOS, 0xb8},
		{"IP_TTL", unix.SOL_IP, unix.IP_TTL, 42},
		{"IPV6_TCLASS", unix.SOL_IPV6, unix.IPV6_TCLASS, 0x48},
		{"IPV6_UNICAST_HOPS", unix.SOL_IPV6, unix.IPV6_UNICAST_HOPS, 43},
	} {
		if err := unix.SetsockoptInt(sfd, o.level, o.opt, o.value); err != nil {
			t.Fatalf("setsockopt(%s, %#x): %v", o.name, o.value, errStr(err))
		}
	}
	check("with the options set", 0xb8, 42, 0x48, 43)
}
