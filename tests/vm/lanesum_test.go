package vm

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// laneSummary is how one lane did, for the summary TestMain prints last.
type laneSummary struct {
	lane, label, kernel string
	passed, failed      int // guest tests (top level)
	skipped             int
	elapsed             time.Duration
	problem             string // the first problem of the run, if any
	bad                 bool   // the lane failed (t.Failed)
	leftOut             string // guest tests the lane leaves out (-test.skip), if any
}

// laneSummaries are the lanes TestVM ran, in order.
var laneSummaries []*laneSummary

func (s *laneSummary) count(tr *TestResult) {
	switch tr.Action {
	case "pass":
		s.passed++
	case "skip":
		s.skipped++
	default:
		s.failed++
	}
}

// printLaneSummary writes which kernels ran and how each lane did.
func printLaneSummary(w io.Writer, sums []*laneSummary) {
	if len(sums) == 0 {
		return
	}
	fmt.Fprintf(w, "\nkernel matrix (%d lane(s)):\n", len(sums))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  lane\tkernel\tresult\tguest tests\ttime\tleft out\n")
	for _, s := range sums {
		result := "PASS"
		if s.bad {
			result = "FAIL"
		}
		kernel := s.kernel
		if kernel == "" {
			kernel = "(none)"
		}
		tests := fmt.Sprintf("%d passed", s.passed)
		if s.failed > 0 {
			tests += fmt.Sprintf(", %d failed", s.failed)
		}
		if s.skipped > 0 {
			tests += fmt.Sprintf(", %d skipped", s.skipped)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", s.lane, kernel+strings.TrimPrefix(s.label, s.kernel), result, tests, s.elapsed.Round(time.Second), s.leftOut)
	}
	tw.Flush()
	for _, s := range sums {
		if s.bad && s.problem != "" {
			fmt.Fprintf(w, "  %s: %s\n", s.lane, s.problem)
		}
	}
}
