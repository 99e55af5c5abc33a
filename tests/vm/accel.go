package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// AccelEnv forces the accelerator: "kvm" or "tcg". Unset (or "auto"), a
// KVM guest must first prove that it boots.
const AccelEnv = "MHOST_VM_ACCEL"

// probeTimeout bounds the KVM probe. A working KVM brings a Debian
// kernel to its init in one to three seconds; a broken one is seen
// hanging right after the decompressor, and would hang just as long.
const probeTimeout = 20 * time.Second

// probeMarker is what the probe guest's init prints.
const probeMarker = "MHOST-KVM-PROBE-OK"

// AccelChoice is the accelerator the VMs of this process run on, and why.
type AccelChoice struct {
	Accel  string // "kvm" or "tcg"
	Reason string // one line, for people
	Cached bool   // taken from the per-machine cache, not probed now
}

func (c AccelChoice) String() string {
	s := fmt.Sprintf("vm: accelerator %s: %s", c.Accel, c.Reason)
	if c.Cached {
		s += " (cached for this boot of the machine)"
	}
	return s
}

// accelDeps are what the decision looks at, replaceable in tests.
type accelDeps struct {
	env     string       // $MHOST_VM_ACCEL
	kvmOpen func() error // can /dev/kvm be opened read-write?
	probe   func() error // boot a KVM guest to its init; nil error if it got there
	cache   func() (string, bool)
	store   func(string)
}

// decideAccel picks the accelerator. KVM is used when forced and proven,
// or when not forced and proven; a KVM that cannot be proven falls back
// to TCG, unless it was forced, which is an error.
func decideAccel(d accelDeps) (AccelChoice, error) {
	switch strings.ToLower(strings.TrimSpace(d.env)) {
	case "tcg":
		return AccelChoice{Accel: "tcg", Reason: AccelEnv + "=tcg"}, nil
	case "kvm":
		if err := d.kvmOpen(); err != nil {
			return AccelChoice{}, fmt.Errorf("%s=kvm, but /dev/kvm cannot be used: %v", AccelEnv, err)
		}
		if err := d.probe(); err != nil {
			return AccelChoice{}, fmt.Errorf("%s=kvm, but a KVM guest does not boot here: %v (unset %s, or set it to tcg, to run under TCG)", AccelEnv, err, AccelEnv)
		}
		return AccelChoice{Accel: "kvm", Reason: AccelEnv + "=kvm, and a KVM guest reached its init"}, nil
	case "", "auto":
	default:
		return AccelChoice{}, fmt.Errorf("%s=%q: want kvm, tcg or auto", AccelEnv, d.env)
	}
	if err := d.kvmOpen(); err != nil {
		return AccelChoice{Accel: "tcg", Reason: fmt.Sprintf("no usable /dev/kvm (%v)", err)}, nil
	}
	if d.cache != nil {
		if v, ok := d.cache(); ok {
			accel, reason, _ := strings.Cut(v, " ")
			if accel == "kvm" || accel == "tcg" {
				return AccelChoice{Accel: accel, Reason: reason, Cached: true}, nil
			}
		}
	}
	c := AccelChoice{Accel: "kvm", Reason: "a KVM guest reached its init"}
	if err := d.probe(); err != nil {
		c = AccelChoice{Accel: "tcg", Reason: fmt.Sprintf("/dev/kvm opens but a KVM guest does not boot: %v", err)}
	}
	if d.store != nil {
		d.store(c.Accel + " " + c.Reason)
	}
	return c, nil
}

var (
	accelOnce   sync.Once
	accelChoice AccelChoice
	accelErr    error
)

// ChooseAccel decides, once per process, which accelerator the VMs run
// on, and prints the decision once on stderr. The probe, if one is
// needed, boots image. See decideAccel.
func ChooseAccel(image string) (AccelChoice, error) {
	accelOnce.Do(func() {
		d := accelDeps{
			env:     os.Getenv(AccelEnv),
			kvmOpen: openKVM,
			probe:   func() error { return probeKVM(context.Background(), image, probeTimeout) },
		}
		if key, path := accelCacheKey(); key != "" {
			d.cache = func() (string, bool) {
				b, err := os.ReadFile(path)
				if err != nil {
					return "", false
				}
				k, v, ok := strings.Cut(strings.TrimSpace(string(b)), "\n")
				return v, ok && k == key
			}
			d.store = func(v string) {
				if os.MkdirAll(filepath.Dir(path), 0o755) == nil {
					os.WriteFile(path, []byte(key+"\n"+v+"\n"), 0o644)
				}
			}
		}
		accelChoice, accelErr = decideAccel(d)
		if accelErr == nil {
			fmt.Fprintln(os.Stderr, accelChoice)
		}
	})
	return accelChoice, accelErr
}

func openKVM() error {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// accelCacheKey names what the probe's answer depends on: this boot of
// the host (its kernel, KVM module and CPU) and the QEMU binary. It
// returns the key and the cache file, or "" when there is no cache.
func accelCacheKey() (key, path string) {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", ""
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return "", ""
	}
	st, err := os.Stat(qemu)
	if err != nil {
		return "", ""
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", ""
	}
	key = fmt.Sprintf("boot %s qemu %s %d %d", strings.TrimSpace(string(boot)), qemu, st.Size(), st.ModTime().Unix())
	return key, filepath.Join(dir, "mhostvm", "accel")
}

// probeKVM boots image under KVM with a one-line init and reports
// whether that init ran within timeout.
func probeKVM(ctx context.Context, image string, timeout time.Duration) error {
	work, err := os.MkdirTemp("", "mhostvm-kvmprobe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	initrd := filepath.Join(work, "probe.cpio")
	if err := writeProbeInitramfs(initrd, "/bin/busybox"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64",
		"-nodefaults", "-nographic", "-no-reboot",
		"-machine", "q35", "-cpu", "host", "-accel", "kvm", "-smp", "1", "-m", "256M",
		"-kernel", image, "-initrd", initrd,
		"-append", "console=ttyS0 quiet panic=-1",
		"-serial", "stdio")
	cmd.WaitDelay = 2 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if bytes.Contains(out.Bytes(), []byte(probeMarker)) {
		return nil
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("the guest did not reach its init within %v", timeout)
	}
	return fmt.Errorf("qemu: %v: %s", err, lastLine(out.String()))
}

// writeProbeInitramfs writes an initramfs whose init prints probeMarker
// and powers off.
func writeProbeInitramfs(path, busybox string) error {
	if err := checkStatic(busybox); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := NewCPIOWriter(f)
	for _, d := range []string{"bin", "dev"} {
		if err := w.Dir(d, 0o755); err != nil {
			return err
		}
	}
	if err := w.CharDev("dev/console", 0o600, 5, 1); err != nil {
		return err
	}
	if err := addHostFile(w, "bin/busybox", busybox, 0o755); err != nil {
		return err
	}
	script := "#!/bin/busybox sh\n/bin/busybox echo " + probeMarker + "\n/bin/busybox poweroff -f\n"
	if err := w.File("init", 0o755, []byte(script)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return f.Close()
}

// lastLine is the last non-empty line of s (QEMU's own complaint).
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return "no output"
}
