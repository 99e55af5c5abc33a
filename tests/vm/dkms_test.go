//go:build vm

package vm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mnet/mnet/internal/testenv"
)

// TestDKMS builds mhost and its protocol modules with DKMS for each
// lane's kernel, as a machine with mhost installed through DKMS does when
// it gets a new kernel: dkms build only, never install or load. Kernels
// installed here build here; the trixie environment's build inside it,
// with its own dkms and compiler; the debug kernel's build tree is named
// with --kernelsourcedir. The DKMS trees live under out/dkms, not in
// /var/lib/dkms and /usr/src.
//
// dkms signs what it builds and, the first time on a machine, makes
// itself a signing key (/var/lib/dkms/mok.key), as it would for any
// module installed with it.
func TestDKMS(t *testing.T) {
	repo, err := FindRepo(".")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, lr := range selectedLanes(t) {
		lr.resolve()
		if lr.kernel != nil && seen[lr.kernel.Version] {
			continue // the selinux lane's kernel is the 6.1 lane's
		}
		t.Run(lr.label(), func(t *testing.T) {
			if lr.err != nil {
				t.Fatal(lr.err)
			}
			seen[lr.kernel.Version] = true
			dkmsBuild(t, repo, lr.kernel)
		})
	}
}

func dkmsBuild(t *testing.T, repo string, k *Kernel) {
	sys := &system{log: testLog{t}}
	if k.Root != "" {
		sys = &system{root: k.Root, binds: map[string]string{trixieRepo: repo}, log: testLog{t}}
	}
	if _, err := sys.output(context.Background(), "sh", "-c", "command -v dkms"); err != nil {
		testenv.Skipf(t, "no dkms%s: make deps (or make kernels, for an environment) installs it: %v", sys.where(), err)
	}
	work := filepath.Join(repo, "out", "dkms", k.Version)
	if err := os.RemoveAll(work); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"src", "tree"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(filepath.Join(repo, "tests/vm/dkms.sh"), "stage", filepath.Join(work, "src")).Output()
	if err != nil {
		t.Fatalf("dkms.sh stage: %v", err)
	}
	ver := strings.TrimSpace(string(out))

	// Paths as the build sees them.
	inside := work
	if k.Root != "" {
		inside = trixieRepo + "/out/dkms/" + k.Version
	}
	args := []string{"dkms", "build", "-m", "mhost", "-v", ver, "-k", k.Version,
		"--sourcetree", inside + "/src", "--dkmstree", inside + "/tree"}
	if k.BuildDir != filepath.Join(modulesRoot, k.Version, "build") {
		args = append(args, "--kernelsourcedir", k.BuildDir)
	}
	if err := sys.run(context.Background(), nil, args...); err != nil {
		logs, _ := filepath.Glob(filepath.Join(work, "tree/mhost", ver, "build/make.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Logf("%s:\n%s", l, b)
		}
		t.Fatalf("dkms build for %s: %v", k.Version, firstErrors(err.Error()))
	}

	// What a dkms install would put in place: each module, for this
	// kernel (vermagic), possibly compressed as the kernel's own are.
	modDir := filepath.Join(work, "tree/mhost", ver, k.Version, "x86_64/module")
	for _, m := range []string{"mhost", "mhost_testproto", "mhost_otherproto"} {
		files, _ := filepath.Glob(filepath.Join(modDir, m+".ko*"))
		if len(files) != 1 {
			t.Errorf("%s: %d files %s.ko* in %s, want 1", k.Version, len(files), m, modDir)
			continue
		}
		path := files[0]
		if k.Root != "" {
			path = inside + strings.TrimPrefix(path, work)
		}
		vm, err := sys.output(context.Background(), "modinfo", "-F", "vermagic", path)
		if err != nil {
			t.Errorf("%s: %v", m, err)
			continue
		}
		if !strings.HasPrefix(string(vm), k.Version+" ") {
			t.Errorf("%s: vermagic %q, want it for %s", m, strings.TrimSpace(string(vm)), k.Version)
		}
	}
}
