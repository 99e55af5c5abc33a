//go:build linux

package bench

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestGoThroughputPair runs the Go harness with net.UDPConn arms, which
// need no module: every arm sends, receives and reports sane numbers.
func TestGoThroughputPair(t *testing.T) {
	for _, modes := range [][2]string{{"netip", "pc"}, {"netip", "batch"}} {
		var arms [2]*goArm
		for k, mode := range modes {
			a, err := udpArm(-1, "udp4", mode, 64)
			if err != nil {
				t.Fatal(err)
			}
			defer a.close()
			arms[k] = a
		}
		out, err := goThroughputPair(arms, 5*time.Millisecond, 2, 0)
		if err != nil {
			t.Fatalf("%v: %v", modes, err)
		}
		for k, s := range out {
			if !(s["rx_pps"] > 0) || !(s["tx_pps"] >= s["rx_pps"]) || s["loss"] < 0 {
				t.Errorf("%s: %v", arms[k].name, s)
			}
		}
		for _, a := range arms {
			n, err := allocsPerDatagram(a, 50)
			if err != nil || n < 0 || math.IsNaN(n) {
				t.Errorf("%s: %v allocations per datagram, %v", a.name, n, err)
			}
			if strings.HasSuffix(a.name, "netip") && n != 0 {
				t.Errorf("%s: %v allocations per datagram, want 0", a.name, n)
			}
		}
	}
}

func TestCountRow(t *testing.T) {
	rep := &Report{Params: Config{Rounds: 3}}
	rep.add(newCountRow("gosdk/allocs/x", "gosdk", "n", "m", 0, 0))
	rep.add(newCountRow("gosdk/allocs/y", "gosdk", "n", "m", 2, 1))
	if bad := rep.Check(); len(bad) != 0 {
		t.Errorf("allocation counts of 0 fail the check: %v", bad)
	}
	if rep.Rows[0].Ratio != nil || rep.Rows[1].Ratio == nil || *rep.Rows[1].Ratio != 0.5 {
		t.Errorf("ratios %v, %v; want none for 0/0 and 0.5", rep.Rows[0].Ratio, rep.Rows[1].Ratio)
	}
	rep.add(newCountRow("gosdk/allocs/z", "gosdk", "n", "m", -1, 1))
	if bad := rep.Check(); len(bad) != 1 {
		t.Errorf("a negative count passes the check: %v", bad)
	}
}
