// Command mhostvm boots the mhost test VM for people: a demo of the
// module carrying datagrams over IPv4 and IPv6, or a shell with the module
// loaded. The automated suite is `go test -tags vm ./tests/vm`.
//
//	mhostvm demo  [-kver V | -lane L] [-timeout D] [-keep] [-console]
//	mhostvm shell [-kver V | -lane L] [-module=false] [-params P]
//	mhostvm bench [-kver V] [-mem M] [-o FILE] [-- mhost-bench flags]
//	mhostvm lanes [-lanes L]
//	mhostvm setup [-lanes L]
//	mhostvm module [-kver V | -lane L]
//	mhostvm kver [-lane L]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mnet/mnet/tests/vm"
	"github.com/mnet/mnet/tests/vm/plan"
)

const usage = `usage: mhostvm demo|shell|bench|lanes|setup|module|kver [flags]

  demo    boot the VM, load mhost.ko, run mhost-server and two mhost-client
          calls (IPv4 and IPv6), unload; exit 0 only if all of it worked
          and the kernel log is clean
  shell   boot the VM with mhost.ko loaded and a busybox shell on this
          terminal; leave the shell (exit or Ctrl-D) to power off,
          Ctrl-a x kills QEMU
  bench   boot the VM without SLUB debugging, run mhost-bench (AF_MHOST
          against plain UDP, host-table scaling, memory, control plane,
          non-IP path), print the table and write the JSON report
  lanes   list the lanes of the kernel matrix and the kernel each has here
  setup   install or build the lanes' kernels (root): apt, the trixie
          environment, the debug kernel
  module  build kmod/ for a kernel of the matrix (in its environment if
          it has one)
  kver    print the version of a lane's kernel

Run "mhostvm demo -h", "mhostvm shell -h" or "mhostvm bench -h" for the flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "demo":
		err = demo(ctx, os.Args[2:])
	case "shell":
		err = shell(ctx, os.Args[2:])
	case "bench":
		err = benchCmd(ctx, os.Args[2:])
	case "lanes":
		err = lanesCmd(os.Args[2:])
	case "setup":
		err = setupCmd(ctx, os.Args[2:])
	case "module":
		err = moduleCmd(ctx, os.Args[2:])
	case "kver":
		err = kverCmd(os.Args[2:])
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "mhostvm: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mhostvm: %v\n", err)
		os.Exit(1)
	}
}

// common holds the flags both commands take.
type common struct {
	kver    string
	lane    string
	timeout time.Duration
	keep    bool
	console bool
	params  string
	verbose bool
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.kver, "kver", "", "kernel version to boot (default $MHOST_KVER or the newest installed)")
	fs.StringVar(&c.lane, "lane", "", "boot this lane's kernel, as the suite does (see mhostvm lanes)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "kill the VM after this long")
	fs.BoolVar(&c.keep, "keep", false, "keep the work directory and print its path")
	fs.BoolVar(&c.console, "console", false, "show the kernel console live")
	fs.StringVar(&c.params, "params", "", "mhost.ko module parameters")
	fs.BoolVar(&c.verbose, "v", false, "show the build commands")
}

func (c *common) config() (vm.Config, error) {
	wd, err := os.Getwd()
	if err != nil {
		return vm.Config{}, err
	}
	repo, err := vm.FindRepo(wd)
	if err != nil {
		return vm.Config{}, fmt.Errorf("%v: run mhostvm inside the repository", err)
	}
	cfg := vm.Config{
		RepoDir:      repo,
		KVer:         c.kver,
		Timeout:      c.timeout,
		Keep:         c.keep,
		ModuleParams: c.params,
		Module:       true,
		Stream:       os.Stdout,
	}
	if c.console {
		cfg.ConsoleStream = os.Stdout
	}
	if c.verbose {
		cfg.Log = os.Stderr
	}
	if c.lane != "" {
		l := vm.LaneByName(c.lane)
		if l == nil {
			return vm.Config{}, fmt.Errorf("no lane %q: the lanes are %s", c.lane, strings.Join(vm.LaneNames(), ", "))
		}
		if cfg.Kernel, err = l.Kernel(repo); err != nil {
			return vm.Config{}, err
		}
		l.Boot(&cfg)
	}
	return cfg, nil
}

func demo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mhostvm demo", flag.ExitOnError)
	var c common
	c.register(fs)
	fs.Parse(args)
	cfg, err := c.config()
	if err != nil {
		return err
	}
	for _, p := range []string{"cmd/mhost-server", "cmd/mhost-client"} {
		if _, err := os.Stat(filepath.Join(cfg.RepoDir, p)); err != nil {
			return fmt.Errorf("the demo needs %s, which is not in the tree yet", p)
		}
	}
	cfg.Name = "demo"
	cfg.Programs = []string{"./cmd/mhost-server", "./cmd/mhost-client"}
	client := func(name, addr, msg string) plan.Step {
		return plan.Step{Name: name, Args: []string{"mhost-client", "-timeout", "2s", addr, msg}, Timeout: time.Minute}
	}
	cfg.Steps = []plan.Step{
		// The clients start once the server says it is bound.
		{Name: "server", Args: []string{"mhost-server", "-port", "7000", "-count", "2"}, Background: true,
			Ready: "mhost-server: listening on", Timeout: 3 * time.Minute},
		client("client-ipv4", "127.0.0.1:7000", "hello-over-ipv4"),
		client("client-ipv6", "[::1]:7000", "hello-over-ipv6"),
		{Name: "wait-server", Wait: "server"},
	}
	res, err := vm.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	for _, s := range res.Steps {
		status := fmt.Sprintf("exit %d", s.Exit)
		switch {
		case s.Step.Wait != "":
			continue
		case !s.Ran:
			status = "did not finish"
		case s.TimedOut:
			status = "timed out"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Step.Name, strings.Join(s.Step.Args, " "), status)
	}
	tw.Flush()
	fmt.Printf("build %.1fs, boot to init %.1fs, VM run %.1fs; logs %s %s\n",
		res.BuildTime.Seconds(), res.BootTime.Seconds(), res.RunTime.Seconds(), res.ConsoleLog, res.GuestLog)
	if c.keep {
		fmt.Printf("work directory kept: %s\n", res.WorkDir)
	}
	if probs := res.Problems(); len(probs) > 0 {
		for _, p := range probs {
			fmt.Fprintf(os.Stderr, "FAIL: %s\n", p)
		}
		return errors.New("demo failed")
	}
	fmt.Println("demo: PASS")
	return nil
}

func shell(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mhostvm shell", flag.ExitOnError)
	var c common
	c.register(fs)
	module := fs.Bool("module", true, "build and load mhost.ko")
	fs.Parse(args)
	cfg, err := c.config()
	if err != nil {
		return err
	}
	cfg.Name = "shell"
	cfg.Module = *module
	cfg.Shell = true
	cfg.Stream = nil
	cfg.Programs = []string{"./cmd/..."}
	if _, err := os.Stat(filepath.Join(cfg.RepoDir, "tests/guest")); err == nil {
		cfg.TestPackages = []string{"./tests/guest"}
	}
	cfg.Steps = []plan.Step{} // no tests run; they are in /tests
	fmt.Fprintln(os.Stderr, "mhostvm: building and booting; the shell comes up on this terminal (Ctrl-a x kills QEMU)")
	res, err := vm.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "mhostvm: VM ran %.0fs\n", res.RunTime.Seconds())
	return nil
}
