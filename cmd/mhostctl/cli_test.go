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
		{"bogus 1", `unknown locator family or address "bogus" (families: inet, inet6, testproto)`},
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

func TestParseLocatorsKernelDown(t *testing.T) {
	tb := newTestbed()
	tb.dialErr = mhostnl.ErrNotLoaded
	if code := tb.run(t, "host add 7 testproto 02:00:00:00:00:02"); code != exitError {
		t.Errorf("exit %d, want %d", code, exitError)
	}
	if got, want := tb.stderr.String(), "mhostctl: mhost module not loaded: run modprobe mhost\n"; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
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
		{"", "mhostctl: missing command\nRun 'mhostctl --help' for the commands.\n"},
		{"bogus", `mhostctl: unknown command "bogus"`},
		{"host", "mhostctl: host: missing command: one of add, set, replace, append, del, show, flush, resolve\n"},
		{"host bogus", `mhostctl: host: unknown command "bogus"`},
		{"host add", "mhostctl: host add: missing host ID\nusage: mhostctl host add ID LOCATOR...\nRun 'mhostctl host add --help' for more.\n"},
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
		{"--help", "usage: mhostctl [-j] OBJECT COMMAND [ARGS]"},
		{"-h", "LOCATOR := [FAMILY] ADDRESS [port PORT] [dev IFNAME]"},
		{"help", "Exit status: 0 success, 1 the kernel refused or failed"},
		{"host --help", "usage: mhostctl [-j] host COMMAND [ARGS]"},
		{"help host", "host resolve NAME"},
		{"host help", "host append [--create] ID LOCATOR..."},
		{"host add -h", "usage: mhostctl host add ID LOCATOR...\n\nadd a host; fails if it exists"},
		{"host add 7 inet 1.2.3.4 --help", "Example: mhostctl host add 7 inet6 fd00::2 inet 10.0.0.2"},
		{"host show --help", `JSON: [{"id": 7, "locators": [{"family": "inet6"`},
		{"host resolve -h", "FNV-1a hash of NAME in lower case"},
		{"proto --help", "proto list"},
		{"proto list --help", `"family_number": 2`},
		{"sock list -h", `"peer_host_id"`},
		{"stats -h", `"hosts_allocated"`},
		{"monitor --help", `{"event": "del", "id": 7}`},
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
		{"stats", mhostnl.ErrNotLoaded, "mhostctl: mhost module not loaded: run modprobe mhost\n"},
	}
	for _, tt := range tests {
		tb := newTestbed()
		tb.b.err = tt.err
		if code := tb.run(t, tt.args); code != exitError {
			t.Errorf("%q: exit %d, want %d", tt.args, code, exitError)
		}
		if got := tb.stderr.String(); got != tt.stderr {
			t.Errorf("%q: stderr\n %q\nwant %q", tt.args, got, tt.stderr)
		}
	}

	tb := newTestbed()
	tb.b.hosts = nil
	if code := tb.run(t, "host show 9"); code != exitError ||
		tb.stderr.String() != "mhostctl: host show: no such host (no such file or directory)\n" {
		t.Errorf("host show 9: exit %d, stderr %q", code, tb.stderr.String())
	}
	tb.dialErr = mhostnl.ErrNotLoaded
	if code := tb.run(t, "host show"); code != exitError ||
		tb.stderr.String() != "mhostctl: mhost module not loaded: run modprobe mhost\n" {
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
		{Family: mhostnl.FamilyInet6, Addr: mustAddr("fd00::2"), TxPackets: 10, TxErrors: 1},
		{Family: mhostnl.FamilyInet, Addr: mustAddr("10.0.0.2"), TxPackets: 5},
	}},
}

func TestRender(t *testing.T) {
	tests := []struct {
		args, stdout string
	}{
		{"host show", `ID  FAMILY     ADDRESS            PORT  DEV    TX_PACKETS  TX_ERRORS
7   inet6      fd00::2            -     -      10          1
7   inet       10.0.0.2           -     -      5           0
8   testproto  02:00:00:00:00:02  -     veth0  3           0
8   inet6      fe80::2            7000  9      0           0
`},
		{"host show 7 -j", `[
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
        "tx_errors": 1
      },
      {
        "family": "inet",
        "family_number": 2,
        "address": "10.0.0.2",
        "port": 0,
        "ifindex": 0,
        "dev": "",
        "tx_packets": 5,
        "tx_errors": 0
      }
    ]
  }
]
`},
		{"proto list", `FAMILY  NAME       MODULE           ADDR_LEN  TX_PACKETS  RX_PACKETS
2       inet       kernel           4         10          20
10      inet6      kernel           16        30          40
1       testproto  mhost_testproto  6         0           0
`},
		{"proto list --json", `[
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
		{"-j sock list", `[
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
		{"stats", `COUNTER             VALUE
hosts               2
sockets             3
tx_host_id          4
tx_failover         5
tx_unreach          6
rx_l3_unknown       7
hosts_allocated     8
tx_l3               9
rx_l3               10
rx_l3_short         11
rx_l3_bad_header    12
rx_l3_bad_len       13
rx_l3_truncated     14
rx_l3_no_socket     15
rx_l3_bad_csum      16
rx_l3_dev_disabled  17
`},
		{"stats -j", `{
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
  "rx_l3_dev_disabled": 17
}
`},
		{"host show -j", ""}, // checked below: a list of both hosts
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
	if code := tb.run(t, "host show"); code != exitOK || tb.stdout.String() != "ID  FAMILY  ADDRESS  PORT  DEV  TX_PACKETS  TX_ERRORS\n" {
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
	}
	text := `new host 7 inet6 fd00::2 inet 10.0.0.2
new host 8 testproto 02:00:00:00:00:02 dev veth0 inet6 fe80::2 dev 9 port 7000
del host 7
flush
`
	jsonLines := `{"event":"new","id":7,"locators":[{"family":"inet6","family_number":10,"address":"fd00::2","port":0,"ifindex":0,"dev":"","tx_packets":10,"tx_errors":1},{"family":"inet","family_number":2,"address":"10.0.0.2","port":0,"ifindex":0,"dev":"","tx_packets":5,"tx_errors":0}]}
{"event":"new","id":8,"locators":[{"family":"testproto","family_number":1,"address":"02:00:00:00:00:02","port":0,"ifindex":5,"dev":"veth0","tx_packets":3,"tx_errors":0},{"family":"inet6","family_number":10,"address":"fe80::2","port":7000,"ifindex":9,"dev":"9","tx_packets":0,"tx_errors":0}]}
{"event":"del","id":7}
{"event":"flush"}
`
	for _, tt := range []struct {
		args, stdout string
	}{
		{"monitor --count 4", text},
		{"monitor --count 2", strings.Join(strings.SplitAfter(text, "\n")[:2], "")},
		{"monitor -j --count 4", jsonLines},
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
	if code := tb.run(t, "monitor"); code != exitError || !strings.Contains(tb.stderr.String(), "mhostctl: monitor: bad file descriptor") {
		t.Errorf("failing monitor: exit %d, stderr %q", code, tb.stderr.String())
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
