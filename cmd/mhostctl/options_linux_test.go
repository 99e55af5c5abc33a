package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mnet/mnet/gosdk/mhostnl"
	"golang.org/x/sys/unix"
)

// TestExitStatus pins the exit statuses of ip(8): 0 success, 1 a wrong
// command line, 2 an error the kernel reported.
func TestExitStatus(t *testing.T) {
	tests := []struct {
		args string
		err  error // of the kernel
		code int
	}{
		{"host show", nil, exitOK},
		{"help", nil, exitOK},
		{"--version", nil, exitOK},
		{"", nil, exitUsage},
		{"bogus", nil, exitUsage},
		{"host add 7", nil, exitUsage},
		{"host add 7 inte 1.2.3.4", nil, exitUsage},
		{"host add 7 999.1.1.1", nil, exitUsage},
		{"-n", nil, exitUsage},
		{"-x host show", nil, exitUsage},
		{"help bogus", nil, exitUsage},
		{"host add 7 inet 1.2.3.4", &mhostnl.Error{Op: "add host 7", Err: unix.EEXIST}, exitKernel},
		{"host add 7 inet 1.2.3.4", &mhostnl.Error{Op: "add host 7", Err: unix.EPERM}, exitKernel},
		{"stats", mhostnl.ErrNotLoaded, exitKernel},
	}
	for _, tt := range tests {
		tb := newTestbed()
		tb.b.err = tt.err
		if code := tb.run(t, tt.args); code != tt.code {
			t.Errorf("%q: exit %d, want %d; stderr %q", tt.args, code, tt.code, tb.stderr.String())
		}
	}
}

func TestAbbreviations(t *testing.T) {
	tests := []struct {
		args  string
		calls []string
	}{
		{"h s", []string{"Hosts"}},
		{"ho sh 7", []string{"Host 7"}},
		{"h a 7 inet 10.0.0.1", []string{"AddHost 7 [inet 10.0.0.1]"}},
		{"h ap 7 inet 10.0.0.1", []string{"AppendLocators 7 [inet 10.0.0.1] create=false"}},
		{"h se 7 inet 10.0.0.1", []string{"SetHost 7 [inet 10.0.0.1]"}},
		{"h r 7 inet 10.0.0.1", []string{"ReplaceHost 7 [inet 10.0.0.1]"}},
		{"h d 7", []string{"DeleteHost 7"}},
		{"h rm 7", []string{"DeleteHost 7"}},
		{"h f", []string{"FlushHosts"}},
		{"h l", []string{"Hosts"}},
		{"p l", []string{"Protocols"}},
		{"pro s", []string{"Protocols"}},
		{"s l", []string{"Sockets"}},
		{"st", []string{"Stats"}},
		{"statistics", []string{"Stats"}},
		{"d s veth0", []string{"Device 5"}},
		{"d se lo l3 off", []string{"SetDevice 1 l3=false"}},
		{"d l", []string{"Devices"}},
	}
	for _, tt := range tests {
		tb := newTestbed()
		tb.b.hosts = []mhostnl.Host{{ID: 7}}
		if code := tb.run(t, tt.args); code != exitOK {
			t.Errorf("%q: exit %d, stderr %q", tt.args, code, tb.stderr.String())
		}
		if !reflect.DeepEqual(tb.b.calls, tt.calls) {
			t.Errorf("%q: calls %q, want %q", tt.args, tb.b.calls, tt.calls)
		}
	}
	for _, args := range []string{"x", "h x", "h sx", "hostx s"} {
		tb := newTestbed()
		if code := tb.run(t, args); code != exitUsage || !strings.Contains(tb.stderr.String(), "unknown command") {
			t.Errorf("%q: exit %d, stderr %q; want an unknown command", args, code, tb.stderr.String())
		}
	}
}

func TestNetNS(t *testing.T) {
	tb := newTestbed()
	tb.b.hosts = sampleHosts
	if code := tb.run(t, "-n blue host show"); code != exitOK {
		t.Fatalf("-n blue host show: exit %d, %q", code, tb.stderr.String())
	}
	if !reflect.DeepEqual(tb.dialNetNS, []int{42}) {
		t.Errorf("dialed the kernel in namespaces %v, want [42]", tb.dialNetNS)
	}
	// Devices are named as that namespace names them.
	if !strings.Contains(tb.stdout.String(), "ns-veth0") {
		t.Errorf("host show in namespace blue:\n%s\nwant its device name ns-veth0", tb.stdout.String())
	}

	tb = newTestbed()
	if code := tb.run(t, "--netns /proc/1/ns/net host add 7 inet6 fe80::1 dev ns-eth0"); code != exitOK {
		t.Fatalf("exit %d, %q", code, tb.stderr.String())
	}
	if !reflect.DeepEqual(tb.dialNetNS, []int{43}) || !reflect.DeepEqual(tb.b.calls, []string{"AddHost 7 [inet6 fe80::1 dev 2]"}) {
		t.Errorf("namespaces %v, calls %q", tb.dialNetNS, tb.b.calls)
	}

	for args, want := range map[string]string{
		"-n nope stats":      `mhostctl: cannot open network namespace "nope": open /run/netns/nope: file does not exist`,
		"-n":                 "mhostctl: -n needs a value",
		"stats -n blue":      "mhostctl: stats: flag provided but not defined: -n",
		"host show -n blue":  "flag provided but not defined: -n",
		"-n blue -b x stats": "-b takes no command",
	} {
		tb := newTestbed()
		if code := tb.run(t, args); code != exitUsage || !strings.Contains(tb.stderr.String(), want) || tb.dials != 0 {
			t.Errorf("%q: exit %d, %d dials, stderr %q; want exit 1 and %q", args, code, tb.dials, tb.stderr.String(), want)
		}
	}
}

// TestLinksOnce checks that host show names every device from one list
// of the interfaces, however many rows it prints.
func TestLinksOnce(t *testing.T) {
	tb := newTestbed()
	for i := range 50 {
		tb.b.hosts = append(tb.b.hosts, mhostnl.Host{ID: uint32(i + 1), Locators: []mhostnl.Locator{
			{Family: mhostnl.FamilyInet6, Addr: mustAddr("fe80::1"), Ifindex: 2},
			{Family: 1, Raw: []byte{2, 0, 0, 0, 0, 2}, Ifindex: 5},
		}})
	}
	for _, args := range []string{"host show", "-j host show"} {
		tb.linkLists = 0
		if code := tb.run(t, args); code != exitOK {
			t.Fatalf("%s: exit %d", args, code)
		}
		if tb.linkLists != 1 || strings.Count(tb.stdout.String(), "veth0") != 50 {
			t.Errorf("%s: %d lists of the interfaces for 100 rows, want 1", args, tb.linkLists)
		}
	}
	tb.linkLists = 0
	tb.b.hosts = []mhostnl.Host{{ID: 1, Locators: []mhostnl.Locator{{Family: mhostnl.FamilyInet, Addr: mustAddr("10.0.0.1")}}}}
	tb.run(t, "host show")
	if tb.linkLists != 0 {
		t.Errorf("host show without devices listed the interfaces %d times", tb.linkLists)
	}
}

func TestBatch(t *testing.T) {
	dir := t.TempDir()
	file := func(text string) string {
		p := filepath.Join(dir, "batch")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	script := `# hosts
host add 1 inet 10.0.0.1
h a 2 inet6 fd00::2   # abbreviated
host add 3 10.0.0.3 port 7000

host del 9
host set 4 inet 10.0.0.4
host set 5 inet 10.0.0.5
host add 6 inet 10.0.0.6
stats
`
	tb := newTestbed()
	if code := tb.run(t, "-b "+file(script)); code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, tb.stderr.String())
	}
	want := []string{
		"AddHosts 1 [inet 10.0.0.1]; 2 [inet6 fd00::2]; 3 [inet 10.0.0.3 port 7000]",
		"DeleteHost 9",
		"SetHosts 4 [inet 10.0.0.4]; 5 [inet 10.0.0.5]",
		"AddHosts 6 [inet 10.0.0.6]",
		"Stats",
	}
	if !reflect.DeepEqual(tb.b.calls, want) {
		t.Errorf("calls\n %q\nwant %q", tb.b.calls, want)
	}
	if !strings.Contains(tb.stdout.String(), "hosts_allocated") {
		t.Errorf("stats printed %q", tb.stdout.String())
	}

	// Standard input.
	tb = newTestbed()
	tb.stdin = "host add 1 inet 10.0.0.1\nhost flush\n"
	if code := tb.run(t, "-b -"); code != exitOK || !reflect.DeepEqual(tb.b.calls, []string{"AddHosts 1 [inet 10.0.0.1]", "FlushHosts"}) {
		t.Errorf("-b -: exit %d, calls %q, stderr %q", code, tb.b.calls, tb.stderr.String())
	}

	// A wrong line stops the batch there, after the lines before it.
	tb = newTestbed()
	p := file("host add 1 inet 10.0.0.1\nhost add 2 inte 10.0.0.2\nhost add 3 inet 10.0.0.3\n")
	if code := tb.run(t, "-b "+p); code != exitUsage {
		t.Errorf("wrong line: exit %d, want %d", code, exitUsage)
	}
	if want := "mhostctl: " + p + `:2: host add: unknown locator kind "inte"`; !strings.HasPrefix(tb.stderr.String(), want) {
		t.Errorf("wrong line: stderr %q, want %q", tb.stderr.String(), want)
	}
	if !reflect.DeepEqual(tb.b.calls, []string{"Protocols", "AddHosts 1 [inet 10.0.0.1]"}) {
		t.Errorf("wrong line: calls %q, want the kinds asked for and the line before it only", tb.b.calls)
	}

	// A host the kernel refuses is reported at its line.
	tb = newTestbed()
	tb.b.batchErr = map[uint32]error{3: &mhostnl.Error{Op: "add host 3", Message: "host already exists", Err: unix.EEXIST}}
	p = file("host add 1 inet 10.0.0.1\n\nhost add 3 inet 10.0.0.3\nhost add 4 inet 10.0.0.4\nstats\n")
	if code := tb.run(t, "-b "+p); code != exitKernel {
		t.Errorf("refused host: exit %d, want %d", code, exitKernel)
	}
	if want := "mhostctl: " + p + ":3: host add: host already exists (file exists): use 'host set' to replace it\n"; tb.stderr.String() != want {
		t.Errorf("refused host: stderr %q, want %q", tb.stderr.String(), want)
	}
	if n := len(tb.b.calls); n != 1 {
		t.Errorf("refused host: calls %q, want the batch only", tb.b.calls)
	}

	// What a batch cannot hold.
	for args, want := range map[string]string{
		"-b " + filepath.Join(dir, "missing"): "no such file or directory",
		"-b " + file("monitor\n"):             ":1: monitor: not in a batch",
		"-b " + file("host resolve a.b\n"):    ":1: host resolve: not in a batch",
		"-b " + file("bogus\n"):               `:1: unknown command "bogus"`,
	} {
		tb := newTestbed()
		if code := tb.run(t, args); code != exitUsage || !strings.Contains(tb.stderr.String(), want) {
			t.Errorf("%q: exit %d, stderr %q; want exit 1 and %q", args, code, tb.stderr.String(), want)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range []string{"--version", "-V", "-version"} {
		tb := newTestbed()
		if code := tb.run(t, args); code != exitOK || !strings.HasPrefix(tb.stdout.String(), "mhostctl ") ||
			!strings.Contains(tb.stdout.String(), "go1.") || tb.dials != 0 {
			t.Errorf("%s: exit %d, %q, %d dials", args, code, tb.stdout.String(), tb.dials)
		}
	}
}

func TestHelpTopics(t *testing.T) {
	tests := []struct{ args, want string }{
		{"help host add", "usage: mhostctl host add ID LOCATOR..."},
		{"help h a", "usage: mhostctl host add ID LOCATOR..."},
		{"host help add", "usage: mhostctl host add ID LOCATOR..."},
		{"help resolve", "usage: mhostctl host resolve NAME"},
		{"help flush", "usage: mhostctl host flush"},
		{"help stats", "usage: mhostctl stats"},
		{"help proto", "usage: mhostctl [OPTIONS] proto COMMAND [ARGS]"},
		{"h -h", "usage: mhostctl [OPTIONS] host COMMAND [ARGS]"},
		{"h s --help", "usage: mhostctl host show [-s] [ID]"},
	}
	for _, tt := range tests {
		tb := newTestbed()
		if code := tb.run(t, tt.args); code != exitOK || !strings.Contains(tb.stdout.String(), tt.want) {
			t.Errorf("%q: exit %d, stdout\n%s\nwant %q", tt.args, code, tb.stdout.String(), tt.want)
		}
	}
	for _, args := range []string{"help bogus", "help host bogus", "help list"} { // list: proto and sock have it
		tb := newTestbed()
		if code := tb.run(t, args); code != exitUsage || !strings.Contains(tb.stderr.String(), "no help for") {
			t.Errorf("%q: exit %d, stderr %q", args, code, tb.stderr.String())
		}
	}
}

func TestBatchLineOptions(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "b")
	os.WriteFile(p, []byte("stats -j\nstats\n-j -p stats\n"), 0o644)
	tb := newTestbed()
	if code := tb.run(t, "-b "+p); code != exitOK {
		t.Fatalf("exit %d, %q", code, tb.stderr.String())
	}
	out := tb.stdout.String()
	if !strings.HasPrefix(out, `{"hosts":0,`) || !strings.Contains(out, "\nCOUNTER") || !strings.Contains(out, "{\n  \"hosts\": 0,") {
		t.Errorf("a batch with options per line printed\n%s", out)
	}
	os.WriteFile(p, []byte("-n blue stats\n"), 0o644)
	if code := tb.run(t, "-b "+p); code != exitUsage || !strings.Contains(tb.stderr.String(), ":1: -n, -b, -V and -h cannot be used in a batch") {
		t.Errorf("-n in a batch: exit %d, %q", code, tb.stderr.String())
	}
}
