//go:build guest

package guest_test

// Constants of the mhost UAPI header (kmod/include/uapi/linux/mhost.h)
// that the tests crafting raw netlink messages need. The guest tests
// cannot import gosdk/internal/uapi, the Go mirror of the header; the
// mirror's test checks these against the header too, through the C name
// each one carries as its line comment.
const (
	genlName    = "mhost"  // MHOST_GENL_NAME
	genlVersion = 1        // MHOST_GENL_VERSION
	mcgrpEvents = "events" // MHOST_GENL_MCGRP_EVENTS

	cmdHostNew   = 2  // MHOST_CMD_HOST_NEW
	cmdHostDel   = 3  // MHOST_CMD_HOST_DEL
	cmdHostGet   = 4  // MHOST_CMD_HOST_GET
	cmdHostFlush = 5  // MHOST_CMD_HOST_FLUSH
	cmdStatsGet  = 7  // MHOST_CMD_STATS_GET
	cmdDevGet    = 8  // MHOST_CMD_DEV_GET
	cmdDevSet    = 9  // MHOST_CMD_DEV_SET
	cmdDevDel    = 10 // MHOST_CMD_DEV_DEL (an event)

	aHostID       = 2 // MHOST_A_HOST_ID
	aHostLocators = 3 // MHOST_A_HOST_LOCATORS
	aStats        = 6 // MHOST_A_STATS
	aHostFlags    = 7 // MHOST_A_HOST_FLAGS
	aDev          = 8 // MHOST_A_DEV
	aLocator      = 1 // MHOST_A_LOCATOR

	hostFCreate  = 0x1 // MHOST_HOST_F_CREATE
	hostFReplace = 0x2 // MHOST_HOST_F_REPLACE
	hostFAppend  = 0x4 // MHOST_HOST_F_APPEND

	locAFamily    = 2 // MHOST_LOC_A_FAMILY
	locAAddr      = 3 // MHOST_LOC_A_ADDR
	locAPort      = 4 // MHOST_LOC_A_PORT
	locAIfindex   = 5 // MHOST_LOC_A_IFINDEX
	locATxPackets = 6 // MHOST_LOC_A_TX_PACKETS

	statsARxL3DevDisabled = 17 // MHOST_STATS_A_RX_L3_DEV_DISABLED

	devAIfindex = 2 // MHOST_DEV_A_IFINDEX
	devAName    = 3 // MHOST_DEV_A_NAME
	devAL3      = 4 // MHOST_DEV_A_L3

	statsATxUnreach = 6 // MHOST_STATS_A_TX_UNREACH

	// Path liveness:
	cmdLiveGet  = 11 // MHOST_CMD_LIVE_GET
	cmdLiveSet  = 12 // MHOST_CMD_LIVE_SET
	cmdLocState = 13 // MHOST_CMD_LOC_STATE

	aHostLive = 9  // MHOST_A_HOST_LIVE
	aLive     = 10 // MHOST_A_LIVE

	locAState      = 8  // MHOST_LOC_A_STATE
	locACause      = 9  // MHOST_LOC_A_CAUSE
	locALastHeard  = 10 // MHOST_LOC_A_LAST_HEARD_MS
	locAChanged    = 11 // MHOST_LOC_A_CHANGED_MS
	locARTT        = 12 // MHOST_LOC_A_RTT_US
	locARTTVar     = 13 // MHOST_LOC_A_RTTVAR_US
	locAFlaps      = 14 // MHOST_LOC_A_FLAPS
	locAHold       = 15 // MHOST_LOC_A_HOLD_MS
	locAPrevState  = 16 // MHOST_LOC_A_PREV_STATE
	liveAInterval  = 2  // MHOST_LIVE_A_INTERVAL_MS
	liveAMult      = 3  // MHOST_LIVE_A_MULTIPLIER
	liveAHoldDown  = 4  // MHOST_LIVE_A_HOLD_DOWN_MS
	liveARevertive = 5  // MHOST_LIVE_A_REVERTIVE
	liveAPort      = 6  // MHOST_LIVE_A_PORT
	liveAAnswer    = 7  // MHOST_LIVE_A_ANSWER
	liveAPortError = 8  // MHOST_LIVE_A_PORT_ERROR

	statsALiveHosts      = 18 // MHOST_STATS_A_LIVE_HOSTS
	statsAProbesSent     = 19 // MHOST_STATS_A_PROBES_SENT
	statsAProbesAnswered = 20 // MHOST_STATS_A_PROBES_ANSWERED
	statsAProbesMissed   = 21 // MHOST_STATS_A_PROBES_MISSED
	statsALocChanges     = 22 // MHOST_STATS_A_LOC_CHANGES
	statsALocSignals     = 23 // MHOST_STATS_A_LOC_SIGNALS
	statsASignalsIgnored = 24 // MHOST_STATS_A_LOC_SIGNALS_IGNORED
	statsAProbeReplies   = 25 // MHOST_STATS_A_PROBE_REPLIES
	statsARepliesLimited = 26 // MHOST_STATS_A_PROBE_REPLIES_LIMITED
	statsAProbesBad      = 27 // MHOST_STATS_A_PROBES_BAD

	mhostRecvHostID = 1 // MHOST_RECVHOSTID

	probePort     = 7867 // MHOST_PROBE_PORT
	probeVersion  = 1    // MHOST_PROBE_VERSION
	probeRequest  = 1    // MHOST_PROBE_REQUEST
	probeReply    = 2    // MHOST_PROBE_REPLY
	liveInterval  = 250  // MHOST_LIVE_INTERVAL_MS
	liveHoldDown  = 1000 // MHOST_LIVE_HOLD_DOWN_MS
	liveMultipler = 3    // MHOST_LIVE_MULTIPLIER
)
