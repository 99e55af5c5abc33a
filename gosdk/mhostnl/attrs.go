package mhostnl

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"

	"github.com/mnet/mnet/gosdk/internal/uapi"
)

// Wire format, as the kernel module must read and write it:
//
//   - Integers are in host byte order (NLA_U16, NLA_U32, NLA_U64),
//     ports included: uapi.LocAPort and uapi.SockAPort are plain u16 in host
//     order, not network order. Only the kernel's struct sockaddr_mhost
//     carries the port in network order.
//   - u64 counters may be preceded by a Pad attribute of their nest, as
//     nla_put_u64_64bit writes them; decoders skip it.
//   - Every nest (uapi.AHostLocators, each uapi.ALocator in it, uapi.AProto,
//     uapi.ASock, uapi.AStats) is sent with NLA_F_NESTED set, as the kernel's
//     strict validation demands.
//   - A uapi.CmdHostNew request is uapi.AHostID, uapi.AHostFlags (HostFlag*: what
//     to do when the host exists or not; nlmsg_flags carry none of
//     NLM_F_CREATE/EXCL/REPLACE/APPEND), then uapi.AHostLocators, a nest
//     holding one uapi.ALocator nest per locator, in order. Requests never
//     carry the read-only counters. Replies and events carry uapi.AHostID
//     and uapi.AHostLocators (HOST_DEL events only the id).
//   - Replies may carry attributes this package does not know: they are
//     skipped, so the kernel can add some. Known attributes of the wrong
//     length, and IP addresses of the wrong length for their family, are
//     errors wrapping ErrMalformed.

// check reports the locator fields the wire format cannot carry.
func (l *Locator) check() error {
	if l.Addr.IsValid() && len(l.Raw) > 0 {
		return errors.New("both Addr and Raw are set")
	}
	if l.Ifindex < 0 || uint64(l.Ifindex) > math.MaxUint32 {
		return fmt.Errorf("ifindex %d out of range", l.Ifindex)
	}
	return nil
}

func checkHost(h *Host) error {
	for i := range h.Locators {
		if err := h.Locators[i].check(); err != nil {
			return fmt.Errorf("locator %d (%s): %w", i+1, h.Locators[i], err)
		}
	}
	return nil
}

// encodeLocators adds an uapi.AHostLocators nest holding locs to ae.
func encodeLocators(ae *netlink.AttributeEncoder, locs []Locator) {
	ae.Nested(uapi.AHostLocators, func(nae *netlink.AttributeEncoder) error {
		for i := range locs {
			l := &locs[i]
			nae.Nested(uapi.ALocator, func(lae *netlink.AttributeEncoder) error {
				lae.Uint16(uapi.LocAFamily, uint16(l.family()))
				if b := l.addrBytes(); len(b) > 0 {
					lae.Bytes(uapi.LocAAddr, b)
				}
				if l.Port != 0 {
					lae.Uint16(uapi.LocAPort, l.Port)
				}
				if l.Ifindex != 0 {
					lae.Uint32(uapi.LocAIfindex, uint32(l.Ifindex))
				}
				return nil
			})
		}
		return nil
	})
}

// encodeHost returns the attributes of a uapi.CmdHostNew request for h with
// the HostFlag* flags. A host without locators is sent with an empty
// locator list, for the kernel to judge.
func encodeHost(h *Host, flags uint32) ([]byte, error) {
	if err := checkHost(h); err != nil {
		return nil, err
	}
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(uapi.AHostID, h.ID)
	ae.Uint32(uapi.AHostFlags, flags)
	encodeLocators(ae, h.Locators)
	if h.Live != nil {
		var err error
		ae.Nested(uapi.AHostLive, func(nae *netlink.AttributeEncoder) error {
			err = h.Live.encode(nae)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return ae.Encode()
}

func encodeID(id uint32) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(uapi.AHostID, id)
	return ae.Encode()
}

// malformed wraps a decoding error in ErrMalformed.
func malformed(err error) error {
	if err == nil || errors.Is(err, ErrMalformed) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

// decodeHost decodes the attributes of a host message (uapi.CmdHostGet replies
// and uapi.CmdHostNew/uapi.CmdHostDel events). needLocators says whether the
// message must carry the locator list.
func decodeHost(b []byte, needLocators bool) (Host, error) {
	var (
		h               Host
		haveID, haveLoc bool
	)
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return Host{}, malformed(err)
	}
	for ad.Next() {
		switch ad.Type() {
		case uapi.AHostID:
			h.ID = ad.Uint32()
			haveID = true
		case uapi.AHostLocators:
			haveLoc = true
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					if nad.Type() != uapi.ALocator {
						continue
					}
					nad.Nested(func(lad *netlink.AttributeDecoder) error {
						l, err := decodeLocator(lad)
						if err != nil {
							return fmt.Errorf("locator %d: %w", len(h.Locators)+1, err)
						}
						h.Locators = append(h.Locators, l)
						return nil
					})
				}
				return nil
			})
		case uapi.AHostLive:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				k := decodeLive(nad).LiveKnobs
				h.Live = &k
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		return Host{}, malformed(err)
	}
	switch {
	case !haveID:
		return Host{}, malformed(errors.New("host without a host id"))
	case needLocators && !haveLoc:
		return Host{}, malformed(fmt.Errorf("host %d without locators", h.ID))
	}
	return h, nil
}

func decodeLocator(ad *netlink.AttributeDecoder) (Locator, error) {
	var (
		l          Locator
		addr       []byte
		haveFamily bool
	)
	for ad.Next() {
		switch ad.Type() {
		case uapi.LocAFamily:
			l.Family = Family(ad.Uint16())
			haveFamily = true
		case uapi.LocAAddr:
			addr = ad.Bytes()
		case uapi.LocAPort:
			l.Port = ad.Uint16()
		case uapi.LocAIfindex:
			l.Ifindex = int(ad.Uint32())
		case uapi.LocATxPackets:
			l.TxPackets = ad.Uint64()
		case uapi.LocATxErrors:
			l.TxErrors = ad.Uint64()
		case uapi.LocAState:
			l.State = LocatorState(ad.Uint8())
		case uapi.LocACause:
			l.Cause = LocatorCause(ad.Uint8())
		case uapi.LocALastHeardMs:
			l.LastHeard = msAgo(ad.Uint32())
		case uapi.LocAChangedMs:
			l.Changed = msAgo(ad.Uint32())
		case uapi.LocARttUs:
			l.RTT = time.Duration(ad.Uint32()) * time.Microsecond
		case uapi.LocARttvarUs:
			l.RTTVar = time.Duration(ad.Uint32()) * time.Microsecond
		case uapi.LocAFlaps:
			l.Flaps = ad.Uint32()
		case uapi.LocAHoldMs:
			l.HoldDown = time.Duration(ad.Uint32()) * time.Millisecond
		}
	}
	if err := ad.Err(); err != nil {
		return Locator{}, err
	}
	if !haveFamily {
		return Locator{}, errors.New("no family")
	}
	switch l.Family {
	case FamilyInet, FamilyInet6:
		a, ok := netip.AddrFromSlice(addr)
		if !ok || (l.Family == FamilyInet) != a.Is4() {
			return Locator{}, fmt.Errorf("%s address of %d bytes", l.Family, len(addr))
		}
		l.Addr = a
	default:
		l.Raw = addr
	}
	return l, nil
}

// decodeNests calls fn with a decoder for each attribute of type typ in
// b, the attributes of a message.
func decodeNests(b []byte, typ uint16, fn func(ad *netlink.AttributeDecoder) error) error {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return malformed(err)
	}
	for ad.Next() {
		if ad.Type() == typ {
			ad.Nested(fn)
		}
	}
	return malformed(ad.Err())
}

func decodeProtocols(msgs []genetlink.Message) ([]Protocol, error) {
	var ps []Protocol
	for _, m := range msgs {
		err := decodeNests(m.Data, uapi.AProto, func(ad *netlink.AttributeDecoder) error {
			var (
				p          Protocol
				haveFamily bool
			)
			for ad.Next() {
				switch ad.Type() {
				case uapi.ProtoAFamily:
					p.Family = Family(ad.Uint16())
					haveFamily = true
				case uapi.ProtoAName:
					p.Name = ad.String()
				case uapi.ProtoAModule:
					p.Module = ad.String()
				case uapi.ProtoAAddrLen:
					p.AddrLen = int(ad.Uint32())
				case uapi.ProtoATxPackets:
					p.TxPackets = ad.Uint64()
				case uapi.ProtoARxPackets:
					p.RxPackets = ad.Uint64()
				}
			}
			if ad.Err() == nil && !haveFamily {
				return errors.New("protocol without a family")
			}
			ps = append(ps, p)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return ps, nil
}

func decodeSockets(msgs []genetlink.Message) ([]Socket, error) {
	var ss []Socket
	for _, m := range msgs {
		err := decodeNests(m.Data, uapi.ASock, func(ad *netlink.AttributeDecoder) error {
			var s Socket
			for ad.Next() {
				switch ad.Type() {
				case uapi.SockAPort:
					s.Port = ad.Uint16()
				case uapi.SockAUID:
					s.UID = ad.Uint32()
				case uapi.SockAInode:
					s.Inode = ad.Uint64()
				case uapi.SockARmem:
					s.RxQueue = ad.Uint32()
				case uapi.SockAWmem:
					s.TxQueue = ad.Uint32()
				case uapi.SockADrops:
					s.Drops = ad.Uint32()
				case uapi.SockAPeerHostID:
					s.PeerHostID = ad.Uint32()
				}
			}
			ss = append(ss, s)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return ss, nil
}

// encodeDevice returns the attributes of a device request: the uapi.ADev
// nest with the index and, when l3 is not nil, the L3 setting.
func encodeDevice(ifindex int, l3 *bool) ([]byte, error) {
	if ifindex <= 0 || uint64(ifindex) > math.MaxUint32 {
		return nil, fmt.Errorf("ifindex %d out of range", ifindex)
	}
	ae := netlink.NewAttributeEncoder()
	ae.Nested(uapi.ADev, func(nae *netlink.AttributeEncoder) error {
		nae.Uint32(uapi.DevAIfindex, uint32(ifindex))
		if l3 != nil {
			var v uint8
			if *l3 {
				v = 1
			}
			nae.Uint8(uapi.DevAL3, v)
		}
		return nil
	})
	return ae.Encode()
}

// decodeDevice decodes the attributes of a device message (uapi.CmdDevGet
// replies, uapi.CmdDevSet and uapi.CmdDevDel events): one uapi.ADev nest.
func decodeDevice(b []byte) (Device, error) {
	var (
		d     Device
		found bool
	)
	err := decodeNests(b, uapi.ADev, func(ad *netlink.AttributeDecoder) error {
		if found {
			return errors.New("two devices in one message")
		}
		found = true
		for ad.Next() {
			switch ad.Type() {
			case uapi.DevAIfindex:
				d.Index = int(ad.Uint32())
			case uapi.DevAName:
				d.Name = ad.String()
			case uapi.DevAL3:
				d.L3 = ad.Uint8() != 0
			}
		}
		if ad.Err() == nil && d.Index == 0 {
			return errors.New("device without an ifindex")
		}
		return nil
	})
	if err == nil && !found {
		err = malformed(errors.New("no device in the message"))
	}
	return d, err
}

func decodeStats(msgs []genetlink.Message) (*Stats, error) {
	var (
		s     Stats
		found bool
	)
	for _, m := range msgs {
		err := decodeNests(m.Data, uapi.AStats, func(ad *netlink.AttributeDecoder) error {
			found = true
			for ad.Next() {
				switch ad.Type() {
				case uapi.StatsAHosts:
					s.Hosts = ad.Uint32()
				case uapi.StatsASockets:
					s.Sockets = ad.Uint32()
				case uapi.StatsATxHostID:
					s.TxHostID = ad.Uint64()
				case uapi.StatsATxFailover:
					s.TxFailover = ad.Uint64()
				case uapi.StatsATxUnreach:
					s.TxUnreach = ad.Uint64()
				case uapi.StatsARxL3Unknown:
					s.RxL3Unknown = ad.Uint64()
				case uapi.StatsAHostsAllocated:
					s.HostsAllocated = ad.Uint64()
				case uapi.StatsATxL3:
					s.TxL3 = ad.Uint64()
				case uapi.StatsARxL3:
					s.RxL3 = ad.Uint64()
				case uapi.StatsARxL3Short:
					s.RxL3Short = ad.Uint64()
				case uapi.StatsARxL3BadHeader:
					s.RxL3BadHeader = ad.Uint64()
				case uapi.StatsARxL3BadLen:
					s.RxL3BadLen = ad.Uint64()
				case uapi.StatsARxL3Truncated:
					s.RxL3Truncated = ad.Uint64()
				case uapi.StatsARxL3NoSocket:
					s.RxL3NoSocket = ad.Uint64()
				case uapi.StatsARxL3BadCsum:
					s.RxL3BadCsum = ad.Uint64()
				case uapi.StatsARxL3DevDisabled:
					s.RxL3DevDisabled = ad.Uint64()
				case uapi.StatsALiveHosts:
					s.LiveHosts = ad.Uint32()
				case uapi.StatsAProbesSent:
					s.ProbesSent = ad.Uint64()
				case uapi.StatsAProbesAnswered:
					s.ProbesAnswered = ad.Uint64()
				case uapi.StatsAProbesMissed:
					s.ProbesMissed = ad.Uint64()
				case uapi.StatsALocChanges:
					s.LocatorChanges = ad.Uint64()
				case uapi.StatsALocSignals:
					s.LocatorSignals = ad.Uint64()
				case uapi.StatsALocSignalsIgnored:
					s.LocatorSignalsIgnored = ad.Uint64()
				case uapi.StatsAProbeReplies:
					s.ProbeReplies = ad.Uint64()
				case uapi.StatsAProbeRepliesLimited:
					s.ProbeRepliesLimited = ad.Uint64()
				case uapi.StatsAProbesBad:
					s.ProbesBad = ad.Uint64()
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, malformed(errors.New("reply without statistics"))
	}
	return &s, nil
}

// decodeEvent decodes a message of the events group. ok is false for
// commands this package does not know, which a newer kernel may send.
func decodeEvent(m genetlink.Message) (ev Event, ok bool, err error) {
	switch m.Header.Command {
	case uapi.CmdHostNew:
		ev.Type = EventHostNew
		ev.Host, err = decodeHost(m.Data, true)
	case uapi.CmdHostDel:
		ev.Type = EventHostDel
		ev.Host, err = decodeHost(m.Data, false)
		ev.Host.Locators = nil
	case uapi.CmdHostFlush:
		ev.Type = EventHostFlush
	case uapi.CmdDevSet:
		ev.Type = EventDevSet
		ev.Device, err = decodeDevice(m.Data)
	case uapi.CmdDevDel:
		ev.Type = EventDevDel
		ev.Device, err = decodeDevice(m.Data)
	case uapi.CmdLocState:
		ev.Type = EventLocatorState
		ev.Host, err = decodeHost(m.Data, true)
		if err == nil && len(ev.Host.Locators) != 1 {
			err = malformed(fmt.Errorf("state change of host %d with %d locators", ev.Host.ID, len(ev.Host.Locators)))
		}
		if err == nil {
			ev.PrevState, err = decodePrevState(m.Data)
		}
	default:
		return Event{}, false, nil
	}
	if err != nil {
		return Event{}, false, err
	}
	return ev, true, nil
}

// decodePrevState finds the state a locator left in a CmdLocState event.
func decodePrevState(b []byte) (LocatorState, error) {
	var (
		prev  LocatorState
		found bool
	)
	err := decodeNests(b, uapi.AHostLocators, func(ad *netlink.AttributeDecoder) error {
		for ad.Next() {
			if ad.Type() != uapi.ALocator {
				continue
			}
			ad.Nested(func(lad *netlink.AttributeDecoder) error {
				for lad.Next() {
					if lad.Type() == uapi.LocAPrevState {
						prev, found = LocatorState(lad.Uint8()), true
					}
				}
				return nil
			})
		}
		return nil
	})
	if err == nil && !found {
		err = malformed(errors.New("state change without the state before"))
	}
	return prev, err
}

// msAgo returns the moment ms milliseconds ago.
func msAgo(ms uint32) time.Time {
	return time.Now().Add(-time.Duration(ms) * time.Millisecond)
}
