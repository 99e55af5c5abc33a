package mhost

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"reflect"
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
func udpConn(t *testing.T, raddr net.Addr) *Conn {
	t.Helper()
	var (
		c   *Conn
		err error
	)
	if raddr != nil {
		c, err = dial(unix.AF_INET6, Family, raddr)
	} else {
		c, err = open(unix.AF_INET6, Family)
		if err == nil {
			err = c.s.SetsockoptInt(unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
		}
		if err == nil {
			sa, _ := appendSockaddr(nil, &net.UDPAddr{IP: net.IPv6unspecified}, Family)
			err = c.control("bind", func(fd int) error { return bind(fd, sa) })
		}
		if err == nil {
			c.laddr, err = c.sockname("getsockname", getsockname)
		}
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
	if err := server.s.SetsockoptInt(unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1); err != nil {
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
	if err := server.s.SetsockoptInt(unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1); err != nil {
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
	sa, _ := appendSockaddr(nil, &net.UDPAddr{IP: net.IPv6unspecified, Port: port(c)}, Family)
	if c2, err := listen(unix.AF_INET6, Family, sa); !errors.Is(err, unix.EADDRINUSE) {
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
	_, err := listenFamily(unknown, 7000)
	if !errors.Is(err, ErrNotLoaded) || !errors.Is(err, unix.EAFNOSUPPORT) {
		t.Fatalf("listen with no module: %v, want ErrNotLoaded and EAFNOSUPPORT", err)
	}
	oe := checkOpError(t, err, "listen", "")
	if !reflect.DeepEqual(oe.Addr, &HostAddr{Port: 7000}) {
		t.Errorf("OpError.Addr = %v, want *:7000", oe.Addr)
	}
	t.Log(err)

	raddr := &net.UDPAddr{IP: net.IPv6loopback, Port: 7000}
	_, err = dialFamily(unknown, raddr)
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
