package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mnet/mnet/tests/vm"
)

func repoDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	repo, err := vm.FindRepo(wd)
	if err != nil {
		return "", fmt.Errorf("%v: run mhostvm inside the repository", err)
	}
	return repo, nil
}

// repoLanes returns the repository and the lanes spec names.
func repoLanes(spec string) (string, []*vm.Lane, error) {
	repo, err := repoDir()
	if err != nil {
		return "", nil, err
	}
	sel, err := vm.SelectLanes(spec)
	return repo, sel, err
}

func lanesFlag(fs *flag.FlagSet) *string {
	return fs.String("lanes", "", "comma-separated lanes: "+strings.Join(vm.LaneNames(), ",")+", or all (default "+vm.DefaultLanes+")")
}

// lanesCmd lists the lanes and the kernel each one has here.
func lanesCmd(args []string) error {
	fs := flag.NewFlagSet("mhostvm lanes", flag.ExitOnError)
	lanes := fs.String("lanes", "all", "comma-separated lanes to list")
	fs.Parse(args)
	repo, sel, err := repoLanes(*lanes)
	if err != nil {
		return err
	}
	def, _ := vm.SelectLanes(vm.DefaultLanes)
	isDefault := map[*vm.Lane]bool{}
	for _, l := range def {
		isDefault[l] = true
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "lane\tdefault\tkernel here\twhat\n")
	for _, lk := range vm.FindLaneKernels(repo, sel) {
		kernel := "(not set up)"
		if lk.Err == nil {
			kernel = lk.Lane.Label(lk.Kernel)
		}
		d := ""
		if isDefault[lk.Lane] {
			d = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", lk.Lane.Name, d, kernel, lk.Lane.Doc)
	}
	return tw.Flush()
}

// setupCmd installs or builds the kernels of the lanes.
func setupCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mhostvm setup", flag.ExitOnError)
	lanes := lanesFlag(fs)
	deferDebug := fs.Bool("defer-debug", false, "start the debug kernel's build first, in the background, and return without waiting for it: the VM suite waits for it when the debug lane's turn comes (make test)")
	fs.Parse(args)
	repo, sel, err := repoLanes(*lanes)
	if err != nil {
		return err
	}
	if *deferDebug {
		// The debug kernel's build is the longest part of a cold run:
		// started first, it overlaps the other lanes' setup too.
		var debug, rest []*vm.Lane
		for _, l := range sel {
			if l.Debug {
				debug = append(debug, l)
			} else {
				rest = append(rest, l)
			}
		}
		sel = append(debug, rest...)
	}
	start := time.Now()
	var failed []string
	for _, l := range sel {
		if err := l.Setup(ctx, repo, *deferDebug, os.Stderr); err != nil {
			fmt.Fprintf(os.Stderr, "setup: %v\n", err)
			failed = append(failed, l.Name)
		}
	}
	fmt.Fprintf(os.Stderr, "setup: done in %s\n", time.Since(start).Round(time.Second))
	if len(failed) > 0 {
		return fmt.Errorf("could not set up lane(s) %s", strings.Join(failed, ", "))
	}
	return nil
}

// moduleCmd builds kmod/ for a kernel of the matrix, named by version.
func moduleCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mhostvm module", flag.ExitOnError)
	kver := fs.String("kver", "", "kernel version (see mhostvm lanes), or a kernel installed here (default: the first default lane's)")
	lane := fs.String("lane", "", "build for this lane's kernel instead")
	check := fs.Bool("check", false, "build from clean with W=1 and sparse (C=2; not for the newest lane), and fail on any warning")
	fs.Parse(args)
	repo, err := repoDir()
	if err != nil {
		return err
	}
	var k *vm.Kernel
	switch {
	case *lane != "":
		l := vm.LaneByName(*lane)
		if l == nil {
			return fmt.Errorf("no lane %q: the lanes are %s", *lane, strings.Join(vm.LaneNames(), ", "))
		}
		if k, err = l.Kernel(repo); err != nil {
			return err
		}
	default:
		if k, err = vm.ResolveKernel(repo, *kver); err != nil {
			return err
		}
	}
	if *check {
		fmt.Fprintf(os.Stderr, "mhostvm: checking kmod/ for %s\n", k.Version)
		return vm.CheckModule(ctx, repo, k, os.Stderr)
	}
	fmt.Fprintf(os.Stderr, "mhostvm: building kmod/ for %s\n", k.Version)
	return vm.BuildModule(ctx, repo, k, os.Stderr)
}

// kverCmd prints the version of a lane's kernel (default: the kernel
// demo, shell and an unqualified `make module` use).
func kverCmd(args []string) error {
	fs := flag.NewFlagSet("mhostvm kver", flag.ExitOnError)
	lane := fs.String("lane", "", "the lane (default: the first default lane with a kernel here)")
	fs.Parse(args)
	repo, err := repoDir()
	if err != nil {
		return err
	}
	var k *vm.Kernel
	if *lane == "" {
		k, err = vm.ResolveKernel(repo, "")
	} else if l := vm.LaneByName(*lane); l == nil {
		err = fmt.Errorf("no lane %q: the lanes are %s", *lane, strings.Join(vm.LaneNames(), ", "))
	} else {
		k, err = l.Kernel(repo)
	}
	if err != nil {
		return err
	}
	fmt.Println(k.Version)
	return nil
}
