//go:build guest

package guest_test

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// A sendFunc sends p to the address sa: sendto or sendmsg.
type sendFunc struct {
	name string
	send func(fd int, p []byte, flags int, sa []byte) (int, error)
}

var sendFuncs = []sendFunc{{"sendto", sendto}, {"sendmsg", sendmsg}}

func TestSendAutobind(t *testing.T) {
	rfd, rport := boundSocket(t)
	tests := []struct {
		dst, src func(port int) []byte
	}{
		{func(p int) []byte { return sa4("127.0.0.1", p) }, func(p int) []byte { return sa4("127.0.0.1", p) }},
		{func(p int) []byte { return sa6("::1", p) }, func(p int) []byte { return sa6("::1", p) }},
		// Without scope id, as RFC 2133 had it.
		{func(p int) []byte { return sa6("::1", p)[:24] }, func(p int) []byte { return sa6("::1", p) }},
	}
	for _, sf := range sendFuncs {
		for _, tt := range tests {
			fd := mhostSocket(t)
			dst := tt.dst(rport)
			msg := sf.name + " " + saString(dst)
			if n, err := sf.send(fd, []byte(msg), 0, dst); err != nil || n != len(msg) {
				t.Fatalf("%s to %s = %d, %v", sf.name, saString(dst), n, errStr(err))
			}
			port := localPort(t, fd)
			if port == 0 {
				t.Fatalf("%s to %s did not bind the socket", sf.name, saString(dst))
			}
			wantRecv(t, rfd, msg, tt.src(port))
		}
	}
}

func TestSendErrors(t *testing.T) {
	for _, sf := range sendFuncs {
		for _, tt := range badAddrs() {
			if sf.name == "sendmsg" && len(tt.sa) == 0 {
				continue // msg_namelen 0 means no address to sendmsg
			}
			fd := mhostSocket(t)
			_, err := sf.send(fd, []byte("x"), 0, tt.sa)
			wantErrno(t, err, tt.errno, sf.name+"("+tt.name+")")
		}
	}
}

func TestSendMaxPayload(t *testing.T) {
	rfd, rport := boundSocket(t)
	big := make([]byte, 65508)
	for i := range big {
		big[i] = byte(i*7 + i>>8)
	}
	for _, lo := range loopbacks {
		t.Run(lo.name, func(t *testing.T) {
			fd := mhostSocket(t)
			dst := saIP(lo.ip, rport)
			n, err := sendto(fd, big[:65507], 0, dst)
			if err != nil || n != 65507 {
				t.Fatalf("sending 65507 bytes: %d, %v", n, errStr(err))
			}
			p, _ := recvOne(t, rfd)
			if !bytes.Equal(p, big[:65507]) {
				t.Fatalf("received %d bytes, want the 65507 sent", len(p))
			}

			_, err = sendto(fd, big, 0, dst)
			wantErrno(t, err, unix.EMSGSIZE, "sending 65508 bytes over "+lo.name)
			_, err = sendmsg(fd, big, 0, dst)
			wantErrno(t, err, unix.EMSGSIZE, "sendmsg of 65508 bytes over "+lo.name)
			wantEmpty(t, rfd)
		})
	}
}

func TestSendUnconnected(t *testing.T) {
	fd, _ := boundSocket(t)
	_, err := send(fd, []byte("x"), 0)
	wantErrno(t, err, unix.EDESTADDRREQ, "send on an unconnected socket")
	_, err = unix.Write(fd, []byte("x"))
	wantErrno(t, err, unix.EDESTADDRREQ, "write on an unconnected socket")
	_, err = sendmsg(fd, []byte("x"), 0, nil)
	wantErrno(t, err, unix.EDESTADDRREQ, "sendmsg without address on an unconnected socket")
}

func TestSendEmptyDatagram(t *testing.T) {
	rfd, rport := boundSocket(t)
	for _, lo := range loopbacks {
		fd := mhostSocket(t)
		if n, err := sendto(fd, nil, 0, saIP(lo.ip, rport)); err != nil || n != 0 {
			t.Fatalf("sending 0 bytes over %s: %d, %v", lo.name, n, errStr(err))
		}
		buf := make([]byte, 16)
		n, from, err := recvfrom(rfd, buf, 0)
		if err != nil || n != 0 || !bytes.Equal(from, saIP(lo.ip, localPort(t, fd))) {
			t.Fatalf("over %s received %d bytes from %s, %v; want 0 bytes from %s",
				lo.name, n, saString(from), errStr(err), saString(saIP(lo.ip, localPort(t, fd))))
		}
	}
}
