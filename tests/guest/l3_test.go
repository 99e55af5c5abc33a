//go:build guest

package guest_test

// Plugged-in network layers: the example protocols of kmod/protos
// (mhost_testproto, family 1, and mhost_otherproto, family 3) between two
// namespaces joined by a veth pair and on loopback; IP and plugged layers
// on one socket; host-id failover when a protocol module goes away; and
// the receive path's handling of malformed ETH_P_MHOST frames, injected
// with an AF_PACKET socket.
//
// The protocol modules are not loaded at boot: each test loads what it
// needs from where the harness installs them and leaves them as it found
// them.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhost"
	"github.com/mnet/mnet/gosdk/mhostnl"
)

// ---- the protocol modules ----

// Where the harness installs this repository's modules in the guest.
const l3ModDir = "/lib/modules/extra"

const (
	testproto  = "mhost_testproto"
	otherproto = "mhost_otherproto"
)

// l3Name is the protocol name of the example families.
var l3Name = map[uint16]string{
	mhost.FamilyTestProto:  "testproto",
	mhost.FamilyOtherProto: "otherproto",
}

func l3ModLoaded(name string) bool {
	b, err := os.ReadFile("/sys/module/" + name + "/initstate")
	return err == nil && strings.TrimSpace(string(b)) == "live"
}

// l3ModLoad inserts a module of ours with finit_module.
func l3ModLoad(name string) error {
	f, err := os.Open(filepath.Join(l3ModDir, name+".ko"))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil {
		return fmt.Errorf("finit_module(%s): %w", f.Name(), err)
	}
	return nil
}

// l3ModUnload removes a module without waiting for its users to go: it
// fails if the module is in use, after a few tries.
func l3ModUnload(name string) error {
	for try := 0; ; try++ {
		err := unix.DeleteModule(name, unix.O_NONBLOCK)
		if err == nil || try == 20 || !(errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EBUSY)) {
			if err != nil {
				return fmt.Errorf("delete_module(%s): %w", name, err)
			}
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// useL3Protos loads the protocol modules the test needs and, when it
// ends, puts each back as the test found it: loaded or not.
func useL3Protos(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		was := l3ModLoaded(name)
		if !was {
			if err := l3ModLoad(name); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() {
			switch now := l3ModLoaded(name); {
			case was && !now:
				if err := l3ModLoad(name); err != nil {
					t.Errorf("loading %s back: %v", name, err)
				}
			case !was && now:
				if err := l3ModUnload(name); err != nil {
					t.Errorf("unloading %s: %v", name, err)
				}
			}
		})
	}
}

// protoCounters returns the tx and rx counters of each network layer.
func protoCounters(t *testing.T, c *mhostnl.Client) map[mhostnl.Family][2]uint64 {
	t.Helper()
	ps, err := c.Protocols()
	if err != nil {
		t.Fatalf("Protocols: %v", err)
	}
	m := map[mhostnl.Family][2]uint64{}
	for _, p := range ps {
		m[p.Family] = [2]uint64{p.TxPackets, p.RxPackets}
	}
	return m
}

// ---- counters of the receive path ----

// l3Reasons names the receive counters of plugged layers as the
// mhost_drop tracepoint names the reasons, "delivered" first.
var l3Reasons = []string{"delivered", "short", "unknown_family", "bad_header", "bad_len", "truncated", "no_socket", "bad_csum"}

// l3Counters returns the plugged-layer receive counters of a namespace.
func l3Counters(t *testing.T, c *mhostnl.Client) map[string]uint64 {
	t.Helper()
	s, err := c.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return map[string]uint64{
		"delivered":      s.RxL3,
		"short":          s.RxL3Short,
		"unknown_family": s.RxL3Unknown,
		"bad_header":     s.RxL3BadHeader,
		"bad_len":        s.RxL3BadLen,
		"truncated":      s.RxL3Truncated,
		"no_socket":      s.RxL3NoSocket,
		"bad_csum":       s.RxL3BadCsum,
	}
}

// l3Delta returns after - before, counter by counter, and their sum.
func l3Delta(before, after map[string]uint64) (map[string]uint64, uint64) {
	d, sum := map[string]uint64{}, uint64(0)
	for _, k := range l3Reasons {
		d[k] = after[k] - before[k]
		sum += d[k]
	}
	return d, sum
}

func l3String(m map[string]uint64) string {
	var s []string
	for _, k := range l3Reasons {
		s = append(s, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(s, " ")
}

// ---- frames ----

func be16(v int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }

func cat(bs ...[]byte) []byte { return slices.Concat(bs...) }

// udpHdr is a UDP header with its checksum still 0: see withCsum.
func udpHdr(sport, dport, ulen int) []byte {
	return cat(be16(sport), be16(dport), be16(ulen), be16(0))
}

// l3Csum is the UDP checksum of a plugged-L3 datagram, as the UAPI
// header defines it: the ones' complement of the ones' complement sum of
// a pseudo-header (the L3 family and the UDP length, big-endian) and of
// the UDP header (checksum 0) and payload; 0 is sent as 0xffff.
func l3Csum(family uint16, udp []byte) uint16 {
	sum := uint32(family) + uint32(len(udp))
	for i := 0; i < len(udp); i += 2 {
		w := uint32(udp[i]) << 8
		if i+1 < len(udp) {
			w |= uint32(udp[i+1])
		}
		sum += w
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	if c := ^uint16(sum); c != 0 {
		return c
	}
	return 0xffff
}

// withCsum fills in the UDP checksum of a testproto or otherproto frame
// whose UDP length fits in it, and returns the frame; others are left
// alone (they are dropped before the checksum is looked at).
func withCsum(b []byte) []byte {
	if len(b) < 2 {
		return b
	}
	var off int
	switch family := binary.BigEndian.Uint16(b); family {
	case mhost.FamilyTestProto:
		off = 4
	case mhost.FamilyOtherProto:
		off = 8
	default:
		return b
	}
	if len(b) < off+8 {
		return b
	}
	ulen := int(binary.BigEndian.Uint16(b[off+4:]))
	if ulen < 8 || off+ulen > len(b) {
		return b
	}
	udp := b[off : off+ulen]
	binary.BigEndian.PutUint16(udp[6:], 0)
	binary.BigEndian.PutUint16(udp[6:], l3Csum(binary.BigEndian.Uint16(b), udp))
	return b
}

// tpHdr is a testproto header: family 1 and the length of it and all
// that follows.
func tpHdr(l3len int) []byte { return cat(be16(mhost.FamilyTestProto), be16(l3len)) }

// opHdr is an otherproto header: family 3, version, hop limit, length,
// reserved.
func opHdr(version, hops byte, l3len, reserved int) []byte {
	return cat(be16(mhost.FamilyOtherProto), []byte{version, hops}, be16(l3len), be16(reserved))
}

// l3Packet is a well-formed datagram of an example family: L3 header, UDP
// header, payload.
func l3Packet(family uint16, sport, dport int, payload []byte) []byte {
	udp := cat(udpHdr(sport, dport, 8+len(payload)), payload)
	if family == mhost.FamilyOtherProto {
		return withCsum(cat(opHdr(1, 16, 8+len(udp), 0), udp))
	}
	return withCsum(cat(tpHdr(4+len(udp)), udp))
}

// An ethSender injects Ethernet frames of type ETH_P_MHOST on one link
// through an AF_PACKET socket.
type ethSender struct {
	fd      int
	ifindex int
	hdr     []byte // destination, source, ethertype
	frame   []byte
}

// newEthSender opens a packet socket that sends on the link ifindex of ns
// (nil: the test's own namespace) frames from src to dst. It is bound to
// no protocol, so it receives nothing.
func newEthSender(t *testing.T, ns *netNS, ifindex int, src, dst net.HardwareAddr) *ethSender {
	t.Helper()
	var fd int
	if ns != nil {
		fd = ns.socket(t, unix.AF_PACKET, unix.SOCK_RAW, 0)
	} else {
		fd = socketOf(t, unix.AF_PACKET, unix.SOCK_RAW, 0)
	}
	return &ethSender{fd: fd, ifindex: ifindex, hdr: cat(dst, src, be16(mhost.EtherType))}
}

// send sends one frame carrying l3 after the Ethernet header.
func (s *ethSender) send(l3 []byte) error {
	s.frame = append(append(s.frame[:0], s.hdr...), l3...)
	return unix.Sendto(s.fd, s.frame, 0, &unix.SockaddrLinklayer{
		Protocol: binary.NativeEndian.Uint16(be16(mhost.EtherType)),
		Ifindex:  s.ifindex,
	})
}

// ---- addresses ----

// sameAddr reports whether got is want: same type, same fields, an IP of
// the same length.
func sameAddr(got, want net.Addr) bool {
	if w, ok := want.(*net.UDPAddr); ok {
		g, ok := got.(*net.UDPAddr)
		return ok && g.IP.Equal(w.IP) && len(g.IP) == len(w.IP) && g.Port == w.Port && g.Zone == w.Zone
	}
	return reflect.DeepEqual(got, want)
}

func ethAddr(family uint16, port, ifindex int, mac net.HardwareAddr) *mhost.EthAddr {
	return &mhost.EthAddr{Family: family, Port: uint16(port), Ifindex: ifindex, MAC: mac}
}

func udpAddr(ip string, port int) *net.UDPAddr {
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), uint16(port)))
}

// wantFrom fails the test unless a datagram's source is want.
func wantFrom(t *testing.T, what string, got, want net.Addr) {
	t.Helper()
	if !sameAddr(got, want) {
		t.Fatalf("%s = %#v (%v), want %v", what, got, got, want)
	}
}

// exchange sends a request from client to server over family and the
// answer back to where the request came from, and checks both sources.
func exchange(t *testing.T, family uint16, client *mhost.Conn, cl vethEnd, server *mhost.Conn, sv vethEnd) {
	t.Helper()
	cport, sport := portOf(t, client), portOf(t, server)
	req := fmt.Sprintf("request over %s from %s", l3Name[family], cl.NS.name)
	if _, err := client.WriteTo([]byte(req), ethAddr(family, sport, cl.Index, sv.MAC)); err != nil {
		t.Fatalf("%s: WriteTo: %v", cl.NS.name, err)
	}
	got, from := readConn(t, server)
	if got != req {
		t.Fatalf("%s read %q, want %q", sv.NS.name, got, req)
	}
	// Arrived on the server's end of the link, from the client's MAC.
	wantFrom(t, sv.NS.name+": request source", from, ethAddr(family, cport, sv.Index, cl.MAC))

	resp := "response to " + req
	if _, err := server.WriteTo([]byte(resp), from); err != nil {
		t.Fatalf("%s: answering %v: %v", sv.NS.name, from, err)
	}
	got, from = readConn(t, client)
	if got != resp {
		t.Fatalf("%s read %q, want %q", cl.NS.name, got, resp)
	}
	wantFrom(t, cl.NS.name+": response source", from, ethAddr(family, sport, cl.Index, sv.MAC))
}

// ---- tests ----

// TestL3NoIP has two namespaces with no IP configured at all talk over
// testproto and otherproto, each side asking and the other answering.
func TestL3NoIP(t *testing.T) {
	useL3Protos(t, testproto, otherproto)
	a, b := newNetNS(t, "a"), newNetNS(t, "b")
	v := newVethPair(t, a, b, vethConfig{NoIPv6: true, L3: true})
	for _, ns := range []*netNS{a, b} {
		if addrs := ns.addrs(t); len(addrs) != 0 {
			t.Fatalf("namespace %s has addresses %v, want none", ns.name, addrs)
		}
	}
	for _, e := range []vethEnd{v.A, v.B} {
		if got := e.NS.readSysctl(t, "net/ipv6/conf/"+e.Name+"/disable_ipv6"); got != "1" {
			t.Fatalf("%s: disable_ipv6 = %s, want 1", e.Name, got)
		}
	}

	ctlA, ctlB := a.control(t), b.control(t)
	protos0 := protoCounters(t, ctlA)
	statsA0, statsB0 := l3Counters(t, ctlA), l3Counters(t, ctlB)
	linkA0, linkB0 := a.link(t, v.A.Index).Stats, b.link(t, v.B.Index).Stats
	txA0, txB0 := stat(t, ctlA).TxL3, stat(t, ctlB).TxL3

	ca, cb := a.listen(t), b.listen(t)
	for _, family := range []uint16{mhost.FamilyTestProto, mhost.FamilyOtherProto} {
		t.Run(l3Name[family], func(t *testing.T) {
			exchange(t, family, ca, v.A, cb, v.B)
			exchange(t, family, cb, v.B, ca, v.A)
		})
	}
	if t.Failed() {
		return
	}

	// Each namespace sent and received 2 datagrams per protocol, each
	// protocol carried 4, and nothing else crossed the link.
	for _, s := range []struct {
		end   vethEnd
		ctl   *mhostnl.Client
		rx0   map[string]uint64
		tx0   uint64
		link0 rtLinkStats
	}{
		{v.A, ctlA, statsA0, txA0, linkA0},
		{v.B, ctlB, statsB0, txB0, linkB0},
	} {
		ns := s.end.NS
		// A datagram is counted just after its reader is woken.
		var d map[string]uint64
		poll(ioTimeout, func() bool {
			d, _ = l3Delta(s.rx0, l3Counters(t, s.ctl))
			return d["delivered"] >= 4
		})
		if !l3Equal(d, map[string]uint64{"delivered": 4}) {
			t.Errorf("namespace %s: receive counters moved by %s, want delivered=4 only", ns.name, l3String(d))
		}
		if tx := stat(t, s.ctl).TxL3 - s.tx0; tx != 4 {
			t.Errorf("namespace %s: TxL3 moved by %d, want 4", ns.name, tx)
		}
		l := ns.link(t, s.end.Index).Stats
		if rx, tx := l.RxPackets-s.link0.RxPackets, l.TxPackets-s.link0.TxPackets; rx != 4 || tx != 4 {
			t.Errorf("%s: %d frames received and %d sent, want 4 and 4: the datagrams and nothing else", s.end.Name, rx, tx)
		}
	}
	// In a's namespace, each protocol carried a question and an answer
	// each way.
	protos := protoCounters(t, ctlA) // counted before "delivered" moved
	for _, f := range []mhostnl.Family{mhost.FamilyTestProto, mhost.FamilyOtherProto} {
		if tx, rx := protos[f][0]-protos0[f][0], protos[f][1]-protos0[f][1]; tx != 2 || rx != 2 {
			t.Errorf("namespace a, protocol %v: tx %d rx %d, want 2 and 2", f, tx, rx)
		}
	}
}

// stat returns the counters of a namespace.
func stat(t *testing.T, c *mhostnl.Client) *mhostnl.Stats {
	t.Helper()
	s, err := c.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return s
}

// l3Equal reports whether the counters d are want, those want does not
// name being 0.
func l3Equal(d, want map[string]uint64) bool {
	for _, k := range l3Reasons {
		if d[k] != want[k] {
			return false
		}
	}
	return true
}

// TestL3Loopback sends over testproto and otherproto to this host: the
// loopback device, index 1, and the all-zero MAC, as the original mnet
// did.
func TestL3Loopback(t *testing.T) {
	useL3Protos(t, testproto, otherproto)
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if lo.Index != 1 {
		t.Fatalf("lo has index %d, want 1", lo.Index)
	}
	enableL3(t, 0, lo.Index)
	zero := make(net.HardwareAddr, 6)
	for _, family := range []uint16{mhost.FamilyTestProto, mhost.FamilyOtherProto} {
		t.Run(l3Name[family], func(t *testing.T) {
			server, client := listen(t), listen(t)
			sport, cport := portOf(t, server), portOf(t, client)
			if _, err := client.WriteTo([]byte("over lo"), ethAddr(family, sport, 1, zero)); err != nil {
				t.Fatalf("WriteTo: %v", err)
			}
			msg, from := readConn(t, server)
			if msg != "over lo" {
				t.Fatalf("read %q", msg)
			}
			wantFrom(t, "source", from, ethAddr(family, cport, 1, zero))
			if got := mhost.NetworkLayer(from); got != l3Name[family] {
				t.Errorf("NetworkLayer(%v) = %q", from, got)
			}
			if _, err := server.WriteTo([]byte("and back"), from); err != nil {
				t.Fatalf("answering %v: %v", from, err)
			}
			msg, from = readConn(t, client)
			if msg != "and back" {
				t.Fatalf("read %q", msg)
			}
			wantFrom(t, "answer source", from, ethAddr(family, sport, 1, zero))
		})
	}
}

// TestL3SendBuffer sends more over testproto to another namespace than
// the sender's send buffer holds, with the receiver reading all of it,
// and checks that the sender never stalls and that its send buffer is
// empty again at the end: a datagram stops counting against its sender
// once it is sent, at the latest once it is received and read.
func TestL3SendBuffer(t *testing.T) {
	const (
		count = 1000
		size  = 1000
	)
	useL3Protos(t, testproto)
	a, b := newNetNS(t, "a"), newNetNS(t, "b")
	v := newVethPair(t, a, b, vethConfig{NoIPv6: true, L3: true})
	ca, cb := a.listen(t), b.listen(t)
	raiseRcvbuf(t, cb, 8<<20)
	afd, bfd := fdOf(t, ca), fdOf(t, cb)
	sndbuf := meminfo(t, afd)[unix.SK_MEMINFO_SNDBUF]

	var (
		read    atomic.Int64
		sent    atomic.Bool
		readErr error
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2*size)
		for read.Load() < count {
			cb.SetReadDeadline(time.Now().Add(time.Second))
			_, _, err := cb.ReadFrom(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) && !sent.Load() {
				continue
			}
			if err != nil {
				readErr = err
				return
			}
			read.Add(1)
		}
	}()

	dst := ethAddr(mhost.FamilyTestProto, portOf(t, cb), v.A.Index, v.B.MAC)
	payload := make([]byte, size)
	for i := range count {
		// A stall is one write that blocks: the debug lane's kernel
		// takes longer than ioTimeout for all of them.
		ca.SetWriteDeadline(deadline())
		if _, err := ca.WriteTo(payload, dst); err != nil {
			t.Fatalf("datagram %d of %d bytes: %v; %d read by b so far, %d bytes charged to the sender, whose send buffer is %d bytes",
				i, size, err, read.Load(), meminfo(t, afd)[unix.SK_MEMINFO_WMEM_ALLOC], sndbuf)
		}
	}
	sent.Store(true)
	<-done
	if drops := meminfo(t, bfd)[unix.SK_MEMINFO_DROPS]; read.Load()+int64(drops) != count {
		t.Errorf("%d datagrams sent, %d read and %d dropped by the receiver (%v)", count, read.Load(), drops, readErr)
	}
	var wmem uint32
	for end := time.Now().Add(time.Second); ; time.Sleep(20 * time.Millisecond) {
		if wmem = meminfo(t, afd)[unix.SK_MEMINFO_WMEM_ALLOC]; wmem == 0 || time.Now().After(end) {
			break
		}
	}
	if wmem != 0 {
		t.Errorf("%d datagrams sent and read: %d bytes still charged to the sender", count, wmem)
	}
}

// raiseRcvbuf gives a Conn a receive buffer that holds what a test sends
// it in a burst.
func raiseRcvbuf(t *testing.T, c *mhost.Conn, bytes int) {
	t.Helper()
	if err := unix.SetsockoptInt(fdOf(t, c), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, bytes); err != nil {
		t.Fatalf("setsockopt(SO_RCVBUFFORCE, %d): %v", bytes, errStr(err))
	}
}

// seqPayload is a datagram numbered seq.
func seqPayload(seq int) []byte {
	return binary.BigEndian.AppendUint32([]byte("seq "), uint32(seq))
}

// payloadSeq returns the number of a datagram seqPayload made, or -1.
func payloadSeq(p []byte) int {
	if len(p) != 8 || string(p[:4]) != "seq " {
		return -1
	}
	return int(binary.BigEndian.Uint32(p[4:]))
}

// TestL3Interleaved has one socket talk to one peer over IPv4, IPv6,
// testproto and otherproto in turn, 200 datagrams sent back to back, and
// checks that each arrives once, from the right address of its layer,
// and that the peer's echo of it comes back the same way.
func TestL3Interleaved(t *testing.T) {
	const count = 200
	useL3Protos(t, testproto, otherproto)
	a, b := newNetNS(t, "a"), newNetNS(t, "b")
	v := newVethPair(t, a, b, vethConfig{
		AddrsA: prefixes("10.0.0.1/24", "fd00::1/64"),
		AddrsB: prefixes("10.0.0.2/24", "fd00::2/64"),
		L3:     true,
	})
	ca, cb := a.listen(t), b.listen(t)
	pa, pb := portOf(t, ca), portOf(t, cb)
	raiseRcvbuf(t, ca, 4<<20)
	raiseRcvbuf(t, cb, 4<<20)
	ctlA, ctlB := a.control(t), b.control(t)
	protosA0, protosB0 := protoCounters(t, ctlA), protoCounters(t, ctlB)

	// Destinations and sources by seq % 4: from a's view and b's.
	layers := []string{"IPv4", "IPv6", "testproto", "otherproto"}
	toB := []net.Addr{
		udpAddr("10.0.0.2", pb), udpAddr("fd00::2", pb),
		ethAddr(mhost.FamilyTestProto, pb, v.A.Index, v.B.MAC), ethAddr(mhost.FamilyOtherProto, pb, v.A.Index, v.B.MAC),
	}
	fromA := []net.Addr{
		udpAddr("10.0.0.1", pa), udpAddr("fd00::1", pa),
		ethAddr(mhost.FamilyTestProto, pa, v.B.Index, v.A.MAC), ethAddr(mhost.FamilyOtherProto, pa, v.B.Index, v.A.MAC),
	}

	// b echoes every datagram back to its source.
	var (
		echoErrs []string
		echoed   [count]int
	)
	echoDone := make(chan struct{})
	go func() {
		defer close(echoDone)
		buf := make([]byte, 64)
		for n := 0; n < count; n++ {
			cb.SetReadDeadline(deadline())
			m, from, err := cb.ReadFrom(buf)
			if err != nil {
				echoErrs = append(echoErrs, fmt.Sprintf("b: datagram %d of %d: %v", n+1, count, err))
				return
			}
			seq := payloadSeq(buf[:m])
			if seq < 0 || seq >= count {
				echoErrs = append(echoErrs, fmt.Sprintf("b: unexpected datagram %q from %v", buf[:m], from))
				continue
			}
			echoed[seq]++
			if !sameAddr(from, fromA[seq%4]) {
				echoErrs = append(echoErrs, fmt.Sprintf("b: datagram %d (%s) from %v, want %v", seq, layers[seq%4], from, fromA[seq%4]))
			}
			if _, err := cb.WriteTo(buf[:m], from); err != nil {
				echoErrs = append(echoErrs, fmt.Sprintf("b: echoing %d to %v: %v", seq, from, err))
			}
		}
	}()

	for seq := range count {
		if _, err := ca.WriteTo(seqPayload(seq), toB[seq%4]); err != nil {
			t.Fatalf("a: sending %d to %v: %v", seq, toB[seq%4], err)
		}
	}
	var back [count]int
	buf := make([]byte, 64)
	for n := 0; n < count; n++ {
		ca.SetReadDeadline(deadline())
		m, from, err := ca.ReadFrom(buf)
		if err != nil {
			t.Errorf("a: echo %d of %d: %v", n+1, count, err)
			break
		}
		seq := payloadSeq(buf[:m])
		if seq < 0 || seq >= count {
			t.Errorf("a: unexpected datagram %q from %v", buf[:m], from)
			continue
		}
		back[seq]++
		if !sameAddr(from, toB[seq%4]) {
			t.Errorf("a: echo of %d (%s) from %v, want %v", seq, layers[seq%4], from, toB[seq%4])
		}
	}
	<-echoDone
	for _, e := range echoErrs {
		t.Error(e)
	}
	for seq := range count {
		if echoed[seq] != 1 || back[seq] != 1 {
			t.Errorf("datagram %d (%s): received %d times by b, its echo %d times by a; want once each", seq, layers[seq%4], echoed[seq], back[seq])
		}
	}
	// Nothing more is on its way.
	time.Sleep(100 * time.Millisecond)
	for _, c := range []*mhost.Conn{ca, cb} {
		wantConnEmpty(t, c)
	}

	// Each namespace counts what it sent and received over each layer,
	// the plugged ones included, and a namespace that took no part
	// counts nothing.
	per := uint64(count / 4)
	for _, s := range []struct {
		ns  string
		ctl *mhostnl.Client
		p0  map[mhostnl.Family][2]uint64
	}{{"a", ctlA, protosA0}, {"b", ctlB, protosB0}} {
		p := protoCounters(t, s.ctl)
		for _, f := range []mhostnl.Family{mhostnl.FamilyInet, mhostnl.FamilyInet6, mhost.FamilyTestProto, mhost.FamilyOtherProto} {
			if tx, rx := p[f][0]-s.p0[f][0], p[f][1]-s.p0[f][1]; tx != per || rx != per {
				t.Errorf("namespace %s, %v: tx %d rx %d, want %d and %d", s.ns, f, tx, rx, per, per)
			}
		}
	}
	p := protoCounters(t, newNetNS(t, "c").control(t))
	for _, f := range []mhostnl.Family{mhostnl.FamilyInet, mhostnl.FamilyInet6, mhost.FamilyTestProto, mhost.FamilyOtherProto} {
		if p[f] != [2]uint64{} {
			t.Errorf("a namespace that sent nothing: %v: tx %d rx %d, want 0 and 0", f, p[f][0], p[f][1])
		}
	}
}

// TestL3HostIDFailover sends to a host id whose first locator is
// testproto and second IPv6, removes the testproto module in the middle
// of it, and checks that no send fails, that IPv6 carries what follows,
// and that the receiver names the host throughout.
func TestL3HostIDFailover(t *testing.T) {
	const (
		hid         = 4242
		beforeCount = 100 // datagrams testproto carries before the removal
		afterCount  = 200 // datagrams sent after the removal
	)
	useL3Protos(t, testproto)
	a, b := newNetNS(t, "a"), newNetNS(t, "b")
	v := newVethPair(t, a, b, vethConfig{AddrsA: prefixes("fd00::1/64"), AddrsB: prefixes("fd00::2/64"), L3: true})
	ctlA, ctlB := a.control(t), b.control(t)
	// a knows b as the host hid: testproto on a's end of the link first,
	// IPv6 second. b knows a the same way, to name what it receives.
	for _, h := range []struct {
		ctl  *mhostnl.Client
		self vethEnd
		peer vethEnd
		ip   string
	}{{ctlA, v.A, v.B, "fd00::2"}, {ctlB, v.B, v.A, "fd00::1"}} {
		err := h.ctl.AddHost(mhostnl.Host{ID: hid, Locators: []mhostnl.Locator{
			{Family: mhost.FamilyTestProto, Raw: h.peer.MAC, Ifindex: h.self.Index},
			{Addr: netip.MustParseAddr(h.ip)},
		}})
		if err != nil {
			t.Fatalf("namespace %s: AddHost: %v", h.self.NS.name, err)
		}
	}
	statsA0, statsB0 := stat(t, ctlA), stat(t, ctlB)

	sender := a.listen(t)
	sport := portOf(t, sender)
	// Even datagrams go to a receiver that asks for host ids, odd ones
	// to one that does not.
	recv := [2]*mhost.Conn{b.listen(t), b.listen(t)}
	if err := recv[0].SetRecvHostID(true); err != nil {
		t.Fatal(err)
	}
	ports := [2]int{portOf(t, recv[0]), portOf(t, recv[1])}

	type arrival struct {
		seq  int
		from net.Addr
	}
	var (
		arrivals [2][]arrival
		received atomic.Int64
		stopRecv atomic.Bool
		recvErrs [2]error
		wg       sync.WaitGroup
	)
	for i, c := range recv {
		raiseRcvbuf(t, c, 4<<20)
		wg.Go(func() {
			buf := make([]byte, 64)
			for {
				c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				n, from, err := c.ReadFrom(buf)
				if errors.Is(err, os.ErrDeadlineExceeded) {
					if stopRecv.Load() {
						return
					}
					continue
				}
				if err != nil {
					recvErrs[i] = err
					return
				}
				arrivals[i] = append(arrivals[i], arrival{payloadSeq(buf[:n]), from})
				received.Add(1)
			}
		})
	}

	var sent atomic.Int64
	stopSend := make(chan struct{})
	sendErr := make(chan error, 1)
	go func() {
		for seq := 0; ; seq++ {
			select {
			case <-stopSend:
				sendErr <- nil
				return
			default:
			}
			dst := &mhost.HostAddr{ID: hid, Port: uint16(ports[seq%2])}
			if _, err := sender.WriteTo(seqPayload(seq), dst); err != nil {
				sendErr <- fmt.Errorf("datagram %d to %v: %w", seq, dst, err)
				return
			}
			sent.Store(int64(seq + 1))
			time.Sleep(200 * time.Microsecond)
		}
	}()
	stopSending := func() error {
		close(stopSend)
		return <-sendErr
	}
	locators := func() []mhostnl.Locator {
		h, err := ctlA.Host(hid)
		if err != nil || len(h.Locators) != 2 {
			t.Fatalf("Host(%d) = %+v, %v", hid, h, err)
		}
		return h.Locators
	}

	// testproto carries the traffic while its module is there.
	var locs []mhostnl.Locator
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if locs = locators(); locs[0].TxPackets >= beforeCount {
			break
		}
		if time.Now().After(end) {
			stopSending()
			t.Fatalf("testproto carried %d datagrams in 30s (%d sent), want %d", locs[0].TxPackets, sent.Load(), beforeCount)
		}
	}
	if locs[1].TxPackets != 0 || locs[0].TxErrors != 0 {
		stopSending()
		t.Fatalf("before the removal: locators %v, want all on testproto without errors", locs)
	}

	// Pull the module from under the sender.
	removeErr := l3ModUnload(testproto)
	removedAt := int(sent.Load())
	for end := time.Now().Add(30 * time.Second); sent.Load() < int64(removedAt+afterCount); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			break
		}
	}
	err := stopSending()
	if removeErr != nil {
		t.Fatalf("removing %s while sending: %v", testproto, removeErr)
	}
	if err != nil {
		t.Errorf("a send failed: %v", err)
	}
	total := int(sent.Load())
	if total < removedAt+afterCount {
		t.Errorf("only %d datagrams sent after the removal, want %d", total-removedAt, afterCount)
	}

	// Everything sent arrives, but what b received over testproto after
	// the protocol left it, which b counts as of an unknown family.
	lost := func() int { return int(stat(t, ctlB).RxL3Unknown - statsB0.RxL3Unknown) }
	for end := time.Now().Add(ioTimeout); int(received.Load())+lost() < total && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // and nothing more
	stopRecv.Store(true)
	wg.Wait()
	for i, err := range recvErrs {
		if err != nil {
			t.Errorf("receiver %d: %v", i, err)
		}
	}

	// The locators say where each datagram went: the sends are
	// sequential, so the first ones over testproto, the rest over IPv6.
	locs = locators()
	overTP := int(locs[0].TxPackets)
	t.Logf("%d datagrams: %d over testproto, %d over IPv6 (%d sent before the module was gone); %d lost in flight",
		total, overTP, locs[1].TxPackets, removedAt, lost())
	if int(locs[1].TxPackets) != total-overTP || int(locs[0].TxErrors) != total-overTP || locs[1].TxErrors != 0 {
		t.Errorf("locators %v after %d datagrams: want the testproto one failing once for each the IPv6 one carried", locs, total)
	}
	if overTP < beforeCount || overTP > removedAt+1 {
		t.Errorf("testproto carried %d datagrams, want between %d and %d", overTP, beforeCount, removedAt+1)
	}
	statsA := stat(t, ctlA)
	if tx, fo, un := statsA.TxHostID-statsA0.TxHostID, statsA.TxFailover-statsA0.TxFailover, statsA.TxUnreach-statsA0.TxUnreach; int(tx) != total || int(fo) != total-overTP || un != 0 {
		t.Errorf("namespace a: TxHostID %d, TxFailover %d, TxUnreach %d; want %d, %d, 0", tx, fo, un, total, total-overTP)
	}

	seen := make([]int, total)
	for i, as := range arrivals {
		for _, ar := range as {
			if ar.seq < 0 || ar.seq >= total || ar.seq%2 != i {
				t.Errorf("receiver %d: unexpected datagram %d from %v", i, ar.seq, ar.from)
				continue
			}
			seen[ar.seq]++
			var want net.Addr
			switch {
			case i == 0:
				want = &mhost.HostAddr{ID: hid, Port: uint16(sport)}
			case ar.seq < overTP:
				want = ethAddr(mhost.FamilyTestProto, sport, v.B.Index, v.A.MAC)
			default:
				want = udpAddr("fd00::1", sport)
			}
			if !sameAddr(ar.from, want) {
				t.Errorf("datagram %d from %v, want %v", ar.seq, ar.from, want)
			}
		}
	}
	missing := 0
	for seq, n := range seen {
		switch {
		case n > 1:
			t.Errorf("datagram %d received %d times", seq, n)
		case n == 0 && seq >= overTP:
			t.Errorf("datagram %d, sent over IPv6, never arrived", seq)
		case n == 0:
			missing++
		}
	}
	if missing != lost() {
		t.Errorf("%d datagrams sent over testproto did not arrive; b counted %d frames of an unknown family", missing, lost())
	}

	// The module comes back, and with it the first locator.
	if err := l3ModLoad(testproto); err != nil {
		t.Fatalf("loading %s again: %v", testproto, err)
	}
	if _, ok := protoCounters(t, ctlA)[mhost.FamilyTestProto]; !ok {
		t.Fatalf("testproto is loaded again but not registered")
	}
	if _, err := sender.WriteTo([]byte("back on testproto"), &mhost.HostAddr{ID: hid, Port: uint16(ports[1])}); err != nil {
		t.Fatal(err)
	}
	msg, from := readConn(t, recv[1])
	if msg != "back on testproto" {
		t.Fatalf("read %q", msg)
	}
	wantFrom(t, "source after reloading", from, ethAddr(mhost.FamilyTestProto, sport, v.B.Index, v.A.MAC))
}

// l3Lab is a veth pair without IP between a and b, where a injects raw
// frames towards b, which has an AF_MHOST socket bound.
type l3Lab struct {
	v      *vethPair
	ctlB   *mhostnl.Client
	tx     *ethSender
	sock   *mhost.Conn
	port   int
	frames int // the frames b received so far, per its link counters
}

func newL3Lab(t *testing.T) *l3Lab {
	t.Helper()
	useL3Protos(t, testproto, otherproto)
	a, b := newNetNS(t, "a"), newNetNS(t, "b")
	lab := &l3Lab{v: newVethPair(t, a, b, vethConfig{NoIPv6: true, L3: true})}
	lab.ctlB = b.control(t)
	lab.tx = newEthSender(t, a, lab.v.A.Index, lab.v.A.MAC, lab.v.B.MAC)
	lab.sock = b.listen(t)
	lab.port = portOf(t, lab.sock)
	return lab
}

// rxFrames returns how many frames b's end of the link has received.
func (lab *l3Lab) rxFrames(t *testing.T) uint64 {
	t.Helper()
	return lab.v.B.NS.link(t, lab.v.B.Index).Stats.RxPackets
}

// TestL3Drops injects one malformed frame of each kind and checks that
// b's namespace counts it under its reason and nowhere else, and that
// well-formed frames are delivered.
func TestL3Drops(t *testing.T) {
	lab := newL3Lab(t)
	const sport = 5555
	p := lab.port
	tp, op := int(mhost.FamilyTestProto), int(mhost.FamilyOtherProto)
	udp := func(dport, ulen int, payload string) []byte { return cat(udpHdr(sport, dport, ulen), []byte(payload)) }
	cases := []struct {
		name    string
		l3      []byte
		counter string
		payload string // for delivered frames
	}{
		{"no L3 at all", nil, "short", ""},
		{"1 byte of L3", []byte{0}, "short", ""},
		{"unknown family 42", cat(be16(42), be16(12), udp(p, 8, "")), "unknown_family", ""},
		{"family 0", cat(be16(0), be16(12), udp(p, 8, "")), "unknown_family", ""},
		{"family 65535", cat(be16(0xffff), be16(12), udp(p, 8, "")), "unknown_family", ""},
		{"family 2 (AF_INET is no plugged L3)", cat(be16(2), be16(12), udp(p, 8, "")), "unknown_family", ""},
		{"testproto header cut", cat(be16(tp), []byte{0}), "bad_header", ""},
		{"testproto len 3", cat(tpHdr(3), udp(p, 8, "")), "bad_header", ""},
		{"testproto len 0", cat(tpHdr(0), udp(p, 8, "")), "bad_header", ""},
		{"testproto len beyond the frame", cat(tpHdr(13), udp(p, 8, "")), "bad_header", ""},
		{"otherproto header cut", cat(be16(op), []byte{1, 16, 0, 8, 0}), "bad_header", ""},
		{"otherproto version 2", cat(opHdr(2, 16, 16, 0), udp(p, 8, "")), "bad_header", ""},
		{"otherproto version 0", cat(opHdr(0, 16, 16, 0), udp(p, 8, "")), "bad_header", ""},
		{"otherproto hop limit 0", cat(opHdr(1, 0, 16, 0), udp(p, 8, "")), "bad_header", ""},
		{"otherproto reserved set", cat(opHdr(1, 16, 16, 1), udp(p, 8, "")), "bad_header", ""},
		{"otherproto len 7", cat(opHdr(1, 16, 7, 0), udp(p, 8, "")), "bad_header", ""},
		{"otherproto len beyond the frame", cat(opHdr(1, 16, 17, 0), udp(p, 8, "")), "bad_header", ""},
		{"testproto without UDP header", tpHdr(4), "short", ""},
		{"testproto UDP header cut by its len", cat(tpHdr(11), udp(p, 8, "")), "short", ""},
		{"otherproto UDP header cut", cat(opHdr(1, 16, 15, 0), udpHdr(sport, p, 8)[:7]), "short", ""},
		{"UDP length 0", cat(tpHdr(12), udp(p, 0, "")), "bad_len", ""},
		{"UDP length 7", cat(tpHdr(13), udp(p, 7, "x")), "bad_len", ""},
		{"otherproto UDP length 4", cat(opHdr(1, 16, 20, 0), udp(p, 4, "abcd")), "bad_len", ""},
		{"UDP length beyond the frame", cat(tpHdr(16), udp(p, 13, "four")), "truncated", ""},
		{"UDP length beyond the L3 length", cat(tpHdr(16), udp(p, 14, "four and more")), "truncated", ""},
		{"otherproto UDP length 65535", cat(opHdr(1, 16, 20, 0), udp(p, 65535, "abcd")), "truncated", ""},
		{"no socket on the port (testproto)", l3Packet(mhost.FamilyTestProto, sport, 9, []byte("discard")), "no_socket", ""},
		{"no socket on the port (otherproto)", l3Packet(mhost.FamilyOtherProto, sport, 9, []byte("discard")), "no_socket", ""},
		{"testproto", l3Packet(mhost.FamilyTestProto, sport, p, []byte("well formed")), "delivered", "well formed"},
		{"otherproto", l3Packet(mhost.FamilyOtherProto, sport, p, []byte("well formed too")), "delivered", "well formed too"},
		{"testproto with trailing bytes", cat(tpHdr(4+8+5), udp(p, 8+5, "five!"), []byte("trailer")), "delivered", "five!"},
		{"UDP length below the L3 length", cat(tpHdr(4+8+5), udp(p, 8+3, "threeXX")), "delivered", "thr"},
		{"otherproto empty datagram", cat(opHdr(1, 1, 16, 0), udp(p, 8, "")), "delivered", ""},
		{"checksum 0", l3Packet(mhost.FamilyTestProto, sport, p, []byte("unchecked"))[:0], "bad_csum", ""},
		{"checksum off by one bit", l3Packet(mhost.FamilyTestProto, sport, p, []byte("corrupted"))[:0], "bad_csum", ""},
		{"testproto checksum as otherproto", l3Packet(mhost.FamilyTestProto, sport, p, []byte("other family"))[:0], "bad_csum", ""},
	}
	// Frames whose checksum is made wrong on purpose.
	for i := range cases {
		switch cases[i].name {
		case "checksum 0":
			b := l3Packet(mhost.FamilyTestProto, sport, p, []byte("unchecked"))
			b[4+6], b[4+7] = 0, 0
			cases[i].l3 = b
		case "checksum off by one bit":
			b := l3Packet(mhost.FamilyTestProto, sport, p, []byte("corrupted"))
			b[len(b)-1] ^= 0x10
			cases[i].l3 = b
		case "testproto checksum as otherproto":
			// The pseudo-header keeps one L3's datagram from passing
			// for another's.
			b := l3Packet(mhost.FamilyTestProto, sport, p, []byte("other family"))
			udpPart := b[4:]
			cases[i].l3 = cat(opHdr(1, 16, 8+len(udpPart), 0), udpPart)
		default:
			cases[i].l3 = withCsum(cases[i].l3)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := l3Counters(t, lab.ctlB)
			if err := lab.tx.send(tc.l3); err != nil {
				t.Fatalf("sending %x: %v", tc.l3, err)
			}
			d := lab.waitCounted(t, before, 1)
			if want := map[string]uint64{tc.counter: 1}; !l3Equal(d, want) {
				t.Fatalf("frame %x: counters moved by %s, want %s=1 only", tc.l3, l3String(d), tc.counter)
			}
			if tc.counter != "delivered" {
				return
			}
			msg, from := readConn(t, lab.sock)
			if msg != tc.payload {
				t.Errorf("read %q, want %q", msg, tc.payload)
			}
			family := binary.BigEndian.Uint16(tc.l3)
			wantFrom(t, "source", from, ethAddr(family, sport, lab.v.B.Index, lab.v.A.MAC))
		})
	}

	// Frames for another host are no business of mhost's: not counted.
	t.Run("other host", func(t *testing.T) {
		before := l3Counters(t, lab.ctlB)
		other := newEthSender(t, lab.v.A.NS, lab.v.A.Index, lab.v.A.MAC, net.HardwareAddr{0x02, 0x6d, 0x68, 0, 0, 0xff})
		frames := lab.rxFrames(t)
		// A frame that is counted, sent after it from the same CPU,
		// shows it was seen.
		err := onOneCPU(func() error {
			if err := other.send(l3Packet(mhost.FamilyTestProto, sport, p, []byte("not for b"))); err != nil {
				return err
			}
			return lab.tx.send([]byte{0})
		})
		if err != nil {
			t.Fatal(err)
		}
		lab.waitCounted(t, before, 1)
		d, _ := l3Delta(before, l3Counters(t, lab.ctlB))
		if got := lab.rxFrames(t) - frames; got != 2 {
			t.Fatalf("b received %d frames, want 2", got)
		}
		if want := map[string]uint64{"short": 1}; !l3Equal(d, want) {
			t.Errorf("counters moved by %s, want short=1 only (the frame for another host not counted)", l3String(d))
		}
		wantConnEmpty(t, lab.sock)
	})
	if drops := meminfo(t, fdOf(t, lab.sock))[unix.SK_MEMINFO_DROPS]; drops != 0 {
		t.Errorf("the socket dropped %d datagrams", drops)
	}
}

// waitCounted waits until the receive counters of b have moved by n in
// all from before, and returns how they moved.
func (lab *l3Lab) waitCounted(t *testing.T, before map[string]uint64, n uint64) map[string]uint64 {
	t.Helper()
	for end := time.Now().Add(ioTimeout); ; time.Sleep(5 * time.Millisecond) {
		d, sum := l3Delta(before, l3Counters(t, lab.ctlB))
		if sum >= n || time.Now().After(end) {
			return d
		}
	}
}

// wantConnEmpty checks that no datagram is queued on c.
func wantConnEmpty(t *testing.T, c *mhost.Conn) {
	t.Helper()
	buf := make([]byte, 256)
	if n, _, _, from, err := c.ReadMsg(buf, nil, unix.MSG_DONTWAIT); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("unexpected datagram %q from %v (%v)", buf[:n], from, err)
	}
}

// l3RandomFrame fills b with a random L3 payload of 0 to 200 bytes and
// returns it. Most are shaped like testproto or otherproto datagrams with
// lengths near the right ones, so that many get past the first checks;
// some are addressed to port.
func l3RandomFrame(r *rand.Rand, b []byte, port int) []byte {
	n := r.IntN(201)
	b = b[:n]
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	// near returns a length around want: right, a little short, a
	// little long, or anything.
	near := func(want int) int {
		switch r.IntN(5) {
		case 0, 1:
			return want
		case 2:
			return want - r.IntN(9)
		case 3:
			return want + 1 + r.IntN(8)
		}
		return r.IntN(1 << 16)
	}
	put := func(off, v int) {
		if off+2 <= len(b) {
			binary.BigEndian.PutUint16(b[off:], uint16(v))
		}
	}
	udp := func(off, l3len int) {
		if r.IntN(2) == 0 {
			put(off+2, port)
		}
		put(off+4, near(min(l3len, n)-off))
		if r.IntN(4) != 0 {
			put(off+6, 0)
		}
	}
	switch r.IntN(8) {
	case 0: // random bytes
	case 1: // a family that is not plugged, or a short frame
		put(0, []int{0, 2, 10, 27, 42, 255, 256, 0x8888, 0xffff}[r.IntN(9)])
	case 2, 3, 4:
		put(0, mhost.FamilyTestProto)
		l3len := near(n)
		put(2, l3len)
		udp(4, l3len)
	default:
		put(0, mhost.FamilyOtherProto)
		if n >= 4 {
			if r.IntN(10) != 0 {
				b[2] = 1
			}
			if r.IntN(10) == 0 {
				b[3] = 0
			}
		}
		l3len := near(n)
		put(4, l3len)
		if r.IntN(10) != 0 {
			put(6, 0)
		}
		udp(8, l3len)
	}
	// Most get a right checksum, so that they can go further.
	if r.IntN(4) != 0 {
		withCsum(b)
	}
	return b
}

// TestL3RandomFrames injects 100,000 random ETH_P_MHOST frames and checks
// that b accounts for every one that reached it, as delivered or dropped
// for a reason, and that the kernel says nothing about them.
func TestL3RandomFrames(t *testing.T) {
	frames := scaled(t, 100000, "random frames")
	lab := newL3Lab(t)
	raiseRcvbuf(t, lab.sock, 8<<20)
	rfd := fdOf(t, lab.sock)

	// Drain and check what is delivered.
	var (
		read    atomic.Int64
		stop    atomic.Bool
		badFrom []string
		readErr error
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 256)
		for {
			lab.sock.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			_, from, err := lab.sock.ReadFrom(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if stop.Load() {
					return
				}
				continue
			}
			if err != nil {
				readErr = err
				return
			}
			read.Add(1)
			e, ok := from.(*mhost.EthAddr)
			if !ok || (e.Family != mhost.FamilyTestProto && e.Family != mhost.FamilyOtherProto) ||
				e.Ifindex != lab.v.B.Index || !reflect.DeepEqual(e.MAC, lab.v.A.MAC) {
				if len(badFrom) < 10 {
					badFrom = append(badFrom, fmt.Sprintf("%#v", from))
				}
			}
		}
	}()

	// The frames b delivers stay charged to the packet socket until b's
	// socket is done with them (veth keeps their owner across
	// namespaces): room for all of them, so that a release that comes
	// late or never shows as such rather than as a stalled sender.
	if err := unix.SetsockoptInt(lab.tx.fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 64<<20); err != nil {
		t.Fatalf("setsockopt(SO_SNDBUFFORCE): %v", errStr(err))
	}

	kmsg := followKmsg(t)
	before := l3Counters(t, lab.ctlB)
	linkA0, rx0 := lab.v.A.NS.link(t, lab.v.A.Index).Stats, lab.rxFrames(t)
	r := rand.New(rand.NewPCG(0x6d686f7374, 0x8888))
	buf := make([]byte, 200)
	sent, failed, bytes := 0, 0, 0
	start := time.Now()
	for range frames {
		l3 := l3RandomFrame(r, buf, lab.port)
		if err := lab.tx.send(l3); err != nil {
			if !errors.Is(err, unix.ENOBUFS) {
				t.Fatalf("sending frame %d (%x): %v", sent+failed, l3, err)
			}
			failed++
			continue
		}
		sent++
		bytes += len(l3)
	}
	elapsed := time.Since(start)

	// Wait for b to have handled every frame its link took in.
	var (
		d            map[string]uint64
		sum, reached uint64
		skDrops      uint64
	)
	for end := time.Now().Add(2 * ioTimeout); ; time.Sleep(20 * time.Millisecond) {
		reached = lab.rxFrames(t) - rx0
		d, sum = l3Delta(before, l3Counters(t, lab.ctlB))
		skDrops = uint64(meminfo(t, rfd)[unix.SK_MEMINFO_DROPS])
		if sum+skDrops >= reached || time.Now().After(end) {
			break
		}
	}
	for end := time.Now().Add(ioTimeout); uint64(read.Load()) < d["delivered"] && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	stop.Store(true)
	<-done

	linkA := lab.v.A.NS.link(t, lab.v.A.Index).Stats
	linkTx, linkDropped := linkA.TxPackets-linkA0.TxPackets, linkA.TxDropped-linkA0.TxDropped
	t.Logf("%d frames (%d bytes of L3) sent in %v, %d failed to send; the link carried %d and dropped %d; b received %d",
		sent, bytes, elapsed.Round(time.Millisecond), failed, linkTx, linkDropped, reached)
	t.Logf("b: %s, %d dropped by the full socket; %d read", l3String(d), skDrops, read.Load())

	if readErr != nil {
		t.Errorf("reading: %v", readErr)
	}
	for _, f := range badFrom {
		t.Errorf("datagram from %s, want an EthAddr of family 1 or 3 from a's end of the link", f)
	}
	if reached != linkTx || linkTx+linkDropped != uint64(sent) {
		t.Errorf("%d frames sent: the link carried %d and dropped %d, b received %d", sent, linkTx, linkDropped, reached)
	}
	// Every frame b received is counted once: delivered, or dropped for
	// a reason (a full socket counts its own drops).
	if sum+skDrops != reached {
		t.Errorf("b received %d frames but accounted for %d: %s, %d dropped by the socket", reached, sum+skDrops, l3String(d), skDrops)
	}
	if uint64(read.Load()) != d["delivered"] {
		t.Errorf("%d datagrams read, %d counted as delivered", read.Load(), d["delivered"])
	}
	// Every frame is freed by now: none is still charged to the socket
	// that sent it.
	var wmem uint32
	for end := time.Now().Add(time.Second); ; time.Sleep(20 * time.Millisecond) {
		if wmem = meminfo(t, lab.tx.fd)[unix.SK_MEMINFO_WMEM_ALLOC]; wmem == 0 || time.Now().After(end) {
			break
		}
	}
	if wmem != 0 {
		t.Errorf("%d bytes of frames are still charged to the packet socket that sent them, after b handled every frame and read the %d it delivered",
			wmem, read.Load())
	}
	// The frames reached every check of the receive path.
	for _, k := range l3Reasons {
		if d[k] == 0 {
			t.Errorf("no frame counted as %s: the random frames do not reach that far", k)
		}
	}
	if lines := kmsg.mhostLines(t); len(lines) > 0 {
		t.Errorf("the kernel log grew by %d lines about mhost:\n%s", len(lines), strings.Join(lines, "\n"))
	}
}
