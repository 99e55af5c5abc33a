package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mnet/mnet/gosdk/mhostnl"
	"golang.org/x/sys/unix"
)

// testNow is the time of the tests' clock.
var testNow = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// fakeBackend stands in for the kernel: it records the calls and answers
// from its fields.
type fakeBackend struct {
	calls  []string
	hosts  []mhostnl.Host
	protos []mhostnl.Protocol
	socks  []mhostnl.Socket
	stats  mhostnl.Stats
	devs   []mhostnl.Device // every device the kernel knows; Devices lists the enabled ones
	live   mhostnl.LiveSettings
	err    error // returned by every call when set
	// batchErr fails the hosts of a batch by id.
	batchErr map[uint32]error
	events   []eventOrError
	closed   bool
}

type eventOrError struct {
	ev  mhostnl.Event
	err error
}

func (f *fakeBackend) call(format string, args ...any) error {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	return f.err
}

func hostString(h mhostnl.Host) string {
	var parts []string
	for _, l := range h.Locators {
		parts = append(parts, l.String())
	}
	s := fmt.Sprintf("%d [%s]", h.ID, strings.Join(parts, ", "))
	if h.Live != nil {
		s += " live [" + knobsText(h.Live) + "]"
	}
	return s
}

func (f *fakeBackend) Protocols() ([]mhostnl.Protocol, error) {
	return slices.Clone(f.protos), f.call("Protocols")
}

func (f *fakeBackend) Hosts() ([]mhostnl.Host, error) { return slices.Clone(f.hosts), f.call("Hosts") }

func (f *fakeBackend) Host(id uint32) (*mhostnl.Host, error) {
	if err := f.call("Host %d", id); err != nil {
		return nil, err
	}
	for _, h := range f.hosts {
		if h.ID == id {
			return &h, nil
		}
	}
	return nil, &mhostnl.Error{Op: "get host", Message: "no such host", Err: unix.ENOENT}
}

func (f *fakeBackend) AddHost(h mhostnl.Host) error { return f.call("AddHost %s", hostString(h)) }

func (f *fakeBackend) AddHosts(hs []mhostnl.Host) error { return f.batch("AddHosts", hs) }
func (f *fakeBackend) SetHosts(hs []mhostnl.Host) error { return f.batch("SetHosts", hs) }

// batch records a batch call; batchErr, when set, fails the hosts with
// the ids it maps, as the kernel would.
func (f *fakeBackend) batch(name string, hs []mhostnl.Host) error {
	var parts []string
	for _, h := range hs {
		parts = append(parts, hostString(h))
	}
	if err := f.call("%s %s", name, strings.Join(parts, "; ")); err != nil {
		return err
	}
	var be mhostnl.BatchError
	for i, h := range hs {
		if err := f.batchErr[h.ID]; err != nil {
			be.Errors = append(be.Errors, mhostnl.HostError{Index: i, ID: h.ID, Err: err})
		}
	}
	if len(be.Errors) > 0 {
		be.Sent = len(hs)
		return &be
	}
	return nil
}
func (f *fakeBackend) SetHost(h mhostnl.Host) error { return f.call("SetHost %s", hostString(h)) }
func (f *fakeBackend) ReplaceHost(h mhostnl.Host) error {
	return f.call("ReplaceHost %s", hostString(h))
}
func (f *fakeBackend) AppendLocators(id uint32, locs []mhostnl.Locator, create bool) error {
	return f.call("AppendLocators %s create=%v", hostString(mhostnl.Host{ID: id, Locators: locs}), create)
}
func (f *fakeBackend) DeleteHost(id uint32) error { return f.call("DeleteHost %d", id) }
func (f *fakeBackend) FlushHosts() error          { return f.call("FlushHosts") }
func (f *fakeBackend) Sockets() ([]mhostnl.Socket, error) {
	return slices.Clone(f.socks), f.call("Sockets")
}
func (f *fakeBackend) Stats() (*mhostnl.Stats, error) {
	s := f.stats
	return &s, f.call("Stats")
}
func (f *fakeBackend) Devices() ([]mhostnl.Device, error) {
	var out []mhostnl.Device
	for _, d := range f.devs {
		if d.L3 {
			out = append(out, d)
		}
	}
	return out, f.call("Devices")
}

func (f *fakeBackend) Device(ifindex int) (*mhostnl.Device, error) {
	if err := f.call("Device %d", ifindex); err != nil {
		return nil, err
	}
	for _, d := range f.devs {
		if d.Index == ifindex {
			return &d, nil
		}
	}
	return nil, &mhostnl.Error{Op: "get device", Message: "no such device", Err: unix.ENODEV}
}

func (f *fakeBackend) SetDevice(ifindex int, l3 bool) error {
	return f.call("SetDevice %d l3=%v", ifindex, l3)
}

func (f *fakeBackend) Liveness() (*mhostnl.LiveSettings, error) {
	s := f.live
	return &s, f.call("Liveness")
}
func (f *fakeBackend) SetLiveness(s mhostnl.LiveSettings) error {
	var parts []string
	if k := knobsText(&s.LiveKnobs); k != "" {
		parts = append(parts, k)
	}
	if s.Port != nil {
		parts = append(parts, fmt.Sprintf("port %d", *s.Port))
	}
	if s.Answer != nil {
		parts = append(parts, "answer "+onOffText(*s.Answer))
	}
	return f.call("SetLiveness %s", strings.Join(parts, " "))
}
func (f *fakeBackend) Close() error { f.closed = true; return nil }

func (f *fakeBackend) Watch(ctx context.Context) (watcher, error) {
	if err := f.call("Watch"); err != nil {
		return nil, err
	}
	return &fakeWatcher{ctx: ctx, events: f.events}, nil
}

type fakeWatcher struct {
	ctx    context.Context
	events []eventOrError
}

func (w *fakeWatcher) Next() (mhostnl.Event, error) {
	if len(w.events) == 0 {
		<-w.ctx.Done() // nothing more happens: wait to be interrupted
		return mhostnl.Event{}, w.ctx.Err()
	}
	e := w.events[0]
	w.events = w.events[1:]
	return e.ev, e.err
}

func (w *fakeWatcher) Close() error { return nil }

// fakeResolver answers from a table of name → addresses; a name mapped to
// nil does not exist.
type fakeResolver struct {
	addrs map[string][]string
	fail  map[string]error // network ("ip4", "ip6") → error
}

func (r *fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	if err := r.fail[network]; err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, s := range r.addrs[host] {
		a := netip.MustParseAddr(s)
		if (network == "ip4") == a.Is4() {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

// testbed is an environment of fakes.
type testbed struct {
	b              *fakeBackend
	dials          int
	dialNetNS      []int // the namespace of each dial
	linkLists      int   // calls of links
	dialErr        error
	resolver       *fakeResolver
	stdin          string
	stdout, stderr bytes.Buffer
}

var testInterfaces = map[string]int{"lo": 1, "eth0": 2, "veth0": 5}

// testDevices are the devices of testInterfaces as the kernel keeps them.
var testDevices = []mhostnl.Device{{Index: 1, Name: "lo", L3: true}, {Index: 2, Name: "eth0"}, {Index: 5, Name: "veth0", L3: true}}

// testNetNS are the namespaces -n finds, by name, with their descriptors.
var testNetNS = map[string]int{"blue": 42, "/proc/1/ns/net": 43}

func newTestbed() *testbed {
	return &testbed{
		b: &fakeBackend{devs: testDevices, protos: []mhostnl.Protocol{
			{Family: 2, Name: "inet", Module: "kernel", AddrLen: 4, TxPackets: 10, RxPackets: 20},
			{Family: 10, Name: "inet6", Module: "kernel", AddrLen: 16, TxPackets: 30, RxPackets: 40},
			{Family: 1, Name: "testproto", Module: "mhost_testproto", AddrLen: 6},
		}},
		resolver: &fakeResolver{addrs: map[string][]string{}},
	}
}

func (tb *testbed) env() *env {
	return &env{
		now:    func() time.Time { return testNow },
		stdout: &tb.stdout,
		stderr: &tb.stderr,
		stdin:  strings.NewReader(tb.stdin),
		dial: func(netns int) (backend, error) {
			tb.dials++
			tb.dialNetNS = append(tb.dialNetNS, netns)
			if tb.dialErr != nil {
				return nil, tb.dialErr
			}
			return tb.b, nil
		},
		links: func(netns int) (*links, error) {
			tb.linkLists++
			lk := &links{byName: map[string]int{}, byIndex: map[int]string{}}
			for n, i := range testInterfaces {
				if netns != 0 {
					n = "ns-" + n // another namespace, other names
				}
				lk.byName[n], lk.byIndex[i] = i, n
			}
			return lk, nil
		},
		openNetNS: func(name string) (int, func(), error) {
			if fd, ok := testNetNS[name]; ok {
				return fd, func() {}, nil
			}
			return 0, nil, &fs.PathError{Op: "open", Path: "/run/netns/" + name, Err: fs.ErrNotExist}
		},
		resolver: tb.resolver,
	}
}

// run runs mhostctl with args split on spaces.
func (tb *testbed) run(t *testing.T, args string) int {
	t.Helper()
	return tb.runArgs(context.Background(), strings.Fields(args))
}

func (tb *testbed) runArgs(ctx context.Context, args []string) int {
	tb.stdout.Reset()
	tb.stderr.Reset()
	return run(ctx, args, tb.env())
}
