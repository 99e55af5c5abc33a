//go:build guest

package guest_test

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// reuseportSocket opens an AF_MHOST socket with SO_REUSEPORT on.
func reuseportSocket(t *testing.T) int {
	t.Helper()
	fd := mhostSocket(t)
	if err := unix.SetsockoptInt(fd, solMhost, mhostReuseport, 1); err != nil {
		t.Fatalf("setsockopt(SOL_MHOST, MHOST_REUSEPORT, 1): %v", errStr(err))
	}
	return fd
}

// The socket options of level SOL_MHOST, as in the UAPI header.
const (
	solMhost       = 299
	mhostReuseport = 2
)

// kernelAtLeast reports whether the running kernel is major.minor or
// later.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	rel := kernelRelease(t)
	var ma, mi int
	if _, err := fmt.Sscanf(rel, "%d.%d", &ma, &mi); err != nil {
		t.Fatalf("kernel release %q: %v", rel, err)
	}
	return ma > major || ma == major && mi >= minor
}

// TestReuseportOption checks the two ways to ask for SO_REUSEPORT on an
// AF_MHOST socket. MHOST_REUSEPORT works on every kernel, and
// getsockopt(SO_REUSEPORT) reads it back. SO_REUSEPORT itself works on
// kernels that let a family see SOL_SOCKET options (6.12 on); 6.1's
// socket layer refuses it for every family but IPv4 and IPv6.
func TestReuseportOption(t *testing.T) {
	fd := mhostSocket(t)
	for _, v := range []int{1, 0} {
		if err := unix.SetsockoptInt(fd, solMhost, mhostReuseport, v); err != nil {
			t.Fatalf("setsockopt(MHOST_REUSEPORT, %d): %v", v, errStr(err))
		}
		for _, o := range []struct {
			level, name int
			what        string
		}{{solMhost, mhostReuseport, "MHOST_REUSEPORT"}, {unix.SOL_SOCKET, unix.SO_REUSEPORT, "SO_REUSEPORT"}} {
			if got, err := unix.GetsockoptInt(fd, o.level, o.name); err != nil || got != v {
				t.Errorf("after MHOST_REUSEPORT %d: getsockopt(%s) = %d, %v", v, o.what, got, errStr(err))
			}
		}
	}

	err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	if !kernelAtLeast(t, 6, 12) {
		wantErrno(t, err, unix.EOPNOTSUPP, "setsockopt(SO_REUSEPORT) where the socket layer refuses it")
		return
	}
	if err != nil {
		t.Fatalf("setsockopt(SO_REUSEPORT, 1): %v", errStr(err))
	}
	if got, err := unix.GetsockoptInt(fd, solMhost, mhostReuseport); err != nil || got != 1 {
		t.Errorf("after SO_REUSEPORT: getsockopt(MHOST_REUSEPORT) = %d, %v; want 1", got, errStr(err))
	}
	// And it works: a second socket joins the port.
	port := bindAny(t, fd)
	other := reuseportSocket(t)
	if err := bind(other, saMhost(port, 0)); err != nil {
		t.Errorf("joining a group made with SO_REUSEPORT: %v", errStr(err))
	}
}

// TestReuseport binds four AF_MHOST sockets with SO_REUSEPORT to one
// port and sends two datagrams over each of 128 flows, from 64 source
// ports over IPv4 and IPv6: every socket receives some flows of each
// family, a flow stays on one socket, nothing is lost. A socket without
// SO_REUSEPORT, or of another user, cannot join.
func TestReuseport(t *testing.T) {
	const (
		socks   = 4
		senders = 64
		perFlow = 2
	)
	recv := []int{reuseportSocket(t)}
	port := bindAny(t, recv[0])
	for i := 1; i < socks; i++ {
		fd := reuseportSocket(t)
		if err := bind(fd, saMhost(port, 0)); err != nil {
			t.Fatalf("bind of SO_REUSEPORT socket %d to port %d: %v", i+1, port, errStr(err))
		}
		recv = append(recv, fd)
	}
	wantErrno(t, bind(mhostSocket(t), saMhost(port, 0)), unix.EADDRINUSE, "bind without SO_REUSEPORT to the group's port")
	out := runHelper(t, "TestHelperReuseport", nobody, "MHOST_REUSEPORT_PORT="+strconv.Itoa(port))
	if want := "bind: " + unix.ErrnoName(unix.EADDRINUSE); !strings.Contains(out, "\n"+want+"\n") {
		t.Errorf("as uid 65534, SO_REUSEPORT bind to root's group: want %q in\n%s", want, out)
	}

	// A flow is a source socket and a network layer; each datagram
	// says which flow it belongs to.
	type flow struct {
		sender int
		layer  string
	}
	ports := make([]int, senders)
	for i := range ports {
		fd, p := boundSocket(t)
		ports[i] = p
		for _, lo := range loopbacks {
			for k := range perFlow {
				msg := fmt.Sprintf("%d %s %d", i, lo.name, k)
				if _, err := sendto(fd, []byte(msg), 0, saIP(lo.ip, port)); err != nil {
					t.Fatalf("sendto %s:%d: %v", lo.ip, port, errStr(err))
				}
			}
		}
	}

	total := senders * len(loopbacks) * perFlow
	got := map[flow][]int{} // flow -> receiving socket of each datagram
	received := 0
	buf := make([]byte, 64)
	poll(ioTimeout, func() bool {
		for i, fd := range recv {
			for {
				n, from, err := recvfrom(fd, buf, unix.MSG_DONTWAIT)
				if err != nil {
					wantErrno(t, err, unix.EAGAIN, "reading the group")
					break
				}
				received++
				var f flow
				var k int
				if _, err := fmt.Sscanf(string(buf[:n]), "%d %s %d", &f.sender, &f.layer, &k); err != nil ||
					f.sender < 0 || f.sender >= senders {
					t.Errorf("socket %d: unexpected datagram %q from %s", i, buf[:n], saString(from))
					continue
				}
				ip := map[string]string{"IPv4": "127.0.0.1", "IPv6": "::1"}[f.layer]
				if want := saIP(ip, ports[f.sender]); !bytes.Equal(from, want) {
					t.Errorf("socket %d: %q from %s, want from %s", i, buf[:n], saString(from), saString(want))
				}
				got[f] = append(got[f], i)
			}
		}
		return received >= total
	})
	if received != total {
		t.Fatalf("%d datagrams received, want %d", received, total)
	}

	// flows[socket][layer] counts the flows each socket received.
	flows := make([]map[string]int, socks)
	for i := range flows {
		flows[i] = map[string]int{}
	}
	for f, socksOf := range got {
		if len(socksOf) != perFlow {
			t.Errorf("flow %v: %d datagrams received, want %d", f, len(socksOf), perFlow)
		}
		for _, s := range socksOf[1:] {
			if s != socksOf[0] {
				t.Errorf("flow %v spread over sockets %v, want one", f, socksOf)
				break
			}
		}
		flows[socksOf[0]][f.layer]++
	}
	t.Logf("flows per socket: %v", flows)
	for i, m := range flows {
		for _, lo := range loopbacks {
			if m[lo.name] == 0 {
				t.Errorf("socket %d received none of the %d %s flows", i, senders, lo.name)
			}
		}
	}
}

// TestHelperReuseport is not a test: TestReuseport runs it as another
// user, to try joining a SO_REUSEPORT group of root's.
func TestHelperReuseport(t *testing.T) {
	if !isHelper("TestHelperReuseport") {
		return
	}
	// The parent checks the result line.
	defer fmt.Println(helperDone)
	port, err := strconv.Atoi(os.Getenv("MHOST_REUSEPORT_PORT"))
	if err != nil {
		fmt.Printf("port: %v\n", err)
		return
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fmt.Printf("socket: %v\n", errStr(err))
		return
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, solMhost, mhostReuseport, 1); err != nil {
		fmt.Printf("setsockopt: %v\n", errStr(err))
		return
	}
	result := "ok"
	if errno, ok := bind(fd, saMhost(port, 0)).(unix.Errno); ok {
		result = unix.ErrnoName(errno)
	}
	fmt.Printf("bind: %s\n", result)
}
