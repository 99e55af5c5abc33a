//go:build guest

package guest_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhost"
)

// wantUDPAddr checks that addr is a *net.UDPAddr for ip and port, with a
// 4-byte IP for IPv4.
func wantUDPAddr(t *testing.T, what string, addr net.Addr, ip string, port int) {
	t.Helper()
	u, ok := addr.(*net.UDPAddr)
	want := net.ParseIP(ip)
	if w4 := want.To4(); w4 != nil {
		want = w4
	}
	if !ok || !u.IP.Equal(want) || len(u.IP) != len(want) || u.Port != port || u.Zone != "" {
		t.Fatalf("%s = %#v, want &net.UDPAddr{%s, %d}", what, addr, ip, port)
	}
}

func TestSDKListenDial(t *testing.T) {
	for _, lo := range loopbacks {
		t.Run(lo.name, func(t *testing.T) {
			server := listen(t)
			sport := portOf(t, server)
			if server.RemoteAddr() != nil {
				t.Errorf("RemoteAddr() of a listening Conn = %v, want nil", server.RemoteAddr())
			}

			raddr := &net.UDPAddr{IP: net.ParseIP(lo.ip), Port: sport}
			client, err := mhost.Dial(raddr)
			if err != nil {
				t.Fatalf("Dial(%v): %v", raddr, err)
			}
			defer client.Close()
			cport := portOf(t, client)
			wantUDPAddr(t, "RemoteAddr()", client.RemoteAddr(), lo.ip, sport)
			if got := client.LocalAddr().String(); got != "*:"+strconv.Itoa(cport) {
				t.Errorf("LocalAddr().String() = %q", got)
			}

			if n, err := client.Write([]byte("hello")); err != nil || n != 5 {
				t.Fatalf("Write = %d, %v", n, err)
			}
			msg, from := readConn(t, server)
			if msg != "hello" {
				t.Fatalf("server read %q", msg)
			}
			wantUDPAddr(t, "source", from, lo.ip, cport)
			if got := mhost.NetworkLayer(from); got != lo.name {
				t.Errorf("NetworkLayer(%v) = %q, want %q", from, got, lo.name)
			}

			if _, err := server.WriteTo([]byte("hi there"), from); err != nil {
				t.Fatalf("WriteTo(%v): %v", from, err)
			}
			msg, from = readConn(t, client)
			if msg != "hi there" {
				t.Fatalf("client read %q", msg)
			}
			wantUDPAddr(t, "reply source", from, lo.ip, sport)

			client.SetReadDeadline(deadline())
			server.WriteTo([]byte("read"), &net.UDPAddr{IP: net.ParseIP(lo.ip), Port: cport})
			buf := make([]byte, 16)
			if n, err := client.Read(buf); err != nil || string(buf[:n]) != "read" {
				t.Fatalf("Read = %q, %v", buf[:n], err)
			}
		})
	}
}

// One unconnected socket talks IPv4 and IPv6 at once.
func TestSDKBothFamilies(t *testing.T) {
	a, b := listen(t), listen(t)
	aport, bport := portOf(t, a), portOf(t, b)
	for _, lo := range loopbacks {
		sendQueued(t, fdOf(t, b), "WriteTo over "+lo.name, func() error {
			_, err := a.WriteTo([]byte(lo.name), &net.UDPAddr{IP: net.ParseIP(lo.ip), Port: bport})
			return err
		})
	}
	for _, lo := range loopbacks {
		msg, from := readConn(t, b)
		if msg != lo.name {
			t.Fatalf("read %q, want %q", msg, lo.name)
		}
		wantUDPAddr(t, "source", from, lo.ip, aport)
	}
}

func TestSDKErrors(t *testing.T) {
	c := listen(t)
	port := portOf(t, c)

	checks := []struct {
		what  string
		err   error
		op    string
		errno unix.Errno
	}{
		{"WriteTo an unknown host id", second(c.WriteTo([]byte("x"), &mhost.HostAddr{ID: unknownHID, Port: 7000})), "write", unix.EHOSTUNREACH},
		{"WriteTo port 0", second(c.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv6loopback})), "write", unix.EINVAL},
		{"WriteTo an unknown family", second(c.WriteTo([]byte("x"), &mhost.RawAddr{Family: 4242, Data: make([]byte, 14)})), "write", unix.EAFNOSUPPORT},
		{"WriteTo too much", second(c.WriteTo(make([]byte, mhost.MaxPayload+1), &net.UDPAddr{IP: net.IPv6loopback, Port: port})), "write", unix.EMSGSIZE},
		{"Write unconnected", second(c.Write([]byte("x"))), "write", unix.EDESTADDRREQ},
		{"Listen on a port in use", second(mhost.Listen(uint16(port))), "listen", unix.EADDRINUSE},
		{"Dial a host id with hid 0", second(mhost.Dial(&mhost.HostAddr{Port: 7000})), "dial", unix.EINVAL},
	}
	for _, c := range checks {
		var oe *net.OpError
		if !errors.As(c.err, &oe) || oe.Op != c.op || oe.Net != "mhost" {
			t.Errorf("%s: %T %v, want a *net.OpError for %q", c.what, c.err, c.err, c.op)
		}
		var se *os.SyscallError
		if !errors.As(c.err, &se) {
			t.Errorf("%s: %v, want an *os.SyscallError inside", c.what, c.err)
		}
		wantErrno(t, c.err, c.errno, c.what)
	}
}

func second[T any](_ T, err error) error { return err }

func TestSDKReadDeadline(t *testing.T) {
	c := listen(t)
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	start := time.Now()
	_, _, err := c.ReadFrom(make([]byte, 16))
	var nerr net.Error
	if !errors.As(err, &nerr) || !nerr.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadFrom past its deadline: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the 100ms deadline fired after %v", d)
	}
}

func TestSDKCloseUnblocksRead(t *testing.T) {
	c, err := mhost.Listen(0)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFrom(make([]byte, 16))
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("ReadFrom blocked across Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("Close did not unblock ReadFrom")
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v, want net.ErrClosed", err)
	}
}

func TestSDKReadFromContext(t *testing.T) {
	c := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, _, err := c.ReadFromContext(ctx, make([]byte, 16))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadFromContext with a canceled context: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("ReadFromContext returned %v after the cancelation", d)
	}

	// The Conn still works.
	if _, err := c.WriteToContext(context.Background(), []byte("again"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: portOf(t, c)}); err != nil {
		t.Fatal(err)
	}
	if msg, _ := readConn(t, c); msg != "again" {
		t.Fatalf("read %q after a canceled read", msg)
	}
}

func TestSDKReadMsg(t *testing.T) {
	c := listen(t)
	port := portOf(t, c)
	_, _, _, _, err := c.ReadMsg(make([]byte, 16), nil, unix.MSG_DONTWAIT)
	wantErrno(t, err, unix.EAGAIN, "ReadMsg(MSG_DONTWAIT) on an empty queue")

	sender := listen(t)
	for _, msg := range []string{"0123456789", "next"} {
		sendQueued(t, fdOf(t, c), "WriteTo", func() error {
			_, err := sender.WriteTo([]byte(msg), &net.UDPAddr{IP: net.IPv6loopback, Port: port})
			return err
		})
	}
	c.SetReadDeadline(deadline())
	buf := make([]byte, 4)
	n, _, flags, from, err := c.ReadMsg(buf, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
	if err != nil || n != 10 || string(buf) != "0123" || flags&unix.MSG_TRUNC == 0 {
		t.Fatalf("ReadMsg(MSG_PEEK|MSG_TRUNC) = %d %q, flags %#x, %v", n, buf, flags, err)
	}
	wantUDPAddr(t, "ReadMsg source", from, "::1", portOf(t, sender))
	n, _, flags, _, err = c.ReadMsg(buf, nil, 0)
	if err != nil || n != 4 || flags&unix.MSG_TRUNC == 0 {
		t.Fatalf("ReadMsg into 4 bytes = %d, flags %#x, %v; want 4 and MSG_TRUNC", n, flags, err)
	}
	if msg, _ := readConn(t, c); msg != "next" {
		t.Fatalf("read %q after a truncated datagram, want \"next\"", msg)
	}
}

// With MHOST_RECVHOSTID on, sources that are no host's locator (the host
// table is empty) are still reported as IP addresses.
func TestSDKRecvHostID(t *testing.T) {
	c := listen(t)
	if err := c.SetRecvHostID(true); err != nil {
		t.Fatalf("SetRecvHostID(true): %v", err)
	}
	sender := listen(t)
	for _, lo := range loopbacks {
		if _, err := sender.WriteTo([]byte("x"), &net.UDPAddr{IP: net.ParseIP(lo.ip), Port: portOf(t, c)}); err != nil {
			t.Fatal(err)
		}
		_, from := readConn(t, c)
		wantUDPAddr(t, "source with MHOST_RECVHOSTID", from, lo.ip, portOf(t, sender))
	}
	if err := c.SetRecvHostID(false); err != nil {
		t.Errorf("SetRecvHostID(false): %v", err)
	}
}
