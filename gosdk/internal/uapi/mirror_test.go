package uapi

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// header is the C header this package mirrors.
const header = "../../../kmod/include/uapi/linux/mhost.h"

// mirrored maps each constant of the header to its Go value, an int or a
// string. Every constant of the header must be here, but for the UNSPEC
// and MAX bookkeeping of its enums.
var mirrored = map[string]any{
	"AF_MHOST":          AFMhost,
	"PF_MHOST":          AFMhost,
	"ETH_P_MHOST":       EthPMhost,
	"MHOST_MAX_PAYLOAD": MaxPayload,
	"SOL_MHOST":         SolMhost,
	"MHOST_RECVHOSTID":  RecvHostID,
	"MHOST_REUSEPORT":   ReusePort,
	"AF_TESTPROTO":      AFTestProto,
	"AF_OTHERPROTO":     AFOtherProto,

	"MHOST_GENL_NAME":         GenlName,
	"MHOST_GENL_VERSION":      GenlVersion,
	"MHOST_GENL_MCGRP_EVENTS": McgrpEvents,
	"MHOST_MAX_LOCATORS":      MaxLocators,

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
	"MHOST_CMD_LIVE_GET":   CmdLiveGet,
	"MHOST_CMD_LIVE_SET":   CmdLiveSet,
	"MHOST_CMD_LOC_STATE":  CmdLocState,

	"MHOST_A_PAD":           APad,
	"MHOST_A_HOST_ID":       AHostID,
	"MHOST_A_HOST_LOCATORS": AHostLocators,
	"MHOST_A_PROTO":         AProto,
	"MHOST_A_SOCK":          ASock,
	"MHOST_A_STATS":         AStats,
	"MHOST_A_HOST_FLAGS":    AHostFlags,
	"MHOST_A_DEV":           ADev,
	"MHOST_A_HOST_LIVE":     AHostLive,
	"MHOST_A_LIVE":          ALive,
	"MHOST_HOST_F_CREATE":   HostFCreate,
	"MHOST_HOST_F_REPLACE":  HostFReplace,
	"MHOST_HOST_F_APPEND":   HostFAppend,
	"MHOST_A_LOCATOR":       ALocator,

	"MHOST_LOC_A_PAD":           LocAPad,
	"MHOST_LOC_A_FAMILY":        LocAFamily,
	"MHOST_LOC_A_ADDR":          LocAAddr,
	"MHOST_LOC_A_PORT":          LocAPort,
	"MHOST_LOC_A_IFINDEX":       LocAIfindex,
	"MHOST_LOC_A_TX_PACKETS":    LocATxPackets,
	"MHOST_LOC_A_TX_ERRORS":     LocATxErrors,
	"MHOST_LOC_A_STATE":         LocAState,
	"MHOST_LOC_A_CAUSE":         LocACause,
	"MHOST_LOC_A_LAST_HEARD_MS": LocALastHeardMs,
	"MHOST_LOC_A_CHANGED_MS":    LocAChangedMs,
	"MHOST_LOC_A_RTT_US":        LocARttUs,
	"MHOST_LOC_A_RTTVAR_US":     LocARttvarUs,
	"MHOST_LOC_A_FLAPS":         LocAFlaps,
	"MHOST_LOC_A_HOLD_MS":       LocAHoldMs,
	"MHOST_LOC_A_PREV_STATE":    LocAPrevState,

	"MHOST_PROTO_A_PAD":        ProtoAPad,
	"MHOST_PROTO_A_FAMILY":     ProtoAFamily,
	"MHOST_PROTO_A_NAME":       ProtoAName,
	"MHOST_PROTO_A_MODULE":     ProtoAModule,
	"MHOST_PROTO_A_ADDR_LEN":   ProtoAAddrLen,
	"MHOST_PROTO_A_TX_PACKETS": ProtoATxPackets,
	"MHOST_PROTO_A_RX_PACKETS": ProtoARxPackets,

	"MHOST_SOCK_A_PAD":          SockAPad,
	"MHOST_SOCK_A_PORT":         SockAPort,
	"MHOST_SOCK_A_UID":          SockAUID,
	"MHOST_SOCK_A_INODE":        SockAInode,
	"MHOST_SOCK_A_RMEM":         SockARmem,
	"MHOST_SOCK_A_WMEM":         SockAWmem,
	"MHOST_SOCK_A_DROPS":        SockADrops,
	"MHOST_SOCK_A_PEER_HOST_ID": SockAPeerHostID,

	"MHOST_STATS_A_PAD":                   StatsAPad,
	"MHOST_STATS_A_HOSTS":                 StatsAHosts,
	"MHOST_STATS_A_SOCKETS":               StatsASockets,
	"MHOST_STATS_A_TX_HOSTID":             StatsATxHostID,
	"MHOST_STATS_A_TX_FAILOVER":           StatsATxFailover,
	"MHOST_STATS_A_TX_UNREACH":            StatsATxUnreach,
	"MHOST_STATS_A_RX_L3_UNKNOWN":         StatsARxL3Unknown,
	"MHOST_STATS_A_HOSTS_ALLOCATED":       StatsAHostsAllocated,
	"MHOST_STATS_A_TX_L3":                 StatsATxL3,
	"MHOST_STATS_A_RX_L3":                 StatsARxL3,
	"MHOST_STATS_A_RX_L3_SHORT":           StatsARxL3Short,
	"MHOST_STATS_A_RX_L3_BAD_HEADER":      StatsARxL3BadHeader,
	"MHOST_STATS_A_RX_L3_BAD_LEN":         StatsARxL3BadLen,
	"MHOST_STATS_A_RX_L3_TRUNCATED":       StatsARxL3Truncated,
	"MHOST_STATS_A_RX_L3_NO_SOCKET":       StatsARxL3NoSocket,
	"MHOST_STATS_A_RX_L3_BAD_CSUM":        StatsARxL3BadCsum,
	"MHOST_STATS_A_RX_L3_DEV_DISABLED":    StatsARxL3DevDisabled,
	"MHOST_STATS_A_LIVE_HOSTS":            StatsALiveHosts,
	"MHOST_STATS_A_PROBES_SENT":           StatsAProbesSent,
	"MHOST_STATS_A_PROBES_ANSWERED":       StatsAProbesAnswered,
	"MHOST_STATS_A_PROBES_MISSED":         StatsAProbesMissed,
	"MHOST_STATS_A_LOC_CHANGES":           StatsALocChanges,
	"MHOST_STATS_A_LOC_SIGNALS":           StatsALocSignals,
	"MHOST_STATS_A_LOC_SIGNALS_IGNORED":   StatsALocSignalsIgnored,
	"MHOST_STATS_A_PROBE_REPLIES":         StatsAProbeReplies,
	"MHOST_STATS_A_PROBE_REPLIES_LIMITED": StatsAProbeRepliesLimited,
	"MHOST_STATS_A_PROBES_BAD":            StatsAProbesBad,

	"MHOST_DEV_A_PAD":     DevAPad,
	"MHOST_DEV_A_IFINDEX": DevAIfindex,
	"MHOST_DEV_A_NAME":    DevAName,
	"MHOST_DEV_A_L3":      DevAL3,

	"MHOST_LOC_STATE_UNKNOWN":       LocStateUnknown,
	"MHOST_LOC_STATE_UP":            LocStateUp,
	"MHOST_LOC_STATE_SUSPECT":       LocStateSuspect,
	"MHOST_LOC_STATE_DOWN":          LocStateDown,
	"MHOST_LOC_CAUSE_NONE":          LocCauseNone,
	"MHOST_LOC_CAUSE_TRAFFIC":       LocCauseTraffic,
	"MHOST_LOC_CAUSE_PROBE_REPLY":   LocCauseProbeReply,
	"MHOST_LOC_CAUSE_PROBE_TIMEOUT": LocCauseProbeTimeout,
	"MHOST_LOC_CAUSE_ICMP":          LocCauseICMP,
	"MHOST_LOC_CAUSE_NEIGH":         LocCauseNeigh,
	"MHOST_LOC_CAUSE_LINK":          LocCauseLink,

	"MHOST_LIVE_A_PAD":          LiveAPad,
	"MHOST_LIVE_A_INTERVAL_MS":  LiveAIntervalMs,
	"MHOST_LIVE_A_MULTIPLIER":   LiveAMultiplier,
	"MHOST_LIVE_A_HOLD_DOWN_MS": LiveAHoldDownMs,
	"MHOST_LIVE_A_REVERTIVE":    LiveARevertive,
	"MHOST_LIVE_A_PORT":         LiveAPort,
	"MHOST_LIVE_A_ANSWER":       LiveAAnswer,
	"MHOST_LIVE_A_PORT_ERROR":   LiveAPortError,
	"MHOST_LIVE_INTERVAL_MS":    LiveIntervalMs,
	"MHOST_LIVE_MULTIPLIER":     LiveMultiplier,
	"MHOST_LIVE_HOLD_DOWN_MS":   LiveHoldDownMs,

	"MHOST_PROBE_PORT":    ProbePort,
	"MHOST_PROBE_VERSION": ProbeVersion,
	"MHOST_PROBE_REQUEST": ProbeRequest,
	"MHOST_PROBE_REPLY":   ProbeReply,
}

// mirroredStructs gives, for each struct the Go code lays out by hand,
// its fields' offsets and sizes and its size as the Go constants say.
var mirroredStructs = map[string]struct {
	fields []Field
	size   int
}{
	"sockaddr_mhost": {
		fields: []Field{
			{Name: "smh_family", Offset: SmhFamily, Size: SmhPort - SmhFamily},
			{Name: "smh_port", Offset: SmhPort, Size: SmhHID - SmhPort},
			{Name: "smh_hid", Offset: SmhHID, Size: SmhZero - SmhHID},
			{Name: "smh_zero", Offset: SmhZero, Size: SizeofSockaddrMhost - SmhZero},
		},
		size: SizeofSockaddrMhost,
	},
	"mhost_probe": {
		fields: []Field{
			{Name: "mp_version", Offset: ProbeVersionOff, Size: ProbeTypeOff - ProbeVersionOff},
			{Name: "mp_type", Offset: ProbeTypeOff, Size: ProbeFlagsOff - ProbeTypeOff},
			{Name: "mp_flags", Offset: ProbeFlagsOff, Size: ProbeReservedOff - ProbeFlagsOff},
			{Name: "mp_reserved", Offset: ProbeReservedOff, Size: ProbeNonceOff - ProbeReservedOff},
			{Name: "mp_nonce", Offset: ProbeNonceOff, Size: ProbeStampOff - ProbeNonceOff},
			{Name: "mp_stamp", Offset: ProbeStampOff, Size: SizeofProbe - ProbeStampOff},
		},
		size: SizeofProbe,
	},
	"sockaddr_mhost_eth": {
		fields: []Field{
			{Name: "sme_family", Offset: SmeFamily, Size: SmePort - SmeFamily},
			{Name: "sme_port", Offset: SmePort, Size: SmeIfindex - SmePort},
			{Name: "sme_ifindex", Offset: SmeIfindex, Size: SmeAddr - SmeIfindex},
			{Name: "sme_addr", Offset: SmeAddr, Size: SmeZero - SmeAddr},
			{Name: "sme_zero", Offset: SmeZero, Size: SizeofSockaddrMhostEth - SmeZero},
		},
		size: SizeofSockaddrMhostEth,
	},
}

// mirrorFiles are Go files outside this package's reach (the guest tests
// cannot import an internal package of gosdk) that copy constants of the
// header. Each of their constants carries the C name it copies as its
// line comment, and must agree with the header.
var mirrorFiles = []string{"../../../tests/guest/uapi_test.go"}

// bookkeeping reports the enum placeholders nothing mirrors.
func bookkeeping(name string) bool {
	return strings.HasPrefix(name, "__") || strings.HasSuffix(name, "_UNSPEC") || strings.HasSuffix(name, "_MAX")
}

func checkValue(t *testing.T, h *Header, where, name string, want any) {
	t.Helper()
	switch want := want.(type) {
	case int:
		got, err := h.Int(name)
		if err != nil {
			t.Errorf("%s: %v", where, err)
		} else if got != int64(want) {
			t.Errorf("%s: %s is %d (%#x) in the header, %d (%#x) in Go", where, name, got, got, want, want)
		}
	case string:
		got, err := h.Text(name)
		if err != nil {
			t.Errorf("%s: %v", where, err)
		} else if got != want {
			t.Errorf("%s: %s is %q in the header, %q in Go", where, name, got, want)
		}
	default:
		t.Errorf("%s: %s mirrored as a %T, want an int or a string", where, name, want)
	}
}

func TestMirror(t *testing.T) {
	h, err := ParseFile(header)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range mirrored {
		checkValue(t, h, "uapi.go", name, want)
	}
	for _, name := range h.Names() {
		if _, ok := mirrored[name]; !ok && !bookkeeping(name) {
			t.Errorf("%s is in the header but not mirrored: add it to uapi.go and to the table of mirror_test.go", name)
		}
	}
}

func TestMirrorStructs(t *testing.T) {
	h, err := ParseFile(header)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range mirroredStructs {
		fields, size, err := h.Struct(name)
		if err != nil {
			t.Error(err)
			continue
		}
		if !slices.Equal(fields, want.fields) || size != want.size {
			t.Errorf("struct %s:\nheader %v, size %d\nGo     %v, size %d", name, fields, size, want.fields, want.size)
		}
	}
}

func TestMirrorFiles(t *testing.T) {
	h, err := ParseFile(header)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range mirrorFiles {
		consts, err := commentedConsts(path)
		if err != nil {
			t.Error(err)
			continue
		}
		if len(consts) == 0 {
			t.Errorf("%s: no constants", path)
		}
		for _, c := range consts {
			if c.cname == "" {
				t.Errorf("%s: constant %s has no C name as its line comment", path, c.name)
				continue
			}
			checkValue(t, h, path+": "+c.name, c.cname, c.value)
		}
	}
}

type goConst struct {
	name, cname string
	value       any // int or string
}

// commentedConsts reads the constants of a Go file whose values are
// literals, with the first word of their line comments.
func commentedConsts(path string) ([]goConst, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var out []goConst
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			c := goConst{name: vs.Names[0].Name}
			if len(vs.Names) != 1 || len(vs.Values) != 1 {
				return nil, &parseError{path, c.name, "want one name and one literal value"}
			}
			lit, ok := vs.Values[0].(*ast.BasicLit)
			if !ok {
				return nil, &parseError{path, c.name, "value is not a literal"}
			}
			switch lit.Kind {
			case token.INT:
				v, err := strconv.ParseInt(lit.Value, 0, 64)
				if err != nil {
					return nil, &parseError{path, c.name, err.Error()}
				}
				c.value = int(v)
			case token.STRING:
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					return nil, &parseError{path, c.name, err.Error()}
				}
				c.value = v
			default:
				return nil, &parseError{path, c.name, "value is neither an integer nor a string"}
			}
			if vs.Comment != nil {
				if w := strings.Fields(vs.Comment.Text()); len(w) > 0 {
					c.cname = w[0]
				}
			}
			out = append(out, c)
		}
	}
	return out, nil
}

type parseError struct{ path, name, msg string }

func (e *parseError) Error() string { return e.path + ": constant " + e.name + ": " + e.msg }
