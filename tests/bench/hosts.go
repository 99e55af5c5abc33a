//go:build linux

package bench

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhostnl"
)

// scaleHidBase is the first host id of the resolution benchmark.
const scaleHidBase = 0x1000_0000

// scaleV4 is the IPv4 locator of host i of the benchmark tables: in
// 127.1.0.0/16 and up, all of 127/8 being local, so that every host is
// reachable on loopback and each has addresses of its own, as real
// hosts do.
func scaleV4(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, byte(1 + i>>16), byte(i >> 8), byte(i)})
}

// scaleHost is host i (from 0) of the benchmark tables: two locators,
// scaleV4(i) and an IPv6 one in fd00::/64 that is never used.
func scaleHost(id uint32, i int) mhostnl.Host {
	var v6 [16]byte
	v6[0] = 0xfd
	j := i + 1
	v6[12], v6[13], v6[14], v6[15] = byte(j>>24), byte(j>>16), byte(j>>8), byte(j)
	return mhostnl.Host{ID: id, Locators: []mhostnl.Locator{
		{Addr: scaleV4(i)},
		{Addr: netip.AddrFrom16(v6)},
	}}
}

// loadHosts adds hosts [from, to) of the scale tables, in chunks.
func (r *runner) loadHosts(nl *mhostnl.Client, base uint32, from, to int) error {
	chunk := make([]mhostnl.Host, 0, r.cfg.LoadChunk)
	for i := from; i < to; {
		chunk = chunk[:0]
		for ; i < to && len(chunk) < r.cfg.LoadChunk; i++ {
			chunk = append(chunk, scaleHost(base+uint32(i), i))
		}
		if err := nl.AddHosts(chunk); err != nil {
			return fmt.Errorf("adding hosts %d..%d: %w", i-len(chunk), i-1, err)
		}
	}
	return nil
}

// memSnapshot is the kernel memory the host table can be charged with,
// with the detail that says where it went.
type memSnapshot struct {
	slab, vmalloc int64
	caches        map[string]slabCache
	vmallocBy     map[string]int64
}

func takeMem() (memSnapshot, error) {
	var m memSnapshot
	var err error
	if m.slab, m.vmalloc, err = settledKernelBytes(5 * time.Second); err != nil {
		return m, err
	}
	m.caches, _ = slabinfo()
	m.vmallocBy = vmallocByCaller()
	return m, nil
}

// memBreakdown is the memory n added hosts took, per host.
type memBreakdown struct {
	total, slab, vmalloc float64
	// slabCaches is what the slab caches' own pages grew by; the rest
	// of slab is kmalloc_large (page allocations that 6.1 counts as
	// slab), such as rhashtable bucket arrays of 4 MiB and less.
	slabCaches, kmallocLarge float64
	detail                   string
}

func memDelta(before, after memSnapshot, n int) memBreakdown {
	per := func(b int64) float64 { return float64(b) / float64(n) }
	mb := memBreakdown{slab: per(after.slab - before.slab), vmalloc: per(after.vmalloc - before.vmalloc)}
	mb.total = mb.slab + mb.vmalloc
	type grow struct {
		name  string
		bytes int64
		objs  int64
		size  int64
	}
	var caches []grow
	var cacheBytes int64
	for name, a := range after.caches {
		b := before.caches[name]
		cacheBytes += a.Bytes - b.Bytes
		if d := (a.Objs - b.Objs) * a.ObjSize; d > int64(n) {
			caches = append(caches, grow{name, d, a.Objs - b.Objs, a.ObjSize})
		}
	}
	mb.slabCaches = per(cacheBytes)
	mb.kmallocLarge = mb.slab - mb.slabCaches
	sort.Slice(caches, func(i, j int) bool { return caches[i].bytes > caches[j].bytes })
	var parts []string
	for i := 0; i < len(caches) && i < 3; i++ {
		parts = append(parts, fmt.Sprintf("%s +%d objects of %d B (%.1f B/host)", caches[i].name, caches[i].objs,
			caches[i].size, per(caches[i].bytes)))
	}
	parts = append(parts, fmt.Sprintf("slab caches' pages %.1f B/host, other slab (kmalloc_large) %.1f B/host",
		mb.slabCaches, mb.kmallocLarge))
	var vms []grow
	for name, a := range after.vmallocBy {
		if d := a - before.vmallocBy[name]; d > int64(n) {
			vms = append(vms, grow{name: name, bytes: d})
		}
	}
	sort.Slice(vms, func(i, j int) bool { return vms[i].bytes > vms[j].bytes })
	for i := 0; i < len(vms) && i < 3; i++ {
		parts = append(parts, fmt.Sprintf("vmalloc by %s +%d B (%.1f B/host)", vms[i].name, vms[i].bytes, per(vms[i].bytes)))
	}
	mb.detail = strings.Join(parts, "; ")
	return mb
}

func (mb memBreakdown) extra() map[string]float64 {
	return map[string]float64{
		"slab_bytes_per_host":          mb.slab,
		"vmalloc_bytes_per_host":       mb.vmalloc,
		"slab_cache_bytes_per_host":    mb.slabCaches,
		"kmalloc_large_bytes_per_host": mb.kmallocLarge,
	}
}

// hidScaling measures what resolving a host id costs as the table
// grows. At each table size n three arms send 64-byte datagrams from the
// same AF_MHOST socket to the same receiving socket:
//
//	one:    always the same host id (the first; its entry stays hot)
//	random: a random sequence of host ids among all n
//	direct: a sockaddr_in to the very addresses "random" resolves to
//
// "random" against "one" is the measure (cost per datagram
// relative to a table of one entry); "random" against "direct" takes
// out what sending to many different addresses costs in IPv4 itself
// (routing, socket lookup), leaving the host table's own share. The
// metric is the sender's time per datagram: sendto through delivery to
// the receiver's queue, which loopback does in the sender's context.
// The memory a host entry takes is measured around the largest load.
func (r *runner) hidScaling() error {
	ns, err := newNetNS()
	if err != nil {
		return err
	}
	defer unix.Close(ns)
	if _, err := linkUp(ns, "lo"); err != nil {
		return err
	}
	// These rows measure the host table. With path liveness on, a sender
	// spraying datagrams over thousands of hosts has it watch and probe
	// the first 1024: that is the failover group's business.
	if err := liveOff(ns); err != nil {
		return err
	}
	nl, err := mhostnl.Dial(&mhostnl.Config{NetNS: ns})
	if err != nil {
		return err
	}
	defer nl.Close()

	f := &flow{name: "hid-scaling", tx: -1, rx: -1}
	if f.tx, err = openSocket(ns, r.family, unix.SOCK_DGRAM, 0); err != nil {
		return err
	}
	defer unix.Close(f.tx)
	if f.rx, err = openSocket(ns, r.family, unix.SOCK_DGRAM, 0); err != nil {
		return err
	}
	defer unix.Close(f.rx)
	if err := bindRaw(f.rx, saMhost(r.family, 0, 0)); err != nil {
		return err
	}
	port, err := localPort(f.rx)
	if err != nil {
		return err
	}
	size := r.cfg.Sizes[0]

	rng := rand.New(rand.NewPCG(r.cfg.Seed, 0x6d686f7374))
	// The arms cycle through sequences of the same length of separately
	// allocated addresses, so that user space does the same work in all.
	one := *f
	one.name = "one hid"
	one.dsts = make([][]byte, r.cfg.HidSequence)
	for i := range one.dsts {
		one.dsts[i] = saMhost(r.family, port, scaleHidBase)
	}
	loaded := 0
	last := r.cfg.HidTables[len(r.cfg.HidTables)-1]
	for _, n := range r.cfg.HidTables {
		var before memSnapshot
		measureMem := n == last && n-loaded >= 1000
		if measureMem {
			if before, err = takeMem(); err != nil {
				return err
			}
		}
		t := time.Now()
		if err := r.loadHosts(nl, scaleHidBase, loaded, n); err != nil {
			return err
		}
		if added := n - loaded; added > 0 {
			d := time.Since(t).Seconds()
			r.rep.info(fmt.Sprintf("hid_load_seconds/%d..%d", loaded, n), d)
			r.logf("hid: loaded hosts %d..%d in %.1fs (%.0f hosts/s)", loaded, n, d, float64(added)/d)
		}
		if measureMem {
			after, err := takeMem()
			if err != nil {
				return err
			}
			added := n - loaded
			mb := memDelta(before, after, added)
			row := newRow(fmt.Sprintf("memory/table/%d", n), "memory",
				fmt.Sprintf("host entry, 2 locators (%s hosts added to %s)", fmtNum(float64(added)), fmtNum(float64(loaded))),
				"kernel memory per host", "bytes", false, nil, []float64{mb.total}, atMost(256, "value"))
			row.Single = true
			row.Extra = mb.extra()
			row.Note = "Δ(Slab+VmallocUsed) of /proc/meminfo over the hosts added: " + mb.detail
			r.rep.add(row)
			r.logf("memory: %.1f B/host (slab %.1f, vmalloc %.1f): %s", mb.total, mb.slab, mb.vmalloc, mb.detail)
		}
		loaded = n

		random, direct := *f, *f
		random.name, direct.name = "random hid", "sockaddr_in"
		random.dsts = make([][]byte, r.cfg.HidSequence)
		direct.dsts = make([][]byte, r.cfg.HidSequence)
		for i := range random.dsts {
			h := rng.IntN(n)
			random.dsts[i] = saMhost(r.family, port, scaleHidBase+uint32(h))
			direct.dsts[i] = sa4(scaleV4(h), port)
		}
		for _, cmp := range []struct {
			id, name string
			base     *flow
			target   bool
		}{
			{"hid/%d", "hid table %s: random hid vs one hid", &one, n >= 1_000_000},
			{"hid/%d/direct", "hid table %s: random hid vs sockaddr_in to its address", &direct, false},
		} {
			b, c, err := r.tputRounds(cmp.base, &random, size)
			if err != nil {
				return fmt.Errorf("table of %d: %w", n, err)
			}
			var tgt *Target
			if cmp.target {
				tgt = atMost(1.10, "ratio")
			}
			name := fmt.Sprintf(cmp.name, fmtNum(float64(n)))
			if n == 1 && cmp.base == &one {
				name = "hid table 1: one hid vs the same (A/A: noise)"
			}
			row := newRow(fmt.Sprintf(cmp.id, n), "hid", name, "sender time per datagram", "ns", false,
				values(b, "ns_per_dgram"), values(c, "ns_per_dgram"), tgt)
			row.Extra = map[string]float64{
				"baseline_tx_pps":  median(values(b, "tx_pps")),
				"candidate_tx_pps": median(values(c, "tx_pps")),
				"payload_bytes":    float64(size),
			}
			r.rep.add(row)
			r.logf("%s: ratio %.3f (%.0f / %.0f ns)", row.ID, *row.Ratio, row.Candidate.Median, row.Baseline.Median)
		}
		if n == last {
			r.profile(fmt.Sprintf("hid/%d", n), &one, &random, size)
			r.profile(fmt.Sprintf("hid/%d/direct", n), &direct, &random, size)
		}
	}
	// Every datagram must have gone out on its host's first locator.
	st, err := nl.Stats()
	if err != nil {
		return err
	}
	switch {
	case int(st.Hosts) != loaded:
		return fmt.Errorf("the table holds %d hosts, want %d", st.Hosts, loaded)
	case st.TxFailover != 0 || st.TxUnreach != 0:
		return fmt.Errorf("%d failovers and %d unreachable sends: the benchmark measured failures", st.TxFailover, st.TxUnreach)
	}
	t := time.Now()
	if err := nl.FlushHosts(); err != nil {
		return err
	}
	r.rep.info(fmt.Sprintf("hid_flush_seconds/%d", loaded), time.Since(t).Seconds())
	return nil
}

// controlPlane measures the Go client's batched install rate, the dump
// rate and the flush rate on a table of CtlHosts hosts, and the kernel
// memory per host, in a namespace of its own, CtlRounds times.
func (r *runner) controlPlane() error {
	ns, err := newNetNS()
	if err != nil {
		return err
	}
	defer unix.Close(ns)
	nl, err := mhostnl.Dial(&mhostnl.Config{NetNS: ns})
	if err != nil {
		return err
	}
	defer nl.Close()
	n := r.cfg.CtlHosts
	hosts := make([]mhostnl.Host, n)
	for i := range hosts {
		hosts[i] = scaleHost(scaleHidBase+uint32(i), i)
	}
	var install, dump, flush, mem []float64
	var mbs []memBreakdown
	for round := 0; round < r.cfg.CtlRounds; round++ {
		before, err := takeMem()
		if err != nil {
			return err
		}
		t := time.Now()
		if err := nl.AddHosts(hosts); err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		install = append(install, float64(n)/time.Since(t).Seconds())
		after, err := takeMem()
		if err != nil {
			return err
		}
		mb := memDelta(before, after, n)
		mem, mbs = append(mem, mb.total), append(mbs, mb)
		r.logf("control round %d: memory %.1f B/host: %s", round, mb.total, mb.detail)

		t = time.Now()
		got, err := nl.Hosts()
		if err != nil {
			return fmt.Errorf("round %d: dump: %w", round, err)
		}
		dump = append(dump, float64(len(got))/time.Since(t).Seconds())
		if len(got) != n {
			return fmt.Errorf("round %d: dump returned %d hosts, want %d", round, len(got), n)
		}
		got = nil

		t = time.Now()
		if err := nl.FlushHosts(); err != nil {
			return fmt.Errorf("round %d: flush: %w", round, err)
		}
		flush = append(flush, float64(n)/time.Since(t).Seconds())
		r.logf("control round %d: install %.0f/s, dump %.0f/s, flush %.0f/s",
			round, install[round], dump[round], flush[round])
	}
	name := fmt.Sprintf("%s hosts, 2 locators, Go client", fmtNum(float64(n)))
	r.rep.add(newRow(fmt.Sprintf("control/install/%d", n), "control", name+", batched AddHosts",
		"installed", "hosts/s", true, nil, install, nil))
	r.rep.add(newRow(fmt.Sprintf("control/dump/%d", n), "control", name+", Hosts dump",
		"dumped", "hosts/s", true, nil, dump, nil))
	r.rep.add(newRow(fmt.Sprintf("control/flush/%d", n), "control", name+", FlushHosts",
		"flushed", "hosts/s", true, nil, flush, nil))
	row := newRow(fmt.Sprintf("memory/control/%d", n), "memory",
		fmt.Sprintf("host entry, 2 locators (%s hosts, empty table)", fmtNum(float64(n))),
		"kernel memory per host", "bytes", false, nil, mem, atMost(256, "value"))
	mid := mbs[0]
	for _, mb := range mbs {
		if mb.total == row.Candidate.Median {
			mid = mb
		}
	}
	row.Extra = mid.extra()
	row.Note = "Δ(Slab+VmallocUsed) of /proc/meminfo around AddHosts into an empty table, median round: " + mid.detail
	r.rep.add(row)
	return nil
}
