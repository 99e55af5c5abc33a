package vm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The debug lane's kernel is built by tests/vm/debugkernel/build.sh from
// Debian's linux-source-6.1 with debugkernel/debug.config, into the
// machine-wide cache, keyed by what it is built from (see the script).

const debugScript = "tests/vm/debugkernel/build.sh"

// DebugCPU is the CPU model the debug lane boots on under TCG: all QEMU
// can emulate, as for the other lanes. Its LA57 goes unused: the debug
// kernel is built for four-level page tables (debug.config). The one
// early-boot KASAN report seen with this kernel under -cpu max (a wild
// access in do_raw_spin_lock from handle_edge_irq, before any module was
// loaded) came with five-level tables, which QEMU 7.2's TCG page walker
// and KASAN's shadow both handle on paths of their own; it did not
// recur. See the README's debug lane section.
const DebugCPU = "max"

// debugDir asks the script where the kernel for the current sources and
// config lives (built or not).
func debugDir(repo string) (string, error) {
	cmd := exec.Command(filepath.Join(repo, debugScript), "dir")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s dir: %v: %s", debugScript, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// debugKernel returns the built debug kernel, or an error if it is not
// built for the current sources and config.
func debugKernel(repo string) (*Kernel, error) {
	dir, err := debugDir(repo)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "ok")); err != nil {
		return nil, fmt.Errorf("the debug kernel is not built (%s)", dir)
	}
	rel, err := os.ReadFile(filepath.Join(dir, "kernelrelease"))
	if err != nil {
		return nil, err
	}
	v := strings.TrimSpace(string(rel))
	k := &Kernel{
		Version:  v,
		Image:    filepath.Join(dir, "vmlinuz"),
		ModDir:   filepath.Join(dir, "lib/modules", v),
		BuildDir: filepath.Join(dir, "src"),
	}
	return k, k.check()
}

// buildDebugKernel builds the debug kernel unless it is there already.
func buildDebugKernel(ctx context.Context, repo string, log io.Writer) error {
	if _, err := debugKernel(repo); err == nil {
		return nil
	}
	cmd := exec.CommandContext(ctx, filepath.Join(repo, debugScript), "build")
	cmd.Stdout, cmd.Stderr = io.Discard, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s build: %v", debugScript, err)
	}
	return nil
}

// DebugBuild is a build of the debug kernel running in the background,
// so that the other lanes run while it compiles: on two CPUs a VM under
// TCG keeps one busy, the build takes what is left.
type DebugBuild struct {
	Log  string // the build's output
	done chan struct{}
	err  error
}

// StartDebugBuild builds the debug kernel in the background unless it is
// built; it returns nil if there is nothing to build. Should the calling
// process die, the build goes on and fills the cache; a later run finds
// the kernel built, or waits for it (the script's lock).
func StartDebugBuild(repo string) (*DebugBuild, error) {
	if _, err := debugKernel(repo); err == nil {
		return nil, nil
	}
	dir, err := debugDir(repo)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	b := &DebugBuild{Log: dir + ".out", done: make(chan struct{})}
	// Appended to: a build started by setup may be writing it, and
	// this one then waits for that (the script's lock).
	out, err := os.OpenFile(b.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(repo, debugScript), "build")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, err
	}
	go func() {
		defer close(b.done)
		defer out.Close()
		if err := cmd.Wait(); err != nil {
			tail, _ := os.ReadFile(b.Log)
			b.err = fmt.Errorf("%s build: %v\n%s", debugScript, err, lastLines(string(tail), 20))
		}
	}()
	return b, nil
}

// Wait waits for the build to end and returns its error.
func (b *DebugBuild) Wait() error {
	<-b.done
	return b.err
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
