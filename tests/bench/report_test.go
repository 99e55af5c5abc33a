//go:build linux

package bench

// These tests run on the build machine (make unit): they cover the
// statistics and the report, never a socket.

import (
	"math"
	"strings"
	"testing"
)

func TestMinMedianMax(t *testing.T) {
	for _, tc := range []struct {
		in          []float64
		lo, med, hi float64
	}{
		{[]float64{3}, 3, 3, 3},
		{[]float64{5, 1, 3}, 1, 3, 5},
		{[]float64{4, 1, 3, 2}, 1, 2.5, 4},
	} {
		in := append([]float64(nil), tc.in...)
		lo, med, hi := minMedianMax(in)
		if lo != tc.lo || med != tc.med || hi != tc.hi {
			t.Errorf("minMedianMax(%v) = %v, %v, %v; want %v, %v, %v", tc.in, lo, med, hi, tc.lo, tc.med, tc.hi)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Errorf("minMedianMax reordered its input: %v", in)
			}
		}
	}
}

func TestPercentileIndex(t *testing.T) {
	for _, tc := range []struct {
		n    int
		p    float64
		want int
	}{
		{1, 0.5, 0}, {1, 0.99, 0}, {2, 0.5, 0}, {100, 0.5, 49}, {100, 0.99, 98}, {2000, 0.99, 1979},
	} {
		if got := percentileIndex(tc.n, tc.p); got != tc.want {
			t.Errorf("percentileIndex(%d, %v) = %d, want %d", tc.n, tc.p, got, tc.want)
		}
	}
}

func TestRowRatioAndTarget(t *testing.T) {
	r := newRow("x", "g", "n", "m", "u", true, []float64{100, 110, 90}, []float64{96, 99, 94}, atLeast(0.95, "ratio"))
	if r.Ratio == nil || math.Abs(*r.Ratio-0.96) > 1e-9 {
		t.Fatalf("ratio %v, want 0.96", r.Ratio)
	}
	if r.Met == nil || !*r.Met {
		t.Errorf("0.96 against ≥ 0.95: not met")
	}
	if r.RoundRatios == nil || len(r.RoundRatios.Values) != 3 || r.RoundRatios.Values[1] != 0.9 {
		t.Errorf("round ratios %+v", r.RoundRatios)
	}
	m := newRow("y", "memory", "n", "m", "B", false, nil, []float64{257}, atMost(256, "value"))
	if m.Ratio != nil || m.Met == nil || *m.Met {
		t.Errorf("257 B against ≤ 256 B: ratio %v, met %v", m.Ratio, m.Met)
	}
}

func TestCheck(t *testing.T) {
	good := &Report{Params: Config{Rounds: 2, CtlRounds: 3}}
	good.add(newRow("latency/a/64/p50", "latency", "", "", "", false, []float64{10, 11}, []float64{10, 12}, nil))
	good.add(newRow("latency/a/64/p99", "latency", "", "", "", false, []float64{20, 21}, []float64{20, 22}, nil))
	good.add(newRow("control/install/5", "control", "", "", "", true, nil, []float64{1, 2, 3}, nil))
	mem := newRow("memory/table/9", "memory", "", "", "", false, nil, []float64{200}, nil)
	mem.Single = true
	good.add(mem)
	if bad := good.Check(); len(bad) != 0 {
		t.Errorf("a sane report fails its check: %v", bad)
	}

	insane := &Report{Params: Config{Rounds: 2, CtlRounds: 2}}
	insane.add(newRow("latency/a/64/p50", "latency", "", "", "", false, []float64{10, 30}, []float64{10, 12}, nil))
	insane.add(newRow("latency/a/64/p99", "latency", "", "", "", false, []float64{20, 21}, []float64{20, 22}, nil))
	insane.add(newRow("throughput/b", "throughput", "", "", "", true, []float64{0, 1}, []float64{1, 1}, nil))
	insane.add(newRow("throughput/c", "throughput", "", "", "", true, []float64{1, 1}, []float64{1}, nil))
	insane.add(newRow("throughput/d", "throughput", "", "", "", true, []float64{1, 1}, []float64{math.NaN(), 1}, nil))
	bad := strings.Join(insane.Check(), "\n")
	for _, want := range []string{
		"round 1 p50 30 above p99 21",
		"throughput/b: baseline value 0",
		"throughput/c: candidate has 1 values, want 2",
		"throughput/d: candidate value NaN",
	} {
		if !strings.Contains(bad, want) {
			t.Errorf("check does not report %q; it says:\n%s", want, bad)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	rep := &Report{Params: FullConfig(), Env: Env{KernelRelease: "6.1.0-test"}}
	rep.add(newRow("throughput/x/64", "throughput", "name", "received", "datagrams/s", true,
		[]float64{1, 2, 3}, []float64{2, math.Inf(1), 4}, atLeast(0.95, "ratio")))
	js, err := rep.JSON()
	if err != nil {
		t.Fatalf("JSON: %v", err)
	}
	out := "noise\n" + JSONBegin + "\n" + string(js) + "\n" + JSONEnd + "\nmore noise\n"
	body, err := ExtractJSON(out)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseReport(body)
	if err != nil {
		t.Fatal(err)
	}
	if back.Env.KernelRelease != "6.1.0-test" || back.Params.Rounds != FullConfig().Rounds || len(back.Rows) != 1 {
		t.Fatalf("round trip lost data: %+v", back)
	}
	c := back.Rows[0].Candidate
	if !math.IsNaN(c.Values[1]) || c.Values[2] != 4 {
		t.Errorf("candidate values after the round trip: %v (an infinity travels as null)", c.Values)
	}
	if _, err := ExtractJSON("no markers"); err == nil {
		t.Error("ExtractJSON found a report in output without markers")
	}
}

func TestConfigs(t *testing.T) {
	for name, c := range map[string]Config{"full": FullConfig(), "smoke": SmokeConfig(), "icount": IcountConfig()} {
		if err := c.Validate(); err != nil {
			t.Errorf("%s config: %v", name, err)
		}
	}
	for _, c := range []Config{FullConfig(), IcountConfig()} {
		if c.Rounds < 5 {
			t.Errorf("make bench runs %d rounds; the issue asks for at least 5", c.Rounds)
		}
	}
	if !IcountConfig().Block {
		t.Error("under icount, spinning receivers would count their spinning")
	}
	c := FullConfig()
	c.HidTables = []int{10, 100}
	if c.Validate() == nil {
		t.Error("hid tables not starting at 1 pass validation")
	}
}

func TestFmtNum(t *testing.T) {
	for v, want := range map[float64]string{
		0.123: "0.123", 12.34: "12.3", 249.4: "249", 1234: "1234", 12345: "12.3k", 123456: "123k", 1234567: "1.23M",
	} {
		if got := fmtNum(v); got != want {
			t.Errorf("fmtNum(%v) = %q, want %q", v, got, want)
		}
	}
}
