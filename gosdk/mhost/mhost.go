package mhost

import (
	"os"
	"strconv"
	"strings"

	"github.com/mnet/mnet/gosdk/internal/uapi"
)

// Constants of the UAPI header kmod/include/uapi/linux/mhost.h, which
// package internal/uapi mirrors and checks.
const (
	// Family is the default socket address family number of AF_MHOST.
	// The module parameter "family" can move it; FamilyInUse reports the
	// number the loaded module registered.
	Family = uapi.AFMhost

	// EtherType is the Ethernet type of frames carrying the datagrams of
	// plugged-in (non-IP) network layers.
	EtherType = uapi.EthPMhost

	// MaxPayload is the largest payload of one datagram, whatever network
	// layer carries it. Larger writes fail with EMSGSIZE.
	MaxPayload = uapi.MaxPayload

	// SizeofSockaddrMhost is the size of struct sockaddr_mhost.
	SizeofSockaddrMhost = uapi.SizeofSockaddrMhost
)

// Address families of the example network-layer protocols of the mhost
// modules mhost_testproto and mhost_otherproto. They reach a peer on an
// Ethernet segment by interface and MAC address, with no IP; EthAddr is
// the address of such a peer.
const (
	FamilyTestProto  = uapi.AFTestProto  // AF_TESTPROTO
	FamilyOtherProto = uapi.AFOtherProto // AF_OTHERPROTO

	// SizeofSockaddrMhostEth is the size of struct sockaddr_mhost_eth.
	SizeofSockaddrMhostEth = uapi.SizeofSockaddrMhostEth
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
