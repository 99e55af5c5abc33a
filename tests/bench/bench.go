//go:build linux

// Package bench measures the mhost kernel module against the kernel's
// own datagram paths: AF_MHOST against plain UDP on loopback (throughput
// and round-trip latency), the Go SDK against net.UDPConn (throughput and
// allocations, one datagram per call and batched), host-id resolution as
// the host table grows,
// kernel memory per host entry, the control plane's install and dump
// rates, the non-IP path over veth against AF_PACKET, and how fast path
// liveness fails over and back.
//
// It runs inside the test VM (mhost.ko loaded, root), never on the
// machine that builds it: cmd/mhost-bench is the program, `mhostvm bench`
// (make bench) boots the VM, and tests/guest runs a smoke pass with tiny
// counts. Every comparison is measured in one boot, baseline and
// candidate in interleaved rounds, and reported as min/median/max with
// the ratio of the medians.
package bench

import (
	"fmt"
	"io"
	"regexp"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/mnet/mnet/gosdk/mhost"
)

// Config says how much to measure. FullConfig is what make bench runs,
// SmokeConfig what the test suite runs.
type Config struct {
	// Rounds is the number of interleaved rounds per row.
	Rounds int `json:"rounds"`
	// Warmup runs each arm once, discarded, before the rounds.
	Warmup bool `json:"warmup"`
	// Duration is how long each arm sends in one throughput round, in
	// slices of Slice, alternating with the other arm.
	Duration time.Duration `json:"throughput_duration_ns"`
	Slice    time.Duration `json:"throughput_slice_ns"`
	// Pings is the number of round trips per latency measurement, after
	// PingWarmup discarded ones.
	Pings      int `json:"pings"`
	PingWarmup int `json:"ping_warmup"`
	// PingTimeCap ends a latency round early (but after 100 round trips
	// of each arm) once it has run this long; 0: never.
	PingTimeCap time.Duration `json:"ping_time_cap_ns"`
	// Sizes are the datagram payload sizes, in bytes.
	Sizes []int `json:"payload_sizes"`
	// HidTables are the host-table sizes of the resolution benchmark,
	// ascending, the first one 1; each stage adds hosts to the last.
	HidTables []int `json:"hid_tables"`
	// HidSequence is how many random host ids the sender cycles
	// through (a power of two).
	HidSequence int `json:"hid_sequence"`
	// LoadChunk is how many hosts one AddHosts call carries.
	LoadChunk int `json:"load_chunk"`
	// CtlHosts and CtlRounds size the control-plane benchmark.
	CtlHosts  int `json:"ctl_hosts"`
	CtlRounds int `json:"ctl_rounds"`
	// FailoverRounds is how many times each failure is made and healed;
	// ProbeWindow how long the probes of a host are counted.
	FailoverRounds int           `json:"failover_rounds"`
	ProbeWindow    time.Duration `json:"probe_window_ns"`
	// Profile samples the sender's CPU with each arm of the main rows
	// alone for ProfileTime, to show where the difference goes.
	Profile     bool          `json:"profile"`
	ProfileTime time.Duration `json:"profile_time_ns"`
	// Run selects benchmark groups by regular expression (empty: all):
	// throughput, latency, gosdk, nonip, hid, control, failover, design (only with a BaselineModule).
	Run string `json:"run,omitempty"`
	// Accel is what the harness says the VM runs on: kvm or tcg.
	Accel string `json:"accel,omitempty"`
	// Icount says the VM counts instructions (QEMU -icount shift=0):
	// every time is then a number of guest instructions, 1 per ns, on
	// the VM's one vCPU, immune to what else the host runs.
	Icount bool `json:"icount,omitempty"`
	// Block makes receivers sleep in poll(2) rather than spin when their
	// sockets are empty. Spinning keeps a vCPU from halting, which under
	// TCG takes up to a timer tick to undo; under icount a spinning CPU
	// would add its own instructions to the clock, so icount blocks.
	Block bool `json:"block,omitempty"`
	// BaselineModule is mhost.ko of another revision, in the guest:
	// the design group measures it against this one in the same boot.
	// BaselineName names it in the report.
	BaselineModule string `json:"baseline_module,omitempty"`
	BaselineName   string `json:"baseline_name,omitempty"`
	// Seed seeds the random host-id sequence.
	Seed uint64 `json:"seed"`
}

// FullConfig is the configuration of make bench: about 6 minutes under
// TCG on two cores.
func FullConfig() Config {
	return Config{
		Rounds:      11,
		Warmup:      true,
		Duration:    500 * time.Millisecond,
		Slice:       25 * time.Millisecond,
		Pings:       2000,
		PingWarmup:  200,
		PingTimeCap: 1500 * time.Millisecond,
		Sizes:       []int{64, 1400},
		HidTables:   []int{1, 10_000, 1_000_000},
		HidSequence: 1 << 16,
		LoadChunk:   20_000,
		CtlHosts:    100_000,
		CtlRounds:   5,
		Profile:     true,
		ProfileTime: 2 * time.Second,
		Seed:        1,

		FailoverRounds: 11,
		ProbeWindow:    4 * time.Second,
	}
}

// SmokeConfig runs every benchmark with tiny counts, to check that each
// one works and produces sane numbers; its numbers mean nothing. Its
// receivers block: the test VM runs both vCPUs on one host thread, where
// a spinning vCPU keeps the other waiting until QEMU switches them.
func SmokeConfig() Config {
	return Config{
		Block:       true,
		Rounds:      2,
		Warmup:      false,
		Duration:    40 * time.Millisecond,
		Slice:       10 * time.Millisecond,
		Pings:       40,
		PingWarmup:  5,
		Sizes:       []int{64, 1400},
		HidTables:   []int{1, 100, 5_000},
		HidSequence: 1 << 10,
		LoadChunk:   1_000,
		CtlHosts:    2_000,
		CtlRounds:   2,
		Profile:     true,
		ProfileTime: 100 * time.Millisecond,
		Seed:        1,

		FailoverRounds: 1,
		ProbeWindow:    time.Second,
	}
}

// IcountConfig is FullConfig for a VM that counts instructions: its
// times are deterministic, so fewer and shorter rounds do, and a
// spinning receiver would count its spinning.
func IcountConfig() Config {
	c := FullConfig()
	c.Icount, c.Block = true, true
	c.Rounds = 5
	c.Duration = 200 * time.Millisecond
	c.Slice = 20 * time.Millisecond
	c.Pings = 500
	c.PingWarmup = 50
	c.ProfileTime = 500 * time.Millisecond
	c.FailoverRounds = 5
	return c
}

// Validate reports a configuration that cannot run.
func (c *Config) Validate() error {
	switch {
	case c.Rounds < 1:
		return fmt.Errorf("rounds %d < 1", c.Rounds)
	case c.Duration <= 0 || c.Slice <= 0 || c.Slice > c.Duration:
		return fmt.Errorf("duration %v, slice %v", c.Duration, c.Slice)
	case c.Pings < 1:
		return fmt.Errorf("pings %d < 1", c.Pings)
	case len(c.Sizes) == 0:
		return fmt.Errorf("no payload sizes")
	case len(c.HidTables) == 0 || c.HidTables[0] != 1:
		return fmt.Errorf("hid tables %v must start with 1", c.HidTables)
	case c.HidSequence < 1 || c.HidSequence&(c.HidSequence-1) != 0:
		return fmt.Errorf("hid sequence %d is not a power of two", c.HidSequence)
	case c.Profile && c.ProfileTime < 2*time.Millisecond:
		return fmt.Errorf("profile time %v", c.ProfileTime)
	case c.LoadChunk < 1 || c.CtlHosts < 1 || c.CtlRounds < 1:
		return fmt.Errorf("load chunk, ctl hosts and ctl rounds must be positive")
	case c.FailoverRounds < 1 || c.ProbeWindow < 100*time.Millisecond:
		return fmt.Errorf("failover rounds %d, probe window %v", c.FailoverRounds, c.ProbeWindow)
	}
	for i := 1; i < len(c.HidTables); i++ {
		if c.HidTables[i] <= c.HidTables[i-1] {
			return fmt.Errorf("hid tables %v not ascending", c.HidTables)
		}
	}
	for _, s := range c.Sizes {
		if s < 1 || s > 1400 {
			return fmt.Errorf("payload size %d outside 1..1400 (the veth MTU bounds the non-IP rows)", s)
		}
	}
	if _, err := regexp.Compile(c.Run); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	return nil
}

// Groups are the benchmark groups, in the order they run.
// design runs only with a baseline module.
var Groups = []string{"throughput", "latency", "gosdk", "nonip", "hid", "control", "failover", "design"}

// Watchdog is how long a group may run before its goroutines are dumped
// to the log (it goes on running): a hang shows where it is.
var Watchdog = 10 * time.Minute

// runner carries what the groups share.
type runner struct {
	cfg    Config
	log    io.Writer
	rep    *Report
	family int // AF_MHOST in use
}

// profile runs profilePair when profiling is on; a profile that cannot
// be taken is a note, not an error.
func (r *runner) profile(row string, base, cand *flow, size int) {
	if !r.cfg.Profile {
		return
	}
	if err := r.profilePair(row, base, cand, size, r.cfg.ProfileTime); err != nil {
		r.rep.Notes = append(r.rep.Notes, fmt.Sprintf("profile %s: %v", row, err))
		r.logf("profile %s: %v", row, err)
	}
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "bench: "+format+"\n", args...)
}

// Run runs the selected benchmarks and returns their report; progress
// goes to log. A group that fails is recorded in Report.Errors and the
// others still run.
func Run(cfg Config, log io.Writer) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = io.Discard
	}
	if runtime.NumCPU() < 2 {
		fmt.Fprintf(log, "bench: only %d CPU: sender and receiver share it\n", runtime.NumCPU())
	}
	start := time.Now()
	r := &runner{cfg: cfg, log: log, family: mhost.FamilyInUse(),
		rep: &Report{Started: start.UTC(), Params: cfg, Env: readEnv(cfg.Accel)}}
	sel := regexp.MustCompile(cfg.Run)
	groups := map[string]func() error{
		"throughput": r.ipThroughput,
		"latency":    r.ipLatency,
		"gosdk":      r.goSDK,
		"nonip":      r.nonIP,
		"hid":        r.hidScaling,
		"control":    r.controlPlane,
		"failover":   r.failover,
		"design":     r.design,
	}
	for _, g := range Groups {
		if !sel.MatchString(g) || (g == "design" && cfg.BaselineModule == "") {
			continue
		}
		t := time.Now()
		r.logf("%s: start", g)
		wd := time.AfterFunc(Watchdog, func() {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			r.logf("%s: still running after %v; goroutines:\n%s", g, Watchdog, buf[:n])
		})
		err := groups[g]()
		wd.Stop()
		if err != nil {
			r.logf("%s: FAILED: %v", g, err)
			r.rep.Errors = append(r.rep.Errors, fmt.Sprintf("%s: %v", g, err))
		}
		r.rep.info("group_seconds/"+g, time.Since(t).Seconds())
		r.logf("%s: done in %.1fs", g, time.Since(t).Seconds())
		runtime.GC()
		debug.FreeOSMemory()
	}
	r.rep.Duration = time.Since(start).Seconds()
	return r.rep, nil
}
