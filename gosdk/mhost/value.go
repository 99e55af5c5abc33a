package mhost

import (
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"strconv"
)

var errMissingAddress = errors.New("missing address")

// An Addr is the address of an AF_MHOST peer as a comparable value, as
// netip.AddrPort is for IP: an IP address and port, a host id and port,
// the address of a peer of the example network layers (EthAddr's), or an
// address of another family (RawAddr's). Addrs can be map keys, and
// ReadFromAddr, WriteToAddr, ReadBatch and WriteBatch, which use them,
// allocate nothing, unlike the net.Addr methods.
//
// The zero Addr is not a valid address.
type Addr struct {
	ip     netip.AddrPort // kindIP
	kind   addrKind
	family uint16 // kindEth, kindRaw
	port   uint16 // kindHost, kindEth
	id     uint32 // host id (kindHost) or interface index (kindEth)
	mac    [6]byte
	raw    string // kindRaw: the bytes after the family field
}

type addrKind uint8

const (
	kindNone addrKind = iota
	kindIP
	kindHost
	kindEth
	kindRaw
)

// AddrFromAddrPort returns the Addr of an IP address and port. An IPv4
// or IPv4-mapped IPv6 address is sent to over IPv4, any other over IPv6,
// its zone naming the scope.
func AddrFromAddrPort(ap netip.AddrPort) Addr {
	if !ap.IsValid() {
		return Addr{}
	}
	return Addr{ip: ap, kind: kindIP}
}

// AddrFromHostID returns the Addr of host id on port, the value form of
// a HostAddr. Host id 0 is the form of a local address.
func AddrFromHostID(id uint32, port uint16) Addr {
	return Addr{kind: kindHost, id: id, port: port}
}

// AddrFromEth returns the Addr of a peer of a network layer that
// addresses hosts by interface and MAC address, the value form of an
// EthAddr: family is FamilyTestProto or FamilyOtherProto.
func AddrFromEth(family uint16, ifindex uint32, mac [6]byte, port uint16) Addr {
	return Addr{kind: kindEth, family: family, id: ifindex, mac: mac, port: port}
}

// AddrFromRaw returns the Addr of a socket address of another family,
// the value form of a RawAddr: data is the address after its family
// field. It copies data, the one allocation of this type.
func AddrFromRaw(family uint16, data []byte) Addr {
	return Addr{kind: kindRaw, family: family, raw: string(data)}
}

// AddrFromNetAddr returns the Addr of a *net.UDPAddr, *HostAddr, *EthAddr
// or *RawAddr. It fails for other types, nil addresses, and values the
// Addr cannot hold (an IP of the wrong length, a port or interface index
// out of range, a MAC that is not 6 bytes).
func AddrFromNetAddr(a net.Addr) (Addr, error) {
	switch a := a.(type) {
	case *net.UDPAddr:
		if a == nil {
			return Addr{}, errMissingAddress
		}
		ap, err := udpAddrPort(a)
		if err != nil {
			return Addr{}, err
		}
		return AddrFromAddrPort(ap), nil
	case *HostAddr:
		if a == nil {
			return Addr{}, errMissingAddress
		}
		return AddrFromHostID(a.ID, a.Port), nil
	case *EthAddr:
		if a == nil {
			return Addr{}, errMissingAddress
		}
		if len(a.MAC) != 6 {
			return Addr{}, &net.AddrError{Err: "invalid MAC address", Addr: a.String()}
		}
		if a.Ifindex < 0 || uint64(a.Ifindex) > 1<<32-1 {
			return Addr{}, &net.AddrError{Err: "invalid interface index", Addr: a.String()}
		}
		return AddrFromEth(a.Family, uint32(a.Ifindex), [6]byte(a.MAC), a.Port), nil
	case *RawAddr:
		if a == nil {
			return Addr{}, errMissingAddress
		}
		return AddrFromRaw(a.Family, a.Data), nil
	case nil:
		return Addr{}, errMissingAddress
	}
	return Addr{}, &net.AddrError{Err: "unsupported address type " + a.Network(), Addr: a.String()}
}

// IsValid reports whether a is an address, not the zero Addr.
func (a Addr) IsValid() bool { return a.kind != kindNone }

// equal reports whether *a == *o, field by field: the == of the struct
// calls a generated function, and == of strings runtime.memequal, which
// cost a batch more than its layout. Only a raw Addr has a raw string.
func (a *Addr) equal(o *Addr) bool {
	return a.kind == o.kind && a.ip == o.ip && a.port == o.port && a.id == o.id &&
		a.family == o.family && a.mac == o.mac && (a.kind != kindRaw || a.raw == o.raw)
}

// IsIP reports whether a is an IP address and port.
func (a Addr) IsIP() bool { return a.kind == kindIP }

// AddrPort returns the IP address and port of a, or the zero AddrPort
// when a is not an IP address.
func (a Addr) AddrPort() netip.AddrPort { return a.ip }

// HostID returns the host id of a host-id address, and whether a is one.
func (a Addr) HostID() (id uint32, ok bool) { return a.id, a.kind == kindHost }

// Eth returns the parts of an address of the example network layers,
// and whether a is one.
func (a Addr) Eth() (family uint16, ifindex uint32, mac [6]byte, ok bool) {
	if a.kind != kindEth {
		return 0, 0, [6]byte{}, false
	}
	return a.family, a.id, a.mac, true
}

// Raw returns the family and bytes of an address of another family, and
// whether a is one.
func (a Addr) Raw() (family uint16, data []byte, ok bool) {
	if a.kind != kindRaw {
		return 0, nil, false
	}
	return a.family, []byte(a.raw), true
}

// Port returns the port of a: 0 for addresses without one (RawAddr's).
func (a Addr) Port() uint16 {
	switch a.kind {
	case kindIP:
		return a.ip.Port()
	case kindHost, kindEth:
		return a.port
	}
	return 0
}

// NetAddr returns a as a net.Addr: a *net.UDPAddr, *HostAddr, *EthAddr or
// *RawAddr, or nil for the zero Addr. The result is newly allocated.
func (a Addr) NetAddr() net.Addr {
	switch a.kind {
	case kindIP:
		return udpAddr(a.ip)
	case kindHost:
		return &HostAddr{ID: a.id, Port: a.port}
	case kindEth:
		e := &struct {
			a   EthAddr
			mac [6]byte
		}{mac: a.mac}
		e.a = EthAddr{Family: a.family, Port: a.port, Ifindex: int(a.id), MAC: e.mac[:]}
		return &e.a
	case kindRaw:
		return &RawAddr{Family: a.family, Data: []byte(a.raw)}
	}
	return nil
}

// udpAddrPort returns the address of a, an empty IP being 0.0.0.0 and an
// IPv4-mapped one IPv4, without zone.
func udpAddrPort(a *net.UDPAddr) (netip.AddrPort, error) {
	if a.Port < 0 || a.Port > 0xffff {
		return netip.AddrPort{}, &net.AddrError{Err: "invalid port", Addr: a.String()}
	}
	ip, ok := netip.AddrFromSlice(a.IP)
	switch {
	case len(a.IP) == 0:
		ip = netip.IPv4Unspecified()
	case !ok:
		return netip.AddrPort{}, &net.AddrError{Err: "invalid IP address", Addr: a.String()}
	case ip.Is4In6():
		ip = ip.Unmap()
	case a.Zone != "":
		ip = ip.WithZone(a.Zone)
	}
	return netip.AddrPortFrom(ip, uint16(a.Port)), nil
}

// udpAddr returns ap as a *net.UDPAddr in one allocation, with a 4-byte IP
// for IPv4 as net.UDPConn reports them.
func udpAddr(ap netip.AddrPort) *net.UDPAddr {
	u := &struct {
		a  net.UDPAddr
		ip [16]byte
	}{}
	ip := ap.Addr()
	u.ip = ip.As16()
	if ip.Is4() {
		u.a.IP = u.ip[12:16]
	} else {
		u.a.IP = u.ip[:]
		u.a.Zone = ip.Zone()
	}
	u.a.Port = int(ap.Port())
	return &u.a
}

// String returns a as the net.Addr of the same address prints it:
// "192.0.2.1:7000", "[fe80::1%eth0]:7000", "hid(7):7000",
// "testproto[02:00:00:00:00:0b%3]:7000", "family(42):0aff"; "invalid Addr"
// for the zero Addr.
func (a Addr) String() string {
	switch a.kind {
	case kindIP:
		if a.ip.Addr().Is4In6() {
			return netip.AddrPortFrom(a.ip.Addr().Unmap(), a.ip.Port()).String()
		}
		return a.ip.String()
	case kindHost:
		return (&HostAddr{ID: a.id, Port: a.port}).String()
	case kindEth:
		return ethLayer(a.family) + "[" + net.HardwareAddr(a.mac[:]).String() + "%" +
			strconv.FormatUint(uint64(a.id), 10) + "]:" + strconv.FormatUint(uint64(a.port), 10)
	case kindRaw:
		return "family(" + strconv.FormatUint(uint64(a.family), 10) + "):" + hex.EncodeToString([]byte(a.raw))
	}
	return "invalid Addr"
}
