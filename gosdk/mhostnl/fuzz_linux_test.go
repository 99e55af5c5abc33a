package mhostnl

import (
	"testing"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"

	"github.com/mnet/mnet/gosdk/internal/uapi"
)

// FuzzDecode runs every decoder on arbitrary attributes: they may fail,
// never panic.
func FuzzDecode(f *testing.F) {
	f.Add(nltest.MustMarshalAttributes(nil))
	f.Add(nltest.MustMarshalAttributes(append([]netlink.Attribute{u32(uapi.AHostID, 7)},
		nest(uapi.AHostLocators, loc(10, ip6.AsSlice(), u16(uapi.LocAPort, 1)), loc(2, ip4.AsSlice())))))
	f.Add(nltest.MustMarshalAttributes([]netlink.Attribute{nest(uapi.AStats, u32(uapi.StatsAHosts, 1))}))
	f.Add(nltest.MustMarshalAttributes([]netlink.Attribute{nest(uapi.AProto, u16(uapi.ProtoAFamily, 2), str(uapi.ProtoAName, "inet"))}))
	f.Add([]byte{8, 0, 3, 0x80, 4, 0, 1, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeHost(b, true)
		decodeHost(b, false)
		msgs := []genetlink.Message{{Data: b}}
		decodeProtocols(msgs)
		decodeSockets(msgs)
		decodeStats(msgs)
		for _, cmd := range []uint8{uapi.CmdHostNew, uapi.CmdHostDel, uapi.CmdHostFlush} {
			decodeEvent(genetlink.Message{Header: genetlink.Header{Command: cmd}, Data: b})
		}
	})
}
