//go:build guest

package guest_test

// Devices: the administrator's per-device opt-in for plugged-L3 traffic
// (MHOST_CMD_DEV_SET and DEV_GET), what it does to the data path, and
// what becomes of a device's state and of the locators naming it when
// the device is deleted or moves to another namespace. mhostnl has no
// device commands yet: the tests use raw requests.

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhost"
	"github.com/mnet/mnet/gosdk/mhostnl"
)

func TestDevCommands(t *testing.T) {
	ns, other := newNetNS(t, "dev"), newNetNS(t, "other")
	r := nlRawConn(t, ns.fd)
	ev := nlListen(t, ns.fd)
	d0, d1 := ns.addVeth(t, "d0", "d1", 0)

	wantDev := func(index int, want nlDev) {
		t.Helper()
		got, err := r.dev(index)
		if err != nil || got != want {
			t.Errorf("DEV_GET %d = %v, %v; want %v", index, got, err, want)
		}
	}
	wantDump := func(want ...nlDev) {
		t.Helper()
		slices.SortFunc(want, func(a, b nlDev) int { return a.Index - b.Index }) // ifindex order
		got, err := r.devs()
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("DEV_GET dump = %v, %v; want %v", got, err, want)
		}
	}

	// Devices start disabled, and the dump lists the enabled ones.
	wantDev(1, nlDev{1, "lo", false})
	wantDev(d0, nlDev{d0, "d0", false})
	wantDump()

	nlCheck(t, "enabling lo", r.setL3(1, true))
	wantDev(1, nlDev{1, "lo", true})
	nlCheck(t, "enabling lo again", r.setL3(1, true)) // no event
	nlCheck(t, "enabling d1", r.setL3(d1, true))
	nlCheck(t, "enabling d0", r.setL3(d0, true))
	wantDump(nlDev{1, "lo", true}, nlDev{d0, "d0", true}, nlDev{d1, "d1", true})
	nlCheck(t, "disabling d0", r.setL3(d0, false))
	nlCheck(t, "disabling d0 again", r.setL3(d0, false)) // no event
	wantDev(d0, nlDev{d0, "d0", false})
	wantDump(nlDev{1, "lo", true}, nlDev{d1, "d1", true})
	ev.want(t,
		"dev_set lo(1) l3=true",
		fmt.Sprintf("dev_set d1(%d) l3=true", d1),
		fmt.Sprintf("dev_set d0(%d) l3=true", d0),
		fmt.Sprintf("dev_set d0(%d) l3=false", d0))

	// Another namespace has devices of its own.
	ro := nlRawConn(t, other.fd)
	if got, err := ro.dev(1); err != nil || got.L3 {
		t.Errorf("lo of another namespace: %v, %v; want it disabled", got, err)
	}
	if got, err := ro.devs(); err != nil || len(got) != 0 {
		t.Errorf("another namespace dumps %v, %v; want nothing", got, err)
	}
	if _, err := ro.dev(d0); !errors.Is(err, unix.ENODEV) {
		t.Errorf("DEV_GET %d in another namespace: %v, want ENODEV", d0, err)
	}

	// Asked for with NLM_F_ECHO, the change comes back to the asker.
	echo := nlRawConn(t, ns.fd)
	echo.c.SetReadDeadline(deadline())
	msgs, err := echo.get(nlCmdDevSet, netlink.Echo, nlDevReq(d0, nlL3(true)))
	nlCheck(t, "DEV_SET with NLM_F_ECHO", err)
	if len(msgs) != 1 || msgs[0].Header.Command != nlCmdDevSet {
		t.Errorf("DEV_SET with NLM_F_ECHO answered %+v, want one DEV_SET", msgs)
	} else if d, err := nlDecodeDev(msgs[0].Data); err != nil || d != (nlDev{d0, "d0", true}) {
		t.Errorf("echo: %v, %v", d, err)
	}
	ev.want(t, fmt.Sprintf("dev_set d0(%d) l3=true", d0))

	// Rejections.
	for _, tt := range []struct {
		name   string
		cmd    uint8
		attrs  []byte
		msg    string
		errnos []unix.Errno
	}{
		{"set without a device", nlCmdDevSet, nil, nlMsg.MissingDev, []unix.Errno{unix.EINVAL}},
		{"get without a device", nlCmdDevGet, nil, nlMsg.MissingDev, []unix.Errno{unix.EINVAL}},
		{"set without ifindex", nlCmdDevSet, nlAttrs(nlNest(nlAttrDev, nlL3(true))), nlMsg.MissingIfindex, []unix.Errno{unix.EINVAL}},
		{"set of a missing device", nlCmdDevSet, nlDevReq(999999, nlL3(true)), nlMsg.NoDevice, []unix.Errno{unix.ENODEV}},
		{"get of a missing device", nlCmdDevGet, nlDevReq(999999), nlMsg.NoDevice, []unix.Errno{unix.ENODEV}},
		{"set of nothing", nlCmdDevSet, nlDevReq(1), nlMsg.NothingToSet, []unix.Errno{unix.EINVAL}},
		{"l3 of 2", nlCmdDevSet, nlDevReq(1, nlU8(nlDevAttrL3, 2)), nlMsg.OutOfRange, []unix.Errno{unix.EINVAL, unix.ERANGE}},
		{"l3 as u32", nlCmdDevSet, nlDevReq(1, nlU32(nlDevAttrL3, 1)), nlMsg.AttrLen, []unix.Errno{unix.EINVAL, unix.ERANGE}},
		{"ifindex as u16", nlCmdDevSet, nlAttrs(nlNest(nlAttrDev, nlU16(nlDevAttrIfindex, 1), nlL3(true))), nlMsg.AttrLen, []unix.Errno{unix.EINVAL, unix.ERANGE}},
		{"a name, which is read only", nlCmdDevSet, nlDevReq(1, nlL3(true), netlink.Attribute{Type: nlDevAttrName, Data: []byte("lo\x00")}),
			nlMsg.Rejected, []unix.Errno{unix.EINVAL}},
		{"device without NLA_F_NESTED", nlCmdDevSet, nlAttrs(nlBytes(nlAttrDev, nlAttrs(nlU32(nlDevAttrIfindex, 1), nlL3(true)))),
			nlMsg.NestedMissing, []unix.Errno{unix.EINVAL}},
		{"a host id", nlCmdDevSet, nlAttrs(nlU32(mhostnl.AttrHostID, 7), nlNest(nlAttrDev, nlU32(nlDevAttrIfindex, 1), nlL3(true))),
			nlMsg.Unsupported, []unix.Errno{unix.EINVAL}},
	} {
		nlWantErr(t, tt.name, r.request(tt.cmd, 0, tt.attrs), tt.msg, tt.errnos...)
	}
	// DEV_DEL only ever comes as an event.
	if err := r.request(nlCmdDevDel, 0, nlDevReq(1)); !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("DEV_DEL as a request: %v, want EOPNOTSUPP", err)
	}
	// None of it changed anything.
	wantDump(nlDev{1, "lo", true}, nlDev{d0, "d0", true}, nlDev{d1, "d1", true})

	out := runHelper(t, "TestHelperDevUnprivileged", nobody)
	t.Logf("helper:\n%s", out)
}

// TestHelperDevUnprivileged is not a test: TestDevCommands runs it as
// nobody, who may read device state and change none.
func TestHelperDevUnprivileged(t *testing.T) {
	if !isHelper("TestHelperDevUnprivileged") {
		return
	}
	r := nlRawConn(t, 0)
	d, err := r.dev(1)
	nlCheck(t, "DEV_GET lo as nobody", err)
	if _, err := r.devs(); err != nil {
		t.Errorf("dumping devices as nobody: %v", err)
	}
	for _, on := range []bool{true, false} {
		if err := r.setL3(1, on); !errors.Is(err, unix.EPERM) {
			t.Errorf("DEV_SET lo l3=%v as nobody: %v, want EPERM", on, err)
		}
	}
	if now, err := r.dev(1); err != nil || now != d {
		t.Errorf("lo is %v, %v after nobody's attempts, was %v", now, err, d)
	}
	fmt.Println(helperDone)
}

// wantUnordered reads len(first)+len(then) events: first in order, then
// then in any order (hosts come in the order of a table walk).
func (e *nlEvents) wantUnordered(t *testing.T, first []string, then ...string) {
	t.Helper()
	var got []string
	for len(got) < len(first)+len(then) {
		evs, err := e.next()
		if err != nil {
			t.Fatalf("events: %v after %q, want %q then %q", err, got, first, then)
		}
		for _, ev := range evs {
			got = append(got, nlEventString(ev))
		}
	}
	n := min(len(first), len(got))
	rest := slices.Clone(got[n:])
	slices.Sort(rest)
	want := slices.Clone(then)
	slices.Sort(want)
	if !slices.Equal(got[:n], first) || !slices.Equal(rest, want) {
		t.Errorf("events %q, want %q then %q in any order", got, first, then)
	}
}

// TestDevGone deletes a device and moves another to a new namespace: the
// locators that name them go from their hosts (hosts left with none go
// too), announced, so that nothing names the next device given the same
// index.
func TestDevGone(t *testing.T) {
	a, b := newNetNS(t, "a"), newNetNS(t, "b")
	ca := a.control(t)
	const gone, moved = 300, 310
	a.addVeth(t, "gone0", "gone1", gone)
	a.addVeth(t, "moved0", "moved1", moved)

	ll := func(addr string, ifindex int) mhostnl.Locator {
		return mhostnl.Locator{Addr: netip.MustParseAddr(addr), Ifindex: ifindex}
	}
	for _, h := range []mhostnl.Host{
		{ID: 7, Locators: []mhostnl.Locator{ll("fe80::7", gone), nlLoc("10.0.0.7"), ll("fe80::7", gone+1)}},
		{ID: 8, Locators: []mhostnl.Locator{ll("fe80::8", gone)}},
		{ID: 9, Locators: []mhostnl.Locator{nlLoc("10.0.0.9"), ll("fe80::9", moved)}},
		{ID: 10, Locators: []mhostnl.Locator{ll("fe80::a", 1)}}, // lo stays
	} {
		nlCheck(t, fmt.Sprintf("AddHost %d", h.ID), ca.AddHost(h))
	}
	ev := nlListen(t, a.fd)

	// Deleting gone0 deletes its peer gone1 too, in that order.
	a.delLink(t, gone)
	ev.wantUnordered(t, nil,
		fmt.Sprintf("host_new 7 [inet 10.0.0.7, inet6 fe80::7 dev %d]", gone+1),
		"host_new 7 [inet 10.0.0.7]",
		"host_del 8 []")
	nlWantHost(t, ca, mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{nlLoc("10.0.0.7")}})
	if _, err := ca.Host(8); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("host 8, whose only device is gone: %v, want ErrNotExist", err)
	}

	// A new device given the old index is named by nothing.
	a.addVeth(t, "new0", "new1", gone)
	nlWantHost(t, ca, mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{nlLoc("10.0.0.7")}})

	// Moving a device takes it out of this namespace the same way.
	a.moveLink(t, moved, b)
	ev.want(t, "host_new 9 [inet 10.0.0.9]")
	nlWantHost(t, ca, mhostnl.Host{ID: 9, Locators: []mhostnl.Locator{nlLoc("10.0.0.9")}})
	nlWantHost(t, ca, mhostnl.Host{ID: 10, Locators: []mhostnl.Locator{ll("fe80::a", 1)}})

	// A locator cannot name a device that is gone.
	nlWantErr(t, "a locator on a device that is gone", ca.AddHost(mhostnl.Host{ID: 11, Locators: []mhostnl.Locator{ll("fe80::b", moved)}}),
		nlMsg.NoDevice, unix.ENODEV)
}

// TestDevStateGone checks that a device's opt-in goes with the device
// when it is deleted or moves to another namespace, announced, and never
// applies to the next device given the same index.
func TestDevStateGone(t *testing.T) {
	a, b := newNetNS(t, "a"), newNetNS(t, "b")
	r := nlRawConn(t, a.fd)
	const gone, moved = 300, 310
	a.addVeth(t, "gone0", "gone1", gone)
	a.addVeth(t, "moved0", "moved1", moved)
	nlCheck(t, "enabling gone0", r.setL3(gone, true))
	nlCheck(t, "enabling moved0", r.setL3(moved, true))
	ev := nlListen(t, a.fd)

	a.delLink(t, gone)
	ev.want(t, fmt.Sprintf("dev_del gone0(%d) l3=false", gone))
	a.addVeth(t, "new0", "new1", gone)
	if d, err := r.dev(gone); err != nil || d != (nlDev{gone, "new0", false}) {
		t.Errorf("the new device with the old index: %v, %v; want new0 disabled", d, err)
	}

	a.moveLink(t, moved, b)
	ev.want(t, fmt.Sprintf("dev_del moved0(%d) l3=false", moved))
	in := b.linkByName(t, "moved0")
	if d, err := nlRawConn(t, b.fd).dev(in.Index); err != nil || d.L3 {
		t.Errorf("moved0 in its new namespace: %v, %v; want it disabled", d, err)
	}
	if ds, err := r.devs(); err != nil || len(ds) != 0 {
		t.Errorf("namespace a still has enabled devices: %v, %v", ds, err)
	}
}

// TestL3DevOptIn checks the data path of the opt-in: plugged-L3 frames
// are parsed only on enabled devices, sends over any other fail with
// ENETUNREACH, and a host id fails over from such a locator.
func TestL3DevOptIn(t *testing.T) {
	useL3Protos(t, testproto)
	a, b := newNetNS(t, "a"), newNetNS(t, "b")
	v := newVethPair(t, a, b, vethConfig{AddrsA: prefixes("10.0.0.1/24"), AddrsB: prefixes("10.0.0.2/24")})
	ra, rb := nlRawConn(t, a.fd), nlRawConn(t, b.fd)
	ctlA, ctlB := a.control(t), b.control(t)
	ca, cb := a.listen(t), b.listen(t)
	raiseRcvbuf(t, cb, 1<<20)
	pb := portOf(t, cb)
	toB := ethAddr(mhost.FamilyTestProto, pb, v.A.Index, v.B.MAC)

	disabledB := func() uint64 {
		n, err := rb.stat(nlStatsAttrRxL3DevDisabled)
		nlCheck(t, "b's counter of frames on devices not enabled", err)
		return n
	}
	send := func(what string) error {
		_, err := ca.WriteTo([]byte(what), toB)
		return err
	}

	// Neither end enabled: the send fails.
	if err := send("a disabled"); !errors.Is(err, unix.ENETUNREACH) {
		t.Fatalf("sending on a device not enabled: %v, want ENETUNREACH", err)
	}

	// a's end enabled, b's not: b drops the frame without parsing it.
	nlCheck(t, "enabling a's end", ra.setL3(v.A.Index, true))
	rx0, dis0 := l3Counters(t, ctlB), disabledB()
	nlCheck(t, "sending with a's end enabled", send("b disabled"))
	if !poll(ioTimeout, func() bool { return disabledB() == dis0+1 }) {
		t.Fatalf("b counted %d frames on devices not enabled, want 1", disabledB()-dis0)
	}
	// Even a malformed frame is not looked at: it is not "short".
	lab := newEthSender(t, a, v.A.Index, v.A.MAC, v.B.MAC)
	nlCheck(t, "injecting a 1-byte frame", lab.send([]byte{0}))
	if !poll(ioTimeout, func() bool { return disabledB() == dis0+2 }) {
		t.Fatalf("b counted %d frames on devices not enabled, want 2", disabledB()-dis0)
	}
	if d, _ := l3Delta(rx0, l3Counters(t, ctlB)); !l3Equal(d, nil) {
		t.Errorf("b's receive counters moved by %s for frames on a device not enabled", l3String(d))
	}
	wantConnEmpty(t, cb)

	// Both enabled: it arrives.
	nlCheck(t, "enabling b's end", rb.setL3(v.B.Index, true))
	nlCheck(t, "sending with both ends enabled", send("both enabled"))
	if msg, _ := readConn(t, cb); msg != "both enabled" {
		t.Fatalf("b read %q", msg)
	}

	// A host id fails over from a testproto locator on a device not
	// enabled to IPv4, and comes back when it is enabled.
	nlCheck(t, "AddHost 42", ctlA.AddHost(mhostnl.Host{ID: 42, Locators: []mhostnl.Locator{
		{Family: mhost.FamilyTestProto, Raw: v.B.MAC, Ifindex: v.A.Index}, nlLoc("10.0.0.2"),
	}}))
	nlCheck(t, "disabling a's end", ra.setL3(v.A.Index, false))
	st0 := stat(t, ctlA)
	to42 := &mhost.HostAddr{ID: 42, Port: uint16(pb)}
	for i, want := range []struct {
		enable bool
		from   net.Addr
	}{
		{false, udpAddr("10.0.0.1", portOf(t, ca))},
		{true, ethAddr(mhost.FamilyTestProto, portOf(t, ca), v.B.Index, v.A.MAC)},
	} {
		nlCheck(t, "DEV_SET", ra.setL3(v.A.Index, want.enable))
		msg := fmt.Sprintf("to host 42, %d", i)
		if _, err := ca.WriteTo([]byte(msg), to42); err != nil {
			t.Fatalf("sending %q: %v", msg, err)
		}
		got, from := readConn(t, cb)
		if got != msg {
			t.Fatalf("b read %q, want %q", got, msg)
		}
		wantFrom(t, fmt.Sprintf("%q with a's end enabled=%v", msg, want.enable), from, want.from)
	}
	st := stat(t, ctlA)
	if fo, un := st.TxFailover-st0.TxFailover, st.TxUnreach-st0.TxUnreach; fo != 1 || un != 0 {
		t.Errorf("TxFailover %d, TxUnreach %d; want 1 and 0", fo, un)
	}
	h, err := ctlA.Host(42)
	nlCheck(t, "Host 42", err)
	if l := h.Locators[0]; l.TxErrors != 1 || l.TxPackets != 1 {
		t.Errorf("the testproto locator: %d sent, %d errors; want 1 and 1", l.TxPackets, l.TxErrors)
	}
}
