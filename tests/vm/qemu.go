package vm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// machine is one QEMU invocation.
type machine struct {
	kernel, initrd, append string
	memory                 string // e.g. "1G"
	smp                    int
	cpu                    string // under TCG; "" means max
	accel                  string // "kvm" or "tcg" (see ChooseAccel)
	interactive            bool   // console on the terminal (shell mode)
	icount                 bool   // TCG with instruction counting (see Config.Icount)
	parallelTCG            bool   // one host thread per vCPU (see Config.ParallelTCG)

	consoleLog, guestLog *os.File
	// onGuestLine is called for every line from the guest port, with the
	// time since QEMU started. Not called in interactive mode.
	onGuestLine func(line string, since time.Duration)
	// onConsoleLine likewise for the kernel console.
	onConsoleLine func(line string)
}

func (m *machine) args() []string {
	// Instruction counting needs single-threaded TCG too (see
	// Config.Icount, Config.ParallelTCG).
	accel, cpu := "tcg,thread=single", m.cpu
	if cpu == "" {
		cpu = "max"
	}
	switch {
	case m.accel == "kvm":
		accel, cpu = "kvm", "host"
	case m.parallelTCG && !m.icount:
		accel = "tcg,thread=multi"
	}
	a := []string{
		"-nodefaults", "-nographic", "-no-reboot",
		"-machine", "q35", "-cpu", cpu, "-accel", accel,
		"-smp", strconv.Itoa(m.smp), "-m", m.memory,
		"-nic", "none",
		"-kernel", m.kernel, "-initrd", m.initrd, "-append", m.append,
	}
	if m.icount {
		// shift=0 makes one instruction one nanosecond of guest time.
		// While the guest is idle its clock follows the host's
		// (sleep=on).
		a = append(a, "-icount", "shift=0,sleep=on,align=off")
	}
	if m.interactive {
		// ttyS0 (console and shell) on the terminal, Ctrl-a x quits;
		// ttyS1 still goes to the log file.
		return append(a, "-serial", "mon:stdio", "-serial", "file:"+m.guestLog.Name())
	}
	// fds 3 and 4 are pipes to us. QEMU's file chardev reopens them
	// through /proc (its /dev/fdset route refuses pipes).
	return append(a,
		"-chardev", "file,id=console,path=/proc/self/fd/3", "-serial", "chardev:console",
		"-chardev", "file,id=guest,path=/proc/self/fd/4", "-serial", "chardev:guest",
	)
}

// boot runs QEMU until the guest powers off, ctx ends, or timeout passes.
// It returns whether the timeout struck, and QEMU's own failure if any.
func (m *machine) boot(ctx context.Context, timeout time.Duration) (timedOut bool, err error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", m.args()...)
	cmd.WaitDelay = 5 * time.Second
	// Should the harness die (go test's own -timeout panics), QEMU goes too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var qemuOut bytes.Buffer
	var readers sync.WaitGroup
	start := time.Now()
	if m.interactive {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		err = cmd.Run()
	} else {
		cmd.Stdout, cmd.Stderr = &qemuOut, &qemuOut
		conR, conW, perr := os.Pipe()
		if perr != nil {
			return false, perr
		}
		guestR, guestW, perr := os.Pipe()
		if perr != nil {
			return false, perr
		}
		cmd.ExtraFiles = []*os.File{conW, guestW}
		readers.Add(2)
		go func() {
			defer readers.Done()
			copyLines(conR, m.consoleLog, func(l string) {
				if m.onConsoleLine != nil {
					m.onConsoleLine(l)
				}
			})
		}()
		go func() {
			defer readers.Done()
			copyLines(guestR, m.guestLog, func(l string) {
				if m.onGuestLine != nil {
					m.onGuestLine(l, time.Since(start))
				}
			})
		}()
		err = cmd.Start()
		// Only QEMU may hold the write ends, so the readers see EOF when
		// it exits.
		conW.Close()
		guestW.Close()
		if err == nil {
			err = cmd.Wait()
		}
		readers.Wait()
		conR.Close()
		guestR.Close()
	}
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return true, nil
		}
		return false, ctx.Err()
	}
	if err != nil {
		return false, fmt.Errorf("qemu-system-x86_64: %v\n%s", err, qemuOut.Bytes())
	}
	return false, nil
}

// copyLines copies r to w and calls fn for every complete line (and a
// final partial one), without the line end.
func copyLines(r io.Reader, w io.Writer, fn func(string)) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			w.Write([]byte(line))
			fn(strings.TrimRight(line, "\r\n"))
		}
		if err != nil {
			return
		}
	}
}
