//go:build linux

package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Series is one arm of a row: one value per round.
type Series struct {
	Label  string    `json:"label"`
	Values []float64 `json:"values"`
	Min    float64   `json:"min"`
	Median float64   `json:"median"`
	Max    float64   `json:"max"`
}

func newSeries(label string, v []float64) *Series {
	s := &Series{Label: label, Values: v}
	if len(v) == 0 {
		s.Min, s.Median, s.Max = math.NaN(), math.NaN(), math.NaN()
		return s
	}
	s.Min, s.Median, s.Max = minMedianMax(v)
	return s
}

func minMedianMax(v []float64) (lo, med, hi float64) {
	c := append([]float64(nil), v...)
	sort.Float64s(c)
	n := len(c)
	med = c[n/2]
	if n%2 == 0 {
		med = (c[n/2-1] + c[n/2]) / 2
	}
	return c[0], med, c[n-1]
}

// Target is a goal for a row: its ratio (or, without a baseline, its
// candidate median) must be at least Min or at most Max.
type Target struct {
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// On says what the bound applies to: "ratio" or "value".
	On string `json:"on"`
}

func atLeast(v float64, on string) *Target { return &Target{Min: &v, On: on} }
func atMost(v float64, on string) *Target  { return &Target{Max: &v, On: on} }

func (t *Target) String() string {
	if t == nil {
		return ""
	}
	var s string
	switch {
	case t.Min != nil:
		s = "≥ " + fmtNum(*t.Min)
	case t.Max != nil:
		s = "≤ " + fmtNum(*t.Max)
	}
	return s
}

func (t *Target) met(v float64) bool {
	if t.Min != nil && !(v >= *t.Min) {
		return false
	}
	if t.Max != nil && !(v <= *t.Max) {
		return false
	}
	return true
}

// Row is one line of the results: a candidate measured against a
// baseline in interleaved rounds, or a candidate alone.
type Row struct {
	ID     string `json:"id"`
	Group  string `json:"group"`
	Name   string `json:"name"`
	Metric string `json:"metric"`
	Unit   string `json:"unit"`
	// HigherIsBetter says which way the metric improves.
	HigherIsBetter bool    `json:"higher_is_better"`
	Baseline       *Series `json:"baseline,omitempty"`
	Candidate      *Series `json:"candidate"`
	// Ratio is the candidate's median over the baseline's.
	Ratio *float64 `json:"ratio,omitempty"`
	// RoundRatios are candidate/baseline of each round (its spread).
	RoundRatios *Series `json:"round_ratios,omitempty"`
	Target      *Target `json:"target,omitempty"`
	Met         *bool   `json:"met,omitempty"`
	// Extra holds secondary medians (send rate, drops, ...).
	Extra map[string]float64 `json:"extra,omitempty"`
	Note  string             `json:"note,omitempty"`
	// Single marks a row measured once, not in rounds.
	Single bool `json:"single,omitempty"`
	// Count marks a row whose value counts something that may be 0.
	Count bool `json:"count,omitempty"`
}

func newRow(id, group, name, metric, unit string, higher bool, base, cand []float64, tgt *Target) *Row {
	r := &Row{ID: id, Group: group, Name: name, Metric: metric, Unit: unit, HigherIsBetter: higher,
		Candidate: newSeries("candidate", cand), Target: tgt}
	if base != nil {
		r.Baseline = newSeries("baseline", base)
		ratio := r.Candidate.Median / r.Baseline.Median
		r.Ratio = &ratio
		if len(base) == len(cand) {
			rr := make([]float64, len(base))
			for i := range base {
				rr[i] = cand[i] / base[i]
			}
			r.RoundRatios = newSeries("round ratios", rr)
		}
	}
	if tgt != nil {
		v := r.Candidate.Median
		if tgt.On == "ratio" && r.Ratio != nil {
			v = *r.Ratio
		}
		m := tgt.met(v)
		r.Met = &m
	}
	return r
}

// Report is everything one run produced.
type Report struct {
	Started  time.Time      `json:"started"`
	Duration float64        `json:"duration_s"`
	Env      Env            `json:"guest"`
	Host     map[string]any `json:"host,omitempty"` // filled in by the VM harness
	Params   Config         `json:"params"`
	Rows     []*Row         `json:"rows"`
	// Info holds single measurements that are not rows (load times...).
	Info map[string]float64 `json:"info,omitempty"`
	// Profiles say where the sender's CPU spends its time in both arms
	// of some rows.
	Profiles []Profile `json:"profiles,omitempty"`
	// Notes are problems that do not make the numbers wrong, such as a
	// profile that could not be taken.
	Notes  []string `json:"notes,omitempty"`
	Errors []string `json:"errors,omitempty"`
}

func (r *Report) add(row *Row) { r.Rows = append(r.Rows, row) }

func (r *Report) info(k string, v float64) {
	if r.Info == nil {
		r.Info = map[string]float64{}
	}
	r.Info[k] = v
}

// JSON returns the report, indented.
func (r *Report) JSON() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

// ParseReport reads a report written by JSON.
func ParseReport(b []byte) (*Report, error) {
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// seriesJSON is a Series as JSON: NaN and infinities, which JSON cannot
// carry, are null.
type seriesJSON struct {
	Label  string     `json:"label"`
	Values []*float64 `json:"values"`
	Min    *float64   `json:"min"`
	Median *float64   `json:"median"`
	Max    *float64   `json:"max"`
}

// MarshalJSON writes NaN and infinities as null.
func (s *Series) MarshalJSON() ([]byte, error) {
	p := seriesJSON{Label: s.Label, Min: finite(s.Min), Median: finite(s.Median), Max: finite(s.Max)}
	for _, v := range s.Values {
		p.Values = append(p.Values, finite(v))
	}
	return json.Marshal(p)
}

// UnmarshalJSON reads what MarshalJSON wrote, nulls as NaN.
func (s *Series) UnmarshalJSON(b []byte) error {
	var p seriesJSON
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	s.Label, s.Min, s.Median, s.Max = p.Label, orNaN(p.Min), orNaN(p.Median), orNaN(p.Max)
	s.Values = nil
	for _, v := range p.Values {
		s.Values = append(s.Values, orNaN(v))
	}
	return nil
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// Check reports what makes the numbers insane: missing or non-finite
// values, non-positive rates, rounds missing, p50 above p99, ratios that
// are not finite. It says nothing about speed.
func (r *Report) Check() []string {
	var bad []string
	for _, e := range r.Errors {
		bad = append(bad, "error: "+e)
	}
	byID := map[string]*Row{}
	for _, row := range r.Rows {
		byID[row.ID] = row
	}
	for _, row := range r.Rows {
		for _, s := range []*Series{row.Baseline, row.Candidate} {
			if s == nil {
				continue
			}
			n := r.Params.Rounds
			switch {
			case row.Single:
				n = 1
			case row.Group == "control" || strings.HasPrefix(row.ID, "memory/control/"):
				n = r.Params.CtlRounds
			case row.Group == "failover":
				n = r.Params.FailoverRounds
			}
			if len(s.Values) < n {
				bad = append(bad, fmt.Sprintf("%s: %s has %d values, want %d", row.ID, s.Label, len(s.Values), n))
			}
			for _, v := range s.Values {
				if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || (v == 0 && !row.Count && row.Unit != unitAllocs) {
					bad = append(bad, fmt.Sprintf("%s: %s value %v is not a positive finite number", row.ID, s.Label, v))
					break
				}
			}
			if !(s.Min <= s.Median && s.Median <= s.Max) {
				bad = append(bad, fmt.Sprintf("%s: %s min/median/max %v/%v/%v out of order", row.ID, s.Label, s.Min, s.Median, s.Max))
			}
		}
		if row.Candidate == nil {
			bad = append(bad, row.ID+": no candidate")
		}
		if row.Baseline != nil && row.Unit != unitAllocs && (row.Ratio == nil || math.IsNaN(*row.Ratio) || math.IsInf(*row.Ratio, 0) || *row.Ratio <= 0) {
			bad = append(bad, row.ID+": ratio is not a positive finite number")
		}
		if p50, ok := strings.CutSuffix(row.ID, "/p99"); ok {
			lo := byID[p50+"/p50"]
			if lo == nil {
				bad = append(bad, row.ID+": no p50 row")
				continue
			}
			pairs := [][2]*Series{{lo.Baseline, row.Baseline}, {lo.Candidate, row.Candidate}}
			for _, p := range pairs {
				if p[0] == nil || p[1] == nil || len(p[0].Values) != len(p[1].Values) {
					continue
				}
				for i := range p[0].Values {
					if p[0].Values[i] > p[1].Values[i] {
						bad = append(bad, fmt.Sprintf("%s: round %d p50 %v above p99 %v", p50, i, p[0].Values[i], p[1].Values[i]))
					}
				}
			}
		}
	}
	return bad
}

// WriteTable prints the rows as a table people can read.
func (r *Report) WriteTable(w io.Writer) {
	e := r.Env
	fmt.Fprintf(w, "mhost benchmarks: kernel %s, %s, %d CPUs, accel %s, clocksource %s\n",
		e.KernelRelease, e.CPUModel, e.CPUs, e.Accel, e.Clocksource)
	if h, ok := r.Host["cpu_model"]; ok {
		fmt.Fprintf(w, "host: %v, kernel %v, %v\n", h, r.Host["kernel_release"], r.Host["qemu"])
	}
	p := r.Params
	fmt.Fprintf(w, "%d rounds per row; in each, the arms alternate every %v for %v each (throughput) or every round trip for %d each (latency)\n",
		p.Rounds, p.Slice, p.Duration, p.Pings)
	fmt.Fprintln(w, "values: median [min..max] over the rounds; ratio = candidate median / baseline median")
	if p.Icount {
		fmt.Fprintln(w, "icount: QEMU counts instructions, 1 ns = 1 guest instruction (one vCPU, sender and receiver take turns); receivers block in poll(2)")
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "benchmark\tmetric\tbaseline\tcandidate\tratio\ttarget\t")
	group := ""
	for _, row := range r.Rows {
		if row.Group != group {
			if group != "" {
				fmt.Fprintln(tw, "\t\t\t\t\t\t")
			}
			group = row.Group
		}
		base, ratio := row.baselineAndRatio()
		tgt := ""
		if row.Target != nil {
			tgt = row.Target.String()
			if row.Met != nil {
				if *row.Met {
					tgt += " met"
				} else {
					tgt += " MISSED"
				}
			}
		}
		metric := row.Metric
		if row.Unit != "" {
			metric += " (" + row.Unit + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", row.Name, metric, base, fmtSeries(row.Candidate), ratio, tgt)
	}
	tw.Flush()
	for i := range r.Profiles {
		fmt.Fprintln(w)
		r.Profiles[i].write(w, 14)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if len(r.Errors) > 0 {
		fmt.Fprintln(w)
		for _, e := range r.Errors {
			fmt.Fprintf(w, "ERROR: %s\n", e)
		}
	}
}

// baselineAndRatio formats a row's baseline series and its ratio with
// the range of per-round ratios, "—" for what the row does not have.
func (row *Row) baselineAndRatio() (base, ratio string) {
	base, ratio = "—", "—"
	if row.Baseline != nil {
		base = fmtSeries(row.Baseline)
	}
	if row.Ratio != nil {
		ratio = fmt.Sprintf("%.3f", *row.Ratio)
		if row.RoundRatios != nil {
			ratio += fmt.Sprintf(" [%.2f..%.2f]", row.RoundRatios.Min, row.RoundRatios.Max)
		}
	}
	return base, ratio
}

// WriteMarkdown prints the rows as a Markdown table (for the README).
func (r *Report) WriteMarkdown(w io.Writer) {
	fmt.Fprintln(w, "| benchmark | metric | baseline median [min..max] | candidate median [min..max] | ratio [per-round range] | target |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, row := range r.Rows {
		base, ratio := row.baselineAndRatio()
		tgt := "—"
		if row.Target != nil {
			tgt = row.Target.String()
			if row.Met != nil && *row.Met {
				tgt += " **met**"
			} else if row.Met != nil {
				tgt += " **missed**"
			}
		}
		metric := row.Metric
		if row.Unit != "" {
			metric += " (" + row.Unit + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", row.Name, metric, base, fmtSeries(row.Candidate), ratio, tgt)
	}
}

// write prints the functions whose cost per datagram differs most
// between the arms.
func (p *Profile) write(w io.Writer, n int) {
	fmt.Fprintf(w, "profile %s: sender CPU, cpu-clock sampling (%v period), ns per datagram = share of samples × time per datagram\n"+
		"  baseline %s: %d samples, %d datagrams in %v; candidate %s: %d samples, %d datagrams in %v\n",
		p.Row, time.Duration(p.PeriodNs),
		p.Baseline.Arm, p.Baseline.Samples, p.Baseline.Datagrams, time.Duration(p.Baseline.WallNs).Round(time.Millisecond),
		p.Candidate.Arm, p.Candidate.Samples, p.Candidate.Datagrams, time.Duration(p.Candidate.WallNs).Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "function\tbaseline\tcandidate\tdelta\t\n")
	for _, l := range []struct {
		name  string
		match func(string) bool
	}{
		{"all", func(s string) bool { return true }},
		{"busy (all but idle)", func(s string) bool { return s != "[idle]" }},
		{"kernel (all but idle and user)", func(s string) bool { return s != "[idle]" && !strings.HasPrefix(s, "[user]") }},
		{"user space", func(s string) bool { return strings.HasPrefix(s, "[user]") }},
		{"mhost.ko functions", func(s string) bool { return strings.HasSuffix(s, "[mhost]") }},
	} {
		b, c := p.Baseline.nsPerDgram(l.match), p.Candidate.nsPerDgram(l.match)
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%+.0f\t\n", l.name, b, c, c-b)
	}
	for _, d := range p.diff(n) {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%+.0f\t\n", d.symbol, d.base, d.cand, d.cand-d.base)
	}
	tw.Flush()
}

func fmtSeries(s *Series) string {
	if s == nil {
		return "—"
	}
	if len(s.Values) == 1 {
		return fmtNum(s.Median)
	}
	return fmt.Sprintf("%s [%s..%s]", fmtNum(s.Median), fmtNum(s.Min), fmtNum(s.Max))
}

// fmtNum prints 3 significant digits, with k/M suffixes for large values.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Sprint(v)
	case a >= 10e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case a >= 100e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	case a >= 10e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// Markers around the JSON report in a program's output: the guest has no
// file system the host can read, so the report travels on the serial
// port between these lines.
const (
	JSONBegin = "MHOST-BENCH-JSON-BEGIN"
	JSONEnd   = "MHOST-BENCH-JSON-END"
)

// ExtractJSON returns the report between the markers in out.
func ExtractJSON(out string) ([]byte, error) {
	_, rest, ok := strings.Cut(out, JSONBegin+"\n")
	if !ok {
		return nil, fmt.Errorf("no %s line in the output", JSONBegin)
	}
	body, _, ok := strings.Cut(rest, JSONEnd)
	if !ok {
		return nil, fmt.Errorf("no %s line in the output", JSONEnd)
	}
	return []byte(body), nil
}
