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

// ScanKernelLogExcept is ScanKernelLog with lines matching any of ignore
// not counting as splats.
func ScanKernelLogExcept(log string, ignore []*regexp.Regexp) []Splat {
	lines := strings.Split(strings.ReplaceAll(log, "\r", ""), "\n")
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
