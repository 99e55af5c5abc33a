package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/tests/vm/plan"
)

// extraDir holds this repository's modules inside the guest.
const extraDir = "/lib/modules/extra"

func loadModule(m plan.Module) error {
	f, err := os.Open(m.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.FinitModule(int(f.Fd()), m.Params, 0)
}

// unloadModule removes a module, retrying for a while when it is busy
// (sockets freed by RCU callbacks drop their references a little later).
func unloadModule(name string, patience time.Duration) error {
	deadline := time.Now().Add(patience)
	for {
		err := unix.DeleteModule(name, unix.O_NONBLOCK)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !(errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EBUSY)) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func moduleLoaded(name string) bool {
	_, err := os.Stat("/sys/module/" + name + "/initstate")
	return err == nil
}

// moduleName turns a .ko path into the name the kernel uses.
func moduleName(path string) string {
	base := filepath.Base(path)
	base, _, _ = strings.Cut(base, ".ko")
	return strings.ReplaceAll(base, "-", "_")
}

// unloadAll checks that mhost is idle and removes every module of ours that
// is loaded (also those the steps loaded themselves), then the kernel
// modules init loaded.
func (in *initProc) unloadAll() {
	planned := map[string]bool{}
	for _, m := range in.loaded {
		planned[m.Name] = true
	}
	// Modules of ours that the steps loaded and left behind go first:
	// they may hold references to mhost.
	extras, _ := filepath.Glob(extraDir + "/*.ko")
	for _, path := range extras {
		name := moduleName(path)
		if planned[name] || !moduleLoaded(name) {
			continue
		}
		in.note("module %s was left loaded by the steps; unloading it", name)
		if err := unloadModule(name, 5*time.Second); err != nil {
			in.fail("unloading module %s (left loaded by the steps): %v", name, err)
		}
	}
	for i := len(in.loaded) - 1; i >= 0; i-- {
		m := in.loaded[i]
		if m.Name == "mhost" {
			in.checkMhostIdle()
		}
		if err := unloadModule(m.Name, 5*time.Second); err != nil {
			if m.Ours {
				in.fail("unloading module %s: %v (refcnt %s)", m.Name, err, readTrim("/sys/module/"+m.Name+"/refcnt"))
			} else {
				in.note("unloading kernel module %s: %v", m.Name, err)
			}
			continue
		}
		if _, err := os.Stat("/sys/module/" + m.Name); m.Ours && err == nil {
			in.fail("/sys/module/%s still exists after delete_module", m.Name)
			continue
		}
		in.note("unloaded module %s", m.Name)
	}
}

// checkMhostIdle waits until nothing but dependent modules holds mhost
// and no UDPMHOST socket object is allocated.
func (in *initProc) checkMhostIdle() {
	settle := 10 * time.Second
	if in.p != nil && in.p.SettleTimeout > 0 {
		settle = in.p.SettleTimeout
	}
	start := time.Now()
	deadline := start.Add(settle)
	var refs, objs int
	var refErr, slabErr error
	for {
		refs, refErr = mhostRefs()
		objs, slabErr = slabActive("UDPMHOST")
		slabIdle := (slabErr == nil && objs == 0) || errors.Is(slabErr, errNoSlab)
		if (refErr == nil && refs == 0 && slabIdle) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if d := time.Since(start); d > time.Second {
		in.note("waited %.1fs for mhost to become idle", d.Seconds())
	}
	switch {
	case refErr != nil:
		in.fail("reading mhost reference count: %v", refErr)
	case refs != 0:
		in.fail("mhost module still has %d references %v after the steps", refs, settle)
	}
	switch {
	case errors.Is(slabErr, errNoSlab):
		in.note("no UDPMHOST line in /proc/slabinfo (merged or not registered)")
	case slabErr != nil:
		in.fail("reading /proc/slabinfo: %v", slabErr)
	case objs != 0:
		in.fail("%d UDPMHOST socket objects still allocated %v after the steps", objs, settle)
	}
}

// mhostRefs is mhost's reference count minus those held by modules that
// use its symbols (they are unloaded first and each holds one).
func mhostRefs() (int, error) {
	n, err := strconv.Atoi(readTrim("/sys/module/mhost/refcnt"))
	if err != nil {
		return 0, err
	}
	holders, _ := os.ReadDir("/sys/module/mhost/holders")
	return n - len(holders), nil
}

var errNoSlab = errors.New("no such slab")

// slabActive returns the number of allocated objects of a slab cache.
// SLUB counts the objects of slabs cached per CPU as active in
// /proc/slabinfo whether allocated or not, so the cache is shrunk first:
// that flushes the per-CPU slabs and frees the empty ones.
func slabActive(name string) (int, error) {
	os.WriteFile("/sys/kernel/slab/"+name+"/shrink", []byte("1"), 0)
	b, err := os.ReadFile("/proc/slabinfo")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == name {
			return strconv.Atoi(f[1])
		}
	}
	return 0, errNoSlab
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
