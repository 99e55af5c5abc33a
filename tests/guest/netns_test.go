//go:build guest

package guest_test

// Network namespaces and veth pairs, for tests that need more than one
// host: two namespaces joined by a veth pair stand for two machines on
// one Ethernet segment. Links and addresses are set up over rtnetlink
// with github.com/mdlayher/netlink.
//
//	a, b := newNetNS(t, "a"), newNetNS(t, "b")
//	v := newVethPair(t, a, b, vethConfig{
//		AddrsA: prefixes("10.0.0.1/24", "fd00::1/64"),
//		AddrsB: prefixes("10.0.0.2/24", "fd00::2/64"),
//	})
//	ca, cb := a.listen(t), b.listen(t) // AF_MHOST sockets in each namespace
//
// Everything is undone when the test ends.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhost"
	"github.com/mnet/mnet/gosdk/mhostnl"
)

// A netNS is a network namespace made for a test. A goroutine locked to
// an OS thread inside it runs what must happen in the namespace: a
// socket belongs to the namespace of the thread that created it, and
// /proc/sys/net shows that thread's namespace. The namespace goes away
// when the test ends and nothing else (a socket, a device) holds it.
type netNS struct {
	name  string
	fd    int    // an open /proc/thread-self/ns/net of the namespace
	inode uint64 // its inode number, the netns= of mhost's tracepoints
	work  chan func()
	done  chan struct{}
	rt    *netlink.Conn // rtnetlink, in the namespace
}

// newNetNS makes an empty network namespace: only lo, and lo down.
func newNetNS(t *testing.T, name string) *netNS {
	t.Helper()
	ns := &netNS{name: name, work: make(chan func()), done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread leaves the namespace by exiting
		// with this goroutine.
		runtime.LockOSThread()
		defer close(ns.done)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		ns.fd = fd
		errc <- nil
		for f := range ns.work {
			f()
		}
	}()
	if err := <-errc; err != nil {
		t.Fatalf("namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		close(ns.work)
		<-ns.done
		unix.Close(ns.fd)
	})
	var st unix.Stat_t
	if err := unix.Fstat(ns.fd, &st); err != nil {
		t.Fatalf("namespace %s: fstat: %v", name, err)
	}
	ns.inode = st.Ino
	rt, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: ns.fd})
	if err != nil {
		t.Fatalf("namespace %s: rtnetlink: %v", name, err)
	}
	t.Cleanup(func() { rt.Close() })
	ns.rt = rt
	return ns
}

// run runs f on the namespace's thread and returns its error.
func (ns *netNS) run(f func() error) error {
	errc := make(chan error, 1)
	ns.work <- func() { errc <- f() }
	return <-errc
}

// do runs f in the namespace and fails the test if it fails. Call it from
// the test's goroutine.
func (ns *netNS) do(t *testing.T, what string, f func() error) {
	t.Helper()
	if err := ns.run(f); err != nil {
		t.Fatalf("namespace %s: %s: %v", ns.name, what, err)
	}
}

// listen opens an SDK Conn on an ephemeral port in the namespace, closed
// when the test ends.
func (ns *netNS) listen(t *testing.T) *mhost.Conn {
	t.Helper()
	var c *mhost.Conn
	ns.do(t, "mhost.Listen", func() (err error) {
		c, err = mhost.Listen(0)
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// socket opens a blocking socket in the namespace, closed when the test
// ends; blocking calls on it time out after ioTimeout.
func (ns *netNS) socket(t *testing.T, domain, typ, proto int) int {
	t.Helper()
	fd := -1
	ns.do(t, "opening a socket", func() (err error) {
		fd, err = openSocket(domain, typ, proto)
		return err
	})
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// control opens an mhost generic netlink client in the namespace, closed
// when the test ends.
func (ns *netNS) control(t *testing.T) *mhostnl.Client {
	t.Helper()
	return nlDial(t, ns.fd)
}

// enableL3 enables plugged-L3 traffic on the link index for the rest of
// the test.
func (ns *netNS) enableL3(t *testing.T, index int) {
	t.Helper()
	enableL3(t, ns.fd, index)
}

// sysctl writes value to /proc/sys/<key> of the namespace ("net/ipv6/
// conf/veth0/disable_ipv6").
func (ns *netNS) sysctl(t *testing.T, key, value string) {
	t.Helper()
	ns.do(t, "sysctl "+key, func() error {
		return os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0)
	})
}

// readSysctl reads /proc/sys/<key> of the namespace.
func (ns *netNS) readSysctl(t *testing.T, key string) string {
	t.Helper()
	var b []byte
	ns.do(t, "reading sysctl "+key, func() (err error) {
		b, err = os.ReadFile(filepath.Join("/proc/sys", key))
		return err
	})
	return strings.TrimSpace(string(b))
}

// ---- rtnetlink ----

// rtLink is what RTM_GETLINK tells of a link.
type rtLink struct {
	Index     int
	Name      string
	MAC       net.HardwareAddr
	OperState uint8 // IF_OPER_*
	Stats     rtLinkStats
}

// rtLinkStats are the first counters of struct rtnl_link_stats64.
type rtLinkStats struct {
	RxPackets, TxPackets, RxBytes, TxBytes   uint64
	RxErrors, TxErrors, RxDropped, TxDropped uint64
}

// rtIfinfomsg returns a struct ifinfomsg.
func rtIfinfomsg(index int, flags, change uint32) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	binary.NativeEndian.PutUint32(b[8:], flags)
	binary.NativeEndian.PutUint32(b[12:], change)
	return b
}

// rtExec sends an rtnetlink request that wants an acknowledgement.
func (ns *netNS) rtExec(typ netlink.HeaderType, flags netlink.HeaderFlags, data []byte) error {
	_, err := ns.rt.Execute(netlink.Message{
		Header: netlink.Header{Type: typ, Flags: netlink.Request | netlink.Acknowledge | flags},
		Data:   data,
	})
	return err
}

// rtGetLink returns the link with the index, or with the name if index
// is 0.
func (ns *netNS) rtGetLink(index int, name string) (*rtLink, error) {
	req := rtIfinfomsg(index, 0, 0)
	if index == 0 {
		ae := netlink.NewAttributeEncoder()
		ae.String(unix.IFLA_IFNAME, name)
		attrs, err := ae.Encode()
		if err != nil {
			return nil, err
		}
		req = append(req, attrs...)
	}
	msgs, err := ns.rt.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request},
		Data:   req,
	})
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 || len(msgs[0].Data) < unix.SizeofIfInfomsg {
		return nil, fmt.Errorf("RTM_GETLINK: %d replies", len(msgs))
	}
	d := msgs[0].Data
	l := &rtLink{Index: int(int32(binary.NativeEndian.Uint32(d[4:])))}
	ad, err := netlink.NewAttributeDecoder(d[unix.SizeofIfInfomsg:])
	if err != nil {
		return nil, err
	}
	for ad.Next() {
		switch ad.Type() {
		case unix.IFLA_IFNAME:
			l.Name = ad.String()
		case unix.IFLA_ADDRESS:
			l.MAC = net.HardwareAddr(ad.Bytes())
		case unix.IFLA_OPERSTATE:
			l.OperState = ad.Uint8()
		case unix.IFLA_STATS64:
			b := ad.Bytes()
			if len(b) < 64 {
				return nil, fmt.Errorf("IFLA_STATS64 of %d bytes", len(b))
			}
			s := []*uint64{&l.Stats.RxPackets, &l.Stats.TxPackets, &l.Stats.RxBytes, &l.Stats.TxBytes,
				&l.Stats.RxErrors, &l.Stats.TxErrors, &l.Stats.RxDropped, &l.Stats.TxDropped}
			for i, p := range s {
				*p = binary.NativeEndian.Uint64(b[8*i:])
			}
		}
	}
	return l, ad.Err()
}

// link returns the link with the index, failing the test if there is
// none.
func (ns *netNS) link(t *testing.T, index int) *rtLink {
	t.Helper()
	l, err := ns.rtGetLink(index, "")
	if err != nil {
		t.Fatalf("namespace %s: link %d: %v", ns.name, index, err)
	}
	return l
}

// linkByName returns the link called name, failing the test if there is
// none.
func (ns *netNS) linkByName(t *testing.T, name string) *rtLink {
	t.Helper()
	l, err := ns.rtGetLink(0, name)
	if err != nil {
		t.Fatalf("namespace %s: link %s: %v", ns.name, name, err)
	}
	return l
}

// setUp brings the link called name up.
func (ns *netNS) setUp(t *testing.T, name string) {
	t.Helper()
	l := ns.linkByName(t, name)
	if err := ns.rtExec(unix.RTM_NEWLINK, 0, rtIfinfomsg(l.Index, unix.IFF_UP, unix.IFF_UP)); err != nil {
		t.Fatalf("namespace %s: setting %s up: %v", ns.name, name, err)
	}
}

// addVeth makes a veth pair inside the namespace, name with the index
// (0: any) and peer with index+1 (or any), both down, and returns their
// indexes. The test deletes it if it wants it gone before the namespace.
func (ns *netNS) addVeth(t *testing.T, name, peer string, index int) (int, int) {
	t.Helper()
	pe := netlink.NewAttributeEncoder()
	pe.String(unix.IFLA_IFNAME, peer)
	peerAttrs, err := pe.Encode()
	if err != nil {
		t.Fatal(err)
	}
	peerIndex := 0
	if index != 0 {
		peerIndex = index + 1
	}
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.IFLA_IFNAME, name)
	ae.Nested(unix.IFLA_LINKINFO, func(nae *netlink.AttributeEncoder) error {
		nae.String(unix.IFLA_INFO_KIND, "veth")
		nae.Nested(unix.IFLA_INFO_DATA, func(dae *netlink.AttributeEncoder) error {
			dae.Bytes(vethPeerAttr, append(rtIfinfomsg(peerIndex, 0, 0), peerAttrs...))
			return nil
		})
		return nil
	})
	attrs, err := ae.Encode()
	if err == nil {
		err = ns.rtExec(unix.RTM_NEWLINK, netlink.Create|netlink.Excl, append(rtIfinfomsg(index, 0, 0), attrs...))
	}
	if err != nil {
		t.Fatalf("namespace %s: creating veth %s (index %d) - %s: %v", ns.name, name, index, peer, err)
	}
	return ns.linkByName(t, name).Index, ns.linkByName(t, peer).Index
}

// delLink deletes the link index.
func (ns *netNS) delLink(t *testing.T, index int) {
	t.Helper()
	if err := ns.rtExec(unix.RTM_DELLINK, 0, rtIfinfomsg(index, 0, 0)); err != nil {
		t.Fatalf("namespace %s: deleting link %d: %v", ns.name, index, err)
	}
}

// setMTU sets the MTU of the link index.
func (ns *netNS) setMTU(t *testing.T, index, mtu int) {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(unix.IFLA_MTU, uint32(mtu))
	attrs, err := ae.Encode()
	if err == nil {
		err = ns.rtExec(unix.RTM_NEWLINK, 0, append(rtIfinfomsg(index, 0, 0), attrs...))
	}
	if err != nil {
		t.Fatalf("namespace %s: setting the MTU of link %d to %d: %v", ns.name, index, mtu, err)
	}
}

// moveLink moves the link index to the namespace to, where it keeps its
// index if it is free there.
func (ns *netNS) moveLink(t *testing.T, index int, to *netNS) {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(unix.IFLA_NET_NS_FD, uint32(to.fd))
	attrs, err := ae.Encode()
	if err == nil {
		err = ns.rtExec(unix.RTM_NEWLINK, 0, append(rtIfinfomsg(index, 0, 0), attrs...))
	}
	if err != nil {
		t.Fatalf("namespace %s: moving link %d to %s: %v", ns.name, index, to.name, err)
	}
}

// rtFamily returns the address family of a.
func rtFamily(a netip.Addr) byte {
	if a.Is6() {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// rtIfaddr returns a struct ifaddrmsg and its attributes for p on the
// link index. IPv6 addresses skip duplicate address detection
// (IFA_F_NODAD), so they are usable at once.
func rtIfaddr(index int, p netip.Prefix) ([]byte, error) {
	b := make([]byte, unix.SizeofIfAddrmsg)
	b[0] = rtFamily(p.Addr())
	b[1] = byte(p.Bits())
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	var flags uint32
	if p.Addr().Is6() {
		flags = unix.IFA_F_NODAD
	}
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.IFA_LOCAL, p.Addr().AsSlice())
	ae.Bytes(unix.IFA_ADDRESS, p.Addr().AsSlice())
	ae.Uint32(unix.IFA_FLAGS, flags)
	attrs, err := ae.Encode()
	return append(b, attrs...), err
}

// addAddr adds an address to a link.
func (ns *netNS) addAddr(t *testing.T, index int, p netip.Prefix) {
	t.Helper()
	req, err := rtIfaddr(index, p)
	if err == nil {
		err = ns.rtExec(unix.RTM_NEWADDR, netlink.Create|netlink.Excl, req)
	}
	if err != nil {
		t.Fatalf("namespace %s: adding %v to link %d: %v", ns.name, p, index, err)
	}
}

// delAddr deletes an address of a link.
func (ns *netNS) delAddr(t *testing.T, index int, p netip.Prefix) {
	t.Helper()
	req, err := rtIfaddr(index, p)
	if err == nil {
		err = ns.rtExec(unix.RTM_DELADDR, 0, req)
	}
	if err != nil {
		t.Fatalf("namespace %s: deleting %v from link %d: %v", ns.name, p, index, err)
	}
}

// delRoute deletes the unicast route to p through the link index from
// the main table, whatever its scope.
func (ns *netNS) delRoute(t *testing.T, index int, p netip.Prefix) {
	t.Helper()
	b := make([]byte, unix.SizeofRtMsg)
	b[0] = rtFamily(p.Addr())
	b[1] = byte(p.Bits())
	b[4] = unix.RT_TABLE_MAIN
	b[6] = unix.RT_SCOPE_NOWHERE // any scope
	b[7] = unix.RTN_UNICAST
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.RTA_DST, p.Addr().AsSlice())
	ae.Uint32(unix.RTA_OIF, uint32(index))
	attrs, err := ae.Encode()
	if err == nil {
		err = ns.rtExec(unix.RTM_DELROUTE, 0, append(b, attrs...))
	}
	if err != nil {
		t.Fatalf("namespace %s: deleting the route to %v through link %d: %v", ns.name, p, index, err)
	}
}

// addrs returns every address of every link of the namespace, as
// "link index: prefix".
func (ns *netNS) addrs(t *testing.T) []string {
	t.Helper()
	msgs, err := ns.rt.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETADDR, Flags: netlink.Request | netlink.Dump},
		Data:   make([]byte, unix.SizeofIfAddrmsg), // AF_UNSPEC: all families
	})
	if err != nil {
		t.Fatalf("namespace %s: RTM_GETADDR: %v", ns.name, err)
	}
	var out []string
	for _, m := range msgs {
		if len(m.Data) < unix.SizeofIfAddrmsg {
			continue
		}
		bits, index := int(m.Data[1]), binary.NativeEndian.Uint32(m.Data[4:])
		ad, err := netlink.NewAttributeDecoder(m.Data[unix.SizeofIfAddrmsg:])
		if err != nil {
			t.Fatal(err)
		}
		for ad.Next() {
			if ad.Type() == unix.IFA_ADDRESS {
				a, _ := netip.AddrFromSlice(ad.Bytes())
				out = append(out, fmt.Sprintf("%d: %v", index, netip.PrefixFrom(a, bits)))
			}
		}
	}
	return out
}

// prefixes parses addresses with their prefix lengths.
func prefixes(s ...string) []netip.Prefix {
	var ps []netip.Prefix
	for _, p := range s {
		ps = append(ps, netip.MustParsePrefix(p))
	}
	return ps
}

// ---- veth pairs ----

// vethConfig says how to set up the two ends of a veth pair.
type vethConfig struct {
	// AddrsA and AddrsB are added to the ends in A and in B.
	AddrsA, AddrsB []netip.Prefix
	// NoIPv6 turns IPv6 off on both ends before they come up: no
	// link-local address, no neighbour or router discovery, no MLD, so
	// without addresses nothing IP ever crosses the link.
	NoIPv6 bool
	// L3 enables plugged-L3 traffic on both ends (mhost's device
	// opt-in), which carry none otherwise.
	L3 bool
	// Pair tells apart several pairs between the same namespaces: pair
	// n > 0 has names veth-an and veth-bn and MACs ending in n0a, n0b.
	Pair int
}

// A vethEnd is one end of a veth pair.
type vethEnd struct {
	NS    *netNS
	Name  string
	Index int
	MAC   net.HardwareAddr
}

// A vethPair joins two namespaces like an Ethernet cable.
type vethPair struct{ A, B vethEnd }

// The names and MAC addresses of the ends (locally administered).
var (
	vethNames = [2]string{"veth-a", "veth-b"}
	vethMACs  = [2]net.HardwareAddr{{0x02, 0x6d, 0x68, 0, 0, 0x0a}, {0x02, 0x6d, 0x68, 0, 0, 0x0b}}
)

const (
	vethPeerAttr = 1 // VETH_INFO_PEER of linux/veth.h
	ifOperUp     = 6 // IF_OPER_UP of linux/if.h
)

// newVethPair joins a and b with a veth pair, both ends up and carrying
// traffic, and deletes it when the test ends.
func newVethPair(t *testing.T, a, b *netNS, cfg vethConfig) *vethPair {
	t.Helper()
	vethNames, vethMACs := vethNames, vethMACs
	if cfg.Pair > 0 {
		for i := range vethNames {
			vethNames[i] += strconv.Itoa(cfg.Pair)
			vethMACs[i] = slices.Clone(vethMACs[i])
			vethMACs[i][5] |= byte(cfg.Pair) << 4
		}
	}
	peer := netlink.NewAttributeEncoder()
	peer.String(unix.IFLA_IFNAME, vethNames[1])
	peer.Bytes(unix.IFLA_ADDRESS, vethMACs[1])
	peer.Uint32(unix.IFLA_NET_NS_FD, uint32(b.fd))
	peerAttrs, err := peer.Encode()
	if err != nil {
		t.Fatal(err)
	}
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.IFLA_IFNAME, vethNames[0])
	ae.Bytes(unix.IFLA_ADDRESS, vethMACs[0])
	ae.Nested(unix.IFLA_LINKINFO, func(nae *netlink.AttributeEncoder) error {
		nae.String(unix.IFLA_INFO_KIND, "veth")
		nae.Nested(unix.IFLA_INFO_DATA, func(dae *netlink.AttributeEncoder) error {
			dae.Bytes(vethPeerAttr, append(rtIfinfomsg(0, 0, 0), peerAttrs...))
			return nil
		})
		return nil
	})
	attrs, err := ae.Encode()
	if err == nil {
		err = a.rtExec(unix.RTM_NEWLINK, netlink.Create|netlink.Excl, append(rtIfinfomsg(0, 0, 0), attrs...))
	}
	if err != nil {
		t.Fatalf("creating the veth pair %s (%s) - %s (%s): %v", vethNames[0], a.name, vethNames[1], b.name, err)
	}

	la, lb := a.linkByName(t, vethNames[0]), b.linkByName(t, vethNames[1])
	t.Cleanup(func() {
		// Deleting one end deletes both, now rather than when the
		// namespaces go.
		if err := a.rtExec(unix.RTM_DELLINK, 0, rtIfinfomsg(la.Index, 0, 0)); err != nil && !errors.Is(err, unix.ENODEV) {
			t.Errorf("deleting %s: %v", vethNames[0], err)
		}
	})
	v := &vethPair{
		A: vethEnd{NS: a, Name: la.Name, Index: la.Index, MAC: la.MAC},
		B: vethEnd{NS: b, Name: lb.Name, Index: lb.Index, MAC: lb.MAC},
	}
	for _, e := range []vethEnd{v.A, v.B} {
		if cfg.NoIPv6 {
			e.NS.sysctl(t, "net/ipv6/conf/"+e.Name+"/disable_ipv6", "1")
		}
		e.NS.setUp(t, e.Name)
	}
	// Bringing a link up is not the end of it: until the link watch
	// work has seen the carrier and attached the device's queueing
	// discipline, frames sent on it vanish. It sets the operational
	// state first, under the RTNL lock that RTM_GETLINK takes too.
	for _, e := range []vethEnd{v.A, v.B} {
		var l *rtLink
		for end := time.Now().Add(ioTimeout); ; time.Sleep(10 * time.Millisecond) {
			if l = e.NS.link(t, e.Index); l.OperState == ifOperUp {
				break
			}
			if time.Now().After(end) {
				t.Fatalf("%s in %s: operational state %d after %v, want up (%d)", e.Name, e.NS.name, l.OperState, ioTimeout, ifOperUp)
			}
		}
	}
	if cfg.L3 {
		a.enableL3(t, v.A.Index)
		b.enableL3(t, v.B.Index)
	}
	for _, p := range cfg.AddrsA {
		a.addAddr(t, v.A.Index, p)
	}
	for _, p := range cfg.AddrsB {
		b.addAddr(t, v.B.Index, p)
	}
	return v
}
