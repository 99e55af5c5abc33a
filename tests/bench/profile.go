//go:build linux

package bench

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A sampling profiler of one CPU, for where perf is not: the VM has no
// perf binary and, under TCG, no hardware counters. It samples the
// instruction pointer of whatever runs on the CPU (kernel or user) with
// the software cpu-clock event, as `perf record -e cpu-clock -C N` does,
// and names kernel addresses from /proc/kallsyms.

// profilePeriod is the sampling period: 10 kHz. Faster sampling would
// cost the measured code noticeably under TCG.
const profilePeriod = 100 * time.Microsecond

type cpuProfiler struct {
	fd   int
	ring []byte
}

// newProfile opens a sampler of cpu, disabled: enable and disable bracket
// what it should see.
func newProfile(cpu int) (*cpuProfiler, error) {
	attr := unix.PerfEventAttr{
		Type:        unix.PERF_TYPE_SOFTWARE,
		Config:      unix.PERF_COUNT_SW_CPU_CLOCK,
		Size:        uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
		Sample:      uint64(profilePeriod.Nanoseconds()),
		Sample_type: unix.PERF_SAMPLE_IP,
		Bits:        unix.PerfBitDisabled | unix.PerfBitExcludeHv,
	}
	fd, err := unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("perf_event_open(cpu-clock, cpu %d): %w", cpu, err)
	}
	// One metadata page and 2^8 data pages: 1 MiB holds 65536 samples of
	// 16 bytes, 6.5 s at 10 kHz.
	ring, err := unix.Mmap(fd, 0, (1+256)*os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mmap perf ring: %w", err)
	}
	return &cpuProfiler{fd: fd, ring: ring}, nil
}

func (p *cpuProfiler) enable()  { unix.IoctlSetInt(p.fd, unix.PERF_EVENT_IOC_ENABLE, 0) }
func (p *cpuProfiler) disable() { unix.IoctlSetInt(p.fd, unix.PERF_EVENT_IOC_DISABLE, 0) }

func (p *cpuProfiler) close() {
	unix.Munmap(p.ring)
	unix.Close(p.fd)
}

// samples returns the sampled addresses and the number of samples the
// kernel lost, and closes the sampler.
func (p *cpuProfiler) samples() (ips []uint64, lost uint64, err error) {
	defer p.close()
	if err := unix.IoctlSetInt(p.fd, unix.PERF_EVENT_IOC_DISABLE, 0); err != nil {
		return nil, 0, err
	}
	// struct perf_event_mmap_page: data_head at 1024, data_tail at 1032,
	// data_offset at 1040, data_size at 1048.
	head := atomic.LoadUint64((*uint64)(unsafe.Pointer(&p.ring[1024])))
	off := binary.NativeEndian.Uint64(p.ring[1040:])
	size := binary.NativeEndian.Uint64(p.ring[1048:])
	if off == 0 || size == 0 {
		off, size = uint64(os.Getpagesize()), uint64(256*os.Getpagesize())
	}
	data := p.ring[off : off+size]
	read := func(pos, n uint64) []byte {
		b := make([]byte, n)
		for i := uint64(0); i < n; i++ {
			b[i] = data[(pos+i)%size]
		}
		return b
	}
	start := uint64(0)
	if head > size {
		start = head - size // the oldest records were overwritten
	}
	for pos := start; pos+8 <= head; {
		h := read(pos, 8)
		typ := binary.NativeEndian.Uint32(h)
		rsize := uint64(binary.NativeEndian.Uint16(h[6:]))
		if rsize < 8 {
			break
		}
		body := read(pos+8, rsize-8)
		switch typ {
		case unix.PERF_RECORD_SAMPLE:
			if len(body) >= 8 {
				ips = append(ips, binary.NativeEndian.Uint64(body))
			}
		case unix.PERF_RECORD_LOST:
			if len(body) >= 16 {
				lost += binary.NativeEndian.Uint64(body[8:])
			}
		}
		pos += rsize
	}
	return ips, lost, nil
}

// ksym is a kernel symbol.
type ksym struct {
	addr   uint64
	name   string
	module string
}

// kallsyms reads the kernel's symbols, sorted by address. Addresses read
// as zero when kptr_restrict hides them: then nothing can be named.
func kallsyms() ([]ksym, error) {
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var syms []ksym
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 {
			continue
		}
		switch fs[1] {
		case "t", "T", "w", "W":
		default:
			continue
		}
		a, err := strconv.ParseUint(fs[0], 16, 64)
		if err != nil || a == 0 {
			continue
		}
		s := ksym{addr: a, name: fs[2]}
		if len(fs) >= 4 {
			s.module = strings.Trim(fs[3], "[]")
		}
		syms = append(syms, s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(syms) == 0 {
		return nil, fmt.Errorf("/proc/kallsyms shows no addresses (kptr_restrict)")
	}
	sort.Slice(syms, func(i, j int) bool { return syms[i].addr < syms[j].addr })
	return syms, nil
}

// idleFuncs are where an idle CPU is sampled; they count as "[idle]".
var idleFuncs = map[string]bool{
	"native_safe_halt": true, "default_idle": true, "arch_cpu_idle": true, "default_idle_call": true,
	"do_idle": true, "cpuidle_idle_call": true, "mwait_idle": true, "acpi_safe_halt": true,
}

// symbolize names an address: a kernel function, "[idle]", "[unknown]",
// or for user space "[user]" followed by the function of this program
// there is at that address, if any (the samples of the Go benchmarks are
// mostly this program's).
func symbolize(syms []ksym, ip uint64) string {
	if ip < 1<<63 {
		if f := runtime.FuncForPC(uintptr(ip)); f != nil {
			return "[user] " + f.Name()
		}
		return "[user]"
	}
	i := sort.Search(len(syms), func(i int) bool { return syms[i].addr > ip }) - 1
	if i < 0 {
		return "[unknown]"
	}
	if idleFuncs[syms[i].name] {
		return "[idle]"
	}
	if syms[i].module != "" {
		return syms[i].name + " [" + syms[i].module + "]"
	}
	return syms[i].name
}

// ProfileEntry is one function's share of an arm's samples.
type ProfileEntry struct {
	Symbol  string  `json:"symbol"`
	Samples int     `json:"samples"`
	Percent float64 `json:"percent"`
	// NsPerDgram is the sender CPU's time in the function per datagram:
	// its share of the samples times the arm's time per datagram.
	NsPerDgram float64 `json:"ns_per_dgram"`
}

// ArmProfile is the sampled profile of the sender's CPU during one arm's
// slices.
type ArmProfile struct {
	Arm       string `json:"arm"`
	Datagrams int64  `json:"datagrams"`
	// WallNs is how long the arm sent (its slices together).
	WallNs  int64 `json:"wall_ns"`
	Samples int   `json:"samples"`
	// Busy are the samples in which the CPU was not idle.
	Busy      int            `json:"busy"`
	Lost      uint64         `json:"lost"`
	Functions []ProfileEntry `json:"functions"`
}

// nsPerDgram is the time per datagram of the functions that match.
func (a *ArmProfile) nsPerDgram(match func(string) bool) float64 {
	var ns float64
	for _, f := range a.Functions {
		if match(f.Symbol) {
			ns += f.NsPerDgram
		}
	}
	return ns
}

// Profile compares where the sender's CPU spends its time in the two
// arms of a row. The arms alternate every slice as in the measurement,
// each with a sampler of its own that only runs during its slices, so
// both see the same machine.
type Profile struct {
	Row       string     `json:"row"`
	PeriodNs  int64      `json:"period_ns"`
	Baseline  ArmProfile `json:"baseline"`
	Candidate ArmProfile `json:"candidate"`
}

func armProfile(syms []ksym, name string, ips []uint64, lost uint64, s sample) ArmProfile {
	ap := ArmProfile{Arm: name, Datagrams: int64(s["sent"]), WallNs: int64(s["elapsed_ns"]), Samples: len(ips), Lost: lost}
	count := map[string]int{}
	for _, ip := range ips {
		sym := symbolize(syms, ip)
		count[sym]++
		if sym != "[idle]" {
			ap.Busy++
		}
	}
	perDgram := float64(ap.WallNs) / float64(max(ap.Datagrams, 1))
	for sym, n := range count {
		frac := float64(n) / float64(len(ips))
		ap.Functions = append(ap.Functions, ProfileEntry{Symbol: sym, Samples: n, Percent: 100 * frac, NsPerDgram: frac * perDgram})
	}
	sort.Slice(ap.Functions, func(i, j int) bool { return ap.Functions[i].Samples > ap.Functions[j].Samples })
	return ap
}

// profilePair profiles the sender's CPU while the two arms run, d each,
// and adds the comparison to the report.
func (r *runner) profilePair(row string, base, cand *flow, size int, d time.Duration) error {
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
	slices := max(int(d/r.cfg.Slice), 1)
	s, err := throughputPairProfiled([2]*flow{base, cand}, size, r.cfg.Slice, slices, 0, r.cfg.Block, &profs)
	var ips [2][]uint64
	var lost [2]uint64
	var perr error
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
	isMhost := func(s string) bool { return strings.HasSuffix(s, "[mhost]") }
	r.logf("profile %s: %d and %d samples; mhost.ko functions %.0f ns of %.0f per datagram in the candidate", row,
		pr.Baseline.Samples, pr.Candidate.Samples, pr.Candidate.nsPerDgram(isMhost),
		float64(pr.Candidate.WallNs)/float64(max(pr.Candidate.Datagrams, 1)))
	return nil
}

// profileDiffRow is one function in the comparison of two arm profiles.
type profileDiffRow struct {
	symbol     string
	base, cand float64 // ns per datagram
}

// diff lists the functions whose time per datagram differs most between
// the arms, and every mhost function.
func (p *Profile) diff(n int) []profileDiffRow {
	m := map[string]*profileDiffRow{}
	get := func(s string) *profileDiffRow {
		if m[s] == nil {
			m[s] = &profileDiffRow{symbol: s}
		}
		return m[s]
	}
	for _, e := range p.Baseline.Functions {
		get(e.Symbol).base = e.NsPerDgram
	}
	for _, e := range p.Candidate.Functions {
		get(e.Symbol).cand = e.NsPerDgram
	}
	var rows []profileDiffRow
	for _, d := range m {
		rows = append(rows, *d)
	}
	abs := func(v float64) float64 {
		if v < 0 {
			return -v
		}
		return v
	}
	sort.Slice(rows, func(i, j int) bool {
		return abs(rows[i].cand-rows[i].base) > abs(rows[j].cand-rows[j].base)
	})
	var out []profileDiffRow
	for i, d := range rows {
		if d.symbol == "[idle]" {
			continue
		}
		if i < n || strings.Contains(d.symbol, "[mhost") {
			out = append(out, d)
		}
	}
	return out
}
