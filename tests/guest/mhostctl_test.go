//go:build guest

package guest_test

// mhostctl end to end: the harness installs the binary as
// /usr/bin/mhostctl. These tests work in the initial namespace (each run
// of mhostctl is a new process) and leave its host table empty.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/mnet/mnet/gosdk/mhost"
	"github.com/mnet/mnet/gosdk/mhostnl"
)

// nlCtlPath finds the mhostctl binary.
func nlCtlPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("mhostctl"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/mhostctl"); err == nil {
		return "/usr/bin/mhostctl"
	}
	t.Fatal("mhostctl is neither in PATH nor /usr/bin: the VM harness must install it")
	return ""
}

// nlCtlResult is what a run of mhostctl did.
type nlCtlResult struct {
	args           string
	stdout, stderr string
	code           int
}

func (r nlCtlResult) String() string {
	return fmt.Sprintf("mhostctl %s: exit %d\nstdout:\n%sstderr:\n%s", r.args, r.code, r.stdout, r.stderr)
}

// nlCtl runs mhostctl with args (split on spaces) and attr (nil: as root).
func nlCtl(t *testing.T, attr *syscall.SysProcAttr, args string) nlCtlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nlCtlPath(t), strings.Fields(args)...)
	cmd.SysProcAttr = attr
	cmd.Dir = "/"
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := nlCtlResult{args: args, stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		r.code = ee.ExitCode()
	default:
		t.Fatalf("mhostctl %s: %v\n%s", args, err, r)
	}
	return r
}

// nlCtlOK runs mhostctl as root and fails the test unless it exits 0.
func nlCtlOK(t *testing.T, args string) nlCtlResult {
	t.Helper()
	r := nlCtl(t, nil, args)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	return r
}

// nlCtlFails runs mhostctl and checks its exit status (1 for a wrong
// command line, 2 for an error the kernel reported) and that its
// standard error says want.
func nlCtlFails(t *testing.T, attr *syscall.SysProcAttr, args string, code int, want string) {
	t.Helper()
	r := nlCtl(t, attr, args)
	if r.code != code || !strings.Contains(r.stderr, want) || r.stdout != "" {
		t.Errorf("want exit %d and %q on stderr, nothing on stdout; got %s", code, want, r)
	}
}

// The JSON shapes of mhostctl.
type nlCtlLocator struct {
	Family       string `json:"family"`
	FamilyNumber int    `json:"family_number"`
	Address      string `json:"address"`
	Port         int    `json:"port"`
	Ifindex      int    `json:"ifindex"`
	Dev          string `json:"dev"`
	TxPackets    uint64 `json:"tx_packets"`
	State        string `json:"state"`
	Cause        string `json:"cause"`
	TxErrors     uint64 `json:"tx_errors"`
}

type nlCtlHost struct {
	ID       uint32         `json:"id"`
	Locators []nlCtlLocator `json:"locators"`
}

func nlJSON(t *testing.T, r nlCtlResult, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("decoding the JSON of %v: %v", r, err)
	}
}

// nlLocatorsText renders JSON locators as "inet6 fd00::2, inet 10.0.0.2".
func nlLocatorsText(ls []nlCtlLocator) string {
	var s []string
	for _, l := range ls {
		x := l.Family + " " + l.Address
		if l.Port != 0 {
			x += " port " + strconv.Itoa(l.Port)
		}
		s = append(s, x)
	}
	return strings.Join(s, ", ")
}

// nlInitialTable returns a client of the initial namespace whose host
// table is empty, and empties it again when the test ends.
func nlInitialTable(t *testing.T) *mhostnl.Client {
	c := nlDial(t, 0)
	if hosts, err := c.Hosts(); err != nil || len(hosts) != 0 {
		t.Logf("the initial namespace has %d hosts (%v) before the test; flushing", len(hosts), err)
	}
	nlCheck(t, "FlushHosts", c.FlushHosts())
	t.Cleanup(func() {
		if err := c.FlushHosts(); err != nil {
			t.Errorf("FlushHosts: %v", err)
		}
	})
	return c
}

func TestMhostctlHosts(t *testing.T) {
	c := nlInitialTable(t)

	if r := nlCtlOK(t, "host add 7 inet6 fd00::2 inet 10.0.0.2"); r.stdout != "" || r.stderr != "" {
		t.Errorf("host add printed something: %s", r)
	}
	nlWantHost(t, c, mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{nlLoc("fd00::2"), nlLoc("10.0.0.2")}})

	// The table: a header, then one row per locator, in order.
	r := nlCtlOK(t, "host show 7")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") ||
		strings.Join(strings.Fields(lines[1])[:3], " ") != "7 inet6 fd00::2" ||
		strings.Join(strings.Fields(lines[2])[:3], " ") != "7 inet 10.0.0.2" {
		t.Errorf("host show 7: want a header and rows for inet6 fd00::2 then inet 10.0.0.2; got %s", r)
	}

	var hosts []nlCtlHost
	nlJSON(t, nlCtlOK(t, "host show --json"), &hosts)
	if len(hosts) != 1 || hosts[0].ID != 7 || nlLocatorsText(hosts[0].Locators) != "inet6 fd00::2, inet 10.0.0.2" ||
		hosts[0].Locators[0].FamilyNumber != 10 || hosts[0].Locators[1].FamilyNumber != 2 {
		t.Errorf("host show --json = %+v", hosts)
	}

	nlCtlFails(t, nil, "host add 7 inet 10.0.0.3", 2, "host already exists")
	nlCtlOK(t, "host set 7 inet 10.0.0.3 port 7000")
	nlWantHost(t, c, mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{{Addr: netip.MustParseAddr("10.0.0.3"), Port: 7000}}})
	nlCtlOK(t, "host append 7 inet6 fe80::7 dev lo")
	nlWantHost(t, c, mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{
		{Addr: netip.MustParseAddr("10.0.0.3"), Port: 7000},
		{Addr: netip.MustParseAddr("fe80::7"), Ifindex: 1},
	}})
	nlJSON(t, nlCtlOK(t, "-j host show 7"), &hosts)
	if len(hosts) != 1 || len(hosts[0].Locators) != 2 || hosts[0].Locators[1].Dev != "lo" || hosts[0].Locators[1].Ifindex != 1 {
		t.Errorf("-j host show 7 = %+v, want the second locator on dev lo", hosts)
	}
	nlCtlFails(t, nil, "host replace 8 inet 10.0.0.8", 2, "no such host")
	nlCtlFails(t, nil, "host append 8 inet 10.0.0.8", 2, "no such host")
	nlCtlOK(t, "host append --create 8 inet 10.0.0.8")
	nlCtlFails(t, nil, "host add 9 inet6 fe80::9 dev lo inet6 fe80::9%lo", 2, "duplicate locator")
	nlCtlOK(t, "host add 9 inet 10.0.0.1 inet 10.0.0.2 inet 10.0.0.3 inet 10.0.0.4 inet 10.0.0.5")
	nlCtlFails(t, nil, "host append 9 inet 10.0.1.1 inet 10.0.1.2 inet 10.0.1.3 inet 10.0.1.4", 2, "too many locators")

	nlCtlOK(t, "host del 7")
	nlCtlFails(t, nil, "host show 7", 2, "no such host")
	nlCtlFails(t, nil, "host del 7", 2, "no such host")

	nlCtlOK(t, "host flush")
	if hosts, err := c.Hosts(); err != nil || len(hosts) != 0 {
		t.Errorf("after host flush: %d hosts, %v", len(hosts), err)
	}
	if r := nlCtlOK(t, "host show -j"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("host show -j of an empty table: %s", r)
	}
}

func TestMhostctlUsage(t *testing.T) {
	for _, args := range []string{
		"", "bogus", "host", "host bogus", "host add", "host add 7", "host add 0 inet 10.0.0.1",
		"host add 7 inet fd00::1", "host add 7 inet6 fd00::1 dev nosuchdev", "host del", "monitor --count x",
	} {
		r := nlCtl(t, nil, args)
		if r.code != 1 || !strings.HasPrefix(r.stderr, "mhostctl: ") || r.stdout != "" {
			t.Errorf("want exit 1 and a message on stderr; got %s", r)
		}
	}
	for _, args := range []string{"--help", "host -h", "host add --help", "help"} {
		if r := nlCtlOK(t, args); !strings.Contains(r.stdout, "usage: mhostctl") {
			t.Errorf("no usage in %s", r)
		}
	}
}

func TestMhostctlUnprivileged(t *testing.T) {
	c := nlInitialTable(t)
	nlCtlFails(t, nobody, "host add 7 inet 10.0.0.2", 2, "mhostctl: host add: permission denied: needs CAP_NET_ADMIN")
	nlCtlFails(t, nobody, "host flush", 2, "needs CAP_NET_ADMIN")
	if hosts, err := c.Hosts(); err != nil || len(hosts) != 0 {
		t.Errorf("nobody changed the table: %d hosts, %v", len(hosts), err)
	}
	nlCheck(t, "AddHost 7", c.AddHost(mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{nlLoc("10.0.0.2")}}))
	for _, args := range []string{"host show", "-j host show 7", "proto list", "sock list", "stats -j"} {
		if r := nlCtl(t, nobody, args); r.code != 0 {
			t.Errorf("as nobody: %s", r)
		}
	}
}

func TestMhostctlProtoSockStats(t *testing.T) {
	c := nlInitialTable(t)

	r := nlCtlOK(t, "proto list")
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) == 6 {
			rows[f[1]] = f
		}
	}
	if f := rows["inet"]; f == nil || f[0] != "2" || f[2] != "kernel" || f[3] != "4" {
		t.Errorf("proto list: no row 2 inet kernel 4 in %s", r)
	}
	if f := rows["inet6"]; f == nil || f[0] != "10" || f[2] != "kernel" || f[3] != "16" {
		t.Errorf("proto list: no row 10 inet6 kernel 16 in %s", r)
	}
	var protos []map[string]any
	nlJSON(t, nlCtlOK(t, "-j proto list"), &protos)
	found := false
	for _, p := range protos {
		if p["name"] == "inet6" && p["family_number"] == 10.0 && p["module"] == "kernel" && p["addr_len"] == 16.0 {
			found = true
		}
		for _, k := range []string{"name", "family_number", "module", "addr_len", "tx_packets", "rx_packets"} {
			if _, ok := p[k]; !ok {
				t.Errorf("proto list -j: no key %q in %v", k, p)
			}
		}
	}
	if !found {
		t.Errorf("proto list -j: no inet6 in %v", protos)
	}

	// sock list shows an open socket.
	conn, err := mhost.Listen(0)
	nlCheck(t, "mhost.Listen", err)
	defer conn.Close()
	port := conn.LocalAddr().(*mhost.HostAddr).Port
	inode := nlInode(t, conn)
	var socks []map[string]any
	nlJSON(t, nlCtlOK(t, "sock list --json"), &socks)
	found = false
	for _, s := range socks {
		if s["inode"] == float64(inode) {
			found = true
			if s["port"] != float64(port) || s["uid"] != 0.0 {
				t.Errorf("sock list --json: %v, want port %d and uid 0", s, port)
			}
			for _, k := range []string{"port", "uid", "inode", "rx_queue", "tx_queue", "drops", "peer_host_id"} {
				if _, ok := s[k]; !ok {
					t.Errorf("sock list --json: no key %q in %v", k, s)
				}
			}
		}
	}
	if !found {
		t.Errorf("sock list --json: no socket with inode %d in %v", inode, socks)
	}
	r = nlCtlOK(t, "sock list")
	if !strings.Contains(r.stdout, strconv.FormatUint(inode, 10)) || !strings.Contains(r.stdout, strconv.Itoa(int(port))) {
		t.Errorf("sock list: no row for port %d inode %d: %s", port, inode, r)
	}

	// stats agrees with the library.
	nlCheck(t, "AddHost 7", c.AddHost(mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{nlLoc("10.0.0.2")}}))
	var st map[string]any
	nlJSON(t, nlCtlOK(t, "stats -j"), &st)
	for _, k := range []string{"hosts", "sockets", "tx_host_id", "tx_failover", "tx_unreach", "rx_l3_unknown",
		"hosts_allocated", "tx_l3", "rx_l3", "rx_l3_short", "rx_l3_bad_header", "rx_l3_bad_len",
		"rx_l3_truncated", "rx_l3_no_socket"} {
		if _, ok := st[k]; !ok {
			t.Errorf("stats -j: no key %q in %v", k, st)
		}
	}
	if socks, _ := st["sockets"].(float64); st["hosts"] != 1.0 || socks < 1 {
		t.Errorf("stats -j = %v, want 1 host and at least 1 socket", st)
	}
	if r := nlCtlOK(t, "stats"); !strings.Contains(r.stdout, "hosts_allocated") {
		t.Errorf("stats: %s", r)
	}
}

func TestMhostctlMonitor(t *testing.T) {
	c := nlInitialTable(t)
	host := func(id uint32) mhostnl.Host {
		return mhostnl.Host{ID: id, Locators: []mhostnl.Locator{nlLoc(fmt.Sprintf("10.0.0.%d", id))}}
	}

	// Text, until interrupted.
	cmd := exec.Command(nlCtlPath(t), "monitor")
	stdout, err := cmd.StdoutPipe()
	nlCheck(t, "StdoutPipe", err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	nlCheck(t, "starting mhostctl monitor", cmd.Start())
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// Change the table until the monitor, which joins the group some
	// time after it starts, reports a change.
	var first string
	for end := time.Now().Add(10 * time.Second); first == "" && time.Now().Before(end); {
		nlCheck(t, "SetHost 50", c.SetHost(host(50)))
		select {
		case first = <-lines:
		case <-time.After(200 * time.Millisecond):
		}
	}
	if first != "new host 50 inet 10.0.0.50" {
		t.Fatalf("monitor's first line %q, want \"new host 50 inet 10.0.0.50\"; stderr %s", first, stderr.String())
	}
	nlCheck(t, "DeleteHost 50", c.DeleteHost(50))
	nlCheck(t, "FlushHosts", c.FlushHosts())
	var rest []string
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("monitor ended early: %q; stderr %s", rest, stderr.String())
			}
			if l == "new host 50 inet 10.0.0.50" && len(rest) == 0 {
				continue // a SetHost of the loop above
			}
			rest = append(rest, l)
			done = l == "flush"
		case <-time.After(5 * time.Second):
			t.Fatalf("monitor printed %q, then nothing for 5s", rest)
		}
	}
	if got := strings.Join(rest, "|"); got != "del host 50|flush" {
		t.Errorf("monitor printed %q, want del host 50, flush", rest)
	}
	nlCheck(t, "SIGINT", cmd.Process.Signal(os.Interrupt))
	if err := cmd.Wait(); err != nil {
		t.Errorf("monitor after SIGINT: %v (want exit 0); stderr %s", err, stderr.String())
	}

	// JSON, for one event.
	cmd = exec.Command(nlCtlPath(t), "-j", "monitor", "--count", "1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	nlCheck(t, "starting mhostctl -j monitor --count 1", cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	waiting := true
	for end := time.Now().Add(10 * time.Second); waiting && time.Now().Before(end); {
		nlCheck(t, "SetHost 51", c.SetHost(host(51)))
		select {
		case werr = <-done:
			waiting = false
		case <-time.After(200 * time.Millisecond):
		}
	}
	if waiting {
		cmd.Process.Kill()
		t.Fatalf("monitor --count 1 still running after 10s; stdout %q", out.String())
	}
	var ev struct {
		Event    string         `json:"event"`
		ID       uint32         `json:"id"`
		Locators []nlCtlLocator `json:"locators"`
	}
	if werr != nil || json.Unmarshal(out.Bytes(), &ev) != nil || ev.Event != "new" || ev.ID != 51 ||
		nlLocatorsText(ev.Locators) != "inet 10.0.0.51" || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("-j monitor --count 1: %v, stdout %q, stderr %q", werr, out.String(), stderr.String())
	}
}

// nlDNSStub answers DNS queries on 127.0.0.1:53 from records (lower-case
// names with the trailing dot); other names do not exist. It returns the
// questions it was asked, as "TYPE name".
func nlDNSStub(t *testing.T, records map[string][]string) func() []string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:53")
	nlCheck(t, "listening on 127.0.0.1:53", err)
	t.Cleanup(func() { pc.Close() })
	var (
		mu    sync.Mutex
		asked []string
	)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			resp, q, err := nlDNSAnswer(buf[:n], records)
			if err != nil {
				continue
			}
			mu.Lock()
			asked = append(asked, q)
			mu.Unlock()
			pc.WriteTo(resp, from)
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), asked...)
	}
}

func nlDNSAnswer(query []byte, records map[string][]string) ([]byte, string, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, "", err
	}
	q, err := p.Question()
	if err != nil {
		return nil, "", err
	}
	name := strings.ToLower(q.Name.String())
	addrs, known := records[name]
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true,
		RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	if !known {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	if err := b.StartQuestions(); err != nil {
		return nil, "", err
	}
	if err := b.Question(q); err != nil {
		return nil, "", err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, "", err
	}
	for _, s := range addrs {
		a := netip.MustParseAddr(s)
		hdr := dnsmessage.ResourceHeader{Name: q.Name, Type: q.Type, Class: dnsmessage.ClassINET, TTL: 60}
		switch {
		case q.Type == dnsmessage.TypeA && a.Is4():
			err = b.AResource(hdr, dnsmessage.AResource{A: a.As4()})
		case q.Type == dnsmessage.TypeAAAA && a.Is6():
			err = b.AAAAResource(hdr, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
		if err != nil {
			return nil, "", err
		}
	}
	resp, err := b.Finish()
	return resp, q.Type.String() + " " + name, err
}

// nlResolvConf points the resolver at 127.0.0.1 for the test.
func nlResolvConf(t *testing.T) {
	t.Helper()
	const path = "/etc/resolv.conf"
	old, err := os.ReadFile(path)
	existed := err == nil
	nlCheck(t, "writing "+path, os.WriteFile(path, []byte("nameserver 127.0.0.1\noptions timeout:2 attempts:2\n"), 0o644))
	t.Cleanup(func() {
		if existed {
			os.WriteFile(path, old, 0o644)
		} else {
			os.Remove(path)
		}
	})
}

func TestMhostctlResolve(t *testing.T) {
	c := nlInitialTable(t)
	asked := nlDNSStub(t, map[string][]string{
		"peer.mhost.test.":   {"10.0.0.2", "fd00::2"},
		"v4only.mhost.test.": {"10.0.0.4"},
	})
	nlResolvConf(t)

	id := nlFNV("peer.mhost.test")

	r := nlCtlOK(t, "host resolve peer.mhost.test")
	if strings.TrimSpace(r.stdout) != strconv.FormatUint(uint64(id), 10) {
		t.Errorf("host resolve printed %q, want the id %d", r.stdout, id)
	}
	var hosts []nlCtlHost
	nlJSON(t, nlCtlOK(t, fmt.Sprintf("-j host show %d", id)), &hosts)
	if len(hosts) != 1 || nlLocatorsText(hosts[0].Locators) != "inet6 fd00::2, inet 10.0.0.2" {
		t.Errorf("the resolved host is %+v, want inet6 fd00::2 first, then inet 10.0.0.2", hosts)
	}
	q := strings.Join(asked(), "|")
	if !strings.Contains(q, "TypeAAAA peer.mhost.test.") || !strings.Contains(q, "TypeA peer.mhost.test.") {
		t.Errorf("the DNS server was asked %q, want AAAA and A for peer.mhost.test", q)
	}

	nlCtlFails(t, nil, "host resolve PEER.mhost.test.", 2, "use --replace")
	r = nlCtlOK(t, "host resolve peer.mhost.test --replace --id 77 --port 7000")
	if strings.TrimSpace(r.stdout) != "77" {
		t.Errorf("host resolve --id 77 printed %q", r.stdout)
	}
	nlWantHost(t, c, mhostnl.Host{ID: 77, Locators: []mhostnl.Locator{
		{Addr: netip.MustParseAddr("fd00::2"), Port: 7000},
		{Addr: netip.MustParseAddr("10.0.0.2"), Port: 7000},
	}})
	var res struct {
		ID       uint32         `json:"id"`
		Name     string         `json:"name"`
		Locators []nlCtlLocator `json:"locators"`
	}
	nlJSON(t, nlCtlOK(t, "-j host resolve v4only.mhost.test --id 78"), &res)
	if res.ID != 78 || res.Name != "v4only.mhost.test" || nlLocatorsText(res.Locators) != "inet 10.0.0.4" {
		t.Errorf("-j host resolve v4only.mhost.test = %+v", res)
	}
	nlWantHost(t, c, mhostnl.Host{ID: 78, Locators: []mhostnl.Locator{nlLoc("10.0.0.4")}})
	nlCtlFails(t, nil, "host resolve nx.mhost.test", 2, "no such host")
	if _, err := c.Host(nlFNV("nx.mhost.test")); err == nil {
		t.Error("a name that does not resolve made a host")
	}
}

// nlFNV is the host id mhostctl documents for a name: the FNV-1a hash of
// the lower-case name without a trailing dot.
func nlFNV(name string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return h.Sum32()
}
