package vm

import (
	"slices"
	"testing"
)

// TestMachineAccel checks which accelerator and threading QEMU is asked
// for: tests get single-threaded TCG, wall-clock benchmarks a thread per
// vCPU, instruction counting single-threaded TCG whatever it is asked.
func TestMachineAccel(t *testing.T) {
	for _, tc := range []struct {
		name                string
		parallelTCG, icount bool
		tcg                 string // -accel under TCG
		wantIcount          bool
	}{
		{"tests", false, false, "tcg,thread=single", false},
		{"wall-clock bench", true, false, "tcg,thread=multi", false},
		{"icount bench", false, true, "tcg,thread=single", true},
		{"icount wins", true, true, "tcg,thread=single", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &machine{smp: 2, memory: "1G", parallelTCG: tc.parallelTCG, icount: tc.icount}
			args := m.args()
			want := tc.tcg
			if Accel() == "kvm" {
				want = "kvm"
			}
			i := slices.Index(args, "-accel")
			if i < 0 || i+1 >= len(args) {
				t.Fatalf("no -accel in %q", args)
			}
			if args[i+1] != want {
				t.Errorf("-accel %s, want %s", args[i+1], want)
			}
			if got := slices.Contains(args, "-icount"); got != tc.wantIcount {
				t.Errorf("-icount given: %v, want %v", got, tc.wantIcount)
			}
		})
	}
}
