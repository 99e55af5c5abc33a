//go:build guest

package guest_test

// Helpers of netlink_test.go, mhostctl_test.go and failover_test.go: the
// kernel's expected messages, error checks, network namespaces, and raw
// generic netlink and rtnetlink requests. Their names start with nl so
// that they stay apart from the other files'. Helper processes are
// helpers_test.go's.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhostnl"
)

// nlMsg holds the extended acknowledgement messages the tests expect,
// matched as case-insensitive substrings. Adjust them here, in one place.
var nlMsg = struct {
	// The mhost module's own.
	MissingID, ZeroID, UnknownFamily, AddrLen, TooMany, Exists, NoHost,
	InetIfindex, NoDevice, MissingLocators, NoLocators, MissingFamily,
	MissingAddr, Duplicate, ReplaceAppend string
	// The netlink core's (lib/nlattr.c, net/netlink/genetlink.c, 6.1).
	AttrLen, NestedMissing, UnknownAttr, Rejected, ReservedBit, NlmsgFlags string
}{
	MissingID:       "missing host id",
	ZeroID:          "host id must not be 0",
	UnknownFamily:   "unknown locator family",
	AddrLen:         "address length does not match the family",
	TooMany:         "too many locators",
	Exists:          "host already exists",
	NoHost:          "no such host",
	InetIfindex:     "ifindex is not supported for inet locators",
	NoDevice:        "no such device",
	MissingLocators: "missing locators",
	NoLocators:      "a host needs at least one locator",
	MissingFamily:   "missing locator family",
	MissingAddr:     "missing locator address",
	Duplicate:       "duplicate locator",
	ReplaceAppend:   "replace and append cannot be combined",

	AttrLen:       "invalid attribute length",
	NestedMissing: "NLA_F_NESTED is missing",
	UnknownAttr:   "Unknown attribute type",
	Rejected:      "Attribute failed policy validation",
	ReservedBit:   "reserved bit set",
	NlmsgFlags:    "ambiguous or reserved bits set in nlmsg_flags",
}

// nlErrInfo returns the errno and the extended acknowledgement message of
// an error from mhostnl or from a raw netlink request.
func nlErrInfo(err error) (unix.Errno, string, bool) {
	var e *mhostnl.Error
	if errors.As(err, &e) {
		return e.Errno(), e.Message, e.Errno() != 0
	}
	var oe *netlink.OpError
	if errors.As(err, &oe) {
		var errno unix.Errno
		ok := errors.As(oe.Err, &errno)
		return errno, oe.Message, ok
	}
	return 0, "", false
}

// nlWantErr checks that err is the kernel's refusal with one of errnos
// and an extended acknowledgement message containing msg.
func nlWantErr(t *testing.T, what string, err error, msg string, errnos ...unix.Errno) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded, want %v %q", what, errnos, msg)
		return
	}
	errno, got, ok := nlErrInfo(err)
	if !ok {
		t.Errorf("%s: %v, want the kernel's refusal %v %q", what, err, errnos, msg)
		return
	}
	match := false
	for _, e := range errnos {
		match = match || errno == e
	}
	if !match {
		t.Errorf("%s: errno %s (%v), want one of %v", what, unix.ErrnoName(errno), err, errnos)
	}
	if got == "" {
		t.Errorf("%s: no extended acknowledgement message (%v), want %q", what, err, msg)
	} else if !strings.Contains(strings.ToLower(got), strings.ToLower(msg)) {
		t.Errorf("%s: message %q, want it to contain %q", what, got, msg)
	}
}

// nlCheck fails the test now if err is not nil.
func nlCheck(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// nlLoc builds an IP locator.
func nlLoc(addr string) mhostnl.Locator {
	return mhostnl.Locator{Addr: netip.MustParseAddr(addr)}
}

// nlHostString renders a host for comparisons: its id and locators
// without counters.
func nlHostString(h mhostnl.Host) string {
	var ls []string
	for _, l := range h.Locators {
		l.TxPackets, l.TxErrors = 0, 0
		ls = append(ls, l.String())
	}
	return fmt.Sprintf("%d [%s]", h.ID, strings.Join(ls, ", "))
}

// nlWantHost checks that the table of c holds want (counters aside).
func nlWantHost(t *testing.T, c *mhostnl.Client, want mhostnl.Host) {
	t.Helper()
	got, err := c.Host(want.ID)
	if err != nil {
		t.Errorf("Host(%d): %v", want.ID, err)
		return
	}
	for i := range want.Locators {
		if want.Locators[i].Family == 0 && want.Locators[i].Addr.IsValid() {
			if want.Locators[i].Addr.Is4() {
				want.Locators[i].Family = mhostnl.FamilyInet
			} else {
				want.Locators[i].Family = mhostnl.FamilyInet6
			}
		}
	}
	if g, w := nlHostString(*got), nlHostString(want); g != w {
		t.Errorf("Host(%d) = %s, want %s", want.ID, g, w)
	}
}

// nlDial opens a control client in the namespace nsfd names (0: the
// calling thread's, which is the initial one for the tests' goroutines).
func nlDial(t *testing.T, nsfd int) *mhostnl.Client {
	t.Helper()
	c, err := mhostnl.Dial(&mhostnl.Config{NetNS: nsfd})
	nlCheck(t, "mhostnl.Dial", err)
	t.Cleanup(func() { c.Close() })
	return c
}

// An nlNetns is a network namespace a test creates, with a locked OS
// thread inside it to run what must happen there (opening sockets). The
// namespace goes away when the test ends and nothing else holds it.
type nlNetns struct {
	fd   int // an open /proc/thread-self/ns/net, for netlink.Config.NetNS
	work chan func()
	done chan struct{}
}

func nlNewNetns(t *testing.T) *nlNetns {
	t.Helper()
	ns := &nlNetns{work: make(chan func()), done: make(chan struct{})}
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
		t.Fatalf("new network namespace: %v", err)
	}
	t.Cleanup(func() {
		close(ns.work)
		<-ns.done
		unix.Close(ns.fd)
	})
	rt := nlRoute(t, ns)
	nlCheck(t, "bringing lo up in a new namespace", rt.setUp(rt.index(t, "lo")))
	return ns
}

// do runs f on the namespace's thread: sockets it opens belong to the
// namespace.
func (ns *nlNetns) do(f func()) {
	done := make(chan struct{})
	ns.work <- func() {
		defer close(done)
		f()
	}
	<-done
}

// nlRaw sends hand-made requests of the mhost family, for the malformed
// messages the Client cannot produce.
type nlRaw struct {
	c      *genetlink.Conn
	family genetlink.Family
}

func nlRawConn(t *testing.T, nsfd int) *nlRaw {
	t.Helper()
	c, err := genetlink.Dial(&netlink.Config{Strict: true, NetNS: nsfd})
	nlCheck(t, "genetlink.Dial", err)
	t.Cleanup(func() { c.Close() })
	f, err := c.GetFamily(mhostnl.GenlName)
	nlCheck(t, "GetFamily(mhost)", err)
	return &nlRaw{c: c, family: f}
}

// request sends cmd with the raw attribute bytes and flags added to
// NLM_F_REQUEST|NLM_F_ACK, and returns the kernel's answer.
func (r *nlRaw) request(cmd uint8, flags netlink.HeaderFlags, attrs []byte) error {
	_, err := r.c.Execute(genetlink.Message{
		Header: genetlink.Header{Command: cmd, Version: mhostnl.GenlVersion},
		Data:   attrs,
	}, r.family.ID, netlink.Request|netlink.Acknowledge|flags)
	return err
}

// Raw attribute builders.
func nlAttrs(attrs ...netlink.Attribute) []byte {
	b, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		panic(err)
	}
	return b
}

func nlU16(typ uint16, v uint16) netlink.Attribute {
	return netlink.Attribute{Type: typ, Data: binary.NativeEndian.AppendUint16(nil, v)}
}

func nlU32(typ uint16, v uint32) netlink.Attribute {
	return netlink.Attribute{Type: typ, Data: binary.NativeEndian.AppendUint32(nil, v)}
}

func nlU64(typ uint16, v uint64) netlink.Attribute {
	return netlink.Attribute{Type: typ, Data: binary.NativeEndian.AppendUint64(nil, v)}
}

func nlBytes(typ uint16, b []byte) netlink.Attribute { return netlink.Attribute{Type: typ, Data: b} }

// nlNest nests attrs under typ with NLA_F_NESTED.
func nlNest(typ uint16, attrs ...netlink.Attribute) netlink.Attribute {
	return netlink.Attribute{Type: typ | netlink.Nested, Data: nlAttrs(attrs...)}
}

// nlRawLoc is a locator nest of the given family and address bytes.
func nlRawLoc(family uint16, addr []byte, extra ...netlink.Attribute) netlink.Attribute {
	return nlNest(mhostnl.AttrLocator,
		append([]netlink.Attribute{nlU16(mhostnl.LocAttrFamily, family), nlBytes(mhostnl.LocAttrAddr, addr)}, extra...)...)
}

// rtnetlink, for the links, addresses and routes of the namespaces.

// nlRt is an rtnetlink connection in a namespace.
type nlRt struct{ c *netlink.Conn }

func nlRoute(t *testing.T, ns *nlNetns) *nlRt {
	t.Helper()
	fd := 0
	if ns != nil {
		fd = ns.fd
	}
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: fd})
	nlCheck(t, "rtnetlink dial", err)
	t.Cleanup(func() { c.Close() })
	return &nlRt{c: c}
}

func (r *nlRt) exec(typ uint16, flags netlink.HeaderFlags, data []byte) error {
	_, err := r.c.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request | netlink.Acknowledge | flags},
		Data:   data,
	})
	return err
}

// ifinfomsg returns a struct ifinfomsg.
func ifinfomsg(index int32, flags, change uint32) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	binary.NativeEndian.PutUint32(b[8:], flags)
	binary.NativeEndian.PutUint32(b[12:], change)
	return b
}

// index returns the index of the link name, failing the test if there is
// none.
func (r *nlRt) index(t *testing.T, name string) int32 {
	t.Helper()
	msgs, err := r.c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request},
		Data:   append(ifinfomsg(0, 0, 0), nlAttrs(netlink.Attribute{Type: unix.IFLA_IFNAME, Data: append([]byte(name), 0)})...),
	})
	nlCheck(t, "RTM_GETLINK "+name, err)
	if len(msgs) != 1 || len(msgs[0].Data) < unix.SizeofIfInfomsg {
		t.Fatalf("RTM_GETLINK %s: %d replies", name, len(msgs))
	}
	return int32(binary.NativeEndian.Uint32(msgs[0].Data[4:]))
}

func (r *nlRt) setUp(index int32) error {
	return r.exec(unix.RTM_NEWLINK, 0, ifinfomsg(index, unix.IFF_UP, unix.IFF_UP))
}

// vethInfoPeer is VETH_INFO_PEER of linux/veth.h.
const vethInfoPeer = 1

// addVeth creates a veth pair: name here, peer in the namespace peerNS.
func (r *nlRt) addVeth(name, peer string, peerNS int) error {
	peerData := append(ifinfomsg(0, 0, 0), nlAttrs(
		netlink.Attribute{Type: unix.IFLA_IFNAME, Data: append([]byte(peer), 0)},
		nlU32(unix.IFLA_NET_NS_FD, uint32(peerNS)),
	)...)
	data := append(ifinfomsg(0, 0, 0), nlAttrs(
		netlink.Attribute{Type: unix.IFLA_IFNAME, Data: append([]byte(name), 0)},
		nlNest(unix.IFLA_LINKINFO,
			netlink.Attribute{Type: unix.IFLA_INFO_KIND, Data: []byte("veth\x00")},
			nlNest(unix.IFLA_INFO_DATA, netlink.Attribute{Type: vethInfoPeer, Data: peerData}),
		),
	)...)
	return r.exec(unix.RTM_NEWLINK, netlink.Create|netlink.Excl, data)
}

// ifaddr returns a struct ifaddrmsg and its attributes for prefix on the
// link index; IPv6 addresses skip duplicate address detection, to be
// usable at once.
func ifaddr(index int32, prefix netip.Prefix) []byte {
	b := make([]byte, unix.SizeofIfAddrmsg)
	b[0] = unix.AF_INET
	var flags uint32
	if prefix.Addr().Is6() {
		b[0] = unix.AF_INET6
		flags = unix.IFA_F_NODAD
	}
	b[1] = byte(prefix.Bits())
	b[2] = byte(flags)
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	a := prefix.Addr().AsSlice()
	return append(b, nlAttrs(
		nlBytes(unix.IFA_LOCAL, a),
		nlBytes(unix.IFA_ADDRESS, a),
		nlU32(unix.IFA_FLAGS, flags),
	)...)
}

func (r *nlRt) addAddr(index int32, prefix string) error {
	return r.exec(unix.RTM_NEWADDR, netlink.Create|netlink.Excl, ifaddr(index, netip.MustParsePrefix(prefix)))
}

func (r *nlRt) delAddr(index int32, prefix string) error {
	return r.exec(unix.RTM_DELADDR, 0, ifaddr(index, netip.MustParsePrefix(prefix)))
}

// delRoute deletes the route to prefix through the link index in the
// main table.
func (r *nlRt) delRoute(index int32, prefix string) error {
	p := netip.MustParsePrefix(prefix)
	b := make([]byte, unix.SizeofRtMsg)
	b[0] = unix.AF_INET
	if p.Addr().Is6() {
		b[0] = unix.AF_INET6
	}
	b[1] = byte(p.Bits())
	b[4] = unix.RT_TABLE_MAIN
	b[6] = unix.RT_SCOPE_NOWHERE // any scope
	b[7] = unix.RTN_UNICAST
	return r.exec(unix.RTM_DELROUTE, 0, append(b, nlAttrs(
		nlBytes(unix.RTA_DST, p.Addr().AsSlice()),
		nlU32(unix.RTA_OIF, uint32(index)),
	)...))
}
