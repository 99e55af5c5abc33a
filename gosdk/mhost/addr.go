package mhost

import (
	"encoding/hex"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// network is the name of the mhost network, as reported by the Network
// method of the address types of this package and in *net.OpError.
const network = "mhost"

// A HostAddr is an AF_MHOST address: a host identifier and a port
// (struct sockaddr_mhost).
//
// A non-zero ID names a host in the kernel's host table, which maps it to
// an ordered list of locators (IPv4, IPv6 or other network-layer
// addresses); sending to it uses the first locator that works. ID 0 means
// no host: it is the form of a local address, such as the one LocalAddr
// reports.
type HostAddr struct {
	ID   uint32
	Port uint16
}

// Network returns "mhost".
func (a *HostAddr) Network() string { return network }

// String returns "hid(ID):Port", or "*:Port" when ID is 0.
func (a *HostAddr) String() string {
	if a == nil {
		return "<nil>"
	}
	port := strconv.FormatUint(uint64(a.Port), 10)
	if a.ID == 0 {
		return "*:" + port
	}
	return "hid(" + strconv.FormatUint(uint64(a.ID), 10) + "):" + port
}

// A RawAddr is an address of a family this package has no type for, such as
// that of a network-layer protocol plugged into mhost by another kernel
// module. Data holds the bytes of the socket address that follow its 2-byte
// family field, as the kernel laid them out.
//
// Reads return a RawAddr for sources of unknown families, and writes accept
// one, so programs can use protocols this package predates.
type RawAddr struct {
	Family uint16
	Data   []byte
}

// Network returns "mhost".
func (a *RawAddr) Network() string { return network }

// String returns "family(N):" followed by Data in hexadecimal.
func (a *RawAddr) String() string {
	if a == nil {
		return "<nil>"
	}
	return "family(" + strconv.FormatUint(uint64(a.Family), 10) + "):" + hex.EncodeToString(a.Data)
}

// An EthAddr is the address of a peer reached over a network layer that
// addresses hosts on an Ethernet segment by interface and MAC address,
// with no IP configured: the example protocols FamilyTestProto and
// FamilyOtherProto that the modules mhost_testproto and mhost_otherproto
// plug into mhost (struct sockaddr_mhost_eth).
//
// As a destination, Ifindex names the interface to send on and MAC the
// peer's address on that segment; the loopback interface with the
// all-zero MAC reaches this host. As a source, Ifindex is the interface
// the datagram came in on and MAC the sender's address, so writing back
// to a source answers the sender.
type EthAddr struct {
	Family  uint16 // FamilyTestProto or FamilyOtherProto
	Port    uint16
	Ifindex int
	MAC     net.HardwareAddr // 6 bytes
}

// Network returns "mhost".
func (a *EthAddr) Network() string { return network }

// String returns the network layer as NetworkLayer names it, then the MAC
// address and the interface index in brackets, and the port:
// "testproto[02:00:00:00:00:0b%3]:7000".
func (a *EthAddr) String() string {
	if a == nil {
		return "<nil>"
	}
	return ethLayer(a.Family) + "[" + a.MAC.String() + "%" + strconv.Itoa(a.Ifindex) + "]:" +
		strconv.FormatUint(uint64(a.Port), 10)
}

// ethLayer names the network layer of an EthAddr family.
func ethLayer(family uint16) string {
	switch family {
	case FamilyTestProto:
		return "testproto"
	case FamilyOtherProto:
		return "otherproto"
	}
	return "family(" + strconv.FormatUint(uint64(family), 10) + ")"
}

// NetworkLayer names the network layer that carries datagrams to or from
// addr, for messages such as "from 192.0.2.1:7000 over IPv4": "IPv4" or
// "IPv6" for a *net.UDPAddr (an IPv4-mapped IPv6 address is IPv4, since it
// is sent as one), "host id" for a *HostAddr (the kernel picks the layer),
// "testproto" or "otherproto" for an *EthAddr of those families
// ("family(N)" for another), "family(N)" for a *RawAddr, and "" for
// anything else.
func NetworkLayer(addr net.Addr) string {
	switch a := addr.(type) {
	case *net.UDPAddr:
		if a == nil {
			return ""
		}
		if len(a.IP) == 0 || a.IP.To4() != nil {
			return "IPv4"
		}
		return "IPv6"
	case *HostAddr:
		if a == nil {
			return ""
		}
		return "host id"
	case *EthAddr:
		if a == nil {
			return ""
		}
		return ethLayer(a.Family)
	case *RawAddr:
		if a == nil {
			return ""
		}
		return "family(" + strconv.FormatUint(uint64(a.Family), 10) + ")"
	}
	return ""
}

// ParseAddr parses a destination address without consulting DNS:
// "IP:port" ("192.0.2.1:7000", "[2001:db8::1]:7000", "[fe80::1%eth0]:7000")
// gives a *net.UDPAddr, and a host id written as HostAddr prints it,
// "hid(7):7000", or as "hid:7:7000", gives a *HostAddr.
func ParseAddr(s string) (net.Addr, error) {
	if rest, ok := strings.CutPrefix(s, "hid"); ok {
		var id, port string
		if r, ok := strings.CutPrefix(rest, "("); ok {
			id, port, ok = strings.Cut(r, "):")
			if !ok {
				return nil, &net.AddrError{Err: "invalid host id address", Addr: s}
			}
		} else if r, ok := strings.CutPrefix(rest, ":"); ok {
			id, port, ok = strings.Cut(r, ":")
			if !ok {
				return nil, &net.AddrError{Err: "missing port in address", Addr: s}
			}
		} else {
			return nil, &net.AddrError{Err: "invalid host id address", Addr: s}
		}
		n, err := strconv.ParseUint(id, 10, 32)
		if err != nil || n == 0 {
			return nil, &net.AddrError{Err: "invalid host id", Addr: s}
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, &net.AddrError{Err: "invalid port", Addr: s}
		}
		return &HostAddr{ID: uint32(n), Port: uint16(p)}, nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, &net.AddrError{Err: "invalid address", Addr: s}
	}
	return net.UDPAddrFromAddrPort(ap), nil
}
