//go:build guest

package guest_test

// Helpers for the generic netlink family "mhost", of netlink_test.go,
// mhostctl_test.go and failover_test.go: the kernel's expected messages,
// error checks, hosts, control clients and raw requests. Their names
// start with nl so that they stay apart from the other files'. Network
// namespaces, veth pairs and rtnetlink are netns_test.go's; helper
// processes are helpers_test.go's.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
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
	MissingAddr, Duplicate, ReplaceAppend, NotLocator, DuplicateHas,
	DevGone, MissingDev, MissingIfindex, NothingToSet string
	// The netlink core's (lib/nlattr.c, net/netlink/genetlink.c, 6.1).
	AttrLen, NestedMissing, UnknownAttr, Rejected, ReservedBit, NlmsgFlags,
	Unsupported, OutOfRange string
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
	NotLocator:      "locator list entries must be MHOST_A_LOCATOR",
	DuplicateHas:    "duplicate locator: the host has it already",
	DevGone:         "the device of a locator went away",
	MissingDev:      "missing device",
	MissingIfindex:  "missing device ifindex",
	NothingToSet:    "nothing to set",

	AttrLen:       "invalid attribute length",
	NestedMissing: "NLA_F_NESTED is missing",
	UnknownAttr:   "Unknown attribute type",
	Rejected:      "Attribute failed policy validation",
	ReservedBit:   "reserved bit set",
	NlmsgFlags:    "ambiguous or reserved bits set in nlmsg_flags",
	Unsupported:   "Unsupported attribute",
	OutOfRange:    "integer out of range",
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
// calling thread's, which is the initial one for the tests' goroutines),
// closed when the test ends. netNS.control opens one in a test's
// namespace.
func nlDial(t *testing.T, nsfd int) *mhostnl.Client {
	t.Helper()
	c, err := mhostnl.Dial(&mhostnl.Config{NetNS: nsfd})
	nlCheck(t, "mhostnl.Dial", err)
	t.Cleanup(func() { c.Close() })
	return c
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

// ---- what mhostnl does not mirror yet ----

// The device commands and attributes of kmod/include/uapi/linux/mhost.h,
// and the counter of frames on devices not enabled, which the tests reach
// with raw requests. A wrong number here fails the tests that use it.
const (
	nlCmdDevGet = 8  // MHOST_CMD_DEV_GET
	nlCmdDevSet = 9  // MHOST_CMD_DEV_SET
	nlCmdDevDel = 10 // MHOST_CMD_DEV_DEL, an event

	nlAttrDev = 8 // MHOST_A_DEV

	nlDevAttrIfindex = 2 // MHOST_DEV_A_IFINDEX
	nlDevAttrName    = 3 // MHOST_DEV_A_NAME
	nlDevAttrL3      = 4 // MHOST_DEV_A_L3

	nlStatsAttrRxL3DevDisabled = 17 // MHOST_STATS_A_RX_L3_DEV_DISABLED
)

// nlDev is what MHOST_A_DEV says of a device.
type nlDev struct {
	Index int
	Name  string
	L3    bool
}

func (d nlDev) String() string { return fmt.Sprintf("%s(%d) l3=%v", d.Name, d.Index, d.L3) }

// nlDevReq is a request's MHOST_A_DEV for the device index.
func nlDevReq(index int, extra ...netlink.Attribute) []byte {
	return nlAttrs(nlNest(nlAttrDev, append([]netlink.Attribute{nlU32(nlDevAttrIfindex, uint32(index))}, extra...)...))
}

func nlU8(typ uint16, v uint8) netlink.Attribute {
	return netlink.Attribute{Type: typ, Data: []byte{v}}
}

// nlL3 is MHOST_DEV_A_L3.
func nlL3(on bool) netlink.Attribute {
	if on {
		return nlU8(nlDevAttrL3, 1)
	}
	return nlU8(nlDevAttrL3, 0)
}

// setL3 enables or disables plugged-L3 traffic on a device.
func (r *nlRaw) setL3(index int, on bool) error {
	return r.request(nlCmdDevSet, 0, nlDevReq(index, nlL3(on)))
}

// get sends a request that is answered, a dump or not, and returns the
// answers.
func (r *nlRaw) get(cmd uint8, flags netlink.HeaderFlags, attrs []byte) ([]genetlink.Message, error) {
	return r.c.Execute(genetlink.Message{
		Header: genetlink.Header{Command: cmd, Version: mhostnl.GenlVersion},
		Data:   attrs,
	}, r.family.ID, netlink.Request|flags)
}

// dev returns the state of the device index.
func (r *nlRaw) dev(index int) (nlDev, error) {
	msgs, err := r.get(nlCmdDevGet, 0, nlDevReq(index))
	if err != nil {
		return nlDev{}, err
	}
	if len(msgs) != 1 {
		return nlDev{}, fmt.Errorf("DEV_GET: %d answers", len(msgs))
	}
	return nlDecodeDev(msgs[0].Data)
}

// devs dumps the devices enabled in the namespace.
func (r *nlRaw) devs() ([]nlDev, error) {
	msgs, err := r.get(nlCmdDevGet, netlink.Dump, nil)
	if err != nil {
		return nil, err
	}
	var ds []nlDev
	for _, m := range msgs {
		d, err := nlDecodeDev(m.Data)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// nlDecodeDev decodes the MHOST_A_DEV of a message.
func nlDecodeDev(b []byte) (nlDev, error) {
	var d nlDev
	found := false
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return d, err
	}
	for ad.Next() {
		if ad.Type() != nlAttrDev {
			continue
		}
		found = true
		ad.Nested(func(nad *netlink.AttributeDecoder) error {
			for nad.Next() {
				switch nad.Type() {
				case nlDevAttrIfindex:
					d.Index = int(nad.Uint32())
				case nlDevAttrName:
					d.Name = nad.String()
				case nlDevAttrL3:
					d.L3 = nad.Uint8() != 0
				}
			}
			return nil
		})
	}
	if err := ad.Err(); err != nil {
		return d, err
	}
	if !found {
		return d, errors.New("no MHOST_A_DEV")
	}
	return d, nil
}

// stat returns one counter of the namespace's MHOST_A_STATS.
func (r *nlRaw) stat(typ uint16) (uint64, error) {
	msgs, err := r.get(mhostnl.CmdStatsGet, 0, nil)
	if err != nil {
		return 0, err
	}
	if len(msgs) != 1 {
		return 0, fmt.Errorf("STATS_GET: %d answers", len(msgs))
	}
	var v uint64
	found := false
	ad, err := netlink.NewAttributeDecoder(msgs[0].Data)
	if err != nil {
		return 0, err
	}
	for ad.Next() {
		if ad.Type() == mhostnl.AttrStats {
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					if nad.Type() == typ {
						v, found = nad.Uint64(), true
					}
				}
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("no counter %d in MHOST_A_STATS", typ)
	}
	return v, nil
}

// enableL3 enables plugged-L3 traffic on the device index of the
// namespace nsfd names (0: the initial one) and, when the test ends, puts
// it back as it was.
func enableL3(t *testing.T, nsfd, index int) {
	t.Helper()
	r := nlRawConn(t, nsfd)
	d, err := r.dev(index)
	nlCheck(t, fmt.Sprintf("DEV_GET %d", index), err)
	nlCheck(t, fmt.Sprintf("enabling plugged L3s on %v", d), r.setL3(index, true))
	if !d.L3 {
		t.Cleanup(func() {
			// The device may be gone with its namespace, and its state
			// with it.
			if err := nlRawConnNoCleanup(nsfd, func(r *nlRaw) error { return r.setL3(index, false) }); err != nil &&
				!errors.Is(err, unix.ENODEV) && !errors.Is(err, unix.EBADF) {
				t.Errorf("disabling plugged L3s on %v again: %v", d, err)
			}
		})
	}
}

// nlRawConnNoCleanup runs f with a raw connection to the namespace nsfd
// names, for use in cleanups.
func nlRawConnNoCleanup(nsfd int, f func(r *nlRaw) error) error {
	c, err := genetlink.Dial(&netlink.Config{Strict: true, NetNS: nsfd})
	if err != nil {
		return err
	}
	defer c.Close()
	fam, err := c.GetFamily(mhostnl.GenlName)
	if err != nil {
		return err
	}
	return f(&nlRaw{c: c, family: fam})
}

// ---- events, raw ----

// nlEvent is a message of the "events" group.
type nlEvent struct {
	Cmd  uint8
	Data []byte // its attributes
}

// nlEvents listens to the "events" group of a namespace, with every
// kind of event, which mhostnl.Watcher does not decode.
type nlEvents struct {
	c *genetlink.Conn
}

func nlListen(t *testing.T, nsfd int) *nlEvents {
	t.Helper()
	c, err := genetlink.Dial(&netlink.Config{NetNS: nsfd})
	nlCheck(t, "genetlink.Dial", err)
	t.Cleanup(func() { c.Close() })
	f, err := c.GetFamily(mhostnl.GenlName)
	nlCheck(t, "GetFamily(mhost)", err)
	for _, g := range f.Groups {
		if g.Name == mhostnl.GroupEvents {
			nlCheck(t, "JoinGroup", c.JoinGroup(g.ID))
			return &nlEvents{c: c}
		}
	}
	t.Fatalf("no group %q in %+v", mhostnl.GroupEvents, f.Groups)
	return nil
}

// next returns the next events, waiting up to ioTimeout for one.
func (e *nlEvents) next() ([]nlEvent, error) {
	if err := e.c.SetReadDeadline(deadline()); err != nil {
		return nil, err
	}
	msgs, _, err := e.c.Receive()
	if err != nil {
		return nil, err
	}
	var evs []nlEvent
	for _, m := range msgs {
		evs = append(evs, nlEvent{Cmd: m.Header.Command, Data: m.Data})
	}
	return evs, nil
}

// nlEventString renders an event as "dev_set lo(1) l3=true", "host_new 7
// [inet 10.0.0.1]", "host_del 7 []" or "host_flush 0 []".
func nlEventString(ev nlEvent) string {
	switch ev.Cmd {
	case nlCmdDevSet, nlCmdDevDel:
		name := map[uint8]string{nlCmdDevSet: "dev_set", nlCmdDevDel: "dev_del"}[ev.Cmd]
		d, err := nlDecodeDev(ev.Data)
		if err != nil {
			return fmt.Sprintf("%s: %v", name, err)
		}
		return name + " " + d.String()
	case mhostnl.CmdHostNew, mhostnl.CmdHostDel, mhostnl.CmdHostFlush:
		name := map[uint8]string{mhostnl.CmdHostNew: "host_new", mhostnl.CmdHostDel: "host_del", mhostnl.CmdHostFlush: "host_flush"}[ev.Cmd]
		var h mhostnl.Host
		ad, err := netlink.NewAttributeDecoder(ev.Data)
		if err != nil {
			return fmt.Sprintf("%s: %v", name, err)
		}
		for ad.Next() {
			switch ad.Type() {
			case mhostnl.AttrHostID:
				h.ID = ad.Uint32()
			case mhostnl.AttrHostLocators:
				ad.Nested(func(nad *netlink.AttributeDecoder) error {
					for nad.Next() {
						h.Locators = append(h.Locators, nlDecodeLoc(nad.Bytes()))
					}
					return nil
				})
			}
		}
		return name + " " + nlHostString(h)
	}
	return fmt.Sprintf("command %d", ev.Cmd)
}

// nlDecodeLoc decodes the attributes of an MHOST_A_LOCATOR.
func nlDecodeLoc(b []byte) mhostnl.Locator {
	var l mhostnl.Locator
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return l
	}
	var addr []byte
	for ad.Next() {
		switch ad.Type() {
		case mhostnl.LocAttrFamily:
			l.Family = mhostnl.Family(ad.Uint16())
		case mhostnl.LocAttrAddr:
			addr = ad.Bytes()
		case mhostnl.LocAttrPort:
			l.Port = ad.Uint16()
		case mhostnl.LocAttrIfindex:
			l.Ifindex = int(ad.Uint32())
		}
	}
	if a, ok := netip.AddrFromSlice(addr); ok && (l.Family == mhostnl.FamilyInet || l.Family == mhostnl.FamilyInet6) {
		l.Addr = a
	} else {
		l.Raw = addr
	}
	return l
}

// want reads events until it has seen want, in order, failing the test
// if one differs or does not come.
func (e *nlEvents) want(t *testing.T, want ...string) {
	t.Helper()
	var got []string
	for len(got) < len(want) {
		evs, err := e.next()
		if err != nil {
			t.Fatalf("events: %v after %q, want %q", err, got, want)
		}
		for _, ev := range evs {
			got = append(got, nlEventString(ev))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}
