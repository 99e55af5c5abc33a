package mhost

import (
	"errors"
	"net"
	"net/netip"
	"reflect"
	"testing"
)

func TestAddr(t *testing.T) {
	mac := [6]byte{2, 0, 0, 0, 0, 0x0b}
	tests := []struct {
		a       Addr
		str     string
		port    uint16
		netAddr net.Addr
	}{
		{AddrFromAddrPort(netip.MustParseAddrPort("192.0.2.1:7000")), "192.0.2.1:7000", 7000,
			&net.UDPAddr{IP: net.IP{192, 0, 2, 1}, Port: 7000}},
		{AddrFromAddrPort(netip.MustParseAddrPort("[fe80::1%eth0]:1")), "[fe80::1%eth0]:1", 1,
			&net.UDPAddr{IP: net.ParseIP("fe80::1"), Port: 1, Zone: "eth0"}},
		{AddrFromAddrPort(netip.MustParseAddrPort("[::ffff:10.0.0.1]:2")), "10.0.0.1:2", 2,
			&net.UDPAddr{IP: net.ParseIP("::ffff:10.0.0.1"), Port: 2}},
		{AddrFromHostID(7, 5000), "hid(7):5000", 5000, &HostAddr{ID: 7, Port: 5000}},
		{AddrFromHostID(0, 80), "*:80", 80, &HostAddr{Port: 80}},
		{AddrFromEth(FamilyTestProto, 3, mac, 7000), "testproto[02:00:00:00:00:0b%3]:7000", 7000,
			&EthAddr{Family: FamilyTestProto, Port: 7000, Ifindex: 3, MAC: mac[:]}},
		{AddrFromRaw(4242, []byte{0x0a, 0xff}), "family(4242):0aff", 0, &RawAddr{Family: 4242, Data: []byte{0x0a, 0xff}}},
		{Addr{}, "invalid Addr", 0, nil},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.str {
			t.Errorf("%#v.String() = %q, want %q", tt.a, got, tt.str)
		}
		if got := tt.a.Port(); got != tt.port {
			t.Errorf("%v.Port() = %d, want %d", tt.a, got, tt.port)
		}
		if got := tt.a.NetAddr(); !reflect.DeepEqual(got, tt.netAddr) {
			t.Errorf("%v.NetAddr() = %#v, want %#v", tt.a, got, tt.netAddr)
		}
		if tt.netAddr == nil {
			if tt.a.IsValid() {
				t.Errorf("%v.IsValid() = true", tt.a)
			}
			continue
		}
		if tt.netAddr.String() != tt.str && tt.a.IsIP() && !tt.a.AddrPort().Addr().Is4In6() {
			t.Errorf("%v prints %q, its net.Addr %q", tt.a, tt.str, tt.netAddr)
		}
		back, err := AddrFromNetAddr(tt.netAddr)
		want := tt.a
		if want.AddrPort().Addr().Is4In6() {
			want = AddrFromAddrPort(netip.AddrPortFrom(want.AddrPort().Addr().Unmap(), want.Port()))
		}
		if err != nil || back != want {
			t.Errorf("AddrFromNetAddr(%v) = %v, %v; want %v", tt.netAddr, back, err, want)
		}
	}

	// Addrs are comparable values.
	m := map[Addr]int{}
	m[AddrFromHostID(7, 1)]++
	m[AddrFromHostID(7, 1)]++
	m[AddrFromRaw(1, []byte{1})]++
	m[AddrFromRaw(1, []byte{1})]++
	m[AddrFromAddrPort(netip.MustParseAddrPort("[::1]:1"))]++
	if len(m) != 3 || m[AddrFromHostID(7, 1)] != 2 || m[AddrFromRaw(1, []byte{1})] != 2 {
		t.Errorf("map of Addrs: %v", m)
	}

	if id, ok := AddrFromHostID(9, 1).HostID(); !ok || id != 9 {
		t.Errorf("HostID() = %d, %v", id, ok)
	}
	if _, ok := AddrFromAddrPort(netip.MustParseAddrPort("[::1]:1")).HostID(); ok {
		t.Error("an IP Addr has a host id")
	}
	if f, idx, mac2, ok := AddrFromEth(3, 1, mac, 2).Eth(); !ok || f != 3 || idx != 1 || mac2 != mac {
		t.Errorf("Eth() = %d, %d, %v, %v", f, idx, mac2, ok)
	}
	if f, data, ok := AddrFromRaw(5, []byte{1, 2}).Raw(); !ok || f != 5 || string(data) != "\x01\x02" {
		t.Errorf("Raw() = %d, %x, %v", f, data, ok)
	}
	if AddrFromAddrPort(netip.AddrPort{}).IsValid() {
		t.Error("the Addr of an invalid AddrPort is valid")
	}
}

func TestAddrFromNetAddrErrors(t *testing.T) {
	for _, a := range []net.Addr{
		nil, (*net.UDPAddr)(nil), (*HostAddr)(nil), (*EthAddr)(nil), (*RawAddr)(nil),
		&net.UDPAddr{IP: net.IP{1, 2, 3}, Port: 1},
		&net.UDPAddr{IP: net.IPv6loopback, Port: 65536},
		&EthAddr{Family: 1, MAC: make(net.HardwareAddr, 5)},
		&EthAddr{Family: 1, MAC: make(net.HardwareAddr, 6), Ifindex: -1},
		&net.TCPAddr{IP: net.IPv6loopback, Port: 1},
	} {
		got, err := AddrFromNetAddr(a)
		var ae *net.AddrError
		if err == nil || (!errors.Is(err, errMissingAddress) && !errors.As(err, &ae)) || got.IsValid() {
			t.Errorf("AddrFromNetAddr(%#v) = %v, %v; want an error", a, got, err)
		}
	}
}

// equal, which batches use, must agree with ==.
func TestAddrEqual(t *testing.T) {
	mac := [6]byte{2, 0, 0, 0, 0, 0x0b}
	addrs := []Addr{
		{},
		AddrFromAddrPort(netip.MustParseAddrPort("192.0.2.1:7000")),
		AddrFromAddrPort(netip.MustParseAddrPort("192.0.2.1:7001")),
		AddrFromAddrPort(netip.MustParseAddrPort("[::ffff:192.0.2.1]:7000")),
		AddrFromAddrPort(netip.MustParseAddrPort("[fe80::1%eth0]:1")),
		AddrFromAddrPort(netip.MustParseAddrPort("[fe80::1%eth1]:1")),
		AddrFromHostID(7, 5000),
		AddrFromHostID(7, 5001),
		AddrFromHostID(8, 5000),
		AddrFromEth(FamilyTestProto, 3, mac, 7000),
		AddrFromEth(FamilyTestProto, 3, [6]byte{2}, 7000),
		AddrFromEth(FamilyOtherProto, 3, mac, 7000),
		AddrFromRaw(4242, []byte{0x0a, 0xff}),
		AddrFromRaw(4242, []byte{0x0a, 0xfe}),
		AddrFromRaw(4242, nil),
		AddrFromRaw(4243, []byte{0x0a, 0xff}),
	}
	for _, a := range addrs {
		for _, b := range addrs {
			b2 := b // another copy, as in another message
			if got, want := a.equal(&b2), a == b; got != want {
				t.Errorf("%v equal %v = %v, want %v", a, b, got, want)
			}
		}
		c := AddrFromRaw(4242, []byte{0x0a, 0xff}) // a string of its own
		if a.raw == c.raw && a.kind == kindRaw && a.family == 4242 && !a.equal(&c) {
			t.Errorf("%v not equal to a copy", a)
		}
	}
}
