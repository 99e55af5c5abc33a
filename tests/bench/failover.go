//go:build linux

package bench

import (
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhostnl"
)

// Path liveness: how long traffic to a host id takes to leave a path
// that died far away (silent: netem drops everything a sends on it;
// signalled: the path's link loses its carrier) and to come back once
// it heals, at the default knobs, and how many probes a host costs.
//
// Two namespaces, a and b, are joined by two veth pairs: fo-a/fo-b
// carries IPv6 (fd00::/64), fo-a1/fo-b1 IPv4 (10.0.0.0/24). In a, a host
// is [inet6 fd00::2, inet 10.0.0.2]; a sends it a numbered datagram
// every foGap and b notes the path each one came over (IPV6_PKTINFO),
// so an outage reads from the datagrams: how long after the failure the
// first one that went over IPv4 was sent. Each round uses a host id of
// its own, so that no flap of an earlier round lengthens its hold-down.

// foGap is the time between two datagrams of the flow: the resolution
// of the outages measured.
const foGap = 2 * time.Millisecond

// The default knobs (MHOST_LIVE_HOLD_DOWN_MS, MHOST_LIVE_INTERVAL_MS).
const (
	foDefaultHoldDown = 1000 * time.Millisecond
	foDefaultInterval = 250 * time.Millisecond
)

type foLab struct {
	family     int
	nsA, nsB   int
	v6A, v6B   int // link indexes
	v4A        int
	nlA, nlB   *mhostnl.Client
	srv, cli   int
	srvPort    int
	cliPort    int
	mu         sync.Mutex
	sent       []time.Time
	path       map[uint32]string // by sequence number: "inet6", "inet"
	hid        uint32            // the host the sender sends to
	stop, done chan struct{}
	echo       bool // b answers each datagram, to host 7
}

func (l *foLab) close() {
	if l.stop != nil {
		close(l.stop)
		<-l.done
	}
	for _, fd := range []int{l.srv, l.cli, l.nsA, l.nsB} {
		if fd > 0 {
			unix.Close(fd)
		}
	}
	if l.nlA != nil {
		l.nlA.Close()
	}
	if l.nlB != nil {
		l.nlB.Close()
	}
}

// rtExec sends one rtnetlink request to the namespace ns.
func rtExec(ns int, typ netlink.HeaderType, flags netlink.HeaderFlags, data []byte) error {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: ns})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Execute(netlink.Message{
		Header: netlink.Header{Type: typ, Flags: netlink.Request | netlink.Acknowledge | flags},
		Data:   data,
	})
	return err
}

// addAddr adds an address to a link; IPv6 ones skip duplicate address
// detection, to be usable at once.
func addAddr(ns, index int, p netip.Prefix) error {
	b := make([]byte, unix.SizeofIfAddrmsg)
	b[0] = unix.AF_INET
	var flags uint32
	if p.Addr().Is6() {
		b[0] = unix.AF_INET6
		flags = unix.IFA_F_NODAD
	}
	b[1] = byte(p.Bits())
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.IFA_LOCAL, p.Addr().AsSlice())
	ae.Bytes(unix.IFA_ADDRESS, p.Addr().AsSlice())
	ae.Uint32(unix.IFA_FLAGS, flags)
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	if err := rtExec(ns, unix.RTM_NEWADDR, netlink.Create|netlink.Excl, append(b, attrs...)); err != nil {
		return fmt.Errorf("adding %v: %w", p, err)
	}
	return nil
}

// setLink sets a link up or down.
func setLink(ns, index int, up bool) error {
	b := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	if up {
		binary.NativeEndian.PutUint32(b[8:], unix.IFF_UP)
	}
	binary.NativeEndian.PutUint32(b[12:], unix.IFF_UP)
	return rtExec(ns, unix.RTM_NEWLINK, 0, b)
}

// setLoss makes netem, losing loss (0 to 1) of what leaves, the root
// qdisc of a link; a negative loss removes it.
func setLoss(ns, index int, loss float64) error {
	tcmsg := make([]byte, 20)
	binary.NativeEndian.PutUint32(tcmsg[4:], uint32(index))
	binary.NativeEndian.PutUint32(tcmsg[8:], 0x10000)     // handle 1:
	binary.NativeEndian.PutUint32(tcmsg[12:], 0xffffffff) // TC_H_ROOT
	if loss < 0 {
		return rtExec(ns, unix.RTM_DELQDISC, 0, tcmsg)
	}
	qopt := make([]byte, 24) // struct tc_netem_qopt
	binary.NativeEndian.PutUint32(qopt[4:], 1000)
	binary.NativeEndian.PutUint32(qopt[8:], uint32(math.Round(loss*math.MaxUint32)))
	ae := netlink.NewAttributeEncoder()
	ae.String(1, "netem") // TCA_KIND
	ae.Bytes(2, qopt)     // TCA_OPTIONS
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	return rtExec(ns, unix.RTM_NEWQDISC, netlink.Create|netlink.Replace, append(tcmsg, attrs...))
}

func (r *runner) setupFailover() (l *foLab, err error) {
	l = &foLab{family: r.family, path: map[uint32]string{}}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	if l.nsA, err = newNetNS(); err != nil {
		return l, err
	}
	if l.nsB, err = newNetNS(); err != nil {
		return l, err
	}
	macs := func(n byte) (net.HardwareAddr, net.HardwareAddr) {
		return net.HardwareAddr{0x02, 0x6d, 0x66, 0, n, 0x0a}, net.HardwareAddr{0x02, 0x6d, 0x66, 0, n, 0x0b}
	}
	// A veth reports a carrier change at once only when its peer's
	// index differs from its own, else up to a second late, as a NIC
	// may (linkwatch_urgent_event()): b gets a device more than a, so
	// that the row measures mhost, not the link watch.
	ma, mb := macs(9)
	if err = addVeth(l.nsB, "fo-pad", ma, l.nsB, "fo-pad1", mb); err != nil {
		return l, err
	}
	ma, mb = macs(0)
	if err = addVeth(l.nsA, "fo-a", ma, l.nsB, "fo-b", mb); err != nil {
		return l, err
	}
	ma, mb = macs(1)
	if err = addVeth(l.nsA, "fo-a1", ma, l.nsB, "fo-b1", mb); err != nil {
		return l, err
	}
	// b's link is taken down and up: it keeps its IPv6 addresses, as a
	// host whose cable is pulled does.
	if err = writeSysctl(l.nsB, "net/ipv6/conf/fo-b/keep_addr_on_down", "1"); err != nil {
		return l, err
	}
	for _, e := range []struct {
		ns   int
		name string
		idx  *int
		addr string
	}{
		{l.nsA, "fo-a", &l.v6A, "fd00::1/64"}, {l.nsB, "fo-b", &l.v6B, "fd00::2/64"},
		{l.nsA, "fo-a1", &l.v4A, "10.0.0.1/24"}, {l.nsB, "fo-b1", nil, "10.0.0.2/24"},
		{l.nsA, "lo", nil, ""}, {l.nsB, "lo", nil, ""},
	} {
		idx, err := linkUp(e.ns, e.name)
		if err != nil {
			return l, err
		}
		if e.idx != nil {
			*e.idx = idx
		}
		if e.addr != "" {
			if err = addAddr(e.ns, idx, netip.MustParsePrefix(e.addr)); err != nil {
				return l, err
			}
		}
	}
	if l.nlA, err = mhostnl.Dial(&mhostnl.Config{NetNS: l.nsA}); err != nil {
		return l, err
	}
	if l.nlB, err = mhostnl.Dial(&mhostnl.Config{NetNS: l.nsB}); err != nil {
		return l, err
	}
	loc := func(a string) mhostnl.Locator { return mhostnl.Locator{Addr: netip.MustParseAddr(a)} }
	if err = l.nlB.AddHost(mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{loc("fd00::1"), loc("10.0.0.1")}}); err != nil {
		return l, err
	}

	if l.srv, err = openSocket(l.nsB, r.family, unix.SOCK_DGRAM, 0); err != nil {
		return l, err
	}
	if l.cli, err = openSocket(l.nsA, r.family, unix.SOCK_DGRAM, 0); err != nil {
		return l, err
	}
	for _, fd := range []int{l.srv, l.cli} {
		if err = bindRaw(fd, saMhost(r.family, 0, 0)); err != nil {
			return l, fmt.Errorf("bind AF_MHOST: %w", err)
		}
	}
	if l.srvPort, err = localPort(l.srv); err != nil {
		return l, err
	}
	if l.cliPort, err = localPort(l.cli); err != nil {
		return l, err
	}
	if err = unix.SetsockoptInt(l.srv, unix.SOL_IPV6, unix.IPV6_RECVPKTINFO, 1); err != nil {
		return l, fmt.Errorf("IPV6_RECVPKTINFO: %w", err)
	}
	return l, nil
}

// newHost adds host hid to a, [fd00::2, 10.0.0.2], and sends to it from
// now on.
func (l *foLab) newHost(hid uint32) error {
	loc := func(a string) mhostnl.Locator { return mhostnl.Locator{Addr: netip.MustParseAddr(a)} }
	if err := l.nlA.AddHost(mhostnl.Host{ID: hid, Locators: []mhostnl.Locator{loc("fd00::2"), loc("10.0.0.2")}}); err != nil {
		return err
	}
	l.mu.Lock()
	l.hid = hid
	l.mu.Unlock()
	return nil
}

// start starts the flow: a sender in a, a receiver in b.
func (l *foLab) start() {
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		to := saMhost(l.family, l.srvPort, 0)
		buf, echo, from := make([]byte, 4), make([]byte, 64), make([]byte, 128)
		start := time.Now()
		for seq := uint32(0); ; seq++ {
			select {
			case <-l.stop:
				return
			default:
			}
			if d := time.Until(start.Add(time.Duration(seq) * foGap)); d > 0 {
				time.Sleep(d)
			}
			l.mu.Lock()
			setHid(to, l.hid)
			l.mu.Unlock()
			binary.BigEndian.PutUint32(buf, seq)
			now := time.Now()
			sendto(l.cli, buf, to) // a failed send shows as a datagram lost
			l.mu.Lock()
			l.sent = append(l.sent, now)
			l.mu.Unlock()
			// b's answers, if it answers, are only read away.
			for {
				if _, _, err := recvfrom(l.cli, echo, from, unix.MSG_DONTWAIT); err != nil {
					break
				}
			}
		}
	}()
	go func() {
		defer wg.Done()
		buf, oob := make([]byte, 64), make([]byte, 128)
		back := saMhost(l.family, l.cliPort, 7) // host 7 in b is a
		for {
			select {
			case <-l.stop:
				return
			default:
			}
			n, oobn, _, _, err := unix.Recvmsg(l.srv, buf, oob, 0)
			if err != nil || n < 4 {
				continue
			}
			path := ""
			if cms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, cm := range cms {
					if cm.Header.Level == unix.SOL_IPV6 && cm.Header.Type == unix.IPV6_PKTINFO && len(cm.Data) >= 16 {
						path = "inet6"
						if netip.AddrFrom16([16]byte(cm.Data[:16])).Is4In6() {
							path = "inet"
						}
					}
				}
			}
			l.mu.Lock()
			l.path[binary.BigEndian.Uint32(buf)] = path
			echo := l.echo
			l.mu.Unlock()
			if echo {
				sendto(l.srv, buf[:n], back)
			}
		}
	}()
	go func() {
		wg.Wait()
		close(l.done)
	}()
}

// firstOver returns when the first datagram sent at or after from that
// arrived over path was sent, waiting up to timeout for one.
func (l *foLab) firstOver(path string, from time.Time, timeout time.Duration) (time.Time, error) {
	for end := time.Now().Add(timeout); ; time.Sleep(5 * time.Millisecond) {
		l.mu.Lock()
		for i := len(l.sent) - 1; i >= 0 && !l.sent[i].Before(from); i-- {
			if l.path[uint32(i)] == path {
				// Look for an earlier one too: the first counts.
				first := i
				for j := i - 1; j >= 0 && !l.sent[j].Before(from); j-- {
					if l.path[uint32(j)] == path {
						first = j
					}
				}
				at := l.sent[first]
				l.mu.Unlock()
				return at, nil
			}
		}
		l.mu.Unlock()
		if time.Now().After(end) {
			return time.Time{}, fmt.Errorf("no datagram sent since %v arrived over %s in %v", from.Format("15:04:05.000"), path, timeout)
		}
	}
}

// hostLoc returns locator i of host hid in a.
func (l *foLab) hostLoc(hid uint32, i int) (mhostnl.Locator, error) {
	h, err := l.nlA.Host(hid)
	if err != nil {
		return mhostnl.Locator{}, err
	}
	if i >= len(h.Locators) {
		return mhostnl.Locator{}, fmt.Errorf("host %d has %d locators", hid, len(h.Locators))
	}
	return h.Locators[i], nil
}

// liveOff turns path liveness off in the namespace ns.
func liveOff(ns int) error {
	c, err := mhostnl.Dial(&mhostnl.Config{NetNS: ns})
	if err != nil {
		return err
	}
	defer c.Close()
	off := time.Duration(0)
	if err := c.SetLiveness(mhostnl.LiveSettings{LiveKnobs: mhostnl.LiveKnobs{Interval: &off}}); err != nil {
		return fmt.Errorf("turning path liveness off: %w", err)
	}
	return nil
}

// stats returns the counters of the namespace a (0) or b (1).
func (l *foLab) stats(ns int) (*mhostnl.Stats, error) {
	return [2]*mhostnl.Client{l.nlA, l.nlB}[ns].Stats()
}

// waitUp waits until locator 0 of host hid is up and carries the flow.
func (l *foLab) waitUp(hid uint32) (time.Duration, error) {
	if _, err := l.firstOver("inet6", time.Now(), 5*time.Second); err != nil {
		return 0, err
	}
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		loc, err := l.hostLoc(hid, 0)
		if err != nil {
			return 0, err
		}
		if loc.State == mhostnl.LocatorUp && loc.HoldDown == 0 && loc.RTT > 0 {
			return loc.RTT, nil
		}
		if time.Now().After(end) {
			return 0, fmt.Errorf("host %d: locator 0 %s, hold-down %v after 5s", hid, loc.State, loc.HoldDown)
		}
	}
}

// failoverRound breaks and heals the IPv6 path of a new host hid and
// returns the outage, how long the path took to carry traffic again,
// and the round trip the host measured before.
func (l *foLab) failoverRound(hid uint32, fail, repair func() error) (outage, back, rtt time.Duration, err error) {
	if err = l.newHost(hid); err != nil {
		return
	}
	if rtt, err = l.waitUp(hid); err != nil {
		return
	}
	// One interval of quiet first: a failure hits a silent path at a
	// random point of its probe cycle. It counts from when the call that
	// makes it returns.
	time.Sleep(foDefaultInterval)
	if err = fail(); err != nil {
		return
	}
	failed := time.Now()
	var moved time.Time
	if moved, err = l.firstOver("inet", failed, 5*time.Second); err != nil {
		return
	}
	if err = repair(); err != nil {
		return
	}
	repaired := time.Now()
	var healed time.Time
	if healed, err = l.firstOver("inet6", repaired, 5*time.Second); err != nil {
		return
	}
	// Gone, so that it stops being probed: the next round has its own.
	if err = l.nlA.DeleteHost(hid); err != nil {
		return
	}
	return moved.Sub(failed), healed.Sub(repaired), rtt, nil
}

// probeRate returns the probe requests a sent and replies b sent a
// second, over d.
func (l *foLab) probeRate(d time.Duration) (float64, error) {
	count := func() (uint64, error) {
		a, err := l.stats(0)
		if err != nil {
			return 0, err
		}
		b, err := l.stats(1)
		if err != nil {
			return 0, err
		}
		return a.ProbesSent + b.ProbeReplies, nil
	}
	before, err := count()
	if err != nil {
		return 0, err
	}
	time.Sleep(d)
	after, err := count()
	if err != nil {
		return 0, err
	}
	return float64(after-before) / d.Seconds(), nil
}

func (r *runner) failover() error {
	l, err := r.setupFailover()
	if err != nil {
		return err
	}
	defer l.close()
	r.logf("failover: a and b joined by fo-a/fo-b (IPv6) and fo-a1/fo-b1 (IPv4)")
	l.start()

	var silent, silentBack, signalled, rtts []float64
	hid := uint32(100)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	for round := 0; round < r.cfg.FailoverRounds; round++ {
		hid++
		out, back, rtt, err := l.failoverRound(hid,
			func() error { return setLoss(l.nsA, l.v6A, 1) },
			func() error { return setLoss(l.nsA, l.v6A, -1) })
		if err != nil {
			return fmt.Errorf("silent round %d: %w", round, err)
		}
		silent, silentBack, rtts = append(silent, ms(out)), append(silentBack, ms(back)), append(rtts, ms(rtt))
		hid++
		out, _, rtt, err = l.failoverRound(hid,
			func() error { return setLink(l.nsB, l.v6B, false) },
			func() error { return setLink(l.nsB, l.v6B, true) })
		if err != nil {
			return fmt.Errorf("signalled round %d: %w", round, err)
		}
		signalled, rtts = append(signalled, ms(out)), append(rtts, ms(rtt))
		r.logf("failover round %d: silent %.0f ms (back %.0f ms), signalled %.0f ms, rtt %.2f ms",
			round, silent[round], silentBack[round], signalled[round], ms(rtt))
	}
	srtt := median(rtts)
	add := func(id, name, metric string, v []float64, tgt *Target) {
		row := newRow("failover/"+id, "failover", name, metric, "ms", false, nil, v, tgt)
		row.Extra = map[string]float64{"srtt_ms": srtt, "datagram_gap_ms": ms(foGap)}
		r.rep.add(row)
	}
	add("silent", "failover, silent (netem loss 100% on the path in use)", "outage",
		silent, atMost(1000, "value"))
	add("signalled", "failover, signalled (the path's link loses its carrier)", "outage",
		signalled, atMost(srtt+50, "value"))
	add("recovery", "failback after the silent failure heals", "back on the path",
		silentBack, atMost(ms(foDefaultHoldDown+foDefaultInterval), "value"))

	// Probes of one host (2 locators), requests and replies: the flow
	// is one-way, then b answers every datagram.
	if err := l.newHost(hid + 1); err != nil {
		return err
	}
	if _, err := l.waitUp(hid + 1); err != nil {
		return err
	}
	oneway, err := l.probeRate(r.cfg.ProbeWindow)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.echo = true
	l.mu.Unlock()
	time.Sleep(500 * time.Millisecond)
	twoway, err := l.probeRate(r.cfg.ProbeWindow)
	if err != nil {
		return err
	}
	for _, p := range []struct {
		id, name string
		v        float64
		tgt      *Target
	}{
		{"probes/oneway", "probes of a host (2 locators), one-way traffic", oneway, nil},
		{"probes/twoway", "probes of a host (2 locators), two-way traffic", twoway, atMost(0, "value")},
	} {
		row := newRow("failover/"+p.id, "failover", p.name, "probe datagrams (both ways)", "datagrams/s", false, nil, []float64{p.v}, p.tgt)
		row.Single, row.Count = true, true
		r.rep.add(row)
	}
	r.logf("failover: probes %.1f/s one-way, %.1f/s two-way", oneway, twoway)
	if oneway == 0 {
		return fmt.Errorf("no probe at all in %v of one-way traffic", r.cfg.ProbeWindow)
	}
	return nil
}
