package vm

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Kernel is an installed kernel the VM can boot and the module can be
// built against.
type Kernel struct {
	Version string // e.g. 6.1.0-56-amd64
	Image   string // /boot/vmlinuz-<Version>
	ModDir  string // /lib/modules/<Version>
	// BuildDir is the kernel build tree (headers) the module builds
	// against, as seen by the build: inside Root when Root is set.
	BuildDir string
	// Root, if set, is the Debian environment (trixie) the kernel is
	// installed in; its module is built inside it, with its compiler.
	Root string
}

// Where installed kernels live; variables so tests can point elsewhere.
var (
	modulesRoot = "/lib/modules"
	bootDir     = "/boot"
)

const depsHint = "run `make deps` (as root) or apt-get install linux-image-amd64 linux-headers-amd64"

// FindKernel picks the kernel to boot: kver if set, else $MHOST_KVER, else
// the newest version in /lib/modules that has both headers (build/Makefile)
// and an image in /boot.
func FindKernel(kver string) (*Kernel, error) {
	if kver == "" {
		kver = os.Getenv("MHOST_KVER")
	}
	if kver != "" {
		k := installedKernel("", kver)
		if err := k.check(); err != nil {
			return nil, err
		}
		return k, nil
	}
	ents, err := os.ReadDir(modulesRoot)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var vers []string
	for _, e := range ents {
		vers = append(vers, e.Name())
	}
	sort.Slice(vers, func(i, j int) bool { return versionLess(vers[j], vers[i]) })
	var seen []string
	for _, v := range vers {
		k := installedKernel("", v)
		if err := k.check(); err == nil {
			return k, nil
		}
		seen = append(seen, v)
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("no kernel in %s: %s", modulesRoot, depsHint)
	}
	return nil, fmt.Errorf("no kernel in %s has both headers (build/Makefile) and %s/vmlinuz-<version> (found %s): %s",
		modulesRoot, bootDir, strings.Join(seen, ", "), depsHint)
}

func (k *Kernel) check() error {
	if _, err := os.Stat(filepath.Join(k.HostBuildDir(), "Makefile")); err != nil {
		return fmt.Errorf("kernel %s: no headers in %s: %s", k.Version, k.HostBuildDir(), depsHint)
	}
	f, err := os.Open(k.Image)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("kernel %s: cannot read %s (Debian makes it root-only): run as root or chmod a+r it", k.Version, k.Image)
		}
		return fmt.Errorf("kernel %s: no image %s: %s", k.Version, k.Image, depsHint)
	}
	f.Close()
	return nil
}

// HostBuildDir is BuildDir as seen from this machine.
func (k *Kernel) HostBuildDir() string {
	if k.Root == "" {
		return k.BuildDir
	}
	return resolveIn(k.Root, k.BuildDir)
}

// resolveIn follows the symbolic links of path inside root as a chroot
// would: absolute link targets start at root.
func resolveIn(root, path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	cur := "/"
	for hops := 0; len(parts) > 0 && hops < 64; {
		p := parts[0]
		parts = parts[1:]
		next := filepath.Join(cur, p)
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			cur = next
			continue
		}
		hops++
		if !filepath.IsAbs(target) {
			target = filepath.Join(cur, target)
		}
		parts = append(strings.Split(strings.Trim(filepath.Clean(target), "/"), "/"), parts...)
		cur = "/"
	}
	return filepath.Join(root, cur)
}

// versionLess orders kernel versions by their numeric fields
// ("6.1.0-9" < "6.1.0-10").
func versionLess(a, b string) bool {
	split := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '-' || r == '+' || r == '_' })
	}
	fa, fb := split(a), split(b)
	for i := 0; i < len(fa) && i < len(fb); i++ {
		na, ea := strconv.Atoi(fa[i])
		nb, eb := strconv.Atoi(fb[i])
		switch {
		case ea == nil && eb == nil && na != nb:
			return na < nb
		case (ea != nil || eb != nil) && fa[i] != fb[i]:
			return fa[i] < fb[i]
		}
	}
	return len(fa) < len(fb)
}

// CheckHostTools fails with a clear hint when something the VM run needs
// is missing on the host.
func CheckHostTools(busybox string) error {
	var problems []string
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		problems = append(problems, "qemu-system-x86_64 not found: run `make deps` or apt-get install qemu-system-x86")
	}
	if err := checkStatic(busybox); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("busybox %s: %v: run `make deps` or apt-get install busybox-static", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: the VM needs apt-get install busybox-static", path)
		}
	}
	return nil
}

// KernelModule is a module file from the kernel's own tree.
type KernelModule struct {
	Name string // as in /sys/module
	Rel  string // path relative to /lib/modules/<ver>, as in modules.dep
	Deps []string
}

// modName is the kernel's name for a module file.
func modName(path string) string {
	base := filepath.Base(path)
	base, _, _ = strings.Cut(base, ".ko")
	return strings.ReplaceAll(base, "-", "_")
}

// ResolveModules returns the modules named (with their dependencies from
// modules.dep) in load order, dependencies first. Built-in modules are
// left out.
func (k *Kernel) ResolveModules(names []string) ([]KernelModule, error) {
	deps, err := readModulesDep(filepath.Join(k.ModDir, "modules.dep"))
	if err != nil {
		return nil, err
	}
	builtin := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(k.ModDir, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(b)) {
			builtin[modName(l)] = true
		}
	}
	byName := map[string]string{}
	for rel := range deps {
		byName[modName(rel)] = rel
	}
	var out []KernelModule
	done := map[string]bool{}
	var visit func(rel string, chain []string) error
	visit = func(rel string, chain []string) error {
		if done[rel] {
			return nil
		}
		if len(chain) > 64 {
			return fmt.Errorf("modules.dep: dependency loop: %v", chain)
		}
		for _, d := range deps[rel] {
			if err := visit(d, append(chain, rel)); err != nil {
				return err
			}
		}
		done[rel] = true
		out = append(out, KernelModule{Name: modName(rel), Rel: rel, Deps: deps[rel]})
		return nil
	}
	for _, n := range names {
		n = strings.ReplaceAll(n, "-", "_")
		rel, ok := byName[n]
		if !ok {
			if builtin[n] {
				continue
			}
			return nil, fmt.Errorf("kernel %s has no module %q (not in modules.dep or modules.builtin)", k.Version, n)
		}
		if err := visit(rel, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// HasModule reports whether the kernel has a module, loadable or built in.
func (k *Kernel) HasModule(name string) bool {
	_, err := k.ResolveModules([]string{name})
	return err == nil
}

func readModulesDep(path string) (map[string][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%v: run depmod or reinstall the kernel package", err)
	}
	defer f.Close()
	deps := map[string][]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		mod, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		deps[mod] = strings.Fields(rest)
	}
	return deps, sc.Err()
}

// ReadModule returns a kernel module's contents, decompressed when it is a
// .ko.xz, .ko.zst or .ko.gz (with the xz, zstd or gzip tool).
func (k *Kernel) ReadModule(rel string) ([]byte, error) {
	path := filepath.Join(k.ModDir, rel)
	var tool string
	switch {
	case strings.HasSuffix(rel, ".ko"):
		return os.ReadFile(path)
	case strings.HasSuffix(rel, ".ko.xz"):
		tool = "xz"
	case strings.HasSuffix(rel, ".ko.zst"):
		tool = "zstd"
	case strings.HasSuffix(rel, ".ko.gz"):
		tool = "gzip"
	default:
		return nil, fmt.Errorf("%s: unknown module file type", path)
	}
	out, err := exec.Command(tool, "-dc", path).Output()
	if err != nil {
		return nil, fmt.Errorf("decompressing %s with %s: %w", path, tool, err)
	}
	return out, nil
}

// uncompressedRel is the name a module gets in the initramfs.
func uncompressedRel(rel string) string {
	i := strings.LastIndex(rel, ".ko")
	return rel[:i+3]
}
