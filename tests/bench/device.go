//go:build linux

package bench

import (
	"encoding/binary"
	"fmt"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"

	"github.com/mnet/mnet/gosdk/mhostnl"
)

// Device opt-in of kmod/include/uapi/linux/mhost.h, which mhostnl does
// not mirror yet: MHOST_CMD_DEV_SET, MHOST_A_DEV, MHOST_DEV_A_IFINDEX and
// MHOST_DEV_A_L3.
const (
	cmdDevSet      = 9
	attrDev        = 8
	devAttrIfindex = 2
	devAttrL3      = 4
)

// enableL3 lets the device ifindex of the namespace ns carry plugged-L3
// traffic, which mhost allows only on devices an administrator enabled.
func enableL3(ns, ifindex int) error {
	c, err := genetlink.Dial(&netlink.Config{NetNS: ns, Strict: true})
	if err != nil {
		return err
	}
	defer c.Close()
	f, err := c.GetFamily(mhostnl.GenlName)
	if err != nil {
		return err
	}
	dev, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: devAttrIfindex, Data: binary.NativeEndian.AppendUint32(nil, uint32(ifindex))},
		{Type: devAttrL3, Data: []byte{1}},
	})
	if err != nil {
		return err
	}
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: attrDev | netlink.Nested, Data: dev}})
	if err != nil {
		return err
	}
	_, err = c.Execute(genetlink.Message{
		Header: genetlink.Header{Command: cmdDevSet, Version: mhostnl.GenlVersion},
		Data:   attrs,
	}, f.ID, netlink.Request|netlink.Acknowledge)
	if err != nil {
		return fmt.Errorf("enabling plugged L3s on device %d: %w", ifindex, err)
	}
	return nil
}
