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
)
