//go:build guest

package guest_test

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhostnl"
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

// TestSendCork builds one datagram from several sends, over IPv4 and
// IPv6, as on UDP: with MSG_MORE (the sends after the first need no
// address) and with the UDP_CORK option; and corks a UDP_SEGMENT send,
// which UDP cuts from all of its data once pushed. The counters count a
// corked datagram once per send that carries an address.
func TestSendCork(t *testing.T) {
	ns := newNetNS(t, "cork")
	ns.setUp(t, "lo")
	ctl := ns.control(t)
	for _, lo := range loopbacks {
		t.Run(lo.name, func(t *testing.T) {
			fam := mhostnl.Family(unix.AF_INET)
			if lo.name == "IPv6" {
				fam = unix.AF_INET6
			}
			rfd, rport := boundSocketIn(t, ns)
			sfd, sport := boundSocketIn(t, ns)
			dst, from := saIP(lo.ip, rport), saIP(lo.ip, sport)
			want := func(what string, datagrams ...[]byte) {
				t.Helper()
				for _, d := range datagrams {
					p, sa := recvOne(t, rfd)
					if !bytes.Equal(p, d) || !bytes.Equal(sa, from) {
						t.Fatalf("%s: read %d bytes %.12q from %s, want %d bytes %.12q from %s",
							what, len(p), p, saString(sa), len(d), d, saString(from))
					}
				}
				wantEmpty(t, rfd)
			}
			sent := func() uint64 { return protoCounters(t, ctl)[fam][0] }

			before := sent()
			if _, err := sendto(sfd, []byte("cor"), unix.MSG_MORE, dst); err != nil {
				t.Fatalf("sendto(MSG_MORE): %v", errStr(err))
			}
			wantEmpty(t, rfd)
			if _, err := sendto(sfd, []byte("ked"), 0, nil); err != nil {
				t.Fatalf("sendto without an address, ending the corked datagram: %v", errStr(err))
			}
			want("MSG_MORE", []byte("corked"))
			if d := sent() - before; d != 1 {
				t.Errorf("a datagram corked with MSG_MORE counted %d times, want 1", d)
			}

			if err := unix.SetsockoptInt(sfd, unix.SOL_UDP, unix.UDP_CORK, 1); err != nil {
				t.Fatalf("setsockopt(UDP_CORK, 1): %v", errStr(err))
			}
			for _, p := range []string{"by ", "the ", "option"} {
				if _, err := sendto(sfd, []byte(p), 0, dst); err != nil {
					t.Fatalf("sendto with UDP_CORK: %v", errStr(err))
				}
			}
			wantEmpty(t, rfd)
			if err := unix.SetsockoptInt(sfd, unix.SOL_UDP, unix.UDP_CORK, 0); err != nil {
				t.Fatalf("setsockopt(UDP_CORK, 0): %v", errStr(err))
			}
			want("UDP_CORK", []byte("by the option"))

			payload := gsoPayload()
			split := 2*gsoSize + 300
			if _, err := sendmsgControl(sfd, payload[:split], udpSegmentCmsg(gsoSize), unix.MSG_MORE, dst); err != nil {
				t.Fatalf("corked UDP_SEGMENT sendmsg: %v", errStr(err))
			}
			if _, err := sendto(sfd, payload[split:], 0, nil); err != nil {
				t.Fatalf("sendto ending the corked UDP_SEGMENT datagram: %v", errStr(err))
			}
			want("corked UDP_SEGMENT", segments(payload, gsoSize)...)
		})
	}
}
