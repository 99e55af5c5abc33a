package mhostnl

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/internal/uapi"
)

var (
	ip6 = netip.MustParseAddr("fd00::2")
	ip4 = netip.MustParseAddr("10.0.0.2")
)

func TestNewNotLoaded(t *testing.T) {
	k := &fakeKernel{t: t, fn: func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, kerr(unix.ENOENT, "")
	}}
	_, err := k.newClient()
	if !errors.Is(err, ErrNotLoaded) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotLoaded and os.ErrNotExist", err)
	}
	if want := "mhost module not loaded (modprobe mhost, or run inside the VM)"; !strings.Contains(err.Error(), want) {
		t.Errorf("err = %q, want it to say %q", err, want)
	}
}

func TestNewFamilyError(t *testing.T) {
	k := &fakeKernel{t: t, fn: func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, kerr(unix.EPERM, "")
	}}
	_, err := k.newClient()
	if errors.Is(err, ErrNotLoaded) || !errors.Is(err, os.ErrPermission) {
		t.Fatalf("err = %v, want os.ErrPermission and not ErrNotLoaded", err)
	}
}

// TestRequests checks the header and attributes of every command's request.
func TestRequests(t *testing.T) {
	portAttr := u16(uapi.LocAPort, 7000)
	// Both locators of the host most tests send, as the kernel must
	// receive them.
	locators := nest(uapi.AHostLocators,
		loc(10, ip6.AsSlice()),
		loc(2, ip4.AsSlice(), portAttr),
	)
	host := Host{ID: 7, Locators: []Locator{{Addr: ip6}, {Family: FamilyInet, Addr: ip4, Port: 7000}}}

	tests := []struct {
		name  string
		cmd   uint8
		flags netlink.HeaderFlags
		attrs []netlink.Attribute
		reply []genetlink.Message
		do    func(c *Client) error
	}{
		{
			name: "add", cmd: uapi.CmdHostNew,
			flags: netlink.Request | netlink.Acknowledge,
			attrs: []netlink.Attribute{u32(uapi.AHostID, 7), u32(uapi.AHostFlags, 1), locators},
			do:    func(c *Client) error { return c.AddHost(host) },
		},
		{
			name: "set", cmd: uapi.CmdHostNew,
			flags: netlink.Request | netlink.Acknowledge,
			attrs: []netlink.Attribute{u32(uapi.AHostID, 7), u32(uapi.AHostFlags, 1|2), locators},
			do:    func(c *Client) error { return c.SetHost(host) },
		},
		{
			name: "replace", cmd: uapi.CmdHostNew,
			flags: netlink.Request | netlink.Acknowledge,
			attrs: []netlink.Attribute{u32(uapi.AHostID, 7), u32(uapi.AHostFlags, 2), locators},
			do:    func(c *Client) error { return c.ReplaceHost(host) },
		},
		{
			name: "append", cmd: uapi.CmdHostNew,
			flags: netlink.Request | netlink.Acknowledge,
			attrs: []netlink.Attribute{u32(uapi.AHostID, 7), u32(uapi.AHostFlags, 4), locators},
			do:    func(c *Client) error { return c.AppendLocators(7, host.Locators, false) },
		},
		{
			name: "append create", cmd: uapi.CmdHostNew,
			flags: netlink.Request | netlink.Acknowledge,
			attrs: []netlink.Attribute{u32(uapi.AHostID, 7), u32(uapi.AHostFlags, 4|1), locators},
			do:    func(c *Client) error { return c.AppendLocators(7, host.Locators, true) },
		},
		{
			name: "add every locator kind", cmd: uapi.CmdHostNew,
			flags: netlink.Request | netlink.Acknowledge,
			attrs: []netlink.Attribute{u32(uapi.AHostID, 0xfffffffe), u32(uapi.AHostFlags, 1), nest(uapi.AHostLocators,
				loc(10, netip.MustParseAddr("fe80::1").AsSlice(), u32(uapi.LocAIfindex, 3)),
				loc(2, []byte{10, 0, 0, 3}),
				loc(1, []byte{2, 0, 0, 0, 0, 2}, u16(uapi.LocAPort, 1), u32(uapi.LocAIfindex, 4)),
			)},
			do: func(c *Client) error {
				return c.AddHost(Host{ID: 0xfffffffe, Locators: []Locator{
					{Family: FamilyInet6, Addr: netip.MustParseAddr("fe80::1%eth0"), Ifindex: 3},
					{Family: FamilyInet, Addr: netip.MustParseAddr("::ffff:10.0.0.3")},
					{Family: 1, Raw: []byte{2, 0, 0, 0, 0, 2}, Port: 1, Ifindex: 4, TxPackets: 5, TxErrors: 6},
				}})
			},
		},
		{
			// The library leaves judging to the kernel: id 0 and an
			// empty locator list are sent as they are.
			name: "add id 0 without locators", cmd: uapi.CmdHostNew,
			flags: netlink.Request | netlink.Acknowledge,
			attrs: []netlink.Attribute{u32(uapi.AHostID, 0), u32(uapi.AHostFlags, 1), nest(uapi.AHostLocators)},
			do:    func(c *Client) error { return c.AddHost(Host{}) },
		},
		{
			name: "delete", cmd: uapi.CmdHostDel,
			flags: netlink.Request | netlink.Acknowledge,
			attrs: []netlink.Attribute{u32(uapi.AHostID, 7)},
			do:    func(c *Client) error { return c.DeleteHost(7) },
		},
		{
			name: "flush", cmd: uapi.CmdHostFlush,
			flags: netlink.Request | netlink.Acknowledge,
			do:    func(c *Client) error { return c.FlushHosts() },
		},
		{
			name: "get host", cmd: uapi.CmdHostGet,
			flags: netlink.Request,
			attrs: []netlink.Attribute{u32(uapi.AHostID, 7)},
			reply: []genetlink.Message{reply(uapi.CmdHostGet, u32(uapi.AHostID, 7), nest(uapi.AHostLocators))},
			do:    func(c *Client) error { _, err := c.Host(7); return err },
		},
		{
			name: "dump hosts", cmd: uapi.CmdHostGet,
			flags: netlink.Request | netlink.Dump,
			do:    func(c *Client) error { _, err := c.Hosts(); return err },
		},
		{
			name: "dump protocols", cmd: uapi.CmdProtoGet,
			flags: netlink.Request | netlink.Dump,
			do:    func(c *Client) error { _, err := c.Protocols(); return err },
		},
		{
			name: "dump sockets", cmd: uapi.CmdSockGet,
			flags: netlink.Request | netlink.Dump,
			do:    func(c *Client) error { _, err := c.Sockets(); return err },
		},
		{
			name: "get stats", cmd: uapi.CmdStatsGet,
			flags: netlink.Request,
			reply: []genetlink.Message{reply(uapi.CmdStatsGet, nest(uapi.AStats))},
			do:    func(c *Client) error { _, err := c.Stats(); return err },
		},
		{
			name: "dump devices", cmd: uapi.CmdDevGet,
			flags: netlink.Request | netlink.Dump,
			do:    func(c *Client) error { _, err := c.Devices(); return err },
		},
		{
			name: "get device", cmd: uapi.CmdDevGet,
			flags: netlink.Request,
			attrs: []netlink.Attribute{nest(uapi.ADev, u32(uapi.DevAIfindex, 3))},
			reply: []genetlink.Message{dev(uapi.CmdDevGet, 3, "eth0", false)},
			do:    func(c *Client) error { _, err := c.Device(3); return err },
		},
		{
			name: "enable device", cmd: uapi.CmdDevSet,
			flags: netlink.Request | netlink.Acknowledge,
			attrs: []netlink.Attribute{nest(uapi.ADev, u32(uapi.DevAIfindex, 3), u8(uapi.DevAL3, 1))},
			do:    func(c *Client) error { return c.SetDevice(3, true) },
		},
		{
			name: "disable device", cmd: uapi.CmdDevSet,
			flags: netlink.Request | netlink.Acknowledge,
			attrs: []netlink.Attribute{nest(uapi.ADev, u32(uapi.DevAIfindex, 0x7fffffff), u8(uapi.DevAL3, 0))},
			do:    func(c *Client) error { return c.SetDevice(0x7fffffff, false) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := nltest.MustMarshalAttributes(tt.attrs)
			calls := 0
			k := newFake(t, genltest.CheckRequest(testFamily.ID, tt.cmd, tt.flags,
				func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
					calls++
					if greq.Header.Version != uapi.GenlVersion {
						t.Errorf("version %d, want %d", greq.Header.Version, uapi.GenlVersion)
					}
					if !bytes.Equal(greq.Data, want) {
						t.Errorf("attributes:\n got %s\nwant %s", dumpAttrs(greq.Data), dumpAttrs(want))
					}
					return tt.reply, nil
				}))
			if err := tt.do(k.client()); err != nil {
				t.Fatal(err)
			}
			if calls != 1 {
				t.Errorf("%d requests, want 1", calls)
			}
		})
	}
}

// dumpAttrs renders attributes for failure messages.
func dumpAttrs(b []byte) string {
	attrs, err := netlink.UnmarshalAttributes(b)
	if err != nil {
		return fmt.Sprintf("<%v: % x>", err, b)
	}
	var sb strings.Builder
	for _, a := range attrs {
		fmt.Fprintf(&sb, "{type %#x ", a.Type)
		if a.Type&netlink.Nested != 0 {
			sb.WriteString(dumpAttrs(a.Data))
		} else {
			fmt.Fprintf(&sb, "% x", a.Data)
		}
		sb.WriteString("}")
	}
	return sb.String()
}

func TestLocatorEncodingErrors(t *testing.T) {
	k := newFake(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		t.Error("a request that cannot be encoded was sent")
		return nil, nil
	})
	c := k.client()
	err := c.AddHost(Host{ID: 7, Locators: []Locator{{Addr: ip4}, {Addr: ip6, Raw: []byte{1}}}})
	if err == nil || !strings.Contains(err.Error(), "locator 2") {
		t.Errorf("Addr and Raw: err = %v, want a complaint about locator 2", err)
	}
	err = c.AddHost(Host{ID: 7, Locators: []Locator{{Family: 1, Raw: []byte{1}, Ifindex: -1}}})
	if err == nil {
		t.Error("negative ifindex: no error")
	}
}

// serve returns a fake kernel answering every mhost request with replies.
func serve(t *testing.T, replies ...genetlink.Message) *fakeKernel {
	return newFake(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return replies, nil
	})
}

func TestHostsMultipart(t *testing.T) {
	var replies []genetlink.Message
	var want []Host
	for id := uint32(1); id <= 7; id++ {
		a := netip.AddrFrom4([4]byte{10, 0, 0, byte(id)})
		replies = append(replies, reply(uapi.CmdHostGet,
			u32(uapi.AHostID, id),
			nest(uapi.AHostLocators,
				loc(10, ip6.AsSlice(), raw(uapi.LocAPad), u64(uapi.LocATxPackets, uint64(id)), u64(uapi.LocATxErrors, 1)),
				loc(2, a.AsSlice(), u16(uapi.LocAPort, 53), u64(uapi.LocATxPackets, 2), u64(uapi.LocATxErrors, 0)),
			)))
		want = append(want, Host{ID: id, Locators: []Locator{
			{Family: FamilyInet6, Addr: ip6, TxPackets: uint64(id), TxErrors: 1},
			{Family: FamilyInet, Addr: a, Port: 53, TxPackets: 2},
		}})
	}
	for _, per := range []int{1, 3, 7} {
		k := serve(t, replies...)
		k.perDatagram = per
		got, err := k.client().Hosts()
		if err != nil {
			t.Fatalf("%d per datagram: %v", per, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%d per datagram:\n got %+v\nwant %+v", per, got, want)
		}
	}
}

func TestHostsEmpty(t *testing.T) {
	got, err := serve(t).client().Hosts()
	if err != nil || len(got) != 0 {
		t.Errorf("Hosts() = %v, %v; want none", got, err)
	}
}

func TestHost(t *testing.T) {
	k := serve(t, reply(uapi.CmdHostGet,
		u32(uapi.AHostID, 7),
		u32(99, 1), // unknown attributes are skipped
		nest(uapi.AHostLocators,
			raw(99),
			loc(1, []byte{2, 0, 0, 0, 0, 2}, u32(uapi.LocAIfindex, 4), u32(99, 0)),
			loc(10, ip6.AsSlice(), u16(uapi.LocAPort, 0xabcd)),
		)))
	got, err := k.client().Host(7)
	if err != nil {
		t.Fatal(err)
	}
	want := &Host{ID: 7, Locators: []Locator{
		{Family: 1, Raw: []byte{2, 0, 0, 0, 0, 2}, Ifindex: 4},
		{Family: FamilyInet6, Addr: ip6, Port: 0xabcd},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Host(7) =\n %+v\nwant %+v", got, want)
	}
}

func TestProtocols(t *testing.T) {
	proto := func(family uint16, name, module string, alen uint32, tx, rx uint64) netlink.Attribute {
		return nest(uapi.AProto, u16(uapi.ProtoAFamily, family), str(uapi.ProtoAName, name),
			str(uapi.ProtoAModule, module), u32(uapi.ProtoAAddrLen, alen), raw(uapi.ProtoAPad),
			u64(uapi.ProtoATxPackets, tx), u64(uapi.ProtoARxPackets, rx), u32(99, 0))
	}
	k := serve(t,
		reply(uapi.CmdProtoGet, proto(2, "inet", "kernel", 4, 1, 2)),
		reply(uapi.CmdProtoGet, proto(10, "inet6", "kernel", 16, 3, 4)),
		reply(uapi.CmdProtoGet, proto(1, "testproto", "mhost_testproto", 6, 5, 6)),
	)
	got, err := k.client().Protocols()
	if err != nil {
		t.Fatal(err)
	}
	want := []Protocol{
		{Family: FamilyInet, Name: "inet", Module: "kernel", AddrLen: 4, TxPackets: 1, RxPackets: 2},
		{Family: FamilyInet6, Name: "inet6", Module: "kernel", AddrLen: 16, TxPackets: 3, RxPackets: 4},
		{Family: 1, Name: "testproto", Module: "mhost_testproto", AddrLen: 6, TxPackets: 5, RxPackets: 6},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Protocols() =\n %+v\nwant %+v", got, want)
	}
}

func TestSockets(t *testing.T) {
	k := serve(t,
		reply(uapi.CmdSockGet, nest(uapi.ASock, u16(uapi.SockAPort, 7000), u32(uapi.SockAUID, 0),
			raw(uapi.SockAPad), u64(uapi.SockAInode, 1<<40), u32(uapi.SockARmem, 768),
			u32(uapi.SockAWmem, 0), u32(uapi.SockADrops, 2), u32(uapi.SockAPeerHostID, 7))),
		reply(uapi.CmdSockGet, nest(uapi.ASock, u16(uapi.SockAPort, 0), u32(uapi.SockAUID, 65534), u64(uapi.SockAInode, 9))),
	)
	got, err := k.client().Sockets()
	if err != nil {
		t.Fatal(err)
	}
	want := []Socket{
		{Port: 7000, Inode: 1 << 40, RxQueue: 768, Drops: 2, PeerHostID: 7},
		{UID: 65534, Inode: 9},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Sockets() =\n %+v\nwant %+v", got, want)
	}
}

func TestStats(t *testing.T) {
	k := serve(t, reply(uapi.CmdStatsGet, nest(uapi.AStats,
		u32(uapi.StatsAHosts, 1), u32(uapi.StatsASockets, 2), raw(uapi.StatsAPad),
		u64(uapi.StatsATxHostID, 3), u64(uapi.StatsATxFailover, 4), u64(uapi.StatsATxUnreach, 5),
		u64(uapi.StatsARxL3Unknown, 6), u64(uapi.StatsAHostsAllocated, 7), u64(99, 8),
		u64(uapi.StatsATxL3, 9), u64(uapi.StatsARxL3, 10), u64(uapi.StatsARxL3Short, 11),
		u64(uapi.StatsARxL3BadHeader, 12), u64(uapi.StatsARxL3BadLen, 13),
		u64(uapi.StatsARxL3Truncated, 14), u64(uapi.StatsARxL3NoSocket, 15),
		u64(uapi.StatsARxL3BadCsum, 16), u64(uapi.StatsARxL3DevDisabled, 17))))
	got, err := k.client().Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := &Stats{Hosts: 1, Sockets: 2, TxHostID: 3, TxFailover: 4, TxUnreach: 5, RxL3Unknown: 6, HostsAllocated: 7,
		TxL3: 9, RxL3: 10, RxL3Short: 11, RxL3BadHeader: 12, RxL3BadLen: 13, RxL3Truncated: 14, RxL3NoSocket: 15,
		RxL3BadCsum: 16, RxL3DevDisabled: 17}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

// TestMalformed feeds replies with wrong attribute lengths, truncated
// attributes and missing essentials: each must be an error wrapping
// ErrMalformed, never a panic.
func TestDevices(t *testing.T) {
	k := serve(t,
		dev(uapi.CmdDevGet, 1, "lo", true),
		reply(uapi.CmdDevGet, u32(99, 0), nest(uapi.ADev, raw(uapi.DevAPad), u32(uapi.DevAIfindex, 4),
			str(uapi.DevAName, "veth0"), u8(uapi.DevAL3, 1), u32(99, 0))), // unknown attributes are skipped
	)
	k.perDatagram = 1
	got, err := k.client().Devices()
	want := []Device{{Index: 1, Name: "lo", L3: true}, {Index: 4, Name: "veth0", L3: true}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Devices() = %+v, %v; want %+v", got, err, want)
	}

	got, err = serve(t).client().Devices()
	if err != nil || len(got) != 0 {
		t.Errorf("Devices() of none = %+v, %v", got, err)
	}

	d, err := serve(t, dev(uapi.CmdDevGet, 4, "veth0", false)).client().Device(4)
	if err != nil || *d != (Device{Index: 4, Name: "veth0"}) {
		t.Errorf("Device(4) = %+v, %v", d, err)
	}
}

func TestDeviceErrors(t *testing.T) {
	k := newFake(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, kerr(unix.ENODEV, "no such device")
	})
	c := k.client()
	for _, err := range []error{
		func() error { _, err := c.Device(99); return err }(),
		c.SetDevice(99, true),
	} {
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, unix.ENODEV) || e.Message != "no such device" {
			t.Errorf("err = %v, want an *Error with ENODEV and the kernel's message", err)
		}
	}

	// Indexes the wire cannot carry never reach the kernel.
	for _, ifindex := range []int{0, -1} {
		if err := c.SetDevice(ifindex, true); err == nil || errors.Is(err, unix.ENODEV) {
			t.Errorf("SetDevice(%d): %v, want an error of its own", ifindex, err)
		}
		if _, err := c.Device(ifindex); err == nil || errors.Is(err, unix.ENODEV) {
			t.Errorf("Device(%d): %v, want an error of its own", ifindex, err)
		}
	}
	if n := len(k.requests()); n != 2 {
		t.Errorf("%d requests reached the kernel, want 2", n)
	}

	// A reply without a device, or with a device without an index, is
	// malformed.
	for _, m := range []genetlink.Message{
		reply(uapi.CmdDevGet, u32(uapi.AHostID, 1)),
		reply(uapi.CmdDevGet, nest(uapi.ADev, str(uapi.DevAName, "lo"))),
		reply(uapi.CmdDevGet, nest(uapi.ADev, u16(uapi.DevAIfindex, 1))),
	} {
		if _, err := serve(t, m).client().Device(1); !errors.Is(err, ErrMalformed) {
			t.Errorf("Device() of %s: %v, want ErrMalformed", dumpAttrs(m.Data), err)
		}
	}
}

func TestMalformed(t *testing.T) {
	hostReply := func(attrs ...netlink.Attribute) []genetlink.Message {
		return []genetlink.Message{reply(uapi.CmdHostGet, attrs...)}
	}
	getHost := func(c *Client) error { _, err := c.Host(7); return err }
	okLocs := nest(uapi.AHostLocators, loc(2, ip4.AsSlice()))
	tests := []struct {
		name    string
		replies []genetlink.Message
		do      func(c *Client) error
	}{
		{"host id as u16", hostReply(u16(uapi.AHostID, 7), okLocs), getHost},
		{"no host id", hostReply(okLocs), getHost},
		{"no locators", hostReply(u32(uapi.AHostID, 7)), getHost},
		{"family as u32", hostReply(u32(uapi.AHostID, 7), nest(uapi.AHostLocators,
			nest(uapi.ALocator, u32(uapi.LocAFamily, 2), raw(uapi.LocAAddr, 10, 0, 0, 2)))), getHost},
		{"no family", hostReply(u32(uapi.AHostID, 7), nest(uapi.AHostLocators,
			nest(uapi.ALocator, raw(uapi.LocAAddr, 10, 0, 0, 2)))), getHost},
		{"inet address of 16 bytes", hostReply(u32(uapi.AHostID, 7), nest(uapi.AHostLocators, loc(2, ip6.AsSlice()))), getHost},
		{"inet6 address of 4 bytes", hostReply(u32(uapi.AHostID, 7), nest(uapi.AHostLocators, loc(10, ip4.AsSlice()))), getHost},
		{"inet6 without address", hostReply(u32(uapi.AHostID, 7), nest(uapi.AHostLocators,
			nest(uapi.ALocator, u16(uapi.LocAFamily, 10)))), getHost},
		{"port as u32", hostReply(u32(uapi.AHostID, 7), nest(uapi.AHostLocators, loc(2, ip4.AsSlice(), u32(uapi.LocAPort, 1)))), getHost},
		{"ifindex as u16", hostReply(u32(uapi.AHostID, 7), nest(uapi.AHostLocators, loc(10, ip6.AsSlice(), u16(uapi.LocAIfindex, 1)))), getHost},
		{"tx packets as u32", hostReply(u32(uapi.AHostID, 7), nest(uapi.AHostLocators, loc(2, ip4.AsSlice(), u32(uapi.LocATxPackets, 1)))), getHost},
		{"tx errors as u32", hostReply(u32(uapi.AHostID, 7), nest(uapi.AHostLocators, loc(2, ip4.AsSlice(), u32(uapi.LocATxErrors, 1)))), getHost},
		{"truncated attribute", []genetlink.Message{{
			Header: genetlink.Header{Command: uapi.CmdHostGet, Version: 1},
			Data:   []byte{8, 0, uapi.AHostID, 0, 7, 0, 0, 0, 12, 0, uapi.AHostLocators, 0x80, 1, 2, 3, 4},
		}}, getHost},
		{"truncated header", []genetlink.Message{{
			Header: genetlink.Header{Command: uapi.CmdHostGet, Version: 1},
			Data:   []byte{8, 0},
		}}, getHost},
		{"truncated nest", hostReply(u32(uapi.AHostID, 7), raw(uapi.AHostLocators|netlink.Nested, 8, 0, 1, 0x80, 1, 2)), getHost},
		{"two hosts for one", append(hostReply(u32(uapi.AHostID, 7), okLocs), reply(uapi.CmdHostGet, u32(uapi.AHostID, 7), okLocs)), getHost},
		{"dumped host without id", hostReply(okLocs), func(c *Client) error { _, err := c.Hosts(); return err }},
		{"proto family as u8", []genetlink.Message{reply(uapi.CmdProtoGet, nest(uapi.AProto, raw(uapi.ProtoAFamily, 2), str(uapi.ProtoAName, "inet")))},
			func(c *Client) error { _, err := c.Protocols(); return err }},
		{"proto without family", []genetlink.Message{reply(uapi.CmdProtoGet, nest(uapi.AProto, str(uapi.ProtoAName, "inet")))},
			func(c *Client) error { _, err := c.Protocols(); return err }},
		{"proto addr len as u16", []genetlink.Message{reply(uapi.CmdProtoGet, nest(uapi.AProto, u16(uapi.ProtoAFamily, 2), u16(uapi.ProtoAAddrLen, 4)))},
			func(c *Client) error { _, err := c.Protocols(); return err }},
		{"proto tx as u32", []genetlink.Message{reply(uapi.CmdProtoGet, nest(uapi.AProto, u16(uapi.ProtoAFamily, 2), u32(uapi.ProtoATxPackets, 4)))},
			func(c *Client) error { _, err := c.Protocols(); return err }},
		{"sock port as u32", []genetlink.Message{reply(uapi.CmdSockGet, nest(uapi.ASock, u32(uapi.SockAPort, 1)))},
			func(c *Client) error { _, err := c.Sockets(); return err }},
		{"sock inode as u32", []genetlink.Message{reply(uapi.CmdSockGet, nest(uapi.ASock, u32(uapi.SockAInode, 1)))},
			func(c *Client) error { _, err := c.Sockets(); return err }},
		{"stats hosts as u64", []genetlink.Message{reply(uapi.CmdStatsGet, nest(uapi.AStats, u64(uapi.StatsAHosts, 1)))},
			func(c *Client) error { _, err := c.Stats(); return err }},
		{"stats failover as u32", []genetlink.Message{reply(uapi.CmdStatsGet, nest(uapi.AStats, u32(uapi.StatsATxFailover, 1)))},
			func(c *Client) error { _, err := c.Stats(); return err }},
		{"no stats", []genetlink.Message{reply(uapi.CmdStatsGet)},
			func(c *Client) error { _, err := c.Stats(); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do(serve(t, tt.replies...).client())
			var e *Error
			if !errors.Is(err, ErrMalformed) || !errors.As(err, &e) {
				t.Fatalf("err = %v, want an *Error wrapping ErrMalformed", err)
			}
			t.Log(err)
		})
	}
}

func TestKernelErrors(t *testing.T) {
	tests := []struct {
		errno unix.Errno
		msg   string
		is    []error
		isNot []error
	}{
		{unix.EPERM, "", []error{os.ErrPermission}, []error{os.ErrNotExist, os.ErrExist}},
		{unix.EACCES, "", []error{os.ErrPermission}, nil},
		{unix.ENOENT, "no such host", []error{os.ErrNotExist, unix.ENOENT}, []error{os.ErrPermission, ErrNotLoaded}},
		{unix.EEXIST, "host already exists", []error{os.ErrExist}, []error{os.ErrNotExist}},
		{unix.E2BIG, "too many locators", []error{unix.E2BIG}, []error{os.ErrExist, os.ErrNotExist, os.ErrPermission}},
		{unix.EAFNOSUPPORT, "unknown locator family", []error{unix.EAFNOSUPPORT}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.errno.Error(), func(t *testing.T) {
			k := newFake(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
				return nil, kerr(tt.errno, tt.msg)
			})
			err := k.client().AddHost(Host{ID: 7, Locators: []Locator{{Addr: ip4}}})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %#v, want an *Error", err)
			}
			if e.Op != "add host 7" || e.Message != tt.msg || e.Errno() != tt.errno {
				t.Errorf("err = %+v, want Op %q, Message %q, errno %v", e, "add host 7", tt.msg, tt.errno)
			}
			want := "mhostnl: add host 7: " + tt.errno.Error()
			if tt.msg != "" {
				want += ": " + tt.msg
			}
			if err.Error() != want {
				t.Errorf("err = %q, want %q", err, want)
			}
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(err, %v) = false", target)
				}
			}
			for _, target := range tt.isNot {
				if errors.Is(err, target) {
					t.Errorf("errors.Is(err, %v) = true", target)
				}
			}
		})
	}
}

// TestErrorsOfEveryOp checks that each operation reports the kernel's
// failure with its own Op and the extended acknowledgement message.
func TestErrorsOfEveryOp(t *testing.T) {
	k := newFake(t, func(g genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
		return nil, kerr(unix.EINVAL, fmt.Sprintf("refused command %d", g.Header.Command))
	})
	c := k.client()
	ops := map[string]func() error{
		"get protocols":      func() error { _, err := c.Protocols(); return err },
		"get hosts":          func() error { _, err := c.Hosts(); return err },
		"get host 1":         func() error { _, err := c.Host(1); return err },
		"add host 1":         func() error { return c.AddHost(Host{ID: 1}) },
		"set host 1":         func() error { return c.SetHost(Host{ID: 1}) },
		"replace host 1":     func() error { return c.ReplaceHost(Host{ID: 1}) },
		"append to host 1":   func() error { return c.AppendLocators(1, nil, true) },
		"delete host 1":      func() error { return c.DeleteHost(1) },
		"flush hosts":        func() error { return c.FlushHosts() },
		"get sockets":        func() error { _, err := c.Sockets(); return err },
		"get stats":          func() error { _, err := c.Stats(); return err },
		"get devices":        func() error { _, err := c.Devices(); return err },
		"get device 2":       func() error { _, err := c.Device(2); return err },
		"set device 2":       func() error { return c.SetDevice(2, true) },
		"add host 1 (batch)": func() error { return c.AddHosts([]Host{{ID: 1}}) },
	}
	for op, do := range ops {
		err := do()
		var e *Error
		if !errors.As(err, &e) || e.Errno() != unix.EINVAL || !strings.HasPrefix(e.Message, "refused command") {
			t.Errorf("%s: err = %v, want an *Error with EINVAL and the kernel's message", op, err)
			continue
		}
		if want, _, _ := strings.Cut(op, " (batch)"); e.Op != want {
			t.Errorf("%s: Op = %q", op, e.Op)
		}
	}
}

// TestStaleReplies checks that replies left over from an earlier request
// are skipped.
func TestStaleReplies(t *testing.T) {
	k := serve(t, reply(uapi.CmdStatsGet, nest(uapi.AStats, u32(uapi.StatsAHosts, 3))))
	c := k.client()
	s := k.sockets[0]
	stale := netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(testFamily.ID), Sequence: 1, PID: nltest.PID}}
	stale.Data, _ = reply(uapi.CmdStatsGet, nest(uapi.AStats, u32(uapi.StatsAHosts, 99))).MarshalBinary()
	staleErr := errorReply(netlink.Message{Header: netlink.Header{Length: 20, Sequence: 2}, Data: make([]byte, 4)}, unix.EEXIST, "old")
	s.mu.Lock()
	s.queueLocked([]netlink.Message{stale})
	s.queueLocked(staleErr)
	s.mu.Unlock()

	st, err := c.Stats()
	if err != nil || st.Hosts != 3 {
		t.Errorf("Stats() = %+v, %v; want the reply to this request (3 hosts)", st, err)
	}
}

// TestDumpInterrupted checks that dumps the kernel flags as interrupted
// are read again, whether the flag is on every message or, as when the
// table changed after the last host was sent, on NLMSG_DONE alone (which
// netlink.Conn drops), and for empty dumps too.
func TestDumpInterrupted(t *testing.T) {
	defer func(d time.Duration) { dumpBackoff = d }(dumpBackoff)
	dumpBackoff = time.Microsecond
	host := reply(uapi.CmdHostGet, u32(uapi.AHostID, 1), nest(uapi.AHostLocators, loc(2, ip4.AsSlice())))
	for _, onDone := range []bool{false, true} {
		for _, hosts := range [][]genetlink.Message{{host}, {host, host, host}, nil} {
			for _, interrupted := range []int{2, 100} {
				name := fmt.Sprintf("%d hosts, interrupted %d times, on NLMSG_DONE only %v", len(hosts), interrupted, onDone)
				if len(hosts) == 0 && !onDone {
					continue // no message but NLMSG_DONE
				}
				calls := 0
				k := newFake(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
					calls++
					return hosts, nil
				})
				k.interruptDumps, k.onDone = interrupted, onDone
				got, err := k.client().Hosts()
				if interrupted <= maxDumpRetries {
					if err != nil || len(got) != len(hosts) {
						t.Errorf("%s: Hosts() = %v, %v; want %d hosts", name, got, err, len(hosts))
					}
				} else if !errors.Is(err, unix.EINTR) {
					t.Errorf("%s: err = %v, want EINTR", name, err)
				}
				if want := min(interrupted+1, maxDumpRetries+1); calls != want {
					t.Errorf("%s: %d dumps, want %d", name, calls, want)
				}
			}
		}
	}
}

// TestNew checks a Client over the connection genltest gives: it works,
// batches included (one request per send), but for the flags of
// NLMSG_DONE, which it cannot see.
func TestNew(t *testing.T) {
	var (
		hosts []uint32
		mu    sync.Mutex
	)
	conn := genltest.Dial(genltest.ServeFamily(testFamily, func(greq genetlink.Message, req netlink.Message) ([]genetlink.Message, error) {
		switch greq.Header.Command {
		case uapi.CmdHostNew:
			h, err := decodeHost(greq.Data, true)
			if err != nil {
				return nil, err
			}
			mu.Lock()
			hosts = append(hosts, h.ID)
			mu.Unlock()
			if req.Header.Flags&netlink.Acknowledge != 0 {
				return nil, genltest.Error(0) // genltest's acknowledgement
			}
			return nil, nil
		case uapi.CmdHostGet:
			var out []genetlink.Message
			mu.Lock()
			for _, id := range hosts {
				out = append(out, reply(uapi.CmdHostGet, u32(uapi.AHostID, id), nest(uapi.AHostLocators, loc(2, ip4.AsSlice()))))
			}
			mu.Unlock()
			return out, nil
		}
		return nil, genltest.Error(int(unix.EOPNOTSUPP))
	}))
	c, err := New(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.AddHost(Host{ID: 1, Locators: []Locator{{Addr: ip4}}}); err != nil {
		t.Fatalf("AddHost: %v", err)
	}
	batch := make([]Host, 300)
	for i := range batch {
		batch[i] = Host{ID: uint32(i + 2), Locators: []Locator{{Addr: ip4}}}
	}
	if err := c.AddHosts(batch); err != nil {
		t.Fatalf("AddHosts: %v", err)
	}
	got, err := c.Hosts()
	if err != nil || len(got) != 301 {
		t.Fatalf("Hosts() = %d hosts, %v; want 301", len(got), err)
	}
	if _, err := c.Stats(); !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("Stats() from a server that does not know it: %v, want EOPNOTSUPP", err)
	}
}

func TestLocatorString(t *testing.T) {
	tests := []struct {
		l    Locator
		want string
	}{
		{Locator{Addr: ip6}, "inet6 fd00::2"},
		{Locator{Addr: ip4, Port: 7000}, "inet 10.0.0.2 port 7000"},
		{Locator{Family: FamilyInet6, Addr: netip.MustParseAddr("fe80::1"), Ifindex: 2}, "inet6 fe80::1 dev 2"},
		{Locator{Family: 1, Raw: []byte{2, 0, 0, 0, 0, 0xab}}, "family(1) 02:00:00:00:00:ab"},
		{Locator{Family: 3}, "family(3) -"},
	}
	for _, tt := range tests {
		if got := tt.l.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.l, got, tt.want)
		}
	}
	for ev, want := range map[EventType]string{EventHostNew: "new", EventHostDel: "del", EventHostFlush: "flush", 9: "event(9)"} {
		if got := ev.String(); got != want {
			t.Errorf("EventType(%d).String() = %q, want %q", ev, got, want)
		}
	}
}
