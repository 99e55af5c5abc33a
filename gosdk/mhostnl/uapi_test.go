package mhostnl

import (
	"strings"
	"testing"

	"github.com/mnet/mnet/gosdk/internal/uapi"
)

// uapiHeader is the C header this package mirrors.
const uapiHeader = "../../kmod/include/uapi/linux/mhost.h"

// mirrored maps each C constant this package mirrors to its Go value, an
// int or a string. Add a line with every constant the package gains.
var mirrored = map[string]any{
	"MHOST_GENL_NAME":         GenlName,
	"MHOST_GENL_VERSION":      GenlVersion,
	"MHOST_GENL_MCGRP_EVENTS": GroupEvents,
	"MHOST_MAX_LOCATORS":      MaxLocators,
	"SOL_MHOST":               SolMhost,
	"MHOST_RECVHOSTID":        RecvHostID,
	"MHOST_REUSEPORT":         ReusePort,

	"MHOST_CMD_PROTO_GET":  CmdProtoGet,
	"MHOST_CMD_HOST_NEW":   CmdHostNew,
	"MHOST_CMD_HOST_DEL":   CmdHostDel,
	"MHOST_CMD_HOST_GET":   CmdHostGet,
	"MHOST_CMD_HOST_FLUSH": CmdHostFlush,
	"MHOST_CMD_SOCK_GET":   CmdSockGet,
	"MHOST_CMD_STATS_GET":  CmdStatsGet,
	"MHOST_CMD_DEV_GET":    CmdDevGet,
	"MHOST_CMD_DEV_SET":    CmdDevSet,
	"MHOST_CMD_DEV_DEL":    CmdDevDel,

	"MHOST_A_PAD":           AttrPad,
	"MHOST_A_HOST_ID":       AttrHostID,
	"MHOST_A_HOST_LOCATORS": AttrHostLocators,
	"MHOST_A_PROTO":         AttrProto,
	"MHOST_A_SOCK":          AttrSock,
	"MHOST_A_STATS":         AttrStats,
	"MHOST_A_HOST_FLAGS":    AttrHostFlags,
	"MHOST_A_DEV":           AttrDev,
	"MHOST_HOST_F_CREATE":   HostFlagCreate,
	"MHOST_HOST_F_REPLACE":  HostFlagReplace,
	"MHOST_HOST_F_APPEND":   HostFlagAppend,
	"MHOST_A_LOCATOR":       AttrLocator,

	"MHOST_LOC_A_PAD":        LocAttrPad,
	"MHOST_LOC_A_FAMILY":     LocAttrFamily,
	"MHOST_LOC_A_ADDR":       LocAttrAddr,
	"MHOST_LOC_A_PORT":       LocAttrPort,
	"MHOST_LOC_A_IFINDEX":    LocAttrIfindex,
	"MHOST_LOC_A_TX_PACKETS": LocAttrTxPackets,
	"MHOST_LOC_A_TX_ERRORS":  LocAttrTxErrors,

	"MHOST_PROTO_A_PAD":        ProtoAttrPad,
	"MHOST_PROTO_A_FAMILY":     ProtoAttrFamily,
	"MHOST_PROTO_A_NAME":       ProtoAttrName,
	"MHOST_PROTO_A_MODULE":     ProtoAttrModule,
	"MHOST_PROTO_A_ADDR_LEN":   ProtoAttrAddrLen,
	"MHOST_PROTO_A_TX_PACKETS": ProtoAttrTxPackets,
	"MHOST_PROTO_A_RX_PACKETS": ProtoAttrRxPackets,

	"MHOST_SOCK_A_PAD":          SockAttrPad,
	"MHOST_SOCK_A_PORT":         SockAttrPort,
	"MHOST_SOCK_A_UID":          SockAttrUID,
	"MHOST_SOCK_A_INODE":        SockAttrInode,
	"MHOST_SOCK_A_RMEM":         SockAttrRmem,
	"MHOST_SOCK_A_WMEM":         SockAttrWmem,
	"MHOST_SOCK_A_DROPS":        SockAttrDrops,
	"MHOST_SOCK_A_PEER_HOST_ID": SockAttrPeerHostID,

	"MHOST_STATS_A_PAD":              StatsAttrPad,
	"MHOST_STATS_A_HOSTS":            StatsAttrHosts,
	"MHOST_STATS_A_SOCKETS":          StatsAttrSockets,
	"MHOST_STATS_A_TX_HOSTID":        StatsAttrTxHostID,
	"MHOST_STATS_A_TX_FAILOVER":      StatsAttrTxFailover,
	"MHOST_STATS_A_TX_UNREACH":       StatsAttrTxUnreach,
	"MHOST_STATS_A_RX_L3_UNKNOWN":    StatsAttrRxL3Unknown,
	"MHOST_STATS_A_HOSTS_ALLOCATED":  StatsAttrHostsAllocated,
	"MHOST_STATS_A_TX_L3":            StatsAttrTxL3,
	"MHOST_STATS_A_RX_L3":            StatsAttrRxL3,
	"MHOST_STATS_A_RX_L3_SHORT":      StatsAttrRxL3Short,
	"MHOST_STATS_A_RX_L3_BAD_HEADER": StatsAttrRxL3BadHeader,
	"MHOST_STATS_A_RX_L3_BAD_LEN":    StatsAttrRxL3BadLen,
	"MHOST_STATS_A_RX_L3_TRUNCATED":  StatsAttrRxL3Truncated,
	"MHOST_STATS_A_RX_L3_NO_SOCKET":  StatsAttrRxL3NoSocket,

	"MHOST_STATS_A_RX_L3_BAD_CSUM":     StatsAttrRxL3BadCsum,
	"MHOST_STATS_A_RX_L3_DEV_DISABLED": StatsAttrRxL3DevDisabled,

	"MHOST_DEV_A_PAD":     DevAttrPad,
	"MHOST_DEV_A_IFINDEX": DevAttrIfindex,
	"MHOST_DEV_A_NAME":    DevAttrName,
	"MHOST_DEV_A_L3":      DevAttrL3,
}

// controlPrefixes are the prefixes of the header's control-plane
// constants. Every one of them must be mirrored, so that a command or an
// attribute added to the header without a Go counterpart fails the test.
var controlPrefixes = []string{
	"MHOST_GENL_", "MHOST_CMD_", "MHOST_A_", "MHOST_LOC_A_",
	"MHOST_PROTO_A_", "MHOST_SOCK_A_", "MHOST_STATS_A_", "MHOST_HOST_F_",
	"MHOST_DEV_A_",
}

func TestUAPIConstants(t *testing.T) {
	h, err := uapi.ParseFile(uapiHeader)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range mirrored {
		switch want := want.(type) {
		case int:
			got, err := h.Int(name)
			if err != nil {
				t.Error(err)
			} else if got != int64(want) {
				t.Errorf("%s is %d in the header, %d in Go", name, got, want)
			}
		case string:
			got, err := h.Text(name)
			if err != nil {
				t.Error(err)
			} else if got != want {
				t.Errorf("%s is %q in the header, %q in Go", name, got, want)
			}
		default:
			t.Errorf("%s: mirrored as a %T, want an int or a string", name, want)
		}
	}

	for _, name := range h.Names() {
		if _, ok := mirrored[name]; ok || !isControl(name) {
			continue
		}
		t.Errorf("%s is in the header but not mirrored in Go: add it to uapi.go and to this test", name)
	}
}

// isControl reports whether name is a control-plane constant that must be
// mirrored: not the UNSPEC placeholders nor the MAX bookkeeping.
func isControl(name string) bool {
	if strings.HasPrefix(name, "__") || strings.HasSuffix(name, "_UNSPEC") || strings.HasSuffix(name, "_MAX") {
		return false
	}
	for _, p := range controlPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
