package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The newest kernel series is in trixie-backports, and its headers are
// built for trixie's gcc-14 and C library: bookworm can boot the image but
// not build a module against the headers. So setup debootstraps a minimal
// trixie into the machine-wide cache (CacheDir()/trixie), installs the
// kernel and its headers there, and the module is built inside it
// (system.command: a chroot in a mount namespace of its own, the
// repository bind-mounted at trixieRepo).

const (
	trixieSuite = "trixie"
	// trixieRepo is where the repository appears inside the environment.
	trixieRepo = "/mnt/mhost"
	// trixieStamp marks a finished bootstrap.
	trixieStamp = ".mhost-bootstrapped"
)

// trixiePackages are what building (and DKMS-building) the module needs
// besides the headers, which pull in gcc-14.
var trixiePackages = []string{"make", "kmod", "dkms", "xz-utils", "zstd"}

func trixieRoot() string { return filepath.Join(CacheDir(), "trixie") }

// trixieSystem runs commands in the environment, with the repository
// visible at trixieRepo when repo is set.
func trixieSystem(repo string, log io.Writer) *system {
	s := &system{root: trixieRoot(), log: log}
	if repo != "" {
		s.binds = map[string]string{trixieRepo: repo}
	}
	return s
}

// lockFile takes an exclusive lock on path, waiting for another holder
// (a second `make test` on the machine) and saying so.
func lockFile(path string, log io.Writer) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(log, "setup: waiting for %s (another setup holds it)\n", path)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, err
		}
	}
	return func() { f.Close() }, nil
}

// setupTrixie creates the environment if needed, refreshes its package
// lists once a day, and installs the newest kernel with headers there.
func setupTrixie(ctx context.Context, log io.Writer) error {
	if os.Geteuid() != 0 {
		return errors.New("the trixie environment is made with debootstrap and chroot: run as root")
	}
	root := trixieRoot()
	unlock, err := lockFile(root+".lock", log)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(root, trixieStamp)); err != nil {
		if err := bootstrapTrixie(ctx, root, log); err != nil {
			return err
		}
	}
	sys := trixieSystem("", log)
	if listsStale(root, listsMaxAge) {
		if err := sys.run(ctx, aptEnv, aptGet("update")...); err != nil {
			return err
		}
	}
	kp, err := newestKernel(ctx, sys, "")
	if err != nil {
		return err
	}
	want := append([]string{kp.Headers, kp.Image}, trixiePackages...)
	missing, err := notInstalled(ctx, sys, want)
	if err != nil {
		return err
	}
	if len(missing) == 0 {
		fmt.Fprintf(log, "setup: trixie environment %s: kernel %s installed\n", root, kp.Version)
		return nil
	}
	fmt.Fprintf(log, "setup: trixie environment %s: installing %s\n", root, strings.Join(missing, " "))
	// Backports' kernels need backports' versions of what they depend on
	// (linux-base); -t makes apt take them. Everything else still comes
	// from trixie.
	install := append([]string{"-t", trixieSuite + "-backports", "install"}, missing...)
	if err := sys.run(ctx, aptEnv, aptGet(install...)...); err != nil {
		return err
	}
	return purgeOtherKernels(ctx, sys, kp)
}

// purgeOtherKernels removes the kernels the environment had before kp:
// only the newest is tested, and each takes some 400 MB.
func purgeOtherKernels(ctx context.Context, sys *system, kp kernelPackages) error {
	out, err := sys.output(ctx, "dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\n", "linux-image-*", "linux-headers-*")
	if err != nil {
		return err
	}
	keep := kernelVersionRE("")
	var old []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(f[1], "i") {
			continue
		}
		v := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(f[0], "linux-image-"), "linux-headers-"), "-unsigned")
		if keep.MatchString(v) && v != kp.Version {
			old = append(old, f[0])
		}
	}
	if len(old) == 0 {
		return nil
	}
	return sys.run(ctx, aptEnv, aptGet(append([]string{"purge", "--autoremove"}, old...)...)...)
}

// bootstrapTrixie makes a minimal trixie in root: debootstrap into a new
// directory, apt pointed at the same archive as the host with the host's
// fetch settings, then renamed into place.
func bootstrapTrixie(ctx context.Context, root string, log io.Writer) error {
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return errors.New("debootstrap not found: run `make deps` or apt-get install debootstrap")
	}
	mirror := debianMirror(hostSourcesFile)
	tmp := root + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	start := time.Now()
	fmt.Fprintf(log, "setup: debootstrap %s from %s into %s (a few minutes, once per machine)\n", trixieSuite, mirror, tmp)
	host := &system{log: log}
	if err := host.run(ctx, nil, "debootstrap", "--variant=minbase", "--include=debian-archive-keyring",
		trixieSuite, tmp, mirror); err != nil {
		return err
	}
	sources := sourcesStanza(mirror, trixieSuite, trixieSuite+"-updates", trixieSuite+"-backports")
	if err := os.WriteFile(filepath.Join(tmp, "etc/apt/sources.list.d/debian.sources"), []byte(sources), 0o644); err != nil {
		return err
	}
	os.Remove(filepath.Join(tmp, "etc/apt/sources.list"))
	// Fetch as the host does (its proxy, its view of Release validity).
	acq, err := host.output(ctx, "apt-config", "dump", "Acquire")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "etc/apt/apt.conf.d/00mhost-host-acquire"), acq, 0o644); err != nil {
		return err
	}
	// The kernel's initramfs is never used (the VM gets the harness's):
	// skip building one on every kernel install.
	sys := &system{root: tmp, log: log}
	if err := sys.run(ctx, nil, "dpkg-divert", "--local", "--rename", "--add", "/usr/sbin/update-initramfs"); err != nil {
		return err
	}
	if err := os.Symlink("/bin/true", filepath.Join(tmp, "usr/sbin/update-initramfs")); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, trixieStamp), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(root); err != nil {
		return err
	}
	if err := os.Rename(tmp, root); err != nil {
		return err
	}
	fmt.Fprintf(log, "setup: trixie environment ready in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// notInstalled returns the packages of want that dpkg does not have
// installed (on the host or in the environment).
func notInstalled(ctx context.Context, sys *system, want []string) ([]string, error) {
	var missing []string
	for _, p := range want {
		out, err := sys.command(ctx, nil, "dpkg-query", "-W", "-f=${Status}", p).Output()
		if err != nil || strings.TrimSpace(string(out)) != "install ok installed" {
			missing = append(missing, p)
		}
	}
	return missing, nil
}
