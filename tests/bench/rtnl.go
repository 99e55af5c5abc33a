//go:build linux

package bench

import (
	"fmt"
	"net"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// vethInfoPeer is VETH_INFO_PEER of linux/veth.h.
const vethInfoPeer = 1

// ifinfomsg encodes a struct ifinfomsg with no flags.
func ifinfomsg() []byte { return make([]byte, unix.SizeofIfInfomsg) }

// addVeth creates a veth pair from the namespace nsA: nameA with macA
// stays in nsA, nameB with macB is created in nsB.
func addVeth(nsA int, nameA string, macA net.HardwareAddr, nsB int, nameB string, macB net.HardwareAddr) error {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: nsA})
	if err != nil {
		return fmt.Errorf("rtnetlink: %w", err)
	}
	defer c.Close()

	peer := netlink.NewAttributeEncoder()
	peer.String(unix.IFLA_IFNAME, nameB)
	peer.Bytes(unix.IFLA_ADDRESS, macB)
	peer.Uint32(unix.IFLA_NET_NS_FD, uint32(nsB))
	peerAttrs, err := peer.Encode()
	if err != nil {
		return err
	}

	ae := netlink.NewAttributeEncoder()
	ae.String(unix.IFLA_IFNAME, nameA)
	ae.Bytes(unix.IFLA_ADDRESS, macA)
	ae.Nested(unix.IFLA_LINKINFO, func(li *netlink.AttributeEncoder) error {
		li.String(unix.IFLA_INFO_KIND, "veth")
		li.Nested(unix.IFLA_INFO_DATA, func(d *netlink.AttributeEncoder) error {
			d.Bytes(vethInfoPeer, append(ifinfomsg(), peerAttrs...))
			return nil
		})
		return nil
	})
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	msg := netlink.Message{
		Header: netlink.Header{
			Type:  unix.RTM_NEWLINK,
			Flags: netlink.Request | netlink.Acknowledge | netlink.Create | netlink.Excl,
		},
		Data: append(ifinfomsg(), attrs...),
	}
	if _, err := c.Execute(msg); err != nil {
		return fmt.Errorf("RTM_NEWLINK veth %s/%s: %w", nameA, nameB, err)
	}
	return nil
}
