package vm

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// builder runs the host-side builds in the repository.
type builder struct {
	repo  string
	goCmd string
	log   io.Writer // command lines and their output
}

func (b *builder) run(ctx context.Context, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = b.repo
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	fmt.Fprintf(b.log, "vm: %s%s %s\n", strings.Join(env, " ")+sepIf(env), name, strings.Join(args, " "))
	err := cmd.Run()
	if out.Len() > 0 {
		b.log.Write(out.Bytes())
	}
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.Bytes())
	}
	return nil
}

func sepIf(env []string) string {
	if len(env) > 0 {
		return " "
	}
	return ""
}

// staticEnv builds Go programs for the guest: static, amd64 Linux.
var staticEnv = []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"}

// module builds kmod/ against the kernel and returns every .ko under kmod/.
func (b *builder) module(ctx context.Context, k *Kernel) ([]string, error) {
	if err := BuildModule(ctx, b.repo, k, b.log); err != nil {
		return nil, err
	}
	var kos []string
	err := filepath.WalkDir(filepath.Join(b.repo, "kmod"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".ko") {
			kos = append(kos, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(kos) == 0 {
		return nil, fmt.Errorf("make -C kmod built no .ko files")
	}
	sort.Strings(kos)
	return kos, nil
}

// BuildModule builds kmod/ in repo against k: on this machine, or inside
// k's environment (trixie) with its compiler, the repository mounted
// there. The .ko files end up in kmod/ either way.
func BuildModule(ctx context.Context, repo string, k *Kernel, log io.Writer) error {
	if err := makeModule(ctx, repo, k, log); err != nil {
		return fmt.Errorf("building the kernel module for %s: %w", k.Version, err)
	}
	return nil
}

// CheckModule runs kmod's check target for k: the build from clean with
// W=1 and sparse, failing on any warning. Not sparse for a kernel of an
// environment of its own (the newest series): its headers use
// __typeof_unqual__, which Debian's sparse (0.6.4) predates.
func CheckModule(ctx context.Context, repo string, k *Kernel, log io.Writer) error {
	args := []string{"check"}
	if k.Root != "" {
		args = append(args, "SPARSE=0")
	}
	if err := makeModule(ctx, repo, k, log, args...); err != nil {
		return fmt.Errorf("checking the kernel module for %s: %w", k.Version, err)
	}
	return nil
}

// makeModule runs make in kmod/ for k, where BuildModule says, with
// these extra arguments.
func makeModule(ctx context.Context, repo string, k *Kernel, log io.Writer, extra ...string) error {
	args := append([]string{"make", "-C", "kmod", "KVER=" + k.Version, "KDIR=" + k.BuildDir}, extra...)
	if k.Root == "" {
		b := &builder{repo: repo, log: log}
		return b.run(ctx, nil, args[0], args[1:]...)
	}
	args[2] = trixieRepo + "/kmod"
	sys := &system{root: k.Root, binds: map[string]string{trixieRepo: repo}, log: log}
	return sys.run(ctx, nil, args...)
}

// goTest compiles a package's guest tests into dir/<base>.test.
func (b *builder) goTest(ctx context.Context, pkg, out string) error {
	return b.run(ctx, staticEnv, b.goCmd, "test", "-c", "-tags", "guest", "-ldflags=-s -w", "-o", out, pkg)
}

// programs builds the main packages matching patterns into dir; it
// returns the built files. Patterns matching nothing are not an error.
func (b *builder) programs(ctx context.Context, patterns []string, dir string) ([]string, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	args := append([]string{"list", "-e", "-f", `{{if eq .Name "main"}}{{.ImportPath}}{{end}}`}, patterns...)
	cmd := exec.CommandContext(ctx, b.goCmd, args...)
	cmd.Dir = b.repo
	cmd.Env = append(os.Environ(), staticEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %v: %v: %s", patterns, err, stderr.Bytes())
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	args = append([]string{"build", "-ldflags=-s -w", "-o", dir + "/"}, pkgs...)
	if err := b.run(ctx, staticEnv, b.goCmd, args...); err != nil {
		return nil, err
	}
	var files []string
	for _, p := range pkgs {
		files = append(files, filepath.Join(dir, p[strings.LastIndexByte(p, '/')+1:]))
	}
	return files, nil
}

// guestInit builds the guest's /init.
func (b *builder) guestInit(ctx context.Context, out string) error {
	return b.run(ctx, staticEnv, b.goCmd, "build", "-ldflags=-s -w", "-o", out, "./tests/vm/guestinit")
}

// FindRepo returns the repository root: the nearest directory upwards
// from dir that holds a go.mod of module github.com/mnet/mnet.
func FindRepo(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/mnet/mnet\n")) {
			return d, nil
		}
		if d == filepath.Dir(d) {
			return "", fmt.Errorf("no go.mod of github.com/mnet/mnet above %s", dir)
		}
	}
}

// moduleDepends lists the modules a .ko needs loaded first, from the
// "depends=" entry of its .modinfo section (what modprobe reads through
// modules.dep).
func moduleDepends(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("%s: no .modinfo section", path)
	}
	b, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var deps []string
	for _, kv := range strings.Split(string(b), "\x00") {
		if v, ok := strings.CutPrefix(kv, "depends="); ok && v != "" {
			deps = append(deps, strings.Split(v, ",")...)
		}
	}
	return deps, nil
}
