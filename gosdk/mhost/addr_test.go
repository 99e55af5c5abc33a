package mhost

import (
	"errors"
	"net"
	"reflect"
	"testing"
)

func TestAddrString(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&HostAddr{ID: 7, Port: 5000}, "hid(7):5000"},
		{&HostAddr{ID: 4294967295, Port: 65535}, "hid(4294967295):65535"},
		{&HostAddr{Port: 5000}, "*:5000"},
		{&HostAddr{}, "*:0"},
		{(*HostAddr)(nil), "<nil>"},
		{&RawAddr{Family: 4242, Data: []byte{0x0a, 0xff}}, "family(4242):0aff"},
		{&RawAddr{Family: 3}, "family(3):"},
		{(*RawAddr)(nil), "<nil>"},
		{&EthAddr{Family: FamilyTestProto, Port: 7000, Ifindex: 3, MAC: net.HardwareAddr{2, 0, 0, 0, 0, 0x0b}}, "testproto[02:00:00:00:00:0b%3]:7000"},
		{&EthAddr{Family: FamilyOtherProto, Port: 1, Ifindex: 1, MAC: make(net.HardwareAddr, 6)}, "otherproto[00:00:00:00:00:00%1]:1"},
		{&EthAddr{Family: 42}, "family(42)[%0]:0"},
		{(*EthAddr)(nil), "<nil>"},
	}
	for _, tt := range tests {
		if got := tt.addr.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.addr, got, tt.want)
		}
		if got := tt.addr.Network(); got != "mhost" {
			t.Errorf("%#v.Network() = %q, want \"mhost\"", tt.addr, got)
		}
	}
}

func TestNetworkLayer(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, "IPv4"},          // 16-byte form
		{&net.UDPAddr{IP: net.IP{192, 0, 2, 1}, Port: 1}, "IPv4"},            // 4-byte form
		{&net.UDPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 1}, "IPv4"}, // IPv4-mapped
		{&net.UDPAddr{Port: 1}, "IPv4"},                                      // 0.0.0.0
		{&net.UDPAddr{IP: net.IPv6loopback, Port: 1}, "IPv6"},
		{&net.UDPAddr{IP: net.ParseIP("fe80::1"), Port: 1, Zone: "lo"}, "IPv6"},
		{&HostAddr{ID: 7, Port: 1}, "host id"},
		{&RawAddr{Family: 3}, "family(3)"},
		{&EthAddr{Family: FamilyTestProto}, "testproto"},
		{&EthAddr{Family: FamilyOtherProto}, "otherproto"},
		{&EthAddr{Family: 42}, "family(42)"},
		{(*EthAddr)(nil), ""},
		{(*net.UDPAddr)(nil), ""},
		{(*HostAddr)(nil), ""},
		{(*RawAddr)(nil), ""},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 1}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := NetworkLayer(tt.addr); got != tt.want {
			t.Errorf("NetworkLayer(%#v) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in   string
		want net.Addr
	}{
		{"127.0.0.1:7000", &net.UDPAddr{IP: net.IP{127, 0, 0, 1}, Port: 7000}},
		{"[::1]:7000", &net.UDPAddr{IP: net.IPv6loopback, Port: 7000}},
		{"[fe80::1%eth0]:1", &net.UDPAddr{IP: net.ParseIP("fe80::1"), Port: 1, Zone: "eth0"}},
		{"[::ffff:192.0.2.1]:9", &net.UDPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 9}},
		{"hid(7):7000", &HostAddr{ID: 7, Port: 7000}},
		{"hid:7:7000", &HostAddr{ID: 7, Port: 7000}},
		{"hid(4294967295):0", &HostAddr{ID: 4294967295, Port: 0}},
	}
	for _, tt := range tests {
		got, err := ParseAddr(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseAddr(%q) = %#v, %v; want %#v", tt.in, got, err, tt.want)
		}
		// What String prints, ParseAddr reads back (an IPv4-mapped IP
		// prints as IPv4).
		if again, err := ParseAddr(got.String()); err != nil || again.String() != got.String() {
			t.Errorf("ParseAddr(%q) = %v, %v; want %v", got.String(), again, err, got)
		}
	}

	for _, in := range []string{
		"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "::1:7000", "localhost:7000",
		"hid", "hid(7)", "hid(7)7000", "hid(0):7000", "hid(-1):7000", "hid(4294967296):1",
		"hid(x):1", "hid:7", "hid:7:", "hid:7:70000", "hid7:7000", "*:7000",
	} {
		got, err := ParseAddr(in)
		var aerr *net.AddrError
		if !errors.As(err, &aerr) || aerr.Addr != in {
			t.Errorf("ParseAddr(%q) = %v, %v; want a *net.AddrError for it", in, got, err)
		}
	}
}
