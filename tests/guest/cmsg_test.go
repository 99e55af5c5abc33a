//go:build guest

package guest_test

// Control messages an AF_MHOST socket gives with what it receives, as a
// UDP socket does: packet info and timestamps. (UDP_GRO is in
// batch_test.go, SO_RXQ_OVFL in sockopt_test.go, the error queue in
// recverr_test.go.)

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhost"
)

// A cmsgKind is the level and type of a control message.
type cmsgKind struct{ level, typ int32 }

var (
	cmsgUDPGRO       = cmsgKind{unix.SOL_UDP, unix.UDP_GRO}
	cmsgRxqOvfl      = cmsgKind{unix.SOL_SOCKET, unix.SO_RXQ_OVFL}
	cmsgTimestamp    = cmsgKind{unix.SOL_SOCKET, unix.SCM_TIMESTAMP}
	cmsgTimestampNS  = cmsgKind{unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS}
	cmsgIPPktinfo    = cmsgKind{unix.SOL_IP, unix.IP_PKTINFO}
	cmsgIPTOS        = cmsgKind{unix.SOL_IP, unix.IP_TOS}
	cmsgIPTTL        = cmsgKind{unix.SOL_IP, unix.IP_TTL}
	cmsgIPRecvErr    = cmsgKind{unix.SOL_IP, unix.IP_RECVERR}
	cmsgIPv6Pktinfo  = cmsgKind{unix.SOL_IPV6, unix.IPV6_PKTINFO}
	cmsgIPv6TClass   = cmsgKind{unix.SOL_IPV6, unix.IPV6_TCLASS}
	cmsgIPv6HopLimit = cmsgKind{unix.SOL_IPV6, unix.IPV6_HOPLIMIT}
	cmsgIPv6RecvErr  = cmsgKind{unix.SOL_IPV6, unix.IPV6_RECVERR}
)

var cmsgNames = map[cmsgKind]string{
	cmsgUDPGRO:       "UDP_GRO",
	cmsgRxqOvfl:      "SO_RXQ_OVFL",
	cmsgTimestamp:    "SCM_TIMESTAMP",
	cmsgTimestampNS:  "SCM_TIMESTAMPNS",
	cmsgIPPktinfo:    "IP_PKTINFO",
	cmsgIPTOS:        "IP_TOS",
	cmsgIPTTL:        "IP_TTL",
	cmsgIPRecvErr:    "IP_RECVERR",
	cmsgIPv6Pktinfo:  "IPV6_PKTINFO",
	cmsgIPv6TClass:   "IPV6_TCLASS",
	cmsgIPv6HopLimit: "IPV6_HOPLIMIT",
	cmsgIPv6RecvErr:  "IPV6_RECVERR",
}

func (k cmsgKind) String() string {
	if s, ok := cmsgNames[k]; ok {
		return s
	}
	return fmt.Sprintf("level %d type %d", k.level, k.typ)
}

func cmsgList(ks []cmsgKind) string {
	if len(ks) == 0 {
		return "none"
	}
	var s []string
	for _, k := range ks {
		s = append(s, k.String())
	}
	return strings.Join(s, ", ")
}

// wantCmsgs parses the control messages of a received datagram and fails
// the test unless they are the kinds want, each once, in any order. It
// returns the data of each.
func wantCmsgs(t *testing.T, what string, oob []byte, want ...cmsgKind) map[cmsgKind][]byte {
	t.Helper()
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		t.Fatalf("%s: parsing %d bytes of control messages: %v", what, len(oob), err)
	}
	data := map[cmsgKind][]byte{}
	var got []cmsgKind
	for _, m := range msgs {
		k := cmsgKind{m.Header.Level, m.Header.Type}
		got = append(got, k)
		data[k] = m.Data
	}
	cmp := func(a, b cmsgKind) int {
		if a.level != b.level {
			return int(a.level - b.level)
		}
		return int(a.typ - b.typ)
	}
	sortedGot, sortedWant := slices.SortedFunc(slices.Values(got), cmp), slices.SortedFunc(slices.Values(want), cmp)
	if !slices.Equal(sortedGot, sortedWant) {
		t.Fatalf("%s: control messages %s, want %s", what, cmsgList(got), cmsgList(want))
	}
	return data
}

// cmsgInt decodes the int of a control message.
func cmsgInt(t *testing.T, data []byte) int {
	t.Helper()
	if len(data) < 4 {
		t.Fatalf("control message of %d bytes, want an int", len(data))
	}
	return int(int32(binary.NativeEndian.Uint32(data)))
}

// TestCmsgPktinfo has an AF_MHOST socket in namespace b ask for packet
// info and receive IPv4 and IPv6 datagrams from a over a veth pair: each
// carries the address it was sent to and the device it came in on.
// IP_PKTINFO describes IPv4 datagrams; IPV6_RECVPKTINFO describes IPv6
// ones and, as on a dual-stack UDPv6 socket, IPv4 ones with a v4-mapped
// address.
func TestCmsgPktinfo(t *testing.T) {
	a, b := newNetNS(t, "a"), newNetNS(t, "b")
	v := newVethPair(t, a, b, vethConfig{
		AddrsA: prefixes("10.0.0.1/24", "fd00::1/64"),
		AddrsB: prefixes("10.0.0.2/24", "fd00::2/64"),
	})
	sfd := a.socket(t, family, unix.SOCK_DGRAM, 0)
	sport := bindAny(t, sfd)

	type opt struct{ level, name int }
	var (
		ipPktinfo   = opt{unix.SOL_IP, unix.IP_PKTINFO}
		ipv6Pktinfo = opt{unix.SOL_IPV6, unix.IPV6_RECVPKTINFO}
	)
	tests := []struct {
		name   string
		opts   []opt
		v4, v6 []cmsgKind // what IPv4 and IPv6 datagrams carry
	}{
		{"IP_PKTINFO", []opt{ipPktinfo}, []cmsgKind{cmsgIPPktinfo}, nil},
		{"IPV6_RECVPKTINFO", []opt{ipv6Pktinfo}, []cmsgKind{cmsgIPv6Pktinfo}, []cmsgKind{cmsgIPv6Pktinfo}},
		{"both", []opt{ipPktinfo, ipv6Pktinfo}, []cmsgKind{cmsgIPPktinfo, cmsgIPv6Pktinfo}, []cmsgKind{cmsgIPv6Pktinfo}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rfd := b.socket(t, family, unix.SOCK_DGRAM, 0)
			rport := bindAny(t, rfd)
			for _, o := range tt.opts {
				if err := unix.SetsockoptInt(rfd, o.level, o.name, 1); err != nil {
					t.Fatalf("setsockopt(%d, %d, 1): %v", o.level, o.name, errStr(err))
				}
			}
			for _, c := range []struct {
				src, dst string
				want     []cmsgKind
			}{{"10.0.0.1", "10.0.0.2", tt.v4}, {"fd00::1", "fd00::2", tt.v6}} {
				if _, err := sendto(sfd, []byte("to "+c.dst), 0, saIP(c.dst, rport)); err != nil {
					t.Fatalf("sendto %s: %v", c.dst, errStr(err))
				}
				buf, oob := make([]byte, 64), make([]byte, 256)
				n, oobn, _, from, err := recvmsg(rfd, buf, oob, 0)
				if err != nil || string(buf[:n]) != "to "+c.dst || !bytes.Equal(from, saIP(c.src, sport)) {
					t.Fatalf("recvmsg = %q from %s, %v; want %q from %s", buf[:n], saString(from), errStr(err),
						"to "+c.dst, saString(saIP(c.src, sport)))
				}
				what := "datagram to " + c.dst
				data := wantCmsgs(t, what, oob[:oobn], c.want...)
				dst := netip.MustParseAddr(c.dst)
				if d, ok := data[cmsgIPPktinfo]; ok {
					if len(d) < unix.SizeofInet4Pktinfo {
						t.Fatalf("%s: IP_PKTINFO of %d bytes", what, len(d))
					}
					pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&d[0]))
					if int(pi.Ifindex) != v.B.Index || netip.AddrFrom4(pi.Addr) != dst || netip.AddrFrom4(pi.Spec_dst) != dst {
						t.Errorf("%s: IP_PKTINFO ifindex %d addr %v spec_dst %v; want %d (%s), %v, %v", what,
							pi.Ifindex, netip.AddrFrom4(pi.Addr), netip.AddrFrom4(pi.Spec_dst), v.B.Index, v.B.Name, dst, dst)
					}
				}
				if d, ok := data[cmsgIPv6Pktinfo]; ok {
					if len(d) < unix.SizeofInet6Pktinfo {
						t.Fatalf("%s: IPV6_PKTINFO of %d bytes", what, len(d))
					}
					pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&d[0]))
					if int(pi.Ifindex) != v.B.Index || netip.AddrFrom16(pi.Addr).Unmap() != dst {
						t.Errorf("%s: IPV6_PKTINFO ifindex %d addr %v; want %d (%s), %v", what,
							pi.Ifindex, netip.AddrFrom16(pi.Addr), v.B.Index, v.B.Name, dst)
					}
				}
			}
		})
	}
}

// cmsgTime decodes an SCM_TIMESTAMP (struct timeval) or SCM_TIMESTAMPNS
// (struct timespec) control message.
func cmsgTime(t *testing.T, k cmsgKind, data []byte) time.Time {
	t.Helper()
	switch k {
	case cmsgTimestamp:
		if len(data) < int(unsafe.Sizeof(unix.Timeval{})) {
			t.Fatalf("SCM_TIMESTAMP of %d bytes", len(data))
		}
		tv := (*unix.Timeval)(unsafe.Pointer(&data[0]))
		return time.Unix(tv.Unix())
	case cmsgTimestampNS:
		if len(data) < int(unsafe.Sizeof(unix.Timespec{})) {
			t.Fatalf("SCM_TIMESTAMPNS of %d bytes", len(data))
		}
		ts := (*unix.Timespec)(unsafe.Pointer(&data[0]))
		return time.Unix(ts.Unix())
	}
	t.Fatalf("%v is no timestamp", k)
	return time.Time{}
}

// TestCmsgTimestamp turns SO_TIMESTAMP or SO_TIMESTAMPNS on and checks
// that every datagram, over IPv4, IPv6 and testproto on loopback, comes
// with a timestamp between the start of its send and the end of its
// receive.
func TestCmsgTimestamp(t *testing.T) {
	useL3Protos(t, testproto)
	enableL3(t, 0, 1) // testproto over lo
	sfd, sport := boundSocket(t)
	for _, tt := range []struct {
		name string
		opt  int
		kind cmsgKind
		res  time.Duration // the resolution of the timestamp
	}{
		{"SO_TIMESTAMP", unix.SO_TIMESTAMP, cmsgTimestamp, time.Microsecond},
		{"SO_TIMESTAMPNS", unix.SO_TIMESTAMPNS, cmsgTimestampNS, time.Nanosecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rfd, rport := boundSocket(t)
			if err := unix.SetsockoptInt(rfd, unix.SOL_SOCKET, tt.opt, 1); err != nil {
				t.Fatalf("setsockopt(%s, 1): %v", tt.name, errStr(err))
			}
			layers := []struct {
				name     string
				dst, src []byte
			}{
				{"IPv4", sa4("127.0.0.1", rport), sa4("127.0.0.1", sport)},
				{"IPv6", sa6("::1", rport), sa6("::1", sport)},
				{"testproto", saLo(mhost.FamilyTestProto, rport), saLo(mhost.FamilyTestProto, sport)},
			}
			for _, l := range layers {
				for i := range 3 {
					msg := fmt.Sprintf("%s #%d", l.name, i)
					before := time.Now()
					if _, err := sendto(sfd, []byte(msg), 0, l.dst); err != nil {
						t.Fatalf("sendto over %s: %v", l.name, errStr(err))
					}
					buf, oob := make([]byte, 64), make([]byte, 256)
					n, oobn, _, from, err := recvmsg(rfd, buf, oob, 0)
					after := time.Now()
					if err != nil || string(buf[:n]) != msg || !bytes.Equal(from, l.src) {
						t.Fatalf("recvmsg = %q from %s, %v; want %q from %s", buf[:n], saString(from), errStr(err), msg, saString(l.src))
					}
					ts := cmsgTime(t, tt.kind, wantCmsgs(t, msg, oob[:oobn], tt.kind)[tt.kind])
					if ts.Before(before.Truncate(tt.res)) || ts.After(after) {
						t.Errorf("%s: timestamp %v, want between the send at %v and the receive at %v",
							msg, ts.Format(time.RFC3339Nano), before.Format(time.RFC3339Nano), after.Format(time.RFC3339Nano))
					}
				}
			}
		})
	}
}
