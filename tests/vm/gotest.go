package vm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
)

// TestResult is the outcome of one guest test or subtest.
type TestResult struct {
	Name     string  // full name, e.g. "TestBind/ipv6"
	Action   string  // "pass", "fail", "skip", or "" if it never finished
	Elapsed  float64 // seconds
	Output   string  // what the test printed, without the === / --- framing lines
	Subtests []*TestResult
}

// Short is the last element of the name: the name a host subtest gets.
func (r *TestResult) Short() string {
	return r.Name[strings.LastIndexByte(r.Name, '/')+1:]
}

// TestReport is the parsed output of one Go test binary run.
type TestReport struct {
	Tests  []*TestResult // top-level tests in the order they started
	Action string        // package result: "pass", "fail", or "" if the binary never said
	Output string        // output not attributed to any test (PASS/FAIL lines, init errors, ...)
}

// testEvent is one line of `go tool test2json` output.
type testEvent struct {
	Action  string
	Test    string
	Elapsed float64
	Output  string
}

// ParseGoTest turns the output of a Go test binary run with -test.v (best
// with -test.v=test2json) into a report, using `go tool test2json`. exit
// is the binary's exit status: a non-zero status with no failed test (a
// panic, a crash, a timeout) marks the unfinished tests and the package as
// failed.
func ParseGoTest(ctx context.Context, goCmd string, output []byte, exit int) (*TestReport, error) {
	cmd := exec.CommandContext(ctx, goCmd, "tool", "test2json")
	cmd.Stdin = bytes.NewReader(output)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	js, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go tool test2json: %v: %s", err, stderr.String())
	}
	rep := &TestReport{}
	byName := map[string]*TestResult{}
	var outputs = map[*TestResult]*strings.Builder{}
	var pkgOut strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(js))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var ev testEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("go tool test2json output: %v", err)
		}
		if ev.Test == "" {
			switch ev.Action {
			case "output":
				pkgOut.WriteString(ev.Output)
			case "pass", "fail", "skip":
				rep.Action = ev.Action
			}
			continue
		}
		tr := byName[ev.Test]
		if tr == nil {
			tr = &TestResult{Name: ev.Test}
			byName[ev.Test] = tr
			outputs[tr] = &strings.Builder{}
			if parent := findParent(byName, ev.Test); parent != nil {
				parent.Subtests = append(parent.Subtests, tr)
			} else {
				rep.Tests = append(rep.Tests, tr)
			}
		}
		switch ev.Action {
		case "output":
			if !isFramingLine(ev.Output) {
				outputs[tr].WriteString(ev.Output)
			}
		case "pass", "fail", "skip":
			tr.Action = ev.Action
			tr.Elapsed = ev.Elapsed
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for tr, b := range outputs {
		tr.Output = b.String()
	}
	rep.Output = pkgOut.String()
	if exit != 0 {
		// Whatever was running when the binary died failed with it.
		var mark func([]*TestResult)
		mark = func(ts []*TestResult) {
			for _, t := range ts {
				mark(t.Subtests)
				if t.Action == "" {
					t.Action = "fail"
					t.Output += fmt.Sprintf("(test did not finish: the test binary exited with status %d)\n", exit)
				}
			}
		}
		mark(rep.Tests)
		rep.Action = "fail"
	}
	return rep, nil
}

// findParent returns the longest started test whose name is a "/"-prefix
// of name (subtest names may contain "/" themselves).
func findParent(byName map[string]*TestResult, name string) *TestResult {
	for i := strings.LastIndexByte(name, '/'); i > 0; i = strings.LastIndexByte(name[:i], '/') {
		if p := byName[name[:i]]; p != nil {
			return p
		}
	}
	return nil
}

func isFramingLine(s string) bool {
	t := strings.TrimLeft(s, " ")
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME", "--- PASS:", "--- FAIL:", "--- SKIP:"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

// Failed lists the full names of the failed tests, innermost last.
func (r *TestReport) Failed() []string {
	var out []string
	var walk func([]*TestResult)
	walk = func(ts []*TestResult) {
		for _, t := range ts {
			if t.Action == "fail" {
				out = append(out, t.Name)
			}
			walk(t.Subtests)
		}
	}
	walk(r.Tests)
	return out
}
