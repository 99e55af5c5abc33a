//go:build linux

package bench

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhostnl"
)

// loopbackHid is the host id of the hid arms: it resolves to ::1 first,
// then 127.0.0.1.
const loopbackHid = 1

// A pair is one comparison on loopback: two kinds of flow.
type pair struct {
	id, name   string
	base, cand string
	// targeted pairs carry the targets (AF_MHOST against plain
	// UDP); the hid pair is reported without one.
	targeted bool
}

var ipPairs = []pair{
	{"udp4-mhost4", "UDP/IPv4 vs AF_MHOST→IPv4", "udp4", "mhost4", true},
	{"udp6-mhost6", "UDP/IPv6 vs AF_MHOST→IPv6", "udp6", "mhost6", true},
	{"mhost6-hid", "AF_MHOST→IPv6 vs AF_MHOST→hid(::1)", "mhost6", "hid", false},
}

// loopNS returns a fresh network namespace with lo up and the host
// table holding loopbackHid. Each group that needs one makes its own, so
// the groups do not see each other's state (nor the rest of the guest's).
func (r *runner) loopNS() (int, error) {
	ns, err := newNetNS()
	if err != nil {
		return -1, err
	}
	if _, err := linkUp(ns, "lo"); err != nil {
		unix.Close(ns)
		return -1, err
	}
	nl, err := mhostnl.Dial(&mhostnl.Config{NetNS: ns})
	if err != nil {
		unix.Close(ns)
		return -1, err
	}
	defer nl.Close()
	err = nl.AddHost(mhostnl.Host{ID: loopbackHid, Locators: []mhostnl.Locator{
		{Addr: netip.IPv6Loopback()},
		{Addr: netip.AddrFrom4([4]byte{127, 0, 0, 1})},
	}})
	if err != nil {
		unix.Close(ns)
		return -1, err
	}
	return ns, nil
}

// openIPFlow opens a sender and a bound receiver of one kind in ns: plain
// UDP sockets of the kind's family, or AF_MHOST sockets sending to an
// IPv4, IPv6 or host-id address. Receivers bind the wildcard address,
// as an AF_MHOST socket always does.
func (r *runner) openIPFlow(ns int, kind string) (*flow, error) {
	var domain int
	var bindSA []byte
	switch kind {
	case "udp4":
		domain, bindSA = unix.AF_INET, sa4(netip.IPv4Unspecified(), 0)
	case "udp6":
		domain, bindSA = unix.AF_INET6, sa6(netip.IPv6Unspecified(), 0)
	case "mhost4", "mhost6", "hid":
		domain, bindSA = r.family, saMhost(r.family, 0, 0)
	default:
		return nil, fmt.Errorf("unknown flow kind %q", kind)
	}
	f := &flow{name: kind, tx: -1, rx: -1}
	var err error
	if f.tx, err = openSocket(ns, domain, unix.SOCK_DGRAM, 0); err != nil {
		return nil, err
	}
	if f.rx, err = openSocket(ns, domain, unix.SOCK_DGRAM, 0); err != nil {
		unix.Close(f.tx)
		return nil, err
	}
	if err := bindRaw(f.rx, bindSA); err != nil {
		f.close()
		return nil, fmt.Errorf("%s: bind: %w", kind, err)
	}
	port, err := localPort(f.rx)
	if err != nil {
		f.close()
		return nil, err
	}
	switch kind {
	case "udp4", "mhost4":
		f.dst = sa4(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port)
	case "udp6", "mhost6":
		f.dst = sa6(netip.IPv6Loopback(), port)
	case "hid":
		f.dst = saMhost(r.family, port, loopbackHid)
	}
	return f, nil
}

// ipFlows opens both flows of every pair in a namespace of their own.
func (r *runner) ipFlows() (ns int, flows map[string]*flow, cleanup func(), err error) {
	ns, err = r.loopNS()
	if err != nil {
		return -1, nil, nil, err
	}
	flows = map[string]*flow{}
	cleanup = func() {
		for _, f := range flows {
			f.close()
		}
		unix.Close(ns)
	}
	for _, p := range ipPairs {
		for _, k := range []string{p.base, p.cand} {
			if flows[p.id+"/"+k] != nil {
				continue
			}
			f, err := r.openIPFlow(ns, k)
			if err != nil {
				cleanup()
				return -1, nil, nil, err
			}
			flows[p.id+"/"+k] = f
		}
	}
	return ns, flows, cleanup, nil
}

func (r *runner) ipThroughput() error {
	_, flows, cleanup, err := r.ipFlows()
	if err != nil {
		return err
	}
	defer cleanup()
	for _, p := range ipPairs {
		for _, size := range r.cfg.Sizes {
			bf, cf := flows[p.id+"/"+p.base], flows[p.id+"/"+p.cand]
			b, c, err := r.tputRounds(bf, cf, size)
			if err != nil {
				return fmt.Errorf("%s %dB: %w", p.id, size, err)
			}
			var tgt *Target
			if p.targeted {
				tgt = atLeast(0.95, "ratio")
			}
			row := newRow(fmt.Sprintf("throughput/%s/%d", p.id, size), "throughput",
				fmt.Sprintf("loopback %dB: %s", size, p.name), "received", "datagrams/s", true,
				values(b, "rx_pps"), values(c, "rx_pps"), tgt)
			row.Extra = map[string]float64{
				"baseline_tx_pps":  median(values(b, "tx_pps")),
				"candidate_tx_pps": median(values(c, "tx_pps")),
				"baseline_loss":    median(values(b, "loss")),
				"candidate_loss":   median(values(c, "loss")),
			}
			r.rep.add(row)
			r.logf("%s: ratio %.3f (%s / %s)", row.ID, *row.Ratio, fmtNum(row.Candidate.Median), fmtNum(row.Baseline.Median))
		}
	}
	size := r.cfg.Sizes[0]
	for _, p := range ipPairs {
		r.profile(fmt.Sprintf("throughput/%s/%d", p.id, size), flows[p.id+"/"+p.base], flows[p.id+"/"+p.cand], size)
	}
	return nil
}

func (r *runner) ipLatency() error {
	_, flows, cleanup, err := r.ipFlows()
	if err != nil {
		return err
	}
	defer cleanup()
	for _, p := range ipPairs {
		for _, size := range r.cfg.Sizes {
			bf, cf := flows[p.id+"/"+p.base], flows[p.id+"/"+p.cand]
			b, c, err := r.latencyRounds(bf, cf, size)
			if err != nil {
				return fmt.Errorf("%s %dB: %w", p.id, size, err)
			}
			r.addLatencyRows(fmt.Sprintf("latency/%s/%d", p.id, size), "latency",
				fmt.Sprintf("loopback %dB: %s", size, p.name), b, c, p.targeted)
		}
	}
	return nil
}

// addLatencyRows adds the p50 and p99 rows of a ping-pong comparison.
func (r *runner) addLatencyRows(id, group, name string, b, c []sample, targeted bool) {
	var tgt *Target
	if targeted {
		tgt = atMost(1.05, "ratio")
	}
	p50 := newRow(id+"/p50", group, name, "round trip p50", "µs", false,
		values(b, "p50_us"), values(c, "p50_us"), tgt)
	p50.Extra = map[string]float64{
		"baseline_mean_us":      median(values(b, "mean_us")),
		"candidate_mean_us":     median(values(c, "mean_us")),
		"round_trips_per_round": median(values(b, "round_trips")),
	}
	p99 := newRow(id+"/p99", group, name, "round trip p99", "µs", false,
		values(b, "p99_us"), values(c, "p99_us"), nil)
	r.rep.add(p50)
	r.rep.add(p99)
	r.logf("%s: p50 ratio %.3f (%.1f / %.1f µs), p99 ratio %.3f", id, *p50.Ratio,
		p50.Candidate.Median, p50.Baseline.Median, *p99.Ratio)
}
