package vm

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestKernelVersionRE(t *testing.T) {
	for _, tc := range []struct {
		series, v string
		want      bool
	}{
		{"6.1", "6.1.0-57-amd64", true},
		{"6.1", "6.1.0-57-rt-amd64", false},
		{"6.1", "6.1.0-57-cloud-amd64", false},
		{"6.1", "6.12.118+deb12-amd64", false},
		{"6.12", "6.12.118+deb12-amd64", true},
		{"6.12", "6.12.9+bpo-amd64", true},
		{"6.12", "6.12.107+deb12-cloud-amd64", false},
		{"6.12", "6.12.118+deb12-common", false},
		{"6.12", "6.1.0-57-amd64", false},
		{"", "7.3.4+deb13-amd64", true},
		{"", "6.12.117+deb13-amd64", true},
		{"", "7.3.4+deb13-amd64-dbg", false},
		{"", "7.3.4+deb13-common", false},
	} {
		if got := kernelVersionRE(tc.series).MatchString(tc.v); got != tc.want {
			t.Errorf("series %q, %s: match %v, want %v", tc.series, tc.v, got, tc.want)
		}
	}
}

func TestPickKernel(t *testing.T) {
	names := []string{
		"linux-headers-6.12.117+deb12-amd64", "linux-image-6.12.117+deb12-amd64",
		// The newest headers have no image yet: not a candidate.
		"linux-headers-6.12.119+deb12-amd64",
		// The newest with both, signed and unsigned.
		"linux-headers-6.12.118+deb12-amd64", "linux-image-6.12.118+deb12-amd64-unsigned", "linux-image-6.12.118+deb12-amd64",
		"linux-headers-6.12.118+deb12-cloud-amd64", "linux-image-6.12.118+deb12-cloud-amd64",
		"linux-image-6.12.118+deb12-amd64-dbg", "linux-headers-6.12.118+deb12-common",
		"linux-headers-6.1.0-57-amd64", "linux-image-6.1.0-57-amd64",
	}
	kp, ok := pickKernel("6.12", names, nil)
	want := kernelPackages{"6.12.118+deb12-amd64", "linux-headers-6.12.118+deb12-amd64", "linux-image-6.12.118+deb12-amd64"}
	if !ok || kp != want {
		t.Errorf("pickKernel = %+v %v, want %+v (the signed image)", kp, ok, want)
	}
	installed := func(p string) bool { return p == "linux-image-6.12.118+deb12-amd64-unsigned" }
	if kp, _ := pickKernel("6.12", names, installed); kp.Image != "linux-image-6.12.118+deb12-amd64-unsigned" {
		t.Errorf("with the unsigned image installed: %s, want it kept", kp.Image)
	}
	if kp, _ := pickKernel("", append(names, "linux-headers-7.3.4+deb13-amd64", "linux-image-7.3.4+deb13-amd64"), nil); kp.Version != "7.3.4+deb13-amd64" {
		t.Errorf("any series: %s, want 7.3.4+deb13-amd64", kp.Version)
	}
	if _, ok := pickKernel("6.19", names, nil); ok {
		t.Error("found a kernel of a series that is not there")
	}
}

func TestParseApt(t *testing.T) {
	search := parseAptCacheSearch([]byte("linux-headers-6.12.118+deb12-amd64 - Header files for Linux 6.12.118+deb12-amd64\nlinux-image-amd64 - Linux for 64-bit PCs (meta-package)\n"))
	if want := []string{"linux-headers-6.12.118+deb12-amd64", "linux-image-amd64"}; !reflect.DeepEqual(search, want) {
		t.Errorf("search: %q, want %q", search, want)
	}
	pol := parseAptPolicy([]byte(`linux-image-amd64:
  Installed: 6.1.192-2
  Candidate: 6.1.192-3
  Version table:
     6.1.192-3 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
linux-headers-7.3.4+deb13-amd64:
  Installed: (none)
  Candidate: 7.3.4-1~bpo13+1
linux-image-6.12.1-amd64:
  Installed: (none)
  Candidate: (none)
`))
	want := map[string][2]string{
		"linux-image-amd64":               {"6.1.192-2", "6.1.192-3"},
		"linux-headers-7.3.4+deb13-amd64": {"", "7.3.4-1~bpo13+1"},
		"linux-image-6.12.1-amd64":        {"", ""},
	}
	if !reflect.DeepEqual(pol, want) {
		t.Errorf("policy: %v, want %v", pol, want)
	}
}

func TestDebianMirror(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "debian.sources")
	os.WriteFile(f, []byte(`Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`), 0o644)
	if got := debianMirror(f); got != "http://mirror.example/debian" {
		t.Errorf("debianMirror = %q", got)
	}
	if got := debianMirror(filepath.Join(dir, "none")); got != "http://deb.debian.org/debian" {
		t.Errorf("without sources: %q", got)
	}
	s := sourcesStanza("http://mirror.example/debian", "trixie", "trixie-backports")
	if !strings.Contains(s, "Suites: trixie trixie-backports\n") || !strings.Contains(s, "Signed-By: "+archiveKeyring) {
		t.Errorf("stanza:\n%s", s)
	}
}

func TestListsStale(t *testing.T) {
	root := t.TempDir()
	lists := filepath.Join(root, "var/lib/apt/lists")
	sources := filepath.Join(root, "etc/apt/sources.list.d")
	os.MkdirAll(lists, 0o755)
	os.MkdirAll(sources, 0o755)
	if !listsStale(root, time.Hour) {
		t.Error("no lists: not stale")
	}
	old := time.Now().Add(-2 * time.Hour)
	os.WriteFile(filepath.Join(sources, "debian.sources"), nil, 0o644)
	os.Chtimes(filepath.Join(sources, "debian.sources"), old, old)
	rel := filepath.Join(lists, "deb.debian.org_debian_dists_trixie_InRelease")
	os.WriteFile(rel, nil, 0o644)
	if listsStale(root, time.Hour) {
		t.Error("fresh lists, older sources: stale")
	}
	os.Chtimes(rel, old, old)
	if !listsStale(root, time.Hour) {
		t.Error("lists two hours old: not stale")
	}
	now := time.Now()
	os.Chtimes(rel, now, now)
	later := now.Add(time.Minute)
	os.WriteFile(filepath.Join(sources, "backports.sources"), nil, 0o644)
	os.Chtimes(filepath.Join(sources, "backports.sources"), later, later)
	if !listsStale(root, time.Hour) {
		t.Error("a sources file newer than the lists: not stale")
	}
}

func TestSelectLanes(t *testing.T) {
	names := func(ls []*Lane) string {
		var n []string
		for _, l := range ls {
			n = append(n, l.Name)
		}
		return strings.Join(n, ",")
	}
	for _, tc := range []struct{ spec, want string }{
		{"", DefaultLanes},
		{"debug,6.1", "6.1,debug"}, // the order of Lanes
		{"all", strings.Join(LaneNames(), ",")},
		{" 6.12 , newest ", "6.12,newest"},
	} {
		ls, err := SelectLanes(tc.spec)
		if err != nil || names(ls) != tc.want {
			t.Errorf("SelectLanes(%q) = %s, %v; want %s", tc.spec, names(ls), err, tc.want)
		}
	}
	if _, err := SelectLanes("6.1,7.0"); err == nil || !strings.Contains(err.Error(), "newest") {
		t.Errorf("an unknown lane: %v, want an error listing the lanes", err)
	}
}

func TestLaneConfigure(t *testing.T) {
	var cfg Config
	LaneByName("selinux").Configure(&cfg)
	if !strings.Contains(cfg.Append, "security=selinux selinux=1") || cfg.Kmemleak {
		t.Errorf("selinux: %+v", cfg)
	}
	if strings.Join(cfg.TestArgs, " ") != "-test.skip="+FaultTestPattern {
		t.Errorf("selinux lane leaves out the fault tests with %q", cfg.TestArgs)
	}
	cfg = Config{}
	LaneByName("debug").Configure(&cfg)
	if !cfg.Kmemleak || len(cfg.TestArgs) != 0 || strings.Join(cfg.TestEnv, " ") != ScaleEnv+"="+DebugScale {
		t.Errorf("debug: %+v", cfg)
	}
	if l := LaneByName("selinux"); l.Label(&Kernel{Version: "6.1.0-57-amd64"}) != "6.1.0-57-amd64+selinux" {
		t.Errorf("selinux label %q", l.Label(&Kernel{Version: "6.1.0-57-amd64"}))
	}
}

// TestResolveIn follows links as a chroot would, so that a Debian
// environment's build link (absolute, into its own /usr/src) resolves
// inside it.
func TestResolveIn(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "usr/lib/modules/7.3.4+deb13-amd64"), 0o755)
	os.MkdirAll(filepath.Join(root, "usr/src/linux-headers-7.3.4+deb13-amd64"), 0o755)
	os.Symlink("usr/lib", filepath.Join(root, "lib"))
	os.Symlink("/usr/src/linux-headers-7.3.4+deb13-amd64", filepath.Join(root, "usr/lib/modules/7.3.4+deb13-amd64/build"))
	got := resolveIn(root, "/lib/modules/7.3.4+deb13-amd64/build")
	if want := filepath.Join(root, "usr/src/linux-headers-7.3.4+deb13-amd64"); got != want {
		t.Errorf("resolveIn = %s, want %s", got, want)
	}
	os.WriteFile(filepath.Join(root, "usr/src/linux-headers-7.3.4+deb13-amd64/Makefile"), nil, 0o644)
	os.MkdirAll(filepath.Join(root, "boot"), 0o755)
	os.WriteFile(filepath.Join(root, "boot/vmlinuz-7.3.4+deb13-amd64"), nil, 0o644)
	k, err := newestInstalled(root, "")
	if err != nil || k.Version != "7.3.4+deb13-amd64" || k.BuildDir != "/lib/modules/7.3.4+deb13-amd64/build" {
		t.Errorf("newestInstalled = %+v, %v", k, err)
	}
}
