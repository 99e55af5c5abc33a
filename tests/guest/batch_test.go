//go:build guest

package guest_test

// What a UDP application does to move many datagrams per system call:
// sendmmsg and recvmmsg, UDP_SEGMENT (GSO) sends and UDP_GRO receives.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendmmsg sends payloads[i] to dsts[i], all in one call, and returns
// how many datagrams were sent and the length the kernel reported for
// each.
func sendmmsg(fd int, payloads, dsts [][]byte, flags int) (int, []int, error) {
	hdrs := make([]unix.Mmsghdr, len(payloads))
	iovs := make([]unix.Iovec, len(payloads))
	for i, p := range payloads {
		iovs[i].Base = unsafe.SliceData(p)
		iovs[i].SetLen(len(p))
		hdrs[i].Hdr = unix.Msghdr{Name: unsafe.SliceData(dsts[i]), Namelen: uint32(len(dsts[i])), Iov: &iovs[i]}
		hdrs[i].Hdr.SetIovlen(1)
	}
	r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(hdrs))),
		uintptr(len(hdrs)), uintptr(flags|unix.MSG_NOSIGNAL), 0, 0)
	if e != 0 {
		return 0, nil, e
	}
	lens := make([]int, r)
	for i := range lens {
		lens[i] = int(hdrs[i].Len)
	}
	return int(r), lens, nil
}

// An mmsgRecv is one datagram recvmmsg read: its length, msg_flags and
// source address.
type mmsgRecv struct {
	n, flags int
	from     []byte
}

// recvmmsg reads up to len(bufs) datagrams in one call, one into each
// buffer. Without MSG_WAITFORONE a blocking call waits for all of them,
// or until the socket's receive timeout.
func recvmmsg(fd int, bufs [][]byte, flags int) ([]mmsgRecv, error) {
	hdrs := make([]unix.Mmsghdr, len(bufs))
	iovs := make([]unix.Iovec, len(bufs))
	names := make([][128]byte, len(bufs))
	for i, b := range bufs {
		iovs[i].Base = unsafe.SliceData(b)
		iovs[i].SetLen(len(b))
		hdrs[i].Hdr = unix.Msghdr{Name: &names[i][0], Namelen: uint32(len(names[i])), Iov: &iovs[i]}
		hdrs[i].Hdr.SetIovlen(1)
	}
	r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(hdrs))),
		uintptr(len(hdrs)), uintptr(flags), 0, 0)
	if e != 0 {
		return nil, e
	}
	out := make([]mmsgRecv, r)
	for i := range out {
		h := &hdrs[i].Hdr
		out[i] = mmsgRecv{n: int(hdrs[i].Len), flags: int(h.Flags), from: names[i][:min(int(h.Namelen), len(names[i]))]}
	}
	return out, nil
}

// TestMmsg sends a batch of datagrams of different lengths with one
// sendmmsg, to one socket over IPv4 and IPv6 in turn, and reads them
// back with one recvmmsg: each in order, whole, from its real source.
func TestMmsg(t *testing.T) {
	const count = 8
	rfd, rport := boundSocket(t)
	sfd, sport := boundSocket(t)
	var payloads, dsts, srcs [][]byte
	for i := range count {
		lo := loopbacks[i%2]
		payloads = append(payloads, bytes.Repeat([]byte{'a' + byte(i)}, 1+150*i))
		dsts = append(dsts, saIP(lo.ip, rport))
		srcs = append(srcs, saIP(lo.ip, sport))
	}

	// From one CPU, so that loopback delivers in the order sent.
	var (
		sent int
		lens []int
	)
	err := onOneCPU(func() (err error) {
		sent, lens, err = sendmmsg(sfd, payloads, dsts, 0)
		return err
	})
	if err != nil || sent != count {
		t.Fatalf("sendmmsg of %d datagrams = %d, %v", count, sent, errStr(err))
	}
	for i, n := range lens {
		if n != len(payloads[i]) {
			t.Errorf("sendmmsg: datagram %d sent %d bytes, want %d", i, n, len(payloads[i]))
		}
	}

	bufs := make([][]byte, count+1) // room for one too many
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	got, err := recvmmsg(rfd, bufs[:count], 0)
	if err != nil || len(got) != count {
		t.Fatalf("recvmmsg of %d datagrams = %d, %v", count, len(got), errStr(err))
	}
	for i, m := range got {
		if p := bufs[i][:m.n]; !bytes.Equal(p, payloads[i]) || m.flags != 0 || !bytes.Equal(m.from, srcs[i]) {
			t.Errorf("recvmmsg #%d: %d bytes %.8q... from %s, flags %#x; want %d bytes %.8q... from %s",
				i, m.n, p, saString(m.from), m.flags, len(payloads[i]), payloads[i], saString(srcs[i]))
		}
	}

	// A batch read of an empty queue, without waiting.
	_, err = recvmmsg(rfd, bufs, unix.MSG_DONTWAIT)
	wantErrno(t, err, unix.EAGAIN, "recvmmsg(MSG_DONTWAIT) on an empty queue")

	// With MSG_WAITFORONE, a batch read returns what is queued.
	sendQueued(t, rfd, "sendto", func() error {
		_, err := sendto(sfd, []byte("one"), 0, dsts[0])
		return err
	})
	got, err = recvmmsg(rfd, bufs, unix.MSG_WAITFORONE)
	if err != nil || len(got) != 1 || string(bufs[0][:got[0].n]) != "one" || !bytes.Equal(got[0].from, srcs[0]) {
		t.Errorf("recvmmsg(MSG_WAITFORONE) with one datagram queued = %+v, %v; want \"one\" from %s", got, errStr(err), saString(srcs[0]))
	}
}

// gsoSize is the segment size of the GSO tests.
const gsoSize = 1000

// gsoPayload is a UDP_SEGMENT send of four full segments and a short
// fifth, each different from the others.
func gsoPayload() []byte {
	b := make([]byte, 4*gsoSize+500)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// segments cuts p into the datagrams a GSO send of it delivers.
func segments(p []byte, size int) [][]byte {
	var s [][]byte
	for len(p) > size {
		s = append(s, p[:size])
		p = p[size:]
	}
	return append(s, p)
}

// udpSegmentCmsg is the control message that makes one send a GSO
// send of segments of size bytes.
func udpSegmentCmsg(size int) []byte {
	b := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = unix.SOL_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(b[unix.CmsgLen(0):], uint16(size))
	return b
}

// plainBound opens a plain UDP socket bound to ip, port 0, and returns
// it and its port.
func plainBound(t *testing.T, ip string) (int, int) {
	t.Helper()
	domain := unix.AF_INET
	if netip.MustParseAddr(ip).Is6() {
		domain = unix.AF_INET6
	}
	fd := socketOf(t, domain, unix.SOCK_DGRAM, 0)
	if err := bind(fd, saIP(ip, 0)); err != nil {
		t.Fatalf("binding a plain UDP socket to %s: %v", ip, errStr(err))
	}
	return fd, plainPort(t, fd)
}

// TestUDPSegment sends one datagram with UDP_SEGMENT, given per send as a
// control message or per socket as an option, from an AF_MHOST socket
// over IPv4 and IPv6: a plain UDP socket and an AF_MHOST socket without
// UDP_GRO each receive it as the segments, in order.
func TestUDPSegment(t *testing.T) {
	payload := gsoPayload()
	want := segments(payload, gsoSize)
	for _, lo := range loopbacks {
		for _, how := range []string{"cmsg", "sockopt"} {
			for _, to := range []string{"plain UDP", "AF_MHOST"} {
				t.Run(fmt.Sprintf("%s %s to %s", lo.name, how, to), func(t *testing.T) {
					sfd, sport := boundSocket(t)
					var rfd, rport int
					if to == "AF_MHOST" {
						rfd, rport = boundSocket(t)
					} else {
						rfd, rport = plainBound(t, lo.ip)
					}
					var oob []byte
					if how == "cmsg" {
						oob = udpSegmentCmsg(gsoSize)
					} else {
						if err := unix.SetsockoptInt(sfd, unix.SOL_UDP, unix.UDP_SEGMENT, gsoSize); err != nil {
							t.Fatalf("setsockopt(UDP_SEGMENT, %d): %v", gsoSize, errStr(err))
						}
						if v, err := unix.GetsockoptInt(sfd, unix.SOL_UDP, unix.UDP_SEGMENT); err != nil || v != gsoSize {
							t.Errorf("getsockopt(UDP_SEGMENT) = %d, %v; want %d", v, errStr(err), gsoSize)
						}
					}
					n, err := sendmsgControl(sfd, payload, oob, 0, saIP(lo.ip, rport))
					if err != nil || n != len(payload) {
						t.Fatalf("GSO sendmsg of %d bytes in segments of %d = %d, %v", len(payload), gsoSize, n, errStr(err))
					}
					from := saIP(lo.ip, sport)
					for i, seg := range want {
						p, sa := recvOne(t, rfd)
						if !bytes.Equal(p, seg) || !bytes.Equal(sa, from) {
							t.Fatalf("datagram %d of %d: %d bytes from %s, want segment %d (%d bytes) from %s",
								i+1, len(want), len(p), saString(sa), i, len(seg), saString(from))
						}
					}
					// The last segment ends the send: nothing more.
					wantEmpty(t, rfd)
				})
			}
		}
	}
}

// TestUDPGRO sends a GSO aggregate over loopback, from a plain UDP socket
// and from an AF_MHOST one, over IPv4 and IPv6, to a plain UDP socket
// and to an AF_MHOST socket, both with UDP_GRO on. The plain one gets it
// coalesced, with a UDP_GRO control message, which proves the aggregate
// reached the receiving side whole. The AF_MHOST one gets the segments
// one by one, each whole and without the message: the kernel splits
// aggregates before an encapsulation socket's encap_rcv hook
// (udp_unexpected_gso()), which is how AF_MHOST receives IP datagrams.
// UDP_GRO is still accepted and read back, so that code written for UDP
// runs unchanged.
func TestUDPGRO(t *testing.T) {
	payload := gsoPayload()
	var segs [][]byte
	for off := 0; off < len(payload); off += gsoSize {
		segs = append(segs, payload[off:min(off+gsoSize, len(payload))])
	}
	for _, lo := range loopbacks {
		for _, from := range []string{"plain UDP", "AF_MHOST"} {
			for _, to := range []string{"plain UDP", "AF_MHOST"} {
				t.Run(lo.name+" from "+from+" to "+to, func(t *testing.T) {
					var rfd, rport int
					if to == "AF_MHOST" {
						rfd, rport = boundSocket(t)
					} else {
						rfd, rport = plainBound(t, lo.ip)
					}
					if err := unix.SetsockoptInt(rfd, unix.SOL_UDP, unix.UDP_GRO, 1); err != nil {
						t.Fatalf("setsockopt(UDP_GRO, 1): %v", errStr(err))
					}
					if v, err := unix.GetsockoptInt(rfd, unix.SOL_UDP, unix.UDP_GRO); err != nil || v != 1 {
						t.Errorf("getsockopt(UDP_GRO) = %d, %v; want 1", v, errStr(err))
					}
					var sfd, sport int
					if from == "AF_MHOST" {
						sfd, sport = boundSocket(t)
					} else {
						sfd, sport = plainBound(t, lo.ip)
					}
					src := saIP(lo.ip, sport)

					n, err := sendmsgControl(sfd, payload, udpSegmentCmsg(gsoSize), 0, saIP(lo.ip, rport))
					if err != nil || n != len(payload) {
						t.Fatalf("GSO sendmsg of %d bytes in segments of %d = %d, %v", len(payload), gsoSize, n, errStr(err))
					}
					want := [][]byte{payload}
					if to == "AF_MHOST" {
						want = segs
					}
					buf, oob := make([]byte, 65536), make([]byte, 256)
					for i, w := range want {
						n, oobn, flags, sa, err := recvmsg(rfd, buf, oob, 0)
						if err != nil || !bytes.Equal(buf[:n], w) || flags != 0 || !bytes.Equal(sa, src) {
							t.Fatalf("recvmsg %d of %d = %d bytes from %s, flags %#x, %v; want %d bytes from %s",
								i+1, len(want), n, saString(sa), flags, errStr(err), len(w), saString(src))
						}
						if to == "AF_MHOST" {
							wantCmsgs(t, "a segment", oob[:oobn])
							continue
						}
						data := wantCmsgs(t, "the coalesced datagram", oob[:oobn], cmsgUDPGRO)
						if g := cmsgInt(t, data[cmsgUDPGRO]); g != gsoSize {
							t.Errorf("UDP_GRO control message says segments of %d, want %d", g, gsoSize)
						}
					}
					wantEmpty(t, rfd)

					if _, err := sendto(sfd, []byte("whole"), 0, saIP(lo.ip, rport)); err != nil {
						t.Fatalf("sendto: %v", errStr(err))
					}
					n, oobn, _, _, err := recvmsg(rfd, buf, oob, 0)
					if err != nil || string(buf[:n]) != "whole" {
						t.Fatalf("recvmsg = %q, %v; want \"whole\"", buf[:n], errStr(err))
					}
					wantCmsgs(t, "a datagram sent whole", oob[:oobn])
				})
			}
		}
	}
}
