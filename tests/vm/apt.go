package vm

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Debian's package names for a kernel of version V (e.g. 6.12.118+deb12-amd64):
// linux-headers-V, and linux-image-V (signed) or linux-image-V-unsigned.

// kernelVersionRE matches the versions of the generic amd64 flavour of a
// series ("6.1", "6.12"), or of every series when series is "": not the
// cloud or rt flavours, which boot elsewhere and have other options.
func kernelVersionRE(series string) *regexp.Regexp {
	s := `[0-9]+\.[0-9]+`
	if series != "" {
		s = regexp.QuoteMeta(series)
	}
	// 6.1.0-57-amd64, 6.12.118+deb12-amd64, 6.12.9+bpo-amd64, 7.3.4+deb13-amd64
	return regexp.MustCompile(`^` + s + `\.[0-9][^-]*(-[0-9]+)?-amd64$`)
}

// kernelPackages is one kernel version's package names.
type kernelPackages struct {
	Version string // uname -r
	Headers string // linux-headers-<Version>
	Image   string // linux-image-<Version> or linux-image-<Version>-unsigned
}

// pickKernel chooses, among package names, the newest version of a series
// that has both headers and an image. A signed image is preferred to the
// unsigned build of the same kernel unless the unsigned one is the one
// installed (the two conflict; swapping them gains nothing).
func pickKernel(series string, names []string, installed func(pkg string) bool) (kernelPackages, bool) {
	re := kernelVersionRE(series)
	headers := map[string]bool{}
	images := map[string][]string{}
	for _, n := range names {
		switch {
		case strings.HasPrefix(n, "linux-headers-"):
			if v := strings.TrimPrefix(n, "linux-headers-"); re.MatchString(v) {
				headers[v] = true
			}
		case strings.HasPrefix(n, "linux-image-"):
			v := strings.TrimPrefix(n, "linux-image-")
			v = strings.TrimSuffix(v, "-unsigned")
			if re.MatchString(v) {
				images[v] = append(images[v], n)
			}
		}
	}
	var vers []string
	for v := range headers {
		if len(images[v]) > 0 {
			vers = append(vers, v)
		}
	}
	if len(vers) == 0 {
		return kernelPackages{}, false
	}
	sort.Slice(vers, func(i, j int) bool { return versionLess(vers[i], vers[j]) })
	v := vers[len(vers)-1]
	imgs := images[v]
	sort.Slice(imgs, func(i, j int) bool {
		if a, b := installed != nil && installed(imgs[i]), installed != nil && installed(imgs[j]); a != b {
			return a
		}
		return len(imgs[i]) < len(imgs[j]) // signed: no -unsigned suffix
	})
	return kernelPackages{Version: v, Headers: "linux-headers-" + v, Image: imgs[0]}, true
}

// parseAptCacheSearch returns the package names of `apt-cache search`
// output ("name - description" lines).
func parseAptCacheSearch(out []byte) []string {
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if name, _, ok := strings.Cut(sc.Text(), " - "); ok && name != "" {
			names = append(names, strings.TrimSpace(name))
		}
	}
	return names
}

// parseAptPolicy returns each package's installed and candidate versions
// from `apt-cache policy pkg...` ("(none)" becomes "").
func parseAptPolicy(out []byte) map[string][2]string {
	res := map[string][2]string{}
	var cur string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, " ") && strings.HasSuffix(line, ":") {
			cur = strings.TrimSuffix(line, ":")
			res[cur] = [2]string{}
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || cur == "" {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "(none)" {
			v = ""
		}
		e := res[cur]
		switch k {
		case "Installed":
			e[0] = v
		case "Candidate":
			e[1] = v
		}
		res[cur] = e
	}
	return res
}

// debianMirror returns the URI of the machine's Debian archive (not the
// security archive), from the deb822 sources file, so that what the
// suite adds fetches from the same place; deb.debian.org if there is none.
func debianMirror(sourcesFile string) string {
	const fallback = "http://deb.debian.org/debian"
	b, err := os.ReadFile(sourcesFile)
	if err != nil {
		return fallback
	}
	for _, stanza := range strings.Split(string(b), "\n\n") {
		fields := map[string]string{}
		for _, line := range strings.Split(stanza, "\n") {
			if strings.HasPrefix(line, "#") {
				continue
			}
			if k, v, ok := strings.Cut(line, ":"); ok {
				fields[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
		uris := strings.Fields(fields["uris"])
		if len(uris) == 0 || strings.Contains(fields["suites"], "-security") {
			continue
		}
		return strings.TrimSuffix(uris[0], "/")
	}
	return fallback
}

// hostSourcesFile is the machine's Debian sources; a variable for tests.
var hostSourcesFile = "/etc/apt/sources.list.d/debian.sources"

const archiveKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// sourcesStanza is one deb822 sources entry for the suites.
func sourcesStanza(uri string, suites ...string) string {
	return fmt.Sprintf("Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n",
		uri, strings.Join(suites, " "), archiveKeyring)
}

// listsStale reports whether the package lists under root (the host: "")
// are missing, older than maxAge, or older than a sources file: the
// newest kernel of a series can only be seen in fresh lists of every
// suite.
func listsStale(root string, maxAge time.Duration) bool {
	newest := func(pattern string) time.Time {
		files, _ := filepath.Glob(filepath.Join(root, pattern))
		var t time.Time
		for _, f := range files {
			if st, err := os.Stat(f); err == nil && st.ModTime().After(t) {
				t = st.ModTime()
			}
		}
		return t
	}
	lists := newest("/var/lib/apt/lists/*Release")
	sources := newest("/etc/apt/sources.list.d/*")
	if t := newest("/etc/apt/sources.list"); t.After(sources) {
		sources = t
	}
	return lists.IsZero() || time.Since(lists) > maxAge || sources.After(lists)
}

// aptEnv is the environment apt runs in: never a question on a terminal.
var aptEnv = []string{"DEBIAN_FRONTEND=noninteractive", "LC_ALL=C"}

// aptGet is apt-get with what every call here needs: wait for another
// apt to finish rather than fail, no recommends, yes to everything.
func aptGet(args ...string) []string {
	return append([]string{"apt-get", "-q", "-y", "-o", "DPkg::Lock::Timeout=900", "--no-install-recommends"}, args...)
}

// newestKernel asks apt (on the host or in an environment) for the newest
// kernel of a series with headers and an image.
func newestKernel(ctx context.Context, sys *system, series string) (kernelPackages, error) {
	pat := `^linux-(headers|image)-`
	if series != "" {
		pat += regexp.QuoteMeta(series) + `\.`
	} else {
		pat += `[0-9]`
	}
	out, err := sys.output(ctx, "apt-cache", "search", "--names-only", pat)
	if err != nil {
		return kernelPackages{}, err
	}
	names := parseAptCacheSearch(out)
	// Only names with a candidate count: search also lists packages that
	// are merely known.
	pol, err := sys.output(ctx, append([]string{"apt-cache", "policy"}, names...)...)
	if err != nil {
		return kernelPackages{}, err
	}
	policy := parseAptPolicy(pol)
	var avail []string
	for _, n := range names {
		if policy[n][1] != "" {
			avail = append(avail, n)
		}
	}
	kp, ok := pickKernel(series, avail, func(p string) bool { return policy[p][0] != "" })
	if !ok {
		what := "series " + series
		if series == "" {
			what = "any series"
		}
		return kernelPackages{}, fmt.Errorf("apt%s knows no kernel of %s with both linux-headers-V and linux-image-V[-unsigned]", sys.where(), what)
	}
	return kp, nil
}
