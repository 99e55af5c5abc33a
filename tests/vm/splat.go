package vm

import (
	"regexp"
	"strings"
)

// splatPatterns match kernel console lines that mean the kernel found a
// bug, a leak or a hang. Any one fails the run.
var splatPatterns = []*regexp.Regexp{
	regexp.MustCompile(`\bBUG: `),                           // BUG: unable to handle..., soft lockup, sleeping function..., KASAN
	regexp.MustCompile(`\bBUG \S+ \(.*\): `),                // SLUB debug: "BUG kmalloc-64 (Tainted: G O): Poison overwritten"
	regexp.MustCompile(`kernel BUG at `),                    // BUG_ON
	regexp.MustCompile(`\bWARNING: `),                       // WARN_ON, lockdep
	regexp.MustCompile(`\bOops\b`),                          // "Oops: 0000 [#1] SMP"
	regexp.MustCompile(`general protection fault`),          //
	regexp.MustCompile(`\binvalid opcode: `),                // BUG() on x86
	regexp.MustCompile(`Unable to handle kernel`),           //
	regexp.MustCompile(`\b(KASAN|UBSAN|KFENCE|KCSAN):`),     // sanitizers
	regexp.MustCompile(`refcount_t: `),                      // refcount saturation/underflow
	regexp.MustCompile(`rcu: INFO: `),                       // RCU stalls
	regexp.MustCompile(`self-detected stall`),               //
	regexp.MustCompile(`detected stalls? on CPU`),           //
	regexp.MustCompile(`Kernel panic`),                      //
	regexp.MustCompile(`\blist_(add|del) corruption`),       // CONFIG_DEBUG_LIST
	regexp.MustCompile(`unregister_netdevice: waiting for`), // leaked netdev references
	regexp.MustCompile(`\bhung_task`),                       //
	regexp.MustCompile(`INFO: task .* blocked for more than`),
	regexp.MustCompile(`[Ss]lab cache still has objects`), // kmem_cache_destroy on a cache with live objects
	regexp.MustCompile(`Objects remaining in `),           // SLUB on cache shutdown
	regexp.MustCompile(`unreferenced object 0x`),          // kmemleak
	regexp.MustCompile(`suspected memory leaks?`),         // kmemleak
	regexp.MustCompile(`double fault`),
	regexp.MustCompile(`stack[- ]protector`),
	regexp.MustCompile(`\bCall Trace:`), // any stack dump is worth a look
	regexp.MustCompile(`Attempted to kill init`),
}

// Splat is one problem found in the kernel log: the matching lines and
// some context around them.
type Splat struct {
	Line    int      // 1-based line number of the first match
	Matches []string // the matching lines
	Context []string // surrounding lines, for the report
}

func (s Splat) String() string {
	return strings.Join(s.Context, "\n")
}

const (
	splatBefore = 5
	splatAfter  = 40
)

// kmemleakSummaryRE is what a kmemleak scan prints when it finds
// something: "kmemleak: 3 new suspected memory leaks (see ...)".
var kmemleakSummaryRE = regexp.MustCompile(`kmemleak: \d+ new suspected memory leaks`)

// ScanKernelLog finds the splats in a kernel console log. Matches closer
// together than the context window are reported as one splat.
func ScanKernelLog(log string) []Splat {
	return ScanKernelLogExcept(log, nil)
}

// Fault-injection tests (tests/guest/fault_test.go) write these to
// /dev/kmsg around the allocation failures they inject.
const (
	FaultInjectionOn  = "mhost-fault-injection: on"
	FaultInjectionOff = "mhost-fault-injection: off"
)

// enomemRE is a kernel message about an allocation that failed.
var enomemRE = regexp.MustCompile(`(\berror:? -12\b|\s-12\)?$|\bENOMEM\b)`)

// callTraceRE is the catch-all pattern of splatPatterns.
var callTraceRE = regexp.MustCompile(`\bCall Trace:`)

// injectedDump reports whether the splat is no more than what some kernel
// code does when an allocation it makes fails while a fault-injection
// test makes it fail: a bare stack dump (dump_stack()) right after a
// message saying so ("sysctl could not get directory: /net/ipv6/route
// -12", "kmem_cache_create(x) failed with error -12"). Anything with a
// headline of its own (WARNING, BUG, KASAN, lockdep, a stall) is a splat
// wherever it appears.
func injectedDump(s Splat, lines []string, windows [][2]int) bool {
	idx := s.Line - 1
	in := false
	for _, w := range windows {
		in = in || (idx > w[0] && idx < w[1])
	}
	if !in {
		return false
	}
	for _, m := range s.Matches {
		if !callTraceRE.MatchString(m) || matchesAny(m, nonCallTrace) {
			return false
		}
	}
	// Each dump's "Call Trace:" follows its CPU/Hardware lines; the
	// message comes just before those.
	for i := idx; i < len(lines) && i < idx+len(s.Context); i++ {
		if !callTraceRE.MatchString(lines[i]) {
			continue
		}
		found := false
		for j := i - 1; j >= 0 && j >= i-6; j-- {
			found = found || enomemRE.MatchString(strings.TrimSpace(lines[j]))
		}
		if !found {
			return false
		}
	}
	return true
}

// nonCallTrace are the splat patterns other than the catch-all.
var nonCallTrace = func() []*regexp.Regexp {
	var res []*regexp.Regexp
	for _, re := range splatPatterns {
		if re.String() != callTraceRE.String() {
			res = append(res, re)
		}
	}
	return res
}()

// faultWindows returns the line index ranges between the fault-injection
// markers.
func faultWindows(lines []string) [][2]int {
	var w [][2]int
	start := -1
	for i, l := range lines {
		switch {
		case strings.Contains(l, FaultInjectionOn):
			start = i
		case strings.Contains(l, FaultInjectionOff) && start >= 0:
			w = append(w, [2]int{start, i})
			start = -1
		}
	}
	if start >= 0 {
		w = append(w, [2]int{start, len(lines)})
	}
	return w
}

// ScanKernelLogExcept is ScanKernelLog with lines matching any of ignore
// not counting as splats.
func ScanKernelLogExcept(log string, ignore []*regexp.Regexp) []Splat {
	lines := strings.Split(strings.ReplaceAll(log, "\r", ""), "\n")
	splats := scanLines(lines, ignore)
	windows := faultWindows(lines)
	if len(windows) == 0 {
		return splats
	}
	var out []Splat
	for _, s := range splats {
		if !injectedDump(s, lines, windows) {
			out = append(out, s)
		}
	}
	return out
}

func scanLines(lines []string, ignore []*regexp.Regexp) []Splat {
	var out []Splat
	end := -1 // last line index covered by the current splat
	for i, l := range lines {
		if !isSplatLine(l) || matchesAny(l, ignore) {
			continue
		}
		if len(out) > 0 && i <= end {
			cur := &out[len(out)-1]
			cur.Matches = append(cur.Matches, l)
			newEnd := min(i+splatAfter, len(lines)-1)
			cur.Context = append(cur.Context, lines[end+1:newEnd+1]...)
			end = newEnd
			continue
		}
		start := max(i-splatBefore, 0, end+1)
		end = min(i+splatAfter, len(lines)-1)
		out = append(out, Splat{Line: i + 1, Matches: []string{l}, Context: append([]string(nil), lines[start:end+1]...)})
	}
	return out
}

func isSplatLine(l string) bool {
	for _, re := range splatPatterns {
		if re.MatchString(l) {
			return true
		}
	}
	return false
}

func matchesAny(l string, res []*regexp.Regexp) bool {
	for _, re := range res {
		if re.MatchString(l) {
			return true
		}
	}
	return false
}
