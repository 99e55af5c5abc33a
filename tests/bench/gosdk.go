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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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

// window is how many datagrams an arm may have in flight, sent and not
// yet received: the sender waits for its receiver beyond that, as a
// protocol with flow control would. Without it a sender that never blocks
// (a UDP send does not) keeps the receiver off the CPU when there is one
// (the icount pass; Go preempts a goroutine after 10 ms), and the
// receive buffer's size, not the cost of a datagram, sets the rate. It is
// large, so that the two vCPUs of the wall-clock pass seldom wait for
// each other (waking a halted vCPU takes TCG up to a timer tick), and
// the receive buffers are made to hold it (rcvbuf), so nothing is
// dropped.
const (
	window = 2048
	rcvbuf = 8 << 20 // doubled by the kernel
)

// forceRcvbuf sets the receive buffer of c past net.core.rmem_max
// (SO_RCVBUFFORCE: the benchmark runs as root).
func forceRcvbuf(c syscall.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) })
	if err == nil {
		err = serr
	}
	return err
}

// stall is how long a sender waits for its receiver before counting what
// is in flight as lost.
const stall = time.Second

// A goArm is one way of sending and receiving datagrams from Go.
type goArm struct {
	name string
	unit int // datagrams per send
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

// udpPair returns two net.UDPConns in ns of network ("udp4", "udp6"), and
// the loopback address of the second. The receiver binds the wildcard
// address, as an AF_MHOST socket always does (a socket bound to the
// address is found by the first of the kernel's two hash lookups).
func udpPair(ns int, network string) (tx, rx *net.UDPConn, dst netip.AddrPort, err error) {
	lo := netip.MustParseAddr("127.0.0.1")
	if network == "udp6" {
		lo = netip.IPv6Loopback()
	}
	err = inNetNS(ns, func() error {
		var err error
		if rx, err = net.ListenUDP(network, nil); err != nil {
			return err
		}
		if tx, err = net.ListenUDP(network, nil); err != nil {
			rx.Close()
		}
		return err
	})
	if err == nil {
		if err = forceRcvbuf(rx); err != nil {
			tx.Close()
			rx.Close()
		}
	}
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
	if rx, err = cfg.Listen(context.Background(), 0); err == nil {
		if err = forceRcvbuf(rx); err != nil {
			rx.Close()
		}
	}
	if err != nil {
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
// ReadBatch, sendmmsg and recvmmsg), with datagrams of size to
// size+batchLen-1 bytes, as the SDK's "mmsg" mode.
func udpArm(ns int, network, mode string, size int) (*goArm, error) {
	tx, rx, dst, err := udpPair(ns, network)
	if err != nil {
		return nil, err
	}
	a := &goArm{name: "net.UDPConn " + mode, unit: 1, close: func() { tx.Close(); rx.Close() }}
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
			out[i] = ipv4.Message{Buffers: [][]byte{make([]byte, size+i)}, Addr: to}
			in[i] = ipv4.Message{Buffers: [][]byte{make([]byte, 2048)}}
		}
		a.send = func() (int, error) { return writeAll(func(i int) (int, error) { return txb.WriteBatch(out[i:], 0) }) }
		a.recv = func() (int, error) { return rxb.ReadBatch(in, 0) }
		a.unit = batchLen
	default:
		a.close()
		return nil, fmt.Errorf("unknown mode %q", mode)
	}
	return a, nil
}

// sdkArm is mhost.Conn in one of its modes: "netip"
// (WriteToAddrPort/ReadFromAddrPort), "pc" (WriteTo/ReadFrom), "batch"
// (WriteBatch/ReadBatch, which sends the batch as one UDP_SEGMENT send),
// "mmsg" (the same with datagrams of size to size+batchLen-1 bytes, each
// longer than the one before, which WriteBatch cannot segment: sendmmsg
// alone), "gso" (WriteToSegmented, batchLen datagrams per call, read
// with ReadBatch).
func sdkArm(ns int, network, mode string, size int) (*goArm, error) {
	tx, rx, dst, err := sdkPair(ns, network)
	if err != nil {
		return nil, err
	}
	a := &goArm{name: "mhost.Conn " + mode, unit: 1, close: func() { tx.Close(); rx.Close() }}
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
	case "batch", "mmsg":
		out := make([]mhost.Message, batchLen)
		for i := range out {
			b := p
			if mode == "mmsg" {
				b = make([]byte, size+i)
			}
			out[i] = mhost.Message{Buffers: [][]byte{b}, Addr: mhost.AddrFromAddrPort(dst)}
		}
		a.send = func() (int, error) { return writeAll(func(i int) (int, error) { return tx.WriteBatch(out[i:], 0) }) }
		a.recv = readBatch
		a.unit = batchLen
	case "gso":
		big := make([]byte, batchLen*size)
		to := mhost.AddrFromAddrPort(dst)
		a.send = func() (int, error) { _, err := tx.WriteToSegmented(big, size, to); return batchLen, err }
		a.recv = readBatch
		a.unit = batchLen
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
// slices times each, starting with arm first, keeping at most window
// datagrams of an arm in flight; each arm's receiver counts what arrives,
// until the sender is done and its socket has been quiet for drainQuiet.
func goThroughputPair(arms [2]*goArm, slice time.Duration, slices, first int) ([2]sample, error) {
	return goThroughputPairProfiled(arms, slice, slices, first, nil)
}

// goThroughputPairProfiled is goThroughputPair with, when profs is not
// nil, each arm's sampler enabled during that arm's slices only.
func goThroughputPairProfiled(arms [2]*goArm, slice time.Duration, slices, first int, profs *[2]*cpuProfiler) ([2]sample, error) {
	var (
		rxN    [2]atomic.Int64
		rxErr  [2]error
		lastRx [2]atomic.Int64  // UnixNano of the last datagram received
		space  [2]chan struct{} // a receiver made room in the window
		wg     sync.WaitGroup
	)
	for k, a := range arms {
		a.reset()
		space[k] = make(chan struct{}, 1)
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
				select {
				case space[k] <- struct{}{}:
				default:
				}
			}
		}()
	}

	var (
		sent, sendErr, lost [2]int64
		elapsed             [2]time.Duration
		txErr               error
	)
	timer := time.NewTimer(stall)
	defer timer.Stop()
	for s := 0; s < 2*slices && txErr == nil; s++ {
		k := (s + first) % 2
		a := arms[k]
		if profs != nil {
			profs[k].enable()
		}
		start := time.Now()
		for time.Since(start) < slice {
			for j := 0; j < 16; j++ {
				for sent[k]-lost[k]-rxN[k].Load() > int64(window-a.unit) {
					timer.Reset(stall)
					select {
					case <-space[k]:
					case <-timer.C:
						lost[k] = sent[k] - rxN[k].Load()
					}
				}
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
		if profs != nil {
			profs[k].disable()
		}
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
			"stalls":      float64(lost[k]),
			"send_errors": float64(sendErr[k]),
			"sent":        float64(sent[k]),
			"elapsed_ns":  float64(elapsed[k].Nanoseconds()),
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
	profile      bool // sample the CPU with each arm
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
		base: udpMode("udp4", "netip"), cand: sdkMode("udp4", "netip"), target: atLeast(0.95, "ratio"), allocs: true, profile: true},
	{id: "udp-sdk/netip/ipv6", name: "Go IPv6, one per call, netip: net.UDPConn vs mhost.Conn", network: "udp6",
		base: udpMode("udp6", "netip"), cand: sdkMode("udp6", "netip"), target: atLeast(0.95, "ratio"), allocs: true},
	{id: "udp-sdk/pc/ipv4", name: "Go IPv4, one per call, WriteTo/ReadFrom: net.UDPConn vs mhost.Conn", network: "udp4",
		base: udpMode("udp4", "pc"), cand: sdkMode("udp4", "pc"), target: atLeast(0.95, "ratio"), allocs: true},
	// Like for like: sendmmsg and recvmmsg on both sides, datagrams of
	// distinct lengths, which WriteBatch cannot segment.
	{id: "udp-sdk/batch/ipv4", name: fmt.Sprintf("Go IPv4, batches of %d, sendmmsg alone: x/net ipv4.PacketConn vs mhost.Conn", batchLen), network: "udp4",
		base: udpMode("udp4", "batch"), cand: sdkMode("udp4", "mmsg"), allocs: true},
	// sendmmsg and recvmmsg save system calls, not the kernel's work per
	// datagram; UDP_SEGMENT, which WriteBatch uses for a run of datagrams
	// alike, saves most of the sender's.
	{id: "sdk-sdk/batch/ipv4", name: fmt.Sprintf("Go IPv4, mhost.Conn: one per call vs WriteBatch/ReadBatch of %d", batchLen), network: "udp4",
		base: sdkMode("udp4", "netip"), cand: sdkMode("udp4", "batch"), target: atLeast(2, "ratio"), allocs: true, profile: true},
	{id: "sdk-sdk/mmsg/ipv4", name: fmt.Sprintf("Go IPv4, mhost.Conn: one per call vs WriteBatch/ReadBatch of %d, sendmmsg alone", batchLen), network: "udp4",
		base: sdkMode("udp4", "netip"), cand: sdkMode("udp4", "mmsg")},
	{id: "sdk-sdk/gso/ipv4", name: fmt.Sprintf("Go IPv4, mhost.Conn: one per call vs WriteToSegmented of %d, ReadBatch", batchLen), network: "udp4",
		base: sdkMode("udp4", "netip"), cand: sdkMode("udp4", "gso"), target: atLeast(2, "ratio"), allocs: true},
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
		if err == nil && p.profile && r.cfg.Profile {
			if perr := r.goProfile("gosdk/tput/"+p.id, b, c, slices); perr != nil {
				r.rep.Notes = append(r.rep.Notes, fmt.Sprintf("profile gosdk/tput/%s: %v", p.id, perr))
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

// goProfile samples the CPU while two Go arms run, as profilePair does
// for raw sockets. Its [user] line is the Go side of each arm; under
// icount, with one vCPU, the receivers' work is in it too.
func (r *runner) goProfile(row string, base, cand *goArm, slices int) error {
	syms, err := kallsyms()
	if err != nil {
		return err
	}
	var profs [2]*cpuProfiler
	for k := range profs {
		if profs[k], err = newProfile(txCPU); err != nil {
			if k == 1 {
				profs[0].close()
			}
			return err
		}
	}
	s, err := goThroughputPairProfiled([2]*goArm{base, cand}, r.cfg.Slice, slices, 0, &profs)
	var (
		ips  [2][]uint64
		lost [2]uint64
		perr error
	)
	for k := range profs {
		var e error
		if ips[k], lost[k], e = profs[k].samples(); e != nil {
			perr = e
		}
	}
	if err != nil {
		return err
	}
	if perr != nil {
		return perr
	}
	if len(ips[0]) == 0 || len(ips[1]) == 0 {
		return fmt.Errorf("no samples (%d, %d)", len(ips[0]), len(ips[1]))
	}
	pr := Profile{Row: row, PeriodNs: profilePeriod.Nanoseconds(),
		Baseline:  armProfile(syms, base.name, ips[0], lost[0], s[0]),
		Candidate: armProfile(syms, cand.name, ips[1], lost[1], s[1])}
	r.rep.Profiles = append(r.rep.Profiles, pr)
	isUser := func(s string) bool { return strings.HasPrefix(s, "[user]") }
	r.logf("profile %s: %d and %d samples; user space %.0f and %.0f ns per datagram", row,
		pr.Baseline.Samples, pr.Candidate.Samples, pr.Baseline.nsPerDgram(isUser), pr.Candidate.nsPerDgram(isUser))
	return nil
}
