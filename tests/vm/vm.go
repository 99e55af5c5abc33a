// Package vm boots the Debian kernel under QEMU with an initramfs holding
// the mhost module, busybox, guest test binaries and demo programs, runs a
// plan inside (see package plan and the guestinit command) and turns what
// comes back into results: guest test outcomes, the guest init's verdict,
// and any bug, warning or hang the kernel reported.
//
// The module is never loaded on the host: it is built against the target
// kernel's headers and only ever inserted inside the VM.
package vm

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mnet/mnet/tests/vm/plan"
)

// Config says what to build and run. The zero value of each field has a
// sensible default (see Run).
type Config struct {
	RepoDir string // repository root; default: found upwards from the working directory
	// Kernel is the kernel to boot (a lane's, see Lane.Kernel); if nil,
	// KVer names it: a version installed here or a lane's; default
	// $MHOST_KVER, else the first default lane's (see ResolveKernel).
	Kernel  *Kernel
	KVer    string
	GoCmd   string // default "go"
	Busybox string // static busybox on the host; default /bin/busybox

	// Module builds kmod/ and loads mhost.ko with ModuleParams. Every
	// other .ko under kmod/ is put in the guest's /lib/modules/extra.
	Module       bool
	ModuleParams string
	// KernelModules are loaded from the kernel's tree, dependencies
	// first, before mhost. Default: veth, vxlan, sch_netem, bridge,
	// crc32c_generic, nf_tables.
	KernelModules []string

	// TestPackages are compiled with -tags guest into /tests/<base>.test.
	TestPackages []string
	// TestArgs are added to every test binary's command line in the
	// default steps (e.g. "-test.run=TestBind").
	TestArgs []string
	// TestEnv adds KEY=VALUE entries to the default steps' environment.
	TestEnv []string
	// Kmemleak scans for memory leaks after the steps and again after
	// unloading the modules (a kernel with CONFIG_DEBUG_KMEMLEAK); a leak
	// allocated by one of our modules fails the run.
	Kmemleak bool
	// Programs are package patterns of Go commands put in /usr/bin.
	Programs []string
	// Files are more host files for the guest, by guest path (e.g. the
	// module of another revision that a benchmark compares with).
	Files map[string]string
	// Steps is the plan; default: one step per test package.
	Steps []plan.Step
	// Shell starts an interactive shell on the terminal after the steps.
	Shell bool

	StepTimeout time.Duration // default plan.DefaultStepTimeout
	Timeout     time.Duration // the whole VM run; default 25m
	Memory      string        // default "1G"
	SMP         int           // default 2
	// CPU is QEMU's CPU model under TCG; default "max" (all it can
	// emulate). KVM always uses "host".
	CPU    string
	Append string // extra kernel command line
	// Cmdline replaces BaseAppend when set (benchmarks boot without
	// SLUB debugging, which changes both speed and object sizes).
	Cmdline string
	// Icount runs TCG in instruction-counting mode: guest time is the
	// number of instructions executed (1 ns each), whatever else the
	// host is doing. Deterministic timing for benchmarks; not with KVM.
	Icount bool
	// ParallelTCG gives each vCPU a host thread of its own under TCG
	// (MTTCG). Tests run without it: QEMU 7.2's MTTCG has been seen to
	// wedge a vCPU for good while the guest live-patched kernel text
	// (text_poke_bp) that the other vCPU was executing, and one host
	// thread running the vCPUs in turn makes code changes visible to
	// all of them at once. Wall-clock benchmarks need the parallelism.
	ParallelTCG bool

	WorkDir string // default: a new temporary directory
	Keep    bool   // keep WorkDir afterwards
	LogDir  string // where the logs go; default <repo>/out/vm
	Name    string // names the logs: <Name>.console.log, <Name>.guest.log; default "vm"

	// Stream receives the guest port's lines live, prefixed "guest| ".
	Stream io.Writer
	// ConsoleStream, if set, receives the kernel console's lines live,
	// prefixed "kernel| ".
	ConsoleStream io.Writer
	// Log receives build commands and progress; default io.Discard.
	Log io.Writer
}

// BaseAppend is the kernel command line; Config.Append adds to it.
// Warnings and oopses panic, and a panic stops the VM at once (-no-reboot).
// Every slab cache is its own (UDPMHOST stays visible in /proc/slabinfo)
// and checked by SLUB debugging: sanity checks, red zones, poisoning and
// owner tracking report overflows, double frees and use after free as
// "BUG <cache> (...): ..." lines (about 4 s more per run under TCG).
// printk.devkmsg=on lets tests write to /dev/kmsg without rate limits.
const BaseAppend = "console=ttyS0 panic_on_warn=1 panic=-1 oops=panic slab_nomerge slub_debug=FZPU printk.devkmsg=on"

// TestStepName is the step name used for a test package.
func TestStepName(pkg string) string {
	return filepath.Base(strings.TrimSuffix(pkg, "/"))
}

// TestBinary is the guest path of a test package's binary.
func TestBinary(pkg string) string {
	return guestTestDir + "/" + TestStepName(pkg) + ".test"
}

// TestStep returns a step running a test package's binary verbosely, with
// extra arguments, killed after timeout (the binary's own -test.timeout
// strikes a little earlier so it prints its goroutines).
func TestStep(pkg string, timeout time.Duration, args ...string) plan.Step {
	if timeout <= 0 {
		timeout = plan.DefaultStepTimeout
	}
	inner := timeout - timeout/10
	a := append([]string{TestBinary(pkg), "-test.v=test2json", "-test.timeout=" + inner.String()}, args...)
	return plan.Step{Name: TestStepName(pkg), Args: a, GoTest: true, Timeout: timeout}
}

// StepResult is what happened to one step of the plan.
type StepResult struct {
	Step     plan.Step
	Ran      bool // the guest reported its end
	Exit     int  // exit status; -1 if killed or not started
	TimedOut bool
	Output   string      // the step's output (foreground: framed by the markers; background: its prefixed lines)
	Tests    *TestReport // for GoTest steps
	ParseErr error
}

// Result is the outcome of a VM run.
type Result struct {
	WorkDir    string
	ConsoleLog string // file with the kernel console
	GuestLog   string // file with the guest port

	Console string // kernel console text
	Guest   string // guest port text

	BuildTime time.Duration // host builds and initramfs
	BootTime  time.Duration // QEMU start to the guest init's first line
	RunTime   time.Duration // QEMU start to exit

	TimedOut bool
	QEMUErr  error

	Marker     string   // after "MHOST-VM-RESULT: "; "" if the guest never said
	InitErrors []string // MHOST-VM-ERROR lines
	Splats     []Splat
	Steps      []*StepResult
}

// Passed reports whether the run had no problem at all.
func (r *Result) Passed() bool { return len(r.Problems()) == 0 }

// Problems lists everything that makes the run fail, most basic first.
func (r *Result) Problems() []string {
	var p []string
	if r.QEMUErr != nil {
		p = append(p, r.QEMUErr.Error())
	}
	if r.TimedOut {
		p = append(p, "the VM timed out and was killed")
	}
	switch {
	case r.Marker == "":
		p = append(p, fmt.Sprintf("the guest never reported %s (kernel panic, init crash or hang): see %s and %s", plan.MarkerResult, r.ConsoleLog, r.GuestLog))
	case r.Marker != "PASS":
		p = append(p, "guest init: "+r.Marker)
	}
	for _, s := range r.Splats {
		p = append(p, fmt.Sprintf("kernel log line %d: %s\n%s", s.Line, s.Matches[0], s))
	}
	for _, s := range r.Steps {
		if s.ParseErr != nil {
			p = append(p, fmt.Sprintf("step %s: parsing its go test output: %v", s.Step.Name, s.ParseErr))
		}
	}
	return p
}

// Step returns the result of the named step, or nil.
func (r *Result) Step(name string) *StepResult {
	for _, s := range r.Steps {
		if s.Step.Name == name {
			return s
		}
	}
	return nil
}

// Run builds everything, boots the VM and analyses the outcome. An error
// means the run could not happen (missing tools, build failure); a
// Result with Problems means it happened and something failed.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	k := cfg.Kernel
	if k == nil {
		var err error
		if k, err = ResolveKernel(cfg.RepoDir, cfg.KVer); err != nil {
			return nil, err
		}
	}
	if err := CheckHostTools(cfg.Busybox); err != nil {
		return nil, err
	}
	accel, err := ChooseAccel(k.Image)
	if err != nil {
		return nil, err
	}
	if cfg.Icount && accel.Accel == "kvm" {
		return nil, fmt.Errorf("icount needs TCG, and KVM was chosen (%s): set %s=tcg", accel.Reason, AccelEnv)
	}
	res := &Result{}
	buildStart := time.Now()
	work := cfg.WorkDir
	if work == "" {
		if work, err = os.MkdirTemp("", "mhostvm-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	res.WorkDir = work
	if !cfg.Keep {
		defer os.RemoveAll(work)
	}
	fmt.Fprintf(cfg.Log, "vm: kernel %s, work dir %s\n", k.Version, work)

	initrd := filepath.Join(work, "initramfs.cpio")
	p, err := cfg.buildInitramfs(ctx, k, work, initrd)
	if err != nil {
		return nil, err
	}
	res.BuildTime = time.Since(buildStart)

	if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
		return nil, err
	}
	res.ConsoleLog = filepath.Join(cfg.LogDir, cfg.Name+".console.log")
	res.GuestLog = filepath.Join(cfg.LogDir, cfg.Name+".guest.log")
	conLog, err := os.Create(res.ConsoleLog)
	if err != nil {
		return nil, err
	}
	defer conLog.Close()
	guestLog, err := os.Create(res.GuestLog)
	if err != nil {
		return nil, err
	}
	defer guestLog.Close()

	m := &machine{
		kernel: k.Image, initrd: initrd,
		append: strings.TrimSpace(cfg.Cmdline + " " + cfg.Append),
		memory: cfg.Memory, smp: cfg.SMP, cpu: cfg.CPU, accel: accel.Accel, interactive: cfg.Shell,
		icount: cfg.Icount, parallelTCG: cfg.ParallelTCG,
		consoleLog: conLog, guestLog: guestLog,
	}
	var mu sync.Mutex
	m.onGuestLine = func(line string, since time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if res.BootTime == 0 && strings.HasPrefix(line, plan.MarkerInit) {
			res.BootTime = since
		}
		if cfg.Stream != nil {
			line = strings.ReplaceAll(line, "\x16", "")
			if strings.TrimSpace(line) != "=== NAME" { // test2json framing between top-level tests
				fmt.Fprintf(cfg.Stream, "guest| %s\n", line)
			}
		}
	}
	if cfg.ConsoleStream != nil {
		m.onConsoleLine = func(line string) { fmt.Fprintf(cfg.ConsoleStream, "kernel| %s\n", line) }
	}
	fmt.Fprintf(cfg.Log, "vm: booting %s (%s)\n", k.Image, m.append)
	bootStart := time.Now()
	timeout := cfg.Timeout
	if cfg.Shell {
		timeout = 0
	}
	res.TimedOut, res.QEMUErr = m.boot(ctx, timeout)
	res.RunTime = time.Since(bootStart)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	con, _ := os.ReadFile(res.ConsoleLog)
	guest, _ := os.ReadFile(res.GuestLog)
	res.Console, res.Guest = string(con), string(guest)
	res.analyze(ctx, cfg.GoCmd, p, cfg.Kmemleak)
	return res, nil
}

func (cfg *Config) defaults() error {
	if cfg.RepoDir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		if cfg.RepoDir, err = FindRepo(wd); err != nil {
			return err
		}
	}
	if cfg.GoCmd == "" {
		cfg.GoCmd = "go"
	}
	if cfg.Busybox == "" {
		cfg.Busybox = "/bin/busybox"
	}
	if cfg.KernelModules == nil {
		// veth joins test namespaces, vxlan tunnels between them;
		// netem impairs their links; a bridge stands for a switch
		// and nf_tables for a firewall on a path (path liveness).
		// crc32c_generic first: nf_tables needs libcrc32c, whose
		// init fails without a crc32c (modprobe follows its softdep).
		cfg.KernelModules = []string{"veth", "vxlan", "sch_netem", "bridge", "crc32c_generic", "nf_tables"}
	}
	if cfg.StepTimeout <= 0 {
		cfg.StepTimeout = plan.DefaultStepTimeout
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 25 * time.Minute
	}
	if cfg.Cmdline == "" {
		cfg.Cmdline = BaseAppend
	}
	if cfg.Memory == "" {
		cfg.Memory = "1G"
	}
	if cfg.SMP <= 0 {
		cfg.SMP = 2
	}
	if cfg.CPU == "" {
		cfg.CPU = "max"
	}
	if cfg.LogDir == "" {
		cfg.LogDir = filepath.Join(cfg.RepoDir, "out", "vm")
	}
	if cfg.Name == "" {
		cfg.Name = "vm"
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	return nil
}

// buildMu serialises the builds of concurrent runs (lanes run side by
// side): they all build in kmod/, and a run's .ko files must not change
// under it until its initramfs holds them.
var buildMu sync.Mutex

// buildInitramfs builds everything and writes the initramfs; it returns
// the plan.
func (cfg *Config) buildInitramfs(ctx context.Context, k *Kernel, work, path string) (*plan.Plan, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	ir, p, err := cfg.build(ctx, k, work)
	if err != nil {
		return nil, err
	}
	if err := ir.write(path); err != nil {
		return nil, fmt.Errorf("writing the initramfs: %w", err)
	}
	return p, nil
}

// build runs the host builds concurrently and returns the initramfs
// contents and the plan.
func (cfg *Config) build(ctx context.Context, k *Kernel, work string) (*initramfs, *plan.Plan, error) {
	b := &builder{repo: cfg.RepoDir, goCmd: cfg.GoCmd, log: &syncWriter{w: cfg.Log}}
	ir := &initramfs{busybox: cfg.Busybox, kernel: k, tests: map[string]string{}, init: filepath.Join(work, "init"), files: cfg.Files}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []string
	)
	do := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				mu.Lock()
				errs = append(errs, err.Error())
				mu.Unlock()
			}
		}()
	}
	if cfg.Module {
		do(func() (err error) {
			ir.ourModules, err = b.module(ctx, k)
			return err
		})
	}
	// The go builds share the build cache; run them one after another
	// in one goroutine, next to the module build.
	do(func() error {
		if err := b.guestInit(ctx, ir.init); err != nil {
			return err
		}
		for _, pkg := range cfg.TestPackages {
			out := filepath.Join(work, "tests", TestStepName(pkg)+".test")
			if _, dup := ir.tests[filepath.Base(out)]; dup {
				return fmt.Errorf("two test packages named %s", TestStepName(pkg))
			}
			if err := b.goTest(ctx, pkg, out); err != nil {
				return err
			}
			ir.tests[filepath.Base(out)] = out
		}
		var err error
		ir.programs, err = b.programs(ctx, cfg.Programs, filepath.Join(work, "bin"))
		return err
	})
	wg.Wait()
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	// The kernel modules ours need (udp_tunnel for mhost), loaded
	// before them as modprobe would.
	kmods := append([]string(nil), cfg.KernelModules...)
	ours := map[string]bool{}
	for _, ko := range ir.ourModules {
		ours[modName(ko)] = true
	}
	for _, ko := range ir.ourModules {
		deps, err := moduleDepends(ko)
		if err != nil {
			return nil, nil, err
		}
		for _, d := range deps {
			if !ours[modName(d)] && !slices.Contains(kmods, d) {
				kmods = append(kmods, d)
			}
		}
	}
	// crc32c_generic is a module up to 6.x; 7.x has crc32c in lib/crc.
	kmods = slices.DeleteFunc(kmods, func(m string) bool {
		return m == "crc32c_generic" && !k.HasModule(m)
	})
	var err error
	if ir.kernelModules, err = k.ResolveModules(kmods); err != nil {
		return nil, nil, err
	}

	p := &plan.Plan{Steps: cfg.Steps, Shell: cfg.Shell, Kmemleak: cfg.Kmemleak}
	if cfg.Shell {
		p.Output = "/dev/ttyS0"
	}
	for _, km := range ir.kernelModules {
		p.Modules = append(p.Modules, plan.Module{Name: km.Name, Path: "/lib/modules/" + k.Version + "/" + uncompressedRel(km.Rel)})
	}
	if cfg.Module {
		var found bool
		seen := map[string]string{}
		for _, ko := range ir.ourModules {
			base := filepath.Base(ko)
			if other, dup := seen[base]; dup {
				return nil, nil, fmt.Errorf("two modules named %s: %s and %s", base, other, ko)
			}
			seen[base] = ko
			found = found || base == "mhost.ko"
		}
		if !found {
			return nil, nil, fmt.Errorf("make -C kmod did not produce mhost.ko")
		}
		p.Modules = append(p.Modules, plan.Module{Name: "mhost", Path: guestExtraDir + "/mhost.ko", Params: cfg.ModuleParams, Ours: true})
	}
	if p.Steps == nil {
		for _, pkg := range cfg.TestPackages {
			s := TestStep(pkg, cfg.StepTimeout, cfg.TestArgs...)
			s.Env = append(s.Env, cfg.TestEnv...)
			p.Steps = append(p.Steps, s)
		}
	}
	for i := range p.Steps {
		if p.Steps[i].Timeout <= 0 {
			p.Steps[i].Timeout = cfg.StepTimeout
		}
	}
	if err := p.Validate(); err != nil {
		return nil, nil, fmt.Errorf("plan: %w", err)
	}
	ir.plan = p
	return ir, p, nil
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

var stepEndRE = regexp.MustCompile(`^(\S+) exit=(-?\d+) time=\S+( timeout)?`)

// analyze fills the result from the logs. With kmemleak, the kernel's
// "N new suspected memory leaks" line is the guest init's scan, whose
// verdict (leaks of ours or not) comes through the init's result.
func (r *Result) analyze(ctx context.Context, goCmd string, p *plan.Plan, kmemleak bool) {
	var ignore []*regexp.Regexp
	if kmemleak {
		ignore = append(ignore, kmemleakSummaryRE)
	}
	r.Splats = ScanKernelLogExcept(r.Console, ignore)
	byName := map[string]*StepResult{}
	outs := map[string]*strings.Builder{}
	for _, s := range p.Steps {
		sr := &StepResult{Step: s, Exit: -1}
		r.Steps = append(r.Steps, sr)
		byName[s.Name] = sr
		outs[s.Name] = &strings.Builder{}
	}
	var cur string // foreground step whose output is streaming
	for _, line := range strings.Split(r.Guest, "\n") {
		line = strings.TrimSuffix(line, "\r")
		switch {
		case strings.HasPrefix(line, plan.MarkerResult):
			r.Marker = strings.TrimSpace(strings.TrimPrefix(line, plan.MarkerResult))
			continue
		case strings.HasPrefix(line, plan.MarkerError):
			r.InitErrors = append(r.InitErrors, strings.TrimSpace(strings.TrimPrefix(line, plan.MarkerError)))
			continue
		case strings.HasPrefix(line, plan.MarkerStepStart):
			name := strings.TrimSpace(strings.TrimPrefix(line, plan.MarkerStepStart))
			if sr := byName[name]; sr != nil && !sr.Step.Background {
				cur = name
			}
			continue
		case strings.HasPrefix(line, plan.MarkerStepEnd):
			m := stepEndRE.FindStringSubmatch(strings.TrimSpace(strings.TrimPrefix(line, plan.MarkerStepEnd)))
			if m != nil && byName[m[1]] != nil {
				sr := byName[m[1]]
				sr.Ran = true
				sr.Exit, _ = strconv.Atoi(m[2])
				sr.TimedOut = m[3] != ""
				if cur == m[1] {
					cur = ""
				}
			}
			continue
		case strings.HasPrefix(line, "MHOST-VM-"):
			continue
		}
		if name, rest, ok := strings.Cut(line, "| "); ok {
			if sr := byName[name]; sr != nil && sr.Step.Background {
				outs[name].WriteString(rest + "\n")
				continue
			}
		}
		if cur != "" {
			outs[cur].WriteString(line + "\n")
		}
	}
	if r.Marker == "" {
		// Init falls back to the console when it cannot open its port.
		for _, line := range strings.Split(r.Console, "\n") {
			if i := strings.Index(line, plan.MarkerResult); i >= 0 {
				r.Marker = strings.TrimSpace(line[i+len(plan.MarkerResult):])
			}
		}
	}
	for _, sr := range r.Steps {
		sr.Output = outs[sr.Step.Name].String()
		if sr.Step.GoTest {
			exit := sr.Exit
			if !sr.Ran {
				exit = -1
			}
			sr.Tests, sr.ParseErr = ParseGoTest(ctx, goCmd, []byte(sr.Output), exit)
		}
	}
}
