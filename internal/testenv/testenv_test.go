package testenv

import (
	"strings"
	"testing"
)

// fakeTB records what Skipf asks of a test.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped = true
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = format
}

func TestSkipf(t *testing.T) {
	t.Setenv(StrictEnv, "")
	var f fakeTB
	Skipf(&f, "no %s", "thing")
	if !f.skipped || f.failed {
		t.Errorf("without %s: skipped=%v failed=%v, want a skip", StrictEnv, f.skipped, f.failed)
	}

	t.Setenv(StrictEnv, "1")
	f = fakeTB{}
	Skipf(&f, "no %s", "thing")
	if f.skipped || !f.failed {
		t.Errorf("with %s: skipped=%v failed=%v, want a failure", StrictEnv, f.skipped, f.failed)
	}
	if !strings.Contains(f.msg, StrictEnv) {
		t.Errorf("failure message %q does not say why it is not a skip", f.msg)
	}
}
