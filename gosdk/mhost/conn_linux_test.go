package mhost

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"reflect"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/internal/testenv"
)

// These tests run Conn over dual-stack AF_INET6 UDP sockets on loopback:
// everything but the address family is the same code as over AF_MHOST,
// which only exists in the test VM (tests/guest).

// udpConn returns a Conn over a dual-stack UDP socket bound to an
// ephemeral port, or connected to raddr when it is not nil.
func udpConn(t testing.TB, raddr net.Addr) *Conn {
	t.Helper()
	var (
		c   *Conn
		err error
		cfg = &Config{Control: dualStack}
		ctx = context.Background()
	)
	if raddr != nil {
		c, err = cfg.dial(ctx, unix.AF_INET6, Family, raddr)
	} else {
		c, err = cfg.listenAt(ctx, unix.AF_INET6, Family, mustEncode(t, &net.UDPAddr{IP: net.IPv6unspecified}), "[::]:0")
	}
	if err != nil {
		if errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EADDRNOTAVAIL) {
			testenv.Skipf(t, "no IPv6 loopback: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dualStack is a Config.Control that makes an AF_INET6 socket talk IPv4
// too, as an AF_MHOST socket does.
func dualStack(network, address string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0) })
	return cmp.Or(err, serr)
}

// encode returns the socket address of addr, as writes send it.
func encode(addr net.Addr, family uint16) ([]byte, error) {
	var sa sockaddr
	if err := sa.setNetAddr(addr, family); err != nil {
		return nil, err
	}
	return bytes.Clone(sa.bytes()), nil
}

func mustEncode(t testing.TB, addr net.Addr) []byte {
	t.Helper()
	b, err := encode(addr, Family)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func port(c *Conn) int { return c.LocalAddr().(*net.UDPAddr).Port }

// to returns the address of c over loopback IPv4 ("127.0.0.1") or IPv6.
func to(c *Conn, ip string) *net.UDPAddr {
	return &net.UDPAddr{IP: net.ParseIP(ip), Port: port(c)}
}

// read reads one datagram within a few seconds.
func read(t *testing.T, c *Conn) (string, net.Addr) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 2048)
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("ReadFrom: %v", err)
	}
	return string(buf[:n]), from
}

func write(t *testing.T, c *Conn, msg string, to net.Addr) {
	t.Helper()
	if n, err := c.WriteTo([]byte(msg), to); err != nil || n != len(msg) {
		t.Fatalf("WriteTo(%q, %v) = %d, %v", msg, to, n, err)
	}
}

func sameAddr(a, b net.Addr) bool {
	ua, ok1 := a.(*net.UDPAddr)
	ub, ok2 := b.(*net.UDPAddr)
	return ok1 && ok2 && ua.IP.Equal(ub.IP) && ua.Port == ub.Port && ua.Zone == ub.Zone
}

func TestConnReadFromWriteTo(t *testing.T) {
	server, client := udpConn(t, nil), udpConn(t, nil)
	for _, ip := range []string{"127.0.0.1", "::1"} {
		write(t, client, "hello "+ip, to(server, ip))
		msg, from := read(t, server)
		if msg != "hello "+ip || !sameAddr(from, to(client, ip)) {
			t.Fatalf("server got %q from %v, want %q from %v", msg, from, "hello "+ip, to(client, ip))
		}

		write(t, server, "reply", from)
		if msg, from := read(t, client); msg != "reply" || !sameAddr(from, to(server, ip)) {
			t.Fatalf("client got %q from %v, want \"reply\" from %v", msg, from, to(server, ip))
		}
	}
}

func TestConnDial(t *testing.T) {
	server := udpConn(t, nil)
	raddr := to(server, "::1")
	client := udpConn(t, raddr)
	if !sameAddr(client.RemoteAddr(), raddr) {
		t.Errorf("RemoteAddr() = %v, want %v", client.RemoteAddr(), raddr)
	}
	if server.RemoteAddr() != nil {
		t.Errorf("RemoteAddr() of a listening Conn = %v, want nil", server.RemoteAddr())
	}
	if la, ok := client.LocalAddr().(*net.UDPAddr); !ok || la.Port == 0 {
		t.Errorf("LocalAddr() = %v, want an autobound port", client.LocalAddr())
	}

	if n, err := client.Write([]byte("ping")); err != nil || n != 4 {
		t.Fatalf("Write = %d, %v", n, err)
	}
	msg, from := read(t, server)
	if msg != "ping" {
		t.Fatalf("server got %q", msg)
	}
	write(t, server, "pong", from)
	buf := make([]byte, 10)
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := client.Read(buf); err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}

	if n, oobn, err := client.WriteMsg([]byte("msg"), nil, nil); err != nil || n != 3 || oobn != 0 {
		t.Fatalf("WriteMsg to the dialed address = %d, %d, %v", n, oobn, err)
	}
	if msg, _ := read(t, server); msg != "msg" {
		t.Fatalf("server got %q, want \"msg\"", msg)
	}
}

func TestConnEmptyDatagram(t *testing.T) {
	server, client := udpConn(t, nil), udpConn(t, nil)
	write(t, client, "", to(server, "127.0.0.1"))
	if msg, from := read(t, server); msg != "" || !sameAddr(from, to(client, "127.0.0.1")) {
		t.Fatalf("got %q from %v, want an empty datagram from %v", msg, from, to(client, "127.0.0.1"))
	}
}

func TestConnReadMsg(t *testing.T) {
	server, client := udpConn(t, nil), udpConn(t, nil)
	dst := to(server, "::1")
	server.SetReadDeadline(time.Now().Add(5 * time.Second))

	// MSG_DONTWAIT on an empty queue does not wait.
	_, _, _, _, err := server.ReadMsg(make([]byte, 1), nil, unix.MSG_DONTWAIT)
	if !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("ReadMsg(MSG_DONTWAIT) on an empty queue: %v, want EAGAIN", err)
	}
	checkOpError(t, err, "read", "recvmsg")

	write(t, client, "0123456789", dst)
	write(t, client, "next", dst)

	// MSG_PEEK leaves the datagram queued.
	buf := make([]byte, 64)
	n, _, flags, from, err := server.ReadMsg(buf, nil, unix.MSG_PEEK)
	if err != nil || string(buf[:n]) != "0123456789" || flags&unix.MSG_TRUNC != 0 || !sameAddr(from, to(client, "::1")) {
		t.Fatalf("ReadMsg(MSG_PEEK) = %q, flags %#x, from %v, %v", buf[:n], flags, from, err)
	}

	// MSG_TRUNC asks for the real length.
	n, _, flags, _, err = server.ReadMsg(buf[:4], nil, unix.MSG_PEEK|unix.MSG_TRUNC)
	if err != nil || n != 10 || string(buf[:4]) != "0123" || flags&unix.MSG_TRUNC == 0 {
		t.Fatalf("ReadMsg(MSG_PEEK|MSG_TRUNC) = %d %q, flags %#x, %v; want 10", n, buf[:4], flags, err)
	}

	// A short buffer truncates, says so, and the rest is gone.
	n, _, flags, _, err = server.ReadMsg(buf[:4], nil, 0)
	if err != nil || n != 4 || string(buf[:4]) != "0123" || flags&unix.MSG_TRUNC == 0 {
		t.Fatalf("ReadMsg(short buffer) = %q, flags %#x, %v; want \"0123\" and MSG_TRUNC", buf[:n], flags, err)
	}
	if msg, _ := read(t, server); msg != "next" {
		t.Fatalf("after a truncated read got %q, want \"next\"", msg)
	}

	// Control messages come back in oob.
	if err := server.fd.SetsockoptInt(unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1); err != nil {
		t.Fatal(err)
	}
	write(t, client, "hops", dst)
	oob := make([]byte, 128)
	n, oobn, _, _, err := server.ReadMsg(buf, oob, 0)
	if err != nil || string(buf[:n]) != "hops" {
		t.Fatalf("ReadMsg = %q, %v", buf[:n], err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 || msgs[0].Header.Type != unix.IPV6_HOPLIMIT {
		t.Fatalf("control messages %+v, %v; want an IPV6_HOPLIMIT one", msgs, err)
	}
}

func TestConnWriteMsgControl(t *testing.T) {
	server, client := udpConn(t, nil), udpConn(t, nil)
	if err := server.fd.SetsockoptInt(unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1); err != nil {
		t.Fatal(err)
	}
	oob := make([]byte, unix.CmsgSpace(4))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT
	h.SetLen(unix.CmsgLen(4))
	binary.NativeEndian.PutUint32(oob[unix.CmsgLen(0):], 7)
	n, oobn, err := client.WriteMsg([]byte("x"), oob, to(server, "::1"))
	if err != nil || n != 1 || oobn != len(oob) {
		t.Fatalf("WriteMsg = %d, %d, %v", n, oobn, err)
	}
	rb := make([]byte, 128)
	_, rn, _, _, err := server.ReadMsg(make([]byte, 8), rb, 0)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := unix.ParseSocketControlMessage(rb[:rn])
	if err != nil || len(msgs) != 1 || binary.NativeEndian.Uint32(msgs[0].Data) != 7 {
		t.Fatalf("received control messages %+v, %v; want hop limit 7", msgs, err)
	}
}

func TestConnDeadline(t *testing.T) {
	c := udpConn(t, nil)
	for _, d := range []time.Time{time.Now().Add(-time.Second), time.Now().Add(50 * time.Millisecond)} {
		if err := c.SetReadDeadline(d); err != nil {
			t.Fatal(err)
		}
		_, _, err := c.ReadFrom(make([]byte, 1))
		var nerr net.Error
		if !errors.As(err, &nerr) || !nerr.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("ReadFrom past the deadline: %v, want a timeout", err)
		}
		checkOpError(t, err, "read", "")
	}

	// Clearing the deadline makes reads wait again.
	c.SetDeadline(time.Time{})
	write(t, c, "self", to(c, "127.0.0.1"))
	if msg, _ := read(t, c); msg != "self" {
		t.Fatalf("got %q", msg)
	}
}

func TestConnContext(t *testing.T) {
	c := udpConn(t, nil)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, _, err := c.ReadFromContext(ctx, make([]byte, 1))
	if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Fatalf("ReadFromContext canceled after 50ms: %v after %v", err, time.Since(start))
	}
	checkOpError(t, err, "read", "")

	_, _, err = c.ReadFromContext(ctx, make([]byte, 1)) // already canceled
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadFromContext with a canceled context: %v", err)
	}
	if _, err := c.WriteToContext(ctx, []byte("x"), to(c, "::1")); !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteToContext with a canceled context: %v", err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err = c.ReadFromContext(ctx, make([]byte, 1))
	var nerr net.Error
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &nerr) || !nerr.Timeout() {
		t.Fatalf("ReadFromContext past the context deadline: %v", err)
	}

	// The context's deadline does not outlive the call.
	if _, err := c.WriteToContext(context.Background(), []byte("after"), to(c, "::1")); err != nil {
		t.Fatal(err)
	}
	if msg, _ := read(t, c); msg != "after" {
		t.Fatalf("got %q", msg)
	}
}

func TestConnClose(t *testing.T) {
	c := udpConn(t, nil)
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFrom(make([]byte, 1))
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // let it block
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("blocked ReadFrom after Close: %v, want net.ErrClosed", err)
		}
		checkOpError(t, err, "read", "")
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock ReadFrom")
	}

	for name, err := range map[string]error{
		"Close":            c.Close(),
		"ReadFrom":         func() error { _, _, err := c.ReadFrom(make([]byte, 1)); return err }(),
		"WriteTo":          second(c.WriteTo([]byte("x"), to(c, "::1"))),
		"Write":            second(c.Write([]byte("x"))),
		"SetDeadline":      c.SetDeadline(time.Now()),
		"SetReadBuffer":    c.SetReadBuffer(1 << 16),
		"SetRecvHostID":    c.SetRecvHostID(true),
		"SyscallConn":      second(c.SyscallConn()),
		"ReadMsg DONTWAIT": func() error { _, _, _, _, err := c.ReadMsg(nil, nil, unix.MSG_DONTWAIT); return err }(),
	} {
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s after Close: %v, want net.ErrClosed", name, err)
		}
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Net != "mhost" {
			t.Errorf("%s after Close: %T, want a *net.OpError", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestConnErrors(t *testing.T) {
	c := udpConn(t, nil)

	// The kernel's errno, wrapped in the system call's name and in a
	// *net.OpError naming both ends.
	dst := &net.UDPAddr{IP: net.IPv6loopback, Port: 0}
	_, err := c.WriteTo([]byte("x"), dst)
	if !errors.Is(err, unix.EINVAL) {
		t.Fatalf("WriteTo port 0: %v, want EINVAL", err)
	}
	oe := checkOpError(t, err, "write", "sendto")
	if oe.Addr != dst || oe.Source != c.LocalAddr() {
		t.Errorf("OpError ends %v -> %v, want %v -> %v", oe.Source, oe.Addr, c.LocalAddr(), dst)
	}

	// UDP knows neither host ids nor other families (mhost would).
	for _, addr := range []net.Addr{&HostAddr{ID: 1, Port: 1}, &RawAddr{Family: 4242, Data: make([]byte, 26)}} {
		if _, err := c.WriteTo([]byte("x"), addr); !errors.Is(err, unix.EINVAL) {
			t.Errorf("WriteTo(%v) over UDP: %v, want EINVAL", addr, err)
		}
	}
	_, err = c.Write([]byte("x"))
	if !errors.Is(err, unix.EDESTADDRREQ) {
		t.Errorf("Write on an unconnected Conn: %v, want EDESTADDRREQ", err)
	}
	checkOpError(t, err, "write", "sendto")
	_, _, err = c.WriteMsg([]byte("x"), nil, nil)
	if !errors.Is(err, unix.EDESTADDRREQ) {
		t.Errorf("WriteMsg on an unconnected Conn: %v, want EDESTADDRREQ", err)
	}
	checkOpError(t, err, "write", "sendmsg")

	// Addresses that cannot be encoded fail before any system call.
	for _, addr := range []net.Addr{nil, (*net.UDPAddr)(nil), &net.TCPAddr{}, &net.UDPAddr{IP: net.IP{1}}} {
		_, err := c.WriteTo([]byte("x"), addr)
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "write" || oe.Addr != addr {
			t.Errorf("WriteTo(%#v): %v, want a *net.OpError for it", addr, err)
		}
	}

	// A port in use.
	sa := mustEncode(t, &net.UDPAddr{IP: net.IPv6unspecified, Port: port(c)})
	if c2, err := (*Config)(nil).listenAt(context.Background(), unix.AF_INET6, Family, sa, ""); !errors.Is(err, unix.EADDRINUSE) {
		if err == nil {
			c2.Close()
		}
		t.Errorf("listen on a port in use: %v, want EADDRINUSE", err)
	}
}

func TestNotLoaded(t *testing.T) {
	// Socket families the kernel does not know fail like AF_MHOST does
	// without the module (4000 is past AF_MAX: nothing gets autoloaded).
	const unknown = 4000
	_, err := (*Config)(nil).listenFamily(context.Background(), unknown, 7000)
	if !errors.Is(err, ErrNotLoaded) || !errors.Is(err, unix.EAFNOSUPPORT) {
		t.Fatalf("listen with no module: %v, want ErrNotLoaded and EAFNOSUPPORT", err)
	}
	oe := checkOpError(t, err, "listen", "")
	if !reflect.DeepEqual(oe.Addr, &HostAddr{Port: 7000}) {
		t.Errorf("OpError.Addr = %v, want *:7000", oe.Addr)
	}
	t.Log(err)

	raddr := &net.UDPAddr{IP: net.IPv6loopback, Port: 7000}
	_, err = (*Config)(nil).dialFamily(context.Background(), unknown, raddr)
	if !errors.Is(err, ErrNotLoaded) || !errors.Is(err, unix.EAFNOSUPPORT) {
		t.Fatalf("dial with no module: %v, want ErrNotLoaded and EAFNOSUPPORT", err)
	}
	if oe := checkOpError(t, err, "dial", ""); oe.Addr != raddr {
		t.Errorf("OpError.Addr = %v, want %v", oe.Addr, raddr)
	}
}

func TestConnOptions(t *testing.T) {
	c := udpConn(t, nil)
	if err := c.SetReadBuffer(8192); err != nil {
		t.Fatal(err)
	}
	if err := c.SetWriteBuffer(16384); err != nil {
		t.Fatal(err)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var rcv, snd, typ, fl, fd int
	var serr error
	err = rc.Control(func(s uintptr) {
		rcv, serr = unix.GetsockoptInt(int(s), unix.SOL_SOCKET, unix.SO_RCVBUF)
		snd, _ = unix.GetsockoptInt(int(s), unix.SOL_SOCKET, unix.SO_SNDBUF)
		typ, _ = unix.GetsockoptInt(int(s), unix.SOL_SOCKET, unix.SO_TYPE)
		fl, _ = unix.FcntlInt(s, unix.F_GETFL, 0)
		fd, _ = unix.FcntlInt(s, unix.F_GETFD, 0)
	})
	if err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	if rcv != 16384 || snd != 32768 {
		t.Errorf("SO_RCVBUF %d, SO_SNDBUF %d; want the doubled 16384 and 32768", rcv, snd)
	}
	if typ != unix.SOCK_DGRAM || fl&unix.O_NONBLOCK == 0 || fd&unix.FD_CLOEXEC == 0 {
		t.Errorf("socket type %d, flags %#x, fd flags %#x; want a non-blocking close-on-exec datagram socket", typ, fl, fd)
	}
}

// checkOpError checks that err is a *net.OpError for op over mhost and,
// when syscall is not empty, that it wraps an *os.SyscallError for it.
func checkOpError(t *testing.T, err error, op, syscall string) *net.OpError {
	t.Helper()
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("error %T %v, want a *net.OpError", err, err)
	}
	if oe.Op != op || oe.Net != "mhost" {
		t.Errorf("OpError Op %q Net %q, want %q \"mhost\"", oe.Op, oe.Net, op)
	}
	var se *os.SyscallError
	if syscall != "" && (!errors.As(err, &se) || se.Syscall != syscall) {
		t.Errorf("error %v: want an *os.SyscallError for %s", err, syscall)
	}
	return oe
}

func TestConnConcurrent(t *testing.T) {
	server, client := udpConn(t, nil), udpConn(t, nil)
	const n = 200
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 16)
		seen := make(map[string]bool)
		server.SetReadDeadline(time.Now().Add(10 * time.Second))
		for len(seen) < n {
			k, _, err := server.ReadFrom(buf)
			if err != nil {
				done <- err
				return
			}
			seen[string(buf[:k])] = true
		}
		done <- nil
	}()
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			var err error
			for i := g; i < n && err == nil; i += 4 {
				_, err = client.WriteTo([]byte{byte(i), byte(i >> 8)}, to(server, [2]string{"127.0.0.1", "::1"}[i%2]))
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// udpPeer returns a dual-stack net.UDPConn on loopback, the yardstick.
func udpPeer(t *testing.T) *net.UDPConn {
	t.Helper()
	u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6unspecified})
	if err != nil {
		testenv.Skipf(t, "no dual-stack UDP socket: %v", err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// TestAllocs pins what the data path allocates, against net.UDPConn doing
// the same over the same loopback: the net.PacketConn methods no more than
// it, the netip, Addr and batch methods nothing.
func TestAllocs(t *testing.T) {
	server, client := udpConn(t, nil), udpConn(t, nil)
	us, uc := udpPeer(t), udpPeer(t)
	buf := make([]byte, 64)
	const runs = 200
	check := func(name string, got, limit float64) {
		t.Helper()
		t.Logf("%s: %.1f allocations per round trip", name, got)
		if got > limit {
			t.Errorf("%s: %.1f allocations per round trip, want at most %.1f", name, got, limit)
		}
	}
	for _, ip := range []string{"127.0.0.1", "::1"} {
		ap := netip.MustParseAddrPort(to(server, ip).String())
		uap := netip.AddrPortFrom(ap.Addr(), us.LocalAddr().(*net.UDPAddr).AddrPort().Port())
		udst := net.UDPAddrFromAddrPort(uap)
		dst := net.UDPAddrFromAddrPort(ap)

		udp := testing.AllocsPerRun(runs, func() {
			if _, err := uc.WriteTo(buf, udst); err != nil {
				t.Fatal(err)
			}
			if _, _, err := us.ReadFrom(buf); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("net.UDPConn WriteTo+ReadFrom over %s: %.1f allocations", ip, udp)
		check("WriteTo+ReadFrom over "+ip, testing.AllocsPerRun(runs, func() {
			if _, err := client.WriteTo(buf, dst); err != nil {
				t.Fatal(err)
			}
			if _, _, err := server.ReadFrom(buf); err != nil {
				t.Fatal(err)
			}
		}), min(udp, 2))
		check("WriteToAddrPort+ReadFromAddrPort over "+ip, testing.AllocsPerRun(runs, func() {
			if _, err := client.WriteToAddrPort(buf, ap); err != nil {
				t.Fatal(err)
			}
			if _, _, err := server.ReadFromAddrPort(buf); err != nil {
				t.Fatal(err)
			}
		}), 0)
		a := AddrFromAddrPort(ap)
		check("WriteToAddr+ReadFromAddr over "+ip, testing.AllocsPerRun(runs, func() {
			if _, err := client.WriteToAddr(buf, a); err != nil {
				t.Fatal(err)
			}
			if _, _, err := server.ReadFromAddr(buf); err != nil {
				t.Fatal(err)
			}
		}), 0)
		ctx, cancel := context.WithCancel(context.Background())
		check("WriteToContext+ReadFromContext (never waiting) over "+ip, testing.AllocsPerRun(runs, func() {
			if _, err := client.WriteToContext(ctx, buf, dst); err != nil {
				t.Fatal(err)
			}
			if _, _, err := server.ReadFromContext(ctx, buf); err != nil {
				t.Fatal(err)
			}
		}), min(udp, 2))
		cancel()

		out := make([]Message, 8)
		in := make([]Message, 8)
		for i := range out {
			out[i] = Message{Buffers: [][]byte{buf}, Addr: a}
			in[i] = Message{Buffers: [][]byte{make([]byte, 64)}}
		}
		check("WriteBatch+ReadBatch of 8 over "+ip, testing.AllocsPerRun(runs, func() {
			if n, err := client.WriteBatch(out, 0); err != nil || n != len(out) {
				t.Fatal(n, err)
			}
			for got := 0; got < len(out); {
				n, err := server.ReadBatch(in[got:], 0)
				if err != nil {
					t.Fatal(err)
				}
				got += n
			}
		}), 0)
	}

	// A zone names the scope by a cached interface index: no netlink
	// dump per datagram.
	lo, _ := loopback(t)
	zoned := netip.AddrPortFrom(netip.MustParseAddr("::1").WithZone(lo), uint16(port(server)))
	check("WriteToAddrPort with a zone", testing.AllocsPerRun(runs, func() {
		if _, err := client.WriteToAddrPort(buf, zoned); err != nil {
			t.Fatal(err)
		}
		if _, _, err := server.ReadFromAddrPort(buf); err != nil {
			t.Fatal(err)
		}
	}), 0)
}

// readAsync starts ReadFromContext in a goroutine.
func readAsync(c *Conn, ctx context.Context) <-chan error {
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFromContext(ctx, make([]byte, 16))
		errc <- err
	}()
	return errc
}

func waitErr(t *testing.T, what string, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("%s still blocked after 5s", what)
		return nil
	}
}

func stillBlocked(t *testing.T, what string, errc <-chan error) {
	t.Helper()
	select {
	case err := <-errc:
		t.Fatalf("%s returned %v, want it still waiting", what, err)
	case <-time.After(100 * time.Millisecond):
	}
}

// A canceled context ends its own call only: another goroutine's read
// waiting on the same Conn goes on waiting, and gets the next datagram.
func TestContextIsolation(t *testing.T) {
	c := udpConn(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	withCtx := readAsync(c, ctx)
	plain := readAsync(c, context.Background())
	time.Sleep(50 * time.Millisecond) // let both wait
	cancel()
	if err := waitErr(t, "the canceled read", withCtx); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled ReadFromContext: %v, want context.Canceled", err)
	}
	stillBlocked(t, "the plain read", plain)
	write(t, c, "after", to(c, "::1"))
	if err := waitErr(t, "the plain read", plain); err != nil {
		t.Fatalf("plain ReadFrom after another call's cancelation: %v", err)
	}

	// A context deadline is the call's alone too.
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	withCtx = readAsync(c, ctx)
	plain = readAsync(c, context.Background())
	if err := waitErr(t, "the read with a deadline", withCtx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadFromContext past its context's deadline: %v", err)
	}
	stillBlocked(t, "the plain read", plain)
	c.Close()
	if err := waitErr(t, "the plain read", plain); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("plain read after Close: %v", err)
	}
}

// A context neither erases nor outlives the read deadline the program set.
func TestContextKeepsDeadline(t *testing.T) {
	c := udpConn(t, nil)
	const d = 300 * time.Millisecond
	start := time.Now()
	c.SetReadDeadline(start.Add(d))

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	if _, _, err := c.ReadFromContext(ctx, make([]byte, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled ReadFromContext: %v", err)
	}
	_, _, err := c.ReadFrom(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadFrom after a canceled context: %v, want the deadline set before", err)
	}
	if el := time.Since(start); el < d-10*time.Millisecond {
		t.Fatalf("the %v deadline fired after %v: the context moved it", d, el)
	}

	// The Conn's deadline bounds calls with a context, whichever is
	// earlier: here the Conn's.
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _, err = c.ReadFromContext(ctx, make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadFromContext past the Conn's deadline: %v, want os.ErrDeadlineExceeded", err)
	}

	// A deadline set while a call with a context waits reaches it.
	c.SetReadDeadline(time.Time{})
	errc := readAsync(c, ctx)
	stillBlocked(t, "the read with a context", errc)
	c.SetReadDeadline(time.Now())
	if err := waitErr(t, "the read with a context", errc); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadFromContext after SetReadDeadline(now): %v", err)
	}

	// And Close ends it.
	c.SetReadDeadline(time.Time{})
	errc = readAsync(c, ctx)
	stillBlocked(t, "the read with a context", errc)
	c.Close()
	if err := waitErr(t, "the read with a context", errc); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadFromContext after Close: %v", err)
	}
	if _, _, err := c.ReadFromContext(ctx, make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadFromContext on a closed Conn: %v", err)
	}
}

func TestBatch(t *testing.T) {
	server, client := udpConn(t, nil), udpConn(t, nil)
	dsts := []Addr{
		AddrFromAddrPort(netip.MustParseAddrPort(to(server, "127.0.0.1").String())),
		AddrFromAddrPort(netip.MustParseAddrPort(to(server, "::1").String())),
	}
	out := make([]Message, 5)
	for i := range out {
		// Two buffers make one datagram.
		out[i] = Message{Buffers: [][]byte{[]byte("msg"), {byte('0' + i)}}, Addr: dsts[i%2]}
	}
	if n, err := client.WriteBatch(out, 0); err != nil || n != len(out) {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	for i, m := range out {
		if m.N != 4 {
			t.Errorf("message %d: N = %d, want 4", i, m.N)
		}
	}

	in := make([]Message, 8)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, 2), make([]byte, 8)}
	}
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := 0
	for got < len(out) {
		n, err := server.ReadBatch(in[got:], 0)
		if err != nil {
			t.Fatalf("ReadBatch: %v", err)
		}
		got += n
	}
	cport := uint16(port(client))
	for i, m := range in[:got] {
		msg := string(m.Buffers[0]) + string(m.Buffers[1][:m.N-2])
		want := dsts[i%2].AddrPort().Addr()
		// Over a dual-stack UDP socket, IPv4 sources are IPv4-mapped.
		from := netip.AddrPortFrom(m.Addr.AddrPort().Addr().Unmap(), m.Addr.Port())
		if msg != "msg"+string(rune('0'+i)) || from != netip.AddrPortFrom(want, cport) || m.Flags != 0 {
			t.Errorf("message %d: %q from %v, flags %#x; want %q from %v", i, msg, m.Addr, m.Flags, "msg"+string(rune('0'+i)), netip.AddrPortFrom(want, cport))
		}
	}

	// Nothing queued: MSG_DONTWAIT does not wait.
	if _, err := server.ReadBatch(in, unix.MSG_DONTWAIT); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("ReadBatch(MSG_DONTWAIT) on an empty queue: %v, want EAGAIN", err)
	}
	checkOpError(t, func() error { _, err := server.ReadBatch(in, unix.MSG_DONTWAIT); return err }(), "read", "recvmmsg")
	if n, err := server.ReadBatch(nil, 0); n != 0 || err != nil {
		t.Errorf("ReadBatch(nil) = %d, %v", n, err)
	}

	// A message that cannot be sent stops the batch there.
	bad := []Message{
		{Buffers: [][]byte{[]byte("ok")}, Addr: dsts[0]},
		{Buffers: [][]byte{[]byte("port 0")}, Addr: AddrFromAddrPort(netip.MustParseAddrPort("[::1]:0"))},
		{Buffers: [][]byte{[]byte("not sent")}, Addr: dsts[0]},
	}
	n, err := client.WriteBatch(bad, 0)
	if n != 1 || !errors.Is(err, unix.EINVAL) {
		t.Errorf("WriteBatch with a bad second message = %d, %v; want 1 and EINVAL", n, err)
	}
	checkOpError(t, err, "write", "sendmmsg")
	n, err = client.WriteBatch([]Message{{Buffers: [][]byte{{1}}, Addr: AddrFromRaw(1, make([]byte, 200))}}, 0)
	var ae *net.AddrError
	if n != 0 || !errors.As(err, &ae) {
		t.Errorf("WriteBatch to an address too long = %d, %v; want an AddrError", n, err)
	}
	if msg, _ := read(t, server); msg != "ok" {
		t.Errorf("read %q, want the first message of the failed batch", msg)
	}
}

// Batches larger than rawBatch: WriteBatch sends them in several calls,
// ReadBatch reads them with one ordinary call.
func TestBatchLarge(t *testing.T) {
	server, client := udpConn(t, nil), udpConn(t, nil)
	dst := AddrFromAddrPort(netip.MustParseAddrPort(to(server, "127.0.0.1").String()))
	const n = 3*rawBatch + 5
	out := make([]Message, n)
	for i := range out {
		out[i] = Message{Buffers: [][]byte{{byte(i)}}, Addr: dst}
	}
	if sent, err := client.WriteBatch(out, 0); err != nil || sent != n {
		t.Fatalf("WriteBatch of %d = %d, %v", n, sent, err)
	}
	in := make([]Message, n+10)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, 4)}
	}
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := 0
	for got < n {
		k, err := server.ReadBatch(in[got:], 0)
		if err != nil {
			t.Fatalf("ReadBatch after %d: %v", got, err)
		}
		got += k
	}
	for i, m := range in[:got] {
		if m.N != 1 || m.Buffers[0][0] != byte(i) {
			t.Fatalf("message %d: %d bytes, %x", i, m.N, m.Buffers[0][:m.N])
		}
	}
}

func TestWriteToSegmented(t *testing.T) {
	server, client := udpConn(t, nil), udpConn(t, nil)
	p := []byte("aaaabbbbccccdd")
	for _, ip := range []string{"127.0.0.1", "::1"} {
		dst := AddrFromAddrPort(netip.MustParseAddrPort(to(server, ip).String()))
		n, err := client.WriteToSegmented(p, 4, dst)
		if errors.Is(err, unix.EIO) || errors.Is(err, unix.ENOPROTOOPT) {
			testenv.Skipf(t, "no UDP segmentation offload here: %v", err)
		}
		if err != nil || n != len(p) {
			t.Fatalf("WriteToSegmented to %s = %d, %v", ip, n, err)
		}
		for _, want := range []string{"aaaa", "bbbb", "cccc", "dd"} {
			if msg, _ := read(t, server); msg != want {
				t.Errorf("over %s: read %q, want %q", ip, msg, want)
			}
		}
	}
	for _, seg := range []int{0, -1, 0x10000} {
		if _, err := client.WriteToSegmented(p, seg, AddrFromHostID(1, 1)); err == nil {
			t.Errorf("WriteToSegmented with segment %d: no error", seg)
		}
	}
}

func TestConfig(t *testing.T) {
	ctx := context.Background()
	sa := mustEncode(t, &net.UDPAddr{IP: net.IPv6loopback})

	// Control runs before bind, with the address; its error fails the call.
	var got []string
	boom := errors.New("boom")
	cfg := &Config{Control: func(network, address string, rc syscall.RawConn) error {
		got = append(got, network+" "+address)
		// Not bound yet.
		var n int
		var serr error
		rc.Control(func(fd uintptr) { n, serr = getsockname(int(fd), make([]byte, 128)) })
		if serr != nil || n == 0 {
			return fmt.Errorf("getsockname: %d, %v", n, serr)
		}
		return boom
	}}
	if _, err := cfg.listenAt(ctx, unix.AF_INET6, Family, sa, "*:0"); !errors.Is(err, boom) {
		t.Errorf("listen with a failing Control: %v, want its error", err)
	}
	if _, err := cfg.dial(ctx, unix.AF_INET6, Family, &net.UDPAddr{IP: net.IPv6loopback, Port: 9}); !errors.Is(err, boom) {
		t.Errorf("dial with a failing Control: %v, want its error", err)
	}
	if want := []string{"mhost *:0", "mhost [::1]:9"}; !slices.Equal(got, want) {
		t.Errorf("Control got %q, want %q", got, want)
	}

	// ReusePort lets two sockets bind one port.
	cfg = &Config{ReusePort: true}
	a, err := cfg.listenAt(ctx, unix.AF_INET6, Family, sa, "")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	sa2 := mustEncode(t, &net.UDPAddr{IP: net.IPv6loopback, Port: port(a)})
	b, err := cfg.listenAt(ctx, unix.AF_INET6, Family, sa2, "")
	if err != nil {
		t.Fatalf("second socket on port %d with ReusePort: %v", port(a), err)
	}
	b.Close()
	if c, err := (*Config)(nil).listenAt(ctx, unix.AF_INET6, Family, sa2, ""); !errors.Is(err, unix.EADDRINUSE) {
		if err == nil {
			c.Close()
		}
		t.Errorf("socket without ReusePort on the port: %v, want EADDRINUSE", err)
	}

	// A canceled context opens nothing.
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := cfg.listenAt(canceled, unix.AF_INET6, Family, sa, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("listen with a canceled context: %v", err)
	}
}

// TestConfigNetNS opens a socket in a new network namespace, whose
// loopback is down: sending to 127.0.0.1 from there fails.
func TestConfigNetNS(t *testing.T) {
	ns := newNetNS(t)
	c, err := (&Config{NetNS: ns}).listenAt(context.Background(), unix.AF_INET6, Family,
		mustEncode(t, &net.UDPAddr{IP: net.IPv6unspecified}), "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.WriteToAddrPort([]byte("x"), netip.MustParseAddrPort("[::1]:9"))
	if !errors.Is(err, unix.ENETUNREACH) && !errors.Is(err, unix.EADDRNOTAVAIL) {
		t.Errorf("sending from a fresh namespace: %v, want ENETUNREACH or EADDRNOTAVAIL (loopback down)", err)
	}
	// The namespace of the calling thread is untouched.
	here := udpConn(t, nil)
	write(t, here, "here", to(here, "::1"))
	if msg, _ := read(t, here); msg != "here" {
		t.Errorf("read %q", msg)
	}
}

// newNetNS returns a file descriptor of a new network namespace.
func newNetNS(t *testing.T) int {
	t.Helper()
	type res struct {
		fd  int
		err error
	}
	ch := make(chan res)
	go func() {
		// The thread enters the namespace and dies with the goroutine.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- res{-1, err}
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		ch <- res{fd, err}
	}()
	r := <-ch
	if errors.Is(r.err, unix.EPERM) {
		testenv.Skipf(t, "cannot create a network namespace: %v", r.err)
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { unix.Close(r.fd) })
	return r.fd
}

// TestCoalesce checks which runs of a batch WriteBatch sends as one
// UDP_SEGMENT send: to one IP destination, without control messages, all
// as long as the first but the last, within the kernel's bounds.
func TestCoalesce(t *testing.T) {
	ip4 := AddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:9"))
	ip6 := AddrFromAddrPort(netip.MustParseAddrPort("[::1]:9"))
	hid := AddrFromHostID(7, 9)
	eth := AddrFromEth(FamilyTestProto, 1, [6]byte{2}, 9)
	msgs := func(dst Addr, lens ...int) []Message {
		ms := make([]Message, len(lens))
		for i, n := range lens {
			ms[i] = Message{Buffers: [][]byte{make([]byte, n)}, Addr: dst}
		}
		return ms
	}
	many := make([]int, 70)
	for i := range many {
		many[i] = 1
	}
	twoBufs := msgs(ip4, 10, 10, 10)
	twoBufs[1].Buffers = [][]byte{make([]byte, 4), make([]byte, 6)}
	withOOB := msgs(ip4, 10, 10, 10, 10)
	withOOB[2].OOB = make([]byte, 24)
	mixed := append(msgs(ip4, 10, 10), msgs(ip6, 10, 10)...)
	mixed = append(mixed, msgs(hid, 10, 10)...)
	for _, tc := range []struct {
		name     string
		ms       []Message
		dialedIP bool
		runs     []uint8
		segs     []int // the segment size of each run of more than one
	}{
		{"equal, last shorter", msgs(ip4, 10, 10, 10, 10, 3), false, []uint8{5}, []int{10}},
		{"a shorter one ends a run", msgs(ip6, 10, 10, 3, 10, 10), false, []uint8{3, 2}, []int{10, 10}},
		{"a longer one starts a run", msgs(ip4, 10, 12, 12), false, []uint8{1, 2}, []int{12}},
		{"empty datagrams stay alone", msgs(ip4, 10, 0, 0, 10), false, []uint8{1, 1, 1, 1}, nil},
		{"one message", msgs(ip4, 10), false, []uint8{1}, nil},
		{"destinations", mixed, false, []uint8{2, 2, 1, 1}, []int{10, 10}},
		{"host ids stay alone", msgs(hid, 10, 10, 10), false, []uint8{1, 1, 1}, nil},
		{"alternating destinations", append(msgs(ip4, 10), append(msgs(ip6, 10), msgs(ip4, 10)...)...), false, []uint8{1, 1, 1}, nil},
		{"buffers of a datagram", twoBufs, false, []uint8{3}, []int{10}},
		{"control messages", withOOB, false, []uint8{2, 1, 1}, []int{10}},
		{"plugged layer", msgs(eth, 10, 10, 10), false, []uint8{1, 1, 1}, nil},
		{"dialed, IP", msgs(Addr{}, 10, 10), true, []uint8{2}, []int{10}},
		{"dialed, not IP", msgs(Addr{}, 10, 10), false, []uint8{1, 1}, nil},
		{"at most 64 segments", msgs(ip4, many...), false, []uint8{64, 6}, []int{1, 1}},
		{"at most 64 KiB", msgs(ip4, 30000, 30000, 30000), false, []uint8{2, 1}, []int{30000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b batch
			merged, err := b.prepareSend(tc.ms, Family, true, tc.dialedIP)
			if err != nil {
				t.Fatal(err)
			}
			if got := b.runs[:len(b.hdrs)]; !slices.Equal(got, tc.runs) {
				t.Fatalf("runs %v, want %v", got, tc.runs)
			}
			if merged != (len(tc.segs) > 0) {
				t.Errorf("prepareSend reported %v", merged)
			}
			want := make([]int, len(tc.ms)) // each message's iovecs, in order
			for i, m := range tc.ms {
				want[i] = max(len(m.Buffers), 1)
			}
			k, segs := 0, []int(nil)
			for i, h := range b.hdrs {
				niov := 0
				for range tc.runs[i] {
					niov += want[k]
					k++
				}
				if int(h.Hdr.Iovlen) != niov {
					t.Errorf("send %d: %d iovecs, want %d", i, h.Hdr.Iovlen, niov)
				}
				if tc.runs[i] == 1 {
					if h.Hdr.Controllen != 0 && tc.ms[k-1].OOB == nil {
						t.Errorf("send %d of one datagram has control messages", i)
					}
					continue
				}
				oob := unsafe.Slice(h.Hdr.Control, h.Hdr.Controllen)
				cms, err := unix.ParseSocketControlMessage(oob)
				if err != nil || len(cms) != 1 || cms[0].Header.Level != unix.SOL_UDP || cms[0].Header.Type != unix.UDP_SEGMENT {
					t.Fatalf("send %d: control messages %v, %v; want one UDP_SEGMENT", i, cms, err)
				}
				segs = append(segs, int(binary.NativeEndian.Uint16(cms[0].Data)))
			}
			if !slices.Equal(segs, tc.segs) {
				t.Errorf("segment sizes %v, want %v", segs, tc.segs)
			}
		})
	}
}

// TestBatchSegments sends runs that WriteBatch segments, between other
// datagrams, and reads every datagram back whole and in order.
func TestBatchSegments(t *testing.T) {
	server, client := udpConn(t, nil), udpConn(t, nil)
	dst4 := AddrFromAddrPort(netip.MustParseAddrPort(to(server, "127.0.0.1").String()))
	dst6 := AddrFromAddrPort(netip.MustParseAddrPort(to(server, "::1").String()))
	var out []Message
	add := func(dst Addr, n int) {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(len(out))
		}
		out = append(out, Message{Buffers: [][]byte{p}, Addr: dst})
	}
	for range 10 {
		add(dst4, 300)
	}
	add(dst4, 17)
	add(dst4, 300)
	for range 5 {
		add(dst6, 1000)
	}
	add(dst6, 1)
	sent, err := client.WriteBatch(out, 0)
	if err != nil || sent != len(out) {
		t.Fatalf("WriteBatch of %d = %d, %v", len(out), sent, err)
	}
	if client.noGSO.Load() {
		testenv.Skipf(t, "no UDP segmentation offload here: the kernel refused it over loopback")
	}
	for i, m := range out {
		if m.N != len(m.Buffers[0]) {
			t.Errorf("message %d: N = %d, want %d", i, m.N, len(m.Buffers[0]))
		}
	}
	readBack(t, server, out)
}

// readBack reads len(out) datagrams from c and checks that they are
// those of out, in any order: the first byte of each says which.
func readBack(t *testing.T, c *Conn, out []Message) {
	t.Helper()
	in := make([]Message, len(out)+1)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	for got := 0; got < len(out); {
		k, err := c.ReadBatch(in[got:], 0)
		if err != nil {
			t.Fatalf("ReadBatch after %d of %d: %v", got, len(out), err)
		}
		got += k
	}
	seen := make([]bool, len(out))
	for _, m := range in[:len(out)] {
		p := m.Buffers[0][:m.N]
		if m.N == 0 || int(p[0]) >= len(out) || seen[p[0]] || !bytes.Equal(p, out[p[0]].Buffers[0]) {
			t.Errorf("read %d bytes starting %d, not one of the datagrams sent", m.N, m.Buffers[0][0])
			continue
		}
		seen[p[0]] = true
	}
	if n, err := c.ReadBatch(in, unix.MSG_DONTWAIT); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("%d datagrams more than sent, %v", n, err)
	}
}

// TestBatchSegmentsRefused: where the kernel refuses a UDP_SEGMENT send
// (here with EINVAL, because the socket sends without UDP checksums,
// SO_NO_CHECK), WriteBatch sends the run a datagram at a time.
func TestBatchSegmentsRefused(t *testing.T) {
	server := udpConn(t, nil)
	noCheck := func(network, address string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1) })
		return cmp.Or(err, serr, dualStack(network, address, rc))
	}
	cfg := &Config{Control: noCheck}
	client, err := cfg.listenAt(context.Background(), unix.AF_INET6, Family, mustEncode(t, &net.UDPAddr{IP: net.IPv6unspecified}), "[::]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	dst := AddrFromAddrPort(netip.MustParseAddrPort(to(server, "127.0.0.1").String()))
	for round := range 2 {
		out := make([]Message, 8)
		for i := range out {
			out[i] = Message{Buffers: [][]byte{bytes.Repeat([]byte{byte(i)}, 100)}, Addr: dst}
		}
		if sent, err := client.WriteBatch(out, 0); err != nil || sent != len(out) {
			t.Fatalf("round %d: WriteBatch of %d = %d, %v", round, len(out), sent, err)
		}
		for i, m := range out {
			if m.N != 100 {
				t.Errorf("round %d: message %d: N = %d, want 100", round, i, m.N)
			}
		}
		readBack(t, server, out)
	}
	// EINVAL says nothing of the next destination: the Conn still
	// segments.
	if client.noGSO.Load() {
		t.Error("segmenting turned off for good after EINVAL")
	}
	p := make([]byte, 10)
	if _, err := client.WriteToSegmented(p, 5, dst); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("WriteToSegmented with SO_NO_CHECK: %v, want EINVAL", err)
	}
}

// TestBatchSegmentsErrors: an error that is not a refusal to segment is
// the run's, and is returned, not lost in a second try; here a pending
// ICMP port unreachable on a dialed Conn, which the first send returns.
// With MSG_MORE nothing is segmented.
func TestBatchSegmentsErrors(t *testing.T) {
	closed := udpConn(t, nil)
	raddr := to(closed, "127.0.0.1")
	closed.Close()
	client := udpConn(t, raddr)
	if !client.dialedIP {
		t.Fatal("a Conn dialed to an IP address does not know it")
	}
	out := make([]Message, 4)
	for i := range out {
		out[i] = Message{Buffers: [][]byte{make([]byte, 16)}}
	}
	if _, err := client.WriteBatch(out[:1], 0); err != nil {
		t.Fatalf("first WriteBatch to a closed port: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := client.WriteBatch(out, 0)
		if errors.Is(err, unix.ECONNREFUSED) {
			if n != 0 {
				t.Errorf("WriteBatch failing with ECONNREFUSED = %d", n)
			}
			break
		}
		if err != nil || n != len(out) || time.Now().After(deadline) {
			t.Fatalf("WriteBatch to a closed port = %d, %v; want ECONNREFUSED in time", n, err)
		}
	}

	// MSG_MORE corks: the datagrams make one, as they would with
	// sendmmsg, not segments of the first one's length.
	server, sender := udpConn(t, nil), udpConn(t, nil)
	dst := AddrFromAddrPort(netip.MustParseAddrPort(to(server, "127.0.0.1").String()))
	more := make([]Message, 3)
	for i := range more {
		more[i] = Message{Buffers: [][]byte{bytes.Repeat([]byte{'a' + byte(i)}, 10)}, Addr: dst}
	}
	if n, err := sender.WriteBatch(more, unix.MSG_MORE); err != nil || n != len(more) {
		t.Fatalf("WriteBatch(MSG_MORE) = %d, %v", n, err)
	}
	if n, err := sender.WriteBatch([]Message{{Buffers: [][]byte{[]byte("end")}, Addr: dst}}, 0); err != nil || n != 1 {
		t.Fatalf("WriteBatch ending the corked datagram = %d, %v", n, err)
	}
	if msg, _ := read(t, server); msg != "aaaaaaaaaabbbbbbbbbbccccccccccend" {
		t.Errorf("read %q, want the corked datagram whole", msg)
	}
}
