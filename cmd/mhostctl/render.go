package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

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
}

type jsonHost struct {
	ID       uint32        `json:"id"`
	Locators []jsonLocator `json:"locators"`
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
}

type jsonEvent struct {
	Event    string        `json:"event"`
	ID       uint32        `json:"id,omitempty"`
	Locators []jsonLocator `json:"locators,omitempty"`
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
		})
	}
	return out
}

// printJSON writes v as indented JSON.
func (c *cli) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
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
			out = append(out, jsonHost{ID: h.ID, Locators: c.jsonLocators(h.Locators)})
		}
		return c.printJSON(out)
	}
	var rows [][]string
	for _, h := range hosts {
		id := u64(uint64(h.ID))
		if len(h.Locators) == 0 {
			rows = append(rows, []string{id, "-", "-", "-", "-", "-", "-"})
		}
		for _, l := range h.Locators {
			rows = append(rows, []string{id, c.familyName(l.Family), l.AddrString(),
				dash(strconv.Itoa(int(l.Port))), dash(c.devName(l.Ifindex)), u64(l.TxPackets), u64(l.TxErrors)})
		}
	}
	return c.table("ID\tFAMILY\tADDRESS\tPORT\tDEV\tTX_PACKETS\tTX_ERRORS", rows)
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
	}
	return c.table("COUNTER\tVALUE", rows)
}

func (c *cli) renderEvent(ev mhostnl.Event) error {
	if c.json {
		je := jsonEvent{Event: ev.Type.String(), ID: ev.Host.ID}
		if ev.Type == mhostnl.EventHostNew {
			je.Locators = c.jsonLocators(ev.Host.Locators)
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
	default:
		s = ev.Type.String()
	}
	_, err := fmt.Fprintln(c.stdout, s)
	return err
}
