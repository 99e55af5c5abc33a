package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mnet/mnet/gosdk/mhostnl"
	"golang.org/x/sys/unix"
)

func TestParseLocators(t *testing.T) {
	tests := []struct {
		args string
		want string // the locators, as mhostnl.Locator.String gives them
	}{
		{"inet6 fd00::2 inet 10.0.0.2", "inet6 fd00::2, inet 10.0.0.2"},
		{"fd00::2 10.0.0.2", "inet6 fd00::2, inet 10.0.0.2"},
		{"inet ::ffff:10.0.0.2", "inet 10.0.0.2"},
		{"inet 10.0.0.2 port 7000", "inet 10.0.0.2 port 7000"},
		{"inet port 7000 10.0.0.2", "inet 10.0.0.2 port 7000"},
		{"inet6 fe80::1%eth0 port 7000", "inet6 fe80::1 port 7000 dev 2"},
		{"inet6 fe80::1%3", "inet6 fe80::1 dev 3"},
		{"inet6 dev eth0 fe80::1", "inet6 fe80::1 dev 2"},
		{"inet6 dev eth0 fe80::1%eth0", "inet6 fe80::1 dev 2"},
		{"inet6 fe80::1 dev eth0 port 1 fd00::1", "inet6 fe80::1 port 1 dev 2, inet6 fd00::1"},
		{"testproto dev veth0 02:00:00:00:00:02", "family(1) 02:00:00:00:00:02 dev 5"},
		{"testproto 0x020000000002 port 9", "family(1) 02:00:00:00:00:02 port 9"},
		{"testproto 02-00-00-00-00-0A inet 10.0.0.1", "family(1) 02:00:00:00:00:0a, inet 10.0.0.1"},
		{"1.1.1.1 1.1.1.2 1.1.1.3 1.1.1.4 1.1.1.5 1.1.1.6 1.1.1.7 1.1.1.8",
			"inet 1.1.1.1, inet 1.1.1.2, inet 1.1.1.3, inet 1.1.1.4, inet 1.1.1.5, inet 1.1.1.6, inet 1.1.1.7, inet 1.1.1.8"},
	}
	for _, tt := range tests {
		tb := newTestbed()
		c := &cli{env: tb.env(), ctx: context.Background()}
		locs, err := c.parseLocators("host add", strings.Fields(tt.args))
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		var got []string
		for _, l := range locs {
			got = append(got, l.String())
		}
		if g := strings.Join(got, ", "); g != tt.want {
			t.Errorf("%q:\n got %s\nwant %s", tt.args, g, tt.want)
		}
		// Only a plugged layer's name needs the kernel's protocol list.
		if asked := len(tb.b.calls) > 0; asked != strings.Contains(tt.args, "testproto") {
			t.Errorf("%q: asked the kernel: %v", tt.args, tb.b.calls)
		}
	}
}

func TestParseLocatorsErrors(t *testing.T) {
	tests := []struct{ args, want string }{
		{"", "missing LOCATOR"},
		{"port 7 inet 1.2.3.4", `"port" before any locator`},
		{"dev eth0", `"dev" before any locator`},
		{"inet", "inet locator 1 has no address"},
		{"inet 1.2.3.4 inet6", "inet6 locator 2 has no address"},
		{"inet fd00::1", `"fd00::1" is not an IPv4 address`},
		{"inet 1.2.3.4%eth0", `invalid inet address "1.2.3.4%eth0"`},
		{"inet6 10.0.0.1", `"10.0.0.1" is not an IPv6 address`},
		{"inet6 ::ffff:10.0.0.1", "is not an IPv6 address"},
		{"inet6 nonsense", `invalid inet6 address "nonsense"`},
		{"inet 1.2.3.4 port", `"port" needs a value`},
		{"inet 1.2.3.4 port 0", `invalid port "0"`},
		{"inet 1.2.3.4 port 65536", `invalid port "65536"`},
		{"inet 1.2.3.4 port x", `invalid port "x"`},
		{"inet 1.2.3.4 port 1 port 2", "two ports"},
		{"inet 1.2.3.4 dev eth0", "inet locators take no device"},
		{"inet6 fd00::1 dev nope", `unknown device "nope"`},
		{"inet6 fd00::1 dev eth0 dev veth0", "two devices"},
		{"inet6 fe80::1%nope", `unknown device "nope"`},
		{"inet6 dev veth0 fe80::1%eth0", "names another device than dev veth0"},
		{"bogus 1", `unknown locator kind "bogus": want an IP address, or a kind before one: inet, inet6, testproto`},
		{"inte 1.2.3.4", `unknown locator kind "inte": want an IP address, or a kind before one: inet, inet6, testproto`},
		{"999.1.1.1", `invalid address "999.1.1.1": want an IP address, or a kind before one: inet, inet6, or a plugged network layer's name`},
		{"inet 1.2.3.4 fd00::1 01:02", `invalid address "01:02"`},
		{"testproto 02:00", "testproto addresses are 6 bytes long"},
		{"testproto zz:00:00:00:00:00", "invalid testproto address"},
		{"testproto 0x123", "invalid testproto address"},
		{"testproto 2:0:0:0:0:2", "invalid testproto address"},
		{"1.1.1.1 1.1.1.2 1.1.1.3 1.1.1.4 1.1.1.5 1.1.1.6 1.1.1.7 1.1.1.8 1.1.1.9", "too many locators"},
	}
	for _, tt := range tests {
		tb := newTestbed()
		c := &cli{env: tb.env(), ctx: context.Background()}
		_, err := c.parseLocators("host add", strings.Fields(tt.args))
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: err = %v, want a usage error", tt.args, err)
			continue
		}
		if !strings.Contains(ue.msg, tt.want) {
			t.Errorf("%q: err = %q, want it to say %q", tt.args, ue.msg, tt.want)
		}
	}
}

// Without the module, a locator typo is still a usage error that names
// the token and lists the kinds, never "module not loaded"; a token that
// cannot be a layer's name does not even make mhostctl ask the kernel.
func TestParseLocatorsKernelDown(t *testing.T) {
	tests := []struct {
		args   string
		code   int
		stderr string
		dials  int
	}{
		{"host add 7 inte 1.2.3.4", exitUsage,
			`mhostctl: host add: unknown locator kind "inte": want an IP address, or a kind before one: inet, inet6 (the kernel's plugged network layers could not be listed)`, 1},
		{"host add 7 999.1.1.1", exitUsage, `mhostctl: host add: invalid address "999.1.1.1": want an IP address, or a kind before one: inet, inet6, or a plugged network layer's name`, 0},
		{"host add 7 testproto 02:00:00:00:00:02", exitUsage, `unknown locator kind "testproto"`, 1},
		{"host add 7 inet 1.2.3.4", exitKernel, "mhostctl: host add: mhost module not loaded: run modprobe mhost\n", 1},
		{"host show", exitKernel, "mhostctl: host show: mhost module not loaded: run modprobe mhost\n", 1},
	}
	for _, tt := range tests {
		tb := newTestbed()
		tb.dialErr = mhostnl.ErrNotLoaded
		if code := tb.run(t, tt.args); code != tt.code {
			t.Errorf("%q: exit %d, want %d", tt.args, code, tt.code)
		}
		got := tb.stderr.String()
		if !strings.Contains(got, tt.stderr) {
			t.Errorf("%q: stderr %q, want it to contain %q", tt.args, got, tt.stderr)
		}
		if tt.code == exitUsage && strings.Contains(got, "not loaded") {
			t.Errorf("%q: a usage error says %q", tt.args, got)
		}
		if tb.dials != tt.dials {
			t.Errorf("%q: %d dials of the kernel, want %d", tt.args, tb.dials, tt.dials)
		}
	}
}

func TestCommands(t *testing.T) {
	tests := []struct {
		args  string
		calls []string
	}{
		{"host add 7 inet6 fd00::2 inet 10.0.0.2", []string{"AddHost 7 [inet6 fd00::2, inet 10.0.0.2]"}},
		{"host add 0x10 inet 10.0.0.2 port 53", []string{"AddHost 16 [inet 10.0.0.2 port 53]"}},
		{"host set 7 inet 10.0.0.2", []string{"SetHost 7 [inet 10.0.0.2]"}},
		{"host replace 7 inet 10.0.0.2", []string{"ReplaceHost 7 [inet 10.0.0.2]"}},
		{"host append 7 inet 10.0.0.3", []string{"AppendLocators 7 [inet 10.0.0.3] create=false"}},
		{"host append --create 7 inet 10.0.0.3", []string{"AppendLocators 7 [inet 10.0.0.3] create=true"}},
		{"host append 7 inet 10.0.0.3 --create", []string{"AppendLocators 7 [inet 10.0.0.3] create=true"}},
		{"host add 8 testproto dev veth0 02:00:00:00:00:02",
			[]string{"Protocols", "AddHost 8 [family(1) 02:00:00:00:00:02 dev 5]"}},
		{"host del 7", []string{"DeleteHost 7"}},
		{"host delete 7", []string{"DeleteHost 7"}},
		{"host flush", []string{"FlushHosts"}},
		{"host show", []string{"Hosts"}},
		{"hosts ls", []string{"Hosts"}},
		{"host show 7", []string{"Host 7"}},
		{"-j host get 7", []string{"Host 7"}},
		{"proto list", []string{"Protocols"}},
		{"protocols show -j", []string{"Protocols"}},
		{"sock list", []string{"Sockets"}},
		{"sockets ls", []string{"Sockets"}},
		{"stats", []string{"Stats"}},
		{"stats --json", []string{"Stats"}},
		{"dev show", []string{"Devices"}},
		{"dev show eth0", []string{"Device 2"}},
		{"devices ls -j", []string{"Devices"}},
		{"dev set veth0 l3 on", []string{"SetDevice 5 l3=true"}},
		{"dev set eth0 l3 off", []string{"SetDevice 2 l3=false"}},
		{"device set lo l3 on", []string{"SetDevice 1 l3=true"}},
		{"-n blue dev set ns-veth0 l3 on", []string{"SetDevice 5 l3=true"}}, // DEV is named in the namespace
		{"host set 7 inet6 fd00::2 interval 100 multiplier 2 inet 10.0.0.2 hold-down 2s revertive off",
			[]string{"SetHost 7 [inet6 fd00::2, inet 10.0.0.2] live [interval 100ms multiplier 2 hold-down 2s revertive off]"}},
		{"host add 7 inet 10.0.0.2 port 7000 interval 0", []string{"AddHost 7 [inet 10.0.0.2 port 7000] live [interval 0s]"}},
		{"host replace 7 inet 10.0.0.2 revertive on", []string{"ReplaceHost 7 [inet 10.0.0.2] live [revertive on]"}},
		{"live show", []string{"Liveness"}},
		{"live set interval 500 hold-down 2000 revertive off", []string{"SetLiveness interval 500ms hold-down 2s revertive off"}},
		{"live set port 7868 answer off multiplier 5", []string{"SetLiveness multiplier 5 port 7868 answer off"}},
	}
	for _, tt := range tests {
		tb := newTestbed()
		tb.b.hosts = []mhostnl.Host{{ID: 7}}
		if code := tb.run(t, tt.args); code != exitOK {
			t.Errorf("%q: exit %d, stderr %q", tt.args, code, tb.stderr.String())
		}
		if !reflect.DeepEqual(tb.b.calls, tt.calls) {
			t.Errorf("%q: calls\n %q\nwant %q", tt.args, tb.b.calls, tt.calls)
		}
		if !tb.b.closed {
			t.Errorf("%q: the kernel connection was not closed", tt.args)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct{ args, stderr string }{
		{"", "mhostctl: missing command\nRun 'mhostctl help' for the commands.\n"},
		{"bogus", `mhostctl: unknown command "bogus"`},
		{"host", "mhostctl: host: missing command: one of show, add, append, set, replace, del, flush, resolve\n"},
		{"host bogus", `mhostctl: host: unknown command "bogus"`},
		{"host add", "mhostctl: host add: missing host ID\nusage: mhostctl host add ID LOCATOR... [KNOB VALUE]...\nRun 'mhostctl help host add' for more.\n"},
		{"host add 7", "mhostctl: host add: missing LOCATOR"},
		{"host add x inet 1.1.1.1", `mhostctl: host add: invalid host id "x"`},
		{"host add 0 inet 1.1.1.1", `invalid host id "0"`},
		{"host add 4294967296 inet 1.1.1.1", `invalid host id "4294967296"`},
		{"host set 7 inet", "inet locator 1 has no address"},
		{"host del", "mhostctl: host del: want one host ID, got 0 arguments"},
		{"host del 1 2", "want one host ID, got 2 arguments"},
		{"host show 1 2", "want at most one host ID"},
		{"host flush now", `unexpected argument "now"`},
		{"proto list extra", `mhostctl: proto list: unexpected argument "extra"`},
		{"sock list x", `unexpected argument "x"`},
		{"stats x", `mhostctl: stats: unexpected argument "x"`},
		{"monitor --count -1", "invalid --count -1"},
		{"monitor --count x", "invalid value"},
		{"monitor x", `unexpected argument "x"`},
		{"host append --bogus 7 inet 1.2.3.4", "flag provided but not defined: -bogus"},
		{"host add --create 7 inet 1.2.3.4", "flag provided but not defined: -create"},
		{"host resolve", "want one NAME, got 0 arguments"},
		{"host resolve a b", "want one NAME, got 2 arguments"},
		{"host resolve a --id 0", `invalid host id "0"`},
		{"host resolve a --port 70000", "invalid --port 70000"},
		{"host resolve a --timeout 0s", "invalid --timeout"},
		{"dev set", "mhostctl: dev set: missing device\nusage: mhostctl dev set DEV l3 on|off\n"},
		{"dev set veth0", "nothing to set: want l3 on or l3 off"},
		{"dev set veth0 l3", "l3 needs a value: on or off"},
		{"dev set veth0 l3 yes", `invalid l3 "yes": want on or off`},
		{"dev set veth0 l3 on l3 off", "l3 given twice"},
		{"dev set veth0 mtu 1500", `unknown setting "mtu": want l3`},
		{"dev set nosuch l3 on", `mhostctl: dev set: unknown device "nosuch": no such interface`},
		{"dev show nosuch", `unknown device "nosuch"`},
		{"dev show lo eth0", "want at most one device, got 2 arguments"},
		{"dev bogus", `mhostctl: dev: unknown command "bogus": one of show, set`},
		{"dev set --l3 veth0", "flag provided but not defined: -l3"},
		{"host set 7 inet 1.2.3.4 interval", `"interval" needs a value`},
		{"host set 7 inet 1.2.3.4 interval 1.5ms", `invalid interval "1.5ms"`},
		{"host set 7 inet 1.2.3.4 hold-down 1x", `invalid hold-down "1x"`},
		{"host set 7 inet 1.2.3.4 multiplier 300", `invalid multiplier "300"`},
		{"host set 7 inet 1.2.3.4 revertive yes", `invalid revertive "yes": want on or off`},
		{"host set 7 interval 100 interval 200 inet 1.2.3.4", "interval given twice"},
		{"host append 7 inet 1.2.3.4 interval 100", "host append: a host keeps its knobs on append"},
		{"live", "mhostctl: live: missing command: one of show, set\n"},
		{"live show x", `unexpected argument "x"`},
		{"live set", "nothing to set"},
		{"live set interval", `"interval" needs a value`},
		{"live set bogus 1", `unknown setting "bogus"`},
		{"live set port 0", `invalid port "0"`},
		{"live set answer maybe", `invalid answer "maybe"`},
		{"live set port 1 port 2", "port given twice"},
	}
	for _, tt := range tests {
		tb := newTestbed()
		if code := tb.run(t, tt.args); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", tt.args, code, exitUsage)
		}
		if !strings.Contains(tb.stderr.String(), tt.stderr) {
			t.Errorf("%q: stderr\n%s\nwant it to contain %q", tt.args, tb.stderr.String(), tt.stderr)
		}
		if tb.dials != 0 {
			t.Errorf("%q: a usage error opened the kernel connection", tt.args)
		}
		if tb.stdout.Len() != 0 {
			t.Errorf("%q: stdout %q, want nothing", tt.args, tb.stdout.String())
		}
	}
}

func TestHelp(t *testing.T) {
	tests := []struct{ args, want string }{
		{"--help", "usage: mhostctl [OPTIONS] OBJECT COMMAND [ARGS]"},
		{"-h", "LOCATOR := [KIND] ADDRESS [port PORT] [dev IFNAME]"},
		{"help", "Exit status, as ip(8)'s: 0 success; 1 the command line is wrong; 2 the\nkernel refused or failed"},
		{"host --help", "usage: mhostctl [OPTIONS] host COMMAND [ARGS]"},
		{"help host", "host resolve NAME"},
		{"host help", "host append [--create] ID LOCATOR..."},
		{"host add -h", "usage: mhostctl host add ID LOCATOR... [KNOB VALUE]...\n\nadd a host; fails if it exists"},
		{"host add 7 inet 1.2.3.4 --help", "Example: mhostctl host add 7 inet6 fd00::2 inet 10.0.0.2"},
		{"host show --help", `JSON: [{"id": 7, "locators": [{"family": "inet6"`},
		{"host resolve -h", "FNV-1a hash of NAME in lower case"},
		{"proto --help", "proto list"},
		{"proto list --help", `"family_number": 2`},
		{"sock list -h", `"peer_host_id"`},
		{"stats -h", `"hosts_allocated"`},
		{"monitor --help", `{"event": "del", "id": 7}`},
		{"help dev", "dev set DEV l3 on|off"},
		{"dev --help", "usage: mhostctl [OPTIONS] dev COMMAND [ARGS]"},
		{"dev set -h", "Devices start disabled."},
		{"help dev show", `JSON: [{"dev": "veth0", "ifindex": 5, "l3": true}, ...]`},
		{"help", "dev show [DEV]"},
		{"monitor --help", "state host 7 inet6 fd00::2 up -> suspect (neigh)"},
		{"host set --help", "hold-down D"},
		{"live set -h", "answer on|off"},
		{"live show --help", `"port_error"`},
		{"stats -h", `"probes_sent"`},
	}
	for _, tt := range tests {
		tb := newTestbed()
		if code := tb.run(t, tt.args); code != exitOK {
			t.Errorf("%q: exit %d, stderr %q", tt.args, code, tb.stderr.String())
		}
		if !strings.Contains(tb.stdout.String(), tt.want) {
			t.Errorf("%q: help\n%s\nwant it to contain %q", tt.args, tb.stdout.String(), tt.want)
		}
		if tb.dials != 0 {
			t.Errorf("%q: help opened the kernel connection", tt.args)
		}
	}
}

func TestKernelErrors(t *testing.T) {
	tests := []struct {
		args   string
		err    error
		stderr string
	}{
		{"host add 7 inet 10.0.0.2", &mhostnl.Error{Op: "add host 7", Err: unix.EPERM},
			"mhostctl: host add: permission denied: needs CAP_NET_ADMIN\n"},
		{"host flush", &mhostnl.Error{Op: "flush hosts", Err: unix.EPERM},
			"mhostctl: host flush: permission denied: needs CAP_NET_ADMIN\n"},
		{"host add 7 inet 10.0.0.2", &mhostnl.Error{Op: "add host 7", Message: "host already exists (replace or append it)", Err: unix.EEXIST},
			"mhostctl: host add: host already exists (replace or append it) (file exists): use 'mhostctl host set' to replace it\n"},
		{"host replace 7 inet 10.0.0.2", &mhostnl.Error{Op: "replace host 7", Message: "no such host", Err: unix.ENOENT},
			"mhostctl: host replace: no such host (no such file or directory): use 'mhostctl host set' to create it\n"},
		{"host append 7 inet 10.0.0.2", &mhostnl.Error{Op: "append to host 7", Message: "no such host", Err: unix.ENOENT},
			"mhostctl: host append: no such host (no such file or directory): use --create to create it\n"},
		{"host add 7 inet6 fe80::1%eth0", &mhostnl.Error{Op: "add host 7", Message: "no such device", Err: unix.ENODEV},
			"mhostctl: host add: no such device (no such device)\n"},
		{"host del 7", &mhostnl.Error{Op: "delete host 7", Message: "no such host", Err: unix.ENOENT},
			"mhostctl: host del: no such host (no such file or directory)\n"},
		{"host show", &mhostnl.Error{Op: "get hosts", Err: errors.New("netlink receive: boom")},
			"mhostctl: host show: netlink receive: boom\n"},
		{"stats", mhostnl.ErrNotLoaded, "mhostctl: stats: mhost module not loaded: run modprobe mhost\n"},
		{"dev set veth0 l3 on", &mhostnl.Error{Op: "set device 5", Err: unix.EPERM},
			"mhostctl: dev set: permission denied: needs CAP_NET_ADMIN\n"},
		// The device went away between the name lookup and the request.
		{"dev set veth0 l3 on", &mhostnl.Error{Op: "set device 5", Message: "no such device", Err: unix.ENODEV},
			"mhostctl: dev set: no such device (no such device)\n"},
		{"dev show", mhostnl.ErrNotLoaded, "mhostctl: dev show: mhost module not loaded: run modprobe mhost\n"},
	}
	for _, tt := range tests {
		tb := newTestbed()
		tb.b.err = tt.err
		if code := tb.run(t, tt.args); code != exitKernel {
			t.Errorf("%q: exit %d, want %d", tt.args, code, exitKernel)
		}
		if got := tb.stderr.String(); got != tt.stderr {
			t.Errorf("%q: stderr\n %q\nwant %q", tt.args, got, tt.stderr)
		}
	}

	tb := newTestbed()
	tb.b.hosts = nil
	if code := tb.run(t, "host show 9"); code != exitKernel ||
		tb.stderr.String() != "mhostctl: host show: no such host (no such file or directory)\n" {
		t.Errorf("host show 9: exit %d, stderr %q", code, tb.stderr.String())
	}
	tb.dialErr = mhostnl.ErrNotLoaded
	if code := tb.run(t, "host show"); code != exitKernel ||
		tb.stderr.String() != "mhostctl: host show: mhost module not loaded: run modprobe mhost\n" {
		t.Errorf("not loaded: exit %d, stderr %q", code, tb.stderr.String())
	}
}

// sampleHosts is what the fake kernel dumps for the rendering tests, out
// of order.
var sampleHosts = []mhostnl.Host{
	{ID: 8, Locators: []mhostnl.Locator{
		{Family: 1, Raw: []byte{2, 0, 0, 0, 0, 2}, Ifindex: 5, TxPackets: 3},
		{Family: mhostnl.FamilyInet6, Addr: mustAddr("fe80::2"), Ifindex: 9, Port: 7000},
	}},
	{ID: 7, Locators: []mhostnl.Locator{
		{Family: mhostnl.FamilyInet6, Addr: mustAddr("fd00::2"), TxPackets: 10, TxErrors: 1,
			State: mhostnl.LocatorDown, Cause: mhostnl.CauseICMP, LastHeard: testNow.Add(-1500 * time.Millisecond),
			Changed: testNow.Add(-200 * time.Millisecond), RTT: 3140 * time.Microsecond, RTTVar: 900 * time.Microsecond, Flaps: 2},
		{Family: mhostnl.FamilyInet, Addr: mustAddr("10.0.0.2"), TxPackets: 5,
			State: mhostnl.LocatorUp, Cause: mhostnl.CauseProbeReply, LastHeard: testNow.Add(-120 * time.Millisecond),
			Changed: testNow.Add(-3 * time.Second), RTT: 2500 * time.Microsecond, RTTVar: 400 * time.Microsecond,
			HoldDown: 700 * time.Millisecond},
	}, Live: &mhostnl.LiveKnobs{Interval: ptr(100 * time.Millisecond), Revertive: ptr(false)}},
}

func ptr[T any](v T) *T { return &v }

func TestRender(t *testing.T) {
	tests := []struct {
		args, stdout string
	}{
		{"host show", `ID  KIND       ADDRESS            PORT  DEV    STATE    CAUSE        HEARD  RTT
7   inet6      fd00::2            -     -      down     icmp         1.5s   3.1ms
7   inet       10.0.0.2           -     -      up       probe_reply  120ms  2.5ms
8   testproto  02:00:00:00:00:02  -     veth0  unknown  -            -      -
8   inet6      fe80::2            7000  9      unknown  -            -      -
host 7: interval 100ms revertive off
`},
		{"-s host show", `ID  KIND       ADDRESS            PORT  DEV    STATE    CAUSE        HEARD  RTT    TX_PACKETS  TX_ERRORS  FLAPS  HOLD
7   inet6      fd00::2            -     -      down     icmp         1.5s   3.1ms  10          1          2      -
7   inet       10.0.0.2           -     -      up       probe_reply  120ms  2.5ms  5           0          0      700ms
8   testproto  02:00:00:00:00:02  -     veth0  unknown  -            -      -      3           0          0      -
8   inet6      fe80::2            7000  9      unknown  -            -      -      0           0          0      -
host 7: interval 100ms revertive off
`},
		{"host show 7 -j", `[{"id":7,"locators":[{"family":"inet6","family_number":10,"address":"fd00::2","port":0,"ifindex":0,"dev":"","tx_packets":10,"tx_errors":1,"state":"down","cause":"icmp","last_heard_ms":1500,"changed_ms":200,"rtt_us":3140,"rttvar_us":900,"flaps":2,"hold_down_ms":0},{"family":"inet","family_number":2,"address":"10.0.0.2","port":0,"ifindex":0,"dev":"","tx_packets":5,"tx_errors":0,"state":"up","cause":"probe_reply","last_heard_ms":120,"changed_ms":3000,"rtt_us":2500,"rttvar_us":400,"flaps":0,"hold_down_ms":700}],"live":{"interval_ms":100,"revertive":false}}]
`},
		{"host show 7 -j -p", `[
  {
    "id": 7,
    "locators": [
      {
        "family": "inet6",
        "family_number": 10,
        "address": "fd00::2",
        "port": 0,
        "ifindex": 0,
        "dev": "",
        "tx_packets": 10,
        "tx_errors": 1,
        "state": "down",
        "cause": "icmp",
        "last_heard_ms": 1500,
        "changed_ms": 200,
        "rtt_us": 3140,
        "rttvar_us": 900,
        "flaps": 2,
        "hold_down_ms": 0
      },
      {
        "family": "inet",
        "family_number": 2,
        "address": "10.0.0.2",
        "port": 0,
        "ifindex": 0,
        "dev": "",
        "tx_packets": 5,
        "tx_errors": 0,
        "state": "up",
        "cause": "probe_reply",
        "last_heard_ms": 120,
        "changed_ms": 3000,
        "rtt_us": 2500,
        "rttvar_us": 400,
        "flaps": 0,
        "hold_down_ms": 700
      }
    ],
    "live": {
      "interval_ms": 100,
      "revertive": false
    }
  }
]
`},
		{"proto list", `FAMILY  NAME       MODULE           ADDR_LEN  TX_PACKETS  RX_PACKETS
2       inet       kernel           4         10          20
10      inet6      kernel           16        30          40
1       testproto  mhost_testproto  6         0           0
`},
		{"proto list --json -p", `[
  {
    "name": "inet",
    "family_number": 2,
    "module": "kernel",
    "addr_len": 4,
    "tx_packets": 10,
    "rx_packets": 20
  },
  {
    "name": "inet6",
    "family_number": 10,
    "module": "kernel",
    "addr_len": 16,
    "tx_packets": 30,
    "rx_packets": 40
  },
  {
    "name": "testproto",
    "family_number": 1,
    "module": "mhost_testproto",
    "addr_len": 6,
    "tx_packets": 0,
    "rx_packets": 0
  }
]
`},
		{"sock list", `PORT  UID    INODE  RECV-Q  SEND-Q  DROPS  PEER
*     0      99     0       0       0      -
7000  0      1234   768     0       2      hid(7)
7001  65534  1235   0       0       0      -
`},
		{"-j -p sock list", `[
  {
    "port": 0,
    "uid": 0,
    "inode": 99,
    "rx_queue": 0,
    "tx_queue": 0,
    "drops": 0,
    "peer_host_id": 0
  },
  {
    "port": 7000,
    "uid": 0,
    "inode": 1234,
    "rx_queue": 768,
    "tx_queue": 0,
    "drops": 2,
    "peer_host_id": 7
  },
  {
    "port": 7001,
    "uid": 65534,
    "inode": 1235,
    "rx_queue": 0,
    "tx_queue": 0,
    "drops": 0,
    "peer_host_id": 0
  }
]
`},
		{"stats", `COUNTER                  VALUE
hosts                    2
sockets                  3
tx_host_id               4
tx_failover              5
tx_unreach               6
rx_l3_unknown            7
hosts_allocated          8
tx_l3                    9
rx_l3                    10
rx_l3_short              11
rx_l3_bad_header         12
rx_l3_bad_len            13
rx_l3_truncated          14
rx_l3_no_socket          15
rx_l3_bad_csum           16
rx_l3_dev_disabled       17
live_hosts               0
probes_sent              0
probes_answered          0
probes_missed            0
locator_changes          0
locator_signals          0
locator_signals_ignored  0
probe_replies            0
probe_replies_limited    0
probes_bad               0
`},
		{"stats -j --pretty", `{
  "hosts": 2,
  "sockets": 3,
  "tx_host_id": 4,
  "tx_failover": 5,
  "tx_unreach": 6,
  "rx_l3_unknown": 7,
  "hosts_allocated": 8,
  "tx_l3": 9,
  "rx_l3": 10,
  "rx_l3_short": 11,
  "rx_l3_bad_header": 12,
  "rx_l3_bad_len": 13,
  "rx_l3_truncated": 14,
  "rx_l3_no_socket": 15,
  "rx_l3_bad_csum": 16,
  "rx_l3_dev_disabled": 17,
  "live_hosts": 0,
  "probes_sent": 0,
  "probes_answered": 0,
  "probes_missed": 0,
  "locator_changes": 0,
  "locator_signals": 0,
  "locator_signals_ignored": 0,
  "probe_replies": 0,
  "probe_replies_limited": 0,
  "probes_bad": 0
}
`},
		{"host show -j", ""}, // checked below: a list of both hosts
		{"dev show", "DEV    IFINDEX  L3\nlo     1        on\nveth0  5        on\n"},
		{"dev show eth0", "DEV   IFINDEX  L3\neth0  2        off\n"},
		{"dev show -j", `[{"dev":"lo","ifindex":1,"l3":true},{"dev":"veth0","ifindex":5,"l3":true}]` + "\n"},
		{"-j -p dev show lo", "[\n  {\n    \"dev\": \"lo\",\n    \"ifindex\": 1,\n    \"l3\": true\n  }\n]\n"},
	}
	for _, tt := range tests {
		tb := newTestbed()
		tb.b.hosts = sampleHosts
		tb.b.socks = []mhostnl.Socket{
			{Port: 7001, UID: 65534, Inode: 1235},
			{Port: 7000, Inode: 1234, RxQueue: 768, Drops: 2, PeerHostID: 7},
			{Inode: 99},
		}
		tb.b.stats = mhostnl.Stats{Hosts: 2, Sockets: 3, TxHostID: 4, TxFailover: 5, TxUnreach: 6, RxL3Unknown: 7, HostsAllocated: 8,
			TxL3: 9, RxL3: 10, RxL3Short: 11, RxL3BadHeader: 12, RxL3BadLen: 13, RxL3Truncated: 14, RxL3NoSocket: 15,
			RxL3BadCsum: 16, RxL3DevDisabled: 17}
		if code := tb.run(t, tt.args); code != exitOK {
			t.Fatalf("%q: exit %d, stderr %q", tt.args, code, tb.stderr.String())
		}
		if tt.stdout == "" {
			var hosts []jsonHost
			if err := json.Unmarshal(tb.stdout.Bytes(), &hosts); err != nil || len(hosts) != 2 || hosts[0].ID != 7 ||
				hosts[1].Locators[0].Family != "testproto" || hosts[1].Locators[0].Dev != "veth0" {
				t.Errorf("%q: %v\n%s", tt.args, err, tb.stdout.String())
			}
			continue
		}
		if got := tb.stdout.String(); got != tt.stdout {
			t.Errorf("%q: stdout\n%s\nwant\n%s", tt.args, got, tt.stdout)
		}
	}
}

func TestRenderEmpty(t *testing.T) {
	tb := newTestbed()
	if code := tb.run(t, "host show -j"); code != exitOK || tb.stdout.String() != "[]\n" {
		t.Errorf("empty host show -j: exit %d, %q", code, tb.stdout.String())
	}
	if code := tb.run(t, "host show"); code != exitOK || tb.stdout.String() != "ID  KIND  ADDRESS  PORT  DEV  STATE  CAUSE  HEARD  RTT\n" {
		t.Errorf("empty host show: exit %d, %q", code, tb.stdout.String())
	}
}

func TestMonitor(t *testing.T) {
	events := []eventOrError{
		{ev: mhostnl.Event{Type: mhostnl.EventHostNew, Host: sampleHosts[1]}},
		{err: &mhostnl.Error{Op: "watch", Err: mhostnl.ErrEventsLost}},
		{ev: mhostnl.Event{Type: mhostnl.EventHostNew, Host: sampleHosts[0]}},
		{ev: mhostnl.Event{Type: mhostnl.EventHostDel, Host: mhostnl.Host{ID: 7}}},
		{ev: mhostnl.Event{Type: mhostnl.EventHostFlush}},
		{ev: mhostnl.Event{Type: mhostnl.EventDevSet, Device: mhostnl.Device{Index: 5, Name: "veth0", L3: true}}},
		{ev: mhostnl.Event{Type: mhostnl.EventDevSet, Device: mhostnl.Device{Index: 5, Name: "veth0"}}},
		{ev: mhostnl.Event{Type: mhostnl.EventDevDel, Device: mhostnl.Device{Index: 7, Name: "gone0"}}},
		{ev: mhostnl.Event{Type: mhostnl.EventLocatorState, PrevState: mhostnl.LocatorUp, Host: mhostnl.Host{ID: 7,
			Locators: []mhostnl.Locator{{Family: mhostnl.FamilyInet6, Addr: mustAddr("fd00::2"),
				State: mhostnl.LocatorSuspect, Cause: mhostnl.CauseNeigh, LastHeard: testNow.Add(-80 * time.Millisecond)}}}}},
	}
	text := `new host 7 inet6 fd00::2 inet 10.0.0.2
new host 8 testproto 02:00:00:00:00:02 dev veth0 inet6 fe80::2 dev 9 port 7000
del host 7
flush
set dev veth0 l3 on
set dev veth0 l3 off
del dev gone0
state host 7 inet6 fd00::2 up -> suspect (neigh)
`
	jsonLines := `{"event":"new","id":7,"locators":[{"family":"inet6","family_number":10,"address":"fd00::2","port":0,"ifindex":0,"dev":"","tx_packets":10,"tx_errors":1,"state":"down","cause":"icmp","last_heard_ms":1500,"changed_ms":200,"rtt_us":3140,"rttvar_us":900,"flaps":2,"hold_down_ms":0},{"family":"inet","family_number":2,"address":"10.0.0.2","port":0,"ifindex":0,"dev":"","tx_packets":5,"tx_errors":0,"state":"up","cause":"probe_reply","last_heard_ms":120,"changed_ms":3000,"rtt_us":2500,"rttvar_us":400,"flaps":0,"hold_down_ms":700}]}
{"event":"new","id":8,"locators":[{"family":"testproto","family_number":1,"address":"02:00:00:00:00:02","port":0,"ifindex":5,"dev":"veth0","tx_packets":3,"tx_errors":0,"state":"unknown","cause":"none","last_heard_ms":null,"changed_ms":null,"rtt_us":null,"rttvar_us":null,"flaps":0,"hold_down_ms":0},{"family":"inet6","family_number":10,"address":"fe80::2","port":7000,"ifindex":9,"dev":"9","tx_packets":0,"tx_errors":0,"state":"unknown","cause":"none","last_heard_ms":null,"changed_ms":null,"rtt_us":null,"rttvar_us":null,"flaps":0,"hold_down_ms":0}]}
{"event":"del","id":7}
{"event":"flush"}
{"event":"dev_set","dev":"veth0","ifindex":5,"l3":true}
{"event":"dev_set","dev":"veth0","ifindex":5,"l3":false}
{"event":"dev_del","dev":"gone0","ifindex":7,"l3":false}
{"event":"state","id":7,"locators":[{"family":"inet6","family_number":10,"address":"fd00::2","port":0,"ifindex":0,"dev":"","tx_packets":0,"tx_errors":0,"state":"suspect","cause":"neigh","last_heard_ms":80,"changed_ms":null,"rtt_us":null,"rttvar_us":null,"flaps":0,"hold_down_ms":0}],"prev_state":"up"}
`
	for _, tt := range []struct {
		args, stdout string
	}{
		{"monitor --count 8", text},
		{"monitor --count 2", strings.Join(strings.SplitAfter(text, "\n")[:2], "")},
		{"monitor -j --count 8", jsonLines},
	} {
		tb := newTestbed()
		tb.b.events = events
		if code := tb.run(t, tt.args); code != exitOK {
			t.Errorf("%q: exit %d, stderr %q", tt.args, code, tb.stderr.String())
		}
		if got := tb.stdout.String(); got != tt.stdout {
			t.Errorf("%q: stdout\n%s\nwant\n%s", tt.args, got, tt.stdout)
		}
		if !strings.Contains(tb.stderr.String(), "mhostctl: monitor: events lost: receive buffer overrun\n") {
			t.Errorf("%q: stderr %q, want a warning about lost events", tt.args, tb.stderr.String())
		}
	}

	// Without --count, monitor runs until interrupted, and that is a
	// success.
	tb := newTestbed()
	tb.b.events = events[:1]
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if code := tb.runArgs(ctx, []string{"monitor"}); code != exitOK {
		t.Errorf("interrupted monitor: exit %d, stderr %q", code, tb.stderr.String())
	}
	if got := tb.stdout.String(); got != "new host 7 inet6 fd00::2 inet 10.0.0.2\n" {
		t.Errorf("interrupted monitor: stdout %q", got)
	}

	// A failure of the kernel is one.
	tb = newTestbed()
	tb.b.events = []eventOrError{{err: &mhostnl.Error{Op: "watch", Err: unix.EBADF}}}
	if code := tb.run(t, "monitor"); code != exitKernel || !strings.Contains(tb.stderr.String(), "mhostctl: monitor: bad file descriptor") {
		t.Errorf("failing monitor: exit %d, stderr %q", code, tb.stderr.String())
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestLiveShow(t *testing.T) {
	settings := mhostnl.LiveSettings{
		LiveKnobs: mhostnl.LiveKnobs{Interval: ptr(250 * time.Millisecond), Multiplier: ptr(3),
			HoldDown: ptr(time.Second), Revertive: ptr(true)},
		Port: ptr(uint16(7867)), Answer: ptr(true),
	}
	for _, tt := range []struct {
		args, stdout string
		portErr      unix.Errno
	}{
		{"live show", "interval 250ms multiplier 3 hold-down 1s revertive on port 7867 answer on\n", 0},
		{"live show", "interval 250ms multiplier 3 hold-down 1s revertive on port 7867 answer on\n" +
			"probe port not bound: address already in use: nothing is probed\n", unix.EADDRINUSE},
		{"-j live show", `{"interval_ms":250,"multiplier":3,"hold_down_ms":1000,"revertive":true,"port":7867,"answer":true,"port_error":""}` + "\n", 0},
	} {
		tb := newTestbed()
		tb.b.live = settings
		tb.b.live.PortError = tt.portErr
		if code := tb.run(t, tt.args); code != exitOK {
			t.Errorf("%q: exit %d, stderr %q", tt.args, code, tb.stderr.String())
		}
		if got := tb.stdout.String(); got != tt.stdout {
			t.Errorf("%q: stdout\n%s\nwant\n%s", tt.args, got, tt.stdout)
		}
	}
}
