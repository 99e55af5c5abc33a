//go:build linux

package main

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/mnet/mnet/gosdk/mhostnl"
)

// A layer is a network layer locators can name: its family, its name and
// the length of its addresses (0 if unknown).
type layer struct {
	family  mhostnl.Family
	name    string
	addrLen int
}

var (
	inet  = layer{mhostnl.FamilyInet, "inet", 4}
	inet6 = layer{mhostnl.FamilyInet6, "inet6", 16}
)

// layerByName finds a network layer by name: inet and inet6 without
// asking the kernel, the others from its protocol list. Anything else is
// a usage error naming the token and the kinds there are; when the kernel
// cannot list its layers, the error says so, but it stays a usage error:
// only a name that could be a layer's is worth asking the kernel about.
func (c *cli) layerByName(cmd, name string) (layer, error) {
	switch name {
	case "inet":
		return inet, nil
	case "inet6":
		return inet6, nil
	}
	if !isName(name) {
		return layer{}, c.badKind(cmd, name, nil)
	}
	ps, err := c.protocols()
	if err != nil {
		return layer{}, c.badKind(cmd, name, err)
	}
	for _, p := range ps {
		if p.Name == name {
			return layer{p.Family, p.Name, p.AddrLen}, nil
		}
	}
	return layer{}, c.badKind(cmd, name, nil)
}

// isName reports whether s could name a network layer: a letter, then
// letters, digits, '_' and '-'.
func isName(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '_' || r == '-'):
		default:
			return false
		}
	}
	return s != ""
}

// badKind is the usage error for a token that is neither an address nor
// a locator kind: it names the token and the kinds there are. listErr says
// the kernel could not list its network layers; the error does not repeat
// why (a typo is not the kernel's business), and a token that cannot be a
// name never makes mhostctl ask.
func (c *cli) badKind(cmd, tok string, listErr error) error {
	var kinds string
	switch {
	case !isName(tok):
		return usagef(cmd, "invalid address %q: want an IP address, or a kind before one: inet, inet6, "+
			"or a plugged network layer's name (see 'mhostctl proto list')", tok)
	case listErr != nil:
		kinds = "inet, inet6 (the kernel's plugged network layers could not be listed)"
	default:
		kinds = c.layerNames()
	}
	return usagef(cmd, "unknown locator kind %q: want an IP address, or a kind before one: %s", tok, kinds)
}

// familyName names a family for display: inet, inet6, a plugged layer's
// name from the kernel when it can be had, family(N) otherwise.
func (c *cli) familyName(f mhostnl.Family) string {
	switch f {
	case mhostnl.FamilyInet, mhostnl.FamilyInet6:
		return f.String()
	}
	if ps, err := c.protocols(); err == nil {
		for _, p := range ps {
			if p.Family == f && p.Name != "" {
				return p.Name
			}
		}
	}
	return f.String()
}

// parseLocators reads the LOCATOR... of a host command:
//
//	LOCATOR := [FAMILY] ADDRESS [port PORT] [dev IFNAME]
//
// with port and dev before or after the address.
func (c *cli) parseLocators(cmd string, args []string) ([]mhostnl.Locator, error) {
	var (
		locs    []mhostnl.Locator
		cur     *mhostnl.Locator
		curL    layer
		hasAddr bool
		dev     string // the dev option of cur, for messages
	)
	finish := func() error {
		if cur == nil {
			return nil
		}
		if !hasAddr {
			return usagef(cmd, "%s locator %d has no address", curL.name, len(locs))
		}
		cur = nil
		return nil
	}
	for i := 0; i < len(args); i++ {
		tok := args[i]
		switch {
		case tok == "port" || tok == "dev":
			if cur == nil {
				return nil, usagef(cmd, "%q before any locator: start with a family or an address", tok)
			}
			if i+1 == len(args) {
				return nil, usagef(cmd, "%q needs a value", tok)
			}
			i++
			if tok == "port" {
				if cur.Port != 0 {
					return nil, usagef(cmd, "locator %d has two ports", len(locs))
				}
				p, err := strconv.ParseUint(args[i], 10, 16)
				if err != nil || p == 0 {
					return nil, usagef(cmd, "invalid port %q: want 1 to 65535", args[i])
				}
				cur.Port = uint16(p)
				continue
			}
			if curL.family == mhostnl.FamilyInet {
				return nil, usagef(cmd, "dev %s: inet locators take no device", args[i])
			}
			if cur.Ifindex != 0 {
				return nil, usagef(cmd, "locator %d has two devices", len(locs))
			}
			idx, err := c.ifindex(args[i])
			if err != nil {
				return nil, usagef(cmd, "unknown device %q: %v", args[i], err)
			}
			cur.Ifindex, dev = idx, args[i]

		case cur != nil && !hasAddr:
			if err := c.parseAddr(cmd, cur, curL, tok, dev); err != nil {
				return nil, err
			}
			hasAddr = true

		default:
			if err := finish(); err != nil {
				return nil, err
			}
			if len(locs) == mhostnl.MaxLocators {
				return nil, usagef(cmd, "too many locators: a host has at most %d", mhostnl.MaxLocators)
			}
			locs = append(locs, mhostnl.Locator{})
			cur, hasAddr, dev = &locs[len(locs)-1], false, ""
			// A bare IP address starts a locator of its family.
			if a, err := netip.ParseAddr(tok); err == nil {
				curL = inet6
				if a.Is4() {
					curL = inet
				}
				cur.Family = curL.family
				if err := c.parseAddr(cmd, cur, curL, tok, ""); err != nil {
					return nil, err
				}
				hasAddr = true
				continue
			}
			l, err := c.layerByName(cmd, tok)
			if err != nil {
				return nil, err
			}
			curL = l
			cur.Family = l.family
		}
	}
	if err := finish(); err != nil {
		return nil, err
	}
	if len(locs) == 0 {
		return nil, usagef(cmd, "missing LOCATOR: a family and an address, such as inet6 fd00::2")
	}
	return locs, nil
}

// layerNames lists the layer names locators may use, for messages.
func (c *cli) layerNames() string {
	names := []string{"inet", "inet6"}
	if ps, err := c.protocols(); err == nil {
		for _, p := range ps {
			if p.Name != "inet" && p.Name != "inet6" && p.Name != "" {
				names = append(names, p.Name)
			}
		}
	}
	return strings.Join(names, ", ")
}

// parseAddr reads the address of a locator of layer l into loc. dev is
// the device the locator names already, if any.
func (c *cli) parseAddr(cmd string, loc *mhostnl.Locator, l layer, s, dev string) error {
	switch l.family {
	case mhostnl.FamilyInet, mhostnl.FamilyInet6:
		a, err := netip.ParseAddr(s)
		if err != nil {
			return usagef(cmd, "invalid %s address %q", l.name, s)
		}
		if l.family == mhostnl.FamilyInet {
			if a.Zone() != "" || !a.Unmap().Is4() {
				return usagef(cmd, "%q is not an IPv4 address: write inet6 before IPv6 addresses", s)
			}
			loc.Addr = a.Unmap()
			return nil
		}
		if !a.Is6() || a.Is4In6() {
			return usagef(cmd, "%q is not an IPv6 address: write inet before IPv4 addresses", s)
		}
		if zone := a.Zone(); zone != "" {
			idx, err := c.zoneIndex(zone)
			if err != nil {
				return usagef(cmd, "unknown device %q in %q", zone, s)
			}
			if loc.Ifindex != 0 && loc.Ifindex != idx {
				return usagef(cmd, "%q names another device than dev %s", s, dev)
			}
			loc.Ifindex = idx
		}
		loc.Addr = a.WithZone("")
		return nil
	}
	b, err := parseHexAddr(s)
	if err != nil {
		return usagef(cmd, "invalid %s address %q: want hex bytes such as 02:00:00:00:00:02 or 0x020000000002", l.name, s)
	}
	if l.addrLen > 0 && len(b) != l.addrLen {
		return usagef(cmd, "%s addresses are %d bytes long, %q is %d", l.name, l.addrLen, s, len(b))
	}
	loc.Raw = b
	return nil
}

// zoneIndex resolves an IPv6 zone: an interface name or index.
func (c *cli) zoneIndex(zone string) (int, error) {
	if n, err := strconv.ParseUint(zone, 10, 31); err == nil && n > 0 {
		return int(n), nil
	}
	return c.ifindex(zone)
}

// ifindex returns the index of the interface name in the namespace.
func (c *cli) ifindex(name string) (int, error) {
	lk, err := c.linkTable()
	if err != nil {
		return 0, err
	}
	if i, ok := lk.byName[name]; ok {
		return i, nil
	}
	return 0, errors.New("no such interface")
}

// parseHexAddr reads a non-IP address: bytes in hex separated by ':' or
// '-' (02:00:00:00:00:02), or 0x followed by an even number of hex digits.
func parseHexAddr(s string) ([]byte, error) {
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		return hex.DecodeString(h)
	}
	sep := ":"
	if strings.Contains(s, "-") {
		sep = "-"
	}
	var b []byte
	for _, part := range strings.Split(s, sep) {
		if len(part) != 2 {
			return nil, strconv.ErrSyntax
		}
		v, err := hex.DecodeString(part)
		if err != nil {
			return nil, err
		}
		b = append(b, v...)
	}
	return b, nil
}

// locatorText writes a locator in the grammar parseLocators reads, the
// device by name: "inet6 fe80::2 dev eth0 port 7000".
func (c *cli) locatorText(l mhostnl.Locator) string {
	s := c.familyName(l.Family) + " " + l.AddrString()
	if l.Ifindex != 0 {
		s += " dev " + c.devName(l.Ifindex)
	}
	if l.Port != 0 {
		s += " port " + strconv.Itoa(int(l.Port))
	}
	return s
}

// devName names a device by index: its name, from the namespace's list
// of interfaces taken once per run, or the index when it has none.
func (c *cli) devName(index int) string {
	if index == 0 {
		return ""
	}
	if lk, err := c.linkTable(); err == nil {
		if n, ok := lk.byIndex[index]; ok {
			return n
		}
	}
	return strconv.Itoa(index)
}
