//go:build guest

// Package sample is a stand-in guest test suite for checking the VM harness
// itself: it passes by default, and MHOSTVM_SAMPLE=fail|panic|hang makes
// it fail, panic or hang on purpose.
package sample

import (
	"net"
	"os"
	"os/user"
	"strings"
	"testing"
)

func mode() string { return os.Getenv("MHOSTVM_SAMPLE") }

func TestEnvironment(t *testing.T) {
	if os.Getpid() == 1 {
		t.Fatal("running as PID 1")
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if lo.Flags&net.FlagUp == 0 {
		t.Errorf("lo is down: %v", lo.Flags)
	}
	u, err := user.Lookup("nobody")
	if err != nil || u.Uid != "65534" {
		t.Errorf("user nobody: %v %+v", err, u)
	}
	mounts, err := os.ReadFile("/proc/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{" /sys/kernel/tracing ", " /sys/kernel/debug ", " /tmp tmpfs ", " /run tmpfs ", " /dev devtmpfs "} {
		if !strings.Contains(string(mounts), m) {
			t.Errorf("no %q in /proc/mounts:\n%s", m, mounts)
		}
	}
	t.Logf("hello from the guest, PID %d", os.Getpid())
}

func TestNested(t *testing.T) {
	t.Run("a", func(t *testing.T) { t.Log("in a") })
	t.Run("b", func(t *testing.T) {
		t.Run("c", func(t *testing.T) { t.Log("in b/c") })
		if mode() == "fail" {
			t.Run("fails", func(t *testing.T) { t.Error("deliberate failure in b/fails") })
		}
	})
	t.Run("skipped", func(t *testing.T) { t.Skip("deliberately skipped") })
}

func TestPanics(t *testing.T) {
	if mode() == "panic" {
		panic("deliberate panic")
	}
}

func TestHangs(t *testing.T) {
	if mode() == "hang" {
		t.Log("hanging on purpose")
		select {}
	}
}
