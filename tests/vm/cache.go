package vm

import (
	"os"
	"path/filepath"
)

// CacheEnv names the machine-wide cache of kernels the suite prepares
// itself: the trixie environment and the debug kernel.
const CacheEnv = "MHOST_CACHE"

// CacheDir returns the machine-wide cache: $MHOST_CACHE, else
// /var/cache/mhost when it can be written (root), else ~/.cache/mhost.
//
// It lives outside the repository on purpose: CI starts from a fresh
// clone each time, and the debug kernel (20 minutes to build) and the
// trixie environment (several minutes of downloads) only depend on what
// Debian ships, so every clone and worktree on a machine shares one copy.
// tests/vm/debugkernel/build.sh makes the same choice.
func CacheDir() string {
	if d := os.Getenv(CacheEnv); d != "" {
		return d
	}
	const system = "/var/cache/mhost"
	if os.MkdirAll(system, 0o755) == nil && writable(system) {
		return system
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "mhost")
	}
	return filepath.Join(os.TempDir(), "mhost-cache")
}

func writable(dir string) bool {
	f, err := os.CreateTemp(dir, ".probe-")
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(f.Name())
	return true
}
