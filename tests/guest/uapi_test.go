//go:build guest

package guest_test

// Constants of the mhost UAPI header (kmod/include/uapi/linux/mhost.h)
// that the tests crafting raw netlink messages need. The guest tests
// cannot import gosdk/internal/uapi, the Go mirror of the header; the
// mirror's test checks these against the header too, through the C name
// each one carries as its line comment.
const (
	genlName    = "mhost" // MHOST_GENL_NAME
	genlVersion = 1       // MHOST_GENL_VERSION

	cmdHostNew = 2 // MHOST_CMD_HOST_NEW
	cmdHostDel = 3 // MHOST_CMD_HOST_DEL
	cmdHostGet = 4 // MHOST_CMD_HOST_GET

	aHostID       = 2 // MHOST_A_HOST_ID
	aHostLocators = 3 // MHOST_A_HOST_LOCATORS
	aStats        = 6 // MHOST_A_STATS
	aHostFlags    = 7 // MHOST_A_HOST_FLAGS
	aLocator      = 1 // MHOST_A_LOCATOR

	hostFCreate  = 0x1 // MHOST_HOST_F_CREATE
	hostFReplace = 0x2 // MHOST_HOST_F_REPLACE
	hostFAppend  = 0x4 // MHOST_HOST_F_APPEND

	locAFamily    = 2 // MHOST_LOC_A_FAMILY
	locAAddr      = 3 // MHOST_LOC_A_ADDR
	locAPort      = 4 // MHOST_LOC_A_PORT
	locATxPackets = 6 // MHOST_LOC_A_TX_PACKETS
)
