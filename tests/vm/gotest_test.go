package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	sampleOnce sync.Once
	sampleBin  string
	sampleErr  error
)

// sampleBinary compiles testdata/sample for the host, once.
func sampleBinary(t *testing.T) string {
	t.Helper()
	sampleOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mhostvm-sample-")
		if err != nil {
			sampleErr = err
			return
		}
		sampleBin = filepath.Join(dir, "sample.test")
		out, err := exec.Command("go", "test", "-c", "-tags", "guest", "-o", sampleBin, "./testdata/sample").CombinedOutput()
		if err != nil {
			sampleErr = errors.New(string(out))
		}
	})
	if sampleErr != nil {
		t.Fatalf("building testdata/sample: %v", sampleErr)
	}
	return sampleBin
}

// guestFailures are the guest tests that failed, with the start of what
// each said. TestMain prints them last, so that the end of a long log,
// which is what CI systems tend to show, says what failed and why.
var (
	guestFailuresMu sync.Mutex
	guestFailures   []string
)

func addGuestFailure(f string) {
	guestFailuresMu.Lock()
	defer guestFailuresMu.Unlock()
	guestFailures = append(guestFailures, f)
}

func guestFailure(name, out string) string {
	const maxLines = 8
	lines := strings.Split(out, "\n")
	if len(lines) > maxLines {
		lines = append(lines[:maxLines], fmt.Sprintf("... (%d more lines in the log above)", len(lines)-maxLines))
	}
	return name + ":\n    " + strings.Join(lines, "\n    ")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if len(guestFailures) > 0 {
		fmt.Printf("\n%d guest test(s) failed:\n%s\n", len(guestFailures), strings.Join(guestFailures, "\n"))
	}
	printLaneSummary(os.Stdout, laneSummaries)
	if sampleBin != "" {
		os.RemoveAll(filepath.Dir(sampleBin))
	}
	os.Exit(code)
}

// runSample runs the sample suite on the host (without the tests that
// need the VM) and parses its output as the harness would.
func runSample(t *testing.T, mode string, args ...string) (*TestReport, int) {
	t.Helper()
	args = append([]string{"-test.v=test2json", "-test.run=TestNested|TestPanics|TestHangs"}, args...)
	cmd := exec.Command(sampleBinary(t), args...)
	cmd.Env = append(os.Environ(), "MHOSTVM_SAMPLE="+mode)
	out, err := cmd.CombinedOutput()
	exit := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		exit = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	rep, err := ParseGoTest(context.Background(), "go", out, exit)
	if err != nil {
		t.Fatal(err)
	}
	return rep, exit
}

// flatten lists "name:action" for every test, depth first.
func flatten(ts []*TestResult) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Name+":"+t.Action)
		out = append(out, flatten(t.Subtests)...)
	}
	return out
}

func TestParseGoTestPass(t *testing.T) {
	rep, exit := runSample(t, "")
	if exit != 0 || rep.Action != "pass" {
		t.Errorf("exit %d, package %q", exit, rep.Action)
	}
	want := "TestNested:pass TestNested/a:pass TestNested/b:pass TestNested/b/c:pass TestNested/skipped:skip TestPanics:pass TestHangs:pass"
	if got := strings.Join(flatten(rep.Tests), " "); got != want {
		t.Errorf("tests:\n%s\nwant:\n%s", got, want)
	}
	if out := rep.Tests[0].Subtests[1].Subtests[0].Output; !strings.Contains(out, "in b/c") || strings.Contains(out, "=== RUN") {
		t.Errorf("TestNested/b/c output %q", out)
	}
	if out := rep.Tests[0].Subtests[2].Output; !strings.Contains(out, "deliberately skipped") {
		t.Errorf("skip message missing: %q", out)
	}
}

func TestParseGoTestNestedFailure(t *testing.T) {
	rep, exit := runSample(t, "fail")
	if exit != 1 || rep.Action != "fail" {
		t.Errorf("exit %d, package %q", exit, rep.Action)
	}
	if got, want := strings.Join(rep.Failed(), " "), "TestNested TestNested/b TestNested/b/fails"; got != want {
		t.Errorf("failed %q, want %q", got, want)
	}
	fails := rep.Tests[0].Subtests[1].Subtests[1]
	if fails.Name != "TestNested/b/fails" || !strings.Contains(fails.Output, "deliberate failure in b/fails") {
		t.Errorf("%s output %q", fails.Name, fails.Output)
	}
	if fails.Short() != "fails" {
		t.Errorf("Short() = %q", fails.Short())
	}
}

func TestParseGoTestPanic(t *testing.T) {
	rep, exit := runSample(t, "panic")
	if exit != 2 || rep.Action != "fail" {
		t.Errorf("exit %d, package %q", exit, rep.Action)
	}
	if got := strings.Join(rep.Failed(), " "); got != "TestPanics" {
		t.Errorf("failed %q, want TestPanics", got)
	}
	for _, tr := range rep.Tests {
		if tr.Name == "TestPanics" && !strings.Contains(tr.Output, "deliberate panic") {
			t.Errorf("panic message not in TestPanics output: %q", tr.Output)
		}
		if tr.Name == "TestHangs" {
			t.Errorf("TestHangs reported after the panic: %+v", tr)
		}
	}
}

// TestParseGoTestKilled: a binary killed in the middle of a test (no
// PASS/FAIL line at all) fails the running test and the package.
func TestParseGoTestKilled(t *testing.T) {
	out := "\x16=== RUN   TestA\n\x16--- PASS: TestA (0.00s)\n\x16=== RUN   TestB\n\x16=== RUN   TestB/sub\n    x_test.go:9: working\n"
	rep, err := ParseGoTest(context.Background(), "go", []byte(out), -1)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(flatten(rep.Tests), " "), "TestA:pass TestB:fail TestB/sub:fail"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if rep.Action != "fail" || !strings.Contains(rep.Tests[1].Subtests[0].Output, "working") {
		t.Errorf("package %q, sub output %q", rep.Action, rep.Tests[1].Subtests[0].Output)
	}
}

// TestParseGoTestPlainVerbose: plain -test.v output with parallel
// subtests is attributed by the === NAME / CONT lines.
func TestParseGoTestPlainVerbose(t *testing.T) {
	out := `=== RUN   TestP
=== RUN   TestP/x
=== PAUSE TestP/x
=== RUN   TestP/y
=== PAUSE TestP/y
=== CONT  TestP/x
=== CONT  TestP/y
    p_test.go:5: from y
=== NAME  TestP/x
    p_test.go:5: from x
--- FAIL: TestP (0.00s)
    --- FAIL: TestP/x (0.00s)
    --- PASS: TestP/y (0.00s)
FAIL
`
	rep, err := ParseGoTest(context.Background(), "go", []byte(out), 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(flatten(rep.Tests), " "), "TestP:fail TestP/x:fail TestP/y:pass"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	x, y := rep.Tests[0].Subtests[0], rep.Tests[0].Subtests[1]
	if !strings.Contains(x.Output, "from x") || strings.Contains(x.Output, "from y") || !strings.Contains(y.Output, "from y") {
		t.Errorf("x output %q, y output %q", x.Output, y.Output)
	}
}
