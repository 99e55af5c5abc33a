//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhost"
)

// The Go SDK against net.UDPConn: what a Go program pays for AF_MHOST
// over what it pays for UDP, through the APIs it would use, on loopback,
// in the same rounds. Both sides are goroutines on the runtime's network
// poller, as in a Go program: a sender alternating between the arms every
// slice, and a receiver per arm blocked in its read.

// batchLen is how many datagrams a batched arm moves per call.
const batchLen = 32

// A goArm is one way of sending and receiving datagrams from Go.
type goArm struct {
	name string
	// send sends a unit (one datagram, or a batch) and returns how many
	// datagrams it sent.
	send func() (int, error)
	// recv waits for datagrams and returns how many it read.
	recv func() (int, error)
	// unblock makes a recv waiting now, and the following ones, return
	// an error until reset.
	unblock, reset func()
	close          func()
}

// udpPair returns two net.UDPConns in ns of network ("udp4", "udp6"), the
// first bound to loopback, and its address.
func udpPair(ns int, network string) (tx, rx *net.UDPConn, dst netip.AddrPort, err error) {
	lo := netip.MustParseAddr("127.0.0.1")
	if network == "udp6" {
		lo = netip.IPv6Loopback()
	}
	err = inNetNS(ns, func() error {
		var err error
		if rx, err = net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, 0))); err != nil {
			return err
		}
		if tx, err = net.ListenUDP(network, nil); err != nil {
			rx.Close()
		}
		return err
	})
	if err != nil {
		return nil, nil, netip.AddrPort{}, err
	}
	dst = netip.AddrPortFrom(lo, rx.LocalAddr().(*net.UDPAddr).AddrPort().Port())
	return tx, rx, dst, nil
}

// sdkPair returns two mhost.Conns in ns, and the address of the second
// over loopback of the family of network.
func sdkPair(ns int, network string) (tx, rx *mhost.Conn, dst netip.AddrPort, err error) {
	cfg := &mhost.Config{NetNS: ns}
	if tx, err = cfg.Listen(context.Background(), 0); err != nil {
		return nil, nil, netip.AddrPort{}, err
	}
	if rx, err = cfg.Listen(context.Background(), 0); err != nil {
		tx.Close()
		return nil, nil, netip.AddrPort{}, err
	}
	lo := netip.MustParseAddr("127.0.0.1")
	if network == "udp6" {
		lo = netip.IPv6Loopback()
	}
	return tx, rx, netip.AddrPortFrom(lo, rx.LocalAddr().(*mhost.HostAddr).Port), nil
}

// deadliner is what goArm's unblock and reset need of a conn.
type deadliner interface{ SetReadDeadline(time.Time) error }

func unblocker(c deadliner) (unblock, reset func()) {
	return func() { c.SetReadDeadline(time.Unix(1, 0)) }, func() { c.SetReadDeadline(time.Time{}) }
}

// udpArm is net.UDPConn in one of its modes: "netip"
// (WriteToUDPAddrPort/ReadFromUDPAddrPort), "pc" (WriteTo/ReadFrom, the
// net.PacketConn methods), "batch" (golang.org/x/net's WriteBatch and
// ReadBatch, sendmmsg and recvmmsg).
func udpArm(ns int, network, mode string, size int) (*goArm, error) {
	tx, rx, dst, err := udpPair(ns, network)
	if err != nil {
		return nil, err
	}
	a := &goArm{name: "net.UDPConn " + mode, close: func() { tx.Close(); rx.Close() }}
	a.unblock, a.reset = unblocker(rx)
	p, buf := make([]byte, size), make([]byte, 2048)
	switch mode {
	case "netip":
		a.send = func() (int, error) { _, err := tx.WriteToUDPAddrPort(p, dst); return 1, err }
		a.recv = func() (int, error) { _, _, err := rx.ReadFromUDPAddrPort(buf); return 1, err }
	case "pc":
		to := net.UDPAddrFromAddrPort(dst)
		a.send = func() (int, error) { _, err := tx.WriteTo(p, to); return 1, err }
		a.recv = func() (int, error) { _, _, err := rx.ReadFrom(buf); return 1, err }
	case "batch":
		type batcher interface {
			WriteBatch([]ipv4.Message, int) (int, error)
			ReadBatch([]ipv4.Message, int) (int, error)
		}
		var txb, rxb batcher = ipv4.NewPacketConn(tx), ipv4.NewPacketConn(rx)
		if network == "udp6" {
			txb, rxb = ipv6.NewPacketConn(tx), ipv6.NewPacketConn(rx)
		}
		to := net.UDPAddrFromAddrPort(dst)
		out, in := make([]ipv4.Message, batchLen), make([]ipv4.Message, batchLen)
		for i := range out {
			out[i] = ipv4.Message{Buffers: [][]byte{p}, Addr: to}
			in[i] = ipv4.Message{Buffers: [][]byte{make([]byte, 2048)}}
		}
		a.send = func() (int, error) { return writeAll(func(i int) (int, error) { return txb.WriteBatch(out[i:], 0) }) }
		a.recv = func() (int, error) { return rxb.ReadBatch(in, 0) }
	default:
		a.close()
		return nil, fmt.Errorf("unknown mode %q", mode)
	}
	return a, nil
}

// sdkArm is mhost.Conn in one of its modes: "netip"
// (WriteToAddrPort/ReadFromAddrPort), "pc" (WriteTo/ReadFrom), "batch"
// (WriteBatch/ReadBatch), "gso" (WriteToSegmented, batchLen datagrams per
// call, read with ReadBatch).
func sdkArm(ns int, network, mode string, size int) (*goArm, error) {
	tx, rx, dst, err := sdkPair(ns, network)
	if err != nil {
		return nil, err
	}
	a := &goArm{name: "mhost.Conn " + mode, close: func() { tx.Close(); rx.Close() }}
	a.unblock, a.reset = unblocker(rx)
	p, buf := make([]byte, size), make([]byte, 2048)
	in := make([]mhost.Message, batchLen)
	for i := range in {
		in[i] = mhost.Message{Buffers: [][]byte{make([]byte, 2048)}}
	}
	readBatch := func() (int, error) { return rx.ReadBatch(in, 0) }
	switch mode {
	case "netip":
		a.send = func() (int, error) { _, err := tx.WriteToAddrPort(p, dst); return 1, err }
		a.recv = func() (int, error) { _, _, err := rx.ReadFromAddrPort(buf); return 1, err }
	case "pc":
		to := net.UDPAddrFromAddrPort(dst)
		a.send = func() (int, error) { _, err := tx.WriteTo(p, to); return 1, err }
		a.recv = func() (int, error) { _, _, err := rx.ReadFrom(buf); return 1, err }
	case "batch":
		out := make([]mhost.Message, batchLen)
		for i := range out {
			out[i] = mhost.Message{Buffers: [][]byte{p}, Addr: mhost.AddrFromAddrPort(dst)}
		}
		a.send = func() (int, error) { return writeAll(func(i int) (int, error) { return tx.WriteBatch(out[i:], 0) }) }
		a.recv = readBatch
	case "gso":
		big := make([]byte, batchLen*size)
		to := mhost.AddrFromAddrPort(dst)
		a.send = func() (int, error) { _, err := tx.WriteToSegmented(big, size, to); return batchLen, err }
		a.recv = readBatch
	default:
		a.close()
		return nil, fmt.Errorf("unknown mode %q", mode)
	}
	return a, nil
}

// writeAll calls write, which sends the messages from i on and returns
// how many it sent, until all batchLen are sent.
func writeAll(write func(i int) (int, error)) (int, error) {
	for sent := 0; sent < batchLen; {
		n, err := write(sent)
		if err != nil {
			return sent, err
		}
		sent += n
	}
	return batchLen, nil
}

// goThroughputPair measures one round of two Go arms, as throughputPair
// does for raw sockets: the sender alternates between them every slice,
// slices times each, starting with arm first; each arm's receiver counts
// what arrives, until the sender is done and its socket has been quiet
// for drainQuiet.
func goThroughputPair(arms [2]*goArm, slice time.Duration, slices, first int) ([2]sample, error) {
	var (
		rxN    [2]atomic.Int64
		rxErr  [2]error
		lastRx [2]atomic.Int64 // UnixNano of the last datagram received
		wg     sync.WaitGroup
	)
	for k, a := range arms {
		a.reset()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := a.recv()
				if err != nil {
					if !errors.Is(err, os.ErrDeadlineExceeded) {
						rxErr[k] = err
					}
					return
				}
				rxN[k].Add(int64(n))
				lastRx[k].Store(time.Now().UnixNano())
			}
		}()
	}

	var (
		sent, sendErr [2]int64
		elapsed       [2]time.Duration
		txErr         error
	)
	for s := 0; s < 2*slices && txErr == nil; s++ {
		k := (s + first) % 2
		a := arms[k]
		start := time.Now()
		for time.Since(start) < slice {
			for j := 0; j < 16; j++ {
				n, err := a.send()
				sent[k] += int64(n)
				if err != nil {
					if errors.Is(err, unix.ENOBUFS) {
						sendErr[k]++
						continue
					}
					txErr = fmt.Errorf("%s: send: %w", a.name, err)
					break
				}
			}
		}
		elapsed[k] += time.Since(start)
	}
	// Drain: wait until both receivers have been quiet for a while.
	for {
		time.Sleep(drainQuiet)
		last := max(lastRx[0].Load(), lastRx[1].Load())
		if time.Since(time.Unix(0, last)) >= drainQuiet {
			break
		}
	}
	for _, a := range arms {
		a.unblock()
	}
	wg.Wait()

	var out [2]sample
	if txErr != nil {
		return out, txErr
	}
	for k, a := range arms {
		if rxErr[k] != nil {
			return out, fmt.Errorf("%s: receive: %w", a.name, rxErr[k])
		}
		rx, secs := float64(rxN[k].Load()), elapsed[k].Seconds()
		if sent[k] == 0 || rx == 0 {
			return out, fmt.Errorf("%s: sent %d, received %.0f datagrams", a.name, sent[k], rx)
		}
		out[k] = sample{
			"rx_pps":      rx / secs,
			"tx_pps":      float64(sent[k]) / secs,
			"loss":        1 - rx/float64(sent[k]),
			"send_errors": float64(sendErr[k]),
		}
	}
	return out, nil
}

// allocsPerDatagram sends and receives n units of a, one after the
// other, and returns the heap allocations per datagram.
func allocsPerDatagram(a *goArm, n int) (float64, error) {
	a.reset()
	step := func() (int, error) {
		sent, err := a.send()
		if err != nil {
			return 0, err
		}
		for got := 0; got < sent; {
			m, err := a.recv()
			if err != nil {
				return 0, err
			}
			got += m
		}
		return sent, nil
	}
	if _, err := step(); err != nil { // warm: pools, caches
		return 0, err
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	total := 0
	for range n {
		m, err := step()
		if err != nil {
			return 0, err
		}
		total += m
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / float64(total), nil
}

// A goPair is a row of the gosdk group: a baseline and a candidate arm.
type goPair struct {
	id, name     string
	network      string
	base, cand   func(ns int, size int) (*goArm, error)
	target       *Target
	allocs       bool // report both arms' allocations per datagram
	baseL, candL string
}

func udpMode(network, mode string) func(int, int) (*goArm, error) {
	return func(ns, size int) (*goArm, error) { return udpArm(ns, network, mode, size) }
}

func sdkMode(network, mode string) func(int, int) (*goArm, error) {
	return func(ns, size int) (*goArm, error) { return sdkArm(ns, network, mode, size) }
}

var goPairs = []goPair{
	{id: "udp-sdk/netip/ipv4", name: "Go IPv4, one per call, netip: net.UDPConn vs mhost.Conn", network: "udp4",
		base: udpMode("udp4", "netip"), cand: sdkMode("udp4", "netip"), target: atLeast(0.95, "ratio"), allocs: true},
	{id: "udp-sdk/netip/ipv6", name: "Go IPv6, one per call, netip: net.UDPConn vs mhost.Conn", network: "udp6",
		base: udpMode("udp6", "netip"), cand: sdkMode("udp6", "netip"), target: atLeast(0.95, "ratio"), allocs: true},
	{id: "udp-sdk/pc/ipv4", name: "Go IPv4, one per call, WriteTo/ReadFrom: net.UDPConn vs mhost.Conn", network: "udp4",
		base: udpMode("udp4", "pc"), cand: sdkMode("udp4", "pc"), target: atLeast(0.95, "ratio"), allocs: true},
	{id: "udp-sdk/batch/ipv4", name: fmt.Sprintf("Go IPv4, batches of %d: x/net ipv4.PacketConn vs mhost.Conn", batchLen), network: "udp4",
		base: udpMode("udp4", "batch"), cand: sdkMode("udp4", "batch"), allocs: true},
	{id: "sdk-sdk/batch/ipv4", name: fmt.Sprintf("Go IPv4, mhost.Conn: one per call vs batches of %d", batchLen), network: "udp4",
		base: sdkMode("udp4", "netip"), cand: sdkMode("udp4", "batch"), target: atLeast(2, "ratio")},
	{id: "sdk-sdk/gso/ipv4", name: fmt.Sprintf("Go IPv4, mhost.Conn sends: one per call vs UDP_SEGMENT of %d", batchLen), network: "udp4",
		base: sdkMode("udp4", "netip"), cand: sdkMode("udp4", "gso"), allocs: true},
}

// goSDK measures the gosdk group, at the first payload size.
func (r *runner) goSDK() error {
	ns, err := r.loopNS()
	if err != nil {
		return err
	}
	defer unix.Close(ns)
	size := r.cfg.Sizes[0]
	slices := max(int(r.cfg.Duration/r.cfg.Slice), 1)
	allocN := 2000
	if r.cfg.Rounds <= 2 {
		allocN = 100 // smoke
	}
	for _, p := range goPairs {
		b, err := p.base(ns, size)
		if err != nil {
			return fmt.Errorf("%s: %w", p.id, err)
		}
		c, err := p.cand(ns, size)
		if err != nil {
			b.close()
			return fmt.Errorf("%s: %w", p.id, err)
		}
		bs, cs, err := rounds(r.cfg.Rounds, r.cfg.Warmup, func(first int) ([2]sample, error) {
			return goThroughputPair([2]*goArm{b, c}, r.cfg.Slice, slices, first)
		})
		if err == nil && p.allocs {
			var ba, ca float64
			if ba, err = allocsPerDatagram(b, allocN); err == nil {
				ca, err = allocsPerDatagram(c, allocN)
			}
			if err == nil {
				r.rep.add(newCountRow("gosdk/allocs/"+p.id, "gosdk", fmt.Sprintf("%s (%s vs %s)", p.name, b.name, c.name),
					"heap allocations per datagram", ba, ca))
			}
		}
		b.close()
		c.close()
		if err != nil {
			return fmt.Errorf("%s: %w", p.id, err)
		}
		row := newRow("gosdk/tput/"+p.id+"/"+fmt.Sprint(size), "gosdk",
			fmt.Sprintf("%s, %dB (%s vs %s)", p.name, size, b.name, c.name), "received", "datagrams/s", true,
			values(bs, "rx_pps"), values(cs, "rx_pps"), p.target)
		row.Extra = map[string]float64{
			"baseline_tx_pps":  median(values(bs, "tx_pps")),
			"candidate_tx_pps": median(values(cs, "tx_pps")),
			"baseline_loss":    median(values(bs, "loss")),
			"candidate_loss":   median(values(cs, "loss")),
		}
		r.rep.add(row)
		r.logf("%s: ratio %.3f (%s / %s)", row.ID, *row.Ratio, fmtNum(row.Candidate.Median), fmtNum(row.Baseline.Median))
	}
	return nil
}

// unitAllocs is the unit of allocation counts, which may be 0.
const unitAllocs = "allocs"

// newCountRow returns a row of one measurement of each arm that may be
// 0, such as allocations: no ratio when the baseline is 0.
func newCountRow(id, group, name, metric string, base, cand float64) *Row {
	row := newRow(id, group, name, metric, unitAllocs, false, []float64{base}, []float64{cand}, nil)
	row.Single = true
	if math.IsNaN(*row.Ratio) || math.IsInf(*row.Ratio, 0) {
		row.Ratio, row.RoundRatios = nil, nil
	}
	return row
}
