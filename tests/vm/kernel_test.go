package vm

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestVersionLess(t *testing.T) {
	vers := []string{"6.1.0-10-amd64", "6.1.0-9-amd64", "5.10.0-28-amd64", "6.1.0-56-amd64", "6.12.9+bpo-amd64"}
	sort.Slice(vers, func(i, j int) bool { return versionLess(vers[i], vers[j]) })
	want := []string{"5.10.0-28-amd64", "6.1.0-9-amd64", "6.1.0-10-amd64", "6.1.0-56-amd64", "6.12.9+bpo-amd64"}
	if !reflect.DeepEqual(vers, want) {
		t.Errorf("sorted %v, want %v", vers, want)
	}
}

// fakeKernels lays out /lib/modules and /boot under a temporary directory.
func fakeKernels(t *testing.T, withHeaders, withImage []string) {
	t.Helper()
	root := t.TempDir()
	oldMods, oldBoot := modulesRoot, bootDir
	modulesRoot, bootDir = filepath.Join(root, "lib/modules"), filepath.Join(root, "boot")
	t.Cleanup(func() { modulesRoot, bootDir = oldMods, oldBoot })
	write := func(path, s string) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range withHeaders {
		write(filepath.Join(modulesRoot, v, "build/Makefile"), "")
	}
	for _, v := range withImage {
		write(filepath.Join(bootDir, "vmlinuz-"+v), "")
		os.MkdirAll(filepath.Join(modulesRoot, v), 0o755)
	}
	write(filepath.Join(modulesRoot, "6.1.0-9-amd64/modules.dep"), `kernel/drivers/net/veth.ko:
kernel/net/ipv6/ip6_udp_tunnel.ko:
kernel/drivers/net/vxlan/vxlan.ko.xz: kernel/net/ipv6/ip6_udp_tunnel.ko kernel/net/ipv4/udp_tunnel.ko
kernel/net/ipv4/udp_tunnel.ko:
kernel/drivers/net/dummy.ko:
`)
	write(filepath.Join(modulesRoot, "6.1.0-9-amd64/modules.builtin"), "kernel/net/ipv6/ipv6.ko\n")
}

func TestFindKernel(t *testing.T) {
	t.Setenv("MHOST_KVER", "")
	// -56 has no headers, -10 no image: -9 is the newest usable.
	fakeKernels(t, []string{"6.1.0-9-amd64", "6.1.0-10-amd64"}, []string{"6.1.0-9-amd64", "6.1.0-56-amd64"})
	k, err := FindKernel("")
	if err != nil {
		t.Fatal(err)
	}
	if k.Version != "6.1.0-9-amd64" || k.Image != filepath.Join(bootDir, "vmlinuz-6.1.0-9-amd64") {
		t.Errorf("got %+v", k)
	}
	if _, err := FindKernel("6.1.0-56-amd64"); err == nil || !strings.Contains(err.Error(), "make deps") {
		t.Errorf("explicit kernel without headers: %v", err)
	}
	t.Setenv("MHOST_KVER", "6.1.0-10-amd64")
	if _, err := FindKernel(""); err == nil || !strings.Contains(err.Error(), "no image") {
		t.Errorf("MHOST_KVER without image: %v", err)
	}
}

func TestFindKernelNone(t *testing.T) {
	t.Setenv("MHOST_KVER", "")
	fakeKernels(t, nil, nil)
	os.RemoveAll(modulesRoot)
	_, err := FindKernel("")
	if err == nil || !strings.Contains(err.Error(), "make deps") || !strings.Contains(err.Error(), "linux-image-amd64") {
		t.Errorf("got %v", err)
	}
}

func TestResolveModules(t *testing.T) {
	fakeKernels(t, []string{"6.1.0-9-amd64"}, []string{"6.1.0-9-amd64"})
	k, err := FindKernel("6.1.0-9-amd64")
	if err != nil {
		t.Fatal(err)
	}
	mods, err := k.ResolveModules([]string{"veth", "vxlan", "ipv6", "udp-tunnel"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mods {
		names = append(names, m.Name)
	}
	if got, want := strings.Join(names, " "), "veth ip6_udp_tunnel udp_tunnel vxlan"; got != want {
		t.Errorf("load order %q, want %q", got, want)
	}
	if got := uncompressedRel(mods[3].Rel); got != "kernel/drivers/net/vxlan/vxlan.ko" {
		t.Errorf("uncompressedRel = %q", got)
	}
	if _, err := k.ResolveModules([]string{"nosuch"}); err == nil {
		t.Error("unknown module resolved")
	}
}
