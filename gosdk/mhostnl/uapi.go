package mhostnl

// Constants mirrored from the UAPI header kmod/include/uapi/linux/mhost.h;
// uapi_test.go checks each of them against the header. Most programs need
// none of them: the Client speaks the protocol. They are exported for
// programs and tests that build or inspect raw messages.

// The generic netlink family.
const (
	// GenlName is the name of the generic netlink family (MHOST_GENL_NAME).
	GenlName = "mhost"
	// GenlVersion is the family's version (MHOST_GENL_VERSION); requests
	// carry it in their generic netlink header.
	GenlVersion = 1
	// GroupEvents is the name of the multicast group that announces
	// host-table changes (MHOST_GENL_MCGRP_EVENTS).
	GroupEvents = "events"
)

// MaxLocators is the most locators one host may have (MHOST_MAX_LOCATORS).
const MaxLocators = 8

// The socket option that makes reads report host ids (level SOL_MHOST).
const (
	SolMhost   = 299 // SOL_MHOST
	RecvHostID = 1   // MHOST_RECVHOSTID, an int: 0 off, non-zero on
	ReusePort  = 2   // MHOST_REUSEPORT, an int: SO_REUSEPORT on every kernel
)

// Commands (enum mhost_cmd).
const (
	CmdProtoGet  = 1 // dump: the network layers mhost can use
	CmdHostNew   = 2 // add, replace or append to a host; flags say which
	CmdHostDel   = 3
	CmdHostGet   = 4 // one host, or all as a dump
	CmdHostFlush = 5
	CmdSockGet   = 6 // dump: open AF_MHOST sockets
	CmdStatsGet  = 7
	CmdDevGet    = 8  // one device, or the enabled ones as a dump
	CmdDevSet    = 9  // enable or disable plugged-L3 traffic on a device
	CmdDevDel    = 10 // event only: a device with state went away
)

// Top-level attributes (enum mhost_attr).
const (
	AttrPad          = 1
	AttrHostID       = 2 // u32, non-zero
	AttrHostLocators = 3 // nest of AttrLocator nests, in order
	AttrProto        = 4 // nest of ProtoAttr*
	AttrSock         = 5 // nest of SockAttr*
	AttrStats        = 6 // nest of StatsAttr*
	AttrHostFlags    = 7 // u32: HostFlag*, CmdHostNew only
	AttrDev          = 8 // nest of DevAttr*
)

// Flags of AttrHostFlags, saying what CmdHostNew does. Generic netlink
// rejects NLM_F_CREATE, NLM_F_REPLACE and NLM_F_APPEND in nlmsg_flags for
// families as new as mhost (since Linux 6.1), hence the attribute.
const (
	HostFlagCreate  = 0x1 // create the host if it is missing (else ENOENT)
	HostFlagReplace = 0x2 // replace the locators of an existing host
	HostFlagAppend  = 0x4 // append to the locators of an existing host
)

// AttrLocator is the type of each entry of AttrHostLocators: a nest of
// LocAttr* attributes (MHOST_A_LOCATOR).
const AttrLocator = 1

// Locator attributes (enum mhost_loc_attr).
const (
	LocAttrPad       = 1
	LocAttrFamily    = 2 // u16
	LocAttrAddr      = 3 // binary, as long as the family's addresses
	LocAttrPort      = 4 // u16, host byte order; optional
	LocAttrIfindex   = 5 // u32; optional
	LocAttrTxPackets = 6 // u64, read only
	LocAttrTxErrors  = 7 // u64, read only
)

// Protocol attributes (enum mhost_proto_attr).
const (
	ProtoAttrPad       = 1
	ProtoAttrFamily    = 2 // u16
	ProtoAttrName      = 3 // string
	ProtoAttrModule    = 4 // string
	ProtoAttrAddrLen   = 5 // u32
	ProtoAttrTxPackets = 6 // u64
	ProtoAttrRxPackets = 7 // u64
)

// Socket attributes (enum mhost_sock_attr).
const (
	SockAttrPad        = 1
	SockAttrPort       = 2 // u16, host byte order
	SockAttrUID        = 3 // u32
	SockAttrInode      = 4 // u64
	SockAttrRmem       = 5 // u32
	SockAttrWmem       = 6 // u32
	SockAttrDrops      = 7 // u32
	SockAttrPeerHostID = 8 // u32
)

// Statistics attributes (enum mhost_stats_attr).
const (
	StatsAttrPad            = 1
	StatsAttrHosts          = 2  // u32
	StatsAttrSockets        = 3  // u32
	StatsAttrTxHostID       = 4  // u64
	StatsAttrTxFailover     = 5  // u64
	StatsAttrTxUnreach      = 6  // u64
	StatsAttrRxL3Unknown    = 7  // u64
	StatsAttrHostsAllocated = 8  // u64
	StatsAttrTxL3           = 9  // u64
	StatsAttrRxL3           = 10 // u64
	StatsAttrRxL3Short      = 11 // u64
	StatsAttrRxL3BadHeader  = 12 // u64
	StatsAttrRxL3BadLen     = 13 // u64
	StatsAttrRxL3Truncated  = 14 // u64
	StatsAttrRxL3NoSocket   = 15 // u64
	StatsAttrRxL3BadCsum    = 16 // u64
	// u64: frames from devices not enabled for plugged L3s
	StatsAttrRxL3DevDisabled = 17
)

// Device attributes (enum mhost_dev_attr).
const (
	DevAttrPad     = 1
	DevAttrIfindex = 2 // u32
	DevAttrName    = 3 // string, read only
	DevAttrL3      = 4 // u8: 1 if plugged-L3 traffic is enabled
)
