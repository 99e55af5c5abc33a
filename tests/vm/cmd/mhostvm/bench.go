package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mnet/mnet/tests/bench"
	"github.com/mnet/mnet/tests/vm"
	"github.com/mnet/mnet/tests/vm/plan"
)

// benchCmdline is the kernel command line of benchmark runs: the test
// suite's without slub_debug (red zones, poisoning and owner tracking
// make every allocation slower and every slab object bigger), and, under
// TCG, with the TSC as clocksource so that reading the time is a vDSO
// call rather than a trapped HPET access (TCG's TSC follows the host's,
// or with -icount the instruction count; the kernel cannot verify in a
// VM that it is stable, so it is told).
const benchCmdline = "console=ttyS0 panic_on_warn=1 panic=-1 oops=panic slab_nomerge printk.devkmsg=on"

func benchCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mhostvm bench", flag.ExitOnError)
	var c common
	c.register(fs)
	mem := fs.String("mem", "2G", "guest memory (a million host entries take about 250 MB of kernel memory)")
	out := fs.String("o", "out/bench.json", "write the JSON report here (icount: with -icount before .json)")
	md := fs.String("md", "out/bench.md", "write the table as Markdown here, likewise (empty: do not)")
	mode := fs.String("mode", "", "wall: 2 vCPUs, real time; icount: 1 vCPU counting instructions "+
		"(QEMU -icount shift=0), deterministic whatever else the host runs; both: one then the other "+
		"(default both under TCG, wall under KVM)")
	baseline := fs.String("baseline", "", "also measure the module of this git `revision` in the same boot, "+
		"swapped in and out round by round (the design group; e.g. 4d42857, the design before the socket-layer rewrite)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: mhostvm bench [flags] [-- mhost-bench flags, e.g. -run throughput -rounds 5]\n")
		fs.PrintDefaults()
	}
	// The default timeout of the other commands is too short for the
	// full run under TCG.
	fs.Lookup("timeout").DefValue = "30m"
	c.timeout = 30 * time.Minute
	fs.Parse(args)
	repo, err := repoDir()
	if err != nil {
		return err
	}
	k, err := vm.ResolveKernel(repo, c.kver)
	if err != nil {
		return err
	}
	choice, err := vm.ChooseAccel(k.Image)
	if err != nil {
		return err
	}
	accel := choice.Accel
	modes := map[string][]string{"wall": {"wall"}, "icount": {"icount"}, "both": {"wall", "icount"}}
	m := *mode
	if m == "" {
		m = "both"
		if accel == "kvm" {
			m = "wall"
		}
	}
	run, ok := modes[m]
	if !ok {
		return fmt.Errorf("-mode %q: want wall, icount or both", m)
	}
	if accel == "kvm" && m != "wall" {
		return fmt.Errorf("-mode %s: icount needs TCG, and this machine has KVM", m)
	}
	var base *baselineModule
	if *baseline != "" {
		if base, err = buildBaseline(ctx, *baseline, k.Version); err != nil {
			return err
		}
		defer os.RemoveAll(base.dir)
	}
	var failed []string
	for _, md1 := range run {
		o, d := *out, *md
		if md1 == "icount" {
			o, d = withSuffix(o, "-icount"), withSuffix(d, "-icount")
		}
		if err := benchRun(ctx, c, accel, md1 == "icount", *mem, o, d, base, fs.Args()); err != nil {
			fmt.Fprintf(os.Stderr, "mhostvm: bench (%s): %v\n", md1, err)
			failed = append(failed, md1)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("bench failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

// withSuffix puts suffix before a path's extension.
func withSuffix(path, suffix string) string {
	if path == "" {
		return ""
	}
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + suffix + ext
}

// benchRun boots the VM once and runs mhost-bench in it.
func benchRun(ctx context.Context, c common, accel string, icount bool, mem, out, md string, base *baselineModule, extra []string) error {
	cfg, err := c.config()
	if err != nil {
		return err
	}
	cfg.Name = "bench"
	cfg.Memory = mem
	cfg.SMP = 2
	// Sender and receiver run at once, as on hardware.
	cfg.ParallelTCG = true
	cfg.Cmdline = benchCmdline
	if accel == "tcg" {
		cfg.Cmdline += " tsc=reliable clocksource=tsc"
	}
	cfg.Programs = []string{"./cmd/mhost-bench"}
	benchArgs := []string{"mhost-bench", "-accel", accel, "-json", "-"}
	what := fmt.Sprintf("%s, 2 vCPUs, real time", accel)
	if icount {
		cfg.Name = "bench-icount"
		cfg.Icount = true
		// With two vCPUs under -icount, QEMU 7.2 never brought the
		// guest's second CPU up. One does: sender and receiver then
		// take turns on it, and every instruction either runs counts.
		cfg.SMP = 1
		benchArgs = append(benchArgs, "-icount")
		what = "tcg -icount, 1 vCPU, time = instructions"
	}
	if base != nil {
		cfg.Files = map[string]string{baselineGuestPath: base.ko}
		benchArgs = append(benchArgs, "-baseline-module", baselineGuestPath, "-baseline-name", base.name)
	}
	benchArgs = append(benchArgs, extra...)
	cfg.Steps = []plan.Step{{Name: "bench", Args: benchArgs, Timeout: c.timeout - 2*time.Minute}}
	fmt.Fprintf(os.Stderr, "mhostvm: bench (%s, -m %s): building and booting; about 6 minutes under TCG\n", what, mem)
	res, err := vm.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Printf("build %.1fs, boot to init %.1fs, VM run %.1fs; logs %s %s\n",
		res.BuildTime.Seconds(), res.BootTime.Seconds(), res.RunTime.Seconds(), res.ConsoleLog, res.GuestLog)
	var problems []string
	problems = append(problems, res.Problems()...)
	step := res.Step("bench")
	if step == nil || !step.Ran {
		problems = append(problems, "mhost-bench did not finish")
	} else if step.Exit != 0 {
		problems = append(problems, fmt.Sprintf("mhost-bench exited %d", step.Exit))
	}
	if step != nil {
		if js, err := bench.ExtractJSON(step.Output); err != nil {
			problems = append(problems, "the report: "+err.Error())
		} else if rep, err := bench.ParseReport(js); err != nil {
			problems = append(problems, "the report: "+err.Error())
		} else {
			rep.Host = hostInfo(cfg, accel)
			if err := writeReport(rep, cfg.RepoDir, out, md); err != nil {
				problems = append(problems, err.Error())
			}
		}
	}
	if c.keep {
		fmt.Printf("work directory kept: %s\n", res.WorkDir)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(os.Stderr, "FAIL: %s\n", p)
		}
		return errors.New("bench failed")
	}
	return nil
}

func writeReport(rep *bench.Report, repo, out, md string) error {
	fmt.Println()
	rep.WriteTable(os.Stdout)
	js, err := rep.JSON()
	if err != nil {
		return err
	}
	for _, w := range []struct {
		path string
		data func() []byte
	}{
		{out, func() []byte { return append(js, '\n') }},
		{md, func() []byte {
			var b bytes.Buffer
			rep.WriteMarkdown(&b)
			return b.Bytes()
		}},
	} {
		if w.path == "" {
			continue
		}
		p := w.path
		if !filepath.IsAbs(p) {
			p = filepath.Join(repo, p)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, w.data(), 0o644); err != nil {
			return err
		}
		fmt.Printf("wrote %s\n", p)
	}
	return nil
}

// hostInfo describes the machine QEMU ran on: under TCG its CPU, not the
// guest's emulated one, is what the numbers depend on.
func hostInfo(cfg vm.Config, accel string) map[string]any {
	h := map[string]any{
		"accel":          accel,
		"icount":         cfg.Icount,
		"vm_memory":      cfg.Memory,
		"vm_cpus":        cfg.SMP,
		"kernel_cmdline": cfg.Cmdline,
		"date":           time.Now().UTC().Format(time.RFC3339),
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n := 0
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "model name":
				if _, seen := h["cpu_model"]; !seen {
					h["cpu_model"] = strings.TrimSpace(v)
				}
			case "processor":
				n++
			}
		}
		h["cpus"] = n
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h["kernel_release"] = strings.TrimSpace(string(b))
	}
	if b, err := exec.Command("qemu-system-x86_64", "--version").Output(); err == nil {
		h["qemu"] = strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	}
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = cfg.RepoDir
		b, err := cmd.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	if commit := git("rev-parse", "HEAD"); commit != "" {
		h["git_commit"] = commit
		h["kmod_dirty"] = git("status", "--porcelain", "--untracked-files=no", "kmod") != ""
	}
	return h
}

// baselineGuestPath is where the guest finds the module of -baseline:
// not in /lib/modules/extra, whose modules the guest init loads.
const baselineGuestPath = "/lib/modules/baseline/mhost.ko"

// A baselineModule is mhost.ko built from another revision of kmod/.
type baselineModule struct {
	dir  string // temporary tree, removed afterwards
	ko   string
	name string // the revision, as git abbreviates it
}

// buildBaseline builds kmod/ of a git revision for the kernel kver, in a
// temporary directory, so that one boot can measure it next to the
// working tree's module.
func buildBaseline(ctx context.Context, rev, kver string) (*baselineModule, error) {
	repo, err := vm.FindRepo("")
	if err != nil {
		return nil, err
	}
	name, err := exec.CommandContext(ctx, "git", "-C", repo, "rev-parse", "--short", rev+"^{commit}").Output()
	if err != nil {
		return nil, fmt.Errorf("-baseline %s: not a revision of %s", rev, repo)
	}
	dir, err := os.MkdirTemp("", "mhost-baseline-")
	if err != nil {
		return nil, err
	}
	b := &baselineModule{dir: dir, ko: filepath.Join(dir, "kmod", "mhost.ko"), name: strings.TrimSpace(string(name))}
	fmt.Fprintf(os.Stderr, "mhostvm: bench: building kmod/ of %s for %s\n", b.name, kver)
	archive := exec.CommandContext(ctx, "sh", "-c", `git -C "$1" archive "$2" kmod | tar -x -C "$3"`, "sh", repo, b.name, dir)
	make := exec.CommandContext(ctx, "make", "-C", filepath.Join(dir, "kmod"), "KVER="+kver)
	for _, cmd := range []*exec.Cmd{archive, make} {
		if out, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("-baseline %s: %s: %v\n%s", rev, strings.Join(cmd.Args, " "), err, out)
		}
	}
	if _, err := os.Stat(b.ko); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("-baseline %s: make built no mhost.ko: %v", rev, err)
	}
	return b, nil
}
