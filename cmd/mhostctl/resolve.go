//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mnet/mnet/gosdk/mhostnl"
)

// deriveID returns the host id mhostctl gives NAME when none is asked
// for: the 32-bit FNV-1a hash of the name in lower case without its
// trailing dot, or 1 when that is 0. Every machine derives the same id for
// the same name.
func deriveID(name string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(strings.TrimSuffix(strings.ToLower(name), ".")))
	if id := h.Sum32(); id != 0 {
		return id
	}
	return 1
}

// resolveLocators looks name up (AAAA and A) and returns its addresses
// as locators, IPv6 first, at most MaxLocators of them: when there are
// more, up to half of them of each family. It fails when neither lookup
// gives an address; a failure of one lookup while the other succeeds is
// returned as a warning.
func resolveLocators(ctx context.Context, r netResolver, name string, port uint16) (locs []mhostnl.Locator, warning string, err error) {
	var notFound error // a lookup that found no record of its type
	lookup := func(network string) ([]netip.Addr, error) {
		addrs, err := r.LookupNetIP(ctx, network, name)
		var (
			de *net.DNSError
			ae *net.AddrError // "no suitable address": /etc/hosts had only the other family
		)
		if errors.As(err, &de) && de.IsNotFound || errors.As(err, &ae) {
			notFound = err
			return nil, nil
		}
		var out []netip.Addr
		for _, a := range addrs {
			a = a.Unmap()
			if (network == "ip4") == a.Is4() && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
		return out, err
	}
	v6, err6 := lookup("ip6")
	v4, err4 := lookup("ip4")
	if len(v6) == 0 && len(v4) == 0 {
		switch {
		case err6 != nil:
			return nil, "", err6
		case err4 != nil:
			return nil, "", err4
		case notFound != nil:
			return nil, "", notFound
		}
		return nil, "", fmt.Errorf("%s: no IPv4 or IPv6 address", name)
	}
	switch {
	case err6 != nil:
		warning = fmt.Sprintf("IPv6 lookup failed, using IPv4 only: %v", err6)
	case err4 != nil:
		warning = fmt.Sprintf("IPv4 lookup failed, using IPv6 only: %v", err4)
	}

	const half = mhostnl.MaxLocators / 2
	n6 := min(len(v6), max(mhostnl.MaxLocators-len(v4), half))
	n4 := min(len(v4), mhostnl.MaxLocators-n6)
	if n6+n4 < len(v6)+len(v4) {
		drop := fmt.Sprintf("%s has %d addresses; using %d IPv6 and %d IPv4 ones", name, len(v6)+len(v4), n6, n4)
		if warning != "" {
			warning += "; "
		}
		warning += drop
	}
	for _, a := range append(v6[:n6], v4[:n4]...) {
		locs = append(locs, mhostnl.Locator{Addr: a, Port: port})
	}
	// Give each locator its family, as the kernel reports them.
	for i := range locs {
		if locs[i].Addr.Is4() {
			locs[i].Family = mhostnl.FamilyInet
		} else {
			locs[i].Family = mhostnl.FamilyInet6
		}
	}
	return locs, warning, nil
}

func hostResolve(c *cli, cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	idArg := fs.String("id", "", "")
	portArg := fs.Uint("port", 0, "")
	replace := fs.Bool("replace", false, "")
	timeout := fs.Duration("timeout", 10*time.Second, "")
	args, err := flags(cmd, fs, args)
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return usagef(cmd, "want one NAME, got %d arguments", len(args))
	}
	name := args[0]
	id := deriveID(name)
	if *idArg != "" {
		if id, err = parseID(cmd, *idArg); err != nil {
			return err
		}
	}
	if *portArg > 65535 {
		return usagef(cmd, "invalid --port %d: want 1 to 65535", *portArg)
	}
	if *timeout <= 0 {
		return usagef(cmd, "invalid --timeout %v", *timeout)
	}

	ctx, cancel := context.WithTimeout(c.ctx, *timeout)
	defer cancel()
	locs, warning, err := resolveLocators(ctx, c.resolver, name, uint16(*portArg))
	if err != nil {
		return fail(cmd, err)
	}
	if warning != "" {
		c.warnf("%s: %s", cmd, warning)
	}

	b, err := c.backend()
	if err != nil {
		return fail(cmd, err)
	}
	h := mhostnl.Host{ID: id, Locators: locs}
	if *replace {
		err = b.SetHost(h)
	} else {
		err = b.AddHost(h)
	}
	if err != nil {
		return hinted(cmd, err, "host "+strconv.FormatUint(uint64(id), 10)+" exists: use --replace to overwrite it")
	}
	if c.json {
		return c.printJSON(jsonResolved{ID: id, Name: name, Locators: c.jsonLocators(locs)})
	}
	_, err = fmt.Fprintln(c.stdout, id)
	return err
}
