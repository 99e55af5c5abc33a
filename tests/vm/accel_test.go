package vm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mnet/mnet/internal/testenv"
)

// TestDecideAccel covers the accelerator decision: a /dev/kvm that cannot
// be opened, a KVM whose guest aborts, one that hangs, one that works,
// the cache, and the override both ways.
func TestDecideAccel(t *testing.T) {
	var (
		noDev = errors.New("open /dev/kvm: no such file or directory")
		abort = errors.New("qemu: exit status 134: qemu-system-x86_64: ../../accel/kvm/kvm-all.c:1725: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.")
		hang  = errors.New("the guest did not reach its init within 20s")
	)
	for _, tc := range []struct {
		name      string
		env       string
		open      error
		probe     error
		cached    string // cache content; "" = empty cache
		want      string // accel; "" = an error
		wantIn    string // in the reason or the error
		probed    bool   // the probe must run
		stored    string // what is stored; "" = nothing
		wantCache bool
	}{
		{name: "no device", open: noDev, want: "tcg", wantIn: "no usable /dev/kvm"},
		{name: "kvm aborts", probe: abort, want: "tcg", wantIn: "kvm_buf_set_msrs", probed: true, stored: "tcg"},
		{name: "kvm hangs", probe: hang, want: "tcg", wantIn: "did not reach its init", probed: true, stored: "tcg"},
		{name: "kvm works", want: "kvm", wantIn: "reached its init", probed: true, stored: "kvm"},
		{name: "cached tcg", probe: nil, cached: "tcg earlier probe failed", want: "tcg", wantIn: "earlier probe failed", wantCache: true},
		{name: "cached kvm", cached: "kvm a KVM guest reached its init", want: "kvm", wantCache: true},
		{name: "garbage cache", cached: "bogus", want: "kvm", probed: true, stored: "kvm"},
		{name: "forced tcg", env: "tcg", probe: abort, want: "tcg", wantIn: AccelEnv + "=tcg"},
		{name: "forced tcg, upper case", env: "TCG", want: "tcg"},
		{name: "forced kvm works", env: "kvm", want: "kvm", probed: true},
		{name: "forced kvm aborts", env: "kvm", probe: abort, wantIn: "does not boot here", probed: true},
		{name: "forced kvm hangs", env: "kvm", probe: hang, wantIn: "did not reach its init", probed: true},
		{name: "forced kvm ignores a cached kvm", env: "kvm", probe: hang, cached: "kvm ok", wantIn: "does not boot here", probed: true},
		{name: "forced kvm, no device", env: "kvm", open: noDev, wantIn: "/dev/kvm cannot be used"},
		{name: "auto", env: "auto", probe: hang, want: "tcg", probed: true, stored: "tcg"},
		{name: "bad value", env: "qemu", wantIn: "want kvm, tcg or auto"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var probed bool
			var stored string
			d := accelDeps{
				env:     tc.env,
				kvmOpen: func() error { return tc.open },
				probe:   func() error { probed = true; return tc.probe },
				cache:   func() (string, bool) { return tc.cached, tc.cached != "" },
				store:   func(v string) { stored = v },
			}
			c, err := decideAccel(d)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("got %+v, want an error", c)
				}
				if !strings.Contains(err.Error(), tc.wantIn) {
					t.Errorf("error %q does not say %q", err, tc.wantIn)
				}
			} else {
				if err != nil {
					t.Fatalf("error %v, want %s", err, tc.want)
				}
				if c.Accel != tc.want {
					t.Errorf("accel %s (%s), want %s", c.Accel, c.Reason, tc.want)
				}
				if !strings.Contains(c.Reason, tc.wantIn) {
					t.Errorf("reason %q does not say %q", c.Reason, tc.wantIn)
				}
				if c.Cached != tc.wantCache {
					t.Errorf("cached %v, want %v", c.Cached, tc.wantCache)
				}
				if line := c.String(); strings.Contains(line, "\n") || !strings.Contains(line, c.Accel) {
					t.Errorf("announcement %q is not one line naming %s", line, c.Accel)
				}
			}
			if probed != tc.probed {
				t.Errorf("probe ran: %v, want %v", probed, tc.probed)
			}
			if acc, _, _ := strings.Cut(stored, " "); acc != tc.stored {
				t.Errorf("stored %q, want accel %q", stored, tc.stored)
			}
		})
	}
}

// TestProbeInitramfs checks the probe guest's initramfs: a static
// busybox and an init that prints the marker and powers off.
func TestProbeInitramfs(t *testing.T) {
	if err := checkStatic("/bin/busybox"); err != nil {
		testenv.Skipf(t, "no static busybox here: %v", err)
	}
	path := filepath.Join(t.TempDir(), "probe.cpio")
	if err := writeProbeInitramfs(path, "/bin/busybox"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bin/busybox", "dev/console", "init", "echo " + probeMarker, "poweroff -f", "TRAILER!!!"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("initramfs lacks %q", want)
		}
	}
	if err := writeProbeInitramfs(path, "/nonexistent/busybox"); err == nil {
		t.Error("no error for a missing busybox")
	}
}

// TestProbeKVM runs the real probe against stand-ins for QEMU: one that
// aborts as QEMU 7.2 does on a KVM that refuses an MSR, one that hangs,
// one whose guest reaches its init.
func TestProbeKVM(t *testing.T) {
	if err := checkStatic("/bin/busybox"); err != nil {
		testenv.Skipf(t, "no static busybox here: %v", err)
	}
	for _, tc := range []struct {
		name, script string
		wantErr      string // "" = success
	}{
		{"aborts", `echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69" >&2
echo "qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3153: kvm_buf_set_msrs: Assertion failed." >&2
exit 134`, "kvm_buf_set_msrs"},
		{"hangs", `echo "Probing EDD (edd=off to disable)... ok"; exec sleep 60`, "did not reach its init within"},
		{"works", `echo "[    0.9] Run /init as init process"; echo ` + probeMarker + `; exit 0`, ""},
		{"wrong args", `echo "qemu-system-x86_64: -accel kvm: invalid accelerator kvm" >&2; exit 1`, "invalid accelerator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "qemu-system-x86_64"), []byte("#!/bin/sh\n"+tc.script+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
			start := time.Now()
			err := probeKVM(context.Background(), "/nonexistent/vmlinuz", 2*time.Second)
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("the probe took %v with a 2s bound", d)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("probe failed: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("probe error %v, want one saying %q", err, tc.wantErr)
			}
		})
	}
}
