package mhostnl

import (
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
)

// A Family is the address family of a network layer: FamilyInet,
// FamilyInet6, or the family number of a protocol plugged into mhost by
// another kernel module.
type Family uint16

// The network layers built into mhost, with their Linux family numbers.
const (
	FamilyInet  Family = 2  // AF_INET
	FamilyInet6 Family = 10 // AF_INET6
)

// String returns "inet", "inet6", or "family(N)" for other families, whose
// names only the kernel knows (see Client.Protocols).
func (f Family) String() string {
	switch f {
	case FamilyInet:
		return "inet"
	case FamilyInet6:
		return "inet6"
	}
	return "family(" + strconv.FormatUint(uint64(f), 10) + ")"
}

// A Host is an entry of the kernel's host table: a host identifier and the
// ordered locators it resolves to. A datagram sent to the host goes out on
// the first locator whose path works.
type Host struct {
	ID       uint32
	Locators []Locator
}

// A Locator is one address of a host in one network layer.
//
// For IPv4 and IPv6 locators, Addr holds the address; a Locator whose
// Family is 0 takes its family from Addr. For the locators of other
// network layers, Raw holds the address bytes, as long as the layer's
// addresses (Protocol.AddrLen). Setting both Addr and Raw is an error.
type Locator struct {
	Family Family
	Addr   netip.Addr // IPv4 or IPv6 address, without zone
	Raw    []byte     // address of another network layer

	// Port, when not 0, replaces the destination port an application
	// names when it sends over this locator.
	Port uint16

	// Ifindex, when not 0, is the index of the network device to send
	// on: the scope of an IPv6 link-local address, or the device of a
	// plugged-in network layer. IPv4 locators take none.
	Ifindex int

	// Counters the kernel keeps; they are ignored when adding a host.
	TxPackets uint64 // datagrams sent over this locator
	TxErrors  uint64 // sends that failed on it, making mhost try the next
}

// family returns the locator's family, taken from Addr when Family is 0.
func (l *Locator) family() Family {
	if l.Family != 0 || !l.Addr.IsValid() {
		return l.Family
	}
	if l.Addr.Unmap().Is4() {
		return FamilyInet
	}
	return FamilyInet6
}

// addrBytes returns the address as the kernel takes it: an IPv4 address
// as 4 bytes (an IPv4-mapped one is unmapped for an inet locator), an
// IPv6 address as 16, Raw as it is.
func (l *Locator) addrBytes() []byte {
	if !l.Addr.IsValid() {
		return l.Raw
	}
	a := l.Addr.WithZone("")
	if l.family() == FamilyInet {
		a = a.Unmap()
	}
	return a.AsSlice()
}

// AddrString returns the address in its usual text form: dotted decimal or
// RFC 5952 for IP locators, colon-separated hexadecimal bytes
// ("02:00:00:00:00:02") for other network layers, "-" when there is none.
func (l Locator) AddrString() string {
	if l.Addr.IsValid() {
		return l.Addr.String()
	}
	if len(l.Raw) == 0 {
		return "-"
	}
	var sb strings.Builder
	for i, b := range l.Raw {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(hex.EncodeToString([]byte{b}))
	}
	return sb.String()
}

// String returns the locator in the iproute2-like form mhostctl reads:
// "inet6 fd00::2", "inet 10.0.0.2 port 7000", "family(1) 02:00:00:00:00:02
// dev 3" (the device by index).
func (l Locator) String() string {
	s := l.family().String() + " " + l.AddrString()
	if l.Port != 0 {
		s += " port " + strconv.FormatUint(uint64(l.Port), 10)
	}
	if l.Ifindex != 0 {
		s += " dev " + strconv.Itoa(l.Ifindex)
	}
	return s
}

// A Protocol is a network layer mhost can send over: IPv4 and IPv6, built
// in, and those other kernel modules plug in.
type Protocol struct {
	Family    Family
	Name      string // "inet", "inet6", or the plugged protocol's name
	Module    string // owning kernel module, "kernel" if built in
	AddrLen   int    // length of its addresses in bytes
	TxPackets uint64
	RxPackets uint64
}

// A Socket is an open AF_MHOST socket of the namespace.
type Socket struct {
	Port       uint16 // bound port, 0 if not bound yet
	UID        uint32 // owner, in the caller's user namespace
	Inode      uint64 // socket inode number, as in /proc/PID/fd
	RxQueue    uint32 // bytes queued to read
	TxQueue    uint32 // bytes queued to send
	Drops      uint32 // datagrams dropped on receive
	PeerHostID uint32 // host id the socket is connected to, 0 if none
}

// Stats are the counters of mhost in a network namespace.
type Stats struct {
	Hosts          uint32 // hosts in this namespace's table
	Sockets        uint32 // AF_MHOST sockets in this namespace
	TxHostID       uint64 // datagrams sent to host ids
	TxFailover     uint64 // locators skipped because sending on them failed
	TxUnreach      uint64 // sends to host ids that no locator could carry
	RxL3Unknown    uint64 // frames of ethertype 0x8888 no network layer claimed
	HostsAllocated uint64 // host entries alive in all namespaces (leak checks)

	TxL3 uint64 // datagrams sent over plugged-in network layers
	RxL3 uint64 // datagrams received from plugged-in network layers
	// Frames of ethertype 0x8888 dropped, by reason:
	RxL3Short     uint64 // too short for a network-layer header
	RxL3BadHeader uint64 // the network layer rejected its header
	RxL3BadLen    uint64 // UDP length below 8
	RxL3Truncated uint64 // UDP length beyond the frame
	RxL3NoSocket  uint64 // no AF_MHOST socket on the port
	RxL3BadCsum   uint64 // UDP checksum wrong or missing
	// on a device not enabled for plugged-in network layers
	RxL3DevDisabled uint64
}

// An EventType says what changed in a host table.
type EventType uint8

// The events of the "events" multicast group.
const (
	EventHostNew   EventType = iota + 1 // a host was added or changed; Event.Host is its new state
	EventHostDel                        // a host was deleted; Event.Host.ID says which
	EventHostFlush                      // every host of the namespace was deleted
)

// String returns "new", "del" or "flush".
func (t EventType) String() string {
	switch t {
	case EventHostNew:
		return "new"
	case EventHostDel:
		return "del"
	case EventHostFlush:
		return "flush"
	}
	return "event(" + strconv.Itoa(int(t)) + ")"
}

// An Event is a change of the host table of the namespace a Watcher
// watches.
type Event struct {
	Type EventType
	Host Host // the host as it now is for EventHostNew, its ID for EventHostDel
}
