//go:build guest

package guest_test

// mhostctl as ip(8) users expect it, against the real module: exit
// statuses, locator typos, -n NETNS, -b FILE, abbreviations, -s, -j and
// -p, --version, help VERB, and the device opt-in (dev show, dev set).

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhost"
	"github.com/mnet/mnet/gosdk/mhostnl"
)

func TestMhostctlExitStatus(t *testing.T) {
	nlInitialTable(t)
	for _, tt := range []struct {
		args string
		code int
		want string // on stderr
	}{
		{"host add 7 inet 10.0.0.7", 0, ""},
		{"host add 7 inet 10.0.0.7", 2, "mhostctl: host add: host already exists"},
		{"host del 8", 2, "mhostctl: host del: no such host"},
		{"host add 8 inte 10.0.0.8", 1, `mhostctl: host add: unknown locator kind "inte": want an IP address, or a kind before one: inet, inet6`},
		{"host add 8 999.1.1.1", 1, `mhostctl: host add: invalid address "999.1.1.1": want an IP address, or a kind before one: inet, inet6`},
		{"host add 8 inet6 fe80::8 dev nosuchdev", 1, `unknown device "nosuchdev"`},
		{"host bogus", 1, `unknown command "bogus"`},
		{"-x host show", 1, `unknown option "-x"`},
		{"host del 7", 0, ""},
	} {
		r := nlCtl(t, nil, tt.args)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.want) || (tt.code == 1 && strings.Contains(r.stderr, "not loaded")) {
			t.Errorf("want exit %d and %q on stderr; got %s", tt.code, tt.want, r)
		}
	}
}

// nlNamedNS gives a namespace a name as ip netns add does, a bind mount
// of it on /run/netns/NAME, and removes it when the test ends.
func nlNamedNS(t *testing.T, ns *netNS, name string) {
	t.Helper()
	path := filepath.Join("/run/netns", name)
	nlCheck(t, "mkdir /run/netns", os.MkdirAll("/run/netns", 0o755))
	nlCheck(t, "creating "+path, os.WriteFile(path, nil, 0o444))
	ns.do(t, "bind-mounting the namespace on "+path, func() error {
		return unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, "")
	})
	t.Cleanup(func() {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", path, err)
		}
		os.Remove(path)
	})
}

func TestMhostctlNetNS(t *testing.T) {
	initial := nlInitialTable(t)
	a, b := newNetNS(t, "ctl-a"), newNetNS(t, "ctl-b")
	v := newVethPair(t, a, b, vethConfig{})
	nlNamedNS(t, a, "mhostctl-a")

	// The host goes to the namespace's table, its device named there.
	nlCtlOK(t, "-n mhostctl-a host add 7 inet6 fe80::7 dev veth-a inet 10.0.0.7")
	nlWantHost(t, a.control(t), mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{
		{Addr: netip.MustParseAddr("fe80::7"), Ifindex: v.A.Index}, nlLoc("10.0.0.7"),
	}})
	if hosts, err := initial.Hosts(); err != nil || len(hosts) != 0 {
		t.Errorf("-n put hosts in the initial namespace too: %v, %v", hosts, err)
	}
	r := nlCtlOK(t, "-n mhostctl-a host show 7")
	if !strings.Contains(r.stdout, "veth-a") {
		t.Errorf("host show in the namespace does not name its device veth-a: %s", r)
	}
	// A path works too, and the device does not exist outside.
	nlCtlOK(t, fmt.Sprintf("-n /proc/%d/fd/%d -s host show", os.Getpid(), a.fd))
	nlCtlFails(t, nil, "host add 8 inet6 fe80::8 dev veth-a", 1, `unknown device "veth-a"`)
	nlCtlFails(t, nil, "-n nosuchns host show", 1, `cannot open network namespace "nosuchns"`)
}

func TestMhostctlBatch(t *testing.T) {
	c := nlInitialTable(t)
	dir := t.TempDir()
	var sb strings.Builder
	sb.WriteString("# thousands of changes in one run\n")
	for id := 1; id <= 3000; id++ {
		fmt.Fprintf(&sb, "host add %d inet 10.%d.%d.%d\n", id, id>>16, id>>8&0xff, id&0xff)
	}
	sb.WriteString("host del 3000\nh set 2999 inet6 fd00::2999 port 7000\nstats -j\n")
	file := filepath.Join(dir, "hosts")
	nlCheck(t, "writing the batch", os.WriteFile(file, []byte(sb.String()), 0o644))
	r := nlCtlOK(t, "-b "+file)
	if !strings.Contains(r.stdout, `"hosts":2999`) {
		t.Errorf("stats at the end of the batch: %s", r)
	}
	hosts, err := c.Hosts()
	nlCheck(t, "Hosts", err)
	if len(hosts) != 2999 {
		t.Errorf("%d hosts after the batch, want 2999", len(hosts))
	}
	nlWantHost(t, c, mhostnl.Host{ID: 2999, Locators: []mhostnl.Locator{{Addr: netip.MustParseAddr("fd00::2999"), Port: 7000}}})
	nlWantHost(t, c, mhostnl.Host{ID: 1500, Locators: []mhostnl.Locator{nlLoc("10.0.5.220")}})

	// A host the kernel refuses stops the batch at its line; the lines
	// before it took effect.
	nlCheck(t, "writing the batch", os.WriteFile(file, []byte("host add 5000 inet 10.0.0.1\nhost add 1 inet 10.0.0.1\nhost add 5001 inet 10.0.0.1\nhost del 5000\n"), 0o644))
	nlCtlFails(t, nil, "-b "+file, 2, file+":2: host add: host already exists")
	if _, err := c.Host(5000); err != nil {
		t.Errorf("host 5000 of the line before the failure: %v", err)
	}
	// A wrong line too, with exit 1.
	nlCheck(t, "writing the batch", os.WriteFile(file, []byte("host del 5000\nhost add 5002 inte 10.0.0.1\n"), 0o644))
	nlCtlFails(t, nil, "-b "+file, 1, file+`:2: host add: unknown locator kind "inte"`)
	if _, err := c.Host(5000); err == nil {
		t.Errorf("host 5000 still there: the line before the wrong one did not run")
	}
}

func TestMhostctlShortcuts(t *testing.T) {
	c := nlInitialTable(t)
	nlCtlOK(t, "h a 7 inet 10.0.0.7")
	nlWantHost(t, c, mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{nlLoc("10.0.0.7")}})
	nlCtlOK(t, "ho ap 7 inet6 fd00::7")

	// Counters only with -s.
	for args, counters := range map[string]bool{"h s": false, "h s -s": true, "-s h s 7": true} {
		r := nlCtlOK(t, args)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 3 || strings.Contains(lines[0], "TX_PACKETS") != counters || !strings.HasPrefix(lines[1], "7 ") {
			t.Errorf("counters %v: want a header and two rows of host 7; got %s", counters, r)
		}
	}

	// -j is one line, -p indents it.
	if r := nlCtlOK(t, "-j h s"); strings.Count(r.stdout, "\n") != 1 || !strings.HasPrefix(r.stdout, `[{"id":7,"locators":[{"family":"inet"`) {
		t.Errorf("-j: want one line of JSON; got %s", r)
	}
	if r := nlCtlOK(t, "-j -p h s"); strings.Count(r.stdout, "\n") < 10 || !strings.Contains(r.stdout, "\n    \"locators\": [") {
		t.Errorf("-j -p: want indented JSON; got %s", r)
	}
	if r := nlCtlOK(t, "--version"); !strings.HasPrefix(r.stdout, "mhostctl ") {
		t.Errorf("--version: %s", r)
	}
	if r := nlCtlOK(t, "help add"); !strings.Contains(r.stdout, "usage: mhostctl host add ID LOCATOR...") {
		t.Errorf("help add: %s", r)
	}
	nlCtlOK(t, "h d 7")
	nlCtlFails(t, nil, "h s 7", 2, "no such host")
}

// TestMhostctlDev turns plugged-L3 traffic on and off with mhostctl dev,
// as an administrator would: a testproto datagram crosses a veth pair
// once both ends are enabled, is dropped and counted once the receiving
// end is disabled, and cannot be sent once the sending end is.
func TestMhostctlDev(t *testing.T) {
	useL3Protos(t, testproto)
	a, b := newNetNS(t, "ctl-dev-a"), newNetNS(t, "ctl-dev-b")
	v := newVethPair(t, a, b, vethConfig{})
	nlNamedNS(t, a, "mhostctl-dev-a")
	nlNamedNS(t, b, "mhostctl-dev-b")
	ca, cb := a.listen(t), b.listen(t)
	toB := ethAddr(mhost.FamilyTestProto, portOf(t, cb), v.A.Index, v.B.MAC)
	send := func(what string) error {
		_, err := ca.WriteTo([]byte(what), toB)
		return err
	}
	devDisabled := func() uint64 {
		t.Helper()
		var s struct {
			N *uint64 `json:"rx_l3_dev_disabled"`
		}
		r := nlCtlOK(t, "-n mhostctl-dev-b -j stats")
		if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || s.N == nil {
			t.Fatalf("stats -j: %v, no rx_l3_dev_disabled in %s", err, r)
		}
		return *s.N
	}
	type dev struct {
		Dev     string `json:"dev"`
		Ifindex int    `json:"ifindex"`
		L3      bool   `json:"l3"`
	}
	wantShow := func(args string, want ...dev) {
		t.Helper()
		r := nlCtlOK(t, args)
		var got []dev
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %+v (%v), want %+v", r, got, err, want)
		}
	}

	if err := send("before"); !errors.Is(err, unix.ENETUNREACH) {
		t.Fatalf("sending before any device is enabled: %v, want ENETUNREACH", err)
	}
	wantShow("-n mhostctl-dev-a -j dev show")
	wantShow("-n mhostctl-dev-a -j dev show veth-a", dev{"veth-a", v.A.Index, false})

	nlCtlOK(t, "-n mhostctl-dev-a dev set veth-a l3 on")
	nlCtlOK(t, "-n mhostctl-dev-b d se veth-b l3 on") // abbreviated
	wantShow("-n mhostctl-dev-a -j dev show", dev{"veth-a", v.A.Index, true})
	if r := nlCtlOK(t, "-n mhostctl-dev-b dev show"); !strings.Contains(r.stdout, fmt.Sprintf("veth-b  %d        on\n", v.B.Index)) {
		t.Errorf("dev show does not list veth-b as on: %s", r)
	}
	nlCheck(t, "sending with both ends enabled", send("on"))
	if msg, _ := readConn(t, cb); msg != "on" {
		t.Fatalf("b read %q, want %q", msg, "on")
	}

	// The receiving end off: the frame arrives and is dropped, counted.
	dis0 := devDisabled()
	nlCtlOK(t, "-n mhostctl-dev-b dev set veth-b l3 off")
	wantShow("-n mhostctl-dev-b -j dev show")
	nlCheck(t, "sending with b's end disabled", send("b off"))
	if !poll(ioTimeout, func() bool { return devDisabled() == dis0+1 }) {
		t.Fatalf("b counted %d frames on devices not enabled, want 1", devDisabled()-dis0)
	}
	wantConnEmpty(t, cb)

	// The sending end off: sends fail.
	nlCtlOK(t, "-n mhostctl-dev-a dev set veth-a l3 off")
	if err := send("a off"); !errors.Is(err, unix.ENETUNREACH) {
		t.Errorf("sending after dev set veth-a l3 off: %v, want ENETUNREACH", err)
	}

	// Mistakes are the command line's (1), refusals the kernel's (2).
	nlCtlFails(t, nil, "-n mhostctl-dev-a dev set nosuch0 l3 on", 1, `mhostctl: dev set: unknown device "nosuch0"`)
	nlCtlFails(t, nil, "-n mhostctl-dev-a dev set veth-a l3 maybe", 1, `invalid l3 "maybe": want on or off`)
	nlCtlFails(t, nil, "-n mhostctl-dev-a dev show veth-b", 1, `unknown device "veth-b"`)
	nlCtlFails(t, nobody, "dev set lo l3 on", 2, "mhostctl: dev set: permission denied: needs CAP_NET_ADMIN")
	wantShow("-n mhostctl-dev-a -j dev show")
}
