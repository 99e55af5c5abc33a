//go:build guest

package guest_test

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// connectedSocket returns a socket connected to a bound one on loopback.
func connectedSocket(t *testing.T) (fd, peer int) {
	t.Helper()
	peer, peerPort := boundSocket(t)
	fd = mhostSocket(t)
	if err := connect(fd, sa4("127.0.0.1", peerPort)); err != nil {
		t.Fatalf("connect: %v", errStr(err))
	}
	return fd, peer
}

func TestShutdownInvalid(t *testing.T) {
	fd, _ := connectedSocket(t)
	unconnected, _ := boundSocket(t)
	for _, how := range []int{3, 4, -1} {
		wantErrno(t, unix.Shutdown(fd, how), unix.EINVAL, "shutdown(connected, invalid how)")
		wantErrno(t, unix.Shutdown(unconnected, how), unix.EINVAL, "shutdown(unconnected, invalid how)")
	}
}

func TestShutdownUnconnected(t *testing.T) {
	for _, how := range []int{unix.SHUT_RD, unix.SHUT_WR, unix.SHUT_RDWR} {
		fd, _ := boundSocket(t)
		wantErrno(t, unix.Shutdown(fd, how), unix.ENOTCONN, "shutdown of an unconnected socket")
	}
}

func TestShutdownRead(t *testing.T) {
	fd, _ := connectedSocket(t)
	if err := unix.Shutdown(fd, unix.SHUT_RD); err != nil {
		t.Fatalf("shutdown(SHUT_RD): %v", errStr(err))
	}
	// A blocking read on the empty queue returns at once with 0 bytes,
	// where it would otherwise wait ioTimeout and fail with EAGAIN.
	start := time.Now()
	n, _, err := recvfrom(fd, make([]byte, 16), 0)
	if d := time.Since(start); err != nil || n != 0 || d > ioTimeout/2 {
		t.Fatalf("recvfrom after SHUT_RD = %d, %v after %v; want 0 at once", n, errStr(err), d)
	}
}

// TestShutdownWrite checks that after SHUT_WR every send fails with
// EPIPE, whatever the network layer, as it does on a UDP socket (checked
// alongside, so that the test follows the kernel's UDP).
func TestShutdownWrite(t *testing.T) {
	fd, _ := connectedSocket(t)
	_, otherPort := boundSocket(t)
	if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
		t.Fatalf("shutdown(SHUT_WR): %v", errStr(err))
	}
	_, err := send(fd, []byte("x"), 0)
	wantErrno(t, err, unix.EPIPE, "send after SHUT_WR")
	for _, lo := range loopbacks {
		_, err = sendto(fd, []byte("x"), 0, saIP(lo.ip, otherPort))
		wantErrno(t, err, unix.EPIPE, "sendto over "+lo.name+" after SHUT_WR")
	}

	u, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(u)
	if err := unix.Connect(u, &unix.SockaddrInet4{Port: otherPort, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Shutdown(u, unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	_, err = unix.Write(u, []byte("udp"))
	wantErrno(t, err, unix.EPIPE, "plain UDP: write after SHUT_WR (the reference)")
}
