// Package uapi mirrors the user API of the mhost kernel module, the C
// header kmod/include/uapi/linux/mhost.h: socket address layouts, socket
// options and the generic netlink family's commands and attributes. It is
// the one place Go code takes them from; mirror_test.go checks every value
// against the header, and fails for a control-plane constant of the header
// that has no counterpart here.
//
// To follow a change of the header, add the constant here and its line to
// the table of mirror_test.go.
package uapi

// Sockets.
const (
	AFMhost      = 27     // AF_MHOST, the default; the module parameter "family" moves it
	EthPMhost    = 0x8888 // ETH_P_MHOST
	MaxPayload   = 65507  // MHOST_MAX_PAYLOAD
	SolMhost     = 299    // SOL_MHOST
	RecvHostID   = 1      // MHOST_RECVHOSTID, an int
	ReusePort    = 2      // MHOST_REUSEPORT, an int: SO_REUSEPORT on every kernel
	AFTestProto  = 1      // AF_TESTPROTO
	AFOtherProto = 3      // AF_OTHERPROTO
)

// struct sockaddr_mhost: family and hid in host byte order, port in
// network byte order, smh_zero all zero.
const (
	SizeofSockaddrMhost = 16
	SmhFamily           = 0
	SmhPort             = 2
	SmhHID              = 4
	SmhZero             = 8
)

// struct sockaddr_mhost_eth: family and ifindex in host byte order, port
// in network byte order, sme_zero all zero.
const (
	SizeofSockaddrMhostEth = 16
	SmeFamily              = 0
	SmePort                = 2
	SmeIfindex             = 4
	SmeAddr                = 8
	SmeZero                = 14
)

// The generic netlink family.
const (
	GenlName    = "mhost"  // MHOST_GENL_NAME
	GenlVersion = 1        // MHOST_GENL_VERSION
	McgrpEvents = "events" // MHOST_GENL_MCGRP_EVENTS
	MaxLocators = 8        // MHOST_MAX_LOCATORS
)

// Commands (enum mhost_cmd).
const (
	CmdProtoGet  = 1
	CmdHostNew   = 2
	CmdHostDel   = 3
	CmdHostGet   = 4
	CmdHostFlush = 5
	CmdSockGet   = 6
	CmdStatsGet  = 7
	CmdDevGet    = 8  // one device, or a dump of the enabled ones
	CmdDevSet    = 9  // enable or disable plugged-L3 traffic on a device
	CmdDevDel    = 10 // event only: a device with state went away
	CmdLiveGet   = 11 // the namespace's path liveness settings
	CmdLiveSet   = 12
	CmdLocState  = 13 // event only: a locator changed state
)

// Top-level attributes (enum mhost_attr) and the flags of AHostFlags.
const (
	APad          = 1
	AHostID       = 2
	AHostLocators = 3
	AProto        = 4
	ASock         = 5
	AStats        = 6
	AHostFlags    = 7
	ADev          = 8
	AHostLive     = 9  // nest of LiveA*: a host's own liveness knobs
	ALive         = 10 // nest of LiveA*: the namespace's liveness settings

	HostFCreate  = 0x1
	HostFReplace = 0x2
	HostFAppend  = 0x4

	ALocator = 1 // the entries of AHostLocators
)

// Locator attributes (enum mhost_loc_attr).
const (
	LocAPad       = 1
	LocAFamily    = 2
	LocAAddr      = 3
	LocAPort      = 4
	LocAIfindex   = 5
	LocATxPackets = 6
	LocATxErrors  = 7
	// Path liveness, read only:
	LocAState       = 8  // u8: LocState*
	LocACause       = 9  // u8: LocCause*, of the last change
	LocALastHeardMs = 10 // u32, absent if never heard from
	LocAChangedMs   = 11 // u32, absent if never changed
	LocARttUs       = 12 // u32, absent before the first answered probe
	LocARttvarUs    = 13 // u32, likewise
	LocAFlaps       = 14 // u32
	LocAHoldMs      = 15 // u32: hold-down left, absent if none
	LocAPrevState   = 16 // u8: the state before, CmdLocState only
)

// Protocol attributes (enum mhost_proto_attr).
const (
	ProtoAPad       = 1
	ProtoAFamily    = 2
	ProtoAName      = 3
	ProtoAModule    = 4
	ProtoAAddrLen   = 5
	ProtoATxPackets = 6
	ProtoARxPackets = 7
)

// Socket attributes (enum mhost_sock_attr).
const (
	SockAPad        = 1
	SockAPort       = 2
	SockAUID        = 3
	SockAInode      = 4
	SockARmem       = 5
	SockAWmem       = 6
	SockADrops      = 7
	SockAPeerHostID = 8
)

// Statistics attributes (enum mhost_stats_attr).
const (
	StatsAPad             = 1
	StatsAHosts           = 2
	StatsASockets         = 3
	StatsATxHostID        = 4
	StatsATxFailover      = 5
	StatsATxUnreach       = 6
	StatsARxL3Unknown     = 7
	StatsAHostsAllocated  = 8
	StatsATxL3            = 9
	StatsARxL3            = 10
	StatsARxL3Short       = 11
	StatsARxL3BadHeader   = 12
	StatsARxL3BadLen      = 13
	StatsARxL3Truncated   = 14
	StatsARxL3NoSocket    = 15
	StatsARxL3BadCsum     = 16
	StatsARxL3DevDisabled = 17
	// Path liveness:
	StatsALiveHosts           = 18 // u32
	StatsAProbesSent          = 19
	StatsAProbesAnswered      = 20
	StatsAProbesMissed        = 21
	StatsALocChanges          = 22
	StatsALocSignals          = 23
	StatsALocSignalsIgnored   = 24
	StatsAProbeReplies        = 25
	StatsAProbeRepliesLimited = 26
	StatsAProbesBad           = 27
)

// Device attributes (enum mhost_dev_attr).
const (
	DevAPad     = 1
	DevAIfindex = 2
	DevAName    = 3 // read only
	DevAL3      = 4 // u8: 1 if plugged-L3 traffic is enabled
)

// Locator states (enum mhost_loc_state) and the causes of their changes
// (enum mhost_loc_cause).
const (
	LocStateUnknown = 0
	LocStateUp      = 1
	LocStateSuspect = 2
	LocStateDown    = 3

	LocCauseNone         = 0
	LocCauseTraffic      = 1
	LocCauseProbeReply   = 2
	LocCauseProbeTimeout = 3
	LocCauseICMP         = 4
	LocCauseNeigh        = 5
	LocCauseLink         = 6
)

// Path liveness knobs and settings (enum mhost_live_attr), their
// defaults, and the probe protocol.
const (
	LiveAPad        = 1
	LiveAIntervalMs = 2 // u32: 10 to 60000; 0 turns liveness off
	LiveAMultiplier = 3 // u8: 1 to 20
	LiveAHoldDownMs = 4 // u32: 0 to 60000
	LiveARevertive  = 5 // u8: 0 or 1
	LiveAPort       = 6 // u16, the namespace's only
	LiveAAnswer     = 7 // u8, the namespace's only
	LiveAPortError  = 8 // u32, read only: an errno

	LiveIntervalMs = 250
	LiveMultiplier = 3
	LiveHoldDownMs = 1000

	ProbePort    = 7867
	ProbeVersion = 1
	ProbeRequest = 1
	ProbeReply   = 2
)

// struct mhost_probe: every field big-endian.
const (
	SizeofProbe      = 24
	ProbeVersionOff  = 0
	ProbeTypeOff     = 1
	ProbeFlagsOff    = 2
	ProbeReservedOff = 4
	ProbeNonceOff    = 8
	ProbeStampOff    = 16
)
