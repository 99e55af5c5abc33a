package mhost

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/internal/uapi"
)

// Socket addresses cross the system call boundary as bytes: x/sys/unix can
// neither encode nor decode AF_MHOST addresses, so this file does both for
// every family an AF_MHOST socket deals in, into and out of fixed-size
// buffers so that the data path allocates nothing. The family field of
// every sockaddr is in host byte order, ports in network byte order.

// Sizes of the IP socket addresses. An IPv6 one may come without its
// trailing scope id (RFC 2133), as the kernel accepts.
const (
	sizeofSockaddrInet4        = unix.SizeofSockaddrInet4 // 16
	sizeofSockaddrInet6        = unix.SizeofSockaddrInet6 // 28
	sizeofSockaddrInet6NoScope = 24
	sizeofSockaddrStorage      = 128 // struct __kernel_sockaddr_storage
)

// A sockaddr is a socket address as the kernel lays it out: the first n
// bytes of b.
type sockaddr struct {
	b [sizeofSockaddrStorage]byte
	n int
}

func (sa *sockaddr) bytes() []byte { return sa.b[:sa.n] }

// setNetAddr encodes addr, the destination of a write. family is the
// AF_MHOST family number to put in a sockaddr_mhost.
//
// A *net.UDPAddr becomes a sockaddr_in when its IP is an IPv4 or
// IPv4-mapped IPv6 address, or empty (0.0.0.0, which the kernel sends to
// this host), and a sockaddr_in6 otherwise, its Zone naming the scope id.
// A *HostAddr becomes a sockaddr_mhost, an *EthAddr a sockaddr_mhost_eth
// and a *RawAddr its family followed by its Data. The port 0, the host id 0
// and the interface index 0 are passed on for the kernel to judge.
func (sa *sockaddr) setNetAddr(addr net.Addr, family uint16) error {
	if u, ok := addr.(*net.UDPAddr); ok && u != nil {
		// The common case, straight to the sockaddr.
		ap, err := udpAddrPort(u)
		if err == nil {
			err = sa.setAddrPort(ap)
		}
		if ae, ok := err.(*net.AddrError); ok {
			ae.Addr = u.String()
		}
		return err
	}
	if r, ok := addr.(*RawAddr); ok && r != nil {
		// Not through Addr, which would copy Data.
		if 2+len(r.Data) > sizeofSockaddrStorage {
			return &net.AddrError{Err: "socket address too long", Addr: r.String()}
		}
		binary.NativeEndian.PutUint16(sa.b[:], r.Family)
		sa.n = 2 + copy(sa.b[2:], r.Data)
		return nil
	}
	a, err := AddrFromNetAddr(addr)
	if err == nil {
		err = sa.setAddr(a, family)
	}
	if ae, ok := err.(*net.AddrError); ok {
		ae.Addr = addr.String() // as the caller wrote it
	}
	return err
}

// setAddr encodes a, as setNetAddr does.
func (sa *sockaddr) setAddr(a Addr, family uint16) error {
	switch a.kind {
	case kindIP:
		return sa.setAddrPort(a.ip)
	case kindHost:
		sa.b = [sizeofSockaddrStorage]byte{}
		binary.NativeEndian.PutUint16(sa.b[uapi.SmhFamily:], family)
		binary.BigEndian.PutUint16(sa.b[uapi.SmhPort:], a.port)
		binary.NativeEndian.PutUint32(sa.b[uapi.SmhHID:], a.id)
		sa.n = uapi.SizeofSockaddrMhost
		return nil
	case kindEth:
		sa.b = [sizeofSockaddrStorage]byte{}
		binary.NativeEndian.PutUint16(sa.b[uapi.SmeFamily:], a.family)
		binary.BigEndian.PutUint16(sa.b[uapi.SmePort:], a.port)
		binary.NativeEndian.PutUint32(sa.b[uapi.SmeIfindex:], a.id)
		copy(sa.b[uapi.SmeAddr:uapi.SmeZero], a.mac[:])
		sa.n = uapi.SizeofSockaddrMhostEth
		return nil
	case kindRaw:
		if 2+len(a.raw) > sizeofSockaddrStorage {
			return &net.AddrError{Err: "socket address too long", Addr: a.String()}
		}
		binary.NativeEndian.PutUint16(sa.b[:], a.family)
		sa.n = 2 + copy(sa.b[2:], a.raw)
		return nil
	}
	return errMissingAddress
}

// setAddrPort encodes an IP destination: a sockaddr_in for an IPv4 or
// IPv4-mapped address, a sockaddr_in6 otherwise.
func (sa *sockaddr) setAddrPort(ap netip.AddrPort) error {
	ip := ap.Addr()
	switch {
	case !ip.IsValid():
		return errMissingAddress
	case ip.Is4() || ip.Is4In6():
		b := (*[sizeofSockaddrInet4]byte)(sa.b[:])
		*b = [sizeofSockaddrInet4]byte{}
		binary.NativeEndian.PutUint16(b[0:], unix.AF_INET)
		binary.BigEndian.PutUint16(b[2:], ap.Port())
		a4 := ip.Unmap().As4()
		copy(b[4:8], a4[:])
		sa.n = sizeofSockaddrInet4
		return nil
	}
	scope, err := zoneToScope(ip.Zone())
	if err != nil {
		return &net.AddrError{Err: err.Error(), Addr: ap.String()}
	}
	b := (*[sizeofSockaddrInet6]byte)(sa.b[:])
	binary.NativeEndian.PutUint16(b[0:], unix.AF_INET6)
	binary.BigEndian.PutUint16(b[2:], ap.Port())
	binary.BigEndian.PutUint32(b[4:], 0) // sin6_flowinfo
	a16 := ip.As16()
	copy(b[8:24], a16[:])
	binary.NativeEndian.PutUint32(b[24:], scope)
	sa.n = sizeofSockaddrInet6
	return nil
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

// decodeAddr decodes the socket address the kernel wrote into b, b being
// as long as the address length it reported. family is the AF_MHOST
// family number. An empty b decodes to the zero Addr: the kernel gave no
// address. FamilyTestProto and FamilyOtherProto decode to their Addr form,
// other families without a form of their own to a raw Addr; the known
// ones fail when b is shorter than their fields. Padding (sin_zero,
// smh_zero, sme_zero) and the IPv6 flow label are ignored.
//
// Only raw addresses allocate, and IPv6 scopes seen for the first time.
func decodeAddr(b []byte, family uint16) (Addr, error) {
	if len(b) == 0 {
		return Addr{}, nil
	}
	if len(b) < 2 {
		return Addr{}, &sockaddrError{len: len(b)}
	}
	f := binary.NativeEndian.Uint16(b)
	switch {
	case f == unix.AF_INET:
		if len(b) < sizeofSockaddrInet4 {
			return Addr{}, &sockaddrError{family: f, len: len(b)}
		}
		ip := netip.AddrFrom4([4]byte(b[4:8]))
		return Addr{ip: netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[2:])), kind: kindIP}, nil
	case f == unix.AF_INET6:
		if len(b) < sizeofSockaddrInet6NoScope {
			return Addr{}, &sockaddrError{family: f, len: len(b)}
		}
		ip := netip.AddrFrom16([16]byte(b[8:24]))
		if len(b) >= sizeofSockaddrInet6 {
			if zone := scopeToZone(binary.NativeEndian.Uint32(b[24:])); zone != "" {
				ip = ip.WithZone(zone)
			}
		}
		return Addr{ip: netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[2:])), kind: kindIP}, nil
	case f == family:
		if len(b) < uapi.SizeofSockaddrMhost {
			return Addr{}, &sockaddrError{family: f, len: len(b)}
		}
		return AddrFromHostID(binary.NativeEndian.Uint32(b[uapi.SmhHID:]),
			binary.BigEndian.Uint16(b[uapi.SmhPort:])), nil
	case f == FamilyTestProto || f == FamilyOtherProto:
		if len(b) < uapi.SizeofSockaddrMhostEth {
			return Addr{}, &sockaddrError{family: f, len: len(b)}
		}
		return AddrFromEth(f, binary.NativeEndian.Uint32(b[uapi.SmeIfindex:]),
			[6]byte(b[uapi.SmeAddr:uapi.SmeZero]), binary.BigEndian.Uint16(b[uapi.SmePort:])), nil
	}
	return AddrFromRaw(f, b[2:]), nil
}

// decodeAddrPort decodes b when it is a well-formed sockaddr_in or
// sockaddr_in6, the common case, with less work than decodeAddr.
func decodeAddrPort(b []byte) (netip.AddrPort, bool) {
	switch {
	case len(b) >= sizeofSockaddrInet4 && binary.NativeEndian.Uint16(b) == unix.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[2:])), true
	case len(b) >= sizeofSockaddrInet6 && binary.NativeEndian.Uint16(b) == unix.AF_INET6:
		ip := netip.AddrFrom16([16]byte(b[8:24]))
		if scope := binary.NativeEndian.Uint32(b[24:]); scope != 0 {
			ip = ip.WithZone(scopeToZone(scope))
		}
		return netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[2:])), true
	}
	return netip.AddrPort{}, false
}

// decodeNetAddr is decodeAddr for the net.Addr methods: the address comes
// back as a *net.UDPAddr (its IP 4 bytes long for IPv4), *HostAddr,
// *EthAddr or *RawAddr, in one allocation, or as nil for an empty b.
func decodeNetAddr(b []byte, family uint16) (net.Addr, error) {
	if ap, ok := decodeAddrPort(b); ok {
		return udpAddr(ap), nil
	}
	a, err := decodeAddr(b, family)
	if err != nil || !a.IsValid() {
		return nil, err
	}
	if a.kind == kindRaw {
		// Data straight from b, rather than copied twice.
		return &RawAddr{Family: a.family, Data: append([]byte(nil), b[2:]...)}, nil
	}
	return a.NetAddr(), nil
}

// zoneToScope returns the IPv6 scope id a zone names: a decimal index or
// an interface name, from the cache of interfaces.
func zoneToScope(zone string) (uint32, error) {
	if zone == "" {
		return 0, nil
	}
	if zone[0] >= '0' && zone[0] <= '9' { // not on names: ParseUint's error allocates
		if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
			return uint32(n), nil
		}
	}
	if index, ok := zones.index(zone); ok {
		return index, nil
	}
	return 0, errors.New("unknown zone")
}

// scopeToZone returns the zone for an IPv6 scope id: the name of the
// interface with that index, or the index in decimal when there is none.
func scopeToZone(scope uint32) string {
	if scope == 0 {
		return ""
	}
	if name, ok := zones.name(scope); ok {
		return name
	}
	return strconv.FormatUint(uint64(scope), 10)
}
