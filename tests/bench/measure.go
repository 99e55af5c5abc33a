//go:build linux

package bench

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// A flow is a sender socket, a receiver socket and the address the
// sender sends to. The receiver answers the sender in ping-pong.
type flow struct {
	name   string
	tx, rx int
	dst    []byte
	// pad is added to every payload, so that an arm which carries no
	// mhost header of its own (AF_PACKET) puts frames of the same size
	// on the wire.
	pad int
	// dsts, when set, replaces dst: a sequence of destinations (its
	// length a power of two) the sender cycles through, one per datagram.
	dsts [][]byte
}

func (f *flow) close() {
	if f == nil {
		return
	}
	unix.Close(f.tx)
	if f.rx != f.tx {
		unix.Close(f.rx)
	}
}

// sample is what one measurement of one arm produced, by metric.
type sample map[string]float64

// CPUs the two sides of a measurement are bound to.
const (
	txCPU = 0
	rxCPU = 1
)

func transient(err error) bool {
	return errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)
}

func yield() { unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }

// waitFor is what a receiver does when its sockets are empty: yield the
// CPU and try again (poll mode), or sleep in poll(2) until one of them
// is readable or rxTimeout passes (block mode).
func waitFor(fds []int, block bool) {
	if !block {
		yield()
		return
	}
	pfds := make([]unix.PollFd, len(fds))
	for i, fd := range fds {
		pfds[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	}
	unix.Poll(pfds, int(rxTimeout/time.Millisecond))
}

// The two arms of a comparison are measured in one go, tightly
// interleaved, so that both see the same machine: the host this VM runs
// on is shared, and under TCG anything else running there slows the
// guest down by tens of percent for seconds at a time. Measuring one arm
// for a second and then the other would turn that into differences
// between the arms; alternating every few milliseconds (throughput) or
// every round trip (latency) does not.

// throughputPair measures one round of two arms: a sender thread
// alternates between them every slice, slices times each, starting with
// arm first, while a receiver thread counts what arrives on each
// receiving socket.
//
// The sender blocks (on a full send buffer), as applications do. The
// receiver polls its sockets (MSG_DONTWAIT) and yields the CPU when they
// are empty, unless block is set (see Config.Block): a receiver that
// sleeps makes the sender pay for waking it up, an inter-processor
// interrupt per datagram whose cost under TCG swings with what QEMU is
// doing, and that noise drowned the difference between the arms. With a polling receiver the sender's cost is the
// send path plus the delivery to the socket, which loopback and veth do
// in the sender's context. The receiver stops once the sender has
// stopped and its sockets have stayed empty for drainQuiet.
//
// Each arm's sample holds the received rate (rx_pps), the send rate
// (tx_pps), the fraction lost (loss) and the sender's time per datagram
// (ns_per_dgram). Arms sharing a receiving socket get its rate together.
func throughputPair(arms [2]*flow, size int, slice time.Duration, slices, first int, block bool) ([2]sample, error) {
	return throughputPairProfiled(arms, size, slice, slices, first, block, nil)
}

// throughputPairProfiled is throughputPair with, when profs is not nil,
// each arm's sampler enabled during that arm's slices only.
func throughputPairProfiled(arms [2]*flow, size int, slice time.Duration, slices, first int, block bool, profs *[2]*cpuProfiler) ([2]sample, error) {
	fds := []int{arms[0].rx}
	if arms[1].rx != arms[0].rx {
		fds = append(fds, arms[1].rx)
	}
	var (
		stop  atomic.Bool
		rxN   = make([]int64, len(fds))
		rxErr error
	)
	ready := make(chan struct{})
	rxDone := pinned(rxCPU, func() {
		buf := make([]byte, 65536)
		from := make([]byte, 128)
		close(ready)
		var quiet time.Time
		for {
			idle := true
			for i, fd := range fds {
				_, _, err := recvfrom(fd, buf, from, unix.MSG_DONTWAIT)
				if err == nil {
					rxN[i]++
					idle = false
					continue
				}
				if !transient(err) {
					rxErr = err
					return
				}
			}
			if !idle {
				quiet = time.Time{}
				continue
			}
			if stop.Load() {
				if quiet.IsZero() {
					quiet = time.Now()
				} else if time.Since(quiet) >= drainQuiet {
					return
				}
			}
			waitFor(fds, block)
		}
	})
	<-ready

	var (
		sent, sendErr [2]int64
		elapsed       [2]time.Duration
		txErr         error
	)
	<-pinned(txCPU, func() {
		var payload [2][]byte
		var dsts [2][][]byte
		var idx [2]int
		for k, f := range arms {
			payload[k] = make([]byte, size+f.pad)
			// Every arm cycles through a sequence, so that all run the
			// same user code: a one-element one if it has one address.
			dsts[k] = f.dsts
			if dsts[k] == nil {
				dsts[k] = [][]byte{f.dst}
			}
		}
		for s := 0; s < 2*slices; s++ {
			k := (s + first) % 2
			f, p, ds := arms[k], payload[k], dsts[k]
			mask := len(ds) - 1
			if profs != nil {
				profs[k].enable()
			}
			start := time.Now()
			for {
				for j := 0; j < 16; j++ {
					d := ds[idx[k]&mask]
					idx[k]++
					if _, err := sendto(f.tx, p, d); err != nil {
						if errors.Is(err, unix.ENOBUFS) || transient(err) {
							sendErr[k]++
							continue
						}
						txErr = fmt.Errorf("%s: send: %w", f.name, err)
						return
					}
					sent[k]++
				}
				if time.Since(start) >= slice {
					break
				}
			}
			elapsed[k] += time.Since(start)
			if profs != nil {
				profs[k].disable()
			}
		}
	})
	stop.Store(true)
	<-rxDone
	var out [2]sample
	if txErr != nil {
		return out, txErr
	}
	if rxErr != nil {
		return out, fmt.Errorf("%s/%s: receive: %w", arms[0].name, arms[1].name, rxErr)
	}
	for k, f := range arms {
		n := rxN[0]
		if f.rx != fds[0] {
			n = rxN[1]
		}
		rx, secs, tx := float64(n), elapsed[k].Seconds(), float64(sent[k])
		if arms[0].rx == arms[1].rx {
			secs, tx = (elapsed[0] + elapsed[1]).Seconds(), float64(sent[0]+sent[1])
		}
		if sent[k] == 0 || rx == 0 {
			return out, fmt.Errorf("%s: sent %d, received %.0f datagrams", f.name, sent[k], rx)
		}
		out[k] = sample{
			"rx_pps":       rx / secs,
			"tx_pps":       float64(sent[k]) / elapsed[k].Seconds(),
			"loss":         1 - rx/tx,
			"ns_per_dgram": float64(elapsed[k].Nanoseconds()) / float64(sent[k]),
			"send_errors":  float64(sendErr[k]),
			"sent":         float64(sent[k]),
			"elapsed_ns":   float64(elapsed[k].Nanoseconds()),
		}
	}
	return out, nil
}

// drainQuiet is how long a polling receiver goes on after its sender has
// stopped, once its sockets are empty: a frame may still wait in a
// backlog that no softirq has processed yet.
const drainQuiet = 20 * time.Millisecond

// minPings is how many round trips of each arm a latency round measures
// at least, however long they take.
const minPings = 100

// rttTimeout bounds one round trip: a datagram lost on the way fails
// the measurement rather than hanging it.
const rttTimeout = 2 * time.Second

// pingpongPair measures n round trips on each of two arms (after warm
// discarded ones), alternating between the arms every round trip, the
// one that goes first alternating too: the sender sends a datagram of
// size bytes and waits for the receiver to echo it to the source address
// it saw. Each arm's sample holds the median (p50_us), 99th percentile
// (p99_us) and mean (mean_us) round trip in microseconds.
//
// Both sides poll (MSG_DONTWAIT) instead of sleeping: under TCG, waking
// a halted vCPU takes up to a timer tick (milliseconds), which would
// measure QEMU's idle handling rather than the network stack. An empty
// poll yields the CPU (sched_yield), so that a kernel thread that needs
// it, such as ksoftirqd, is not starved by the spinning. The echo thread
// polls the receiving sockets of both arms in turn, so each arm pays for
// the same empty polls. With block set (Config.Block), empty sockets are
// waited for in poll(2) instead.
//
// A round stops early, with fewer round trips, once it has run for
// timeCap (if not 0) and has at least minPings of each arm: when the
// host deschedules a vCPU, round trips take milliseconds, and 2 × n of
// them would stretch the run by minutes.
func pingpongPair(arms [2]*flow, size, n, warm, first int, block bool, timeCap time.Duration) ([2]sample, error) {
	var (
		stop          atomic.Bool
		srvErr, clErr error
		out           [2]sample
	)
	fds := []int{arms[0].rx}
	if arms[1].rx != arms[0].rx {
		fds = append(fds, arms[1].rx)
	}
	ready := make(chan struct{})
	srvDone := pinned(rxCPU, func() {
		buf := make([]byte, 65536)
		from := make([]byte, 128)
		close(ready)
		for !stop.Load() {
			idle := true
			for _, fd := range fds {
				m, alen, err := recvfrom(fd, buf, from, unix.MSG_DONTWAIT)
				if err != nil {
					if !transient(err) {
						srvErr = err
						return
					}
					continue
				}
				idle = false
				if _, err := sendto(fd, buf[:m], from[:alen]); err != nil {
					srvErr = fmt.Errorf("echo: %w", err)
					return
				}
			}
			if idle {
				waitFor(fds, block)
			}
		}
	})
	<-ready
	var rtts [2][]time.Duration
	rtts[0], rtts[1] = make([]time.Duration, 0, n), make([]time.Duration, 0, n)
	<-pinned(txCPU, func() {
		var payload [2][]byte
		for k, f := range arms {
			payload[k] = make([]byte, size+f.pad)
		}
		buf := make([]byte, 65536)
		from := make([]byte, 128)
		start := time.Now()
		for i := -warm; i < n; i++ {
			if timeCap > 0 && i >= minPings && time.Since(start) > timeCap {
				break
			}
			for j := 0; j < 2; j++ {
				k := (i + j + first) & 1
				f := arms[k]
				t0 := time.Now()
				if _, err := sendto(f.tx, payload[k], f.dst); err != nil {
					clErr = fmt.Errorf("%s: send: %w", f.name, err)
					return
				}
				for {
					_, _, err := recvfrom(f.tx, buf, from, unix.MSG_DONTWAIT)
					if err == nil {
						break
					}
					if !transient(err) {
						clErr = fmt.Errorf("%s: round trip %d: %w", f.name, i, err)
						return
					}
					waitFor([]int{f.tx}, block)
					if time.Since(t0) > rttTimeout {
						clErr = fmt.Errorf("%s: round trip %d: no answer in %v", f.name, i, rttTimeout)
						return
					}
				}
				if i >= 0 {
					rtts[k] = append(rtts[k], time.Since(t0))
				}
			}
		}
	})
	stop.Store(true)
	<-srvDone
	if clErr != nil {
		return out, clErr
	}
	if srvErr != nil {
		return out, fmt.Errorf("echo server: %w", srvErr)
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	for k, r := range rtts {
		if len(r) == 0 {
			return out, fmt.Errorf("%s: no round trips measured", arms[k].name)
		}
		sort.Slice(r, func(i, j int) bool { return r[i] < r[j] })
		var sum time.Duration
		for _, d := range r {
			sum += d
		}
		out[k] = sample{
			"round_trips": float64(len(r)),
			"p50_us":      us(r[percentileIndex(len(r), 0.50)]),
			"p99_us":      us(r[percentileIndex(len(r), 0.99)]),
			"mean_us":     us(sum) / float64(len(r)),
		}
	}
	return out, nil
}

// percentileIndex is the nearest-rank index of the p quantile of n
// sorted values.
func percentileIndex(n int, p float64) int {
	i := int(math.Ceil(p*float64(n))) - 1
	if i < 0 {
		i = 0
	}
	if i >= n {
		i = n - 1
	}
	return i
}

// rounds measures a pair rounds times, arm 0 being the baseline and arm
// 1 the candidate; which arm goes first alternates from round to round.
// With warm set, one round goes before, discarded.
func rounds(n int, warm bool, measure func(first int) ([2]sample, error)) (base, cand []sample, err error) {
	if warm {
		if _, err := measure(0); err != nil {
			return nil, nil, err
		}
	}
	for i := 0; i < n; i++ {
		s, err := measure(i % 2)
		if err != nil {
			return nil, nil, err
		}
		base, cand = append(base, s[0]), append(cand, s[1])
	}
	return base, cand, nil
}

// tputRounds measures the throughput of two arms in rounds.
func (r *runner) tputRounds(base, cand *flow, size int) ([]sample, []sample, error) {
	slices := int(r.cfg.Duration / r.cfg.Slice)
	if slices < 1 {
		slices = 1
	}
	return rounds(r.cfg.Rounds, r.cfg.Warmup, func(first int) ([2]sample, error) {
		return throughputPair([2]*flow{base, cand}, size, r.cfg.Slice, slices, first, r.cfg.Block)
	})
}

// latencyRounds measures the round trips of two arms in rounds.
func (r *runner) latencyRounds(base, cand *flow, size int) ([]sample, []sample, error) {
	return rounds(r.cfg.Rounds, r.cfg.Warmup, func(first int) ([2]sample, error) {
		return pingpongPair([2]*flow{base, cand}, size, r.cfg.Pings, r.cfg.PingWarmup, first, r.cfg.Block, r.cfg.PingTimeCap)
	})
}

// values picks one metric out of samples.
func values(ss []sample, key string) []float64 {
	if ss == nil {
		return nil
	}
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = s[key]
	}
	return v
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	_, m, _ := minMedianMax(v)
	return m
}
