package mhostnl

import (
	"errors"
	"fmt"
	"math"
	"net/netip"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
)

// Wire format, as the kernel module must read and write it:
//
//   - Integers are in host byte order (NLA_U16, NLA_U32, NLA_U64),
//     ports included: LocAttrPort and SockAttrPort are plain u16 in host
//     order, not network order. Only the kernel's struct sockaddr_mhost
//     carries the port in network order.
//   - u64 counters may be preceded by a Pad attribute of their nest, as
//     nla_put_u64_64bit writes them; decoders skip it.
//   - Every nest (AttrHostLocators, each AttrLocator in it, AttrProto,
//     AttrSock, AttrStats) is sent with NLA_F_NESTED set, as the kernel's
//     strict validation demands.
//   - A CmdHostNew request is AttrHostID, AttrHostFlags (HostFlag*: what
//     to do when the host exists or not; nlmsg_flags carry none of
//     NLM_F_CREATE/EXCL/REPLACE/APPEND), then AttrHostLocators, a nest
//     holding one AttrLocator nest per locator, in order. Requests never
//     carry the read-only counters. Replies and events carry AttrHostID
//     and AttrHostLocators (HOST_DEL events only the id).
//   - Replies may carry attributes this package does not know: they are
//     skipped, so the kernel can add some. Known attributes of the wrong
//     length, and IP addresses of the wrong length for their family, are
//     errors wrapping ErrMalformed.

// check reports the locator fields the wire format cannot carry.
func (l *Locator) check() error {
	if l.Addr.IsValid() && len(l.Raw) > 0 {
		return errors.New("both Addr and Raw are set")
	}
	if l.Ifindex < 0 || l.Ifindex > math.MaxUint32 {
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

// encodeLocators adds an AttrHostLocators nest holding locs to ae.
func encodeLocators(ae *netlink.AttributeEncoder, locs []Locator) {
	ae.Nested(AttrHostLocators, func(nae *netlink.AttributeEncoder) error {
		for i := range locs {
			l := &locs[i]
			nae.Nested(AttrLocator, func(lae *netlink.AttributeEncoder) error {
				lae.Uint16(LocAttrFamily, uint16(l.family()))
				if b := l.addrBytes(); len(b) > 0 {
					lae.Bytes(LocAttrAddr, b)
				}
				if l.Port != 0 {
					lae.Uint16(LocAttrPort, l.Port)
				}
				if l.Ifindex != 0 {
					lae.Uint32(LocAttrIfindex, uint32(l.Ifindex))
				}
				return nil
			})
		}
		return nil
	})
}

// encodeHost returns the attributes of a CmdHostNew request for h with
// the HostFlag* flags. A host without locators is sent with an empty
// locator list, for the kernel to judge.
func encodeHost(h *Host, flags uint32) ([]byte, error) {
	if err := checkHost(h); err != nil {
		return nil, err
	}
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(AttrHostID, h.ID)
	ae.Uint32(AttrHostFlags, flags)
	encodeLocators(ae, h.Locators)
	return ae.Encode()
}

func encodeID(id uint32) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(AttrHostID, id)
	return ae.Encode()
}

// malformed wraps a decoding error in ErrMalformed.
func malformed(err error) error {
	if err == nil || errors.Is(err, ErrMalformed) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

// decodeHost decodes the attributes of a host message (CmdHostGet replies
// and CmdHostNew/CmdHostDel events). needLocators says whether the
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
		case AttrHostID:
			h.ID = ad.Uint32()
			haveID = true
		case AttrHostLocators:
			haveLoc = true
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					if nad.Type() != AttrLocator {
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
		case LocAttrFamily:
			l.Family = Family(ad.Uint16())
			haveFamily = true
		case LocAttrAddr:
			addr = ad.Bytes()
		case LocAttrPort:
			l.Port = ad.Uint16()
		case LocAttrIfindex:
			l.Ifindex = int(ad.Uint32())
		case LocAttrTxPackets:
			l.TxPackets = ad.Uint64()
		case LocAttrTxErrors:
			l.TxErrors = ad.Uint64()
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
		err := decodeNests(m.Data, AttrProto, func(ad *netlink.AttributeDecoder) error {
			var (
				p          Protocol
				haveFamily bool
			)
			for ad.Next() {
				switch ad.Type() {
				case ProtoAttrFamily:
					p.Family = Family(ad.Uint16())
					haveFamily = true
				case ProtoAttrName:
					p.Name = ad.String()
				case ProtoAttrModule:
					p.Module = ad.String()
				case ProtoAttrAddrLen:
					p.AddrLen = int(ad.Uint32())
				case ProtoAttrTxPackets:
					p.TxPackets = ad.Uint64()
				case ProtoAttrRxPackets:
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
		err := decodeNests(m.Data, AttrSock, func(ad *netlink.AttributeDecoder) error {
			var s Socket
			for ad.Next() {
				switch ad.Type() {
				case SockAttrPort:
					s.Port = ad.Uint16()
				case SockAttrUID:
					s.UID = ad.Uint32()
				case SockAttrInode:
					s.Inode = ad.Uint64()
				case SockAttrRmem:
					s.RxQueue = ad.Uint32()
				case SockAttrWmem:
					s.TxQueue = ad.Uint32()
				case SockAttrDrops:
					s.Drops = ad.Uint32()
				case SockAttrPeerHostID:
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

func decodeStats(msgs []genetlink.Message) (*Stats, error) {
	var (
		s     Stats
		found bool
	)
	for _, m := range msgs {
		err := decodeNests(m.Data, AttrStats, func(ad *netlink.AttributeDecoder) error {
			found = true
			for ad.Next() {
				switch ad.Type() {
				case StatsAttrHosts:
					s.Hosts = ad.Uint32()
				case StatsAttrSockets:
					s.Sockets = ad.Uint32()
				case StatsAttrTxHostID:
					s.TxHostID = ad.Uint64()
				case StatsAttrTxFailover:
					s.TxFailover = ad.Uint64()
				case StatsAttrTxUnreach:
					s.TxUnreach = ad.Uint64()
				case StatsAttrRxL3Unknown:
					s.RxL3Unknown = ad.Uint64()
				case StatsAttrHostsAllocated:
					s.HostsAllocated = ad.Uint64()
				case StatsAttrTxL3:
					s.TxL3 = ad.Uint64()
				case StatsAttrRxL3:
					s.RxL3 = ad.Uint64()
				case StatsAttrRxL3Short:
					s.RxL3Short = ad.Uint64()
				case StatsAttrRxL3BadHeader:
					s.RxL3BadHeader = ad.Uint64()
				case StatsAttrRxL3BadLen:
					s.RxL3BadLen = ad.Uint64()
				case StatsAttrRxL3Truncated:
					s.RxL3Truncated = ad.Uint64()
				case StatsAttrRxL3NoSocket:
					s.RxL3NoSocket = ad.Uint64()
				case StatsAttrRxL3BadCsum:
					s.RxL3BadCsum = ad.Uint64()
				case StatsAttrRxL3DevDisabled:
					s.RxL3DevDisabled = ad.Uint64()
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
	case CmdHostNew:
		ev.Type = EventHostNew
		ev.Host, err = decodeHost(m.Data, true)
	case CmdHostDel:
		ev.Type = EventHostDel
		ev.Host, err = decodeHost(m.Data, false)
		ev.Host.Locators = nil
	case CmdHostFlush:
		ev.Type = EventHostFlush
	default:
		return Event{}, false, nil
	}
	if err != nil {
		return Event{}, false, err
	}
	return ev, true, nil
}
