//go:build guest

package guest_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRecvSources sends over IPv4 and IPv6 to one bound socket, which
// must report each source in its own family.
func TestRecvSources(t *testing.T) {
	rfd, rport := boundSocket(t)
	sender, _ := boundSocket(t)
	sport := localPort(t, sender)

	for _, lo := range loopbacks {
		sendQueued(t, rfd, "sendto over "+lo.name, func() error {
			_, err := sendto(sender, []byte("via "+lo.name), 0, saIP(lo.ip, rport))
			return err
		})
	}
	for _, lo := range loopbacks { // recvfrom
		want := saIP(lo.ip, sport)
		p, from := recvOne(t, rfd)
		if string(p) != "via "+lo.name || !bytes.Equal(from, want) {
			t.Errorf("recvfrom = %q from %s (%d bytes, family %d); want %q from %s (%d bytes)",
				p, saString(from), len(from), saFamilyOf(from), "via "+lo.name, saString(want), len(want))
		}
	}

	for _, lo := range loopbacks {
		sendQueued(t, rfd, "sendmsg over "+lo.name, func() error {
			_, err := sendmsg(sender, []byte("via "+lo.name), 0, saIP(lo.ip, rport))
			return err
		})
	}
	for _, lo := range loopbacks { // recvmsg
		want := saIP(lo.ip, sport)
		buf := make([]byte, 64)
		n, _, flags, from, err := recvmsg(rfd, buf, nil, 0)
		if err != nil || string(buf[:n]) != "via "+lo.name || flags != 0 || !bytes.Equal(from, want) {
			t.Errorf("recvmsg = %q from %s, flags %#x, %v; want %q from %s",
				buf[:n], saString(from), flags, errStr(err), "via "+lo.name, saString(want))
		}
	}
}

func TestRecvPeek(t *testing.T) {
	rfd, rport := boundSocket(t)
	fd := mhostSocket(t)
	if _, err := sendto(fd, []byte("peek"), 0, sa6("::1", rport)); err != nil {
		t.Fatal(err)
	}
	src := sa6("::1", localPort(t, fd))
	for i := range 2 {
		buf := make([]byte, 16)
		n, from, err := recvfrom(rfd, buf, unix.MSG_PEEK)
		if err != nil || string(buf[:n]) != "peek" || !bytes.Equal(from, src) {
			t.Fatalf("MSG_PEEK #%d = %q from %s, %v", i+1, buf[:n], saString(from), errStr(err))
		}
	}
	wantRecv(t, rfd, "peek", src)
	wantEmpty(t, rfd)
}

func TestRecvTruncated(t *testing.T) {
	rfd, rport := boundSocket(t)
	fd := mhostSocket(t)
	long := strings.Repeat("0123456789", 10)
	for _, msg := range []string{long, "next"} {
		sendQueued(t, rfd, "sendto", func() error {
			_, err := sendto(fd, []byte(msg), 0, sa4("127.0.0.1", rport))
			return err
		})
	}

	buf := make([]byte, 10)
	n, _, flags, _, err := recvmsg(rfd, buf, nil, 0)
	if err != nil || n != 10 || string(buf) != long[:10] || flags&unix.MSG_TRUNC == 0 {
		t.Fatalf("recvmsg with 10 bytes of room for 100 = %d %q, flags %#x, %v; want 10, MSG_TRUNC",
			n, buf[:n], flags, errStr(err))
	}
	// The rest of the datagram is gone.
	buf = make([]byte, 200)
	n, _, flags, _, err = recvmsg(rfd, buf, nil, 0)
	if err != nil || string(buf[:n]) != "next" || flags&unix.MSG_TRUNC != 0 {
		t.Fatalf("next recvmsg = %q, flags %#x, %v; want \"next\"", buf[:n], flags, errStr(err))
	}
}

func TestRecvTruncFlag(t *testing.T) {
	rfd, rport := boundSocket(t)
	fd := mhostSocket(t)
	if _, err := sendto(fd, make([]byte, 100), 0, sa4("127.0.0.1", rport)); err != nil {
		t.Fatal(err)
	}
	n, _, err := recvfrom(rfd, make([]byte, 10), unix.MSG_TRUNC)
	if err != nil || n != 100 {
		t.Fatalf("recvfrom(MSG_TRUNC) with 10 bytes of room = %d, %v; want the real length 100", n, errStr(err))
	}
}

func TestRecvDontwait(t *testing.T) {
	rfd, _ := boundSocket(t)
	start := time.Now()
	_, _, err := recvfrom(rfd, make([]byte, 10), unix.MSG_DONTWAIT)
	wantErrno(t, err, unix.EAGAIN, "recvfrom(MSG_DONTWAIT) on an empty queue")
	_, _, _, _, err = recvmsg(rfd, make([]byte, 10), nil, unix.MSG_DONTWAIT)
	wantErrno(t, err, unix.EAGAIN, "recvmsg(MSG_DONTWAIT) on an empty queue")
	if d := time.Since(start); d > time.Second {
		t.Errorf("MSG_DONTWAIT reads took %v", d)
	}
}

func TestPoll(t *testing.T) {
	poll := func(fd int, events int16, timeout int) int16 {
		t.Helper()
		fds := []unix.PollFd{{Fd: int32(fd), Events: events}}
		if _, err := unix.Poll(fds, timeout); err != nil {
			t.Fatalf("poll: %v", err)
		}
		return fds[0].Revents
	}

	if ev := poll(mhostSocket(t), unix.POLLIN|unix.POLLOUT, 0); ev != unix.POLLOUT {
		t.Errorf("poll on a new socket = %#x, want POLLOUT only", ev)
	}
	rfd, rport := boundSocket(t)
	if ev := poll(rfd, unix.POLLIN, 0); ev&unix.POLLIN != 0 {
		t.Errorf("poll on an empty bound socket = %#x, want no POLLIN", ev)
	}
	if _, err := sendto(mhostSocket(t), []byte("x"), 0, sa4("127.0.0.1", rport)); err != nil {
		t.Fatal(err)
	}
	if ev := poll(rfd, unix.POLLIN, int(ioTimeout.Milliseconds())); ev&unix.POLLIN == 0 {
		t.Errorf("poll after a datagram arrived = %#x, want POLLIN", ev)
	}
	recvOne(t, rfd)
	if ev := poll(rfd, unix.POLLIN|unix.POLLOUT, 0); ev != unix.POLLOUT {
		t.Errorf("poll after reading it = %#x, want POLLOUT only", ev)
	}
}
