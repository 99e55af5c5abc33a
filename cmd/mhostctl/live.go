//go:build linux

package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/mnet/mnet/gosdk/mhostnl"
)

func init() {
	register("live show", &command{
		synopsis: "mhostctl live show",
		summary:  "show the namespace's path liveness settings",
		help: `Prints the knobs its hosts follow unless they have their own, the probe port
and whether it answers the probes of peers, and, when the probe port could
not be bound, why (nothing is probed until it is).

  interval 250ms multiplier 3 hold-down 1s revertive on port 7867 answer on

JSON: {"interval_ms": 250, "multiplier": 3, "hold_down_ms": 1000,
       "revertive": true, "port": 7867, "answer": true, "port_error": ""}
`,
		run: liveShow,
	})
	register("live set", &command{
		synopsis: "mhostctl live set [KNOB VALUE]... [port PORT] [answer on|off]",
		summary:  "change the namespace's path liveness settings",
		help: `Changes the settings given and leaves the others.

` + knobHelp + `  port PORT     the UDP port probes go to and come from (default 7867);
                its peers must use the same
  answer on|off whether to answer the probes of peers
` + durationHelp + `
Example: mhostctl live set interval 500 hold-down 2s revertive off
`,
		run: liveSet,
	})
}

// hostKnobHelp documents the knobs of the host commands.
const hostKnobHelp = `KNOB VALUE sets the host's own path liveness knobs (the others follow
the namespace's, 'mhostctl live show'); knobs given replace all the host
had, none keep them:
` + knobHelp + durationHelp

// knobHelp documents the knobs of 'live set' and of the host commands.
const knobHelp = `  interval D    probe a silent locator in use every D: 10ms to 60s, or 0
                to turn path liveness off (default 250ms)
  multiplier N  rounds of probes a suspect locator may miss before it is
                down: 1 to 20 (default 3)
  hold-down D   how long a locator back from down waits before traffic
                returns to it: 0 to 60s (default 1s); each flap doubles it
  revertive on|off
                whether traffic returns to a preferred locator that came
                back (default on)
`

// durationHelp follows the knobs' help.
const durationHelp = "A duration D is milliseconds, or has a unit: 250, 250ms, 2s.\n"

// parseDuration reads a knob's duration: milliseconds, or with a unit.
func parseDuration(cmd, knob, s string) (time.Duration, error) {
	if ms, err := strconv.ParseUint(s, 10, 32); err == nil {
		return time.Duration(ms) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d%time.Millisecond != 0 {
		return 0, usagef(cmd, "invalid %s %q: want milliseconds, or a duration such as 250ms or 2s", knob, s)
	}
	return d, nil
}

func parseOnOff(cmd, knob, s string) (bool, error) {
	on, ok := onOff[s]
	if !ok {
		return false, usagef(cmd, "invalid %s %q: want on or off", knob, s)
	}
	return on, nil
}

// parseKnob reads the value of one knob into k; ok is false when name is
// no knob.
func parseKnob(cmd string, k *mhostnl.LiveKnobs, name, value string) (ok bool, err error) {
	switch name {
	case "interval", "hold-down":
		d, err := parseDuration(cmd, name, value)
		if err != nil {
			return true, err
		}
		if name == "interval" {
			k.Interval = &d
		} else {
			k.HoldDown = &d
		}
	case "multiplier":
		n, err := strconv.ParseUint(value, 10, 8)
		if err != nil {
			return true, usagef(cmd, "invalid multiplier %q: want 1 to 20", value)
		}
		m := int(n)
		k.Multiplier = &m
	case "revertive":
		r, err := parseOnOff(cmd, name, value)
		if err != nil {
			return true, err
		}
		k.Revertive = &r
	default:
		return false, nil
	}
	return true, nil
}

// splitKnobs takes the knobs out of the arguments of a host command,
// leaving its locators. Values of port and dev are skipped, whatever
// they are. live is nil when no knob was given.
func splitKnobs(cmd string, args []string) (rest []string, live *mhostnl.LiveKnobs, err error) {
	var k mhostnl.LiveKnobs
	seen := map[string]bool{}
	for i := 0; i < len(args); i++ {
		tok := args[i]
		if tok == "port" || tok == "dev" {
			rest = append(rest, args[i:min(i+2, len(args))]...)
			i++
			continue
		}
		if i+1 < len(args) {
			ok, err := parseKnob(cmd, &k, tok, args[i+1])
			if err != nil {
				return nil, nil, err
			}
			if ok {
				if seen[tok] {
					return nil, nil, usagef(cmd, "%s given twice", tok)
				}
				seen[tok] = true
				i++
				continue
			}
		} else if ok, _ := parseKnob(cmd, &k, tok, "0"); ok {
			return nil, nil, usagef(cmd, "%q needs a value", tok)
		}
		rest = append(rest, tok)
	}
	if len(seen) > 0 {
		live = &k
	}
	return rest, live, nil
}

func liveShow(c *cli, cmd string, args []string) error {
	if _, err := noArgs(cmd, args); err != nil {
		return err
	}
	b, err := c.backend()
	if err != nil {
		return fail(cmd, err)
	}
	s, err := b.Liveness()
	if err != nil {
		return fail(cmd, err)
	}
	return c.renderLiveness(s)
}

func liveSet(c *cli, cmd string, args []string) error {
	args, err := noFlags(cmd, args)
	if err != nil {
		return err
	}
	var s mhostnl.LiveSettings
	seen := map[string]bool{}
	for i := 0; i < len(args); i += 2 {
		name := args[i]
		if i+1 == len(args) {
			return usagef(cmd, "%q needs a value", name)
		}
		if seen[name] {
			return usagef(cmd, "%s given twice", name)
		}
		seen[name] = true
		value := args[i+1]
		switch name {
		case "port":
			p, err := strconv.ParseUint(value, 10, 16)
			if err != nil || p == 0 {
				return usagef(cmd, "invalid port %q: want 1 to 65535", value)
			}
			port := uint16(p)
			s.Port = &port
		case "answer":
			a, err := parseOnOff(cmd, name, value)
			if err != nil {
				return err
			}
			s.Answer = &a
		default:
			ok, err := parseKnob(cmd, &s.LiveKnobs, name, value)
			if err != nil {
				return err
			}
			if !ok {
				return usagef(cmd, "unknown setting %q: want interval, multiplier, hold-down, revertive, port or answer", name)
			}
		}
	}
	if len(seen) == 0 {
		return usagef(cmd, "nothing to set")
	}
	b, err := c.backend()
	if err != nil {
		return fail(cmd, err)
	}
	if err := b.SetLiveness(s); err != nil {
		return fail(cmd, err)
	}
	return nil
}

// knobsText writes the knobs that are set in the grammar the commands
// read.
func knobsText(k *mhostnl.LiveKnobs) string {
	var parts []string
	if k.Interval != nil {
		parts = append(parts, "interval "+k.Interval.String())
	}
	if k.Multiplier != nil {
		parts = append(parts, "multiplier "+strconv.Itoa(*k.Multiplier))
	}
	if k.HoldDown != nil {
		parts = append(parts, "hold-down "+k.HoldDown.String())
	}
	if k.Revertive != nil {
		parts = append(parts, "revertive "+onOffText(*k.Revertive))
	}
	return strings.Join(parts, " ")
}
