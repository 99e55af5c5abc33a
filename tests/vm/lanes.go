package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// DefaultLanes are the lanes `make test` and TestVM run when none are
// named (LANES=, -vm.lanes): every lane, since mhost.ko passes on each.
// A lane that stops passing for a reason outside mhost can be left out
// here, visibly, and still run when named.
const DefaultLanes = "6.1,6.12,newest,selinux,debug"

// A Lane is one configuration the guest suite runs in: a kernel, where it
// comes from, and how it boots.
type Lane struct {
	Name string // what LANES= names
	Doc  string // one line for people

	kind   laneKind
	series string // hostLane: the kernel series ("6.1", "6.12")
	// meta: the series comes with Debian's meta packages
	// (linux-image-amd64, linux-headers-amd64) rather than by version.
	meta bool
	// Append is added to the kernel command line.
	Append string
	// Suffix tells this lane's results from those of another lane on the
	// same kernel: labels are "<kernel version><Suffix>".
	Suffix string
	// Debug marks the debug kernel's lane: fault-injection tests,
	// kmemleak scans, heavy tests scaled down, more memory and time.
	Debug bool
}

type laneKind int

const (
	hostLane   laneKind = iota // a Debian kernel installed on this machine
	trixieLane                 // a kernel installed in the trixie environment
	debugLane                  // the debug kernel built from linux-source-6.1
)

// Lanes are all the lanes, in the order they run.
var Lanes = []*Lane{
	{Name: "6.1", Doc: "Debian 12's kernel (linux-image-amd64)", kind: hostLane, series: "6.1", meta: true},
	{Name: "6.12", Doc: "the newest 6.12 (Debian 13's series) with headers for bookworm, from bookworm-security or -backports", kind: hostLane, series: "6.12"},
	{Name: "newest", Doc: "the newest series in trixie-backports; the module is built in a trixie environment (gcc-14)", kind: trixieLane},
	{Name: "selinux", Doc: "Debian 12's kernel booted with SELinux as the LSM (no policy loaded)", kind: hostLane, series: "6.1", meta: true,
		Append: "security=selinux selinux=1", Suffix: "+selinux"},
	// Last: the first time on a machine, its kernel builds while the
	// other lanes run.
	{Name: "debug", Doc: "linux-source-6.1 built with KASAN, kmemleak, lockdep, PROVE_RCU, UBSAN, failslab, KCOV; fault-injection tests and kmemleak scans", kind: debugLane, Debug: true},
}

// LaneNames lists every lane's name.
func LaneNames() []string {
	var n []string
	for _, l := range Lanes {
		n = append(n, l.Name)
	}
	return n
}

// SelectLanes parses a comma-separated list of lane names ("all": every
// lane; "": DefaultLanes), in the order of Lanes.
func SelectLanes(spec string) ([]*Lane, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		spec = DefaultLanes
	}
	want := map[string]bool{}
	for _, n := range strings.Split(spec, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if n == "all" {
			for _, l := range Lanes {
				want[l.Name] = true
			}
			continue
		}
		if LaneByName(n) == nil {
			return nil, fmt.Errorf("no lane %q: the lanes are %s (or all)", n, strings.Join(LaneNames(), ", "))
		}
		want[n] = true
	}
	var out []*Lane
	for _, l := range Lanes {
		if want[l.Name] {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no lanes in %q", spec)
	}
	return out, nil
}

// LaneByName returns the named lane, or nil.
func LaneByName(name string) *Lane {
	for _, l := range Lanes {
		if l.Name == name {
			return l
		}
	}
	return nil
}

// Label names a run of this lane on k in test names and the summary.
func (l *Lane) Label(k *Kernel) string {
	return k.Version + l.Suffix
}

func (l *Lane) setupHint() string {
	return fmt.Sprintf("run `make kernels LANES=%s` (as root) to set it up", l.Name)
}

// Kernel finds the lane's kernel as set up on this machine, without
// installing anything. repo is the repository root.
func (l *Lane) Kernel(repo string) (*Kernel, error) {
	var (
		k   *Kernel
		err error
	)
	switch l.kind {
	case hostLane:
		k, err = newestInstalled("", l.series)
	case trixieLane:
		k, err = newestInstalled(trixieRoot(), "")
	case debugLane:
		k, err = debugKernel(repo)
	}
	if err != nil {
		return nil, fmt.Errorf("lane %s: %v: %s", l.Name, err, l.setupHint())
	}
	return k, nil
}

// newestInstalled returns the newest kernel of a series ("": any) under
// root ("": this machine) with both headers and an image.
func newestInstalled(root, series string) (*Kernel, error) {
	mods := filepath.Join(root, modulesRoot)
	ents, err := os.ReadDir(mods)
	if err != nil {
		return nil, fmt.Errorf("no kernels in %s", mods)
	}
	re := kernelVersionRE(series)
	var vers []string
	for _, e := range ents {
		if re.MatchString(e.Name()) {
			vers = append(vers, e.Name())
		}
	}
	sort.Slice(vers, func(i, j int) bool { return versionLess(vers[j], vers[i]) })
	var problems []string
	for _, v := range vers {
		k := installedKernel(root, v)
		if err := k.check(); err != nil {
			problems = append(problems, err.Error())
			continue
		}
		return k, nil
	}
	what := "series " + series
	if series == "" {
		what = "any series"
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("no usable kernel of %s in %s: %s", what, mods, strings.Join(problems, "; "))
	}
	return nil, fmt.Errorf("no kernel of %s in %s", what, mods)
}

// installedKernel describes Debian's layout of kernel v under root.
func installedKernel(root, v string) *Kernel {
	return &Kernel{
		Version:  v,
		Image:    filepath.Join(root, bootDir, "vmlinuz-"+v),
		ModDir:   filepath.Join(root, modulesRoot, v),
		BuildDir: filepath.Join(modulesRoot, v, "build"),
		Root:     root,
	}
}

// Setup installs or builds the lane's kernel where it is missing or out of
// date: apt on this machine, the trixie environment, the debug kernel
// (with deferDebug, in the background: the build goes on after Setup
// returns, and the VM suite waits for it). It needs root. Progress goes
// to log.
func (l *Lane) Setup(ctx context.Context, repo string, deferDebug bool, log io.Writer) error {
	start := time.Now()
	var err error
	switch l.kind {
	case hostLane:
		err = setupHostSeries(ctx, l, log)
	case trixieLane:
		err = setupTrixie(ctx, log)
	case debugLane:
		if deferDebug {
			b, err := StartDebugBuild(repo)
			if err != nil {
				return fmt.Errorf("setting up lane %s: %w", l.Name, err)
			}
			if b != nil {
				fmt.Fprintf(log, "setup: lane %s: building its kernel in the background (%s); the VM suite waits for it when the lane's turn comes\n", l.Name, b.Log)
			}
			return nil
		}
		err = buildDebugKernel(ctx, repo, log)
	}
	if err != nil {
		return fmt.Errorf("setting up lane %s: %w", l.Name, err)
	}
	k, err := l.Kernel(repo)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "setup: lane %s: kernel %s ready (%s)\n", l.Name, k.Version, time.Since(start).Round(time.Second))
	return nil
}

// Boot applies how the lane boots to a VM run: its command line and,
// for the debug kernel, more memory.
func (l *Lane) Boot(cfg *Config) {
	cfg.Append = strings.TrimSpace(cfg.Append + " " + l.Append)
	if l.Debug {
		// KASAN's shadow (1/8), its quarantine and kmemleak's object per
		// allocation: 100,000 hosts need more than the usual 1G.
		cfg.Memory = "3G"
		cfg.CPU = DebugCPU
	}
}

// Configure applies the lane's settings to a VM run of the guest suite.
func (l *Lane) Configure(cfg *Config) {
	l.Boot(cfg)
	if !l.Debug {
		// The fault-injection tests need the debug kernel's failslab:
		// every other lane leaves them out by name, visibly.
		cfg.TestArgs = append(cfg.TestArgs, "-test.skip="+FaultTestPattern)
		return
	}
	cfg.Kmemleak = true
	cfg.TestEnv = append(cfg.TestEnv, ScaleEnv+"="+DebugScale)
	// Even scaled, the suite takes several times as long there.
	cfg.Timeout *= debugSlowdown
	cfg.StepTimeout *= debugSlowdown
}

// debugSlowdown stretches the debug lane's timeouts.
const debugSlowdown = 3

// FaultTestPattern matches the guest tests that inject allocation
// failures (tests/guest/fault_test.go): run on the debug lane only.
const FaultTestPattern = "^TestFault"

// ScaleEnv tells guest tests to scale their heavy loads: the value is a
// factor (e.g. 0.1), and each test that uses it says so in its output.
const ScaleEnv = "MHOST_TEST_SCALE"

// DebugScale is the debug lane's scale: its kernel runs the suite several
// times slower than Debian's (KASAN, kmemleak and lockdep on every
// allocation and lock, under TCG).
const DebugScale = "0.1"

// LaneKernels resolves each lane's kernel; lanes without one get the error.
type LaneKernel struct {
	Lane   *Lane
	Kernel *Kernel
	Err    error
}

// FindLaneKernels returns the kernels of lanes.
func FindLaneKernels(repo string, lanes []*Lane) []LaneKernel {
	var out []LaneKernel
	for _, l := range lanes {
		k, err := l.Kernel(repo)
		out = append(out, LaneKernel{Lane: l, Kernel: k, Err: err})
	}
	return out
}

// LaneForKernel returns the first lane whose kernel has version kver, and
// that kernel.
func LaneForKernel(repo, kver string) (*Lane, *Kernel, error) {
	var seen []string
	for _, l := range Lanes {
		if l.Suffix != "" {
			continue // the same kernel as another lane
		}
		k, err := l.Kernel(repo)
		if err != nil {
			continue
		}
		if k.Version == kver {
			return l, k, nil
		}
		seen = append(seen, fmt.Sprintf("%s (lane %s)", k.Version, l.Name))
	}
	return nil, nil, fmt.Errorf("no lane has kernel %s; the lanes' kernels here: %s", kver, strings.Join(seen, ", "))
}

// ResolveKernel finds the kernel a VM run boots: kver (default
// $MHOST_KVER), installed here or a lane's; without a version, the first
// of DefaultLanes that has its kernel here, so that demo, shell and bench
// boot what the suite tests first rather than whatever is newest.
func ResolveKernel(repo, kver string) (*Kernel, error) {
	if kver == "" {
		kver = os.Getenv("MHOST_KVER")
	}
	if kver != "" {
		k, err := FindKernel(kver)
		if err == nil {
			return k, nil
		}
		if _, lk, lerr := LaneForKernel(repo, kver); lerr == nil {
			return lk, nil
		}
		return nil, err
	}
	lanes, err := SelectLanes(DefaultLanes)
	if err != nil {
		return nil, err
	}
	var errs []string
	for _, lk := range FindLaneKernels(repo, lanes) {
		if lk.Err == nil {
			return lk.Kernel, nil
		}
		errs = append(errs, lk.Err.Error())
	}
	return nil, errors.New(strings.Join(errs, "; "))
}
