//go:build vm

package vm

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mnet/mnet/internal/testenv"
	"github.com/mnet/mnet/tests/vm/plan"
)

var (
	flagRun     = flag.String("vm.run", "", "run only guest tests matching `regexp` (passed as -test.run)")
	flagTimeout = flag.Duration("vm.timeout", 25*time.Minute, "kill the VM after this long")
	flagStep    = flag.Duration("vm.steptimeout", 15*time.Minute, "kill a guest test binary after this long")
	flagKeep    = flag.Bool("vm.keep", false, "keep the work directory (initramfs, binaries) and print its path")
	flagKVer    = flag.String("vm.kver", "", "run only the lane with this kernel version (default $MHOST_KVER)")
	flagPar     = flag.Int("vm.parallel", 1, "run up to `n` lanes at once (under TCG each VM keeps a host CPU busy)")
	flagLanes   = flag.String("vm.lanes", "", "comma-separated `lanes` to run: "+strings.Join(LaneNames(), ",")+", or all (default "+DefaultLanes+")")
	flagPkgs    = flag.String("vm.pkgs", "./tests/guest", "comma-separated guest test packages")
	flagParams  = flag.String("vm.params", "", "mhost.ko module parameters")
	flagConsole = flag.Bool("vm.console", false, "relay the kernel console live too")
	flagModule  = flag.Bool("vm.module", true, "build and load mhost.ko (false: harness debugging only)")
	flagEnv     = flag.String("vm.env", "", "comma-separated KEY=VALUE pairs for the guest test binaries")
	flagAppend  = flag.String("vm.append", "", "extra kernel command line")
)

func baseConfig(t *testing.T) Config {
	cfg := Config{
		Name:    strings.ReplaceAll(t.Name(), "/", "_"),
		Timeout: *flagTimeout,
		Keep:    *flagKeep,
		Append:  *flagAppend,
		Stream:  os.Stdout,
		Log:     testLog{t},
	}
	if *flagConsole {
		cfg.ConsoleStream = os.Stdout
	}
	return cfg
}

// laneRun is a lane and its kernel on this machine, or why there is none.
type laneRun struct {
	lane   *Lane
	kernel *Kernel
	err    error
	// build is the lane's kernel being built in the background (the
	// debug kernel, the first time on a machine); resolve waits for it.
	build *DebugBuild
	repo  string
	once  sync.Once
}

// resolve waits for the lane's kernel if it is being built.
func (lr *laneRun) resolve() {
	lr.once.Do(func() {
		if lr.build == nil {
			return
		}
		start := time.Now()
		fmt.Fprintf(os.Stderr, "vm: lane %s: waiting for its kernel's build (%s)\n", lr.lane.Name, lr.build.Log)
		if lr.err = lr.build.Wait(); lr.err != nil {
			return
		}
		lr.kernel, lr.err = lr.lane.Kernel(lr.repo)
		fmt.Fprintf(os.Stderr, "vm: lane %s: kernel built (waited %s)\n", lr.lane.Name, time.Since(start).Round(time.Second))
	})
}

func (lr *laneRun) label() string {
	if lr.kernel == nil {
		return "lane-" + lr.lane.Name
	}
	return lr.lane.Label(lr.kernel)
}

var (
	lanesOnce sync.Once
	lanesRuns []*laneRun
	lanesErr  error
)

// selectedLanes returns the lanes to run: the one whose kernel -vm.kver
// (or $MHOST_KVER) names, else those of -vm.lanes.
func selectedLanes(t *testing.T) []*laneRun {
	t.Helper()
	lanesOnce.Do(func() {
		wd, err := os.Getwd()
		if err != nil {
			lanesErr = err
			return
		}
		repo, err := FindRepo(wd)
		if err != nil {
			lanesErr = err
			return
		}
		kver := *flagKVer
		if kver == "" {
			kver = os.Getenv("MHOST_KVER")
		}
		if kver != "" {
			l, k, err := LaneForKernel(repo, kver)
			if err != nil {
				// A kernel installed here that no lane takes (an older
				// ABI, say) runs as a lane of its own.
				var ferr error
				if k, ferr = FindKernel(kver); ferr != nil {
					lanesErr = fmt.Errorf("%v; %v", err, ferr)
					return
				}
				l = &Lane{Name: kver, Doc: "a kernel named by version", kind: hostLane}
			}
			lanesRuns = []*laneRun{{lane: l, kernel: k}}
			return
		}
		lanes, err := SelectLanes(*flagLanes)
		if err != nil {
			lanesErr = err
			return
		}
		for _, lk := range FindLaneKernels(repo, lanes) {
			lr := &laneRun{lane: lk.Lane, kernel: lk.Kernel, err: lk.Err, repo: repo}
			if lk.Err != nil && lk.Lane.Debug {
				// Built while the other lanes run; its lane comes last.
				if lr.build, lanesErr = StartDebugBuild(repo); lanesErr != nil {
					return
				}
				if lr.build != nil {
					lr.err = nil
					fmt.Fprintf(os.Stderr, "vm: the debug kernel is not built: building it while the other lanes run (%s)\n", lr.build.Log)
				}
			}
			lanesRuns = append(lanesRuns, lr)
		}
	})
	if lanesErr != nil {
		t.Fatal(lanesErr)
	}
	return lanesRuns
}

// TestVM runs the guest test suite on each lane: one VM per lane with
// mhost.ko loaded; each guest test becomes a subtest
// TestVM/<kernel version>/<package>/<test>. TestMain prints a summary of
// the lanes at the end.
func TestVM(t *testing.T) {
	lanes := selectedLanes(t)
	slots := make(chan struct{}, max(*flagPar, 1))
	for _, lr := range lanes {
		lr.resolve()
		sum := &laneSummary{lane: lr.lane.Name, label: lr.label()}
		if lr.kernel != nil {
			sum.kernel = lr.kernel.Version
		}
		laneSummaries = append(laneSummaries, sum)
		t.Run(lr.label(), func(t *testing.T) {
			if *flagPar > 1 && len(lanes) > 1 {
				t.Parallel()
			}
			slots <- struct{}{}
			defer func() { <-slots }()
			start := time.Now()
			defer func() {
				sum.elapsed = time.Since(start)
				sum.bad = t.Failed()
			}()
			if lr.err != nil {
				sum.problem = lr.err.Error()
				t.Fatal(lr.err)
			}
			runSuite(t, lr, sum)
		})
	}
}

// runSuite is one lane's run of the guest suite.
func runSuite(t *testing.T, lr *laneRun, sum *laneSummary) {
	cfg := baseConfig(t)
	cfg.Kernel = lr.kernel
	cfg.Module = *flagModule
	cfg.ModuleParams = *flagParams
	cfg.Programs = []string{"./cmd/..."}
	cfg.StepTimeout = *flagStep
	for _, p := range strings.Split(*flagPkgs, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.TestPackages = append(cfg.TestPackages, p)
		}
	}
	if *flagRun != "" {
		cfg.TestArgs = []string{"-test.run=" + *flagRun}
	}
	if *flagEnv != "" {
		cfg.TestEnv = strings.Split(*flagEnv, ",")
	}
	lr.lane.Configure(&cfg)
	for _, a := range cfg.TestArgs {
		if p, ok := strings.CutPrefix(a, "-test.skip="); ok {
			sum.leftOut = p
		}
	}
	if *flagPar > 1 {
		// Lanes side by side: tell their live lines apart.
		cfg.Stream = prefixWriter{w: os.Stdout, prefix: "[" + lr.lane.Name + "] "}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		sum.problem = "the VM run could not happen: " + firstErrors(err.Error())
		t.Fatalf("VM run could not happen: %v", err)
	}
	logRun(t, cfg, res)
	for _, s := range res.Steps {
		if s.Step.GoTest {
			reportGuestTests(t, s, sum)
		}
	}
	probs := res.Problems()
	if len(probs) > 0 {
		sum.problem = strings.SplitN(probs[0], "\n", 2)[0]
	}
	for _, p := range probs {
		t.Error(p)
	}
}

// firstErrors shortens a build failure to its compiler errors.
func firstErrors(s string) string {
	var errs []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "error:") || strings.Contains(l, "Error ") {
			errs = append(errs, strings.TrimSpace(l))
		}
	}
	if len(errs) == 0 {
		return strings.SplitN(s, "\n", 2)[0]
	}
	const show = 6
	if len(errs) > show {
		errs = append(errs[:show], fmt.Sprintf("... %d more error lines", len(errs)-show))
	}
	return strings.SplitN(s, "\n", 2)[0] + "\n      " + strings.Join(errs, "\n      ")
}

func run(t *testing.T, cfg Config) *Result {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("VM run could not happen: %v", err)
	}
	logRun(t, cfg, res)
	return res
}

func logRun(t *testing.T, cfg Config, res *Result) {
	t.Helper()
	t.Logf("build %.1fs, boot to init %.1fs, VM run %.1fs; logs %s %s",
		res.BuildTime.Seconds(), res.BootTime.Seconds(), res.RunTime.Seconds(), res.ConsoleLog, res.GuestLog)
	if cfg.Keep {
		t.Logf("work directory kept: %s", res.WorkDir)
	}
}

func failOnProblems(t *testing.T, res *Result) {
	t.Helper()
	for _, p := range res.Problems() {
		t.Error(p)
	}
}

// reportGuestTests turns one test binary's results into host subtests.
func reportGuestTests(t *testing.T, s *StepResult, sum *laneSummary) {
	t.Run(s.Step.Name, func(t *testing.T) {
		if s.Tests == nil {
			t.Fatalf("no test results (%v); output:\n%s", s.ParseErr, s.Output)
		}
		for _, tr := range s.Tests.Tests {
			reportTest(t, tr)
			sum.count(tr)
		}
		switch {
		case !s.Ran:
			t.Errorf("test binary did not finish (VM died or timed out); its output:\n%s", s.Tests.Output)
		case s.TimedOut:
			t.Errorf("test binary timed out after %v and was killed:\n%s", s.Step.Timeout, s.Tests.Output)
		case s.Exit != 0 && len(s.Tests.Failed()) == 0:
			t.Errorf("test binary exited %d without a failing test:\n%s", s.Exit, s.Tests.Output)
		case s.Exit == 0 && len(s.Tests.Tests) == 0:
			t.Logf("no guest tests ran:\n%s", s.Tests.Output)
		}
	})
}

func reportTest(t *testing.T, tr *TestResult) {
	t.Run(tr.Short(), func(t *testing.T) {
		for _, sub := range tr.Subtests {
			reportTest(t, sub)
		}
		out := strings.TrimRight(tr.Output, "\n")
		switch tr.Action {
		case "pass":
			if out != "" {
				t.Log("\n" + out)
			}
		case "skip":
			testenv.Skipf(t, "the guest test skipped:\n%s", out)
		default:
			if out == "" && t.Failed() {
				return // a subtest failed and said why
			}
			t.Errorf("guest test %s failed:\n%s", tr.Name, out)
			addGuestFailure(guestFailure(t.Name(), out))
		}
	})
}

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

const samplePkg = "./tests/vm/testdata/sample"

// TestHarnessSelfCheck boots a VM without mhost that runs the sample
// suite passing, failing, panicking and hanging, plus a fake kernel
// warning, and checks that the harness sees each of them.
//
// It runs on every lane: without the module, it shows that the lane's
// kernel boots and that the harness sees what happens on it.
func TestHarnessSelfCheck(t *testing.T) {
	for _, lr := range selectedLanes(t) {
		lr.resolve()
		t.Run(lr.label(), func(t *testing.T) {
			if lr.err != nil {
				t.Fatal(lr.err)
			}
			selfCheck(t, lr)
		})
	}
}

func selfCheck(t *testing.T, lr *laneRun) {
	cfg := baseConfig(t)
	cfg.Kernel = lr.kernel
	lr.lane.Boot(&cfg)
	cfg.Stream = nil // its failures are on purpose: keep them out of the CI log
	cfg.TestPackages = []string{samplePkg}
	step := func(name, mode string, timeout time.Duration) plan.Step {
		s := TestStep(samplePkg, timeout)
		s.Name = name
		s.Env = []string{"MHOSTVM_SAMPLE=" + mode}
		return s
	}
	cfg.Steps = []plan.Step{
		step("pass", "", 0),
		step("fail", "fail", 0),
		step("panic", "panic", 0),
		step("hang", "hang", 10*time.Second),
		{Name: "sleep", Args: []string{"sleep", "600"}, Timeout: 3 * time.Second},
		{Name: "bg", Args: []string{"sh", "-c", "echo from the background; sleep 1; echo done"}, Background: true},
		{Name: "kmsg", Args: []string{"sh", "-c", "echo '<4>WARNING: CPU: 0 PID: 1 at selftest.c:1 fake_warning+0x0/0x0' > /dev/kmsg"}},
		{Name: "waitbg", Wait: "bg"},
		// Ready holds the plan until the line: the next step sees
		// what the program did before printing it.
		{Name: "srv", Args: []string{"sh", "-c", "sleep 2; touch /tmp/srv-up; echo srv: listening; sleep 1"}, Background: true, Ready: "srv: listening"},
		{Name: "client", Args: []string{"test", "-e", "/tmp/srv-up"}},
		{Name: "waitsrv", Wait: "srv"},
		{Name: "earlyexit", Args: []string{"sh", "-c", "exit 3"}, Background: true, Ready: "never printed"},
	}
	res := run(t, cfg)

	want := map[string]struct {
		exit   int
		failed []string
	}{
		"pass":  {0, nil},
		"fail":  {1, []string{"TestNested", "TestNested/b", "TestNested/b/fails"}},
		"panic": {2, []string{"TestPanics"}},
		"hang":  {2, []string{"TestHangs"}}, // by its own -test.timeout
	}
	for name, w := range want {
		s := res.Step(name)
		if !s.Ran || s.Exit != w.exit {
			t.Errorf("step %s: ran %v exit %d, want exit %d; output:\n%s", name, s.Ran, s.Exit, w.exit, s.Output)
			continue
		}
		if s.Tests == nil {
			t.Errorf("step %s: no tests parsed: %v", name, s.ParseErr)
			continue
		}
		if got := strings.Join(s.Tests.Failed(), ","); got != strings.Join(w.failed, ",") {
			t.Errorf("step %s: failed tests %q, want %q", name, got, w.failed)
		}
	}
	if s := res.Step("client"); !s.Ran || s.Exit != 0 {
		t.Errorf("step client ran %v exit %d: it started before the ready line", s.Ran, s.Exit)
	}
	if s := res.Step("srv"); !s.Ran || s.Exit != 0 {
		t.Errorf("step srv ran %v exit %d", s.Ran, s.Exit)
	}
	if !strings.Contains(res.Marker, `step earlyexit ended before printing "never printed"`) {
		t.Errorf("marker %q does not name the step that ended before it was ready", res.Marker)
	}
	if s := res.Step("sleep"); !s.TimedOut || s.Exit != -1 {
		t.Errorf("step sleep: timed out %v exit %d, want killed by init on timeout", s.TimedOut, s.Exit)
	}
	if s := res.Step("pass"); s.Tests != nil && len(s.Tests.Tests) != 4 {
		t.Errorf("step pass: %d top-level tests, want 4", len(s.Tests.Tests))
	}
	if s := res.Step("fail"); s.Tests != nil && len(s.Tests.Tests) > 1 {
		if nested := s.Tests.Tests[1]; len(nested.Subtests) < 2 || len(nested.Subtests[1].Subtests) < 2 ||
			!strings.Contains(nested.Subtests[1].Subtests[1].Output, "deliberate failure in b/fails") {
			t.Errorf("TestNested/b/fails not found with its message in %+v", nested)
		}
	}
	if out := res.Step("waitbg").Output + res.Step("bg").Output; !strings.Contains(out, "from the background") {
		t.Errorf("background output not captured: %q", out)
	}
	if !strings.HasPrefix(res.Marker, "FAIL") || !strings.Contains(res.Marker, "step sleep timed out") || !strings.Contains(res.Marker, "step hang") || strings.Contains(res.Marker, "step pass") {
		t.Errorf("marker %q, want FAIL naming fail, panic and hang but not pass", res.Marker)
	}
	if len(res.Splats) != 1 || !strings.Contains(res.Splats[0].Matches[0], "fake_warning") {
		t.Errorf("splats: %v, want the fake warning", res.Splats)
	}
	if res.TimedOut || res.QEMUErr != nil {
		t.Errorf("timed out %v, qemu error %v", res.TimedOut, res.QEMUErr)
	}
	if t.Failed() {
		t.Logf("problems: %q", res.Problems())
		t.Logf("guest log:\n%s", res.Guest)
	}
}

// TestHarnessKernelPanic crashes the guest kernel and checks the harness
// reports the panic and the missing result marker.
func TestHarnessKernelPanic(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Kernel = firstLaneKernel(t)
	cfg.Stream = nil
	cfg.KernelModules = []string{}
	cfg.Timeout = 5 * time.Minute
	cfg.Steps = []plan.Step{{Name: "crash", Args: []string{"sh", "-c", "echo c > /proc/sysrq-trigger"}}}
	res := run(t, cfg)
	if res.Marker != "" {
		t.Errorf("marker %q after a kernel panic", res.Marker)
	}
	var panicked bool
	for _, s := range res.Splats {
		panicked = panicked || strings.Contains(strings.Join(s.Matches, "\n"), "Kernel panic")
	}
	if !panicked {
		t.Errorf("no Kernel panic splat; console:\n%s", res.Console)
	}
	if res.TimedOut {
		t.Errorf("the VM timed out instead of stopping at the panic")
	}
	if len(res.Problems()) < 2 {
		t.Errorf("problems %q: want the missing marker and the panic", res.Problems())
	}
}

// TestHarnessTimeout checks that a VM running past its timeout is killed
// and reported.
func TestHarnessTimeout(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Kernel = firstLaneKernel(t)
	cfg.Stream = nil
	cfg.KernelModules = []string{}
	cfg.Timeout = 20 * time.Second
	cfg.Steps = []plan.Step{{Name: "forever", Args: []string{"sleep", "3600"}, Timeout: time.Hour}}
	start := time.Now()
	res := run(t, cfg)
	if !res.TimedOut || res.Marker != "" {
		t.Errorf("timed out %v, marker %q", res.TimedOut, res.Marker)
	}
	if d := time.Since(start); d > 2*time.Minute {
		t.Errorf("run took %v", d)
	}
	if len(res.Problems()) == 0 {
		t.Error("no problems reported")
	}
}

// firstLaneKernel is the kernel of the first lane that has one: the
// harness's own checks need a kernel, not every kernel.
func firstLaneKernel(t *testing.T) *Kernel {
	t.Helper()
	var errs []string
	for _, lr := range selectedLanes(t) {
		if lr.build == nil && lr.err == nil {
			return lr.kernel // not one still being built
		}
		errs = append(errs, lr.err.Error())
	}
	t.Fatalf("no lane has a kernel: %s", strings.Join(errs, "; "))
	return nil
}

// prefixWriter writes each line it is given (Config.Stream writes whole
// lines) with a prefix.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	var out []byte
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if l != "" {
			out = append(append(out, p.prefix...), l...)
		}
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}
