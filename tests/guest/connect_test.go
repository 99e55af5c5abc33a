//go:build guest

package guest_test

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

func TestConnect(t *testing.T) {
	for _, lo := range loopbacks {
		t.Run(lo.name, func(t *testing.T) {
			peer, peerPort := boundSocket(t)
			other, otherPort := boundSocket(t)
			third, _ := boundSocket(t)

			fd := mhostSocket(t)
			dst := saIP(lo.ip, peerPort)
			if err := connect(fd, dst); err != nil {
				t.Fatalf("connect to %s: %v", saString(dst), errStr(err))
			}
			port := localPort(t, fd)
			if port == 0 {
				t.Fatal("connect did not bind the socket")
			}
			if sa, err := getpeername(fd); err != nil || !bytes.Equal(sa, dst) {
				t.Fatalf("getpeername = %s, %v; want %s", saString(sa), errStr(err), saString(dst))
			}

			// send and write go to the peer.
			if _, err := send(fd, []byte("send"), 0); err != nil {
				t.Fatalf("send: %v", errStr(err))
			}
			wantRecv(t, peer, "send", saIP(lo.ip, port))
			if _, err := unix.Write(fd, []byte("write")); err != nil {
				t.Fatalf("write: %v", errStr(err))
			}
			wantRecv(t, peer, "write", saIP(lo.ip, port))

			// An explicit address wins over the connected one.
			if _, err := sendto(fd, []byte("explicit"), 0, saIP(lo.ip, otherPort)); err != nil {
				t.Fatalf("sendto on a connected socket: %v", errStr(err))
			}
			wantRecv(t, other, "explicit", saIP(lo.ip, port))
			wantEmpty(t, peer)

			// A connected AF_MHOST socket receives from anyone, over
			// either IP version: only the default destination is set.
			for _, from := range loopbacks {
				if _, err := sendto(third, []byte("from a third socket"), 0, saIP(from.ip, port)); err != nil {
					t.Fatal(err)
				}
				wantRecv(t, fd, "from a third socket", saIP(from.ip, localPort(t, third)))
			}
			if _, err := sendto(peer, []byte("from the peer"), 0, saIP(lo.ip, port)); err != nil {
				t.Fatal(err)
			}
			wantRecv(t, fd, "from the peer", dst)

			// connect(AF_UNSPEC) disconnects.
			if err := connect(fd, saOf(unix.AF_UNSPEC, 16)); err != nil {
				t.Fatalf("connect(AF_UNSPEC): %v", errStr(err))
			}
			_, err := getpeername(fd)
			wantErrno(t, err, unix.ENOTCONN, "getpeername after connect(AF_UNSPEC)")
			_, err = send(fd, []byte("x"), 0)
			wantErrno(t, err, unix.EDESTADDRREQ, "send after connect(AF_UNSPEC)")
		})
	}
}

func TestGetpeernameUnconnected(t *testing.T) {
	_, err := getpeername(mhostSocket(t))
	wantErrno(t, err, unix.ENOTCONN, "getpeername on a new socket")
	fd, _ := boundSocket(t)
	_, err = getpeername(fd)
	wantErrno(t, err, unix.ENOTCONN, "getpeername on a bound socket")
}

func TestConnectErrors(t *testing.T) {
	for _, tt := range badAddrs() {
		if len(tt.sa) >= 2 && saFamilyOf(tt.sa) == unix.AF_UNSPEC {
			continue // connect(AF_UNSPEC) disconnects
		}
		fd := mhostSocket(t)
		wantErrno(t, connect(fd, tt.sa), tt.errno, "connect("+tt.name+")")
		if _, err := getpeername(fd); err == nil {
			t.Errorf("connect(%s) failed but left the socket connected", tt.name)
		}
	}
}
