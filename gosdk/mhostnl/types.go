package mhostnl

import (
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/mnet/mnet/gosdk/internal/uapi"
)

// MaxLocators is the most locators one host may have.
const MaxLocators = uapi.MaxLocators

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

	// Live, when not nil, are the host's own path liveness knobs; those
	// it does not set follow the namespace's (Client.Liveness). Adding
	// or replacing a host with Live set gives it exactly those knobs (an
	// empty LiveKnobs drops its own); with Live nil, a replaced host
	// keeps its knobs and a new one has none.
	Live *LiveKnobs
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

	// Path liveness, as the kernel reports it; ignored when adding a
	// host. The kernel counts in milliseconds how long ago things
	// happened; the times are the moments that makes, zero for never.
	State     LocatorState
	Cause     LocatorCause  // of the last change of state
	LastHeard time.Time     // when a datagram or a probe's answer came from it
	Changed   time.Time     // when it last changed state
	RTT       time.Duration // smoothed round trip of its probes; 0 before one was answered
	RTTVar    time.Duration // and its variation (RFC 6298)
	Flaps     uint32        // times it went from up to down
	HoldDown  time.Duration // left before traffic may return to it; 0 if none
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

	// Path liveness:
	LiveHosts             uint32 // hosts being watched (sent to recently)
	ProbesSent            uint64 // probe requests sent
	ProbesAnswered        uint64 // of those, answered
	ProbesMissed          uint64 // of those, not answered in time
	LocatorChanges        uint64 // changes of a locator's state
	LocatorSignals        uint64 // failures signalled: ICMP, neighbour, link
	LocatorSignalsIgnored uint64 // of those, refuted by an answered probe
	ProbeReplies          uint64 // requests of peers answered
	ProbeRepliesLimited   uint64 // requests of peers not answered: rate limit, or answering off
	ProbesBad             uint64 // probe messages dropped: malformed, unknown nonce, wrong source
}

// A Device is what mhost keeps of a network device of the namespace.
type Device struct {
	Index int    // interface index
	Name  string // interface name, as the namespace names it
	// L3 says whether the administrator enabled plugged-in network
	// layers on the device: only then are their frames (ethertype
	// 0x8888) read from it and sends over it allowed. Devices start
	// disabled.
	L3 bool
}

// An EventType says what changed in the namespace a Watcher watches.
type EventType uint8

// The events of the "events" multicast group.
const (
	EventHostNew   EventType = iota + 1 // a host was added or changed; Event.Host is its new state
	EventHostDel                        // a host was deleted; Event.Host.ID says which
	EventHostFlush                      // every host of the namespace was deleted
	EventDevSet                         // a device's settings changed; Event.Device is its new state
	EventDevDel                         // a device with settings left the namespace or was deleted; Event.Device is its last state
	// A locator of a host changed state: Event.Host has the host's ID
	// and that one locator, in its new state and with the cause;
	// Event.PrevState is the state it left.
	EventLocatorState
)

// String returns "new", "del", "flush", "dev_set", "dev_del" or "state".
func (t EventType) String() string {
	switch t {
	case EventHostNew:
		return "new"
	case EventHostDel:
		return "del"
	case EventHostFlush:
		return "flush"
	case EventDevSet:
		return "dev_set"
	case EventDevDel:
		return "dev_del"
	case EventLocatorState:
		return "state"
	}
	return "event(" + strconv.Itoa(int(t)) + ")"
}

// An Event is a change of the host table or of the device settings of the
// namespace a Watcher watches, or of the state of one of its locators.
type Event struct {
	Type EventType
	// The host as it now is for EventHostNew, its ID for EventHostDel,
	// its ID and the locator that changed for EventLocatorState.
	Host      Host
	Device    Device       // the device, for EventDevSet and EventDevDel
	PrevState LocatorState // EventLocatorState only
}
