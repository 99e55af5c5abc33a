// Command guestinit is PID 1 of the test VM. It mounts the usual file
// systems, brings lo up, loads the kernel modules named in the plan
// (github.com/mnet/mnet/tests/vm/plan), runs the plan's steps with their
// output on the guest serial port, checks that the mhost module is unused
// and unloads everything it loaded, prints a final
// "MHOST-VM-RESULT: PASS|FAIL ..." line and powers the machine off.
//
// It never waits without a bound (except for an interactive shell that the
// plan asked for), and whatever goes wrong, including a panic of its own,
// it still prints a FAIL result and powers off.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/internal/ifup"
	"github.com/mnet/mnet/tests/vm/plan"
)

func main() {
	in := &initProc{out: os.Stderr}
	defer func() {
		if r := recover(); r != nil {
			in.fail("guest init panicked: %v\n%s", r, debug.Stack())
		}
		in.finish()
	}()
	in.run()
}

// initProc holds the state of one run of the plan.
type initProc struct {
	outMu sync.Mutex // serialises whole lines on out
	out   io.Writer
	outF  *os.File

	errs   []string
	loaded []plan.Module // in load order
	bg     map[string]*proc
	p      *plan.Plan
}

func (in *initProc) printf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if !strings.HasSuffix(line, "\n") {
		line += "\n"
	}
	in.outMu.Lock()
	defer in.outMu.Unlock()
	io.WriteString(in.out, line)
}

func (in *initProc) note(format string, args ...any) {
	in.printf(plan.MarkerNote+" "+format, args...)
}

// fail records a problem that makes the run fail and prints it at once.
func (in *initProc) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	first, _, _ := strings.Cut(msg, "\n")
	in.errs = append(in.errs, first)
	in.printf("%s %s", plan.MarkerError, msg)
}

func (in *initProc) run() {
	mountAll(in)
	in.openOutput()
	p, err := plan.Load(plan.Path)
	if err != nil {
		in.fail("reading the plan: %v", err)
		return
	}
	in.p = p
	if p.Output != "" && p.Output != defaultOutput {
		in.openOutputPath(p.Output)
	}
	var uname unix.Utsname
	unix.Uname(&uname)
	in.printf("%s up %s kernel %s", plan.MarkerInit, uptime(), unix.ByteSliceToString(uname.Release[:]))
	if err := unix.Sethostname([]byte("mhostvm")); err != nil {
		in.note("sethostname: %v", err)
	}
	if _, err := ifup.Up("lo"); err != nil {
		in.fail("bringing lo up: %v", err)
	}
	os.Setenv("PATH", defaultPath)
	os.Setenv("HOME", "/root")

	for _, m := range p.Modules {
		if err := loadModule(m); err != nil {
			in.fail("loading module %s (%s params %q): %v; skipping the steps", m.Name, m.Path, m.Params, err)
			in.unloadAll()
			return
		}
		in.loaded = append(in.loaded, m)
		in.note("loaded module %s", m.Name)
	}

	in.bg = map[string]*proc{}
	for _, s := range p.Steps {
		in.runStep(s)
	}
	for _, s := range p.Steps {
		if pr, ok := in.bg[s.Name]; ok {
			in.note("background step %s was not waited for; killing it", s.Name)
			pr.kill()
			pr.wait()
			in.stepEnd(pr)
		}
	}
	if p.Shell {
		in.shell()
	}
	if !p.Kmemleak {
		in.unloadAll()
		return
	}
	names, ranges := ourModules()
	in.kmemleakCheck("after the steps", names, ranges)
	in.unloadAll()
	in.kmemleakCheck("after unloading", names, ranges)
}

const (
	defaultOutput = "/dev/ttyS1"
	defaultPath   = "/bin:/sbin:/usr/bin:/usr/sbin"
)

func (in *initProc) openOutput() {
	in.openOutputPath(defaultOutput)
}

// openOutputPath switches init's report and the steps' output to a tty;
// the guest port is put in raw output mode so lines arrive with "\n"
// rather than "\r\n".
func (in *initProc) openOutputPath(path string) {
	f, err := os.OpenFile(path, os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		in.fail("opening output %s: %v (staying on the console)", path, err)
		return
	}
	if path == defaultOutput {
		// The guest port only carries output; the console (shell mode)
		// keeps its settings for interactive use.
		if t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			t.Oflag &^= unix.OPOST
			unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t)
		}
	}
	in.outMu.Lock()
	in.out, in.outF = f, f
	in.outMu.Unlock()
}

// finish prints the result line, flushes everything and powers off.
func (in *initProc) finish() {
	if len(in.errs) == 0 {
		in.printf("%s PASS", plan.MarkerResult)
	} else {
		in.printf("%s FAIL %s", plan.MarkerResult, strings.Join(in.errs, "; "))
	}
	if in.outF != nil {
		// TCSBRK with a non-zero argument is tcdrain: wait until the UART
		// has sent everything, so the marker is not lost at power off.
		unix.IoctlSetInt(int(in.outF.Fd()), unix.TCSBRK, 1)
	}
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Fprintf(os.Stderr, "guest init: power off: %v\n", err)
	}
	for {
		time.Sleep(time.Hour)
	}
}

func uptime() string {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0] + "s"
}
