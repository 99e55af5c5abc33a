package mhost

import (
	"os"
	"strconv"
	"strings"
)

// Constants mirrored from the UAPI header kmod/include/uapi/linux/mhost.h.
// uapi_test.go checks them against it.
const (
	// Family is the default socket address family number of AF_MHOST.
	// The module parameter "family" can move it; FamilyInUse reports the
	// number the loaded module registered.
	Family = 27

	// EtherType is the Ethernet type of frames carrying the datagrams of
	// plugged-in (non-IP) network layers.
	EtherType = 0x8888

	// MaxPayload is the largest payload of one datagram, whatever network
	// layer carries it. Larger writes fail with EMSGSIZE.
	MaxPayload = 65507

	// SizeofSockaddrMhost is the size of struct sockaddr_mhost.
	SizeofSockaddrMhost = 16
)

// Address families of the example network-layer protocols of the mhost
// modules mhost_testproto and mhost_otherproto. They reach a peer on an
// Ethernet segment by interface and MAC address, with no IP; EthAddr is
// the address of such a peer.
const (
	FamilyTestProto  = 1 // AF_TESTPROTO
	FamilyOtherProto = 3 // AF_OTHERPROTO

	// SizeofSockaddrMhostEth is the size of struct sockaddr_mhost_eth.
	SizeofSockaddrMhostEth = 16
)

// Socket options of level SOL_MHOST.
const (
	solMhost      = 299
	optRecvHostID = 1 // MHOST_RECVHOSTID, int
	optReusePort  = 2 // MHOST_REUSEPORT, int
)

// Layout of struct sockaddr_mhost, checked against the header too.
const (
	smhFamilyOff = 0 // __kernel_sa_family_t smh_family, host byte order
	smhPortOff   = 2 // __be16 smh_port
	smhHIDOff    = 4 // __u32 smh_hid, host byte order
	smhZeroOff   = 8 // __u8 smh_zero[8], all zero
)

// Layout of struct sockaddr_mhost_eth, checked against the header too.
const (
	smeFamilyOff  = 0  // __kernel_sa_family_t sme_family, host byte order
	smePortOff    = 2  // __be16 sme_port
	smeIfindexOff = 4  // __u32 sme_ifindex, host byte order
	smeAddrOff    = 8  // __u8 sme_addr[6], the MAC address
	smeZeroOff    = 14 // __u8 sme_zero[2], all zero
)

// familyParam is where the loaded module exposes its "family" parameter.
const familyParam = "/sys/module/mhost/parameters/family"

// FamilyInUse returns the address family number of AF_MHOST sockets on this
// system: the module's "family" parameter when the module is loaded, Family
// otherwise (socket(2) autoloads the module with its default family).
//
// Listen and Dial call it each time they open a socket.
func FamilyInUse() int {
	return readFamily(familyParam)
}

// readFamily parses a module parameter file holding a family number, and
// returns Family when it is missing or does not hold a valid number.
func readFamily(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return Family
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 16)
	if err != nil || n == 0 {
		return Family
	}
	return int(n)
}
