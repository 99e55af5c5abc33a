package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mnet/mnet/tests/vm/plan"
)

// proc is one started step program.
type proc struct {
	step     plan.Step
	cmd      *exec.Cmd
	out      *lineWriter
	start    time.Time
	timer    *time.Timer
	done     chan struct{}
	err      error // from Wait, valid after done
	timedOut bool
	ready    chan struct{} // closed when a Ready step printed its line
	mu       sync.Mutex
}

// start launches a step program in its own process group, writing to
// init's output, and arms its timeout.
func (in *initProc) start(s plan.Step) (*proc, error) {
	prefix := ""
	if s.Background {
		prefix = s.Name + "| "
	}
	pr := &proc{step: s, out: &lineWriter{mu: &in.outMu, w: in.out, prefix: prefix}, done: make(chan struct{})}
	if s.Ready != "" {
		pr.ready = make(chan struct{})
		var once sync.Once
		pr.out.onLine = func(line string) {
			if strings.Contains(line, s.Ready) {
				once.Do(func() { close(pr.ready) })
			}
		}
	}
	cmd := exec.Command(s.Args[0], s.Args[1:]...)
	cmd.Env = append([]string{"PATH=" + defaultPath, "HOME=/root", "TMPDIR=/tmp", "TERM=dumb"}, s.Env...)
	cmd.Dir = "/"
	cmd.Stdout = pr.out
	cmd.Stderr = pr.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Output copying must not outlive the program by much, even when a
	// grandchild keeps the pipe open.
	cmd.WaitDelay = 2 * time.Second
	pr.cmd = cmd
	pr.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = plan.DefaultStepTimeout
	}
	pr.timer = time.AfterFunc(timeout, func() {
		pr.mu.Lock()
		pr.timedOut = true
		pr.mu.Unlock()
		pr.out.Flush()
		in.printf("%s step %s timed out after %v; killing it", plan.MarkerNote, s.Name, timeout)
		pr.kill()
	})
	go func() {
		pr.err = cmd.Wait()
		pr.timer.Stop()
		pr.out.Flush()
		close(pr.done)
	}()
	return pr, nil
}

// kill sends SIGKILL to the step's whole process group.
func (pr *proc) kill() {
	if pr.cmd.Process != nil {
		syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
	}
}

func (pr *proc) wait() { <-pr.done }

// exitCode is the program's exit status, or -1 if it died by a signal or
// could not be waited for.
func (pr *proc) exitCode() int {
	if pr.cmd.ProcessState == nil {
		return -1
	}
	return pr.cmd.ProcessState.ExitCode()
}

func (in *initProc) stepEnd(pr *proc) {
	pr.mu.Lock()
	timedOut := pr.timedOut
	pr.mu.Unlock()
	extra := ""
	switch {
	case timedOut:
		extra = " timeout"
	case pr.exitCode() < 0 && pr.cmd.ProcessState != nil:
		extra = " signal=" + strings.ReplaceAll(pr.cmd.ProcessState.String(), " ", "_")
	}
	in.printf("%s %s exit=%d time=%.3fs%s", plan.MarkerStepEnd, pr.step.Name, pr.exitCode(),
		time.Since(pr.start).Seconds(), extra)
}

// runStep runs one step of the plan and records a failure if it fails.
func (in *initProc) runStep(s plan.Step) {
	if s.Wait != "" {
		pr, ok := in.bg[s.Wait]
		if !ok {
			in.fail("step %s: no running background step %s", s.Name, s.Wait)
			return
		}
		delete(in.bg, s.Wait)
		pr.wait()
		in.stepEnd(pr)
		in.judge(pr)
		return
	}
	in.printf("%s %s", plan.MarkerStepStart, s.Name)
	pr, err := in.start(s)
	if err != nil {
		in.printf("%s %s exit=-1 time=0s", plan.MarkerStepEnd, s.Name)
		in.fail("step %s: starting %s: %v", s.Name, s.Args[0], err)
		return
	}
	if !s.Background {
		pr.wait()
		in.stepEnd(pr)
		in.judge(pr)
		return
	}
	in.bg[s.Name] = pr
	if pr.ready == nil {
		return
	}
	select {
	case <-pr.ready:
		in.note("step %s is ready", s.Name)
	case <-pr.done:
		// It ended (or was killed on its timeout) before saying it
		// was ready: what follows would only race it.
		delete(in.bg, s.Name)
		in.stepEnd(pr)
		in.judge(pr)
		in.fail("step %s ended before printing %q", s.Name, s.Ready)
	}
}

// judge records a failure for a finished step that did not exit 0.
func (in *initProc) judge(pr *proc) {
	pr.mu.Lock()
	timedOut := pr.timedOut
	pr.mu.Unlock()
	var ee *exec.ExitError
	switch {
	case timedOut:
		in.fail("step %s timed out", pr.step.Name)
	case pr.err == nil:
	case errors.As(pr.err, &ee):
		in.fail("step %s: %v", pr.step.Name, ee)
	default:
		in.fail("step %s: %v", pr.step.Name, pr.err)
	}
}

// shell runs an interactive shell on the console until it exits.
func (in *initProc) shell() {
	tty, err := os.OpenFile("/dev/ttyS0", os.O_RDWR, 0)
	if err != nil {
		in.fail("opening /dev/ttyS0 for the shell: %v", err)
		return
	}
	defer tty.Close()
	fmt.Fprintf(tty, "\nmhostvm: busybox shell; modules in /lib/modules/extra, tests in /tests. Exit the shell to power off.\n")
	cmd := exec.Command("/bin/sh", "-l")
	cmd.Env = []string{"PATH=" + defaultPath, "HOME=/root", "TERM=linux", "PS1=mhostvm:\\w# "}
	cmd.Dir = "/root"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	err = cmd.Run()
	// The shell's exit hung up the terminal for every open file of it,
	// init's output included: open it afresh.
	if in.p.Output != "" && in.p.Output != defaultOutput {
		in.openOutputPath(in.p.Output)
	}
	if err != nil {
		in.note("shell: %v", err)
	}
}

// lineWriter writes whole lines to a shared writer, each with a prefix, so
// that concurrent programs never split each other's lines.
type lineWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	onLine func(line string) // if set, sees every whole line, unprefixed

	bufMu sync.Mutex
	buf   []byte
}

func (lw *lineWriter) Write(p []byte) (int, error) {
	lw.bufMu.Lock()
	defer lw.bufMu.Unlock()
	lw.buf = append(lw.buf, p...)
	i := strings.LastIndexByte(string(lw.buf), '\n')
	if i < 0 {
		if len(lw.buf) < 64<<10 {
			return len(p), nil
		}
		i = len(lw.buf) - 1
	}
	lw.emit(lw.buf[:i+1])
	lw.buf = append(lw.buf[:0], lw.buf[i+1:]...)
	return len(p), nil
}

// Flush writes a pending partial line, terminated.
func (lw *lineWriter) Flush() {
	lw.bufMu.Lock()
	defer lw.bufMu.Unlock()
	if len(lw.buf) > 0 {
		lw.emit(append(lw.buf, '\n'))
		lw.buf = lw.buf[:0]
	}
}

func (lw *lineWriter) emit(b []byte) {
	if lw.onLine != nil {
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			lw.onLine(line)
		}
	}
	if lw.prefix != "" {
		var sb strings.Builder
		for _, line := range strings.SplitAfter(string(b), "\n") {
			if line != "" {
				sb.WriteString(lw.prefix)
				sb.WriteString(line)
			}
		}
		b = []byte(sb.String())
	}
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.w.Write(b)
}
