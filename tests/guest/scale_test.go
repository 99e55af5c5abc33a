//go:build guest

package guest_test

import (
	"os"
	"strconv"
	"testing"
)

// scaleEnv scales the heavy loads of a few tests. The harness sets it on
// the debug kernel's lane (tests/vm: ScaleEnv, DebugScale), where KASAN,
// kmemleak and lockdep make every allocation and lock many times slower
// under TCG; elsewhere it is unset and the loads are full size.
const scaleEnv = "MHOST_TEST_SCALE"

// scaleFactor is the factor in $MHOST_TEST_SCALE, 1 if it is unset.
func scaleFactor(t *testing.T) float64 {
	t.Helper()
	v := os.Getenv(scaleEnv)
	if v == "" {
		return 1
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f > 1 {
		t.Fatalf("%s=%q: want a factor in (0, 1]", scaleEnv, v)
	}
	return f
}

// scaled returns n times the factor in $MHOST_TEST_SCALE (at least 1),
// and says so in the test's output whenever that is not n, so that a run
// on a smaller load never passes for the full one.
func scaled(t *testing.T, n int, what string) int {
	t.Helper()
	f := scaleFactor(t)
	m := max(int(float64(n)*f), 1)
	if m != n {
		t.Logf("scaled down: %d %s instead of %d (%s=%g)", m, what, n, scaleEnv, f)
	}
	return m
}
