package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const kmemleakFile = "/sys/kernel/debug/kmemleak"

// kmemleakMinAge is how old kmemleak wants an object before it reports
// it (MSECS_MIN_AGE): younger ones may still be on their way somewhere.
const kmemleakMinAge = 5 * time.Second

// modRange is the address range of a loaded module's core.
type modRange struct {
	name       string
	start, end uint64
}

// ourModules returns the names of our modules (every .ko in extraDir)
// and the address ranges of those loaded now, so that a leak can still
// be attributed after they are unloaded, when its backtrace shows bare
// addresses.
func ourModules() (map[string]bool, []modRange) {
	names := map[string]bool{}
	kos, _ := filepath.Glob(extraDir + "/*.ko")
	for _, ko := range kos {
		names[moduleName(ko)] = true
	}
	b, _ := os.ReadFile("/proc/modules")
	var ranges []modRange
	for _, line := range strings.Split(string(b), "\n") {
		// mhost 245760 0 - Live 0xffffffffc0a00000 (OE)
		f := strings.Fields(line)
		if len(f) < 6 || !names[f[0]] {
			continue
		}
		size, err1 := strconv.ParseUint(f[1], 10, 64)
		addr, err2 := strconv.ParseUint(strings.TrimPrefix(f[5], "0x"), 16, 64)
		if err1 == nil && err2 == nil && addr != 0 {
			ranges = append(ranges, modRange{f[0], addr, addr + size})
		}
	}
	return names, ranges
}

// kmemleakCheck scans for leaks and sorts what kmemleak reports into
// leaks of our modules (an error: printed in full) and the kernel's own
// (a note). A leak is ours when a frame of its allocation backtrace is in
// one of our modules, by name while it is loaded or by address range
// after. Reported leaks are then cleared, so the next check shows only
// new ones.
func (in *initProc) kmemleakCheck(when string, names map[string]bool, ranges []modRange) {
	if _, err := os.Stat(kmemleakFile); err != nil {
		in.fail("kmemleak check %s: %v (the kernel needs CONFIG_DEBUG_KMEMLEAK)", when, err)
		return
	}
	start := time.Now()
	time.Sleep(kmemleakMinAge)
	// Two scans, as Documentation/dev-tools/kmemleak.rst suggests: a
	// pointer in flight during the first (in a register, being copied)
	// is seen by the second.
	for i := 0; i < 2; i++ {
		if err := os.WriteFile(kmemleakFile, []byte("scan"), 0); err != nil {
			in.fail("kmemleak scan %s: %v", when, err)
			return
		}
	}
	b, err := os.ReadFile(kmemleakFile)
	if err != nil {
		in.fail("reading %s %s: %v", kmemleakFile, when, err)
		return
	}
	ours, theirs := splitLeaks(string(b), names, ranges)
	in.note("kmemleak %s: %d leak(s) of our modules, %d other suspected leak(s) (%.1fs)",
		when, len(ours), len(theirs), time.Since(start).Seconds())
	if len(ours) > 0 {
		in.fail("kmemleak %s: %d leak(s) allocated by our modules:\n%s", when, len(ours), strings.Join(ours, "\n"))
	}
	const show = 3
	for i, l := range theirs {
		if i == show {
			in.note("kmemleak %s: %d more not ours, not shown", when, len(theirs)-show)
			break
		}
		in.note("kmemleak %s: not ours:\n%s", when, l)
	}
	os.WriteFile(kmemleakFile, []byte("clear"), 0)
}

// splitLeaks splits kmemleak's report into its records and sorts them.
func splitLeaks(report string, names map[string]bool, ranges []modRange) (ours, theirs []string) {
	var recs []string
	for _, part := range strings.SplitAfter(report, "\n") {
		if strings.HasPrefix(part, "unreferenced object ") || len(recs) == 0 {
			recs = append(recs, part)
		} else {
			recs[len(recs)-1] += part
		}
	}
	for _, r := range recs {
		r = strings.TrimRight(r, "\n")
		if !strings.HasPrefix(r, "unreferenced object ") {
			continue
		}
		if leakIsOurs(r, names, ranges) {
			ours = append(ours, r)
		} else {
			theirs = append(theirs, r)
		}
	}
	return ours, theirs
}

// leakIsOurs looks at a record's backtrace lines:
//
//	[<ffffffffc0a01234>] mhost_host_new+0x34/0x120 [mhost]
//	[<ffffffffc0a01234>] 0xffffffffc0a01234
func leakIsOurs(rec string, names map[string]bool, ranges []modRange) bool {
	for _, line := range strings.Split(rec, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "[<") {
			continue
		}
		if i := strings.LastIndexByte(line, '['); i > 0 && strings.HasSuffix(line, "]") {
			if names[line[i+1:len(line)-1]] {
				return true
			}
		}
		end := strings.Index(line, ">]")
		if end < 0 {
			continue
		}
		addr, err := strconv.ParseUint(line[2:end], 16, 64)
		if err != nil {
			continue
		}
		for _, r := range ranges {
			if addr >= r.start && addr < r.end {
				return true
			}
		}
	}
	return false
}
