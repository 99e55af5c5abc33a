package vm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// listsMaxAge is how old the package lists may be before setup refreshes
// them: Debian replaces a series' kernel package (a new ABI name) every
// few weeks, and the lanes take the current one.
const listsMaxAge = 24 * time.Hour

// metaPackages carry Debian's current kernel of the release.
var metaPackages = []string{"linux-image-amd64", "linux-headers-amd64"}

// setupHostSeries installs the newest kernel of the lane's series on this
// machine, with its headers.
func setupHostSeries(ctx context.Context, l *Lane, log io.Writer) error {
	if os.Geteuid() != 0 {
		if k, err := newestInstalled("", l.series); err == nil {
			fmt.Fprintf(log, "setup: not root: taking the installed %s without checking for a newer one\n", k.Version)
			return nil
		}
		return errors.New("installing a kernel needs root")
	}
	sys := &system{log: log}
	if !l.meta {
		// Debian publishes newer kernels of the next release's series
		// for this one in its backports suite.
		if err := ensureSuite(codename()+"-backports", log); err != nil {
			return err
		}
	}
	if listsStale("", listsMaxAge) {
		if err := sys.run(ctx, aptEnv, aptGet("update")...); err != nil {
			return err
		}
	}
	var want []string
	if l.meta {
		pol, err := sys.output(ctx, append([]string{"apt-cache", "policy"}, metaPackages...)...)
		if err != nil {
			return err
		}
		policy := parseAptPolicy(pol)
		for _, p := range metaPackages {
			if v := policy[p]; v[1] == "" {
				return fmt.Errorf("apt has no candidate for %s", p)
			} else if v[0] != v[1] {
				want = append(want, p) // missing, or a newer ABI is out
			}
		}
	} else {
		kp, err := newestKernel(ctx, sys, l.series)
		if err != nil {
			return err
		}
		missing, err := notInstalled(ctx, sys, []string{kp.Headers, kp.Image})
		if err != nil {
			return err
		}
		want = missing
	}
	if len(want) == 0 {
		return nil
	}
	fmt.Fprintf(log, "setup: installing %s\n", strings.Join(want, " "))
	return sys.run(ctx, aptEnv, aptGet(append([]string{"install"}, want...)...)...)
}

// codename is this machine's Debian release (bookworm).
func codename() string {
	b, _ := os.ReadFile("/etc/os-release")
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VERSION_CODENAME="); ok && v != "" {
			return strings.Trim(v, `"`)
		}
	}
	return "bookworm"
}

// ensureSuite adds a sources file for suite, from the machine's Debian
// archive, unless some sources file already has it (the new file makes
// the lists stale: see listsStale).
func ensureSuite(suite string, log io.Writer) error {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	files = append(files, "/etc/apt/sources.list")
	for _, f := range files {
		if hasSuite(f, suite) {
			return nil
		}
	}
	path := "/etc/apt/sources.list.d/mhost-" + suite + ".sources"
	body := "# Added by mnet's test setup (tests/vm/setup.go) for the kernel matrix.\n" +
		sourcesStanza(debianMirror(hostSourcesFile), suite)
	fmt.Fprintf(log, "setup: adding %s\n", path)
	return os.WriteFile(path, []byte(body), 0o644)
}

func hasSuite(path, suite string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if f == suite {
				return true
			}
		}
	}
	return false
}
