//go:build guest

package guest_test

// mhost's tracepoints, read through a trace instance of its own, and the
// kernel log, which the data path must leave alone.

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhost"
	"github.com/mnet/mnet/gosdk/mhostnl"
)

// ---- the kernel log ----

// A kmsgFollower reads the kernel log records written after it was made.
type kmsgFollower struct{ fd int }

// followKmsg starts following /dev/kmsg at its current end.
func followKmsg(t *testing.T) *kmsgFollower {
	t.Helper()
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("opening /dev/kmsg: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil {
		t.Fatalf("seeking to the end of /dev/kmsg: %v", err)
	}
	return &kmsgFollower{fd: fd}
}

// lines returns the messages of the records logged since the last call.
func (k *kmsgFollower) lines(t *testing.T) []string {
	t.Helper()
	var out []string
	buf := make([]byte, 8192) // a record is at most 8 KiB
	for {
		n, err := unix.Read(k.fd, buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return out
		case errors.Is(err, unix.EPIPE):
			out = append(out, "(records lost: the log wrapped)")
			continue
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			t.Fatalf("reading /dev/kmsg: %v", err)
		}
		// "prio,seq,usec,flags;message\n" and " KEY=value" lines.
		rec := string(buf[:n])
		if _, msg, ok := strings.Cut(rec, ";"); ok {
			msg, _, _ = strings.Cut(msg, "\n")
			out = append(out, msg)
		}
	}
}

// mhostLines returns the new records that mention mhost.
func (k *kmsgFollower) mhostLines(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, l := range k.lines(t) {
		if strings.Contains(strings.ToLower(l), "mhost") || strings.HasPrefix(l, "(records lost") {
			out = append(out, l)
		}
	}
	return out
}

// ---- trace instances ----

const tracefs = "/sys/kernel/tracing"

// A traceInstance is a tracing instance of tracefs: a ring buffer and
// event switches of its own, so tests do not fight over the global ones.
type traceInstance struct{ dir string }

// newTraceInstance makes a trace instance with these mhost events on,
// every one if none is named, and removes it when the test ends.
func newTraceInstance(t *testing.T, name string, events ...string) *traceInstance {
	t.Helper()
	dir := filepath.Join(tracefs, "instances", fmt.Sprintf("%s-%d", name, os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("making a trace instance: %v", err)
	}
	ti := &traceInstance{dir: dir}
	t.Cleanup(func() {
		ti.write(t, "events/mhost/enable", "0")
		// rmdir fails with EBUSY while the instance is in use (an open
		// trace_pipe); nothing of ours holds it.
		for try := 0; ; try++ {
			err := unix.Rmdir(dir)
			if err == nil || try == 50 {
				if err != nil {
					t.Errorf("removing the trace instance %s: %v", dir, err)
				}
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	ti.write(t, "buffer_size_kb", "4096")
	if len(events) == 0 {
		ti.write(t, "events/mhost/enable", "1")
	}
	for _, ev := range events {
		ti.write(t, "events/mhost/"+ev+"/enable", "1")
	}
	return ti
}

func (ti *traceInstance) write(t *testing.T, file, value string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(ti.dir, file), []byte(value), 0); err != nil {
		t.Errorf("trace instance: writing %q to %s: %v", value, file, err)
	}
}

// A traceEvent is one line of the trace: an event and its fields.
type traceEvent struct {
	name   string
	fields map[string]string
	line   string
}

var traceLineRE = regexp.MustCompile(`\s(mhost_\w+): (.*)$`)

// events stops tracing and returns the mhost events in the buffer.
func (ti *traceInstance) events(t *testing.T) []traceEvent {
	t.Helper()
	ti.write(t, "tracing_on", "0")
	b, err := os.ReadFile(filepath.Join(ti.dir, "trace"))
	if err != nil {
		t.Fatalf("reading the trace: %v", err)
	}
	var evs []traceEvent
	for _, line := range strings.Split(string(b), "\n") {
		m := traceLineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		ev := traceEvent{name: m[1], fields: map[string]string{}, line: strings.TrimSpace(line)}
		for _, kv := range strings.Fields(m[2]) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				ev.fields[k] = v
			}
		}
		evs = append(evs, ev)
	}
	return evs
}

// match reports whether ev is the event name with at least these fields.
func (ev traceEvent) match(name string, fields map[string]string) bool {
	if ev.name != name {
		return false
	}
	for k, v := range fields {
		if ev.fields[k] != v {
			return false
		}
	}
	return true
}

// traceWant is an event a test expects, by name and some of its fields.
type traceWant struct {
	what   string
	name   string
	fields map[string]string
}

// findEvents checks that each wanted event is in evs, in this order.
func findEvents(t *testing.T, evs []traceEvent, wants []traceWant) {
	t.Helper()
	i := 0
	for _, w := range wants {
		is := func(ev traceEvent) bool { return ev.match(w.name, w.fields) }
		if j := slices.IndexFunc(evs[i:], is); j >= 0 {
			i += j + 1
			continue
		}
		if j := slices.IndexFunc(evs, is); j >= 0 {
			t.Errorf("%s: %s %v came before what precedes it: %s", w.what, w.name, w.fields, evs[j].line)
		} else {
			t.Errorf("%s: no %s event with %v in the trace", w.what, w.name, w.fields)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// ---- tests ----

// TestTraceEvents drives traffic of every kind through mhost with its
// tracepoints on and checks each event and its fields.
func TestTraceEvents(t *testing.T) {
	const hid = 31337
	useL3Protos(t, testproto)
	ns := newNetNS(t, "trace")
	ns.setUp(t, "lo")
	ns.enableL3(t, 1) // for testproto over lo
	ctl := ns.control(t)
	ti := newTraceInstance(t, "mhost-test")
	netns := strconv.FormatUint(ns.inode, 10)

	// Sockets: tmp is only opened, bound and closed.
	r, s, tmp := ns.listen(t), ns.listen(t), ns.listen(t)
	rp, sp, tmpPort := portOf(t, r), portOf(t, s), portOf(t, tmp)
	tmp.Close()

	send := func(payload string, to net.Addr) {
		t.Helper()
		if _, err := s.WriteTo([]byte(payload), to); err != nil {
			t.Fatalf("WriteTo(%v): %v", to, err)
		}
		if msg, _ := readConn(t, r); msg != payload {
			t.Fatalf("read %q, want %q", msg, payload)
		}
	}
	send("over IPv4", udpAddr("127.0.0.1", rp))
	send("over IPv6 this time", udpAddr("::1", rp))
	send("tp", ethAddr(mhost.FamilyTestProto, rp, 1, make(net.HardwareAddr, 6)))

	// A host whose first locator has no route from here.
	err := ctl.AddHost(mhostnl.Host{ID: hid, Locators: []mhostnl.Locator{
		{Addr: netip.MustParseAddr("2001:db8::1")}, {Addr: netip.MustParseAddr("127.0.0.1")},
	}})
	if err != nil {
		t.Fatalf("AddHost: %v", err)
	}
	send("to the host", &mhost.HostAddr{ID: hid, Port: uint16(rp)})
	if _, err := s.WriteTo([]byte("nobody"), &mhost.HostAddr{ID: unknownHID, Port: uint16(rp)}); !errors.Is(err, unix.EHOSTUNREACH) {
		t.Errorf("sending to an unknown host id: %v, want EHOSTUNREACH", err)
	}

	// Frames dropped on the way up, one per reason; the last reason
	// needs a socket whose queue is full.
	full := ns.listen(t)
	fullPort := portOf(t, full)
	if err := full.SetReadBuffer(1); err != nil {
		t.Fatal(err)
	}
	zero := make(net.HardwareAddr, 6)
	eth := newEthSender(t, ns, 1, zero, zero)
	const fsport = 4444
	drops := []struct {
		l3             []byte
		family, length int
		reason         string
	}{
		{[]byte{1}, 0, 1, "short"},
		{cat(be16(42), be16(6), []byte{1, 2}), 42, 6, "unknown_family"},
		{cat(tpHdr(3), udpHdr(fsport, rp, 8)), 1, 12, "bad_header"},
		{cat(tpHdr(4+8+2), udpHdr(fsport, rp, 6), []byte("xx")), 1, 10, "bad_len"},
		{cat(tpHdr(4+8+2), udpHdr(fsport, rp, 11), []byte("xx")), 1, 10, "truncated"},
		{l3Packet(mhost.FamilyTestProto, fsport, 9, []byte("abc")), 1, 11, "no_socket"},
	}
	before := l3Counters(t, ctl)
	for _, d := range drops {
		if err := eth.send(d.l3); err != nil {
			t.Fatalf("sending %x on lo: %v", d.l3, err)
		}
	}
	fullPayload := bytes.Repeat([]byte{'q'}, 600)
	for range 32 {
		if err := eth.send(l3Packet(mhost.FamilyTestProto, fsport, fullPort, fullPayload)); err != nil {
			t.Fatal(err)
		}
	}
	// Frames may wait on a CPU's backlog for ksoftirqd after the send
	// returns: see them all counted before reading the trace.
	if !poll(ioTimeout, func() bool { return meminfo(t, fdOf(t, full))[unix.SK_MEMINFO_DROPS] > 0 }) {
		t.Errorf("32 datagrams of 600 bytes into the smallest receive buffer, none dropped")
	}
	var moved map[string]uint64
	if !poll(ioTimeout, func() bool {
		moved, _ = l3Delta(before, l3Counters(t, ctl))
		for _, d := range drops {
			if moved[d.reason] == 0 {
				return false
			}
		}
		return true
	}) {
		t.Errorf("after a frame for each reason to drop, the counters moved by %s", l3String(moved))
	}

	// The protocol leaves and comes back.
	if err := l3ModUnload(testproto); err != nil {
		t.Fatal(err)
	}
	if err := l3ModLoad(testproto); err != nil {
		t.Fatal(err)
	}

	evs := ti.events(t)
	if testing.Verbose() {
		t.Logf("%d mhost events in the trace", len(evs))
	}
	sendEv := func(family, dst string, dport, n, ret int) map[string]string {
		return map[string]string{"sport": itoa(sp), "family": family, "dst": dst, "dport": itoa(dport), "len": itoa(n), "ret": itoa(ret)}
	}
	recvEv := func(family string, n int) map[string]string {
		return map[string]string{"dport": itoa(rp), "family": family, "sport": itoa(sp), "len": itoa(n)}
	}
	wants := []traceWant{
		{"socket r created", "mhost_sock_create", map[string]string{"netns": netns, "port": "0"}},
		{"socket s created", "mhost_sock_create", map[string]string{"netns": netns, "port": "0"}},
		{"socket tmp created", "mhost_sock_create", map[string]string{"netns": netns, "port": "0"}},
		{"socket tmp closed", "mhost_sock_release", map[string]string{"netns": netns, "port": itoa(tmpPort)}},
		{"IPv4 send", "mhost_send", sendEv("2", "127.0.0.1", rp, 9, 9)},
		{"IPv4 receive", "mhost_recv", recvEv("2", 9)},
		{"IPv6 send", "mhost_send", sendEv("10", "::1", rp, 19, 19)},
		{"IPv6 receive", "mhost_recv", recvEv("10", 19)},
		{"testproto send", "mhost_send", sendEv("1", "00:00:00:00:00:00", rp, 2, 2)},
		{"testproto receive", "mhost_recv", recvEv("1", 2)},
		{"host id resolved", "mhost_hostid_resolve", map[string]string{"hid": itoa(hid), "locators": "2"}},
		{"host id: IPv6 locator tried", "mhost_send", sendEv("10", "2001:db8::1", rp, 11, -int(unix.ENETUNREACH))},
		{"host id: failover", "mhost_failover", map[string]string{"hid": itoa(hid), "locator": "0", "family": "10", "addr": "2001:db8::1", "err": itoa(-int(unix.ENETUNREACH))}},
		{"host id: IPv4 locator", "mhost_send", sendEv("2", "127.0.0.1", rp, 11, 11)},
		{"host id: received", "mhost_recv", recvEv("2", 11)},
		{"unknown host id", "mhost_hostid_resolve", map[string]string{"hid": itoa(unknownHID), "locators": "0"}},
	}
	wants = append(wants,
		traceWant{"testproto unregistered", "mhost_proto_unregister", map[string]string{"family": "1", "name": "testproto"}},
		traceWant{"testproto registered", "mhost_proto_register", map[string]string{"family": "1", "name": "testproto"}},
	)
	findEvents(t, evs, wants)
	// Frames are handled in the receive softirq, of either CPU: their
	// order is not checked.
	for _, d := range drops {
		findEvents(t, evs, []traceWant{{"drop " + d.reason, "mhost_drop",
			map[string]string{"ifindex": "1", "family": itoa(d.family), "len": itoa(d.length), "reason": d.reason}}})
	}
	findEvents(t, evs, []traceWant{{"drop queue_full", "mhost_drop",
		map[string]string{"ifindex": "1", "family": "1", "len": itoa(len(fullPayload)), "reason": "queue_full"}}})

	// Nothing fails over but the one send that had to.
	for _, ev := range evs {
		if ev.name == "mhost_failover" && ev.fields["hid"] != itoa(hid) {
			t.Errorf("unexpected failover: %s", ev.line)
		}
	}
	if t.Failed() {
		var lines []string
		for _, ev := range evs {
			if len(lines) < 200 {
				lines = append(lines, ev.line)
			}
		}
		t.Logf("the trace (%d events, first 200):\n%s", len(evs), strings.Join(lines, "\n"))
	}
}

// TestKernelLogQuiet sends 10,000 datagrams over every kind of path,
// host-id failover included, plus failing sends and dropped frames, and
// checks that the kernel log gained no line about mhost.
func TestKernelLogQuiet(t *testing.T) {
	const (
		count = 10000
		batch = 100
		hid   = 27027
	)
	useL3Protos(t, testproto, otherproto) // first: loading may log
	ns := newNetNS(t, "quiet")
	ns.setUp(t, "lo")
	ns.enableL3(t, 1) // for the plugged L3s over lo
	// Every send to the host fails over: 2001:db8::1 has no route.
	err := ns.control(t).AddHost(mhostnl.Host{ID: hid, Locators: []mhostnl.Locator{
		{Addr: netip.MustParseAddr("2001:db8::1")}, {Addr: netip.MustParseAddr("::1")},
	}})
	if err != nil {
		t.Fatalf("AddHost: %v", err)
	}

	r, s := ns.listen(t), ns.listen(t)
	rp := portOf(t, r)
	raiseRcvbuf(t, r, 4<<20)
	zero := make(net.HardwareAddr, 6)
	dsts := []net.Addr{
		udpAddr("127.0.0.1", rp), udpAddr("::1", rp),
		ethAddr(mhost.FamilyTestProto, rp, 1, zero), ethAddr(mhost.FamilyOtherProto, rp, 1, zero),
		&mhost.HostAddr{ID: hid, Port: uint16(rp)},
	}
	bad := []net.Addr{
		&mhost.HostAddr{ID: unknownHID, Port: uint16(rp)},      // EHOSTUNREACH
		&mhost.RawAddr{Family: 42, Data: make([]byte, 14)},     // EAFNOSUPPORT
		ethAddr(mhost.FamilyTestProto, rp, 0, zero),            // EINVAL
		ethAddr(mhost.FamilyOtherProto, rp, 12345, zero),       // ENODEV
		&net.UDPAddr{IP: net.ParseIP("2001:db8::2"), Port: rp}, // ENETUNREACH
	}
	eth := newEthSender(t, ns, 1, zero, zero)

	kmsg := followKmsg(t)
	payload := make([]byte, 32)
	buf := make([]byte, 64)
	failures, frames := 0, 0
	for i := 0; i < count; i += batch {
		for j := range batch {
			if _, err := s.WriteTo(payload, dsts[(i+j)%len(dsts)]); err != nil {
				t.Fatalf("datagram %d to %v: %v", i+j, dsts[(i+j)%len(dsts)], err)
			}
		}
		for range batch {
			r.SetReadDeadline(deadline())
			if _, _, err := r.ReadFrom(buf); err != nil {
				t.Fatalf("after %d datagrams: %v", i, err)
			}
		}
		// Sends that fail and frames that are dropped, now and then.
		if i%(10*batch) == 0 {
			for _, d := range bad {
				if _, err := s.WriteTo(payload, d); err == nil {
					t.Fatalf("sending to %v succeeded", d)
				}
				failures++
			}
			for _, l3 := range [][]byte{{1}, cat(be16(42), be16(4)), cat(tpHdr(2), udpHdr(1, 2, 8)), l3Packet(mhost.FamilyOtherProto, 1, 9, nil)} {
				if err := eth.send(l3); err != nil {
					t.Fatal(err)
				}
				frames++
			}
		}
	}
	t.Logf("%d datagrams, %d failed sends, %d dropped frames", count, failures, frames)
	if lines := kmsg.mhostLines(t); len(lines) > 0 {
		t.Errorf("the kernel log grew by %d lines about mhost:\n%s", len(lines), strings.Join(lines, "\n"))
	}
}
