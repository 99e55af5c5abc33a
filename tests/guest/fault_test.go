//go:build guest

package guest_test

// Allocation failures in the control plane. These tests need a kernel
// with CONFIG_FAILSLAB and CONFIG_FAULT_INJECTION_DEBUG_FS: the harness
// runs them on the debug kernel's lane and leaves them out of every
// other lane by name (-test.skip=^TestFault).
//
// A case fails the 1st, then the 2nd, the 3rd... slab allocation of the
// thread doing one operation (/proc/thread-self/fail-nth: "Systematic
// faults using fail-nth" in Documentation/fault-injection/
// fault-injection.rst), until the operation gets through without
// reaching its nth allocation. So every allocation it makes, in mhost
// and in the netlink core around it, fails once, while other threads send
// to and receive from the hosts being changed. What must hold each time:
// the kernel reports nothing (the harness fails the run on any splat and
// scans for leaks after), the change happens entirely or not at all, and
// the caller gets a clean errno, with an extended acknowledgement message
// when the failure was in mhost's code.
//
// To tell where an injected failure struck, a tracing instance records
// the stack of every failed allocation of the thread (kmem:kmalloc and
// kmem:kmem_cache_alloc with ptr == 0, stacktrace trigger): in the trace
// buffer, not on the console.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhostnl"
	"github.com/mnet/mnet/internal/testenv"
)

const failslabDir = "/sys/kernel/debug/failslab"

// faultMaxN bounds the injections of one operation: far more allocations
// than a host change makes; reaching it means the operation never gets
// through.
const faultMaxN = 400

// failslabReady makes failslab fail what fail-nth asks for: GFP_KERNEL
// allocations included (ignore-gfp-wait), and quietly (verbose 0: the
// trace instance says where each failure struck). Restored afterwards.
func failslabReady(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(failslabDir); err != nil {
		testenv.Skipf(t, "no %s: fault injection needs CONFIG_FAILSLAB and CONFIG_FAULT_INJECTION_DEBUG_FS (the debug lane's kernel)", failslabDir)
	}
	for name, v := range map[string]string{"ignore-gfp-wait": "N", "verbose": "0"} {
		path := filepath.Join(failslabDir, name)
		old, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(v), 0); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		t.Cleanup(func() { os.WriteFile(path, old, 0) })
	}
}

// ---- the thread whose allocations fail ----

// faultThread is an OS thread of its own, in the initial network
// namespace, whose nth slab allocation can be made to fail.
type faultThread struct {
	tid  int
	work chan func()
	done chan struct{}
}

func newFaultThread(t *testing.T) *faultThread {
	t.Helper()
	ft := &faultThread{work: make(chan func()), done: make(chan struct{})}
	tidc := make(chan int)
	go func() {
		// Never unlocked: should a fail-nth be left set, the thread
		// takes it along when it exits with the goroutine.
		runtime.LockOSThread()
		defer close(ft.done)
		tidc <- unix.Gettid()
		for f := range ft.work {
			f()
		}
	}()
	ft.tid = <-tidc
	t.Cleanup(func() {
		close(ft.work)
		<-ft.done
	})
	return ft
}

func (ft *faultThread) run(f func()) {
	done := make(chan struct{})
	ft.work <- func() { f(); close(done) }
	<-done
}

// failNth runs op on the calling thread, which must be locked to it,
// with the thread's nth slab allocation failing. It returns how many
// allocations op was short of the nth: 0 if the failure was injected.
// Between setting fail-nth and resetting it the thread makes only op's
// system calls: nothing of the Go runtime's can fail instead.
func failNth(n int, op func() error) (left int, err error) {
	fd, oerr := unix.Open("/proc/thread-self/fail-nth", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if oerr != nil {
		return -1, fmt.Errorf("fail-nth: %w", oerr)
	}
	defer unix.Close(fd)
	set, zero, buf := []byte(strconv.Itoa(n)), []byte("0"), make([]byte, 32)
	if _, werr := unix.Pwrite(fd, set, 0); werr != nil {
		return -1, fmt.Errorf("setting fail-nth: %w", werr)
	}
	err = op()
	m, rerr := unix.Pread(fd, buf, 0)
	if _, werr := unix.Pwrite(fd, zero, 0); werr != nil || rerr != nil {
		// The thread may fail an allocation at any time now: take it
		// down rather than let it go on.
		panic(fmt.Sprintf("resetting fail-nth: %v %v", rerr, werr))
	}
	left, perr := strconv.Atoi(strings.TrimSpace(string(buf[:m])))
	if perr != nil {
		panic(fmt.Sprintf("fail-nth reads %q", buf[:m]))
	}
	return left, err
}

// ---- where a failure struck ----

// failTrace records the stack of each failed slab allocation of one
// thread in a tracing instance of its own.
type failTrace struct {
	dir string
}

var failTraceEvents = []string{"kmem/kmalloc", "kmem/kmem_cache_alloc"}

func newFailTrace(t *testing.T, tid int) *failTrace {
	t.Helper()
	ft := &failTrace{dir: "/sys/kernel/tracing/instances/mhost-fault"}
	if err := os.Mkdir(ft.dir, 0o755); err != nil {
		t.Fatalf("tracing instance: %v", err)
	}
	t.Cleanup(func() {
		for _, ev := range failTraceEvents {
			dir := filepath.Join(ft.dir, "events", ev)
			os.WriteFile(filepath.Join(dir, "enable"), []byte("0"), 0)
			os.WriteFile(filepath.Join(dir, "trigger"), []byte("!stacktrace"), 0)
		}
		if err := os.Remove(ft.dir); err != nil {
			t.Errorf("removing the tracing instance: %v", err)
		}
	})
	ft.follow(t, tid)
	return ft
}

// follow records the failed allocations of the thread tid from now on,
// instead of another's.
func (ft *failTrace) follow(t *testing.T, tid int) {
	t.Helper()
	cond := fmt.Sprintf("ptr == 0 && common_pid == %d", tid)
	for _, ev := range failTraceEvents {
		dir := filepath.Join(ft.dir, "events", ev)
		os.WriteFile(filepath.Join(dir, "trigger"), []byte("!stacktrace"), 0) // the previous thread's, if any
		for _, w := range [][2]string{{"filter", cond}, {"trigger", "stacktrace if " + cond}, {"enable", "1"}} {
			if err := os.WriteFile(filepath.Join(dir, w[0]), []byte(w[1]), 0); err != nil {
				t.Fatalf("%s/%s: %v", dir, w[0], err)
			}
		}
	}
}

// take returns what was recorded since the last take, and clears it.
func (ft *failTrace) take(t *testing.T) string {
	t.Helper()
	path := filepath.Join(ft.dir, "trace")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") && !tracingFrame(l) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// tracingFrame tells the frames of the tracing that records a stack,
// which head every recorded stack, from the allocation's own.
func tracingFrame(l string) bool {
	f, ok := strings.CutPrefix(strings.TrimSpace(l), "=> ")
	return ok && (strings.HasPrefix(f, "stacktrace_trigger") || strings.HasPrefix(f, "event_triggers_post_call") ||
		strings.HasPrefix(f, "trace_event_buffer_commit") || strings.HasPrefix(f, "trace_event_raw_event_"))
}

// inMhost reports whether a recorded stack passes through our modules.
func inMhost(stack string) bool {
	for _, l := range strings.Split(stack, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "=> ") && (strings.Contains(l, "mhost") || strings.Contains(l, "testproto") || strings.Contains(l, "otherproto")) {
			return true
		}
	}
	return false
}

// frames names the innermost frames of a recorded stack, for the log:
// the allocator and who called it.
func frames(stack string) string {
	var f []string
	for _, l := range strings.Split(stack, "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(l), "=> "); ok {
			if f = append(f, name); len(f) == 4 {
				break
			}
		}
	}
	if len(f) == 0 {
		return "no stack recorded"
	}
	return "in " + strings.Join(f, " < ")
}

// ---- raw generic netlink ----

// faultNL is an mhost generic netlink socket driven with raw system
// calls, so that a request is one write(2) and nothing else.
type faultNL struct {
	fd     int
	family uint16
	seq    uint32
}

func newFaultNL(t *testing.T, ns *netNS) *faultNL {
	t.Helper()
	raw := nlRawConn(t, ns.fd) // for the family id
	nl := &faultNL{family: raw.family.ID}
	ns.do(t, "netlink socket", func() (err error) {
		nl.fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
		return err
	})
	t.Cleanup(func() { unix.Close(nl.fd) })
	tv := unix.NsecToTimeval(ioTimeout.Nanoseconds())
	for _, err := range []error{
		unix.Bind(nl.fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}),
		unix.SetsockoptInt(nl.fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1),
		unix.SetsockoptInt(nl.fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1),
		unix.SetsockoptTimeval(nl.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv),
	} {
		if err != nil {
			t.Fatalf("netlink socket: %v", err)
		}
	}
	return nl
}

// hostNew returns a CmdHostNew request.
func (nl *faultNL) hostNew(h mhostnl.Host, flags uint32) []byte {
	var locs []netlink.Attribute
	for _, l := range h.Locators {
		fam, addr := uint16(mhostnl.FamilyInet6), l.Addr.As16()
		b := addr[:]
		if l.Addr.Is4() {
			a4 := l.Addr.As4()
			fam, b = uint16(mhostnl.FamilyInet), a4[:]
		}
		var extra []netlink.Attribute
		if l.Port != 0 {
			extra = append(extra, nlU16(locAPort, l.Port))
		}
		locs = append(locs, nlRawLoc(fam, b, extra...))
	}
	attrs := nlAttrs(nlU32(aHostID, h.ID), nlU32(aHostFlags, flags),
		nlNest(aHostLocators, locs...))
	nl.seq++
	msg := make([]byte, unix.NLMSG_HDRLEN+unix.GENL_HDRLEN, unix.NLMSG_HDRLEN+unix.GENL_HDRLEN+len(attrs))
	msg = append(msg, attrs...)
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], nl.family)
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(msg[8:], nl.seq)
	msg[16] = cmdHostNew
	msg[17] = genlVersion
	return msg
}

// ack reads the acknowledgement of request seq: its errno (0 for
// success) and extended acknowledgement message.
func (nl *faultNL) ack(seq uint32) (unix.Errno, string, error) {
	buf := make([]byte, 16<<10)
	for {
		n, _, err := unix.Recvfrom(nl.fd, buf, 0)
		if err != nil {
			return 0, "", err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return 0, "", err
		}
		for _, m := range msgs {
			if m.Header.Seq != seq || m.Header.Type != unix.NLMSG_ERROR || len(m.Data) < 4+unix.NLMSG_HDRLEN {
				continue
			}
			errno := unix.Errno(-int32(binary.NativeEndian.Uint32(m.Data)))
			var msg string
			if m.Header.Flags&unix.NLM_F_ACK_TLVS != 0 {
				attrs, err := netlink.UnmarshalAttributes(m.Data[4+unix.NLMSG_HDRLEN:])
				if err != nil {
					return errno, "", fmt.Errorf("extended acknowledgement: %w", err)
				}
				for _, a := range attrs {
					if a.Type == unix.NLMSGERR_ATTR_MSG {
						msg = strings.TrimRight(string(a.Data), "\x00")
					}
				}
			}
			return errno, msg, nil
		}
	}
}

// ---- traffic to the hosts ----

// hostTraffic sends to hosts by id from one socket and receives on the
// port their locators name, on threads of their own, until stopped.
type hostTraffic struct {
	stop               chan struct{}
	wg                 sync.WaitGroup
	sent, unreach, got atomic.Int64
	mu                 sync.Mutex
	errs               []string
}

func startTraffic(t *testing.T, ns *netNS, rx, port int, ids []uint32) *hostTraffic {
	t.Helper()
	tx := ns.socket(t, family, unix.SOCK_DGRAM, 0)
	tr := &hostTraffic{stop: make(chan struct{})}
	fail := func(format string, args ...any) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		if len(tr.errs) < 10 {
			tr.errs = append(tr.errs, fmt.Sprintf(format, args...))
		}
	}
	tr.wg.Add(2)
	go func() {
		defer tr.wg.Done()
		payload := []byte("fault-traffic")
		for {
			for _, id := range ids {
				select {
				case <-tr.stop:
					return
				default:
				}
				_, err := sendto(tx, payload, 0, saMhost(port, id))
				switch {
				case err == nil:
					tr.sent.Add(1)
				case errors.Is(err, unix.EHOSTUNREACH):
					tr.unreach.Add(1) // the host is not there at the moment
				case errors.Is(err, unix.EINTR):
					// The Go runtime's preemption signal.
				default:
					fail("sendto host %d: %v", id, errStr(err))
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	go func() {
		defer tr.wg.Done()
		buf := make([]byte, 2048)
		for {
			select {
			case <-tr.stop:
				return
			default:
			}
			_, _, err := recvfrom(rx, buf, 0)
			switch {
			case err == nil:
				tr.got.Add(1)
			case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
			default:
				fail("recvfrom: %v", errStr(err))
			}
		}
	}()
	t.Cleanup(tr.end)
	return tr
}

func (tr *hostTraffic) end() {
	select {
	case <-tr.stop:
	default:
		close(tr.stop)
	}
	tr.wg.Wait()
}

// check stops the traffic and fails t if it went wrong or never flowed.
func (tr *hostTraffic) check(t *testing.T) {
	t.Helper()
	tr.end()
	t.Logf("traffic: %d datagrams sent to the hosts, %d sends to a host that was away, %d received",
		tr.sent.Load(), tr.unreach.Load(), tr.got.Load())
	for _, e := range tr.errs {
		t.Error(e)
	}
	if tr.sent.Load() == 0 || tr.got.Load() == 0 {
		t.Error("no datagram went to the hosts and back while they changed")
	}
}

// faultMarkers writes the harness's fault-injection markers to the kernel
// log (tests/vm: FaultInjectionOn/Off), the closing one when the test
// ends: between them, a bare stack dump right after a report of a failed
// allocation is the kernel's own diagnostic of the failure injected, not
// a splat. Everything else still is.
func faultMarkers(t *testing.T) {
	t.Helper()
	kmsg := func(s string) {
		if err := os.WriteFile("/dev/kmsg", []byte("<5>"+s+"\n"), 0); err != nil {
			t.Errorf("writing to /dev/kmsg: %v", err)
		}
	}
	kmsg("mhost-fault-injection: on")
	t.Cleanup(func() { kmsg("mhost-fault-injection: off") })
}

// ---- the tests ----

// faultNS is a namespace with lo up, a socket on port, a control client
// and a raw netlink socket.
func faultNS(t *testing.T) (ns *netNS, c *mhostnl.Client, nl *faultNL, rx, port int) {
	t.Helper()
	ns = newNetNS(t, "fault")
	ns.setUp(t, "lo")
	rx = ns.socket(t, family, unix.SOCK_DGRAM, 0)
	port = bindAny(t, rx)
	tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(rx, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	return ns, ns.control(t), newFaultNL(t, ns), rx, port
}

func faultLocs(port uint16, addrs ...string) []mhostnl.Locator {
	var ls []mhostnl.Locator
	for _, a := range addrs {
		ls = append(ls, mhostnl.Locator{Addr: netip.MustParseAddr(a), Port: port})
	}
	return ls
}

// hostState is a host as the table shows it, or "absent".
func hostState(t *testing.T, c *mhostnl.Client, id uint32) string {
	t.Helper()
	h, err := c.Host(id)
	if err != nil {
		if errno, _, ok := nlErrInfo(err); ok && errno == unix.ENOENT {
			return "absent"
		}
		t.Fatalf("Host(%d): %v", id, err)
	}
	return nlHostString(*h)
}

func wantState(h *mhostnl.Host) string {
	if h == nil {
		return "absent"
	}
	c := *h
	c.Locators = append([]mhostnl.Locator(nil), h.Locators...)
	for i, l := range c.Locators {
		if l.Addr.Is4() {
			c.Locators[i].Family = mhostnl.FamilyInet
		} else {
			c.Locators[i].Family = mhostnl.FamilyInet6
		}
	}
	return nlHostString(c)
}

// TestFaultHostNew fails each allocation of creating a host, replacing
// its locators and appending to them, in turn, while other threads send
// to the hosts and receive what arrives.
func TestFaultHostNew(t *testing.T) {
	failslabReady(t)
	ns, c, nl, rx, port := faultNS(t)
	p := uint16(port)
	two := faultLocs(p, "127.0.0.1", "::1")
	four := faultLocs(p, "::1", "127.0.0.2", "127.0.0.1", "127.0.0.3")
	cases := []struct {
		name   string
		id     uint32
		flags  uint32
		before *mhostnl.Host // set up before each try; nil: absent
		req    mhostnl.Host
		after  mhostnl.Host
	}{
		{"create", 101, hostFCreate, nil,
			mhostnl.Host{ID: 101, Locators: four}, mhostnl.Host{ID: 101, Locators: four}},
		{"replace", 102, hostFReplace, &mhostnl.Host{ID: 102, Locators: two},
			mhostnl.Host{ID: 102, Locators: four}, mhostnl.Host{ID: 102, Locators: four}},
		{"append", 103, hostFAppend, &mhostnl.Host{ID: 103, Locators: two},
			mhostnl.Host{ID: 103, Locators: faultLocs(p, "127.0.0.2", "127.0.0.3")},
			mhostnl.Host{ID: 103, Locators: append(append([]mhostnl.Locator(nil), two...), faultLocs(p, "127.0.0.2", "127.0.0.3")...)}},
	}
	ids := []uint32{101, 102, 103}
	traffic := startTraffic(t, ns, rx, port, ids)
	th := newFaultThread(t)
	trace := newFailTrace(t, th.tid)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer c.DeleteHost(tc.id)
			var core, refused, lost, spare int
			for n := 1; ; n++ {
				if n > faultMaxN {
					t.Fatalf("still reaching an nth allocation at n=%d", faultMaxN)
				}
				// The state before, made without failures.
				if tc.before == nil {
					if err := c.DeleteHost(tc.id); err != nil && !errors.Is(err, os.ErrNotExist) {
						t.Fatalf("DeleteHost: %v", err)
					}
				} else {
					nlCheck(t, "SetHost", c.SetHost(*tc.before))
				}
				trace.take(t)
				msg := nl.hostNew(tc.req, tc.flags)
				var injected bool
				var werr error
				th.run(func() {
					var left int
					left, werr = failNth(n, func() error {
						_, err := unix.Write(nl.fd, msg)
						return err
					})
					injected = left == 0
				})
				var (
					errno  unix.Errno
					extack string
					aerr   error
				)
				if werr == nil {
					errno, extack, aerr = nl.ack(nl.seq)
				}
				stack := trace.take(t)
				state := hostState(t, c, tc.id)
				before, after := wantState(tc.before), wantState(&tc.after)
				if !injected {
					// Got through: the change must be complete.
					if werr != nil || aerr != nil || errno != 0 {
						t.Fatalf("allocation %d was not reached, yet the request failed: write %v, ack %v, errno %v %q", n, werr, aerr, errno, extack)
					}
					if state != after {
						t.Fatalf("after the request: %s, want %s", state, after)
					}
					t.Logf("%d allocations failed one by one: %d refused before mhost, %d refused by mhost, %d lost the reply, %d not needed",
						n-1, core, refused, lost, spare)
					return
				}
				what := fmt.Sprintf("allocation %d failing (%s)", n, frames(stack))
				if !strings.Contains(stack, "=> ") {
					t.Errorf("%s: the trace recorded no stack of the failed allocation: %q", what, stack)
				}
				var outcome string
				switch {
				case werr != nil:
					// The message never reached the family.
					outcome = "write: " + errStr(werr)
					if !errors.Is(werr, unix.ENOMEM) && !errors.Is(werr, unix.ENOBUFS) {
						t.Errorf("%s: write: %v, want ENOMEM or ENOBUFS", what, werr)
					}
					if state != before {
						t.Errorf("%s: write failed, but the host is %s, want %s", what, state, before)
					}
					core++
				case aerr != nil:
					// The acknowledgement could not be allocated: the
					// socket says so (ENOBUFS), and the change may have
					// been made or not, but entirely.
					outcome = "no reply: " + errStr(aerr)
					if !errors.Is(aerr, unix.ENOBUFS) {
						t.Errorf("%s: reading the acknowledgement: %v, want ENOBUFS", what, aerr)
					}
					if state != before && state != after {
						t.Errorf("%s: the host is %s, want %s or %s", what, state, before, after)
					}
					lost++
				case errno == 0:
					// An allocation the request could do without (one
					// of the checkers' own, say) failed.
					outcome = "done"
					if state != after {
						t.Errorf("%s: the request succeeded, but the host is %s, want %s", what, state, after)
					}
					spare++
				default:
					outcome = fmt.Sprintf("%s %q", unix.ErrnoName(errno), extack)
					if errno != unix.ENOMEM && errno != unix.ENOBUFS {
						t.Errorf("%s: errno %s %q, want ENOMEM", what, unix.ErrnoName(errno), extack)
					}
					if state != before {
						t.Errorf("%s: the request failed (%s), but the host is %s, want it unchanged: %s", what, unix.ErrnoName(errno), state, before)
					}
					if !inMhost(stack) {
						core++
						break
					}
					refused++
					if extack == "" {
						t.Errorf("%s: %s from mhost without an extended acknowledgement message; the failed allocation:\n%s",
							what, unix.ErrnoName(errno), stack)
					}
				}
				t.Logf("%s: %s", what, outcome)
			}
		})
	}
	traffic.check(t)
}

// failProbe is a kprobe event on should_fail_ex, the function that
// counts a task's fail-nth down: failslab calls it for each allocation
// it may fail (not __GFP_NOFAIL ones, not kmallocs too large for the
// slab caches), so its calls number the allocations as fail-nth does.
// Its stacks stop at the probe; the kmem events after each call give the
// allocation's.
const failProbe = "mhostfault/should_fail"

// countFailslab traces, until the returned function is called, every
// call of should_fail_ex by the thread tid, and every allocation of it
// with its stack. Read the trace before calling it: removing an enabled
// probe resets the buffers.
func (ft *failTrace) countFailslab(t *testing.T, tid int) (stop func()) {
	t.Helper()
	const events = "/sys/kernel/tracing/kprobe_events"
	f, err := os.OpenFile(events, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("p:" + failProbe + " should_fail_ex\n")
	f.Close()
	if err != nil {
		t.Fatalf("kprobe on should_fail_ex: %v", err)
	}
	probe := filepath.Join(ft.dir, "events", failProbe)
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		os.WriteFile(filepath.Join(probe, "enable"), []byte("0"), 0)
		if f, err := os.OpenFile(events, os.O_WRONLY|os.O_APPEND, 0); err == nil {
			if _, err := f.WriteString("-:" + failProbe + "\n"); err != nil {
				t.Errorf("removing the kprobe: %v", err)
			}
			f.Close()
		}
		ft.follow(t, tid) // failed allocations only, again
	}
	t.Cleanup(stop)
	cond := fmt.Sprintf("common_pid == %d", tid)
	writes := [][2]string{{filepath.Join(probe, "filter"), cond}, {filepath.Join(probe, "enable"), "1"}}
	for _, ev := range failTraceEvents {
		dir := filepath.Join(ft.dir, "events", ev)
		os.WriteFile(filepath.Join(dir, "trigger"), []byte("!stacktrace"), 0)
		writes = append(writes, [2]string{filepath.Join(dir, "filter"), cond},
			[2]string{filepath.Join(dir, "trigger"), "stacktrace if " + cond}, [2]string{filepath.Join(dir, "enable"), "1"})
	}
	for _, w := range writes {
		if err := os.WriteFile(w[0], []byte(w[1]), 0); err != nil {
			t.Fatalf("%s: %v", w[0], err)
		}
	}
	return stop
}

// inInterrupt tells a trace line of something done in interrupt context
// on the thread's CPU, which fail-nth does not count:
// "guest.test-171 [001] d.s1. 123.456: ...", the third flag h or s.
func inInterrupt(l string) bool {
	i := strings.Index(l, "] ")
	return i >= 0 && len(l) > i+4 && strings.ContainsAny(l[i+4:i+5], "hHs")
}

// failslabStacks numbers the should_fail_ex calls traced between two
// markers as fail-nth does and returns the stack of each one's
// allocation. An allocation's event comes after its call, and after
// those of allocations nested in it (kmemleak's own, made once the outer
// one succeeded), so calls and events pair up like brackets. Events that
// had no call are skipped: kmallocs too large for the slab caches and
// __GFP_NOFAIL ones.
func failslabStacks(trace, from, to string) ([]string, error) {
	var (
		stacks  []string
		open    []int // calls waiting for their event
		cur     = -1  // the call whose stack lines follow
		in, off bool
	)
	for _, l := range strings.Split(trace, "\n") {
		switch {
		case strings.Contains(l, "tracing_mark_write: "+from):
			in = true
		case strings.Contains(l, "tracing_mark_write: "+to):
			in = false
		case !in:
		case strings.Contains(l, " should_fail: "):
			cur = -1
			if !inInterrupt(l) {
				open = append(open, len(stacks))
				stacks = append(stacks, "")
			}
		case strings.Contains(l, " kmalloc: ") || strings.Contains(l, " kmem_cache_alloc: "):
			cur, off = -1, inInterrupt(l) || strings.Contains(l, "__GFP_NOFAIL")
			if i := strings.Index(l, "bytes_req="); i >= 0 && strings.Contains(l, " kmalloc: ") {
				if n, err := strconv.Atoi(strings.Fields(l[i+len("bytes_req="):])[0]); err == nil && n > 2*os.Getpagesize() {
					off = true
				}
			}
			if off {
				continue
			}
			if len(open) == 0 {
				return nil, fmt.Errorf("an allocation with no failslab call before it: %s", l)
			}
			cur, open = open[len(open)-1], open[:len(open)-1]
			stacks[cur] = l + "\n"
		case strings.HasPrefix(strings.TrimSpace(l), "=> ") && cur >= 0:
			stacks[cur] += l + "\n"
		}
	}
	if len(open) > 0 {
		return nil, fmt.Errorf("%d failslab calls with no allocation event after them", len(open))
	}
	return stacks, nil
}

// netnsJitter is how far the numbers of mhost's allocations may move from
// one namespace's creation to the next: DEBUG_OBJECTS refills its pool
// of tracking objects, in batches, whenever it runs low, in whichever
// task allocates then.
const netnsJitter = 24

// netnsPasses is how many times TestFaultNetns goes over the window
// at most, until each of mhost's allocations has failed once.
const netnsPasses = 3

// mhostNetnsAllocs creates a namespace with the thread's failslab calls
// traced, and returns which of its allocations, by fail-nth number,
// mhost's per-namespace setup makes, and how many unshare makes in all.
func mhostNetnsAllocs(t *testing.T, trace *failTrace) (mine []int, sites map[string]bool, total int) {
	t.Helper()
	marker, err := os.OpenFile(filepath.Join(trace.dir, "trace_marker"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer marker.Close()
	tidc, start, done := make(chan int), make(chan struct{}), make(chan struct{})
	var uerr error
	const far = 1 << 30 // a fail-nth never reached counts the allocations
	left := far
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the namespace dies with the thread
		// On one CPU, its events are in one per-CPU buffer, in order.
		var cpu0 unix.CPUSet
		cpu0.Set(0)
		unix.SchedSetaffinity(0, &cpu0)
		tidc <- unix.Gettid()
		<-start
		// The markers go inside: failNth's own system calls allocate
		// (opening fail-nth), before fail-nth is set.
		left, uerr = failNth(far, func() error {
			marker.WriteString("mhost-fault-start")
			err := unix.Unshare(unix.CLONE_NEWNET)
			marker.WriteString("mhost-fault-end")
			return err
		})
	}()
	stop := trace.countFailslab(t, <-tidc)
	trace.take(t)
	close(start)
	<-done
	// Read first: removing a probe that was enabled resets the buffers.
	raw := trace.take(t)
	stop()
	if uerr != nil {
		t.Fatalf("unshare without failures: %v", uerr)
	}
	calls, err := failslabStacks(raw, "mhost-fault-start", "mhost-fault-end")
	if err != nil {
		t.Fatalf("the trace of a namespace's creation: %v", err)
	}
	sites = map[string]bool{}
	for i, st := range calls {
		if inMhost(st) {
			mine = append(mine, i+1)
			sites[allocSite(st)] = true
			t.Logf("mhost's allocation %d: %s", i+1, allocSite(st))
		}
	}
	if counted := far - left; counted != len(calls) {
		if len(raw) > 4000 {
			raw = raw[:4000] + "\n..."
		}
		t.Fatalf("fail-nth counted %d allocations, the trace %d: the numbers of mhost's would be wrong; the trace:\n%s", counted, len(calls), raw)
	}
	return mine, sites, len(calls)
}

// allocSite names an allocation by its innermost frames below the
// allocator: the same allocation from one namespace to the next.
func allocSite(stack string) string {
	var f []string
	for _, l := range strings.Split(stack, "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(l), "=> "); ok {
			if i := strings.IndexByte(name, '+'); i > 0 {
				name = name[:i]
			}
			if f = append(f, name); len(f) == 6 {
				break
			}
		}
	}
	return strings.Join(f, " < ")
}

// TestFaultNetns fails, in turn, each allocation around those of mhost's
// per-namespace setup while unshare(CLONE_NEWNET) creates a namespace:
// mhost's own, and its neighbours' before and after it (a failure after
// it unwinds the namespace through mhost's exit). Each namespace that
// comes up all the same gets hosts and is dropped with them in it, while
// other threads send to and receive from hosts of another namespace. The
// namespaces' exit runs in a kernel worker, which fail-nth cannot reach:
// it is exercised with the hosts the tries leave behind, all of which
// must be freed.
//
// A first, traced namespace says which allocations, by fail-nth number,
// are mhost's; the window around them covers the way the numbers move
// from one namespace to the next. Not every allocation of unshare fails:
// it makes over a thousand, each try takes a second or two here.
func TestFaultNetns(t *testing.T) {
	failslabReady(t)
	ns, c, _, rx, port := faultNS(t)
	const id = 201
	nlCheck(t, "AddHost", c.AddHost(mhostnl.Host{ID: id, Locators: faultLocs(uint16(port), "127.0.0.1", "::1")}))
	defer c.DeleteHost(id)
	traffic := startTraffic(t, ns, rx, port, []uint32{id})
	// Host counts are per namespace now: the module-wide one tells
	// whether the dead namespaces' hosts were freed.
	baseline := nlSettled(t, func() uint64 { return nlAllAllocated(t) })
	trace := newFailTrace(t, 0)

	mine, sites, total := mhostNetnsAllocs(t, trace)
	t.Logf("unshare(CLONE_NEWNET) makes %d slab allocations; mhost's setup makes numbers %v", total, mine)
	if len(mine) == 0 {
		t.Fatal("no allocation of mhost's traced while creating a namespace")
	}

	hosts := []mhostnl.Host{
		{ID: 1, Locators: faultLocs(0, "10.0.0.1", "fd00::1")},
		{ID: 2, Locators: faultLocs(7000, "10.0.0.2", "fd00::2", "10.0.0.22")},
	}
	// The numbers move a little from one namespace to the next (see
	// netnsJitter): fail each allocation around them, and check that
	// every one of mhost's failed at least once. Some of the neighbours'
	// setup prints a stack when its allocation fails (sysctl
	// registration): the markers tell the harness these are made to fail.
	faultMarkers(t)
	struck := map[string]bool{}
	try := func(n int) {
		var injected bool
		var uerr, herr error
		tidc, start, done := make(chan int), make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			// Never unlocked: the thread leaves the namespace, and the
			// namespace dies, when the goroutine ends.
			runtime.LockOSThread()
			tidc <- unix.Gettid()
			<-start
			var left int
			left, uerr = failNth(n, func() error { return unix.Unshare(unix.CLONE_NEWNET) })
			injected = left == 0
			if uerr != nil {
				return
			}
			cl, err := mhostnl.Dial(nil) // in the new namespace
			if err != nil {
				herr = err
				return
			}
			defer cl.Close()
			herr = cl.AddHosts(hosts)
		}()
		trace.follow(t, <-tidc)
		trace.take(t)
		close(start)
		<-done
		stack := trace.take(t)
		what := fmt.Sprintf("allocation %d failing (in %s)", n, allocSite(stack))
		ours := inMhost(stack)
		if ours {
			struck[allocSite(stack)] = true
		}
		switch {
		case !injected:
			t.Errorf("allocation %d was not reached: unshare makes fewer allocations than traced", n)
		case uerr == nil:
			t.Logf("%s: the namespace came up all the same", what)
			if herr != nil {
				t.Errorf("%s: the namespace came up but adding hosts failed: %v", what, herr)
			}
		case ours:
			// mhost's per-namespace setup: it must say what it is.
			t.Logf("%s: unshare: %v", what, uerr)
			if !errors.Is(uerr, unix.ENOMEM) {
				t.Errorf("%s: unshare: %v, want ENOMEM; the failed allocation:\n%s", what, uerr, stack)
			}
		default:
			// A neighbour's setup (loopback's): its errno is its own.
			t.Logf("%s: unshare: %v (not mhost's)", what, uerr)
		}
	}
	// The numbers can move between two tries, so that one of mhost's
	// allocations falls between them: another pass over the window
	// catches it, as a few more do on a busy machine.
	var missed []string
	for pass := 1; pass <= netnsPasses; pass++ {
		for n := max(mine[0]-netnsJitter, 1); n <= mine[len(mine)-1]+netnsJitter; n++ {
			try(n)
		}
		missed = missed[:0]
		for site := range sites {
			if !struck[site] {
				missed = append(missed, site)
			}
		}
		if len(missed) == 0 {
			break
		}
		t.Logf("pass %d over allocations %d±%d: mhost's %q not failed yet", pass, mine[0], netnsJitter, missed)
	}
	for _, site := range missed {
		t.Errorf("mhost's allocation %s never failed in %d passes: its number moved more than %d", site, netnsPasses, netnsJitter)
	}

	// Every namespace is gone or going: their hosts must all be freed.
	var last uint64
	if !poll(time.Minute, func() bool {
		last = nlAllAllocated(t)
		return last <= baseline
	}) {
		t.Errorf("%d hosts allocated a minute after the namespaces died, %d before", last, baseline)
	}
	traffic.check(t)
}
