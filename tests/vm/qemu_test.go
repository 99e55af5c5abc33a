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
			m := &machine{smp: 2, memory: "1G", accel: "tcg", parallelTCG: tc.parallelTCG, icount: tc.icount}
			args := m.args()
			if got := argAfter(args, "-accel"); got != tc.tcg {
				t.Errorf("-accel %s, want %s", got, tc.tcg)
			}
			if got := argAfter(args, "-cpu"); got != "max" {
				t.Errorf("-cpu %s under TCG, want max", got)
			}
			if got := slices.Contains(args, "-icount"); got != tc.wantIcount {
				t.Errorf("-icount given: %v, want %v", got, tc.wantIcount)
			}
		})
	}
}

// TestMachineKVM checks what a machine that runs on KVM asks QEMU for.
func TestMachineKVM(t *testing.T) {
	m := &machine{smp: 2, memory: "1G", accel: "kvm", parallelTCG: true}
	args := m.args()
	if got := argAfter(args, "-accel"); got != "kvm" {
		t.Errorf("-accel %s, want kvm", got)
	}
	if got := argAfter(args, "-cpu"); got != "host" {
		t.Errorf("-cpu %s, want host", got)
	}
}

func argAfter(args []string, flag string) string {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	return args[i+1]
}
