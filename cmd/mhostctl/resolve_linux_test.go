package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/mnet/mnet/gosdk/mhostnl"
	"golang.org/x/sys/unix"
)

func TestDeriveID(t *testing.T) {
	// FNV-1a 32 of "peer.example.net", computed independently.
	const want = 1158573872
	for _, name := range []string{"peer.example.net", "Peer.Example.NET.", "PEER.EXAMPLE.NET"} {
		if got := deriveID(name); got != want {
			t.Errorf("deriveID(%q) = %d, want %d", name, got, want)
		}
	}
	if deriveID("a.example") == deriveID("b.example") {
		t.Error("two names derive the same id")
	}
}

func TestResolve(t *testing.T) {
	id := fmt.Sprint(deriveID("peer.example.net"))
	tests := []struct {
		args    string
		addrs   []string
		fail    map[string]error
		calls   []string
		stdout  string
		warning string
	}{
		{
			args:   "host resolve peer.example.net",
			addrs:  []string{"10.0.0.2", "fd00::2", "fd00::3", "fd00::2"},
			calls:  []string{"AddHost " + id + " [inet6 fd00::2, inet6 fd00::3, inet 10.0.0.2]"},
			stdout: id + "\n",
		},
		{
			args:   "host resolve --id 99 peer.example.net --port 7000",
			addrs:  []string{"10.0.0.2", "fd00::2"},
			calls:  []string{"AddHost 99 [inet6 fd00::2 port 7000, inet 10.0.0.2 port 7000]"},
			stdout: "99\n",
		},
		{
			args:   "host resolve peer.example.net --replace --id=0x63",
			addrs:  []string{"10.0.0.2"},
			calls:  []string{"SetHost 99 [inet 10.0.0.2]"},
			stdout: "99\n",
		},
		{
			args:   "host resolve peer.example.net",
			addrs:  []string{"fd00::2"},
			calls:  []string{"AddHost " + id + " [inet6 fd00::2]"},
			stdout: id + "\n",
		},
		{
			// /etc/hosts with only an IPv4 address: not a failure.
			args:   "host resolve peer.example.net",
			addrs:  []string{"10.0.0.2"},
			fail:   map[string]error{"ip6": &net.AddrError{Err: "no suitable address found", Addr: "peer.example.net"}},
			calls:  []string{"AddHost " + id + " [inet 10.0.0.2]"},
			stdout: id + "\n",
		},
		{
			args:    "host resolve peer.example.net",
			addrs:   []string{"10.0.0.2", "fd00::2"},
			fail:    map[string]error{"ip6": &netDNSTimeout},
			calls:   []string{"AddHost " + id + " [inet 10.0.0.2]"},
			stdout:  id + "\n",
			warning: "mhostctl: host resolve: IPv6 lookup failed, using IPv4 only: lookup peer.example.net: i/o timeout\n",
		},
		{
			args: "host resolve peer.example.net",
			addrs: []string{"fd00::1", "fd00::2", "fd00::3", "fd00::4", "fd00::5", "fd00::6", "fd00::7", "fd00::8", "fd00::9", "fd00::a",
				"10.0.0.1", "10.0.0.2", "10.0.0.3"},
			calls:   []string{"AddHost " + id + " [inet6 fd00::1, inet6 fd00::2, inet6 fd00::3, inet6 fd00::4, inet6 fd00::5, inet 10.0.0.1, inet 10.0.0.2, inet 10.0.0.3]"},
			stdout:  id + "\n",
			warning: "mhostctl: host resolve: peer.example.net has 13 addresses; using 5 IPv6 and 3 IPv4 ones\n",
		},
		{
			args: "host resolve peer.example.net",
			addrs: []string{"fd00::1", "fd00::2", "fd00::3", "fd00::4", "fd00::5", "fd00::6",
				"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"},
			calls:   []string{"AddHost " + id + " [inet6 fd00::1, inet6 fd00::2, inet6 fd00::3, inet6 fd00::4, inet 10.0.0.1, inet 10.0.0.2, inet 10.0.0.3, inet 10.0.0.4]"},
			stdout:  id + "\n",
			warning: "using 4 IPv6 and 4 IPv4 ones",
		},
	}
	for _, tt := range tests {
		tb := newTestbed()
		tb.resolver.addrs["peer.example.net"] = tt.addrs
		tb.resolver.fail = tt.fail
		if code := tb.run(t, tt.args); code != exitOK {
			t.Errorf("%q: exit %d, stderr %q", tt.args, code, tb.stderr.String())
			continue
		}
		if !reflect.DeepEqual(tb.b.calls, tt.calls) {
			t.Errorf("%q: calls\n %q\nwant %q", tt.args, tb.b.calls, tt.calls)
		}
		if tb.stdout.String() != tt.stdout {
			t.Errorf("%q: stdout %q, want %q", tt.args, tb.stdout.String(), tt.stdout)
		}
		if !strings.Contains(tb.stderr.String(), tt.warning) || (tt.warning == "" && tb.stderr.Len() > 0) {
			t.Errorf("%q: stderr %q, want %q", tt.args, tb.stderr.String(), tt.warning)
		}
	}
}

// netDNSTimeout is the error of a lookup that timed out.
var netDNSTimeout = net.DNSError{Err: "i/o timeout", Name: "peer.example.net", IsTimeout: true}

func TestResolveJSON(t *testing.T) {
	tb := newTestbed()
	tb.resolver.addrs["peer.example.net"] = []string{"10.0.0.2", "fd00::2"}
	if code := tb.run(t, "host resolve -j peer.example.net --id 7"); code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, tb.stderr.String())
	}
	var got jsonResolved
	if err := json.Unmarshal(tb.stdout.Bytes(), &got); err != nil {
		t.Fatalf("%v:\n%s", err, tb.stdout.String())
	}
	if got.ID != 7 || got.Name != "peer.example.net" || len(got.Locators) != 2 ||
		got.Locators[0].Address != "fd00::2" || got.Locators[1].Family != "inet" {
		t.Errorf("JSON = %+v", got)
	}
}

func TestResolveFailures(t *testing.T) {
	tests := []struct {
		name   string
		addrs  []string
		fail   map[string]error
		kernel error
		stderr string
	}{
		{name: "unknown.example", stderr: "mhostctl: host resolve: lookup unknown.example: no such host\n"},
		{name: "peer.example.net", addrs: []string{"fd00::2"}, fail: map[string]error{"ip6": &netDNSTimeout},
			stderr: "mhostctl: host resolve: lookup peer.example.net: i/o timeout\n"},
		{name: "peer.example.net", addrs: []string{"fd00::2"},
			kernel: &mhostnl.Error{Op: "add host", Message: "host already exists (replace or append it)", Err: unix.EEXIST},
			stderr: fmt.Sprintf("mhostctl: host resolve: host already exists (replace or append it) (file exists): host %d exists: use --replace to overwrite it\n", deriveID("peer.example.net"))},
		{name: "peer.example.net", addrs: []string{"fd00::2"}, kernel: &mhostnl.Error{Op: "add host", Err: unix.EPERM},
			stderr: "mhostctl: host resolve: permission denied: needs CAP_NET_ADMIN\n"},
	}
	for _, tt := range tests {
		tb := newTestbed()
		tb.resolver.addrs["peer.example.net"] = tt.addrs
		tb.resolver.fail = tt.fail
		tb.b.err = tt.kernel
		if code := tb.runArgs(context.Background(), []string{"host", "resolve", tt.name}); code != exitKernel {
			t.Errorf("%s: exit %d, want %d", tt.name, code, exitKernel)
		}
		if got := tb.stderr.String(); got != tt.stderr {
			t.Errorf("%s: stderr\n %q\nwant %q", tt.name, got, tt.stderr)
		}
		if tt.kernel == nil && tb.dials != 0 {
			t.Errorf("%s: a failed lookup opened the kernel connection", tt.name)
		}
	}
}
