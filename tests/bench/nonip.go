//go:build linux

package bench

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhost"
)

// The non-IP path: two namespaces joined by a veth pair with no IP at
// all (IPv6 disabled on both ends), AF_MHOST over testproto against an
// AF_PACKET socket sending frames of the same size on the same veth.

// etherBaseline is the ethertype of the AF_PACKET arm: IEEE 802 local
// experimental, so that neither mhost nor anything else handles it.
const etherBaseline = 0x88B5

// l3Overhead is what mhost puts in front of a payload over testproto:
// the 4-byte testproto header and the 8-byte UDP header. The AF_PACKET
// arm sends that many bytes more so that both put equal frames on the
// wire.
const l3Overhead = 4 + 8

var (
	vethMACA = net.HardwareAddr{0x02, 0x6d, 0x62, 0, 0, 0x0a}
	vethMACB = net.HardwareAddr{0x02, 0x6d, 0x62, 0, 0, 0x0b}
)

type vethSetup struct {
	nsA, nsB     int
	ifA, ifB     int
	packet, mh   *flow
	unloadModule bool
}

func (v *vethSetup) close() {
	v.packet.close()
	v.mh.close()
	if v.nsA >= 0 {
		unix.Close(v.nsA)
	}
	if v.nsB >= 0 {
		unix.Close(v.nsB)
	}
}

func (r *runner) setupVeth() (v *vethSetup, err error) {
	v = &vethSetup{nsA: -1, nsB: -1}
	defer func() {
		if err != nil {
			v.close()
		}
	}()
	if v.nsA, err = newNetNS(); err != nil {
		return v, err
	}
	if v.nsB, err = newNetNS(); err != nil {
		return v, err
	}
	if err = addVeth(v.nsA, "mb-a", vethMACA, v.nsB, "mb-b", vethMACB); err != nil {
		return v, err
	}
	for _, e := range []struct {
		ns   int
		name string
		idx  *int
	}{{v.nsA, "mb-a", &v.ifA}, {v.nsB, "mb-b", &v.ifB}} {
		if err = writeSysctl(e.ns, "net/ipv6/conf/"+e.name+"/disable_ipv6", "1"); err != nil {
			return v, err
		}
		if *e.idx, err = linkUp(e.ns, e.name); err != nil {
			return v, err
		}
		if err = enableL3(e.ns, *e.idx); err != nil {
			return v, err
		}
	}

	// AF_PACKET: both sockets take the baseline ethertype on their end.
	p := &flow{name: "packet", tx: -1, rx: -1, pad: l3Overhead}
	v.packet = p
	proto := int(htons(etherBaseline))
	if p.tx, err = openSocket(v.nsA, unix.AF_PACKET, unix.SOCK_DGRAM, proto); err != nil {
		return v, err
	}
	if p.rx, err = openSocket(v.nsB, unix.AF_PACKET, unix.SOCK_DGRAM, proto); err != nil {
		return v, err
	}
	if err = bindRaw(p.tx, saLL(etherBaseline, v.ifA, nil)); err != nil {
		return v, fmt.Errorf("bind AF_PACKET: %w", err)
	}
	if err = bindRaw(p.rx, saLL(etherBaseline, v.ifB, nil)); err != nil {
		return v, fmt.Errorf("bind AF_PACKET: %w", err)
	}
	p.dst = saLL(etherBaseline, v.ifA, vethMACB)

	// AF_MHOST over testproto.
	m := &flow{name: "mhost-testproto", tx: -1, rx: -1}
	v.mh = m
	if m.tx, err = openSocket(v.nsA, r.family, unix.SOCK_DGRAM, 0); err != nil {
		return v, err
	}
	if m.rx, err = openSocket(v.nsB, r.family, unix.SOCK_DGRAM, 0); err != nil {
		return v, err
	}
	if err = bindRaw(m.rx, saMhost(r.family, 0, 0)); err != nil {
		return v, fmt.Errorf("bind AF_MHOST: %w", err)
	}
	port, err := localPort(m.rx)
	if err != nil {
		return v, err
	}
	m.dst = saEth(mhost.FamilyTestProto, port, v.ifA, vethMACB)
	return v, nil
}

func (r *runner) nonIP() error {
	loaded, err := ensureModule("mhost_testproto")
	if err != nil {
		return err
	}
	v, err := r.setupVeth()
	if err == nil {
		r.logf("nonip: veth mb-a (%d) <-> mb-b (%d) up, testproto loaded", v.ifA, v.ifB)
	}
	if err != nil {
		if loaded {
			unloadModule("mhost_testproto")
		}
		return err
	}
	defer func() {
		v.close()
		if loaded {
			if err := unloadModule("mhost_testproto"); err != nil {
				r.rep.Errors = append(r.rep.Errors, "nonip: "+err.Error())
			}
		}
	}()
	name := "veth %dB: AF_PACKET vs AF_MHOST→testproto"
	for _, size := range r.cfg.Sizes {
		b, c, err := r.tputRounds(v.packet, v.mh, size)
		if err != nil {
			return fmt.Errorf("throughput %dB: %w", size, err)
		}
		row := newRow(fmt.Sprintf("nonip/throughput/%d", size), "nonip", fmt.Sprintf(name, size),
			"received", "datagrams/s", true, values(b, "rx_pps"), values(c, "rx_pps"), nil)
		row.Extra = map[string]float64{
			"baseline_tx_pps":  median(values(b, "tx_pps")),
			"candidate_tx_pps": median(values(c, "tx_pps")),
			"baseline_loss":    median(values(b, "loss")),
			"candidate_loss":   median(values(c, "loss")),
			"frame_bytes":      float64(14 + l3Overhead + size),
		}
		r.rep.add(row)
		r.logf("%s: ratio %.3f", row.ID, *row.Ratio)
	}
	r.profile(fmt.Sprintf("nonip/throughput/%d", r.cfg.Sizes[0]), v.packet, v.mh, r.cfg.Sizes[0])
	for _, size := range r.cfg.Sizes {
		b, c, err := r.latencyRounds(v.packet, v.mh, size)
		if err != nil {
			return fmt.Errorf("latency %dB: %w", size, err)
		}
		r.addLatencyRows(fmt.Sprintf("nonip/latency/%d", size), "nonip", fmt.Sprintf(name, size), b, c, false)
	}
	return nil
}
