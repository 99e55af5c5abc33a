//go:build linux

// Command mhost-bench measures the mhost kernel module against the
// kernel's own datagram paths (see package tests/bench). It runs inside
// the test VM, as root, with mhost.ko loaded: make bench boots the VM and
// runs it. It must never run on a machine whose kernel is not the target.
//
//	mhost-bench [-smoke] [-rounds N] [-duration D] [-pings N] [-run REGEX] [-json FILE|-]
//
// The table goes to standard output, progress to standard error; with
// -json - the JSON report follows the table between marker lines (how the
// VM harness collects it).
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/mnet/mnet/tests/bench"
)

func main() {
	cfg := bench.FullConfig()
	def, sm := bench.FullConfig(), bench.SmokeConfig()
	smoke := flag.Bool("smoke", false, "tiny counts: check that every benchmark works, not its speed")
	icount := flag.Bool("icount", false, "the VM counts instructions (QEMU -icount): shorter rounds, blocking receivers")
	rounds := flag.Int("rounds", 0, fmt.Sprintf("interleaved rounds per row (default %d; smoke %d)", def.Rounds, sm.Rounds))
	duration := flag.Duration("duration", 0, fmt.Sprintf("send time of one throughput measurement (default %v)", def.Duration))
	pings := flag.Int("pings", 0, fmt.Sprintf("round trips per latency measurement (default %d)", def.Pings))
	sizes := flag.String("sizes", "", fmt.Sprintf("comma-separated payload sizes (default %v)", def.Sizes))
	tables := flag.String("tables", "", fmt.Sprintf("comma-separated host-table sizes, starting with 1 (default %v)", def.HidTables))
	ctlHosts := flag.Int("ctl-hosts", 0, fmt.Sprintf("hosts of the control-plane benchmark (default %d)", def.CtlHosts))
	profile := flag.Bool("profile", true, "sample the sender's CPU with each arm of the main rows alone")
	run := flag.String("run", "", "run only the groups matching `regexp`: "+strings.Join(bench.Groups, ", "))
	accel := flag.String("accel", "", "kvm or tcg, as the harness knows it")
	jsonOut := flag.String("json", "", "write the JSON report to `file` (- : standard output, between marker lines)")
	markdown := flag.Bool("markdown", false, "print the table as Markdown too")
	flag.DurationVar(&bench.Watchdog, "watchdog", bench.Watchdog, "dump the goroutines of a group still running after this long")
	flag.Parse()

	if *icount {
		cfg = bench.IcountConfig()
	}
	if *smoke {
		cfg = bench.SmokeConfig()
		cfg.Icount, cfg.Block = *icount, *icount
	}
	if *rounds > 0 {
		cfg.Rounds = *rounds
	}
	if *duration > 0 {
		cfg.Duration = *duration
	}
	if *pings > 0 {
		cfg.Pings = *pings
	}
	if *ctlHosts > 0 {
		cfg.CtlHosts = *ctlHosts
	}
	var err error
	if *sizes != "" {
		if cfg.Sizes, err = ints(*sizes); err != nil {
			fatal(err)
		}
	}
	if *tables != "" {
		if cfg.HidTables, err = ints(*tables); err != nil {
			fatal(err)
		}
	}
	cfg.Run = *run
	cfg.Profile = cfg.Profile && *profile
	cfg.Accel = *accel

	rep, err := bench.Run(cfg, os.Stderr)
	if err != nil {
		fatal(err)
	}
	fmt.Println()
	rep.WriteTable(os.Stdout)
	if *markdown {
		fmt.Println()
		rep.WriteMarkdown(os.Stdout)
	}
	js, err := rep.JSON()
	if err != nil {
		fatal(err)
	}
	switch *jsonOut {
	case "":
	case "-":
		fmt.Println(bench.JSONBegin)
		os.Stdout.Write(js)
		fmt.Println()
		fmt.Println(bench.JSONEnd)
	default:
		if err := os.WriteFile(*jsonOut, append(js, '\n'), 0o644); err != nil {
			fatal(err)
		}
	}
	if bad := rep.Check(); len(bad) > 0 {
		for _, b := range bad {
			fmt.Fprintf(os.Stderr, "mhost-bench: insane result: %s\n", b)
		}
		os.Exit(1)
	}
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		out = append(out, n)
	}
	return out, nil
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "mhost-bench: %v\n", err)
	os.Exit(2)
}
