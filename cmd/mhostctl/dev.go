//go:build linux

package main

import (
	"github.com/mnet/mnet/gosdk/mhostnl"
)

func init() {
	register("dev show", &command{
		synopsis: "mhostctl dev show [DEV]",
		summary:  "show the devices enabled for plugged-in layers, or one device",
		help: `Frames of the network layers other modules plug in (ethertype 0x8888) are
read from, and sent over, only the devices an administrator enabled with
'dev set DEV l3 on'. Without DEV, lists the enabled devices; with DEV, shows
that one, enabled or not.

JSON: [{"dev": "veth0", "ifindex": 5, "l3": true}, ...], a list even for one
device.
`,
		run: devShow,
	})
	register("dev set", &command{
		synopsis: "mhostctl dev set DEV l3 on|off",
		summary:  "enable or disable plugged-in network layers on a device",
		help: `Devices start disabled. Disabling a device drops the frames that arrive on
it (counted as rx_l3_dev_disabled in 'mhostctl stats') and makes sends over
it fail. The setting belongs to the device in its namespace: it goes away
with the device, or when the device moves to another namespace.

Example: mhostctl dev set veth0 l3 on
`,
		run: devSet,
	})
}

// devArg reads the DEV argument of a dev command: an interface name of
// the namespace.
func (c *cli) devArg(cmd, name string) (int, error) {
	idx, err := c.ifindex(name)
	if err != nil {
		return 0, usagef(cmd, "unknown device %q: %v", name, err)
	}
	return idx, nil
}

func devShow(c *cli, cmd string, args []string) error {
	args, err := noFlags(cmd, args)
	if err != nil {
		return err
	}
	idx := 0
	switch len(args) {
	case 0:
	case 1:
		if idx, err = c.devArg(cmd, args[0]); err != nil {
			return err
		}
	default:
		return usagef(cmd, "want at most one device, got %d arguments", len(args))
	}
	b, err := c.backend()
	if err != nil {
		return fail(cmd, err)
	}
	var devs []mhostnl.Device
	if idx != 0 {
		d, err := b.Device(idx)
		if err != nil {
			return fail(cmd, err)
		}
		devs = []mhostnl.Device{*d}
	} else if devs, err = b.Devices(); err != nil {
		return fail(cmd, err)
	}
	return c.renderDevices(devs)
}

func devSet(c *cli, cmd string, args []string) error {
	args, err := noFlags(cmd, args)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return usagef(cmd, "missing device")
	}
	if len(args) == 1 {
		return usagef(cmd, "nothing to set: want l3 on or l3 off")
	}
	var l3 *bool
	for rest := args[1:]; len(rest) > 0; rest = rest[2:] {
		if rest[0] != "l3" {
			return usagef(cmd, "unknown setting %q: want l3", rest[0])
		}
		if len(rest) == 1 {
			return usagef(cmd, "l3 needs a value: on or off")
		}
		if l3 != nil {
			return usagef(cmd, "l3 given twice")
		}
		on, ok := onOff[rest[1]]
		if !ok {
			return usagef(cmd, "invalid l3 %q: want on or off", rest[1])
		}
		l3 = &on
	}
	idx, err := c.devArg(cmd, args[0])
	if err != nil {
		return err
	}
	b, err := c.backend()
	if err != nil {
		return fail(cmd, err)
	}
	if err := b.SetDevice(idx, *l3); err != nil {
		return fail(cmd, err)
	}
	return nil
}

// onOff reads a switch as ip(8) does.
var onOff = map[string]bool{"on": true, "off": false}
