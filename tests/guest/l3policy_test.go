//go:build guest

package guest_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhost"
)

// What plugged-L3 traffic may do: the policy of issue 11, as the UAPI
// header documents it next to ETH_P_MHOST.

// TestL3BindToDevice checks that SO_BINDTODEVICE holds on plugged L3s as
// on IP: a bound socket sends only on its device (ENETUNREACH, nothing
// sent, on another) and receives only what came in on it.
func TestL3BindToDevice(t *testing.T) {
	useL3Protos(t, testproto)
	a, b := newNetNS(t, "a"), newNetNS(t, "b")
	v1 := newVethPair(t, a, b, vethConfig{NoIPv6: true, L3: true})
	v2 := newVethPair(t, a, b, vethConfig{NoIPv6: true, L3: true, Pair: 2})
	ctlB := b.control(t)
	tp := uint16(mhost.FamilyTestProto)

	rfd := b.socket(t, family, unix.SOCK_DGRAM, 0)
	if err := unix.SetsockoptString(rfd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, v1.B.Name); err != nil {
		t.Fatalf("SO_BINDTODEVICE %s: %v", v1.B.Name, errStr(err))
	}
	rport := bindAny(t, rfd)
	sfd := a.socket(t, family, unix.SOCK_DGRAM, 0)
	if err := unix.SetsockoptString(sfd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, v1.A.Name); err != nil {
		t.Fatalf("SO_BINDTODEVICE %s: %v", v1.A.Name, errStr(err))
	}
	sport := bindAny(t, sfd)

	if _, err := sendto(sfd, []byte("on v1"), 0, saEth(tp, rport, v1.A.Index, v1.B.MAC)); err != nil {
		t.Fatalf("send on the bound device: %v", errStr(err))
	}
	wantRecv(t, rfd, "on v1", saEth(tp, sport, v1.B.Index, v1.A.MAC))

	tx := v2.A.NS.link(t, v2.A.Index).Stats.TxPackets
	_, err := sendto(sfd, []byte("on v2"), 0, saEth(tp, rport, v2.A.Index, v2.B.MAC))
	wantErrno(t, err, unix.ENETUNREACH, "send on another device than the bound one")
	if got := v2.A.NS.link(t, v2.A.Index).Stats.TxPackets; got != tx {
		t.Errorf("%s sent %d frames after the refused send", v2.A.Name, got-tx)
	}

	// An unbound sender reaches b over v2: no socket of the port takes
	// what came in there.
	ufd := a.socket(t, family, unix.SOCK_DGRAM, 0)
	before := l3Counters(t, ctlB)
	if _, err := sendto(ufd, []byte("via v2"), 0, saEth(tp, rport, v2.A.Index, v2.B.MAC)); err != nil {
		t.Fatalf("unbound send over v2: %v", errStr(err))
	}
	var d map[string]uint64
	poll(ioTimeout, func() bool {
		d, _ = l3Delta(before, l3Counters(t, ctlB))
		return d["no_socket"] > 0
	})
	if want := map[string]uint64{"no_socket": 1}; !l3Equal(d, want) {
		t.Errorf("counters moved by %s, want no_socket=1: the socket bound to %s took a datagram from %s", l3String(d), v1.B.Name, v2.B.Name)
	}
	wantEmpty(t, rfd)
}

// TestL3GroupAddress checks that only CAP_NET_RAW sends a plugged-L3
// datagram to an Ethernet broadcast or multicast address, which every
// host of the segment would take, while unicast needs no capability;
// and what else a plugged L3 refuses to send.
func TestL3GroupAddress(t *testing.T) {
	lab := newL3Lab(t)
	tp := uint16(mhost.FamilyTestProto)
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

	fd := lab.v.A.NS.socket(t, family, unix.SOCK_DGRAM, 0)
	if _, err := sendto(fd, []byte("to all"), 0, saEth(tp, lab.port, lab.v.A.Index, bcast)); err != nil {
		t.Fatalf("broadcast with CAP_NET_RAW: %v", errStr(err))
	}
	if msg, _ := readConn(t, lab.sock); msg != "to all" {
		t.Errorf("b read %q, want the broadcast", msg)
	}

	// The same without the capability.
	tries := []struct {
		what string
		to   net.HardwareAddr
		want unix.Errno // 0: sent
	}{
		{"broadcast", bcast, unix.EPERM},
		{"multicast", net.HardwareAddr{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}, unix.EPERM},
		{"unicast", lab.v.B.MAC, 0},
	}
	for _, tc := range tries {
		err := withoutCaps(func() error {
			_, err := sendto(fd, []byte(tc.what), 0, saEth(tp, lab.port, lab.v.A.Index, tc.to))
			return err
		}, unix.CAP_NET_RAW)
		if tc.want != 0 {
			wantErrno(t, err, tc.want, tc.what+" without CAP_NET_RAW")
		} else if err != nil {
			t.Errorf("%s without CAP_NET_RAW: %v", tc.what, errStr(err))
		}
	}
	if msg, _ := readConn(t, lab.sock); msg != "unicast" {
		t.Errorf("b read %q, want only the unicast datagram", msg)
	}
	wantConnEmpty(t, lab.sock)

	// UDP takes its options at SOL_UDPLITE too: UDP_ENCAP there would
	// replace the transport socket's receive hook, and with it what
	// tells mhost who sent a frame. Refused, and the check holds.
	err := unix.SetsockoptInt(fd, unix.IPPROTO_UDPLITE, unix.UDP_ENCAP, 0)
	wantErrno(t, err, unix.ENOPROTOOPT, "setsockopt(SOL_UDPLITE, UDP_ENCAP)")
	err = withoutCaps(func() error {
		_, err := sendto(fd, []byte("to all"), 0, saEth(tp, lab.port, lab.v.A.Index, bcast))
		return err
	}, unix.CAP_NET_RAW)
	wantErrno(t, err, unix.EPERM, "broadcast without CAP_NET_RAW after SOL_UDPLITE")

	// A plugged L3 has no urgent data and nothing to cork.
	_, err = sendto(fd, []byte("oob"), unix.MSG_OOB, saEth(tp, lab.port, lab.v.A.Index, lab.v.B.MAC))
	wantErrno(t, err, unix.EOPNOTSUPP, "MSG_OOB over a plugged L3")
	_, err = sendto(fd, []byte("more"), unix.MSG_MORE, saEth(tp, lab.port, lab.v.A.Index, lab.v.B.MAC))
	wantErrno(t, err, unix.EINVAL, "MSG_MORE over a plugged L3")
	wantConnEmpty(t, lab.sock)

	// Nor can it cut a send into datagrams: UDP_SEGMENT, as a control
	// message or an option, that would is refused, not sent as one
	// frame. A segment size the datagram fits in changes nothing, as on
	// UDP.
	dst := saEth(tp, lab.port, lab.v.A.Index, lab.v.B.MAC)
	_, err = sendmsgControl(fd, []byte("segmented"), udpSegmentCmsg(4), 0, dst)
	wantErrno(t, err, unix.EOPNOTSUPP, "UDP_SEGMENT control message over a plugged L3")
	if err := unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT, 4); err != nil {
		t.Fatalf("setsockopt(UDP_SEGMENT, 4): %v", errStr(err))
	}
	_, err = sendto(fd, []byte("segmented"), 0, dst)
	wantErrno(t, err, unix.EOPNOTSUPP, "UDP_SEGMENT option over a plugged L3")
	if _, err := sendto(fd, []byte("seg"), 0, dst); err != nil {
		t.Errorf("a send shorter than the UDP_SEGMENT option over a plugged L3: %v", errStr(err))
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT, 0); err != nil {
		t.Fatalf("setsockopt(UDP_SEGMENT, 0): %v", errStr(err))
	}
	if _, err := sendmsgControl(fd, []byte("whole"), udpSegmentCmsg(5), 0, dst); err != nil {
		t.Errorf("a send no longer than its UDP_SEGMENT control message over a plugged L3: %v", errStr(err))
	}
	for _, want := range []string{"seg", "whole"} {
		if msg, _ := readConn(t, lab.sock); msg != want {
			t.Errorf("b read %q, want %q", msg, want)
		}
	}
	wantConnEmpty(t, lab.sock)

	// Without any capability, on a device an administrator did not
	// enable, nothing goes: the device opt-in binds everybody.
	lo := lab.v.A.NS.linkByName(t, "lo")
	lab.v.A.NS.setUp(t, "lo")
	err = withoutCaps(func() error {
		_, err := sendto(fd, []byte("on lo"), 0, saEth(tp, lab.port, lo.Index, make(net.HardwareAddr, 6)))
		return err
	}, allCaps()...)
	wantErrno(t, err, unix.ENETUNREACH, "unprivileged send on a device not enabled")
}

// allCaps lists every capability the kernel knows.
func allCaps() []int {
	caps := make([]int, unix.CAP_LAST_CAP+1)
	for i := range caps {
		caps[i] = i
	}
	return caps
}

// withoutCaps runs f on an OS thread of its own whose effective
// capabilities lack caps (capabilities belong to a thread), and returns
// what f returned. The thread is not reused afterwards.
func withoutCaps(f func() error, caps ...int) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with the goroutine.
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			errc <- fmt.Errorf("capget: %w", err)
			return
		}
		for _, c := range caps {
			data[c/32].Effective &^= 1 << (c % 32)
		}
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			errc <- fmt.Errorf("capset: %w", err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// TestL3Corrupt runs testproto datagrams through netem corrupting every
// frame (one bit flipped): the UDP checksum catches those whose flipped
// bit lies in the datagram, which are dropped and counted (bad_csum), and
// whatever is delivered is exactly what was sent.
func TestL3Corrupt(t *testing.T) {
	const n = 200
	lab := newL3Lab(t)
	raiseRcvbuf(t, lab.sock, 4<<20)
	fd := lab.v.A.NS.socket(t, family, unix.SOCK_DGRAM, 0)
	to := saEth(uint16(mhost.FamilyTestProto), lab.port, lab.v.A.Index, lab.v.B.MAC)
	payload := func(i int) []byte {
		return bytes.Repeat([]byte(fmt.Sprintf("%04d", i)), 250) // 1000 bytes
	}

	// Without corruption everything arrives, so that the frames below
	// are known to make it through otherwise.
	for i := range 8 {
		if _, err := sendto(fd, payload(i), 0, to); err != nil {
			t.Fatalf("sendto: %v", errStr(err))
		}
		if msg, _ := readConn(t, lab.sock); msg != string(payload(i)) {
			t.Fatalf("clean link: datagram %d arrived as %.20q...", i, msg)
		}
	}

	lab.v.A.NS.netem(t, lab.v.A.Index, netemOptions{corrupt: 1})
	before := l3Counters(t, lab.ctlB)
	rx := lab.rxFrames(t)
	for i := range n {
		if _, err := sendto(fd, payload(i), 0, to); err != nil {
			t.Fatalf("sendto through netem: %v", errStr(err))
		}
	}
	// Every frame reaches b's end of the link.
	poll(ioTimeout, func() bool { return lab.rxFrames(t)-rx >= n })
	if got := lab.rxFrames(t) - rx; got != n {
		t.Fatalf("b received %d frames, want %d", got, n)
	}
	var d map[string]uint64
	poll(ioTimeout, func() bool {
		d, _ = l3Delta(before, l3Counters(t, lab.ctlB))
		return d["bad_csum"]+d["delivered"] >= n*3/4
	})
	delivered := 0
	buf := make([]byte, 2048)
	for ; ; delivered++ {
		lab.sock.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		m, _, err := lab.sock.ReadFrom(buf)
		if err != nil {
			break
		}
		if i := atoi4(buf[:m]); i < 0 || i >= n || !bytes.Equal(buf[:m], payload(i)) {
			t.Errorf("a corrupted datagram was delivered: %.40q...", buf[:m])
		}
	}
	t.Logf("%d frames corrupted by netem: %s; %d read", n, l3String(d), delivered)
	if uint64(delivered) != d["delivered"] {
		t.Errorf("read %d datagrams, counted %d delivered", delivered, d["delivered"])
	}
	// A 1000-byte payload is about 97% of the frame: most flipped bits
	// land in what the checksum covers.
	if d["bad_csum"] < n*3/4 {
		t.Errorf("bad_csum moved by %d of %d corrupted frames, want most", d["bad_csum"], n)
	}
}

// atoi4 reads the 4-digit number a payload of TestL3Corrupt repeats, or
// -1 if its first 4 bytes are not one.
func atoi4(b []byte) int {
	if len(b) < 4 {
		return -1
	}
	v := 0
	for _, c := range b[:4] {
		if c < '0' || c > '9' {
			return -1
		}
		v = v*10 + int(c-'0')
	}
	return v
}

// netemOptions are what the tests ask of netem: probabilities from 0 to 1.
type netemOptions struct {
	loss, corrupt float64
}

func netemProb(p float64) uint32 { return uint32(math.Round(p * math.MaxUint32)) }

// netem makes netem the root qdisc of a link of ns, replacing what was
// there, and removes it when the test ends.
func (ns *netNS) netem(t *testing.T, ifindex int, o netemOptions) {
	t.Helper()
	const (
		tcaKind          = 1 // TCA_KIND
		tcaOptions       = 2 // TCA_OPTIONS
		tcaNetemCorrupt  = 4 // TCA_NETEM_CORRUPT
		tcHRoot          = 0xffffffff
		netemHandle      = 0x10000 // 1:
		sizeofTcmsg      = 20
		sizeofNetemQopt  = 24
		defaultNetemLimt = 1000
	)
	tcmsg := func() []byte {
		b := make([]byte, sizeofTcmsg)
		binary.NativeEndian.PutUint32(b[4:], uint32(ifindex))
		binary.NativeEndian.PutUint32(b[8:], netemHandle)
		binary.NativeEndian.PutUint32(b[12:], tcHRoot)
		return b
	}
	// struct tc_netem_qopt, then netem's own attributes.
	qopt := make([]byte, sizeofNetemQopt)
	binary.NativeEndian.PutUint32(qopt[4:], defaultNetemLimt)
	binary.NativeEndian.PutUint32(qopt[8:], netemProb(o.loss))
	nae := netlink.NewAttributeEncoder()
	if o.corrupt > 0 {
		c := make([]byte, 8)
		binary.NativeEndian.PutUint32(c, netemProb(o.corrupt))
		nae.Bytes(tcaNetemCorrupt, c)
	}
	nested, err := nae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	ae := netlink.NewAttributeEncoder()
	ae.String(tcaKind, "netem")
	ae.Bytes(tcaOptions, append(qopt, nested...))
	attrs, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.rtExec(unix.RTM_NEWQDISC, netlink.Create|netlink.Replace, append(tcmsg(), attrs...)); err != nil {
		t.Fatalf("%s: adding netem to link %d: %v", ns.name, ifindex, err)
	}
	t.Cleanup(func() {
		if err := ns.rtExec(unix.RTM_DELQDISC, 0, tcmsg()); err != nil && !errors.Is(err, unix.ENOENT) &&
			!errors.Is(err, unix.ENODEV) && !errors.Is(err, unix.EINVAL) {
			t.Errorf("%s: removing netem from link %d: %v", ns.name, ifindex, err)
		}
	})
}

// TestZerocopy sends with MSG_ZEROCOPY over IPv4 and over testproto and
// reads each completion from the error queue. A plugged L3 always copies
// (its module pushes headers in front of the data), which its completion
// says. On kernels that do not let a socket family see SOL_SOCKET
// options (6.1), the socket layer refuses SO_ZEROCOPY to every family
// but the inet ones, and MSG_ZEROCOPY is then ignored, as everywhere.
func TestZerocopy(t *testing.T) {
	useL3Protos(t, testproto)
	enableL3(t, 0, 1) // testproto over lo
	fd, _ := boundSocket(t)
	err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ZEROCOPY, 1)
	if !kernelAtLeast(t, 6, 12) {
		wantErrno(t, err, unix.EOPNOTSUPP, "setsockopt(SO_ZEROCOPY) where the socket layer refuses it")
		return
	}
	if err != nil {
		t.Fatalf("setsockopt(SO_ZEROCOPY, 1): %v", errStr(err))
	}
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ZEROCOPY); err != nil || v != 1 {
		t.Errorf("getsockopt(SO_ZEROCOPY) = %d, %v; want 1", v, errStr(err))
	}
	rfd, rport := boundSocket(t)
	payload := bytes.Repeat([]byte("z"), 4000)
	for i, to := range []struct {
		name string
		sa   []byte
	}{
		{"IPv4", sa4("127.0.0.1", rport)},
		{"testproto", saLo(uint16(mhost.FamilyTestProto), rport)},
	} {
		t.Run(to.name, func(t *testing.T) {
			if _, err := sendto(fd, payload, unix.MSG_ZEROCOPY, to.sa); err != nil {
				t.Fatalf("sendto(MSG_ZEROCOPY): %v", errStr(err))
			}
			if p, _ := recvOne(t, rfd); !bytes.Equal(p, payload) {
				t.Fatalf("received %d bytes, want the %d sent", len(p), len(payload))
			}
			ee := zerocopyCompletion(t, fd)
			if ee.Info != uint32(i) || ee.Data != uint32(i) {
				t.Errorf("completion covers sends %d..%d, want %d", ee.Info, ee.Data, i)
			}
			if to.name == "testproto" && ee.Code != unix.SO_EE_CODE_ZEROCOPY_COPIED {
				t.Errorf("completion code %d, want SO_EE_CODE_ZEROCOPY_COPIED: the data was copied", ee.Code)
			}
		})
	}
}

// zerocopyCompletion waits for a MSG_ZEROCOPY completion on fd's error
// queue and returns it.
func zerocopyCompletion(t *testing.T, fd int) *unix.SockExtendedErr {
	t.Helper()
	oob := make([]byte, 256)
	var n int
	var err error
	poll(ioTimeout, func() bool {
		_, n, _, _, err = recvmsg(fd, nil, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		return !errors.Is(err, unix.EAGAIN)
	})
	if err != nil {
		t.Fatalf("reading the error queue: %v", errStr(err))
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:n])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("error queue: %d control messages, %v; want one", len(msgs), err)
	}
	m := msgs[0]
	if !(m.Header.Level == unix.SOL_IP && m.Header.Type == unix.IP_RECVERR) &&
		!(m.Header.Level == unix.SOL_IPV6 && m.Header.Type == unix.IPV6_RECVERR) {
		t.Fatalf("error queue: control message %d/%d, want IP_RECVERR or IPV6_RECVERR", m.Header.Level, m.Header.Type)
	}
	if len(m.Data) < int(unsafe.Sizeof(unix.SockExtendedErr{})) {
		t.Fatalf("error queue: %d bytes of sock_extended_err", len(m.Data))
	}
	ee := *(*unix.SockExtendedErr)(unsafe.Pointer(&m.Data[0]))
	if ee.Origin != unix.SO_EE_ORIGIN_ZEROCOPY || ee.Errno != 0 {
		t.Fatalf("error queue: origin %d errno %d, want a zerocopy completion", ee.Origin, ee.Errno)
	}
	return &ee
}

// TestBindToDeviceIP checks SO_BINDTODEVICE on IP, set after bind() on a
// socket that never sends: it receives from its device only, at once,
// as a UDP socket would.
func TestBindToDeviceIP(t *testing.T) {
	a, b := newNetNS(t, "a"), newNetNS(t, "b")
	newVethPair(t, a, b, vethConfig{AddrsA: prefixes("10.0.1.1/24"), AddrsB: prefixes("10.0.1.2/24")})
	v2 := newVethPair(t, a, b, vethConfig{AddrsA: prefixes("10.0.2.1/24"), AddrsB: prefixes("10.0.2.2/24"), Pair: 2})

	rfd := b.socket(t, family, unix.SOCK_DGRAM, 0)
	rport := bindAny(t, rfd)
	if err := unix.SetsockoptString(rfd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, "veth-b"); err != nil {
		t.Fatalf("SO_BINDTODEVICE veth-b: %v", errStr(err))
	}
	sfd := a.socket(t, unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err := unix.SetsockoptInt(sfd, unix.SOL_IP, unix.IP_RECVERR, 1); err != nil {
		t.Fatal(err)
	}
	send := func(to string) {
		t.Helper()
		if _, err := sendto(sfd, []byte("to "+to), 0, sa4(to, rport)); err != nil {
			t.Fatalf("sendto %s: %v", to, errStr(err))
		}
	}
	// Over the other device first: b has no socket for it there and
	// says so (port unreachable), which shows it was dealt with before
	// the datagram that follows on the bound device.
	send("10.0.2.2")
	var err error
	poll(ioTimeout, func() bool {
		_, _, _, _, err = recvmsg(sfd, make([]byte, 64), make([]byte, 256), unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		return !errors.Is(err, unix.EAGAIN)
	})
	if err != nil {
		t.Fatalf("no port unreachable from b over %s: %v", v2.B.Name, errStr(err))
	}
	send("10.0.1.2")
	p, _ := recvOne(t, rfd)
	if string(p) != "to 10.0.1.2" {
		t.Errorf("read %q: the socket bound to veth-b took a datagram from %s", p, v2.B.Name)
	}
	wantEmpty(t, rfd)
}
