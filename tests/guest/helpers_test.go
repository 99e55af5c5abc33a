//go:build guest

// Package guest_test checks the mhost kernel module from user space. It
// runs inside the test VM, as root, with mhost.ko loaded, loopback up and
// IPv6 enabled: see tests/vm. Build it with
//
//	CGO_ENABLED=0 go test -c -tags guest ./tests/guest
//
// The errno tests make raw system calls with hand-built socket addresses;
// the behaviour tests use the SDK, gosdk/mhost.
package guest_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhost"
)

// family is the AF_MHOST number of the loaded module.
var family = mhost.FamilyInUse()

// ioTimeout bounds every blocking read of the tests, so that a missing
// datagram fails a test instead of hanging it.
const ioTimeout = 5 * time.Second

// deadline returns a read or write deadline ioTimeout from now.
func deadline() time.Time { return time.Now().Add(ioTimeout) }

// unknownHID is a host id the (empty) host table does not hold.
const unknownHID = 12345

// ---- sockets ----

// openSocket opens a blocking socket whose blocking calls time out after
// ioTimeout with EAGAIN. It calls no testing functions, so that it can
// run on a namespace's thread (netNS.socket).
func openSocket(domain, typ, proto int) (int, error) {
	fd, err := unix.Socket(domain, typ|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, fmt.Errorf("socket(%d, %d, %d): %w", domain, typ, proto, err)
	}
	tv := unix.NsecToTimeval(ioTimeout.Nanoseconds())
	for _, opt := range []int{unix.SO_RCVTIMEO, unix.SO_SNDTIMEO} {
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, opt, &tv); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("setsockopt(%d): %w", opt, err)
		}
	}
	return fd, nil
}

// socketOf opens a blocking socket, closed when the test ends. Blocking
// calls on it time out after ioTimeout with EAGAIN.
func socketOf(t *testing.T, domain, typ, proto int) int {
	t.Helper()
	fd, err := openSocket(domain, typ, proto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// mhostSocket opens a blocking AF_MHOST datagram socket.
func mhostSocket(t *testing.T) int {
	t.Helper()
	return socketOf(t, family, unix.SOCK_DGRAM, 0)
}

// bindAny binds an AF_MHOST socket to an ephemeral port and returns it.
func bindAny(t *testing.T, fd int) int {
	t.Helper()
	if err := bind(fd, saMhost(0, 0)); err != nil {
		t.Fatalf("bind to port 0: %v", err)
	}
	return localPort(t, fd)
}

// boundSocket opens an AF_MHOST socket bound to an ephemeral port.
func boundSocket(t *testing.T) (fd, port int) {
	t.Helper()
	fd = mhostSocket(t)
	return fd, bindAny(t, fd)
}

// localPort returns the port getsockname reports for an AF_MHOST socket.
func localPort(t *testing.T, fd int) int {
	t.Helper()
	sa, err := getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	if len(sa) != mhost.SizeofSockaddrMhost || saFamilyOf(sa) != family {
		t.Fatalf("getsockname = %x: want a %d-byte sockaddr_mhost", sa, mhost.SizeofSockaddrMhost)
	}
	return saPort(sa)
}

// listen opens an SDK Conn on an ephemeral port, closed when the test
// ends.
func listen(t *testing.T) *mhost.Conn {
	t.Helper()
	c, err := mhost.Listen(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// portOf returns the port of an SDK Conn.
func portOf(t *testing.T, c *mhost.Conn) int {
	t.Helper()
	la, ok := c.LocalAddr().(*mhost.HostAddr)
	if !ok || la.Port == 0 || la.ID != 0 {
		t.Fatalf("LocalAddr() = %#v, want a *mhost.HostAddr with id 0 and a port", c.LocalAddr())
	}
	return int(la.Port)
}

// ---- socket addresses, as the kernel lays them out ----

// The loopback addresses the tests send to, and the name of the network
// layer of each.
var loopbacks = []struct {
	name string // "IPv4", "IPv6"
	ip   string
}{{"IPv4", "127.0.0.1"}, {"IPv6", "::1"}}

// sa4 returns a 16-byte sockaddr_in.
func sa4(ip string, port int) []byte {
	b := make([]byte, unix.SizeofSockaddrInet4)
	binary.NativeEndian.PutUint16(b, unix.AF_INET)
	binary.BigEndian.PutUint16(b[2:], uint16(port))
	a := netip.MustParseAddr(ip).As4()
	copy(b[4:], a[:])
	return b
}

// sa6 returns a 28-byte sockaddr_in6.
func sa6(ip string, port int) []byte {
	b := make([]byte, unix.SizeofSockaddrInet6)
	binary.NativeEndian.PutUint16(b, unix.AF_INET6)
	binary.BigEndian.PutUint16(b[2:], uint16(port))
	a := netip.MustParseAddr(ip).As16()
	copy(b[8:], a[:])
	return b
}

// saIP returns the sockaddr_in or sockaddr_in6 for ip.
func saIP(ip string, port int) []byte {
	if netip.MustParseAddr(ip).Is4() {
		return sa4(ip, port)
	}
	return sa6(ip, port)
}

// saMhost returns a 16-byte sockaddr_mhost.
func saMhost(port int, hid uint32) []byte {
	b := make([]byte, mhost.SizeofSockaddrMhost)
	binary.NativeEndian.PutUint16(b, uint16(family))
	binary.BigEndian.PutUint16(b[2:], uint16(port))
	binary.NativeEndian.PutUint32(b[4:], hid)
	return b
}

// saEth returns a 16-byte sockaddr_mhost_eth: a peer of the example L3
// protocols by interface and MAC.
func saEth(fam uint16, port, ifindex int, mac net.HardwareAddr) []byte {
	b := make([]byte, mhost.SizeofSockaddrMhostEth)
	binary.NativeEndian.PutUint16(b, fam)
	binary.BigEndian.PutUint16(b[2:], uint16(port))
	binary.NativeEndian.PutUint32(b[4:], uint32(ifindex))
	copy(b[8:14], mac)
	return b
}

// saLo returns the sockaddr_mhost_eth of this host over an example L3
// protocol: the loopback device, index 1, and the all-zero MAC.
func saLo(fam uint16, port int) []byte { return saEth(fam, port, 1, make(net.HardwareAddr, 6)) }

// saOf returns n zero bytes but for the family field.
func saOf(fam, n int) []byte {
	b := make([]byte, max(n, 2))
	binary.NativeEndian.PutUint16(b, uint16(fam))
	return b[:n]
}

func saFamilyOf(sa []byte) int { return int(binary.NativeEndian.Uint16(sa)) }
func saPort(sa []byte) int     { return int(binary.BigEndian.Uint16(sa[2:])) }

// saString describes a socket address for messages.
func saString(sa []byte) string {
	if len(sa) < 2 {
		return fmt.Sprintf("sockaddr[%x]", sa)
	}
	f := saFamilyOf(sa)
	switch {
	case f == unix.AF_INET && len(sa) >= 8:
		return fmt.Sprintf("%v/%d", netip.AddrPortFrom(netip.AddrFrom4([4]byte(sa[4:8])), uint16(saPort(sa))), len(sa))
	case f == unix.AF_INET6 && len(sa) >= 24:
		return fmt.Sprintf("%v/%d", netip.AddrPortFrom(netip.AddrFrom16([16]byte(sa[8:24])), uint16(saPort(sa))), len(sa))
	case l3Name[uint16(f)] != "" && len(sa) >= 14:
		return fmt.Sprintf("%s port %d via ifindex %d to %v/%d", l3Name[uint16(f)], saPort(sa),
			binary.NativeEndian.Uint32(sa[4:]), net.HardwareAddr(sa[8:14]), len(sa))
	}
	return fmt.Sprintf("family %d [%x]", f, sa[2:])
}

// A badAddr is a malformed or unusable destination, and the errno sendto
// and connect must fail with.
type badAddr struct {
	name  string
	sa    []byte
	errno unix.Errno
}

// badAddrs are the destinations sendto, sendmsg and connect reject.
func badAddrs() []badAddr {
	zero := saMhost(7000, unknownHID)
	zero[8] = 1
	zeroLast := saMhost(7000, unknownHID)
	zeroLast[15] = 0x80
	return []badAddr{
		{"addrlen 0", sa4("127.0.0.1", 7000)[:0], unix.EINVAL},
		{"addrlen 1", sa4("127.0.0.1", 7000)[:1], unix.EINVAL},
		{"AF_INET addrlen 8", sa4("127.0.0.1", 7000)[:8], unix.EINVAL},
		{"AF_INET addrlen 15", sa4("127.0.0.1", 7000)[:15], unix.EINVAL},
		{"AF_INET6 addrlen 16", sa6("::1", 7000)[:16], unix.EINVAL},
		{"AF_INET6 addrlen 23", sa6("::1", 7000)[:23], unix.EINVAL},
		{"AF_MHOST addrlen 8", saMhost(7000, unknownHID)[:8], unix.EINVAL},
		{"AF_MHOST addrlen 15", saMhost(7000, unknownHID)[:15], unix.EINVAL},
		{"AF_MHOST smh_zero[0] set", zero, unix.EINVAL},
		{"AF_MHOST smh_zero[7] set", zeroLast, unix.EINVAL},
		{"AF_MHOST hid 0", saMhost(7000, 0), unix.EINVAL},
		{"AF_MHOST unknown hid", saMhost(7000, unknownHID), unix.EHOSTUNREACH},
		{"AF_INET port 0", sa4("127.0.0.1", 0), unix.EINVAL},
		{"AF_INET6 port 0", sa6("::1", 0), unix.EINVAL},
		{"AF_MHOST port 0", saMhost(0, unknownHID), unix.EINVAL},
		{"AF_UNSPEC", saOf(unix.AF_UNSPEC, 16), unix.EAFNOSUPPORT},
		{"AF_PACKET", saOf(unix.AF_PACKET, unix.SizeofSockaddrLinklayer), unix.EAFNOSUPPORT},
		{"family 4242", saOf(4242, 16), unix.EAFNOSUPPORT},
	}
}

// ---- raw system calls on socket addresses as bytes ----
//
// An empty but non-nil sa passes a valid pointer with length 0; a nil sa
// passes NULL.

func errnoErr(e unix.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

func bind(fd int, sa []byte) error {
	_, _, e := unix.Syscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(sa))), uintptr(len(sa)))
	return errnoErr(e)
}

func connect(fd int, sa []byte) error {
	_, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(sa))), uintptr(len(sa)))
	return errnoErr(e)
}

// sendto, recvfrom and recvmsg retry a call that EINTR ended: on a
// socket with a timeout (SO_RCVTIMEO, SO_SNDTIMEO) the kernel does not
// restart it after a signal, and the Go runtime signals its threads to
// preempt goroutines.
func sendto(fd int, p []byte, flags int, sa []byte) (int, error) {
	for {
		r, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd),
			uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), uintptr(flags|unix.MSG_NOSIGNAL),
			uintptr(unsafe.Pointer(unsafe.SliceData(sa))), uintptr(len(sa)))
		if e != unix.EINTR {
			return int(r), errnoErr(e)
		}
	}
}

// send sends on a connected socket: sendto with no address.
func send(fd int, p []byte, flags int) (int, error) { return sendto(fd, p, flags, nil) }

func sendmsg(fd int, p []byte, flags int, sa []byte) (int, error) {
	return sendmsgControl(fd, p, nil, flags, sa)
}

// sendmsgControl is sendmsg with control messages.
func sendmsgControl(fd int, p, oob []byte, flags int, sa []byte) (int, error) {
	iov := unix.Iovec{Base: unsafe.SliceData(p)}
	iov.SetLen(len(p))
	msg := unix.Msghdr{Name: unsafe.SliceData(sa), Namelen: uint32(len(sa)), Iov: &iov, Control: unsafe.SliceData(oob)}
	msg.SetIovlen(1)
	msg.SetControllen(len(oob))
	r, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags|unix.MSG_NOSIGNAL))
	return int(r), errnoErr(e)
}

// recvfrom returns the datagram length (or what the kernel says with
// MSG_TRUNC) and the source address, as long as the kernel reported it.
func recvfrom(fd int, p []byte, flags int) (int, []byte, error) {
	sa := make([]byte, 128)
	l := uint32(len(sa))
	r, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd),
		uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), uintptr(flags),
		uintptr(unsafe.Pointer(&sa[0])), uintptr(unsafe.Pointer(&l)))
	for e == unix.EINTR {
		l = uint32(len(sa))
		r, _, e = unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd),
			uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), uintptr(flags),
			uintptr(unsafe.Pointer(&sa[0])), uintptr(unsafe.Pointer(&l)))
	}
	if e != 0 {
		return 0, nil, e
	}
	return int(r), sa[:min(int(l), len(sa))], nil
}

// recvmsg returns the datagram length, the control message length, the
// msg_flags and the source address.
func recvmsg(fd int, p, oob []byte, flags int) (n, oobn, recvflags int, from []byte, err error) {
	sa := make([]byte, 128)
	iov := unix.Iovec{Base: unsafe.SliceData(p)}
	iov.SetLen(len(p))
	msg := unix.Msghdr{Name: &sa[0], Namelen: uint32(len(sa)), Iov: &iov, Control: unsafe.SliceData(oob)}
	msg.SetIovlen(1)
	msg.SetControllen(len(oob))
	r, _, e := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
	for e == unix.EINTR {
		msg.Namelen = uint32(len(sa))
		msg.SetControllen(len(oob))
		r, _, e = unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
	}
	if e != 0 {
		return 0, 0, 0, nil, e
	}
	return int(r), int(msg.Controllen), int(msg.Flags), sa[:min(int(msg.Namelen), len(sa))], nil
}

func getname(trap uintptr, fd int) ([]byte, error) {
	sa := make([]byte, 128)
	l := uint32(len(sa))
	_, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&sa[0])), uintptr(unsafe.Pointer(&l)))
	if e != 0 {
		return nil, e
	}
	return sa[:min(int(l), len(sa))], nil
}

func getsockname(fd int) ([]byte, error) { return getname(unix.SYS_GETSOCKNAME, fd) }
func getpeername(fd int) ([]byte, error) { return getname(unix.SYS_GETPEERNAME, fd) }

// getsockoptBytes reads a socket option into b and returns its length.
func getsockoptBytes(fd, level, opt int, b []byte) (int, error) {
	l := uint32(len(b))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt),
		uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(unsafe.Pointer(&l)), 0)
	return int(l), errnoErr(e)
}

// ---- checks ----

// wantErrno fails the test unless err is errno.
func wantErrno(t *testing.T, err error, errno unix.Errno, what string) {
	t.Helper()
	if !errors.Is(err, errno) {
		t.Errorf("%s: %v, want %v (%s)", what, errStr(err), errno, unix.ErrnoName(errno))
	}
}

func errStr(err error) string {
	var e unix.Errno
	if errors.As(err, &e) {
		return err.Error() + " (" + unix.ErrnoName(e) + ")"
	}
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// recvOne reads one datagram from a blocking socket, failing the test if
// none comes within ioTimeout.
func recvOne(t *testing.T, fd int) ([]byte, []byte) {
	t.Helper()
	buf := make([]byte, 65536)
	n, from, err := recvfrom(fd, buf, 0)
	if err != nil {
		t.Fatalf("recvfrom: %v", errStr(err))
	}
	return buf[:n], from
}

// wantRecv reads one datagram and checks its payload and source.
func wantRecv(t *testing.T, fd int, payload string, from []byte) {
	t.Helper()
	p, sa := recvOne(t, fd)
	if string(p) != payload || !bytes.Equal(sa, from) {
		t.Fatalf("received %q from %s, want %q from %s", p, saString(sa), payload, saString(from))
	}
}

// wantEmpty checks that no datagram is queued on fd.
func wantEmpty(t *testing.T, fd int) {
	t.Helper()
	buf := make([]byte, 65536)
	n, from, err := recvfrom(fd, buf, unix.MSG_DONTWAIT)
	if err == nil {
		t.Fatalf("unexpected datagram %q from %s", buf[:n], saString(from))
	}
	wantErrno(t, err, unix.EAGAIN, "recvfrom(MSG_DONTWAIT) on an empty queue")
}

// readConn reads one datagram from an SDK Conn within ioTimeout.
func readConn(t *testing.T, c *mhost.Conn) (string, net.Addr) {
	t.Helper()
	c.SetReadDeadline(deadline())
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, mhost.MaxPayload)
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("ReadFrom: %v", err)
	}
	return string(buf[:n]), from
}

// readSysfs reads a number from a sysfs or procfs file.
func readSysfs(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return n
}

// sendQueued calls send, which sends one datagram to the socket rfd, and
// waits until the datagram is on rfd's receive queue. Loopback delivers
// from the sending CPU's backlog, possibly in ksoftirqd after the send
// returned, so two datagrams sent back to back by a goroutine that moved
// between CPUs could otherwise be queued in either order.
func sendQueued(t *testing.T, rfd int, what string, send func() error) {
	t.Helper()
	before := meminfo(t, rfd)[unix.SK_MEMINFO_RMEM_ALLOC]
	if err := send(); err != nil {
		t.Fatalf("%s: %v", what, errStr(err))
	}
	if !poll(ioTimeout, func() bool { return meminfo(t, rfd)[unix.SK_MEMINFO_RMEM_ALLOC] > before }) {
		t.Fatalf("%s: nothing queued on the receiving socket in %v", what, ioTimeout)
	}
}

// onOneCPU runs f on a thread of its own pinned to CPU 0. Frames sent
// from one CPU are received in the order sent (each CPU has a backlog of
// its own), so a frame that shows up proves the earlier ones were seen.
func onOneCPU(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the pinned thread exits with the goroutine.
		runtime.LockOSThread()
		var cpu0 unix.CPUSet
		cpu0.Set(0)
		if err := unix.SchedSetaffinity(0, &cpu0); err != nil {
			errc <- fmt.Errorf("sched_setaffinity: %w", err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// poll calls f every 50ms until it returns true or timeout passes, and
// reports whether it did.
func poll(timeout time.Duration, f func() bool) bool {
	for end := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		if f() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

// ---- helper processes ----
//
// A helper is a test function, TestHelper..., that runHelper runs in the
// test binary re-executed as another user or in other namespaces. It
// begins with
//
//	if !isHelper("TestHelperX") {
//		return
//	}
//
// so that it does nothing in the ordinary run, and prints helperDone when
// it ran to its end.

// helperEnv tells a re-executed test binary which helper it is.
const helperEnv = "MHOST_GUEST_HELPER"

// helperDone is the line a helper prints when it ran to its end, so that
// a helper that did not run cannot pass for one that did.
const helperDone = "mhost helper done"

// nobody runs a helper as the unprivileged user nobody.
var nobody = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}

// runHelper runs the test function name in a child process with attr
// (credentials, namespaces) and extra environment, and returns its
// output. It fails the test if the child fails or does not finish.
func runHelper(t *testing.T, name string, attr *syscall.SysProcAttr, env ...string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("os.Executable: %v", err)
	}
	cmd := exec.Command(exe, "-test.run=^"+name+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), append([]string{helperEnv + "=" + name}, env...)...)
	cmd.Dir = "/"
	cmd.SysProcAttr = attr
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s did not finish in 2 minutes:\n%s", name, out.String())
	}
	if err != nil || !strings.Contains(out.String(), helperDone) {
		t.Fatalf("%s: %v\n%s", name, err, out.String())
	}
	return out.String()
}

// isHelper reports whether this process was started to be the helper
// name; helpers return at once in the ordinary run.
func isHelper(name string) bool { return os.Getenv(helperEnv) == name }
