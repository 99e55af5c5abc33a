//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mnet/mnet/gosdk/mhostnl"
)

// The JSON shapes. Their keys are part of mhostctl's interface: add keys,
// never rename or remove them.

type jsonLocator struct {
	Family       string `json:"family"`
	FamilyNumber uint16 `json:"family_number"`
	Address      string `json:"address"`
	Port         uint16 `json:"port"`
	Ifindex      int    `json:"ifindex"`
	Dev          string `json:"dev"`
	TxPackets    uint64 `json:"tx_packets"`
	TxErrors     uint64 `json:"tx_errors"`
	// Path liveness. Times are milliseconds ago, null for never; the
	// round trip is null before a probe was answered.
	State       string `json:"state"`
	Cause       string `json:"cause"`
	LastHeardMs *int64 `json:"last_heard_ms"`
	ChangedMs   *int64 `json:"changed_ms"`
	RTTUs       *int64 `json:"rtt_us"`
	RTTVarUs    *int64 `json:"rttvar_us"`
	Flaps       uint32 `json:"flaps"`
	HoldDownMs  int64  `json:"hold_down_ms"`
}

type jsonHost struct {
	ID       uint32        `json:"id"`
	Locators []jsonLocator `json:"locators"`
	// The host's own liveness knobs, those it has.
	Live *jsonKnobs `json:"live,omitempty"`
}

type jsonKnobs struct {
	IntervalMs *int64 `json:"interval_ms,omitempty"`
	Multiplier *int   `json:"multiplier,omitempty"`
	HoldDownMs *int64 `json:"hold_down_ms,omitempty"`
	Revertive  *bool  `json:"revertive,omitempty"`
}

type jsonLiveness struct {
	IntervalMs int64  `json:"interval_ms"`
	Multiplier int    `json:"multiplier"`
	HoldDownMs int64  `json:"hold_down_ms"`
	Revertive  bool   `json:"revertive"`
	Port       uint16 `json:"port"`
	Answer     bool   `json:"answer"`
	PortError  string `json:"port_error"`
}

type jsonProtocol struct {
	Name         string `json:"name"`
	FamilyNumber uint16 `json:"family_number"`
	Module       string `json:"module"`
	AddrLen      int    `json:"addr_len"`
	TxPackets    uint64 `json:"tx_packets"`
	RxPackets    uint64 `json:"rx_packets"`
}

type jsonSocket struct {
	Port       uint16 `json:"port"`
	UID        uint32 `json:"uid"`
	Inode      uint64 `json:"inode"`
	RxQueue    uint32 `json:"rx_queue"`
	TxQueue    uint32 `json:"tx_queue"`
	Drops      uint32 `json:"drops"`
	PeerHostID uint32 `json:"peer_host_id"`
}

type jsonStats struct {
	Hosts           uint32 `json:"hosts"`
	Sockets         uint32 `json:"sockets"`
	TxHostID        uint64 `json:"tx_host_id"`
	TxFailover      uint64 `json:"tx_failover"`
	TxUnreach       uint64 `json:"tx_unreach"`
	RxL3Unknown     uint64 `json:"rx_l3_unknown"`
	HostsAllocated  uint64 `json:"hosts_allocated"`
	TxL3            uint64 `json:"tx_l3"`
	RxL3            uint64 `json:"rx_l3"`
	RxL3Short       uint64 `json:"rx_l3_short"`
	RxL3BadHeader   uint64 `json:"rx_l3_bad_header"`
	RxL3BadLen      uint64 `json:"rx_l3_bad_len"`
	RxL3Truncated   uint64 `json:"rx_l3_truncated"`
	RxL3NoSocket    uint64 `json:"rx_l3_no_socket"`
	RxL3BadCsum     uint64 `json:"rx_l3_bad_csum"`
	RxL3DevDisabled uint64 `json:"rx_l3_dev_disabled"`

	LiveHosts             uint32 `json:"live_hosts"`
	ProbesSent            uint64 `json:"probes_sent"`
	ProbesAnswered        uint64 `json:"probes_answered"`
	ProbesMissed          uint64 `json:"probes_missed"`
	LocatorChanges        uint64 `json:"locator_changes"`
	LocatorSignals        uint64 `json:"locator_signals"`
	LocatorSignalsIgnored uint64 `json:"locator_signals_ignored"`
	ProbeReplies          uint64 `json:"probe_replies"`
	ProbeRepliesLimited   uint64 `json:"probe_replies_limited"`
	ProbesBad             uint64 `json:"probes_bad"`
}

type jsonDevice struct {
	Dev     string `json:"dev"`
	Ifindex int    `json:"ifindex"`
	L3      bool   `json:"l3"`
}

type jsonEvent struct {
	Event    string        `json:"event"`
	ID       uint32        `json:"id,omitempty"`
	Locators []jsonLocator `json:"locators,omitempty"`
	// Device events: the device and its setting.
	Dev     string `json:"dev,omitempty"`
	Ifindex int    `json:"ifindex,omitempty"`
	L3      *bool  `json:"l3,omitempty"`
	// A locator's change of state: the state it left; the new one and
	// the cause are the locator's.
	PrevState string `json:"prev_state,omitempty"`
}

type jsonResolved struct {
	ID       uint32        `json:"id"`
	Name     string        `json:"name"`
	Locators []jsonLocator `json:"locators"`
}

func (c *cli) jsonLocators(locs []mhostnl.Locator) []jsonLocator {
	out := make([]jsonLocator, 0, len(locs))
	for _, l := range locs {
		out = append(out, jsonLocator{
			Family:       c.familyName(l.Family),
			FamilyNumber: uint16(l.Family),
			Address:      l.AddrString(),
			Port:         l.Port,
			Ifindex:      l.Ifindex,
			Dev:          c.devName(l.Ifindex),
			TxPackets:    l.TxPackets,
			TxErrors:     l.TxErrors,
			State:        l.State.String(),
			Cause:        l.Cause.String(),
			LastHeardMs:  c.msSince(l.LastHeard),
			ChangedMs:    c.msSince(l.Changed),
			RTTUs:        micros(l.RTT),
			RTTVarUs:     micros(l.RTTVar),
			Flaps:        l.Flaps,
			HoldDownMs:   l.HoldDown.Milliseconds(),
		})
	}
	return out
}

// msSince returns the milliseconds since t, nil for the zero time.
func (c *cli) msSince(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	ms := max(c.now().Sub(t).Milliseconds(), 0)
	return &ms
}

// micros returns d in microseconds, nil for 0 (no measurement).
func micros(d time.Duration) *int64 {
	if d == 0 {
		return nil
	}
	us := d.Microseconds()
	return &us
}

func jsonKnobsOf(k *mhostnl.LiveKnobs) *jsonKnobs {
	if k == nil {
		return nil
	}
	ms := func(d *time.Duration) *int64 {
		if d == nil {
			return nil
		}
		v := d.Milliseconds()
		return &v
	}
	return &jsonKnobs{IntervalMs: ms(k.Interval), Multiplier: k.Multiplier, HoldDownMs: ms(k.HoldDown), Revertive: k.Revertive}
}

// ago writes how long ago t was, "-" for never.
func (c *cli) ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return max(c.now().Sub(t), 0).Round(time.Millisecond).String()
}

// rtt writes a round trip to a tenth of a millisecond, "-" for none.
func rtt(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(100 * time.Microsecond).String()
}

// printJSON writes v as JSON on one line, indented with -p.
func (c *cli) printJSON(v any) error {
	var (
		b   []byte
		err error
	)
	if c.pretty {
		b, err = json.MarshalIndent(v, "", "  ")
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.stdout, "%s\n", b)
	return err
}

// table writes rows under a header, in columns.
func (c *cli) table(header string, rows [][]string) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" || s == "0" {
		return "-"
	}
	return s
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }

func (c *cli) renderHosts(hosts []mhostnl.Host) error {
	if c.json {
		out := make([]jsonHost, 0, len(hosts))
		for _, h := range hosts {
			out = append(out, jsonHost{ID: h.ID, Locators: c.jsonLocators(h.Locators), Live: jsonKnobsOf(h.Live)})
		}
		return c.printJSON(out)
	}
	header := "ID\tKIND\tADDRESS\tPORT\tDEV\tSTATE\tCAUSE\tHEARD\tRTT"
	if c.stats {
		header += "\tTX_PACKETS\tTX_ERRORS\tFLAPS\tHOLD"
	}
	var rows [][]string
	for _, h := range hosts {
		id := u64(uint64(h.ID))
		if len(h.Locators) == 0 {
			rows = append(rows, append([]string{id}, slices.Repeat([]string{"-"}, strings.Count(header, "\t"))...))
		}
		for _, l := range h.Locators {
			cause := "-"
			if l.Cause != mhostnl.CauseNone {
				cause = l.Cause.String()
			}
			row := []string{id, c.familyName(l.Family), l.AddrString(),
				dash(strconv.Itoa(int(l.Port))), dash(c.devName(l.Ifindex)),
				l.State.String(), cause, c.ago(l.LastHeard), rtt(l.RTT)}
			if c.stats {
				hold := "-"
				if l.HoldDown > 0 {
					hold = l.HoldDown.String()
				}
				row = append(row, u64(l.TxPackets), u64(l.TxErrors), u64(uint64(l.Flaps)), hold)
			}
			rows = append(rows, row)
		}
	}
	if err := c.table(header, rows); err != nil {
		return err
	}
	// The hosts' own liveness knobs, below the table.
	for _, h := range hosts {
		if h.Live != nil {
			if _, err := fmt.Fprintf(c.stdout, "host %d: %s\n", h.ID, dash(knobsText(h.Live))); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *cli) renderProtocols(ps []mhostnl.Protocol) error {
	if c.json {
		out := make([]jsonProtocol, 0, len(ps))
		for _, p := range ps {
			out = append(out, jsonProtocol{Name: p.Name, FamilyNumber: uint16(p.Family), Module: p.Module,
				AddrLen: p.AddrLen, TxPackets: p.TxPackets, RxPackets: p.RxPackets})
		}
		return c.printJSON(out)
	}
	var rows [][]string
	for _, p := range ps {
		rows = append(rows, []string{u64(uint64(p.Family)), dash(p.Name), dash(p.Module),
			strconv.Itoa(p.AddrLen), u64(p.TxPackets), u64(p.RxPackets)})
	}
	return c.table("FAMILY\tNAME\tMODULE\tADDR_LEN\tTX_PACKETS\tRX_PACKETS", rows)
}

func (c *cli) renderSockets(ss []mhostnl.Socket) error {
	if c.json {
		out := make([]jsonSocket, 0, len(ss))
		for _, s := range ss {
			out = append(out, jsonSocket(s))
		}
		return c.printJSON(out)
	}
	var rows [][]string
	for _, s := range ss {
		peer := "-"
		if s.PeerHostID != 0 {
			peer = "hid(" + u64(uint64(s.PeerHostID)) + ")"
		}
		port := "*"
		if s.Port != 0 {
			port = strconv.Itoa(int(s.Port))
		}
		rows = append(rows, []string{port, u64(uint64(s.UID)), u64(s.Inode),
			u64(uint64(s.RxQueue)), u64(uint64(s.TxQueue)), u64(uint64(s.Drops)), peer})
	}
	return c.table("PORT\tUID\tINODE\tRECV-Q\tSEND-Q\tDROPS\tPEER", rows)
}

func (c *cli) renderStats(s *mhostnl.Stats) error {
	js := jsonStats(*s)
	if c.json {
		return c.printJSON(js)
	}
	rows := [][]string{
		{"hosts", u64(uint64(s.Hosts))},
		{"sockets", u64(uint64(s.Sockets))},
		{"tx_host_id", u64(s.TxHostID)},
		{"tx_failover", u64(s.TxFailover)},
		{"tx_unreach", u64(s.TxUnreach)},
		{"rx_l3_unknown", u64(s.RxL3Unknown)},
		{"hosts_allocated", u64(s.HostsAllocated)},
		{"tx_l3", u64(s.TxL3)},
		{"rx_l3", u64(s.RxL3)},
		{"rx_l3_short", u64(s.RxL3Short)},
		{"rx_l3_bad_header", u64(s.RxL3BadHeader)},
		{"rx_l3_bad_len", u64(s.RxL3BadLen)},
		{"rx_l3_truncated", u64(s.RxL3Truncated)},
		{"rx_l3_no_socket", u64(s.RxL3NoSocket)},
		{"rx_l3_bad_csum", u64(s.RxL3BadCsum)},
		{"rx_l3_dev_disabled", u64(s.RxL3DevDisabled)},
		{"live_hosts", u64(uint64(s.LiveHosts))},
		{"probes_sent", u64(s.ProbesSent)},
		{"probes_answered", u64(s.ProbesAnswered)},
		{"probes_missed", u64(s.ProbesMissed)},
		{"locator_changes", u64(s.LocatorChanges)},
		{"locator_signals", u64(s.LocatorSignals)},
		{"locator_signals_ignored", u64(s.LocatorSignalsIgnored)},
		{"probe_replies", u64(s.ProbeReplies)},
		{"probe_replies_limited", u64(s.ProbeRepliesLimited)},
		{"probes_bad", u64(s.ProbesBad)},
	}
	return c.table("COUNTER\tVALUE", rows)
}

func (c *cli) renderDevices(devs []mhostnl.Device) error {
	if c.json {
		out := make([]jsonDevice, 0, len(devs))
		for _, d := range devs {
			out = append(out, jsonDevice{Dev: d.Name, Ifindex: d.Index, L3: d.L3})
		}
		return c.printJSON(out)
	}
	var rows [][]string
	for _, d := range devs {
		rows = append(rows, []string{dash(d.Name), strconv.Itoa(d.Index), onOffText(d.L3)})
	}
	return c.table("DEV\tIFINDEX\tL3", rows)
}

func onOffText(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

func (c *cli) renderEvent(ev mhostnl.Event) error {
	dev := ev.Type == mhostnl.EventDevSet || ev.Type == mhostnl.EventDevDel
	if c.json {
		je := jsonEvent{Event: ev.Type.String(), ID: ev.Host.ID}
		switch ev.Type {
		case mhostnl.EventHostNew:
			je.Locators = c.jsonLocators(ev.Host.Locators)
		case mhostnl.EventLocatorState:
			je.Locators = c.jsonLocators(ev.Host.Locators)
			je.PrevState = ev.PrevState.String()
		}
		if dev {
			je.Dev, je.Ifindex, je.L3 = ev.Device.Name, ev.Device.Index, &ev.Device.L3
		}
		b, err := json.Marshal(je)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(c.stdout, "%s\n", b)
		return err
	}
	var s string
	switch ev.Type {
	case mhostnl.EventHostNew:
		s = "new host " + u64(uint64(ev.Host.ID))
		for _, l := range ev.Host.Locators {
			s += " " + c.locatorText(l)
		}
	case mhostnl.EventHostDel:
		s = "del host " + u64(uint64(ev.Host.ID))
	case mhostnl.EventDevSet:
		s = "set dev " + ev.Device.Name + " l3 " + onOffText(ev.Device.L3)
	case mhostnl.EventDevDel:
		s = "del dev " + ev.Device.Name
	case mhostnl.EventLocatorState:
		s = "state host " + u64(uint64(ev.Host.ID))
		for _, l := range ev.Host.Locators {
			s += " " + c.locatorText(l) + " " + ev.PrevState.String() + " -> " + l.State.String() +
				" (" + l.Cause.String() + ")"
		}
	default:
		s = ev.Type.String()
	}
	_, err := fmt.Fprintln(c.stdout, s)
	return err
}

func (c *cli) renderLiveness(s *mhostnl.LiveSettings) error {
	var (
		interval, hold time.Duration
		mult           int
		rev, answer    bool
		port           uint16
	)
	if s.Interval != nil {
		interval = *s.Interval
	}
	if s.HoldDown != nil {
		hold = *s.HoldDown
	}
	if s.Multiplier != nil {
		mult = *s.Multiplier
	}
	if s.Revertive != nil {
		rev = *s.Revertive
	}
	if s.Answer != nil {
		answer = *s.Answer
	}
	if s.Port != nil {
		port = *s.Port
	}
	var perr string
	if s.PortError != 0 {
		perr = s.PortError.Error()
	}
	if c.json {
		return c.printJSON(jsonLiveness{IntervalMs: interval.Milliseconds(), Multiplier: mult,
			HoldDownMs: hold.Milliseconds(), Revertive: rev, Port: port, Answer: answer, PortError: perr})
	}
	line := fmt.Sprintf("interval %v multiplier %d hold-down %v revertive %s port %d answer %s",
		interval, mult, hold, onOffText(rev), port, onOffText(answer))
	if perr != "" {
		line += "\nprobe port not bound: " + perr + ": nothing is probed"
	}
	_, err := fmt.Fprintln(c.stdout, line)
	return err
}
