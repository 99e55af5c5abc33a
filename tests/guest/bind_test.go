//go:build guest

package guest_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestBindEphemeral(t *testing.T) {
	fd := mhostSocket(t)
	if err := bind(fd, saMhost(0, 0)); err != nil {
		t.Fatalf("bind to port 0: %v", errStr(err))
	}
	sa, err := getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", errStr(err))
	}
	if len(sa) != 16 || saFamilyOf(sa) != family || saPort(sa) == 0 || !bytes.Equal(sa[4:], make([]byte, 12)) {
		t.Fatalf("getsockname = %x (%d bytes): want sockaddr_mhost{%d, port != 0, hid 0, zero}", sa, len(sa), family)
	}
}

func TestBindPort(t *testing.T) {
	const port = 20001
	fd := mhostSocket(t)
	if err := bind(fd, saMhost(port, 0)); err != nil {
		t.Fatalf("bind to port %d: %v", port, errStr(err))
	}
	if sa, _ := getsockname(fd); !bytes.Equal(sa, saMhost(port, 0)) {
		t.Fatalf("getsockname = %x, want %x", sa, saMhost(port, 0))
	}
}

func TestBindErrors(t *testing.T) {
	zero := saMhost(20002, 0)
	zero[8] = 1
	zeroLast := saMhost(20002, 0)
	zeroLast[15] = 1
	tests := []badAddr{
		{"addrlen 0", saMhost(20002, 0)[:0], unix.EINVAL},
		{"addrlen 2", saMhost(20002, 0)[:2], unix.EINVAL},
		{"addrlen 8", saMhost(20002, 0)[:8], unix.EINVAL},
		{"addrlen 15", saMhost(20002, 0)[:15], unix.EINVAL},
		{"smh_zero[0] set", zero, unix.EINVAL},
		{"smh_zero[7] set", zeroLast, unix.EINVAL},
		{"hid 7", saMhost(20002, 7), unix.EINVAL},
		{"AF_INET", sa4("0.0.0.0", 20002), unix.EAFNOSUPPORT},
		{"AF_INET6", sa6("::", 20002), unix.EAFNOSUPPORT},
		{"AF_UNSPEC", saOf(unix.AF_UNSPEC, 16), unix.EAFNOSUPPORT},
		{"family 4242", saOf(4242, 16), unix.EAFNOSUPPORT},
	}
	for _, tt := range tests {
		fd := mhostSocket(t)
		wantErrno(t, bind(fd, tt.sa), tt.errno, "bind("+tt.name+")")
	}
}

func TestBindTwice(t *testing.T) {
	fd, port := boundSocket(t)
	wantErrno(t, bind(fd, saMhost(0, 0)), unix.EINVAL, "second bind to port 0")
	wantErrno(t, bind(fd, saMhost(port, 0)), unix.EINVAL, "second bind to the same port")
	if got := localPort(t, fd); got != port {
		t.Errorf("port %d after a failed second bind, want %d", got, port)
	}
}

// plainUDP opens a plain UDP socket bound to the wildcard address of its
// family on port (0: ephemeral), returning the socket, or the bind error.
func plainUDP(t *testing.T, domain, port int) (int, error) {
	t.Helper()
	fd := socketOf(t, domain, unix.SOCK_DGRAM, 0)
	var sa unix.Sockaddr = &unix.SockaddrInet4{Port: port}
	if domain == unix.AF_INET6 {
		sa = &unix.SockaddrInet6{Port: port}
	}
	return fd, unix.Bind(fd, sa)
}

func plainPort(t *testing.T, fd int) int {
	t.Helper()
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return sa.Port
	case *unix.SockaddrInet6:
		return sa.Port
	}
	t.Fatalf("getsockname = %#v", sa)
	return 0
}

func TestBindInUse(t *testing.T) {
	t.Run("AF_MHOST holds it", func(t *testing.T) {
		_, port := boundSocket(t)
		wantErrno(t, bind(mhostSocket(t), saMhost(port, 0)), unix.EADDRINUSE, "AF_MHOST bind to an AF_MHOST socket's port")
		_, err := plainUDP(t, unix.AF_INET, port)
		wantErrno(t, err, unix.EADDRINUSE, "AF_INET UDP bind to 0.0.0.0 on an AF_MHOST socket's port")
		_, err = plainUDP(t, unix.AF_INET6, port)
		wantErrno(t, err, unix.EADDRINUSE, "AF_INET6 UDP bind to :: on an AF_MHOST socket's port")
	})
	for _, domain := range []int{unix.AF_INET, unix.AF_INET6} {
		name := map[int]string{unix.AF_INET: "AF_INET UDP on 0.0.0.0", unix.AF_INET6: "AF_INET6 UDP on ::"}[domain]
		t.Run(name+" holds it", func(t *testing.T) {
			fd, err := plainUDP(t, domain, 0)
			if err != nil {
				t.Fatal(err)
			}
			port := plainPort(t, fd)
			wantErrno(t, bind(mhostSocket(t), saMhost(port, 0)), unix.EADDRINUSE, "AF_MHOST bind to the port of "+name)
		})
	}
}

// lowPort is a privileged port the tests bind.
const lowPort = 1000

func TestBindLowPort(t *testing.T) {
	// Unprivileged: re-execute this binary as nobody to run
	// TestHelperBindLowPort, which reports what bind said on a line of
	// its own.
	out := runHelper(t, "TestHelperBindLowPort", nobody)
	got := ""
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "bind ") || strings.HasPrefix(line, "socket: ") {
			got = line
			break
		}
	}
	if want := fmt.Sprintf("bind %d: %s", lowPort, unix.ErrnoName(unix.EACCES)); got != want {
		t.Errorf("as uid 65534: %q, want %q\n%s", got, want, out)
	}

	// Root has CAP_NET_BIND_SERVICE.
	fd := mhostSocket(t)
	if err := bind(fd, saMhost(lowPort, 0)); err != nil {
		t.Fatalf("bind to port %d as root: %v", lowPort, errStr(err))
	}
	if got := localPort(t, fd); got != lowPort {
		t.Errorf("bound to port %d, want %d", got, lowPort)
	}
}

// TestHelperBindLowPort is not a test: TestBindLowPort runs it in a
// process without privileges.
func TestHelperBindLowPort(t *testing.T) {
	if !isHelper("TestHelperBindLowPort") {
		return
	}
	// The parent checks the result line.
	defer fmt.Println(helperDone)
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fmt.Printf("socket: %v\n", errStr(err))
		return
	}
	defer unix.Close(fd)
	result := "ok"
	if errno, ok := bind(fd, saMhost(lowPort, 0)).(unix.Errno); ok {
		result = unix.ErrnoName(errno)
	}
	fmt.Printf("bind %d: %s\n", lowPort, result)
}
