//go:build linux

package bench

import (
	"fmt"

	"github.com/mnet/mnet/gosdk/mhostnl"
)

// enableL3 lets the device ifindex of the namespace ns carry plugged-L3
// traffic, which mhost allows only on devices an administrator enabled.
func enableL3(ns, ifindex int) error {
	nl, err := mhostnl.Dial(&mhostnl.Config{NetNS: ns})
	if err != nil {
		return err
	}
	defer nl.Close()
	if err := nl.SetDevice(ifindex, true); err != nil {
		return fmt.Errorf("enabling plugged L3s on device %d: %w", ifindex, err)
	}
	return nil
}
