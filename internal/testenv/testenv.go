// Package testenv lets tests depend on facilities of the machine they run
// on without passing vacuously where the facility is expected.
package testenv

import (
	"os"
	"testing"
)

// StrictEnv names the environment variable that turns skips into
// failures. `make test` (and so CI) sets it: there, a missing facility is
// a broken setup, not a reason to report success.
const StrictEnv = "MHOST_TEST_STRICT"

// Skipf skips t, or fails it when StrictEnv is set.
func Skipf(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(StrictEnv) != "" {
		t.Fatalf(format+" ("+StrictEnv+" is set: not skipping)", args...)
		return
	}
	t.Skipf(format, args...)
}
