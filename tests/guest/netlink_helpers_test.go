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
	f, err := c.GetFamily(genlName)
	nlCheck(t, "GetFamily(mhost)", err)
	return &nlRaw{c: c, family: f}
}

// request sends cmd with the raw attribute bytes and flags added to
// NLM_F_REQUEST|NLM_F_ACK, and returns the kernel's answer.
func (r *nlRaw) request(cmd uint8, flags netlink.HeaderFlags, attrs []byte) error {
	_, err := r.c.Execute(genetlink.Message{
		Header: genetlink.Header{Command: cmd, Version: genlVersion},
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
	return nlNest(aLocator,
		append([]netlink.Attribute{nlU16(locAFamily, family), nlBytes(locAAddr, addr)}, extra...)...)
}
