package mhostnl

import (
	"testing"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
)

// FuzzDecode runs every decoder on arbitrary attributes: they may fail,
// never panic.
func FuzzDecode(f *testing.F) {
	f.Add(nltest.MustMarshalAttributes(nil))
	f.Add(nltest.MustMarshalAttributes(append([]netlink.Attribute{u32(AttrHostID, 7)},
		nest(AttrHostLocators, loc(10, ip6.AsSlice(), u16(LocAttrPort, 1)), loc(2, ip4.AsSlice())))))
	f.Add(nltest.MustMarshalAttributes([]netlink.Attribute{nest(AttrStats, u32(StatsAttrHosts, 1))}))
	f.Add(nltest.MustMarshalAttributes([]netlink.Attribute{nest(AttrProto, u16(ProtoAttrFamily, 2), str(ProtoAttrName, "inet"))}))
	f.Add([]byte{8, 0, 3, 0x80, 4, 0, 1, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeHost(b, true)
		decodeHost(b, false)
		msgs := []genetlink.Message{{Data: b}}
		decodeProtocols(msgs)
		decodeSockets(msgs)
		decodeStats(msgs)
		for _, cmd := range []uint8{CmdHostNew, CmdHostDel, CmdHostFlush} {
			decodeEvent(genetlink.Message{Header: genetlink.Header{Command: cmd}, Data: b})
		}
	})
}
