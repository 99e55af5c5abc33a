//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/mnet/mnet/gosdk/mhostnl"
)

// Exit statuses, as ip(8)'s.
const (
	exitOK     = 0
	exitUsage  = 1 // the command line is wrong, or cannot run here
	exitKernel = 2 // the kernel refused or failed, or a lookup the command needed did
)

// backend is what mhostctl needs of the kernel; *mhostnl.Client through
// the kernel adapter, a fake in tests.
type backend interface {
	Protocols() ([]mhostnl.Protocol, error)
	Hosts() ([]mhostnl.Host, error)
	Host(id uint32) (*mhostnl.Host, error)
	AddHost(h mhostnl.Host) error
	SetHost(h mhostnl.Host) error
	AddHosts(hs []mhostnl.Host) error
	SetHosts(hs []mhostnl.Host) error
	ReplaceHost(h mhostnl.Host) error
	AppendLocators(id uint32, locs []mhostnl.Locator, create bool) error
	DeleteHost(id uint32) error
	FlushHosts() error
	Sockets() ([]mhostnl.Socket, error)
	Stats() (*mhostnl.Stats, error)
	Devices() ([]mhostnl.Device, error)
	Device(ifindex int) (*mhostnl.Device, error)
	SetDevice(ifindex int, l3 bool) error
	Liveness() (*mhostnl.LiveSettings, error)
	SetLiveness(s mhostnl.LiveSettings) error
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
	stdin          io.Reader
	// dial opens the kernel connection in the network namespace netns
	// (a file descriptor; 0 for mhostctl's own).
	dial func(netns int) (backend, error)
	// links lists the network interfaces of netns, once per run.
	links func(netns int) (*links, error)
	// openNetNS opens the network namespace -n names.
	openNetNS func(name string) (fd int, close func(), err error)
	resolver  netResolver
	// now is the time, for how long ago the kernel heard from locators.
	now func() time.Time
}

// links maps the interfaces of a namespace between names and indexes.
type links struct {
	byName  map[string]int
	byIndex map[int]string
}

// cli is one run of the command.
type cli struct {
	*env
	ctx    context.Context
	json   bool // -j: JSON
	pretty bool // -p: indented JSON
	stats  bool // -s: counters in tables
	netns  int  // -n: the namespace's file descriptor, 0 for ours

	b         backend // opened on first use
	protos    []mhostnl.Protocol
	protosErr error
	lk        *links // listed on first use
	lkErr     error

	batch *batchRun // while running -b FILE
}

// A usageError is a command line mhostctl cannot run; it exits 1.
type usageError struct {
	cmd string // "host add"
	msg string
}

func (e *usageError) Error() string { return e.msg }

func usagef(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// A cmdError is a failure of a command; it exits 2.
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
	err := c.main(args)
	if c.b != nil {
		c.b.Close()
	}
	return c.report(err)
}

// options are mhostctl's own options, before the object as for ip(8); the
// ones without a value may also come anywhere after it.
type options struct {
	help, version bool
	netns, batch  string
}

func (c *cli) main(args []string) error {
	opts, args, err := c.options(args)
	if err != nil {
		return err
	}
	switch {
	case opts.version:
		c.printVersion()
		return nil
	case opts.batch != "" && (len(args) > 0 || opts.help):
		return usagef("", "-b takes no command: the commands come from %s", opts.batch)
	}
	if opts.netns != "" {
		fd, closeNS, err := c.openNetNS(opts.netns)
		if err != nil {
			return usagef("", "cannot open network namespace %q: %v", opts.netns, err)
		}
		defer closeNS()
		c.netns = fd
	}
	if opts.batch != "" {
		return c.runBatch(opts.batch)
	}
	return c.command(args, opts.help)
}

// options takes mhostctl's options out of args: -j, -p, -s and -h
// anywhere (no address, name or number mhostctl reads looks like them),
// -n NETNS, -b FILE and -V before the object.
func (c *cli) options(args []string) (options, []string, error) {
	var (
		o    options
		rest []string
	)
	leading := true
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch a {
		case "-j", "-json", "--json":
			c.json = true
			continue
		case "-p", "-pretty", "--pretty":
			c.pretty = true
			continue
		case "-s", "-stats", "--stats":
			c.stats = true
			continue
		case "-h", "-help", "--help":
			o.help = true
			continue
		}
		if !leading {
			rest = append(rest, a)
			continue
		}
		switch a {
		case "-V", "-version", "--version":
			o.version = true
		case "-n", "-netns", "--netns", "-b", "-batch", "--batch":
			if i+1 == len(args) {
				return o, nil, usagef("", "%s needs a value", a)
			}
			i++
			if strings.Contains(a, "n") {
				o.netns = args[i]
			} else {
				o.batch = args[i]
			}
		default:
			if strings.HasPrefix(a, "-") && a != "-" {
				return o, nil, usagef("", "unknown option %q", a)
			}
			leading = false
			rest = append(rest, a)
		}
	}
	return o, rest, nil
}

// printVersion prints the version of mhostctl: its module version and
// VCS revision as the Go toolchain recorded them, and the protocol it
// speaks.
func (c *cli) printVersion() {
	v, rev, dirty, gov := "(devel)", "", false, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		gov = bi.GoVersion
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if rev != "" {
		v += " " + rev[:min(len(rev), 12)]
		if dirty {
			v += "+dirty"
		}
	}
	fmt.Fprintf(c.stdout, "mhostctl %s, %s, generic netlink family %q\n", v, gov, "mhost")
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
		if c.batch != nil {
			return exitUsage
		}
		if u, ok := usages[ue.cmd]; ok {
			fmt.Fprintf(c.stderr, "usage: %s\n", u.synopsis)
		}
		if ue.cmd == "" {
			fmt.Fprintln(c.stderr, "Run 'mhostctl help' for the commands.")
		} else {
			fmt.Fprintf(c.stderr, "Run 'mhostctl help %s' for more.\n", ue.cmd)
		}
		return exitUsage
	}
	fmt.Fprintln(c.stderr, errorLine(err))
	return exitKernel
}

// errorLine says what went wrong and what to do about it:
// "mhostctl: host add: permission denied: needs CAP_NET_ADMIN".
func errorLine(err error) string {
	s := "mhostctl: "
	var ce *cmdError
	if errors.As(err, &ce) {
		s += ce.cmd + ": "
		err = ce.err
	}
	if errors.Is(err, mhostnl.ErrNotLoaded) {
		return s + "mhost module not loaded: run modprobe mhost"
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
	var be *mhostnl.BatchError
	if errors.As(err, &be) && len(be.Errors) > 0 {
		err = be.Errors[0].Err
	}
	var e *mhostnl.Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	cause := e.Err.Error()
	switch {
	case errors.Is(e, os.ErrPermission):
		s := "permission denied: needs CAP_NET_ADMIN"
		if e.Message != "" {
			s += " (" + e.Message + ")"
		}
		return s
	case e.Message != "" && e.Errno() != 0:
		return e.Message + " (" + cause + ")"
	case e.Message != "":
		return e.Message + ": " + cause
	}
	return cause
}

// backend returns the kernel connection, opening it on first use.
func (c *cli) backend() (backend, error) {
	if c.b == nil {
		b, err := c.dial(c.netns)
		if err != nil {
			return nil, err
		}
		c.b = b
	}
	return c.b, nil
}

// protocols returns the kernel's network layers, asking once.
func (c *cli) protocols() ([]mhostnl.Protocol, error) {
	if c.protos != nil || c.protosErr != nil {
		return c.protos, c.protosErr
	}
	b, err := c.backend()
	if err == nil {
		c.protos, err = b.Protocols()
	}
	c.protosErr = err
	return c.protos, err
}

// linkTable returns the interfaces of the namespace, listing them once.
func (c *cli) linkTable() (*links, error) {
	if c.lk == nil && c.lkErr == nil {
		c.lk, c.lkErr = c.links(c.netns)
	}
	return c.lk, c.lkErr
}

// A command is a leaf of the command tree.
type command struct {
	synopsis string // "host add ID LOCATOR..."
	summary  string // one line for the command list
	help     string // the rest of its help
	run      func(c *cli, cmd string, args []string) error
}

// usages indexes the commands by canonical name ("host add").
var usages = map[string]*command{}

// objectOrder and commandOrder list the objects and commands: for help,
// and for abbreviations, where a prefix of several names means the first
// of them, as in ip(8) ("h s" is "host show", "h a" "host add"). Reads
// come first, so that a short prefix never means a change unless no read
// has that prefix.
var (
	objectOrder  = []string{"host", "proto", "dev", "sock", "live", "stats", "monitor"}
	commandOrder = []string{
		"host show", "host add", "host append", "host set", "host replace", "host del", "host flush", "host resolve",
		"proto list",
		"dev show", "dev set",
		"sock list",
		"live show", "live set",
		"stats",
		"monitor",
	}
)

// objectAliases and verbAliases give the other names objects and verbs
// answer to, in full.
var objectAliases = map[string]string{
	"protocol": "proto", "protocols": "proto", "protos": "proto",
	"hosts":  "host",
	"socket": "sock", "sockets": "sock", "socks": "sock",
	"statistics": "stats", "stat": "stats",
	"mon":    "monitor",
	"device": "dev", "devices": "dev",
}

var verbAliases = map[string]map[string]string{
	"host":  {"list": "show", "ls": "show", "get": "show", "delete": "del", "remove": "del", "rm": "del"},
	"proto": {"show": "list", "ls": "list"},
	"dev":   {"list": "show", "ls": "show", "get": "show"},
	"live":  {"list": "show", "ls": "show", "get": "show"},
	"sock":  {"show": "list", "ls": "list"},
}

// verbs returns the verbs of obj in order: "" for objects without one.
func verbs(obj string) []string {
	var vs []string
	for _, name := range commandOrder {
		if o, v, _ := strings.Cut(name, " "); o == obj {
			vs = append(vs, v)
		}
	}
	return vs
}

// match finds what word abbreviates: an alias in full, else the first of
// names it is a prefix of, else the first alias, in alphabetical order.
func match(word string, names []string, aliases map[string]string) (string, bool) {
	if a, ok := aliases[word]; ok {
		return a, true
	}
	if word == "" {
		return "", false
	}
	for _, n := range names {
		if strings.HasPrefix(n, word) {
			return n, true
		}
	}
	for _, a := range slices.Sorted(maps.Keys(aliases)) {
		if strings.HasPrefix(a, word) {
			return aliases[a], true
		}
	}
	return "", false
}

// lookup resolves the object and verb at the start of args to a command
// name ("host add", "stats") and returns the arguments after them. It
// fails with a usage error naming what it could not resolve.
func lookup(args []string) (name string, rest []string, err error) {
	if len(args) == 0 {
		return "", nil, usagef("", "missing command")
	}
	obj, ok := match(args[0], objectOrder, objectAliases)
	if !ok {
		return "", nil, usagef("", "unknown command %q: one of %s", args[0], strings.Join(objectOrder, ", "))
	}
	vs := verbs(obj)
	if vs[0] == "" { // stats, monitor: no verb
		return obj, args[1:], nil
	}
	if len(args) == 1 {
		return obj, nil, usagef(obj, "missing command: one of %s", strings.Join(vs, ", "))
	}
	verb, ok := match(args[1], vs, verbAliases[obj])
	if !ok {
		return obj, nil, usagef(obj, "unknown command %q: one of %s", args[1], strings.Join(vs, ", "))
	}
	return obj + " " + verb, args[2:], nil
}

// command runs one command line.
func (c *cli) command(args []string, help bool) error {
	if len(args) > 0 && args[0] == "help" {
		return c.help(args[1:])
	}
	if len(args) == 0 && help {
		c.printHelp("")
		return nil
	}
	name, rest, err := lookup(args)
	if len(args) > 1 && args[1] == "help" { // "host help [VERB]"
		return c.help(append(args[:1:1], args[2:]...))
	}
	if help && (err == nil || name != "") {
		c.printHelp(name) // "host --help", "host add --help"
		return nil
	}
	if err != nil {
		return err
	}
	return usages[name].run(c, name, rest)
}

// help prints the help of a topic: nothing (every command), an object,
// a command ("host add", abbreviated or not), or a verb alone when one
// object has it ("help resolve").
func (c *cli) help(topic []string) error {
	if len(topic) == 0 {
		c.printHelp("")
		return nil
	}
	name, rest, err := lookup(topic)
	switch {
	case err == nil && len(rest) == 0:
		c.printHelp(name)
		return nil
	case len(topic) == 1 && name != "":
		c.printHelp(name) // an object
		return nil
	case len(topic) == 1:
		var found []string
		for _, n := range commandOrder {
			if _, v, _ := strings.Cut(n, " "); v != "" && strings.HasPrefix(v, topic[0]) {
				found = append(found, n)
			}
		}
		if len(found) == 1 {
			c.printHelp(found[0])
			return nil
		}
	}
	return usagef("help", "no help for %q: ask for one of %s, or a command", strings.Join(topic, " "), strings.Join(objectOrder, ", "))
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
	if slices.Contains(objectOrder, topic) {
		fmt.Fprintf(w, "usage: mhostctl [OPTIONS] %s COMMAND [ARGS]\n\nCommands:\n", topic)
		for _, name := range commandOrder {
			if o, _, _ := strings.Cut(name, " "); o == topic {
				listCommand(w, name)
			}
		}
		if topic == "host" {
			io.WriteString(w, "\n"+locatorHelp)
		}
		fmt.Fprintf(w, "\nRun 'mhostctl help %s COMMAND' for more.\n", topic)
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
mhost can use, the devices plugged-in layers may use, its sockets, path
liveness and its counters.

usage: mhostctl [OPTIONS] OBJECT COMMAND [ARGS]
       mhostctl [OPTIONS] -b FILE
       mhostctl help [OBJECT [COMMAND]]

Commands (any unique prefix will do; a prefix of several means the first
listed, as in ip(8): 'mhostctl h s' is 'mhostctl host show'):
`

const locatorHelp = `LOCATOR := [KIND] ADDRESS [port PORT] [dev IFNAME]
  KIND     inet, inet6, or the name of a network layer another module plugged
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
  mhostctl dev set veth0 l3 on
  mhostctl host add 8 testproto dev veth0 02:00:00:00:00:02
  mhostctl -j -p host show 7
  mhostctl -n blue -s h s
  mhostctl -b hosts.batch
  mhostctl host resolve peer.example.net --port 7000
  mhostctl host set 7 inet6 fd00::2 inet 10.0.0.2 interval 100 multiplier 2
  mhostctl live set hold-down 2s revertive off
  mhostctl monitor --count 1
`

const globalHelp = `
Options:
  -j, --json     print JSON (stable snake_case keys), one line per document
  -p, --pretty   indent the JSON
  -s, --stats    show counters (host show: datagrams sent and failed per
                 locator); JSON always has them
  -n, --netns NETNS  work in network namespace NETNS (/run/netns/NETNS, as
                 'ip netns' names them, or a path)
  -b, --batch FILE   run the commands of FILE (- for standard input), one per
                 line; '#' starts a comment. Consecutive 'host add' (or
                 'host set') lines go to the kernel together, many per system
                 call. The batch stops at the first line that fails and says
                 which; the lines before it took effect.
  -V, --version  print the version
  -h, --help     print help for the object or command given
-j, -p, -s and -h may come anywhere; -n, -b and -V before the command.

Exit status, as ip(8)'s: 0 success; 1 the command line is wrong; 2 the
kernel refused or failed (the reason is on standard error).
`

// register adds a command to the tree.
func register(name string, cmd *command) {
	usages[name] = cmd
}

// warnf prints a warning.
func (c *cli) warnf(format string, args ...any) {
	fmt.Fprintf(c.stderr, "mhostctl: "+format+"\n", args...)
}
