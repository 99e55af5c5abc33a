package main

import (
	"strings"
	"testing"
)

const kmemleakReport = `unreferenced object 0xffff888012345600 (size 192):
  comm "guest.test", pid 171, jiffies 4294937296 (age 12.340s)
  hex dump (first 32 bytes):
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  ................
  backtrace:
    [<ffffffff81234567>] kmem_cache_alloc+0x1a4/0x3c0
    [<ffffffffc0a01234>] mhost_host_alloc+0x34/0x120 [mhost]
    [<ffffffff81a00000>] genl_rcv_msg+0x1e0/0x3a0
unreferenced object 0xffff888012345800 (size 64):
  comm "swapper/0", pid 1, jiffies 4294892296 (age 87.000s)
  backtrace:
    [<ffffffff81234567>] __kmalloc+0x4b/0x140
    [<ffffffff82000000>] acpi_os_allocate+0x12/0x20
unreferenced object 0xffff888012345a00 (size 32):
  comm "guest.test", pid 171, jiffies 4294937296 (age 12.340s)
  backtrace:
    [<ffffffff81234567>] kmalloc_trace+0x26/0x60
    [<ffffffffc0b00010>] 0xffffffffc0b00010
`

func TestSplitLeaks(t *testing.T) {
	names := map[string]bool{"mhost": true, "mhost_testproto": true}
	ranges := []modRange{{"mhost_testproto", 0xffffffffc0b00000, 0xffffffffc0b08000}}
	ours, theirs := splitLeaks(kmemleakReport, names, ranges)
	if len(ours) != 2 || len(theirs) != 1 {
		t.Fatalf("ours %d, theirs %d; want 2 and 1:\nours: %q\ntheirs: %q", len(ours), len(theirs), ours, theirs)
	}
	if !strings.Contains(ours[0], "mhost_host_alloc") || !strings.Contains(ours[1], "0xffffffffc0b00010") {
		t.Errorf("ours: %q", ours)
	}
	if !strings.Contains(theirs[0], "acpi_os_allocate") {
		t.Errorf("theirs: %q", theirs)
	}
	// The module unloaded and its address range forgotten: not ours.
	if ours, _ := splitLeaks(kmemleakReport, names, nil); len(ours) != 1 {
		t.Errorf("without ranges: %d leaks ours, want 1", len(ours))
	}
	if ours, theirs := splitLeaks("", names, ranges); len(ours)+len(theirs) != 0 {
		t.Errorf("empty report: %q %q", ours, theirs)
	}
}
