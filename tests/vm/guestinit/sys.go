package main

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

type mountSpec struct {
	fstype, target, data string
	flags                uintptr
	optional             bool // failure is a note, not an error
}

var mounts = []mountSpec{
	{fstype: "proc", target: "/proc", flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
	{fstype: "sysfs", target: "/sys", flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
	{fstype: "devtmpfs", target: "/dev", data: "mode=0755", flags: unix.MS_NOSUID},
	{fstype: "devpts", target: "/dev/pts", data: "mode=0620,ptmxmode=0666", flags: unix.MS_NOSUID | unix.MS_NOEXEC, optional: true},
	{fstype: "tmpfs", target: "/dev/shm", data: "mode=1777", flags: unix.MS_NOSUID | unix.MS_NODEV, optional: true},
	{fstype: "tracefs", target: "/sys/kernel/tracing", flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
	{fstype: "debugfs", target: "/sys/kernel/debug", flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
	{fstype: "tmpfs", target: "/tmp", data: "mode=1777", flags: unix.MS_NOSUID | unix.MS_NODEV},
	{fstype: "tmpfs", target: "/run", data: "mode=0755", flags: unix.MS_NOSUID | unix.MS_NODEV},
}

// mountAll mounts the file systems tests expect. Problems are recorded;
// init goes on, since the report is more useful than a stuck machine.
func mountAll(in *initProc) {
	for _, m := range mounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			in.fail("mkdir %s: %v", m.target, err)
			continue
		}
		err := unix.Mount(m.fstype, m.target, m.fstype, m.flags, m.data)
		switch {
		case err == nil, errors.Is(err, unix.EBUSY):
		case m.optional:
			in.note("mount %s on %s: %v", m.fstype, m.target, err)
		default:
			in.fail("mount %s on %s: %v", m.fstype, m.target, err)
		}
	}
}
