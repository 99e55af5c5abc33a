package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/mnet/mnet/gosdk/mhostnl"
	"golang.org/x/sys/unix"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // the kernel refused or failed, or the command could not run
	exitUsage = 2 // the command line is wrong
)

// backend is what mhostctl needs of the kernel; *mhostnl.Client through
// the kernel adapter, a fake in tests.
type backend interface {
	Protocols() ([]mhostnl.Protocol, error)
	Hosts() ([]mhostnl.Host, error)
	Host(id uint32) (*mhostnl.Host, error)
	AddHost(h mhostnl.Host) error
	SetHost(h mhostnl.Host) error
	ReplaceHost(h mhostnl.Host) error
	AppendLocators(id uint32, locs []mhostnl.Locator, create bool) error
	DeleteHost(id uint32) error
	FlushHosts() error
	Sockets() ([]mhostnl.Socket, error)
	Stats() (*mhostnl.Stats, error)
	Watch(ctx context.Context) (watcher, error)
	Close() error
}

// watcher is what mhostctl needs of *mhostnl.Watcher.
type watcher interface {
	Next() (mhostnl.Event, error)
	Close() error
}

// env is everything mhostctl touches outside itself, so that tests can
// run every command without a kernel.
type env struct {
	stdout, stderr io.Writer
	dial           func() (backend, error)
	resolver       netResolver
	ifindex        func(name string) (int, error) // interface name → index
	ifname         func(index int) string         // index → name, "" if none
}

// cli is one run of the command.
type cli struct {
	*env
	ctx  context.Context
	json bool

	b      backend // opened on first use
	protos []mhostnl.Protocol
}

// A usageError is a command line mhostctl cannot run; it exits 2.
type usageError struct {
	cmd string // "host add"
	msg string
}

func (e *usageError) Error() string { return e.msg }

func usagef(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// A cmdError is a failure of a command; it exits 1.
type cmdError struct {
	cmd  string
	err  error
	hint string // what to do about it, if anything
}

func (e *cmdError) Error() string { return e.err.Error() }
func (e *cmdError) Unwrap() error { return e.err }

func fail(cmd string, err error) error { return &cmdError{cmd: cmd, err: err} }

// run runs mhostctl with the arguments args and returns its exit status.
func run(ctx context.Context, args []string, e *env) int {
	c := &cli{env: e, ctx: ctx}
	args, help := c.globalFlags(args)
	err := c.dispatch(args, help)
	if c.b != nil {
		c.b.Close()
	}
	return c.report(err)
}

// globalFlags takes -j/--json and -h/--help out of args, wherever they
// are: no address, name or number mhostctl reads can look like them.
func (c *cli) globalFlags(args []string) (rest []string, help bool) {
	for _, a := range args {
		switch a {
		case "-j", "-json", "--json":
			c.json = true
		case "-h", "-help", "--help":
			help = true
		default:
			rest = append(rest, a)
		}
	}
	return rest, help
}

// report prints what went wrong and returns the exit status.
func (c *cli) report(err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		prefix := "mhostctl: "
		if ue.cmd != "" {
			prefix += ue.cmd + ": "
		}
		fmt.Fprintf(c.stderr, "%s%s\n", prefix, ue.msg)
		if u, ok := usages[ue.cmd]; ok {
			fmt.Fprintf(c.stderr, "usage: %s\n", u.synopsis)
		}
		obj, _, _ := strings.Cut(ue.cmd, " ")
		if obj == "" {
			fmt.Fprintln(c.stderr, "Run 'mhostctl --help' for the commands.")
		} else {
			fmt.Fprintf(c.stderr, "Run 'mhostctl %s --help' for more.\n", ue.cmd)
		}
		return exitUsage
	}
	fmt.Fprintln(c.stderr, errorLine(err))
	return exitError
}

// errorLine says what went wrong and what to do about it:
// "mhostctl: host add: permission denied: needs CAP_NET_ADMIN".
func errorLine(err error) string {
	if errors.Is(err, mhostnl.ErrNotLoaded) {
		return "mhostctl: mhost module not loaded: run modprobe mhost"
	}
	s := "mhostctl: "
	var ce *cmdError
	if errors.As(err, &ce) {
		s += ce.cmd + ": "
		err = ce.err
	}
	s += describe(err)
	if ce != nil && ce.hint != "" {
		s += ": " + ce.hint
	}
	return s
}

// describe turns an error of the kernel into words: its explanation
// (extended acknowledgement) and errno, with advice for the lack of
// privilege.
func describe(err error) string {
	var e *mhostnl.Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	errno := e.Errno()
	cause := e.Err.Error()
	switch {
	case errno == unix.EPERM || errno == unix.EACCES:
		s := "permission denied: needs CAP_NET_ADMIN"
		if e.Message != "" {
			s += " (" + e.Message + ")"
		}
		return s
	case e.Message != "" && errno != 0:
		return e.Message + " (" + cause + ")"
	case e.Message != "":
		return e.Message + ": " + cause
	}
	return cause
}

// backend returns the kernel connection, opening it on first use.
func (c *cli) backend() (backend, error) {
	if c.b == nil {
		b, err := c.dial()
		if err != nil {
			return nil, err
		}
		c.b = b
	}
	return c.b, nil
}

// protocols returns the kernel's network layers, asking once.
func (c *cli) protocols() ([]mhostnl.Protocol, error) {
	if c.protos != nil {
		return c.protos, nil
	}
	b, err := c.backend()
	if err != nil {
		return nil, err
	}
	ps, err := b.Protocols()
	if err != nil {
		return nil, err
	}
	c.protos = ps
	return ps, nil
}

// A command is a leaf of the command tree.
type command struct {
	synopsis string // "host add ID LOCATOR..."
	summary  string // one line for the command list
	help     string // the rest of its --help
	run      func(c *cli, cmd string, args []string) error
}

// objects maps an object and its aliases to its commands, each verb with
// its aliases.
var objects = map[string]map[string]*command{}

// usages indexes the commands by canonical name ("host add").
var usages = map[string]*command{}

// objectAliases and verbAliases give the other names objects and verbs
// answer to.
var objectAliases = map[string]string{
	"protocol": "proto", "protocols": "proto", "protos": "proto",
	"hosts":  "host",
	"socket": "sock", "sockets": "sock", "socks": "sock",
	"statistics": "stats", "stat": "stats",
	"mon": "monitor",
}

var verbAliases = map[string]string{
	"ls": "list", "delete": "del", "remove": "del", "rm": "del",
	"get": "show", "list:host": "show", "ls:host": "show",
	"show:proto": "list", "show:sock": "list",
}

// commandOrder lists the commands for the help text.
var commandOrder = []string{
	"proto list",
	"host add", "host set", "host replace", "host append", "host del", "host show", "host flush", "host resolve",
	"sock list",
	"stats",
	"monitor",
}

func (c *cli) dispatch(args []string, help bool) error {
	if len(args) == 0 {
		if help {
			c.printHelp("")
			return nil
		}
		return usagef("", "missing command")
	}
	obj := args[0]
	if a, ok := objectAliases[obj]; ok {
		obj = a
	}
	if obj == "help" {
		c.printHelp(strings.Join(args[1:], " "))
		return nil
	}
	verbs, ok := objects[obj]
	if !ok {
		return usagef("", "unknown command %q", args[0])
	}
	// Objects with a single command (stats, monitor) take no verb.
	if cmd, ok := verbs[""]; ok {
		if help {
			c.printHelp(obj)
			return nil
		}
		return cmd.run(c, obj, args[1:])
	}
	if len(args) == 1 {
		if help {
			c.printHelp(obj)
			return nil
		}
		return usagef(obj, "missing command: one of %s", strings.Join(verbList(obj), ", "))
	}
	verb := args[1]
	if a, ok := verbAliases[verb+":"+obj]; ok {
		verb = a
	} else if a, ok := verbAliases[verb]; ok {
		verb = a
	}
	if verb == "help" {
		c.printHelp(obj)
		return nil
	}
	cmd, ok := verbs[verb]
	if !ok {
		return usagef(obj, "unknown command %q: one of %s", args[1], strings.Join(verbList(obj), ", "))
	}
	name := obj + " " + verb
	if help {
		c.printHelp(name)
		return nil
	}
	return cmd.run(c, name, args[2:])
}

func verbList(obj string) []string {
	var vs []string
	for _, name := range commandOrder {
		if o, v, _ := strings.Cut(name, " "); o == obj {
			vs = append(vs, v)
		}
	}
	return vs
}

// flags parses the options of a command, which may come before, after or
// between its arguments, and returns the arguments.
func flags(cmd string, fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usagef(cmd, "%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// noFlags parses the arguments of a command without options.
func noFlags(cmd string, args []string) ([]string, error) {
	return flags(cmd, flag.NewFlagSet(cmd, flag.ContinueOnError), args)
}

func (c *cli) printHelp(topic string) {
	w := c.stdout
	if cmd, ok := usages[topic]; ok {
		fmt.Fprintf(w, "usage: %s\n\n%s\n", cmd.synopsis, cmd.summary)
		if cmd.help != "" {
			fmt.Fprintf(w, "\n%s", cmd.help)
		}
		fmt.Fprint(w, globalHelp)
		return
	}
	if _, ok := objects[topic]; ok {
		fmt.Fprintf(w, "usage: mhostctl [-j] %s COMMAND [ARGS]\n\nCommands:\n", topic)
		for _, name := range commandOrder {
			if o, _, _ := strings.Cut(name, " "); o == topic {
				listCommand(w, name)
			}
		}
		if topic == "host" {
			io.WriteString(w, "\n"+locatorHelp)
		}
		fmt.Fprintf(w, "\nRun 'mhostctl %s COMMAND --help' for more.\n", topic)
		fmt.Fprint(w, globalHelp)
		return
	}
	fmt.Fprint(w, topHelp)
	for _, name := range commandOrder {
		listCommand(w, name)
	}
	io.WriteString(w, "\n"+locatorHelp+topExamples+globalHelp)
}

// listCommand writes a line of a command list: the synopsis and the
// summary, on the next line when the synopsis is long.
func listCommand(w io.Writer, name string) {
	const width = 40
	cmd := usages[name]
	syn := strings.TrimPrefix(cmd.synopsis, "mhostctl ")
	if len(syn) > width {
		fmt.Fprintf(w, "  %s\n  %-*s %s\n", syn, width, "", cmd.summary)
		return
	}
	fmt.Fprintf(w, "  %-*s %s\n", width, syn, cmd.summary)
}

const topHelp = `mhostctl controls the mhost kernel module (AF_MHOST sockets) over generic
netlink: the host table that maps host ids to locators, the network layers
mhost can use, its sockets and its counters. It works in the network
namespace it runs in.

usage: mhostctl [-j] OBJECT COMMAND [ARGS]

Commands:
`

const locatorHelp = `LOCATOR := [FAMILY] ADDRESS [port PORT] [dev IFNAME]
  FAMILY   inet, inet6, or the name of a network layer another module plugged
           in (see 'mhostctl proto list'); may be left out before an IP address
  ADDRESS  an IPv4 or IPv6 address, or for a plugged layer its address in hex:
           MAC style (02:00:00:00:00:02) or 0x-prefixed (0x020000000002)
  port     send to PORT instead of the port the application names
  dev      the device to send on: an inet6 scope (also written fe80::1%eth0)
           or a plugged layer's interface; not for inet
The options may come before or after the address. A host has 1 to 8
locators, tried in order: datagrams go over the first one that works.
`

const topExamples = `
Examples:
  mhostctl host add 7 inet6 fd00::2 inet 10.0.0.2
  mhostctl host set 7 inet6 fe80::2 dev eth0 port 7000 inet 10.0.0.2
  mhostctl host add 8 testproto dev veth0 02:00:00:00:00:02
  mhostctl -j host show 7
  mhostctl host resolve peer.example.net --port 7000
  mhostctl monitor --count 1
`

const globalHelp = `
Options (anywhere on the command line):
  -j, --json   print JSON (stable snake_case keys) instead of tables
  -h, --help   print help for the object or command given

Exit status: 0 success, 1 the kernel refused or failed (the reason is on
standard error), 2 the command line is wrong.
`

// register adds a command to the tree.
func register(name string, cmd *command) {
	obj, verb, _ := strings.Cut(name, " ")
	if objects[obj] == nil {
		objects[obj] = map[string]*command{}
	}
	objects[obj][verb] = cmd
	usages[name] = cmd
}

// warnf prints a warning.
func (c *cli) warnf(format string, args ...any) {
	fmt.Fprintf(c.stderr, "mhostctl: "+format+"\n", args...)
}
