//go:build linux

package bench

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The design group compares this module with mhost.ko of another
// revision (Config.BaselineModule) in one boot. Both register the same
// address family, so they cannot be loaded together: each round loads
// one, measures its AF_MHOST flows against plain UDP, then the other,
// in alternating order. What is compared is each module's ratio to
// plain UDP measured in the same round, so that whatever the machine
// does to both arms of a round cancels out, and the row's ratio is this
// design's ratio over the other's.

// designKinds are the flows the design group measures: each AF_MHOST
// flow against the plain UDP flow of its network layer.
var designKinds = []struct{ udp, mhost, name string }{
	{"udp4", "mhost4", "AF_MHOST→IPv4 / UDP/IPv4"},
	{"udp6", "mhost6", "AF_MHOST→IPv6 / UDP/IPv6"},
}

// designSample is one module's measurements in one round, by row id.
type designSample map[string]float64

func (r *runner) design() error {
	if r.cfg.BaselineModule == "" {
		return errors.New("no baseline module (mhostvm bench -baseline REV)")
	}
	params, err := moduleParams("mhost")
	if err != nil {
		return err
	}
	holders, err := moduleHolders("mhost")
	if err != nil {
		return err
	}
	mods := [2]string{r.cfg.BaselineModule, extraDir + "/mhost.ko"}
	loaded := 1
	swap := func(to int) error {
		if loaded == to {
			return nil
		}
		for _, h := range holders {
			if err := unloadModule(h); err != nil {
				return err
			}
		}
		if err := unloadModule("mhost"); err != nil {
			return err
		}
		loaded = -1
		if err := loadModuleFile(mods[to], params); err != nil {
			return err
		}
		loaded = to
		return nil
	}
	// This module and the modules that used it are back afterwards,
	// whatever happened.
	defer func() {
		if err := swap(1); err != nil {
			r.rep.Errors = append(r.rep.Errors, "design: restoring mhost.ko: "+err.Error())
			return
		}
		for _, h := range holders {
			if _, err := ensureModule(h); err != nil {
				r.rep.Errors = append(r.rep.Errors, "design: reloading "+h+": "+err.Error())
			}
		}
	}()

	var got [2][]designSample
	measure := func(round int) error {
		for i := 0; i < 2; i++ {
			m := (round + i) & 1 // the warm-up round is -1
			if err := swap(m); err != nil {
				return err
			}
			s, err := r.designRound(round)
			if err != nil {
				return fmt.Errorf("%s: %w", mods[m], err)
			}
			if round >= 0 {
				got[m] = append(got[m], s)
			}
		}
		return nil
	}
	if r.cfg.Warmup {
		if err := measure(-1); err != nil {
			return err
		}
	}
	for i := 0; i < r.cfg.Rounds; i++ {
		if err := measure(i); err != nil {
			return err
		}
	}

	pick := func(ss []designSample, key string) []float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = s[key]
		}
		return v
	}
	name := r.cfg.BaselineName
	if name == "" {
		name = "baseline"
	}
	for _, k := range designKinds {
		for _, size := range r.cfg.Sizes {
			tput := fmt.Sprintf("throughput/%s/%d", k.mhost, size)
			row := newRow("design/"+tput, "design",
				fmt.Sprintf("loopback %dB %s: mhost.ko of %s vs this one", size, k.name, name),
				"received, ratio to UDP", "ratio", true,
				pick(got[0], tput), pick(got[1], tput), atLeast(0.95, "value"))
			r.rep.add(row)
			lat := fmt.Sprintf("latency/%s/%d", k.mhost, size)
			row = newRow("design/"+lat+"/p50", "design",
				fmt.Sprintf("loopback %dB %s: mhost.ko of %s vs this one", size, k.name, name),
				"round trip p50, ratio to UDP", "ratio", false,
				pick(got[0], lat), pick(got[1], lat), atMost(1.05, "value"))
			r.rep.add(row)
		}
	}
	return nil
}

// designRound measures the loaded module's AF_MHOST flows against plain
// UDP, one round of each pair, in a namespace of its own that goes
// before the module may be unloaded.
func (r *runner) designRound(round int) (designSample, error) {
	ns, err := newNetNS()
	if err != nil {
		return nil, err
	}
	defer unix.Close(ns)
	if _, err := linkUp(ns, "lo"); err != nil {
		return nil, err
	}
	first := 0
	if round > 0 {
		first = round % 2
	}
	slices := max(int(r.cfg.Duration/r.cfg.Slice), 1)
	out := designSample{}
	for _, k := range designKinds {
		var arms [2]*flow
		for i, kind := range []string{k.udp, k.mhost} {
			if arms[i], err = r.openIPFlow(ns, kind); err != nil {
				arms[0].close()
				return nil, err
			}
		}
		for _, size := range r.cfg.Sizes {
			t, err := throughputPair(arms, size, r.cfg.Slice, slices, first, r.cfg.Block)
			if err == nil {
				out[fmt.Sprintf("throughput/%s/%d", k.mhost, size)] = t[1]["rx_pps"] / t[0]["rx_pps"]
				var l [2]sample
				l, err = pingpongPair(arms, size, r.cfg.Pings, r.cfg.PingWarmup, first, r.cfg.Block, r.cfg.PingTimeCap)
				if err == nil {
					out[fmt.Sprintf("latency/%s/%d", k.mhost, size)] = l[1]["p50_us"] / l[0]["p50_us"]
				}
			}
			if err != nil {
				arms[0].close()
				arms[1].close()
				return nil, fmt.Errorf("%s %dB: %w", k.mhost, size, err)
			}
		}
		arms[0].close()
		arms[1].close()
	}
	return out, nil
}

// moduleHolders lists the modules that use a module: they must go
// before it can.
func moduleHolders(name string) ([]string, error) {
	ents, err := os.ReadDir("/sys/module/" + name + "/holders")
	if err != nil {
		return nil, err
	}
	var hs []string
	for _, e := range ents {
		hs = append(hs, e.Name())
	}
	return hs, nil
}

// moduleParams reads back the parameters a module was loaded with, as a
// finit_module argument string, so that a reload gets the same ones.
func moduleParams(name string) (string, error) {
	b, err := os.ReadFile("/sys/module/" + name + "/parameters/family")
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return "", fmt.Errorf("mhost family parameter %q: %w", b, err)
	}
	return fmt.Sprintf("family=%d", n), nil
}

// loadModuleFile loads a .ko file with parameters.
func loadModuleFile(path, params string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), params, 0); err != nil {
		return fmt.Errorf("finit_module %s: %w", path, err)
	}
	return nil
}
