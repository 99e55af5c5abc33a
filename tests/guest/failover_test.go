//go:build guest

package guest_test

// Failover: host 7 has an IPv6 and an IPv4 locator; when the IPv6 path
// breaks on the sender's side, every datagram to host 7 goes over IPv4
// instead, and the application notices nothing.
//
// Two network namespaces joined by a veth pair:
//
//	A: veth-a 10.0.0.1/24 fd00::1/64  <->  B: veth-b 10.0.0.2/24 fd00::2/64
//
// In A, host 7 is [inet6 fd00::2, inet 10.0.0.2]; in B, host 7 is A's
// addresses, so that B's server, with MHOST_RECVHOSTID on, sees the
// datagrams come from host 7 whatever path they took.

import (
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/mnet/mnet/gosdk/mhost"
	"github.com/mnet/mnet/gosdk/mhostnl"
)

func TestFailover(t *testing.T) {
	for _, tc := range []struct {
		name      string
		breakIPv6 func(t *testing.T, a vethEnd)
	}{
		{"IPv6 address deleted", func(t *testing.T, a vethEnd) { a.NS.delAddr(t, a.Index, netip.MustParsePrefix("fd00::1/64")) }},
		{"IPv6 route deleted", func(t *testing.T, a vethEnd) { a.NS.delRoute(t, a.Index, netip.MustParsePrefix("fd00::/64")) }},
	} {
		t.Run(tc.name, func(t *testing.T) { nlFailover(t, tc.breakIPv6) })
	}
}

// nlFailoverSends is how many datagrams go to host 7 after the IPv6 path
// broke.
const nlFailoverSends = 5

func nlFailover(t *testing.T, breakIPv6 func(t *testing.T, a vethEnd)) {
	a, b := newNetNS(t, "a"), newNetNS(t, "b")
	a.setUp(t, "lo") // like real hosts
	b.setUp(t, "lo")
	v := newVethPair(t, a, b, vethConfig{
		AddrsA: prefixes("10.0.0.1/24", "fd00::1/64"),
		AddrsB: prefixes("10.0.0.2/24", "fd00::2/64"),
	})

	ca, cb := a.control(t), b.control(t)
	// Local failures only: path liveness, which moves traffic on its own
	// (as after a stall of the VM that makes its probes time out), is
	// off for host 7 here and tested in liveness_test.go.
	off := time.Duration(0)
	nlCheck(t, "host 7 in A", ca.AddHost(mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{nlLoc("fd00::2"), nlLoc("10.0.0.2")},
		Live: &mhostnl.LiveKnobs{Interval: &off}}))
	nlCheck(t, "host 7 in B", cb.AddHost(mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{nlLoc("fd00::1"), nlLoc("10.0.0.1")}}))

	srv, cli := b.listen(t), a.listen(t)
	srvPort := srv.LocalAddr().(*mhost.HostAddr).Port
	cliPort := cli.LocalAddr().(*mhost.HostAddr).Port
	to7 := &mhost.HostAddr{ID: 7, Port: srvPort}

	before, err := ca.Stats()
	nlCheck(t, "Stats in A", err)

	// exchange sends one datagram to host 7 and checks where the server
	// saw it come from.
	exchange := func(what string, recvHostID bool, wantFrom string) {
		t.Helper()
		nlCheck(t, "SetRecvHostID", srv.SetRecvHostID(recvHostID))
		payload := what
		if _, err := cli.WriteTo([]byte(payload), to7); err != nil {
			t.Fatalf("%s: sending to host 7: %v", what, err)
		}
		srv.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 1500)
		n, from, err := srv.ReadFrom(buf)
		if err != nil {
			t.Fatalf("%s: the server received nothing: %v", what, err)
		}
		if string(buf[:n]) != payload {
			t.Errorf("%s: the server received %q, want %q", what, buf[:n], payload)
		}
		if got, port := nlSource(from); got != wantFrom || port != cliPort {
			t.Errorf("%s: the server saw it come from %s port %d (%T %v), want %s port %d",
				what, got, port, from, from, wantFrom, cliPort)
		}
	}

	// Over IPv6, the first locator.
	exchange("v6 with host ids", true, "hid 7")
	exchange("v6 with addresses", false, "fd00::1")

	breakIPv6(t, v.A)

	// Every send still succeeds, over IPv4.
	for i := range nlFailoverSends {
		exchange("v4 with addresses "+string(rune('a'+i)), false, "10.0.0.1")
	}
	exchange("v4 with host ids", true, "hid 7")

	h, err := ca.Host(7)
	nlCheck(t, "Host 7 in A", err)
	t.Logf("host 7 in A: %+v", h)
	if len(h.Locators) != 2 {
		t.Fatalf("host 7 has %d locators, want 2", len(h.Locators))
	}
	v6, v4 := h.Locators[0], h.Locators[1]
	if v6.TxPackets != 2 || v6.TxErrors < 1 {
		t.Errorf("IPv6 locator: %d sent, %d errors; want 2 sent and at least 1 error", v6.TxPackets, v6.TxErrors)
	}
	if v4.TxPackets != nlFailoverSends+1 || v4.TxErrors != 0 {
		t.Errorf("IPv4 locator: %d sent, %d errors; want %d sent, no error", v4.TxPackets, v4.TxErrors, nlFailoverSends+1)
	}
	after, err := ca.Stats()
	nlCheck(t, "Stats in A", err)
	t.Logf("stats in A before: %+v", before)
	t.Logf("stats in A after:  %+v", after)
	if after.TxFailover <= before.TxFailover {
		t.Errorf("TxFailover %d, %d before the IPv6 path broke: want it to grow", after.TxFailover, before.TxFailover)
	}
	if d := after.TxHostID - before.TxHostID; d != nlFailoverSends+3 {
		t.Errorf("TxHostID grew by %d, want %d", d, nlFailoverSends+3)
	}
	if after.TxUnreach != before.TxUnreach {
		t.Errorf("TxUnreach grew from %d to %d: a send found no path", before.TxUnreach, after.TxUnreach)
	}
}

// nlSource names the source of a datagram for comparisons: "hid N" for a
// host id, the IP address (IPv4-mapped ones unmapped) for IP; and its
// port.
func nlSource(addr net.Addr) (string, uint16) {
	switch a := addr.(type) {
	case *mhost.HostAddr:
		return "hid " + strconv.FormatUint(uint64(a.ID), 10), a.Port
	case *net.UDPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			return "bad IP " + a.IP.String(), uint16(a.Port)
		}
		return ip.Unmap().String(), uint16(a.Port)
	}
	return "unexpected address", 0
}
