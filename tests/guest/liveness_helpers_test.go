//go:build guest

package guest_test

// Helpers of liveness_test.go: a lab of two namespaces joined by two
// paths and a plugged L3, a flow of numbered datagrams that says when
// and over which path each one arrived, the liveness attributes and
// events read with raw netlink, nftables rules, and forged ICMPv6.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhost"
	"github.com/mnet/mnet/gosdk/mhostnl"
)

// The reply rate limit per source, as the UAPI header documents it.
const (
	liveRLRate  = 200 // a second
	liveRLBurst = 50
)

// Locator states and causes (enum mhost_loc_state, enum mhost_loc_cause).
var (
	liveStates = []string{"unknown", "up", "suspect", "down"}
	liveCauses = []string{"none", "traffic", "probe_reply", "probe_timeout", "icmp", "neigh", "link"}
)

func liveName(names []string, v uint8) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%d?", v)
}

// liveLoc is a locator with what path liveness says of it.
type liveLoc struct {
	Addr    string // IP address, or the plugged L3's address in hex
	State   string
	Prev    string // events only
	Cause   string
	Heard   time.Duration // -1: never
	Changed time.Duration // -1: never
	RTT     time.Duration // 0: no sample
	RTTVar  time.Duration
	Flaps   uint32
	Hold    time.Duration
	Tx      uint64
}

func (l liveLoc) String() string {
	s := fmt.Sprintf("%s %s (%s)", l.Addr, l.State, l.Cause)
	if l.Prev != "" {
		s = fmt.Sprintf("%s %s -> %s (%s)", l.Addr, l.Prev, l.State, l.Cause)
	}
	if l.RTT > 0 {
		s += fmt.Sprintf(" rtt %v/%v", l.RTT, l.RTTVar)
	}
	if l.Heard >= 0 {
		s += fmt.Sprintf(" heard %v ago", l.Heard)
	}
	if l.Flaps > 0 {
		s += fmt.Sprintf(" flaps %d", l.Flaps)
	}
	if l.Hold > 0 {
		s += fmt.Sprintf(" held %v", l.Hold)
	}
	return s
}

// liveDecodeLoc decodes an MHOST_A_LOCATOR with its liveness.
func liveDecodeLoc(b []byte) liveLoc {
	l := liveLoc{Heard: -1, Changed: -1}
	var family uint16
	var addr []byte
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return l
	}
	ms := func() time.Duration { return time.Duration(ad.Uint32()) * time.Millisecond }
	us := func() time.Duration { return time.Duration(ad.Uint32()) * time.Microsecond }
	for ad.Next() {
		switch ad.Type() {
		case locAFamily:
			family = ad.Uint16()
		case locAAddr:
			addr = ad.Bytes()
		case locATxPackets:
			l.Tx = ad.Uint64()
		case locAState:
			l.State = liveName(liveStates, ad.Uint8())
		case locAPrevState:
			l.Prev = liveName(liveStates, ad.Uint8())
		case locACause:
			l.Cause = liveName(liveCauses, ad.Uint8())
		case locALastHeard:
			l.Heard = ms()
		case locAChanged:
			l.Changed = ms()
		case locARTT:
			l.RTT = us()
		case locARTTVar:
			l.RTTVar = us()
		case locAFlaps:
			l.Flaps = ad.Uint32()
		case locAHold:
			l.Hold = ms()
		}
	}
	if a, ok := netip.AddrFromSlice(addr); ok && (family == unix.AF_INET || family == unix.AF_INET6) {
		l.Addr = a.String()
	} else {
		l.Addr = net.HardwareAddr(addr).String()
	}
	return l
}

// liveHostLocs decodes the locators of a HOST_GET answer or event.
func liveHostLocs(b []byte) (uint32, []liveLoc, error) {
	var hid uint32
	var locs []liveLoc
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return 0, nil, err
	}
	for ad.Next() {
		switch ad.Type() {
		case aHostID:
			hid = ad.Uint32()
		case aHostLocators:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					locs = append(locs, liveDecodeLoc(nad.Bytes()))
				}
				return nil
			})
		}
	}
	return hid, locs, ad.Err()
}

// locs returns the locators of host hid, with their liveness.
func (r *nlRaw) locs(hid uint32) ([]liveLoc, error) {
	msgs, err := r.get(cmdHostGet, 0, nlAttrs(nlU32(aHostID, hid)))
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("HOST_GET: %d answers", len(msgs))
	}
	_, locs, err := liveHostLocs(msgs[0].Data)
	return locs, err
}

// liveKnobs reads the nest of liveness knobs at typ of a message.
func liveKnobs(b []byte, typ uint16) (map[uint16]uint32, error) {
	knobs := map[uint16]uint32{}
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return nil, err
	}
	for ad.Next() {
		if ad.Type() != typ {
			continue
		}
		ad.Nested(func(nad *netlink.AttributeDecoder) error {
			for nad.Next() {
				switch len(nad.Bytes()) {
				case 1:
					knobs[nad.Type()] = uint32(nad.Uint8())
				case 2:
					knobs[nad.Type()] = uint32(nad.Uint16())
				case 4:
					knobs[nad.Type()] = nad.Uint32()
				}
			}
			return nil
		})
	}
	return knobs, ad.Err()
}

// liveSettings returns the namespace's MHOST_A_LIVE, by attribute.
func (r *nlRaw) liveSettings() (map[uint16]uint32, error) {
	msgs, err := r.get(cmdLiveGet, 0, nil)
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("LIVE_GET: %d answers", len(msgs))
	}
	return liveKnobs(msgs[0].Data, aLive)
}

// ---- the lab ----

// liveHID is the host id each namespace of the lab has for the other.
const liveHID = 7

// liveLab is two namespaces, a and b, joined by two veth pairs: the
// first carries IPv6 (fd00::/64), the second IPv4 (10.0.0.0/24) and
// testproto. In each, host 7 is the other: [inet6, inet, testproto], in
// this order of preference. b keeps a second address, fd00::22, so that
// removing fd00::2 leaves its route: packets to fd00::2 are then
// dropped in silence (b does not forward) instead of answered with an
// ICMPv6 error; it is deprecated, so that b's datagrams leave from
// fd00::2 while that one is there. b keeps its IPv6 addresses when its
// link goes down, as a host whose cable is pulled does.
type liveLab struct {
	a, b         *netNS
	v6, v4       *vethPair
	ra, rb       *nlRaw
	ca           *mhostnl.Client // a's, through which the tests read what mhost reports
	srv, cli     int             // b's and a's AF_MHOST sockets
	srvPort      int
	cliPort      int
	bridge       int // b's bridge on the IPv6 path, if asked for
	events       *liveEvents
	withL3       bool
	v6Addr       netip.Prefix
	v6AddrB      netip.Prefix
	v4Addr       netip.Prefix
	bridgeOnPath bool
}

type liveLabConfig struct {
	// Bridge puts b's end of the IPv6 pair in a bridge that carries its
	// IPv6 addresses: the bridge going down is the far end of a link
	// going down while a's end keeps its carrier, as behind a switch.
	Bridge bool
}

func newLiveLab(t *testing.T, cfg liveLabConfig) *liveLab {
	t.Helper()
	useL3Protos(t, testproto)
	a, b := newNetNS(t, "a"), newNetNS(t, "b")
	a.setUp(t, "lo")
	b.setUp(t, "lo")
	lab := &liveLab{
		a: a, b: b, withL3: true, bridgeOnPath: cfg.Bridge,
		v6Addr:  netip.MustParsePrefix("fd00::2/64"),
		v6AddrB: netip.MustParsePrefix("fd00::22/64"),
		v4Addr:  netip.MustParsePrefix("10.0.0.2/24"),
	}
	// A veth reports its carrier changes at once only if its peer's
	// index differs from its own (linkwatch_urgent_event()); otherwise
	// the kernel may hold one back up to a second, as for a NIC. Two
	// namespaces number their devices alike: b gets one device more.
	b.addVeth(t, "pad-b", "pad-b1", 0)
	lab.v6 = newVethPair(t, a, b, vethConfig{AddrsA: prefixes("fd00::1/64")})
	v6dev, v6name := lab.v6.B.Index, lab.v6.B.Name
	if cfg.Bridge {
		lab.bridge = b.addBridge(t, "br-b", lab.v6.B.Index)
		v6dev, v6name = lab.bridge, "br-b"
	}
	b.sysctl(t, "net/ipv6/conf/"+v6name+"/keep_addr_on_down", "1")
	b.addAddr(t, v6dev, lab.v6Addr)
	b.addAddrDeprecated(t, v6dev, lab.v6AddrB)
	lab.v4 = newVethPair(t, a, b, vethConfig{
		AddrsA: prefixes("10.0.0.1/24"),
		AddrsB: []netip.Prefix{lab.v4Addr},
		L3:     true, Pair: 1,
	})
	lab.ra, lab.rb = nlRawConn(t, a.fd), nlRawConn(t, b.fd)
	ca, cb := a.control(t), b.control(t)
	lab.ca = ca
	lab.events = listenLive(t, ca)

	tp := mhostnl.Family(mhost.FamilyTestProto)
	nlCheck(t, "host 7 in a", ca.AddHost(mhostnl.Host{ID: liveHID, Locators: []mhostnl.Locator{
		nlLoc("fd00::2"), nlLoc("10.0.0.2"), {Family: tp, Raw: lab.v4.B.MAC, Ifindex: lab.v4.A.Index},
	}}))
	nlCheck(t, "host 7 in b", cb.AddHost(mhostnl.Host{ID: liveHID, Locators: []mhostnl.Locator{
		nlLoc("fd00::1"), nlLoc("10.0.0.1"), {Family: tp, Raw: lab.v4.A.MAC, Ifindex: lab.v4.B.Index},
	}}))

	lab.srv = b.socket(t, family, unix.SOCK_DGRAM, 0)
	nlCheck(t, "binding b's socket", bind(lab.srv, saMhost(0, 0)))
	lab.srvPort = localPort(t, lab.srv)
	// The server answers hosts: its peer must read as host 7 whatever
	// path a datagram took. IPV6_PKTINFO says which path that was.
	nlCheck(t, "MHOST_RECVHOSTID", unix.SetsockoptInt(lab.srv, solMhost, mhostRecvHostID, 1))
	nlCheck(t, "IPV6_RECVPKTINFO", unix.SetsockoptInt(lab.srv, unix.SOL_IPV6, unix.IPV6_RECVPKTINFO, 1))
	lab.cli = a.socket(t, family, unix.SOCK_DGRAM, 0)
	nlCheck(t, "binding a's socket", bind(lab.cli, saMhost(0, 0)))
	lab.cliPort = localPort(t, lab.cli)
	return lab
}

// locs returns host 7's locators in a, as mhostnl reports them.
func (lab *liveLab) locs(t *testing.T) []liveLoc {
	t.Helper()
	h, err := lab.ca.Host(liveHID)
	nlCheck(t, "host 7 in a", err)
	if len(h.Locators) != 3 {
		t.Fatalf("host 7 in a has %d locators: %v", len(h.Locators), h.Locators)
	}
	locs := make([]liveLoc, 0, len(h.Locators))
	for _, l := range h.Locators {
		locs = append(locs, liveLocOf(l))
	}
	return locs
}

// liveLocOf is what mhostnl reports of a locator, as the tests read it.
func liveLocOf(l mhostnl.Locator) liveLoc {
	since := func(t time.Time) time.Duration {
		if t.IsZero() {
			return -1
		}
		return time.Since(t)
	}
	return liveLoc{
		Addr: l.AddrString(), State: l.State.String(), Cause: l.Cause.String(),
		Heard: since(l.LastHeard), Changed: since(l.Changed), RTT: l.RTT, RTTVar: l.RTTVar,
		Flaps: l.Flaps, Hold: l.HoldDown, Tx: l.TxPackets,
	}
}

// ctlLocs returns host 7's locators in a as mhostctl shows them (-j).
func (lab *liveLab) ctlLocs(t *testing.T) []nlCtlLocator {
	t.Helper()
	r := nlCtlOK(t, fmt.Sprintf("-n /proc/%d/fd/%d -j host show %d", os.Getpid(), lab.a.fd, liveHID))
	var hosts []struct {
		Locators []nlCtlLocator `json:"locators"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &hosts); err != nil || len(hosts) != 1 || len(hosts[0].Locators) != 3 {
		t.Fatalf("mhostctl host show %d: %v: %s", liveHID, err, r.stdout)
	}
	return hosts[0].Locators
}

// waitState waits until locator i of host 7 in a is in state want,
// failing the test after timeout.
func (lab *liveLab) waitState(t *testing.T, i int, want string, timeout time.Duration) liveLoc {
	t.Helper()
	var locs []liveLoc
	if !poll(timeout, func() bool { locs = lab.locs(t); return locs[i].State == want }) {
		t.Fatalf("locator %d of host 7 is not %s after %v: %v", i, want, timeout, locs)
	}
	return locs[i]
}

// stat returns a counter of a's namespace.
func (lab *liveLab) stat(t *testing.T, typ uint16) uint64 {
	t.Helper()
	v, err := lab.ra.stat(typ)
	nlCheck(t, "STATS_GET", err)
	return v
}

// ---- the flow ----

// liveGap is the time between two datagrams of a flow: 200 a second.
const liveGap = 5 * time.Millisecond

// liveRx is a datagram b received: when, over which path ("inet6",
// "inet", "testproto"), and from whom b's socket said it came.
type liveRx struct {
	at   time.Time
	path string
	from string
}

// liveFlow sends numbered datagrams from a to host 7 every liveGap and
// records what b receives, for the outage it saw: a failure shows as a
// run of numbers missing, then the next ones coming over another path.
type liveFlow struct {
	lab     *liveLab
	mu      sync.Mutex
	sent    []time.Time
	got     map[uint32]liveRx
	sendErr error
	recvErr error
	stop    chan struct{}
	wg      sync.WaitGroup
}

func (lab *liveLab) flow(t *testing.T) *liveFlow {
	t.Helper()
	f := &liveFlow{lab: lab, got: map[uint32]liveRx{}, stop: make(chan struct{})}
	f.wg.Add(2)
	go f.send()
	go f.recv()
	t.Cleanup(f.end)
	return f
}

func (f *liveFlow) send() {
	defer f.wg.Done()
	to := saMhost(f.lab.srvPort, liveHID)
	next := time.Now()
	for seq := uint32(0); ; seq++ {
		select {
		case <-f.stop:
			return
		default:
		}
		// Late after a stall of the VM, it goes on from there: a burst
		// to catch up would make a loss look longer than it was.
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		now := time.Now()
		next = now.Add(liveGap)
		if _, err := sendto(f.lab.cli, binary.BigEndian.AppendUint32(nil, seq), 0, to); err != nil {
			f.mu.Lock()
			f.sendErr = fmt.Errorf("datagram %d: %w", seq, err)
			f.mu.Unlock()
			return
		}
		f.mu.Lock()
		f.sent = append(f.sent, now)
		f.mu.Unlock()
	}
}

func (f *liveFlow) recv() {
	defer f.wg.Done()
	tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
	unix.SetsockoptTimeval(f.lab.srv, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	buf, oob := make([]byte, 64), make([]byte, 256)
	for {
		n, oobn, _, from, err := recvmsg(f.lab.srv, buf, oob, 0)
		at := time.Now()
		if err != nil {
			select {
			case <-f.stop:
				return
			default:
			}
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			f.mu.Lock()
			f.recvErr = err
			f.mu.Unlock()
			return
		}
		if n != 4 {
			continue
		}
		rx := liveRx{at: at, path: "testproto", from: saString(from)}
		if len(from) == mhost.SizeofSockaddrMhost && saFamilyOf(from) == family {
			rx.from = fmt.Sprintf("hid %d", binary.NativeEndian.Uint32(from[4:]))
		}
		if cms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, cm := range cms {
				if cm.Header.Level == unix.SOL_IPV6 && cm.Header.Type == unix.IPV6_PKTINFO && len(cm.Data) >= 16 {
					if a := netip.AddrFrom16([16]byte(cm.Data[:16])); a.Is4In6() {
						rx.path = "inet"
					} else {
						rx.path = "inet6"
					}
				}
			}
		}
		f.mu.Lock()
		f.got[binary.BigEndian.Uint32(buf)] = rx
		f.mu.Unlock()
	}
}

// end stops the flow; safe to call twice.
func (f *liveFlow) end() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	f.wg.Wait()
}

// check fails the test if a send failed or a datagram did not come from
// host 7: the host id holds through every failover and failback.
func (f *liveFlow) check(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sendErr != nil {
		t.Errorf("sending to host 7: %v", f.sendErr)
	}
	if f.recvErr != nil {
		t.Errorf("receiving in b: %v", f.recvErr)
	}
	bad := 0
	for seq, rx := range f.got {
		if rx.from != "hid 7" {
			if bad++; bad <= 3 {
				t.Errorf("datagram %d over %s came from %s, want host 7", seq, rx.path, rx.from)
			}
		}
	}
}

// waitPath waits until a datagram sent from now on arrives over path,
// and returns when it was sent, failing the test after timeout.
func (f *liveFlow) waitPath(t *testing.T, path string, timeout time.Duration) time.Time {
	t.Helper()
	from := time.Now()
	var at time.Time
	if !poll(timeout, func() bool {
		var ok bool
		at, ok = f.firstOver(path, from)
		return ok
	}) {
		t.Fatalf("no datagram sent in the %v since %s arrived over %s: %s", timeout, from.Format("15:04:05.000"), path, f.summary(from))
	}
	return at
}

// firstOver returns when the first datagram sent at or after from that
// arrived over path was sent.
func (f *liveFlow) firstOver(path string, from time.Time) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, _ := slices.BinarySearchFunc(f.sent, from, func(a, b time.Time) int { return a.Compare(b) })
	for ; i < len(f.sent); i++ {
		if rx, ok := f.got[uint32(i)]; ok && rx.path == path {
			return f.sent[i], true
		}
	}
	return time.Time{}, false
}

// sentIn counts the datagrams sent in [from, from+d).
func (f *liveFlow) sentIn(from time.Time, d time.Duration) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, sent := range f.sent {
		if !sent.Before(from) && sent.Before(from.Add(d)) {
			n++
		}
	}
	return n
}

// stretch returns goal plus the time in the d from from that the guest
// did not run, as the flow's sender saw it: each gap between its sends
// (and from from to the first) beyond twice its period, less the
// period. A TCG guest on a busy host stalls for up to a second and a
// half (seen: 9 datagrams sent in 1.48 s); the liveness worker's timers
// run late by as much as the sender does, and a time the goal promises
// cannot be asserted through that. With no stall the goal stands as it
// is; the bench measures it on a quieter host.
func (f *liveFlow) stretch(from time.Time, d, goal time.Duration) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	end := from.Add(d)
	prev, stalled := from, time.Duration(0)
	add := func(t time.Time) {
		if gap := t.Sub(prev); gap > 2*liveGap {
			stalled += gap - liveGap
		}
		prev = t
	}
	for _, t := range f.sent {
		if t.Before(from) {
			continue
		}
		if !t.Before(end) {
			break
		}
		add(t)
	}
	add(end)
	return goal + stalled
}

// outage is what the flow saw of a failure at failed: how long after it
// the first datagram to arrive over path was sent, and how many of
// those sent in between were lost.
func (f *liveFlow) outage(failed time.Time, path string) (time.Duration, int, bool) {
	at, ok := f.firstOver(path, failed)
	if !ok {
		return 0, 0, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	lost := 0
	for i, sent := range f.sent {
		if !sent.Before(failed) && sent.Before(at) {
			if _, ok := f.got[uint32(i)]; !ok {
				lost++
			}
		}
	}
	return at.Sub(failed), lost, true
}

// paths counts the datagrams sent since from by the path they arrived
// over, "lost" for those that did not, up to the last one received.
func (f *liveFlow) paths(from time.Time) map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := map[string]int{}
	last := -1
	for seq := range f.got {
		last = max(last, int(seq))
	}
	for i := 0; i <= last && i < len(f.sent); i++ {
		if f.sent[i].Before(from) {
			continue
		}
		if rx, ok := f.got[uint32(i)]; ok {
			n[rx.path]++
		} else {
			n["lost"]++
		}
	}
	return n
}

// switches returns the paths, in order, that datagrams sent since from
// arrived over, each change once.
func (f *liveFlow) switches(from time.Time) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ps []string
	for i := range f.sent {
		if rx, ok := f.got[uint32(i)]; ok && !f.sent[i].Before(from) &&
			(len(ps) == 0 || ps[len(ps)-1] != rx.path) {
			ps = append(ps, rx.path)
		}
	}
	return ps
}

func (f *liveFlow) summary(from time.Time) string {
	return fmt.Sprintf("%v; paths in order %v", f.paths(from), f.switches(from))
}

// ---- events ----

// liveEvent is a MHOST_CMD_LOC_STATE event.
type liveEvent struct {
	at  time.Time
	hid uint32
	loc liveLoc
}

func (e liveEvent) String() string { return fmt.Sprintf("host %d: %v", e.hid, e.loc) }

// liveEvents collects the locator state events of a namespace.
type liveEvents struct {
	mu  sync.Mutex
	evs []liveEvent
	err error
}

func listenLive(t *testing.T, c *mhostnl.Client) *liveEvents {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := c.Watch(ctx)
	if err != nil {
		cancel()
		t.Fatalf("watching the events: %v", err)
	}
	e := &liveEvents{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := w.Next()
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
					e.mu.Lock()
					e.err = err
					e.mu.Unlock()
				}
				return
			}
			if ev.Type != mhostnl.EventLocatorState {
				continue
			}
			l := liveLocOf(ev.Host.Locators[0])
			l.Prev = ev.PrevState.String()
			e.mu.Lock()
			e.evs = append(e.evs, liveEvent{at: time.Now(), hid: ev.Host.ID, loc: l})
			e.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		w.Close()
	})
	return e
}

// of returns the events of the locator with the address addr, in order,
// since from, as "prev->state(cause)".
func (e *liveEvents) of(addr string, from time.Time) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var s []string
	for _, ev := range e.evs {
		if ev.loc.Addr == addr && !ev.at.Before(from) {
			s = append(s, ev.loc.Prev+"->"+ev.loc.State+"("+ev.loc.Cause+")")
		}
	}
	return s
}

// check fails the test if listening failed.
func (e *liveEvents) check(t *testing.T) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		t.Errorf("events: %v", e.err)
	}
}

// wantEvents checks that the events of the locator addr since from
// include want, in this order (others may come between).
func (e *liveEvents) want(t *testing.T, addr string, from time.Time, want ...string) {
	t.Helper()
	got := e.of(addr, from)
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("events of %s: %q, want %q among them in this order", addr, got, want)
	}
}

// ---- bridges, neighbours, routes ----

// addBridge makes a bridge in the namespace with the link port in it,
// both up, and returns its index.
func (ns *netNS) addBridge(t *testing.T, name string, port int) int {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.IFLA_IFNAME, name)
	ae.Nested(unix.IFLA_LINKINFO, func(nae *netlink.AttributeEncoder) error {
		nae.String(unix.IFLA_INFO_KIND, "bridge")
		return nil
	})
	attrs, err := ae.Encode()
	if err == nil {
		err = ns.rtExec(unix.RTM_NEWLINK, netlink.Create|netlink.Excl, append(rtIfinfomsg(0, 0, 0), attrs...))
	}
	if err != nil {
		t.Fatalf("namespace %s: creating bridge %s: %v", ns.name, name, err)
	}
	br := ns.linkByName(t, name).Index
	ae = netlink.NewAttributeEncoder()
	ae.Uint32(unix.IFLA_MASTER, uint32(br))
	attrs, err = ae.Encode()
	if err == nil {
		err = ns.rtExec(unix.RTM_NEWLINK, 0, append(rtIfinfomsg(port, 0, 0), attrs...))
	}
	if err != nil {
		t.Fatalf("namespace %s: putting link %d in bridge %s: %v", ns.name, port, name, err)
	}
	ns.setUp(t, name)
	return br
}

// addAddrDeprecated adds an IPv6 address whose preferred lifetime is
// over: it is valid, but not chosen as a source while others are there.
func (ns *netNS) addAddrDeprecated(t *testing.T, index int, p netip.Prefix) {
	t.Helper()
	req, err := rtIfaddr(index, p)
	if err == nil {
		ci := make([]byte, 16)                            // struct ifa_cacheinfo
		binary.NativeEndian.PutUint32(ci[0:], 0)          // ifa_prefered
		binary.NativeEndian.PutUint32(ci[4:], 0xffffffff) // ifa_valid: forever
		var extra []byte
		extra, err = netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.IFA_CACHEINFO, Data: ci}})
		req = append(req, extra...)
	}
	if err == nil {
		err = ns.rtExec(unix.RTM_NEWADDR, netlink.Create|netlink.Excl, req)
	}
	if err != nil {
		t.Fatalf("namespace %s: adding %v to link %d, deprecated: %v", ns.name, p, index, err)
	}
}

// setLink sets the link index up or down.
func (ns *netNS) setLink(t *testing.T, index int, up bool) {
	t.Helper()
	var flags uint32
	if up {
		flags = unix.IFF_UP
	}
	if err := ns.rtExec(unix.RTM_NEWLINK, 0, rtIfinfomsg(index, flags, unix.IFF_UP)); err != nil {
		t.Fatalf("namespace %s: setting link %d up=%v: %v", ns.name, index, up, err)
	}
}

// setNeigh sets the neighbour entry of addr on the link index to state
// (NUD_*), with the link-layer address mac if not nil.
func (ns *netNS) setNeigh(t *testing.T, index int, addr netip.Addr, mac net.HardwareAddr, state uint16) {
	t.Helper()
	b := make([]byte, unix.SizeofNdMsg)
	b[0] = rtFamily(addr)
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	binary.NativeEndian.PutUint16(b[8:], state)
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.NDA_DST, addr.AsSlice())
	if mac != nil {
		ae.Bytes(unix.NDA_LLADDR, mac)
	}
	attrs, err := ae.Encode()
	if err == nil {
		err = ns.rtExec(unix.RTM_NEWNEIGH, netlink.Create|netlink.Replace, append(b, attrs...))
	}
	if err != nil {
		t.Fatalf("namespace %s: neighbour %v on link %d to state %#x: %v", ns.name, addr, index, state, err)
	}
}

// failNeigh puts the neighbour entry of addr on the link index in the
// state NUD_FAILED, as the kernel does when its probes go unanswered.
func (ns *netNS) failNeigh(t *testing.T, index int, addr netip.Addr) {
	t.Helper()
	ns.setNeigh(t, index, addr, nil, unix.NUD_FAILED)
}

// addUnreachable adds a route of type unreachable to p: packets to it
// are answered with an ICMP or ICMPv6 destination unreachable.
func (ns *netNS) addUnreachable(t *testing.T, p netip.Prefix) {
	t.Helper()
	b := make([]byte, unix.SizeofRtMsg)
	b[0] = rtFamily(p.Addr())
	b[1] = byte(p.Bits())
	b[4] = unix.RT_TABLE_MAIN
	b[5] = unix.RTPROT_STATIC
	b[6] = unix.RT_SCOPE_UNIVERSE
	b[7] = unix.RTN_UNREACHABLE
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.RTA_DST, p.Addr().AsSlice())
	attrs, err := ae.Encode()
	if err == nil {
		err = ns.rtExec(unix.RTM_NEWROUTE, netlink.Create|netlink.Excl, append(b, attrs...))
	}
	if err != nil {
		t.Fatalf("namespace %s: adding an unreachable route to %v: %v", ns.name, p, err)
	}
}

// ---- nftables ----

// nftDropUDP adds to the namespace an nftables table of the family
// (unix.NFPROTO_INET, _IPV4, _IPV6) whose input chain drops every UDP
// datagram: a firewall on the path. It returns a function that deletes
// the table, which the test's end calls too.
func (ns *netNS) nftDropUDP(t *testing.T, fam uint8) func() {
	t.Helper()
	const (
		subsysNftables = 10 // NFNL_SUBSYS_NFTABLES
		msgBatchBegin  = 0x10
		msgBatchEnd    = 0x11
		msgNewTable    = 0 // NFT_MSG_NEWTABLE
		msgDelTable    = 2 // NFT_MSG_DELTABLE
		msgNewChain    = 3 // NFT_MSG_NEWCHAIN
		msgNewRule     = 6 // NFT_MSG_NEWRULE

		table, chain = "mhostlive", "in"
	)
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	nfgen := func(f uint8) []byte { return []byte{f, 0, 0, subsysNftables} } // struct nfgenmsg, res_id big-endian
	enc := func(f func(ae *netlink.AttributeEncoder)) []byte {
		ae := netlink.NewAttributeEncoder()
		f(ae)
		b, err := ae.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	nest := func(ae *netlink.AttributeEncoder, typ uint16, f func(ae *netlink.AttributeEncoder)) {
		ae.Bytes(typ|netlink.Nested, enc(f))
	}
	expr := func(ae *netlink.AttributeEncoder, name string, data func(ae *netlink.AttributeEncoder)) {
		nest(ae, 1 /* NFTA_LIST_ELEM */, func(ae *netlink.AttributeEncoder) {
			ae.String(1 /* NFTA_EXPR_NAME */, name)
			nest(ae, 2 /* NFTA_EXPR_DATA */, data)
		})
	}
	typ := func(m uint16) netlink.HeaderType { return netlink.HeaderType(subsysNftables<<8 | m) }
	batch := func(msgs ...netlink.Message) error {
		c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: ns.fd})
		if err != nil {
			return err
		}
		defer c.Close()
		all := []netlink.Message{{Header: netlink.Header{Type: msgBatchBegin, Flags: netlink.Request}, Data: nfgen(unix.AF_UNSPEC)}}
		for _, m := range msgs {
			m.Header.Flags |= netlink.Request | netlink.Acknowledge
			all = append(all, m)
		}
		all = append(all, netlink.Message{Header: netlink.Header{Type: msgBatchEnd, Flags: netlink.Request}, Data: nfgen(unix.AF_UNSPEC)})
		if _, err := c.SendMessages(all); err != nil {
			return err
		}
		if err := c.SetReadDeadline(deadline()); err != nil {
			return err
		}
		for acks := 0; acks < len(msgs); {
			got, err := c.Receive()
			if err != nil {
				return err
			}
			acks += len(got)
		}
		return nil
	}

	err := batch(
		netlink.Message{Header: netlink.Header{Type: typ(msgNewTable), Flags: netlink.Create},
			Data: append(nfgen(fam), enc(func(ae *netlink.AttributeEncoder) { ae.String(1 /* NFTA_TABLE_NAME */, table) })...)},
		netlink.Message{Header: netlink.Header{Type: typ(msgNewChain), Flags: netlink.Create},
			Data: append(nfgen(fam), enc(func(ae *netlink.AttributeEncoder) {
				ae.String(1 /* NFTA_CHAIN_TABLE */, table)
				ae.String(3 /* NFTA_CHAIN_NAME */, chain)
				nest(ae, 4 /* NFTA_CHAIN_HOOK */, func(ae *netlink.AttributeEncoder) {
					ae.Bytes(1 /* NFTA_HOOK_HOOKNUM */, be32(1 /* NF_INET_LOCAL_IN */))
					ae.Bytes(2 /* NFTA_HOOK_PRIORITY */, be32(0))
				})
				ae.String(7 /* NFTA_CHAIN_TYPE */, "filter")
			})...)},
		netlink.Message{Header: netlink.Header{Type: typ(msgNewRule), Flags: netlink.Create | netlink.Append},
			Data: append(nfgen(fam), enc(func(ae *netlink.AttributeEncoder) {
				ae.String(1 /* NFTA_RULE_TABLE */, table)
				ae.String(2 /* NFTA_RULE_CHAIN */, chain)
				nest(ae, 4 /* NFTA_RULE_EXPRESSIONS */, func(ae *netlink.AttributeEncoder) {
					// meta l4proto udp drop
					expr(ae, "meta", func(ae *netlink.AttributeEncoder) {
						ae.Bytes(1 /* NFTA_META_DREG */, be32(1 /* NFT_REG_1 */))
						ae.Bytes(2 /* NFTA_META_KEY */, be32(16 /* NFT_META_L4PROTO */))
					})
					expr(ae, "cmp", func(ae *netlink.AttributeEncoder) {
						ae.Bytes(1 /* NFTA_CMP_SREG */, be32(1))
						ae.Bytes(2 /* NFTA_CMP_OP */, be32(0 /* NFT_CMP_EQ */))
						nest(ae, 3 /* NFTA_CMP_DATA */, func(ae *netlink.AttributeEncoder) {
							ae.Bytes(1 /* NFTA_DATA_VALUE */, []byte{unix.IPPROTO_UDP})
						})
					})
					expr(ae, "immediate", func(ae *netlink.AttributeEncoder) {
						ae.Bytes(1 /* NFTA_IMMEDIATE_DREG */, be32(0 /* NFT_REG_VERDICT */))
						nest(ae, 2 /* NFTA_IMMEDIATE_DATA */, func(ae *netlink.AttributeEncoder) {
							nest(ae, 2 /* NFTA_DATA_VERDICT */, func(ae *netlink.AttributeEncoder) {
								ae.Bytes(1 /* NFTA_VERDICT_CODE */, be32(0 /* NF_DROP */))
							})
						})
					})
				})
			})...)},
	)
	if err != nil {
		t.Fatalf("namespace %s: nftables table dropping UDP: %v", ns.name, err)
	}
	var once sync.Once
	del := func() {
		once.Do(func() {
			err := batch(netlink.Message{Header: netlink.Header{Type: typ(msgDelTable)},
				Data: append(nfgen(fam), enc(func(ae *netlink.AttributeEncoder) { ae.String(1, table) })...)})
			if err != nil {
				t.Errorf("namespace %s: deleting the nftables table: %v", ns.name, err)
			}
		})
	}
	t.Cleanup(del)
	return del
}

// ---- forged ICMPv6 ----

// icmp6Unreach returns an ICMPv6 destination unreachable (code 3,
// address unreachable) about a UDP datagram from src:sport to dst:dport;
// the kernel fills in the checksum of a raw ICMPv6 socket.
func icmp6Unreach(src, dst netip.Addr, sport, dport int) []byte {
	const payload = 8
	b := []byte{1, 3, 0, 0, 0, 0, 0, 0} // type, code, checksum, unused
	ip := make([]byte, 40)
	ip[0] = 6 << 4
	binary.BigEndian.PutUint16(ip[4:], 8+payload)
	ip[6] = unix.IPPROTO_UDP
	ip[7] = 64
	s, d := src.As16(), dst.As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	b = append(b, ip...)
	b = append(b, udpHdr(sport, dport, 8+payload)...)
	return append(b, make([]byte, payload)...)
}
