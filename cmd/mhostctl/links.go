//go:build linux

package main

import (
	"encoding/binary"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// listLinks lists the network interfaces of the namespace netns (0: our
// own) with one RTM_GETLINK dump: mhostctl names the devices of every
// locator it shows from it, rather than asking the kernel per row.
func listLinks(netns int) (*links, error) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: netns})
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	defer c.Close()
	req := netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request | netlink.Dump},
		Data:   make([]byte, unix.SizeofIfInfomsg), // struct ifinfomsg, all families
	}
	msgs, err := c.Execute(req)
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	lk := &links{byName: map[string]int{}, byIndex: map[int]string{}}
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		index := int(int32(binary.NativeEndian.Uint32(m.Data[4:8]))) // ifi_index
		ad, err := netlink.NewAttributeDecoder(m.Data[unix.SizeofIfInfomsg:])
		if err != nil {
			continue
		}
		for ad.Next() {
			if ad.Type() == unix.IFLA_IFNAME {
				name := ad.String()
				lk.byName[name], lk.byIndex[index] = index, name
			}
		}
	}
	return lk, nil
}
