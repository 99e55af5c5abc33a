package mhost

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"net"
	"strconv"

	"golang.org/x/sys/unix"
)

// Socket addresses cross the system call boundary as bytes: x/sys/unix can
// neither encode nor decode AF_MHOST addresses, so this file does both for
// every family an AF_MHOST socket deals in. The family field of every
// sockaddr is in host byte order, ports in network byte order.

// Sizes of the IP socket addresses. An IPv6 one may come without its
// trailing scope id (RFC 2133), as the kernel accepts.
const (
	sizeofSockaddrInet4        = unix.SizeofSockaddrInet4 // 16
	sizeofSockaddrInet6        = unix.SizeofSockaddrInet6 // 28
	sizeofSockaddrInet6NoScope = 24
	sizeofSockaddrStorage      = 128 // struct __kernel_sockaddr_storage
)

var errMissingAddress = errors.New("missing address")

// appendSockaddr appends the socket address for addr to b. family is the
// AF_MHOST family number to put in a sockaddr_mhost.
//
// A *net.UDPAddr becomes a sockaddr_in when its IP is an IPv4 or
// IPv4-mapped IPv6 address, or empty (0.0.0.0, which the kernel sends to
// this host), and a sockaddr_in6 otherwise, its Zone naming the scope id.
// A *HostAddr becomes a sockaddr_mhost, an *EthAddr a sockaddr_mhost_eth
// and a *RawAddr its family followed by its Data. The port 0, the host id 0
// and the interface index 0 are passed on for the kernel to judge.
func appendSockaddr(b []byte, addr net.Addr, family uint16) ([]byte, error) {
	switch a := addr.(type) {
	case *net.UDPAddr:
		if a == nil {
			return nil, errMissingAddress
		}
		if a.Port < 0 || a.Port > 0xffff {
			return nil, &net.AddrError{Err: "invalid port", Addr: a.String()}
		}
		if len(a.IP) == 0 {
			return appendInet4(b, net.IPv4zero.To4(), a.Port), nil
		}
		if ip4 := a.IP.To4(); ip4 != nil {
			return appendInet4(b, ip4, a.Port), nil
		}
		if len(a.IP) != net.IPv6len {
			return nil, &net.AddrError{Err: "invalid IP address", Addr: a.String()}
		}
		scope, err := zoneToScope(a.Zone)
		if err != nil {
			return nil, &net.AddrError{Err: err.Error(), Addr: a.String()}
		}
		return appendInet6(b, a.IP, a.Port, scope), nil
	case *HostAddr:
		if a == nil {
			return nil, errMissingAddress
		}
		return appendMhost(b, family, a.ID, a.Port), nil
	case *EthAddr:
		if a == nil {
			return nil, errMissingAddress
		}
		if len(a.MAC) != smeZeroOff-smeAddrOff {
			return nil, &net.AddrError{Err: "invalid MAC address", Addr: a.String()}
		}
		if a.Ifindex < 0 || a.Ifindex > math.MaxUint32 {
			return nil, &net.AddrError{Err: "invalid interface index", Addr: a.String()}
		}
		return appendEth(b, a), nil
	case *RawAddr:
		if a == nil {
			return nil, errMissingAddress
		}
		if 2+len(a.Data) > sizeofSockaddrStorage {
			return nil, &net.AddrError{Err: "socket address too long", Addr: a.String()}
		}
		b = binary.NativeEndian.AppendUint16(b, a.Family)
		return append(b, a.Data...), nil
	case nil:
		return nil, errMissingAddress
	}
	return nil, &net.AddrError{Err: "unsupported address type " + addr.Network(), Addr: addr.String()}
}

func appendInet4(b []byte, ip4 net.IP, port int) []byte {
	b = binary.NativeEndian.AppendUint16(b, unix.AF_INET)
	b = binary.BigEndian.AppendUint16(b, uint16(port))
	b = append(b, ip4...)
	return append(b, make([]byte, 8)...) // sin_zero
}

func appendInet6(b []byte, ip net.IP, port int, scope uint32) []byte {
	b = binary.NativeEndian.AppendUint16(b, unix.AF_INET6)
	b = binary.BigEndian.AppendUint16(b, uint16(port))
	b = binary.BigEndian.AppendUint32(b, 0) // sin6_flowinfo
	b = append(b, ip...)
	return binary.NativeEndian.AppendUint32(b, scope)
}

func appendMhost(b []byte, family uint16, id uint32, port uint16) []byte {
	var sa [SizeofSockaddrMhost]byte
	binary.NativeEndian.PutUint16(sa[smhFamilyOff:], family)
	binary.BigEndian.PutUint16(sa[smhPortOff:], port)
	binary.NativeEndian.PutUint32(sa[smhHIDOff:], id)
	return append(b, sa[:]...)
}

func appendEth(b []byte, a *EthAddr) []byte {
	var sa [SizeofSockaddrMhostEth]byte
	binary.NativeEndian.PutUint16(sa[smeFamilyOff:], a.Family)
	binary.BigEndian.PutUint16(sa[smePortOff:], a.Port)
	binary.NativeEndian.PutUint32(sa[smeIfindexOff:], uint32(a.Ifindex))
	copy(sa[smeAddrOff:smeZeroOff], a.MAC)
	return append(b, sa[:]...)
}

// A sockaddrError reports a socket address the kernel returned that is too
// short for its family.
type sockaddrError struct {
	family uint16
	len    int
}

func (e *sockaddrError) Error() string {
	return "malformed socket address: family " + strconv.Itoa(int(e.family)) +
		" with length " + strconv.Itoa(e.len)
}

// decodeSockaddr decodes the socket address the kernel wrote into b, b
// being as long as the address length it reported. family is the AF_MHOST
// family number. An empty b decodes to a nil net.Addr: the kernel gave no
// address. FamilyTestProto and FamilyOtherProto decode to an *EthAddr.
// Families without a type of their own decode to a *RawAddr; the known
// ones fail when b is shorter than their fields. Padding (sin_zero,
// smh_zero, sme_zero) and the IPv6 flow label are ignored.
func decodeSockaddr(b []byte, family uint16) (net.Addr, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) < 2 {
		return nil, &sockaddrError{len: len(b)}
	}
	f := binary.NativeEndian.Uint16(b)
	switch {
	case f == unix.AF_INET:
		if len(b) < sizeofSockaddrInet4 {
			return nil, &sockaddrError{family: f, len: len(b)}
		}
		return &net.UDPAddr{
			IP:   net.IP{b[4], b[5], b[6], b[7]},
			Port: int(binary.BigEndian.Uint16(b[2:])),
		}, nil
	case f == unix.AF_INET6:
		if len(b) < sizeofSockaddrInet6NoScope {
			return nil, &sockaddrError{family: f, len: len(b)}
		}
		var scope uint32
		if len(b) >= sizeofSockaddrInet6 {
			scope = binary.NativeEndian.Uint32(b[24:])
		}
		return &net.UDPAddr{
			IP:   net.IP(append([]byte(nil), b[8:24]...)),
			Port: int(binary.BigEndian.Uint16(b[2:])),
			Zone: scopeToZone(scope),
		}, nil
	case f == family:
		if len(b) < SizeofSockaddrMhost {
			return nil, &sockaddrError{family: f, len: len(b)}
		}
		return &HostAddr{
			ID:   binary.NativeEndian.Uint32(b[smhHIDOff:]),
			Port: binary.BigEndian.Uint16(b[smhPortOff:]),
		}, nil
	case f == FamilyTestProto || f == FamilyOtherProto:
		if len(b) < SizeofSockaddrMhostEth {
			return nil, &sockaddrError{family: f, len: len(b)}
		}
		return &EthAddr{
			Family:  f,
			Port:    binary.BigEndian.Uint16(b[smePortOff:]),
			Ifindex: int(binary.NativeEndian.Uint32(b[smeIfindexOff:])),
			MAC:     net.HardwareAddr(bytes.Clone(b[smeAddrOff:smeZeroOff])),
		}, nil
	}
	return &RawAddr{Family: f, Data: append([]byte(nil), b[2:]...)}, nil
}

// zoneToScope returns the IPv6 scope id a zone names: an interface name or
// a decimal index.
func zoneToScope(zone string) (uint32, error) {
	if zone == "" {
		return 0, nil
	}
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n), nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, errors.New("unknown zone")
	}
	return uint32(ifi.Index), nil
}

// scopeToZone returns the zone for an IPv6 scope id: the name of the
// interface with that index, or the index in decimal when there is none.
func scopeToZone(scope uint32) string {
	if scope == 0 {
		return ""
	}
	if scope <= 1<<31-1 {
		if ifi, err := net.InterfaceByIndex(int(scope)); err == nil {
			return ifi.Name
		}
	}
	return strconv.FormatUint(uint64(scope), 10)
}
