package vm

import (
	"regexp"
	"strings"
	"testing"
)

const cleanBoot = `[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org)
[    0.000000] Command line: console=ttyS0 panic_on_warn=1 panic=-1 oops=panic slab_nomerge
[    0.012000] x86/cpu: User Mode Instruction Prevention (UMIP) activated
[    1.234567] RAS: Correctable Errors collector initialized.
[    4.968993] x86/mm: Checked W+X mappings: passed, no W+X pages found.
[    4.970905] Run /init as init process
[    6.100000] mhost: loading out-of-tree module taints kernel.
[    6.100001] mhost: module verification failed: signature and/or required key missing - tainting kernel
[    6.200000] mhost: registered AF_MHOST (27)
[    9.000000] ACPI: PM: Preparing to enter system sleep state S5
[    9.000100] reboot: Power down
`

func TestScanKernelLogClean(t *testing.T) {
	if s := ScanKernelLog(cleanBoot); len(s) != 0 {
		t.Errorf("clean boot log reported: %v", s)
	}
}

func TestScanKernelLogSplats(t *testing.T) {
	for _, line := range []string{
		"[   23.820123] WARNING: CPU: 0 PID: 1 at net/mhost/af_mhost.c:120 mhost_release+0x1c/0x30 [mhost]",
		"[   12.000000] BUG: kernel NULL pointer dereference, address: 0000000000000008",
		"[   12.000000] BUG: KASAN: slab-use-after-free in mhost_recvmsg+0x1/0x2",
		"[   12.000000] BUG UDPMHOST (Tainted: G           OE     ): Objects remaining in UDPMHOST on __kmem_cache_shutdown()",
		"[   12.000000] kernel BUG at net/core/skbuff.c:110!",
		"[   12.000000] general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] PREEMPT SMP NOPTI",
		"[   12.000000] Oops: 0000 [#1] PREEMPT SMP NOPTI",
		"[   12.000000] UBSAN: array-index-out-of-bounds in kmod/l3.c:40:9",
		"[   12.000000] refcount_t: underflow; use-after-free.",
		"[   60.000000] rcu: INFO: rcu_preempt self-detected stall on CPU",
		"[   60.000000] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:",
		"[   12.000000] Kernel panic - not syncing: panic_on_warn set ...",
		"[   12.000000] list_add corruption. prev->next should be next (ffff888), but was 0000.",
		"[   70.000000] unregister_netdevice: waiting for veth0 to become free. Usage count = 2",
		"[  130.000000] INFO: task rmmod:123 blocked for more than 120 seconds.",
		"[  130.000000] kmem_cache_destroy UDPMHOST: Slab cache still has objects when called from mhost_exit+0x20/0x40 [mhost]",
		"[   12.000000] Call Trace:",
		"[   12.000000] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [mhost-server:99]",
	} {
		log := cleanBoot + line + "\n[   99.000000] after\n"
		s := ScanKernelLog(log)
		if len(s) != 1 || s[0].Matches[0] != line {
			t.Errorf("%q: got %v", line, s)
			continue
		}
		if s[0].Line != strings.Count(cleanBoot, "\n")+1 {
			t.Errorf("%q: line %d", line, s[0].Line)
		}
		if ctx := s[0].String(); !strings.Contains(ctx, "reboot: Power down") || !strings.Contains(ctx, "after") {
			t.Errorf("%q: context lacks the lines around it:\n%s", line, ctx)
		}
	}
}

// TestScanKernelLogGroups: one splat's lines (WARNING, Call Trace, panic)
// are one report; a splat far away is a second.
func TestScanKernelLogGroups(t *testing.T) {
	var b strings.Builder
	b.WriteString("[ 1.0] WARNING: CPU: 0 PID: 1 at x.c:1 f+0x0/0x0\n[ 1.0] Modules linked in: mhost(OE)\n[ 1.0] Call Trace:\n[ 1.0]  <TASK>\n[ 1.0] Kernel panic - not syncing: panic_on_warn set ...\n")
	for i := 0; i < 100; i++ {
		b.WriteString("[ 2.0] quiet\n")
	}
	b.WriteString("[ 3.0] BUG: unable to handle page fault for address: 0\n")
	s := ScanKernelLog(b.String())
	if len(s) != 2 {
		t.Fatalf("got %d splats: %v", len(s), s)
	}
	if len(s[0].Matches) != 3 || s[1].Line != 106 {
		t.Errorf("first has %d matches, second is at line %d", len(s[0].Matches), s[1].Line)
	}
}

func TestScanKernelLogExcept(t *testing.T) {
	log := "[   10.1] kmemleak: 2 new suspected memory leaks (see /sys/kernel/debug/kmemleak)\n[   11.0] ok\n"
	if got := ScanKernelLog(log); len(got) != 1 {
		t.Errorf("kmemleak's summary is a splat by default: got %d", len(got))
	}
	if got := ScanKernelLogExcept(log, []*regexp.Regexp{kmemleakSummaryRE}); len(got) != 0 {
		t.Errorf("with the kmemleak scan's verdict taken elsewhere: %v", got)
	}
	warn := log + "[   12.0] WARNING: CPU: 0 PID: 1 at x.c:1 f+0x0/0x0\n"
	if got := ScanKernelLogExcept(warn, []*regexp.Regexp{kmemleakSummaryRE}); len(got) != 1 || !strings.Contains(got[0].Matches[0], "WARNING") {
		t.Errorf("a warning next to it still counts: %v", got)
	}
}

// An injected allocation failure's own report: the message, then a bare
// stack dump.
const sysctlDump = `[   96.357685] sysctl could not get directory: /net/ipv6/route -12
[   96.365852] CPU: 1 PID: 72 Comm: guest.test Tainted: G           O       6.1.192-mhostdebug #1
[   96.368577] Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[   96.368577] Call Trace:
[   96.368577]  <TASK>
[   96.368577]  dump_stack_lvl+0x6a/0x86
[   96.368577]  __register_sysctl_table+0xd8e/0x11e0
[   96.368577]  ipv6_sysctl_net_init+0x117/0x290
[   96.368577]  </TASK>
`

func TestScanKernelLogFaultInjection(t *testing.T) {
	on, off := "[   90.0] "+FaultInjectionOn+"\n", "[  100.0] "+FaultInjectionOff+"\n"
	warning := "[   97.0] WARNING: CPU: 0 PID: 72 at net/core/dev.c:1 f+0x0/0x0\n[   97.0] Call Trace:\n[   97.0]  f+0x0/0x0\n"
	bare := "[   98.0] CPU: 1 PID: 72 Comm: guest.test\n[   98.0] Call Trace:\n[   98.0]  g+0x0/0x0\n"
	for _, tc := range []struct {
		name, log string
		splats    int
	}{
		{"ENOMEM dump inside the markers", on + sysctlDump + off, 0},
		{"ENOMEM dump outside them", sysctlDump + on + off, 1},
		{"no closing marker", on + sysctlDump, 0},
		{"a warning inside", on + warning + off, 1},
		{"a dump with no ENOMEM message inside", on + bare + off, 1},
		{"an ENOMEM dump next to a warning", on + sysctlDump + warning + off, 1},
	} {
		if got := ScanKernelLog(tc.log); len(got) != tc.splats {
			t.Errorf("%s: %d splats, want %d: %v", tc.name, len(got), tc.splats, got)
		}
	}
}
