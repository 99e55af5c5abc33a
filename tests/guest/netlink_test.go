//go:build guest

package guest_test

// The generic netlink family "mhost" through gosdk/mhostnl, against the
// real module. The tests work in network namespaces of their own, so that
// the initial namespace's host table stays empty for the other tests.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhost"
	"github.com/mnet/mnet/gosdk/mhostnl"
)

func TestNLProtocols(t *testing.T) {
	for _, where := range []string{"initial", "new"} {
		var c *mhostnl.Client
		if where == "new" {
			c = newNetNS(t, where).control(t)
		} else {
			c = nlDial(t, 0)
		}
		ps, err := c.Protocols()
		nlCheck(t, "Protocols", err)
		want := map[string]mhostnl.Protocol{
			"inet":  {Family: 2, Name: "inet", Module: "kernel", AddrLen: 4},
			"inet6": {Family: 10, Name: "inet6", Module: "kernel", AddrLen: 16},
		}
		for _, p := range ps {
			t.Logf("%s namespace: %+v", where, p)
			if w, ok := want[p.Name]; ok {
				if p.Family != w.Family || p.Module != w.Module || p.AddrLen != w.AddrLen {
					t.Errorf("%s namespace: %+v, want %+v", where, p, w)
				}
				delete(want, p.Name)
			}
		}
		for name := range want {
			t.Errorf("%s namespace: no protocol %q in %+v", where, name, ps)
		}
	}
}

func TestNLRoundTrip(t *testing.T) {
	c := newNetNS(t, "nl").control(t)

	h7 := mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{nlLoc("fd00::2"), nlLoc("10.0.0.2")}}
	nlCheck(t, "AddHost 7", c.AddHost(h7))
	nlWantHost(t, c, h7)

	// Every optional field, and the largest host id.
	hMax := mhostnl.Host{ID: 0xffffffff, Locators: []mhostnl.Locator{
		{Addr: netip.MustParseAddr("fe80::2"), Ifindex: 1, Port: 7000},
		{Addr: netip.MustParseAddr("10.0.0.2"), Port: 65535},
		nlLoc("2001:db8::1"),
	}}
	nlCheck(t, "AddHost max", c.AddHost(hMax))
	nlWantHost(t, c, hMax)

	// Set replaces, and creates.
	h7 = mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{nlLoc("10.0.0.7")}}
	nlCheck(t, "SetHost 7", c.SetHost(h7))
	nlWantHost(t, c, h7)
	h8 := mhostnl.Host{ID: 8, Locators: []mhostnl.Locator{nlLoc("fd00::8")}}
	nlCheck(t, "SetHost 8", c.SetHost(h8))
	nlWantHost(t, c, h8)

	// Replace replaces.
	h8 = mhostnl.Host{ID: 8, Locators: []mhostnl.Locator{nlLoc("10.0.0.8"), nlLoc("fd00::8")}}
	nlCheck(t, "ReplaceHost 8", c.ReplaceHost(h8))
	nlWantHost(t, c, h8)

	// Append appends, in order, and creates when asked to.
	nlCheck(t, "AppendLocators 7", c.AppendLocators(7, []mhostnl.Locator{nlLoc("fd00::7"), nlLoc("10.0.1.7")}, false))
	h7.Locators = append(h7.Locators, nlLoc("fd00::7"), nlLoc("10.0.1.7"))
	nlWantHost(t, c, h7)
	h10 := mhostnl.Host{ID: 10, Locators: []mhostnl.Locator{nlLoc("10.0.0.10")}}
	nlCheck(t, "AppendLocators 10 create", c.AppendLocators(10, h10.Locators, true))
	nlWantHost(t, c, h10)

	// A host of exactly MaxLocators locators.
	h11 := mhostnl.Host{ID: 11}
	for i := range mhostnl.MaxLocators {
		h11.Locators = append(h11.Locators, nlLoc(fmt.Sprintf("10.0.11.%d", i+1)))
	}
	nlCheck(t, "AddHost with MaxLocators locators", c.AddHost(h11))
	nlWantHost(t, c, h11)

	// The dump has them all, each once.
	hosts, err := c.Hosts()
	nlCheck(t, "Hosts", err)
	want := map[uint32]string{}
	for _, h := range []mhostnl.Host{h7, h8, h10, h11, hMax} {
		h := h
		nlWantHost(t, c, h) // normalizes families
		got, _ := c.Host(h.ID)
		want[h.ID] = nlHostString(*got)
	}
	if len(hosts) != len(want) {
		t.Errorf("Hosts() returned %d hosts, want %d", len(hosts), len(want))
	}
	for _, h := range hosts {
		if w, ok := want[h.ID]; !ok || nlHostString(h) != w {
			t.Errorf("dumped %s, want %q", nlHostString(h), w)
		}
		delete(want, h.ID)
	}
	st, err := c.Stats()
	nlCheck(t, "Stats", err)
	if st.Hosts != 5 {
		t.Errorf("Stats().Hosts = %d, want 5", st.Hosts)
	}

	// Delete.
	nlCheck(t, "DeleteHost 8", c.DeleteHost(8))
	_, err = c.Host(8)
	nlWantErr(t, "Host 8 after DeleteHost", err, nlMsg.NoHost, unix.ENOENT)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Host 8 after delete: errors.Is(%v, os.ErrNotExist) = false", err)
	}

	// Flush.
	nlCheck(t, "FlushHosts", c.FlushHosts())
	hosts, err = c.Hosts()
	nlCheck(t, "Hosts after flush", err)
	if len(hosts) != 0 {
		t.Errorf("%d hosts after FlushHosts", len(hosts))
	}
	if st, err := c.Stats(); err != nil || st.Hosts != 0 {
		t.Errorf("Stats after flush: %+v, %v; want 0 hosts", st, err)
	}
	nlCheck(t, "FlushHosts of an empty table", c.FlushHosts())
}

// TestNLRejections checks every refusal of the kernel with its errno and
// message, through the Client where it can say the wrong thing and with
// raw messages where it cannot.
func TestNLRejections(t *testing.T) {
	ns := newNetNS(t, "nl")
	c := ns.control(t)
	nlCheck(t, "AddHost 7", c.AddHost(mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{nlLoc("10.0.0.2")}}))

	inet := func(addr string) []mhostnl.Locator { return []mhostnl.Locator{nlLoc(addr)} }
	nine := make([]mhostnl.Locator, 9)
	for i := range nine {
		nine[i] = nlLoc(fmt.Sprintf("10.0.9.%d", i+1))
	}
	tests := []struct {
		name   string
		err    error
		msg    string
		errnos []unix.Errno
	}{
		{"host id 0", c.AddHost(mhostnl.Host{ID: 0, Locators: inet("10.0.0.1")}), nlMsg.ZeroID, []unix.Errno{unix.EINVAL, unix.ERANGE}},
		{"delete host id 0", c.DeleteHost(0), nlMsg.ZeroID, []unix.Errno{unix.EINVAL, unix.ERANGE}},
		{"unknown family", c.AddHost(mhostnl.Host{ID: 20, Locators: []mhostnl.Locator{{Family: 99, Raw: []byte{1, 2, 3, 4}}}}),
			nlMsg.UnknownFamily, []unix.Errno{unix.EAFNOSUPPORT}},
		{"inet address of 16 bytes", c.AddHost(mhostnl.Host{ID: 20, Locators: []mhostnl.Locator{{Family: mhostnl.FamilyInet, Raw: make([]byte, 16)}}}),
			nlMsg.AddrLen, []unix.Errno{unix.EINVAL}},
		{"inet6 address of 4 bytes", c.AddHost(mhostnl.Host{ID: 20, Locators: []mhostnl.Locator{{Family: mhostnl.FamilyInet6, Raw: []byte{10, 0, 0, 1}}}}),
			nlMsg.AddrLen, []unix.Errno{unix.EINVAL}},
		{"9 locators", c.AddHost(mhostnl.Host{ID: 20, Locators: nine}), nlMsg.TooMany, []unix.Errno{unix.E2BIG}},
		{"appending an 9th locator", c.AppendLocators(7, nine[:8], false), nlMsg.TooMany, []unix.Errno{unix.E2BIG}},
		{"add an existing host", c.AddHost(mhostnl.Host{ID: 7, Locators: inet("10.0.0.3")}), nlMsg.Exists, []unix.Errno{unix.EEXIST}},
		{"replace a missing host", c.ReplaceHost(mhostnl.Host{ID: 20, Locators: inet("10.0.0.3")}), nlMsg.NoHost, []unix.Errno{unix.ENOENT}},
		{"append to a missing host", c.AppendLocators(20, inet("10.0.0.3"), false), nlMsg.NoHost, []unix.Errno{unix.ENOENT}},
		{"delete a missing host", c.DeleteHost(20), nlMsg.NoHost, []unix.Errno{unix.ENOENT}},
		{"get a missing host", second(c.Host(20)), nlMsg.NoHost, []unix.Errno{unix.ENOENT}},
		{"ifindex of an inet locator", c.AddHost(mhostnl.Host{ID: 20, Locators: []mhostnl.Locator{{Addr: netip.MustParseAddr("10.0.0.1"), Ifindex: 1}}}),
			nlMsg.InetIfindex, []unix.Errno{unix.EINVAL}},
		{"unknown ifindex", c.AddHost(mhostnl.Host{ID: 20, Locators: []mhostnl.Locator{{Addr: netip.MustParseAddr("fe80::1"), Ifindex: 999999}}}),
			nlMsg.NoDevice, []unix.Errno{unix.ENODEV}},
		{"no locators", c.AddHost(mhostnl.Host{ID: 20}), nlMsg.NoLocators, []unix.Errno{unix.EINVAL}},
		{"duplicate locator", c.AddHost(mhostnl.Host{ID: 20, Locators: []mhostnl.Locator{nlLoc("10.0.0.1"), nlLoc("10.0.0.1")}}),
			nlMsg.Duplicate, []unix.Errno{unix.EINVAL}},
		{"appending a locator the host has", c.AppendLocators(7, []mhostnl.Locator{nlLoc("10.0.0.9"), nlLoc("10.0.0.2")}, false),
			nlMsg.DuplicateHas, []unix.Errno{unix.EEXIST}},
	}
	for _, tt := range tests {
		nlWantErr(t, tt.name, tt.err, tt.msg, tt.errnos...)
	}
	if err := c.AddHost(mhostnl.Host{ID: 7, Locators: inet("10.0.0.3")}); !errors.Is(err, os.ErrExist) {
		t.Errorf("add an existing host: errors.Is(%v, os.ErrExist) = false", err)
	}
	if err := c.DeleteHost(20); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("delete a missing host: errors.Is(%v, os.ErrNotExist) = false", err)
	}

	// Raw messages.
	r := nlRawConn(t, ns.fd)
	id := func(v uint32) netlink.Attribute { return nlU32(aHostID, v) }
	create := nlU32(aHostFlags, hostFCreate)
	locs := nlNest(aHostLocators, nlRawLoc(2, []byte{10, 0, 0, 1}))
	raw := []struct {
		name   string
		cmd    uint8
		flags  netlink.HeaderFlags
		attrs  []byte
		msg    string
		errnos []unix.Errno
	}{
		{"new without host id", cmdHostNew, 0, nlAttrs(create, locs), nlMsg.MissingID, []unix.Errno{unix.EINVAL}},
		{"del without host id", cmdHostDel, 0, nil, nlMsg.MissingID, []unix.Errno{unix.EINVAL}},
		{"get without host id", cmdHostGet, 0, nil, nlMsg.MissingID, []unix.Errno{unix.EINVAL}},
		{"host id as u16", cmdHostNew, 0, nlAttrs(nlU16(aHostID, 21), create, locs), nlMsg.AttrLen, []unix.Errno{unix.EINVAL, unix.ERANGE}},
		{"host id as u64", cmdHostDel, 0, nlAttrs(nlU64(aHostID, 7)), nlMsg.AttrLen, []unix.Errno{unix.EINVAL, unix.ERANGE}},
		{"flags as u16", cmdHostNew, 0, nlAttrs(id(21), nlU16(aHostFlags, 1), locs), nlMsg.AttrLen, []unix.Errno{unix.EINVAL, unix.ERANGE}},
		{"unknown flag", cmdHostNew, 0, nlAttrs(id(21), nlU32(aHostFlags, 0x100|hostFCreate), locs), nlMsg.ReservedBit, []unix.Errno{unix.EINVAL, unix.ERANGE}},
		{"replace and append", cmdHostNew, 0, nlAttrs(id(7), nlU32(aHostFlags, hostFReplace|hostFAppend), locs), nlMsg.ReplaceAppend, []unix.Errno{unix.EINVAL}},
		{"NLM_F_CREATE in nlmsg_flags", cmdHostNew, netlink.Create, nlAttrs(id(21), locs), nlMsg.NlmsgFlags, []unix.Errno{unix.EINVAL}},
		{"locators without NLA_F_NESTED", cmdHostNew, 0,
			nlAttrs(id(21), create, nlBytes(aHostLocators, nlAttrs(nlRawLoc(2, []byte{10, 0, 0, 1})))), nlMsg.NestedMissing, []unix.Errno{unix.EINVAL}},
		{"locators as u32", cmdHostNew, 0, nlAttrs(id(21), create, nlU32(aHostLocators, 1)), nlMsg.NestedMissing, []unix.Errno{unix.EINVAL}},
		{"unknown attribute", cmdHostNew, 0, nlAttrs(id(21), create, locs, nlU32(100, 1)), nlMsg.UnknownAttr, []unix.Errno{unix.EINVAL}},
		{"read-only attribute", cmdHostNew, 0, nlAttrs(id(21), create, nlNest(aHostLocators,
			nlRawLoc(2, []byte{10, 0, 0, 1}, nlU64(locATxPackets, 1)))), nlMsg.Rejected, []unix.Errno{unix.EINVAL}},
		// Without NLA_F_NESTED, which the core would complain about first.
		{"stats in a request", cmdHostNew, 0, nlAttrs(id(21), create, locs, nlBytes(aStats, nil)), nlMsg.Unsupported, []unix.Errno{unix.EINVAL}},
		// Each command takes its own attributes and no others.
		{"flags in a delete", cmdHostDel, 0, nlAttrs(id(21), create), nlMsg.Unsupported, []unix.Errno{unix.EINVAL}},
		{"locators in a get", cmdHostGet, 0, nlAttrs(id(7), locs), nlMsg.Unsupported, []unix.Errno{unix.EINVAL}},
		{"a device in a new host", cmdHostNew, 0, nlAttrs(id(21), create, locs, nlNest(aDev, nlU32(devAIfindex, 1))), nlMsg.Unsupported, []unix.Errno{unix.EINVAL}},
		{"host id in a flush", cmdHostFlush, 0, nlAttrs(id(7)), nlMsg.UnknownAttr, []unix.Errno{unix.EINVAL}},
		{"host id in a stats request", cmdStatsGet, 0, nlAttrs(id(7)), nlMsg.UnknownAttr, []unix.Errno{unix.EINVAL}},
		{"host id in a liveness request", cmdLiveGet, 0, nlAttrs(id(7)), nlMsg.UnknownAttr, []unix.Errno{unix.EINVAL}},
		{"locator list entry of another type", cmdHostNew, 0, nlAttrs(id(21), create, nlNest(aHostLocators,
			nlRawLoc(2, []byte{10, 0, 0, 1}), nlNest(aLocator+1, nlU16(locAFamily, 2), nlBytes(locAAddr, []byte{10, 0, 0, 2})))),
			nlMsg.NotLocator, []unix.Errno{unix.EINVAL}},
		{"family as u32", cmdHostNew, 0, nlAttrs(id(21), create, nlNest(aHostLocators,
			nlNest(aLocator, nlU32(locAFamily, 2), nlBytes(locAAddr, []byte{10, 0, 0, 1})))), nlMsg.AttrLen, []unix.Errno{unix.EINVAL, unix.ERANGE}},
		{"port as u32", cmdHostNew, 0, nlAttrs(id(21), create, nlNest(aHostLocators,
			nlRawLoc(2, []byte{10, 0, 0, 1}, nlU32(locAPort, 7000)))), nlMsg.AttrLen, []unix.Errno{unix.EINVAL, unix.ERANGE}},
		{"missing locators", cmdHostNew, 0, nlAttrs(id(21), create), nlMsg.MissingLocators, []unix.Errno{unix.EINVAL}},
		{"locator without family", cmdHostNew, 0, nlAttrs(id(21), create, nlNest(aHostLocators,
			nlNest(aLocator, nlBytes(locAAddr, []byte{10, 0, 0, 1})))), nlMsg.MissingFamily, []unix.Errno{unix.EINVAL}},
		{"locator without address", cmdHostNew, 0, nlAttrs(id(21), create, nlNest(aHostLocators,
			nlNest(aLocator, nlU16(locAFamily, 2)))), nlMsg.MissingAddr, []unix.Errno{unix.EINVAL}},
		{"no flags for a missing host", cmdHostNew, 0, nlAttrs(id(21), locs), nlMsg.NoHost, []unix.Errno{unix.ENOENT}},
		{"no flags for an existing host", cmdHostNew, 0, nlAttrs(id(7), locs), nlMsg.Exists, []unix.Errno{unix.EEXIST}},
	}
	for _, tt := range raw {
		nlWantErr(t, "raw: "+tt.name, r.request(tt.cmd, tt.flags, tt.attrs), tt.msg, tt.errnos...)
	}

	// None of it changed the table.
	hosts, err := c.Hosts()
	nlCheck(t, "Hosts", err)
	if len(hosts) != 1 || nlHostString(hosts[0]) != "7 [inet 10.0.0.2]" {
		var s []string
		for _, h := range hosts {
			s = append(s, nlHostString(h))
		}
		t.Errorf("after the rejections, the table is %v, want only 7 [inet 10.0.0.2]", s)
	}
}

// TestNLDuplicates checks what makes two locators the same: family,
// address, port and device all alike.
func TestNLDuplicates(t *testing.T) {
	ns := newNetNS(t, "nl")
	c := ns.control(t)
	other, _ := ns.addVeth(t, "dup0", "dup1", 0)
	ll := func(ifindex int, port uint16) mhostnl.Locator {
		return mhostnl.Locator{Addr: netip.MustParseAddr("fe80::1"), Ifindex: ifindex, Port: port}
	}
	v4 := func(port uint16) mhostnl.Locator {
		return mhostnl.Locator{Addr: netip.MustParseAddr("10.0.0.1"), Port: port}
	}

	// Different paths to one address.
	h := mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{ll(1, 0), ll(other, 0), ll(1, 7000), v4(0), v4(7000)}}
	nlCheck(t, "AddHost with one address on two devices and two ports", c.AddHost(h))
	nlWantHost(t, c, h)

	// The same path twice.
	nlWantErr(t, "the same device twice", c.AddHost(mhostnl.Host{ID: 8, Locators: []mhostnl.Locator{ll(other, 0), ll(other, 0)}}),
		nlMsg.Duplicate, unix.EINVAL)
	nlWantErr(t, "the same port twice", c.AddHost(mhostnl.Host{ID: 8, Locators: []mhostnl.Locator{v4(9), v4(9)}}),
		nlMsg.Duplicate, unix.EINVAL)

	// Appending checks against what the host has; replacing does not.
	nlWantErr(t, "appending a path the host has", c.AppendLocators(7, []mhostnl.Locator{ll(other, 0)}, false),
		nlMsg.DuplicateHas, unix.EEXIST)
	nlCheck(t, "appending a new port", c.AppendLocators(7, []mhostnl.Locator{ll(other, 7000)}, false))
	h.Locators = append(h.Locators, ll(other, 7000))
	nlWantHost(t, c, h)
	h.Locators = h.Locators[1:3]
	nlCheck(t, "replacing with some of the same", c.ReplaceHost(h))
	nlWantHost(t, c, h)
}

func TestNLSockets(t *testing.T) {
	ns := newNetNS(t, "nl")
	ns.setUp(t, "lo") // host 7 and the datagram to itself are on loopback
	c := ns.control(t)

	nlCheck(t, "AddHost 7", c.AddHost(mhost7(t)))
	conn := ns.listen(t)
	var dialed *mhost.Conn
	ns.do(t, "mhost.Dial to host 7", func() (err error) {
		dialed, err = mhost.Dial(&mhost.HostAddr{ID: 7, Port: 9})
		return err
	})
	defer dialed.Close()
	port := conn.LocalAddr().(*mhost.HostAddr).Port
	inode := nlInode(t, conn)

	// A datagram to itself fills its receive queue.
	_, err := conn.WriteTo([]byte("queued"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(port)})
	nlCheck(t, "sending to itself", err)

	var mine mhostnl.Socket
	ok := poll(5*time.Second, func() bool {
		ss, err := c.Sockets()
		nlCheck(t, "Sockets", err)
		for _, s := range ss {
			if s.Inode == inode {
				mine = s
				return s.RxQueue > 0
			}
		}
		return false
	})
	t.Logf("socket: %+v", mine)
	if !ok {
		t.Fatalf("no socket with inode %d and a queued datagram in the dump; last seen %+v", inode, mine)
	}
	if mine.Port != port || mine.UID != 0 || mine.PeerHostID != 0 {
		t.Errorf("socket = %+v, want port %d, uid 0, no peer", mine, port)
	}

	ss, err := c.Sockets()
	nlCheck(t, "Sockets", err)
	dinode := nlInode(t, dialed)
	found := false
	for _, s := range ss {
		if s.Inode == dinode {
			found = true
			if s.PeerHostID != 7 || s.Port == 0 {
				t.Errorf("dialed socket = %+v, want peer host 7 and a bound port", s)
			}
		}
	}
	if !found {
		t.Errorf("no socket with inode %d (the dialed one) in %+v", dinode, ss)
	}
	st, err := c.Stats()
	nlCheck(t, "Stats", err)
	if st.Sockets != 2 || len(ss) != 2 {
		t.Errorf("Stats().Sockets = %d, dump has %d; want 2 sockets", st.Sockets, len(ss))
	}

	// Closed sockets leave the dump.
	conn.Close()
	dialed.Close()
	if !poll(5*time.Second, func() bool {
		ss, err := c.Sockets()
		return err == nil && len(ss) == 0
	}) {
		ss, err := c.Sockets()
		t.Errorf("5s after closing them, the dump has %+v, %v", ss, err)
	}
}

// mhost7 is host 7 of the socket tests, on loopback so that connect()
// finds a route whatever it checks.
func mhost7(t *testing.T) mhostnl.Host {
	return mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{nlLoc("127.0.0.7")}}
}

// nlInode returns the inode of a socket.
func nlInode(t *testing.T, c *mhost.Conn) uint64 {
	t.Helper()
	rc, err := c.SyscallConn()
	nlCheck(t, "SyscallConn", err)
	var st unix.Stat_t
	var serr error
	nlCheck(t, "Control", rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }))
	nlCheck(t, "fstat", serr)
	return st.Ino
}

func TestNLEvents(t *testing.T) {
	ca, cb := newNetNS(t, "a").control(t), newNetNS(t, "b").control(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := ca.Watch(ctx)
	nlCheck(t, "Watch", err)
	defer w.Close()

	// A change in another namespace is not announced here.
	nlCheck(t, "AddHost in the other namespace", cb.AddHost(mhostnl.Host{ID: 99, Locators: []mhostnl.Locator{nlLoc("10.9.9.9")}}))

	nlCheck(t, "AddHost 7", ca.AddHost(mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{nlLoc("fd00::2")}}))
	nlCheck(t, "AppendLocators 7", ca.AppendLocators(7, []mhostnl.Locator{nlLoc("10.0.0.2")}, false))
	nlCheck(t, "DeleteHost 7", ca.DeleteHost(7))
	nlCheck(t, "AddHost 8", ca.AddHost(mhostnl.Host{ID: 8, Locators: []mhostnl.Locator{nlLoc("10.0.0.8")}}))
	nlCheck(t, "FlushHosts", ca.FlushHosts())
	// A refused change is not announced.
	nlWantErr(t, "DeleteHost 7 again", ca.DeleteHost(7), nlMsg.NoHost, unix.ENOENT)
	nlCheck(t, "AddHost 9", ca.AddHost(mhostnl.Host{ID: 9, Locators: []mhostnl.Locator{nlLoc("10.0.0.9")}}))

	want := []string{
		"new 7 [inet6 fd00::2]",
		"new 7 [inet6 fd00::2, inet 10.0.0.2]",
		"del 7 []",
		"new 8 [inet 10.0.0.8]",
		"flush 0 []",
		"new 9 [inet 10.0.0.9]",
	}
	for i, w0 := range want {
		ev, err := w.Next()
		if err != nil {
			t.Fatalf("event %d: %v (want %q)", i, err, w0)
		}
		if got := ev.Type.String() + " " + nlHostString(ev.Host); got != w0 {
			t.Errorf("event %d = %q, want %q", i, got, w0)
		}
	}
	nlCheck(t, "FlushHosts", ca.FlushHosts())
	nlCheck(t, "FlushHosts in the other namespace", cb.FlushHosts())

	// Canceling the context ends Next.
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	for {
		ev, err := w.Next()
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Next after cancel: %v, want context.Canceled", err)
			}
			break
		}
		if ev.Type != mhostnl.EventHostFlush {
			t.Errorf("unexpected event %+v", ev)
		}
	}
}

func TestNLNamespaces(t *testing.T) {
	inNS, initial := newNetNS(t, "nl").control(t), nlDial(t, 0)
	t.Cleanup(func() { initial.DeleteHost(43) })

	nlCheck(t, "AddHost 42 in the new namespace", inNS.AddHost(mhostnl.Host{ID: 42, Locators: []mhostnl.Locator{nlLoc("10.0.0.42")}}))
	nlCheck(t, "AddHost 43 in the initial namespace", initial.AddHost(mhostnl.Host{ID: 43, Locators: []mhostnl.Locator{nlLoc("10.0.0.43")}}))

	_, err := initial.Host(42)
	nlWantErr(t, "host 42 seen from the initial namespace", err, nlMsg.NoHost, unix.ENOENT)
	_, err = inNS.Host(43)
	nlWantErr(t, "host 43 seen from the new namespace", err, nlMsg.NoHost, unix.ENOENT)
	nlWantErr(t, "deleting host 42 from the initial namespace", initial.DeleteHost(42), nlMsg.NoHost, unix.ENOENT)

	for _, tc := range []struct {
		name string
		c    *mhostnl.Client
		id   uint32
	}{{"new", inNS, 42}, {"initial", initial, 43}} {
		hosts, err := tc.c.Hosts()
		nlCheck(t, "Hosts", err)
		if len(hosts) != 1 || hosts[0].ID != tc.id {
			t.Errorf("%s namespace dumps %+v, want only host %d", tc.name, hosts, tc.id)
		}
		st, err := tc.c.Stats()
		nlCheck(t, "Stats", err)
		if st.Hosts != 1 {
			t.Errorf("%s namespace: Stats().Hosts = %d, want 1", tc.name, st.Hosts)
		}
	}

	// The same id can name different hosts in different namespaces.
	nlCheck(t, "AddHost 43 in the new namespace", inNS.AddHost(mhostnl.Host{ID: 43, Locators: []mhostnl.Locator{nlLoc("fd00::43")}}))
	nlWantHost(t, inNS, mhostnl.Host{ID: 43, Locators: []mhostnl.Locator{nlLoc("fd00::43")}})
	nlWantHost(t, initial, mhostnl.Host{ID: 43, Locators: []mhostnl.Locator{nlLoc("10.0.0.43")}})

	// Flushing one namespace leaves the other alone.
	nlCheck(t, "FlushHosts in the new namespace", inNS.FlushHosts())
	nlWantHost(t, initial, mhostnl.Host{ID: 43, Locators: []mhostnl.Locator{nlLoc("10.0.0.43")}})
	nlCheck(t, "DeleteHost 43 in the initial namespace", initial.DeleteHost(43))
}

// nlLeakHosts is how many hosts the leak test leaves in a dying namespace.
const nlLeakHosts = 10000

// nlAllocatedFile counts the host entries of all namespaces. Only
// debugfs shows it: nothing global is visible from a namespace.
const nlAllocatedFile = "/sys/kernel/debug/mhost/hosts_allocated"

// nlAllAllocated reads nlAllocatedFile.
func nlAllAllocated(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile(nlAllocatedFile)
	nlCheck(t, "reading the module-wide host count", err)
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	nlCheck(t, "parsing "+nlAllocatedFile, err)
	return n
}

// TestNLNamespaceLeak fills the table of a namespace that then dies with
// its hosts in it: they must all be freed.
func TestNLNamespaceLeak(t *testing.T) {
	baseline := nlSettled(t, func() uint64 { return nlAllAllocated(t) })
	t.Logf("hosts allocated before: %d", baseline)

	out := runHelper(t, "TestHelperNLLeak", &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET},
		"MHOST_NL_BASELINE="+strconv.FormatUint(baseline, 10))
	t.Logf("helper:\n%s", out)

	var last uint64
	if !poll(10*time.Second, func() bool {
		last = nlAllAllocated(t)
		return last <= baseline
	}) {
		t.Errorf("10s after the namespace died, %d hosts are allocated, %d before: %d leaked",
			last, baseline, last-baseline)
	}
}

// nlSettled waits for a counter to stop moving (the namespaces of earlier
// tests may still be on their way out, replaced hosts wait for RCU) and
// returns it.
func nlSettled(t *testing.T, count func() uint64) uint64 {
	t.Helper()
	var prev, cur uint64 = 1<<64 - 1, 0
	poll(10*time.Second, func() bool {
		cur = count()
		same := cur == prev
		prev = cur
		if !same {
			time.Sleep(250 * time.Millisecond)
		}
		return same
	})
	return cur
}

// TestHelperNLLeak is not a test: TestNLNamespaceLeak runs it in a new
// network namespace, which dies with the process.
func TestHelperNLLeak(t *testing.T) {
	if !isHelper("TestHelperNLLeak") {
		return
	}
	baseline, err := strconv.ParseUint(os.Getenv("MHOST_NL_BASELINE"), 10, 64)
	nlCheck(t, "MHOST_NL_BASELINE", err)
	c := nlDial(t, 0)
	if hosts, err := c.Hosts(); err != nil || len(hosts) != 0 {
		t.Fatalf("the helper's namespace is not new: %d hosts, %v", len(hosts), err)
	}
	nlCheck(t, "AddHosts", c.AddHosts(nlScaleHosts(nlLeakHosts)))
	st, err := c.Stats()
	nlCheck(t, "Stats", err)
	all := nlAllAllocated(t)
	t.Logf("hosts %d here, %d allocated here, %d in all namespaces", st.Hosts, st.HostsAllocated, all)
	if st.Hosts != nlLeakHosts || st.HostsAllocated != nlLeakHosts || all < baseline+nlLeakHosts {
		t.Errorf("Stats() = %+v and %d in all namespaces, want %d hosts here, as many allocated, and at least %d in all",
			st, all, nlLeakHosts, baseline+nlLeakHosts)
	}
	fmt.Println(helperDone)
}

// TestNLHostsAllocated checks that a namespace counts its own host
// entries, those that wait to be freed included, and sees no other's.
func TestNLHostsAllocated(t *testing.T) {
	a, b := newNetNS(t, "a"), newNetNS(t, "b")
	ca, cb := a.control(t), b.control(t)
	const n = 100
	hosts := nlScaleHosts(n)
	nlCheck(t, "AddHosts in a", ca.AddHosts(hosts))
	// Replacing and deleting leave old versions to be freed after RCU.
	for _, h := range hosts[:n/2] {
		h.Locators = h.Locators[:1]
		nlCheck(t, "SetHost", ca.SetHost(h))
	}
	for _, h := range hosts[n/2 : n/2+10] {
		nlCheck(t, "DeleteHost", ca.DeleteHost(h.ID))
	}
	allocated := func(c *mhostnl.Client) func() uint64 {
		return func() uint64 {
			st, err := c.Stats()
			nlCheck(t, "Stats", err)
			return st.HostsAllocated
		}
	}
	if got := nlSettled(t, allocated(ca)); got != n-10 {
		t.Errorf("namespace a, quiet with %d hosts: %d host entries allocated", n-10, got)
	}
	if got := allocated(cb)(); got != 0 {
		t.Errorf("namespace b, with no hosts, sees %d host entries allocated (a's?)", got)
	}
	nlCheck(t, "FlushHosts", ca.FlushHosts())
	if got := nlSettled(t, allocated(ca)); got != 0 {
		t.Errorf("namespace a, flushed: %d host entries allocated", got)
	}
}

func TestNLUnprivileged(t *testing.T) {
	out := runHelper(t, "TestHelperNLUnprivileged", nobody)
	t.Logf("helper:\n%s", out)
}

// TestHelperNLUnprivileged is not a test: TestNLUnprivileged runs it as
// nobody, who may read everything and change nothing.
func TestHelperNLUnprivileged(t *testing.T) {
	if !isHelper("TestHelperNLUnprivileged") {
		return
	}
	if os.Getuid() != 65534 {
		t.Fatalf("running as uid %d, want 65534", os.Getuid())
	}
	c := nlDial(t, 0)
	if _, err := c.Protocols(); err != nil {
		t.Errorf("Protocols as nobody: %v", err)
	}
	if _, err := c.Hosts(); err != nil {
		t.Errorf("Hosts as nobody: %v", err)
	}
	if _, err := c.Sockets(); err != nil {
		t.Errorf("Sockets as nobody: %v", err)
	}
	if _, err := c.Stats(); err != nil {
		t.Errorf("Stats as nobody: %v", err)
	}
	h := mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{nlLoc("10.0.0.2")}}
	for what, err := range map[string]error{
		"AddHost":        c.AddHost(h),
		"SetHost":        c.SetHost(h),
		"AppendLocators": c.AppendLocators(7, h.Locators, true),
		"DeleteHost":     c.DeleteHost(7),
		"FlushHosts":     c.FlushHosts(),
		"AddHosts":       c.AddHosts([]mhostnl.Host{h}),
	} {
		if !errors.Is(err, os.ErrPermission) {
			t.Errorf("%s as nobody: %v, want os.ErrPermission", what, err)
		}
	}
	fmt.Println(helperDone)
}

// nlScaleHosts returns n hosts with ids 1 to n and two or three locators
// each, all different.
func nlScaleHosts(n int) []mhostnl.Host {
	hosts := make([]mhostnl.Host, n)
	for i := range hosts {
		id := uint32(i + 1)
		h := mhostnl.Host{ID: id, Locators: []mhostnl.Locator{
			{Family: mhostnl.FamilyInet6, Addr: netip.AddrFrom16([16]byte{0xfd, 0, 14: byte(id >> 8), 15: byte(id), 13: byte(id >> 16)})},
			{Family: mhostnl.FamilyInet, Addr: netip.AddrFrom4([4]byte{10, byte(id >> 16), byte(id >> 8), byte(id)})},
		}}
		if id%3 == 0 {
			h.Locators[1].Port = uint16(id)
		}
		if id%5 == 0 {
			h.Locators = append(h.Locators, mhostnl.Locator{Family: mhostnl.FamilyInet6,
				Addr: netip.AddrFrom16([16]byte{0xfe, 0x80, 15: 1}), Ifindex: 1, Port: 7000})
		}
		hosts[i] = h
	}
	return hosts
}

// nlScaleCount is how many hosts the scale test loads (scaled on the
// debug kernel).
const nlScaleCount = 100000

func TestNLScale(t *testing.T) {
	c := newNetNS(t, "nl").control(t)
	count := scaled(t, nlScaleCount, "hosts")
	hosts := nlScaleHosts(count)

	start := time.Now()
	nlCheck(t, "AddHosts", c.AddHosts(hosts))
	load := time.Since(start)
	t.Logf("loaded %d hosts in %v: %.0f hosts/s", len(hosts), load, float64(len(hosts))/load.Seconds())

	start = time.Now()
	dumped, err := c.Hosts()
	nlCheck(t, "Hosts", err)
	dump := time.Since(start)
	t.Logf("dumped %d hosts in %v: %.0f hosts/s", len(dumped), dump, float64(len(dumped))/dump.Seconds())

	want := make(map[uint32]string, len(hosts))
	for _, h := range hosts {
		want[h.ID] = nlHostString(h)
	}
	seen := make(map[uint32]bool, len(dumped))
	bad := 0
	for _, h := range dumped {
		switch w, ok := want[h.ID]; {
		case seen[h.ID]:
			t.Errorf("host %d dumped twice", h.ID)
			bad++
		case !ok:
			t.Errorf("dumped host %d, which was never added", h.ID)
			bad++
		case nlHostString(h) != w:
			t.Errorf("dumped %s, want %s", nlHostString(h), w)
			bad++
		}
		seen[h.ID] = true
		if bad > 20 {
			t.Fatal("too many differences")
		}
	}
	if len(seen) != len(hosts) {
		t.Errorf("dumped %d distinct hosts, want %d", len(seen), len(hosts))
	}
	st, err := c.Stats()
	nlCheck(t, "Stats", err)
	if int(st.Hosts) != count {
		t.Errorf("Stats().Hosts = %d, want %d", st.Hosts, count)
	}

	start = time.Now()
	nlCheck(t, "FlushHosts", c.FlushHosts())
	t.Logf("flushed %d hosts in %v", len(hosts), time.Since(start))
	if dumped, err := c.Hosts(); err != nil || len(dumped) != 0 {
		t.Errorf("after the flush: %d hosts, %v", len(dumped), err)
	}

	// Loading twice is refused host by host, and the batch stops after
	// the first chunk.
	nlCheck(t, "AddHosts 1000", c.AddHosts(hosts[:1000]))
	err = c.AddHosts(hosts[:1000])
	var be *mhostnl.BatchError
	if !errors.As(err, &be) || !errors.Is(err, os.ErrExist) || len(be.Errors) == 0 || be.Sent >= 1000 {
		t.Errorf("loading the same hosts again: %v, want a *mhostnl.BatchError of EEXIST that stops early", err)
	} else {
		nlWantErr(t, "loading the same hosts again", be.Errors[0].Err, nlMsg.Exists, unix.EEXIST)
		t.Logf("%d failures, %d hosts sent: %v", len(be.Errors), be.Sent, strings.SplitN(err.Error(), "\n", 2)[0])
	}
	nlCheck(t, "FlushHosts", c.FlushHosts())
}

// TestNLDumpResize parks a host dump between two of its messages while
// the table's deferred resize runs. The resize restarts the parked walk,
// so the dump must be flagged NLM_F_DUMP_INTR: unflagged, it would hand
// the reader hosts twice.
//
// The table starts at 64 buckets and doubles in a worker once it is 75%
// full, or at once when an add finds it 100% full. So 700 hosts, given
// time, settle in 1024 buckets, and 300 more only queue a resize, which
// the test holds back until the dump's first message is read: it adds
// them and reads on CPU 0 at SCHED_FIFO priority 2, with a shell loop at
// priority 1 filling CPU 0 whenever the Go runtime parks that thread;
// then it stops the loop and sleeps. Real-time throttling could still let
// the worker through early, so a few attempts are allowed, but one of
// them must see the resize.
func TestNLDumpResize(t *testing.T) {
	const (
		attempts = 5
		settled  = 700
		count    = 1000
	)
	hosts := nlScaleHosts(count)
	for attempt := 1; attempt <= attempts; attempt++ {
		ns := newNetNS(t, "resize")
		c := ns.control(t)
		fd := ns.socket(t, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_GENERIC)
		family := nlRawConn(t, ns.fd).family.ID
		nlCheck(t, "AddHosts", c.AddHosts(hosts[:settled]))
		time.Sleep(200 * time.Millisecond) // for the resizes to 1024 buckets
		hog := exec.Command("/bin/sh", "-c", "while :; do :; done")
		if err := hog.Start(); err != nil {
			t.Fatal(err)
		}

		var d nlDump
		err := onOneCPU(func() error { return d.heldBackRead(c, fd, family, hosts[settled:], hog.Process.Pid) })
		hog.Process.Kill()
		hog.Wait()
		if err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}

		seen := make(map[uint32]bool, count)
		dups := 0
		for _, id := range d.ids {
			if seen[id] {
				dups++
			}
			seen[id] = true
		}
		t.Logf("attempt %d: %d host messages, %d repeated, interrupted: %v", attempt, len(d.ids), dups, d.intr)
		if d.intr {
			return // the resize was seen and reported
		}
		if dups > 0 || len(seen) != count {
			t.Fatalf("an uninterrupted dump returned %d distinct hosts of %d, %d of them twice", len(seen), count, dups)
		}
	}
	t.Errorf("in %d attempts the table never resized during the dump: the test could not hold the resize back", attempts)
}

// nlDump is what a hand-read host dump returned.
type nlDump struct {
	ids  []uint32 // in order, repeats included
	intr bool     // some message had NLM_F_DUMP_INTR
}

// heldBackRead, called on CPU 0 (onOneCPU), adds hosts and reads the
// first message of a host dump with nothing else running on that CPU (see
// TestNLDumpResize), then kills hog, sleeps so that work queued by the
// adds runs, and reads the rest. It makes the calling thread real-time.
func (d *nlDump) heldBackRead(c *mhostnl.Client, fd int, family uint16, hosts []mhostnl.Host, hog int) error {
	var cpu0 unix.CPUSet
	cpu0.Set(0)
	if err := unix.SchedSetaffinity(hog, &cpu0); err != nil {
		return fmt.Errorf("sched_setaffinity(%d): %w", hog, err)
	}
	for _, p := range []struct{ tid, prio int }{{0, 2}, {hog, 1}} {
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: uint32(p.prio)}
		if err := unix.SchedSetAttr(p.tid, &attr, 0); err != nil {
			return fmt.Errorf("sched_setattr(%d, SCHED_FIFO): %w", p.tid, err)
		}
	}
	if err := c.AddHosts(hosts); err != nil {
		return err
	}
	req, err := (genetlink.Message{Header: genetlink.Header{Command: cmdHostGet, Version: genlVersion}}).MarshalBinary()
	if err != nil {
		return err
	}
	req, err = (netlink.Message{
		Header: netlink.Header{
			Length: uint32(unix.NLMSG_HDRLEN + len(req)),
			Type:   netlink.HeaderType(family),
			Flags:  netlink.Request | netlink.Dump,
		},
		Data: req,
	}).MarshalBinary()
	if err != nil {
		return err
	}
	if _, err := unix.Write(fd, req); err != nil {
		return fmt.Errorf("sending the dump request: %w", err)
	}
	buf := make([]byte, 64<<10)
	for first := true; ; first = false {
		if !first {
			time.Sleep(200 * time.Millisecond)
		}
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return fmt.Errorf("reading the dump: %w", err)
		}
		if first {
			if err := unix.Kill(hog, unix.SIGKILL); err != nil {
				return fmt.Errorf("stopping the CPU hog: %w", err)
			}
		}
		done, err := d.parse(buf[:n], family)
		if done || err != nil {
			return err
		}
	}
}

// parse takes in one datagram of a host dump and reports whether it
// ended the dump.
func (d *nlDump) parse(b []byte, family uint16) (bool, error) {
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return false, err
	}
	for _, m := range msgs {
		if m.Header.Flags&unix.NLM_F_DUMP_INTR != 0 {
			d.intr = true
		}
		switch m.Header.Type {
		case unix.NLMSG_DONE:
			return true, nil
		case unix.NLMSG_ERROR:
			if len(m.Data) < 4 {
				return false, errors.New("short NLMSG_ERROR")
			}
			return false, fmt.Errorf("dump failed: %w", unix.Errno(-int32(binary.NativeEndian.Uint32(m.Data))))
		case family:
		default:
			return false, fmt.Errorf("unexpected message type %d", m.Header.Type)
		}
		attrs, err := netlink.UnmarshalAttributes(m.Data[unix.GENL_HDRLEN:])
		if err != nil {
			return false, err
		}
		for _, a := range attrs {
			if a.Type == aHostID {
				d.ids = append(d.ids, binary.NativeEndian.Uint32(a.Data))
			}
		}
	}
	return false, nil
}
