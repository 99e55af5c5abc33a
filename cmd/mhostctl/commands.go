package main

import (
	"cmp"
	"errors"
	"flag"
	"os"
	"slices"
	"strconv"

	"github.com/mnet/mnet/gosdk/mhostnl"
)

func init() {
	register("proto list", &command{
		synopsis: "mhostctl proto list",
		summary:  "list the network layers mhost can send over",
		help: `Columns: the family number, the name to use in locators, the owning
module ("kernel" for IPv4 and IPv6), the address length in bytes, and the
datagrams sent and received over the layer.

JSON: [{"name": "inet", "family_number": 2, "module": "kernel", "addr_len": 4,
        "tx_packets": 0, "rx_packets": 0}, ...]
`,
		run: protoList,
	})
	hostJSON := `JSON: [{"id": 7, "locators": [{"family": "inet6", "family_number": 10,
        "address": "fd00::2", "port": 0, "ifindex": 0, "dev": "",
        "tx_packets": 0, "tx_errors": 0}, ...]}, ...]
`
	register("host add", &command{
		synopsis: "mhostctl host add ID LOCATOR...",
		summary:  "add a host; fails if it exists",
		help: `Adds host ID (1 to 4294967295, decimal or 0x hex) with the locators given,
in order. Fails if the table has the host already: 'host set' replaces.

Example: mhostctl host add 7 inet6 fd00::2 inet 10.0.0.2
`,
		run: hostNew(mhostnl.HostFlagCreate, "use 'mhostctl host set' to replace it"),
	})
	register("host set", &command{
		synopsis: "mhostctl host set ID LOCATOR...",
		summary:  "add a host, or replace its locators",
		help:     "Example: mhostctl host set 7 inet 10.0.0.2 port 7000\n",
		run:      hostNew(mhostnl.HostFlagCreate|mhostnl.HostFlagReplace, ""),
	})
	register("host replace", &command{
		synopsis: "mhostctl host replace ID LOCATOR...",
		summary:  "replace the locators of a host; fails if it does not exist",
		run:      hostNew(mhostnl.HostFlagReplace, "use 'mhostctl host set' to create it"),
	})
	register("host append", &command{
		synopsis: "mhostctl host append [--create] ID LOCATOR...",
		summary:  "add locators to the end of a host's list",
		help: `Fails if there is no host ID, unless --create is given. A host has at most
8 locators.

Example: mhostctl host append 7 inet 192.0.2.7
`,
		run: hostAppend,
	})
	register("host del", &command{
		synopsis: "mhostctl host del ID",
		summary:  "delete a host",
		run:      hostDel,
	})
	register("host show", &command{
		synopsis: "mhostctl host show [ID]",
		summary:  "show one host or all of them",
		help: `One row per locator: the host id, the locator, and the datagrams sent over
it and the sends that failed on it (making mhost try the next locator).

` + hostJSON + "\nThe JSON is a list even for one host.\n",
		run: hostShow,
	})
	register("host flush", &command{
		synopsis: "mhostctl host flush",
		summary:  "delete every host",
		run:      hostFlush,
	})
	register("host resolve", &command{
		synopsis: "mhostctl host resolve NAME [--id N] [--port P] [--replace] [--timeout D]",
		summary:  "add a host from the DNS addresses of NAME",
		help: `Looks NAME up with the system's resolver (/etc/hosts, then the DNS servers
of /etc/resolv.conf; AAAA and A records) and adds one host whose locators
are its IPv6 addresses, then its IPv4 ones (at most 8: when there are more,
up to 4 of each family). Prints the host id.

  --id N       the host id; by default it is derived from NAME: the 32-bit
               FNV-1a hash of NAME in lower case without a trailing dot
               (1 if that is 0), so every machine derives the same id
  --port P     send to port P instead of the application's, on every locator
  --replace    replace the host if it exists (else that is an error)
  --timeout D  give up on DNS after D (default 10s)

JSON: {"id": 7, "name": "peer.example.net", "locators": [...]}, the locators
as in 'host show'.

Example: mhostctl host resolve peer.example.net --port 7000
`,
		run: hostResolve,
	})
	register("sock list", &command{
		synopsis: "mhostctl sock list",
		summary:  "list the open AF_MHOST sockets",
		help: `Columns: the bound port, the owner, the socket inode (as in /proc/PID/fd),
the bytes queued to read and to send, the datagrams dropped on receive, and
the host id the socket is connected to.

JSON: [{"port": 7000, "uid": 0, "inode": 1234, "rx_queue": 0, "tx_queue": 0,
        "drops": 0, "peer_host_id": 0}, ...]
`,
		run: sockList,
	})
	register("stats", &command{
		synopsis: "mhostctl stats",
		summary:  "show the counters of the namespace",
		help: `JSON: {"hosts": 0, "sockets": 0, "tx_host_id": 0, "tx_failover": 0,
       "tx_unreach": 0, "rx_l3_unknown": 0, "hosts_allocated": 0, "tx_l3": 0,
       "rx_l3": 0, "rx_l3_short": 0, "rx_l3_bad_header": 0, "rx_l3_bad_len": 0,
       "rx_l3_truncated": 0, "rx_l3_no_socket": 0, "rx_l3_bad_csum": 0,
       "rx_l3_dev_disabled": 0}
hosts_allocated counts the hosts of every namespace.
`,
		run: stats,
	})
	register("monitor", &command{
		synopsis: "mhostctl monitor [--count N]",
		summary:  "print host-table changes as they happen",
		help: `Prints one line per change until interrupted, or until N changes with
--count N:
  new host 7 inet6 fd00::2 inet 10.0.0.2
  del host 7
  flush

JSON: one object per line: {"event": "new", "id": 7, "locators": [...]},
{"event": "del", "id": 7}, {"event": "flush"}.
`,
		run: monitor,
	})
}

func protoList(c *cli, cmd string, args []string) error {
	if _, err := noArgs(cmd, args); err != nil {
		return err
	}
	ps, err := c.protocols()
	if err != nil {
		return fail(cmd, err)
	}
	return c.renderProtocols(ps)
}

// parseID reads a host id: 1 to 2^32-1, decimal or 0x hexadecimal.
func parseID(cmd, s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil || n == 0 {
		return 0, usagef(cmd, "invalid host id %q: want 1 to 4294967295", s)
	}
	return uint32(n), nil
}

// hostArgs parses "ID LOCATOR...".
func (c *cli) hostArgs(cmd string, args []string) (mhostnl.Host, error) {
	if len(args) == 0 {
		return mhostnl.Host{}, usagef(cmd, "missing host ID")
	}
	id, err := parseID(cmd, args[0])
	if err != nil {
		return mhostnl.Host{}, err
	}
	locs, err := c.parseLocators(cmd, args[1:])
	if err != nil {
		return mhostnl.Host{}, err
	}
	return mhostnl.Host{ID: id, Locators: locs}, nil
}

func hostNew(flags uint32, existsHint string) func(c *cli, cmd string, args []string) error {
	return func(c *cli, cmd string, args []string) error {
		args, err := noFlags(cmd, args)
		if err != nil {
			return err
		}
		h, err := c.hostArgs(cmd, args)
		if err != nil {
			return err
		}
		b, err := c.backend()
		if err != nil {
			return fail(cmd, err)
		}
		switch flags {
		case mhostnl.HostFlagCreate:
			err = b.AddHost(h)
		case mhostnl.HostFlagCreate | mhostnl.HostFlagReplace:
			err = b.SetHost(h)
		default:
			err = b.ReplaceHost(h)
		}
		return hinted(cmd, err, existsHint)
	}
}

// hinted wraps err, a failure of cmd, with hint when the host's existence
// or absence was the problem.
func hinted(cmd string, err error, hint string) error {
	if err == nil {
		return nil
	}
	ce := &cmdError{cmd: cmd, err: err}
	if errors.Is(err, os.ErrExist) || errors.Is(err, os.ErrNotExist) {
		ce.hint = hint
	}
	return ce
}

func hostAppend(c *cli, cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	create := fs.Bool("create", false, "")
	args, err := flags(cmd, fs, args)
	if err != nil {
		return err
	}
	h, err := c.hostArgs(cmd, args)
	if err != nil {
		return err
	}
	b, err := c.backend()
	if err != nil {
		return fail(cmd, err)
	}
	return hinted(cmd, b.AppendLocators(h.ID, h.Locators, *create), "use --create to create it")
}

func hostDel(c *cli, cmd string, args []string) error {
	args, err := noFlags(cmd, args)
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return usagef(cmd, "want one host ID, got %d arguments", len(args))
	}
	id, err := parseID(cmd, args[0])
	if err != nil {
		return err
	}
	b, err := c.backend()
	if err != nil {
		return fail(cmd, err)
	}
	if err := b.DeleteHost(id); err != nil {
		return fail(cmd, err)
	}
	return nil
}

func hostShow(c *cli, cmd string, args []string) error {
	args, err := noFlags(cmd, args)
	if err != nil {
		return err
	}
	var id uint32
	switch len(args) {
	case 0:
	case 1:
		if id, err = parseID(cmd, args[0]); err != nil {
			return err
		}
	default:
		return usagef(cmd, "want at most one host ID, got %d arguments", len(args))
	}
	b, err := c.backend()
	if err != nil {
		return fail(cmd, err)
	}
	var hosts []mhostnl.Host
	if id != 0 {
		h, err := b.Host(id)
		if err != nil {
			return fail(cmd, err)
		}
		hosts = []mhostnl.Host{*h}
	} else if hosts, err = b.Hosts(); err != nil {
		return fail(cmd, err)
	}
	slices.SortFunc(hosts, func(a, b mhostnl.Host) int { return cmp.Compare(a.ID, b.ID) })
	return c.renderHosts(hosts)
}

func hostFlush(c *cli, cmd string, args []string) error {
	if _, err := noArgs(cmd, args); err != nil {
		return err
	}
	b, err := c.backend()
	if err != nil {
		return fail(cmd, err)
	}
	if err := b.FlushHosts(); err != nil {
		return fail(cmd, err)
	}
	return nil
}

func sockList(c *cli, cmd string, args []string) error {
	if _, err := noArgs(cmd, args); err != nil {
		return err
	}
	b, err := c.backend()
	if err != nil {
		return fail(cmd, err)
	}
	ss, err := b.Sockets()
	if err != nil {
		return fail(cmd, err)
	}
	slices.SortStableFunc(ss, func(a, b mhostnl.Socket) int { return cmp.Compare(a.Port, b.Port) })
	return c.renderSockets(ss)
}

func stats(c *cli, cmd string, args []string) error {
	if _, err := noArgs(cmd, args); err != nil {
		return err
	}
	b, err := c.backend()
	if err != nil {
		return fail(cmd, err)
	}
	s, err := b.Stats()
	if err != nil {
		return fail(cmd, err)
	}
	return c.renderStats(s)
}

func monitor(c *cli, cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	count := fs.Int("count", 0, "")
	args, err := flags(cmd, fs, args)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		return usagef(cmd, "unexpected argument %q", args[0])
	}
	if *count < 0 {
		return usagef(cmd, "invalid --count %d", *count)
	}
	b, err := c.backend()
	if err != nil {
		return fail(cmd, err)
	}
	w, err := b.Watch(c.ctx)
	if err != nil {
		return fail(cmd, err)
	}
	defer w.Close()
	for n := 0; *count == 0 || n < *count; {
		ev, err := w.Next()
		switch {
		case c.ctx.Err() != nil:
			return nil // interrupted: the normal end
		case errors.Is(err, mhostnl.ErrEventsLost) || errors.Is(err, mhostnl.ErrMalformed):
			c.warnf("%s: %s", cmd, describe(err))
			continue
		case err != nil:
			return fail(cmd, err)
		}
		if err := c.renderEvent(ev); err != nil {
			return fail(cmd, err)
		}
		n++
	}
	return nil
}

// noArgs checks that a command without arguments got none.
func noArgs(cmd string, args []string) ([]string, error) {
	args, err := noFlags(cmd, args)
	if err != nil {
		return nil, err
	}
	if len(args) > 0 {
		return nil, usagef(cmd, "unexpected argument %q", args[0])
	}
	return nil, nil
}
