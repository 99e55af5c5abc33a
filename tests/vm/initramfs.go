package vm

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mnet/mnet/tests/vm/plan"
)

// initramfs describes what goes into the guest's root file system.
type initramfs struct {
	init          string // host path of the guest init
	busybox       string // host path of a static busybox
	kernel        *Kernel
	kernelModules []KernelModule
	ourModules    []string          // host paths of .ko files: /lib/modules/extra/<base>
	tests         map[string]string // guest name -> host path: /tests/<name>
	programs      []string          // host paths: /usr/bin/<base>
	files         map[string]string // guest path -> host path
	plan          *plan.Plan
}

// Guest paths.
const (
	guestExtraDir = "/lib/modules/extra"
	guestTestDir  = "/tests"
	guestBinDir   = "/usr/bin"
)

const etcPasswd = `root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
`

const etcGroup = `root:x:0:
nobody:x:65534:
nogroup:x:65534:
`

const etcHosts = `127.0.0.1	localhost mhostvm
::1	localhost ip6-localhost ip6-loopback
`

// write writes the initramfs as an uncompressed newc cpio archive.
func (ir *initramfs) write(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := NewCPIOWriter(f)
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "run", "root", "var/tmp", guestExtraDir, guestTestDir} {
		perm := uint32(0o755)
		if d == "tmp" || d == "var/tmp" {
			perm = 0o1777
		}
		if err := w.Dir(d, perm); err != nil {
			return err
		}
	}
	if err := w.CharDev("dev/console", 0o600, 5, 1); err != nil {
		return err
	}
	if err := addHostFile(w, "init", ir.init, 0o755); err != nil {
		return err
	}

	// busybox and a link per applet, all in /bin.
	if err := addHostFile(w, "bin/busybox", ir.busybox, 0o755); err != nil {
		return err
	}
	applets, err := exec.Command(ir.busybox, "--list").Output()
	if err != nil {
		return fmt.Errorf("%s --list: %v", ir.busybox, err)
	}
	for _, a := range strings.Fields(string(applets)) {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		if err := w.Symlink("bin/"+a, "busybox"); err != nil {
			return err
		}
	}

	for name, contents := range map[string]string{"etc/passwd": etcPasswd, "etc/group": etcGroup, "etc/hosts": etcHosts} {
		if err := w.File(name, 0o644, []byte(contents)); err != nil {
			return err
		}
	}

	// The kernel's modules keep their paths, with a modules.dep covering
	// them, so busybox modprobe works in the shell.
	kdir := "lib/modules/" + ir.kernel.Version
	var dep strings.Builder
	for _, m := range ir.kernelModules {
		b, err := ir.kernel.ReadModule(m.Rel)
		if err != nil {
			return err
		}
		rel := uncompressedRel(m.Rel)
		if err := w.File(kdir+"/"+rel, 0o644, b); err != nil {
			return err
		}
		fmt.Fprintf(&dep, "%s:", rel)
		for _, d := range m.Deps {
			fmt.Fprintf(&dep, " %s", uncompressedRel(d))
		}
		dep.WriteString("\n")
	}
	if err := w.File(kdir+"/modules.dep", 0o644, []byte(dep.String())); err != nil {
		return err
	}
	for _, ko := range ir.ourModules {
		if err := addHostFile(w, guestExtraDir+"/"+filepath.Base(ko), ko, 0o644); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(ir.tests))
	for n := range ir.tests {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := addHostFile(w, guestTestDir+"/"+n, ir.tests[n], 0o755); err != nil {
			return err
		}
	}
	for _, p := range ir.programs {
		if err := addHostFile(w, guestBinDir+"/"+filepath.Base(p), p, 0o755); err != nil {
			return err
		}
	}
	files := make([]string, 0, len(ir.files))
	for g := range ir.files {
		files = append(files, g)
	}
	sort.Strings(files)
	for _, g := range files {
		if err := addHostFile(w, strings.TrimPrefix(g, "/"), ir.files[g], 0o644); err != nil {
			return err
		}
	}
	pj, err := json.MarshalIndent(ir.plan, "", "  ")
	if err != nil {
		return err
	}
	if err := w.File(plan.Path, 0o644, append(pj, '\n')); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return f.Close()
}

func addHostFile(w *CPIOWriter, name, hostPath string, perm uint32) error {
	b, err := os.ReadFile(hostPath)
	if err != nil {
		return err
	}
	return w.File(name, perm, b)
}
