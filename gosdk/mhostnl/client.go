package mhostnl

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"

	"github.com/mnet/mnet/gosdk/internal/uapi"
)

// A Config configures a Client. The zero value, or nil, is the default.
type Config struct {
	// NetNS is a file descriptor of the network namespace to work in,
	// such as an open /proc/PID/ns/net or /run/netns/NAME. 0 means the
	// namespace of the calling thread. Client.Watch uses it too: keep it
	// open while the Client may start watching.
	NetNS int
}

// A Client talks to the mhost kernel module over generic netlink. Every
// host table, socket list and counter it sees is that of the network
// namespace it was opened in.
//
// A Client is safe for concurrent use; its requests are serialized.
type Client struct {
	mu        sync.Mutex // serializes requests
	c         *genetlink.Conn
	nc        *netlink.Conn // under c, when the Client opened it: batches go in one sendmsg
	done      *doneSocket   // under nc, when the Client opened it: sees every NLMSG_DONE
	family    genetlink.Family
	bigBuffer bool // the receive buffer was raised for batches

	// dial opens the connections of Watchers.
	cfg  Config
	dial func(*Config) (*netlink.Conn, error)

	wmu      sync.Mutex
	watchers map[*Watcher]struct{}
	closed   bool
}

// Dial opens a Client in the namespace cfg names (nil: the calling
// thread's). It fails with an error wrapping ErrNotLoaded when the kernel
// has no mhost family, and with one wrapping errors.ErrUnsupported on
// systems other than Linux.
func Dial(cfg *Config) (*Client, error) {
	nc, done, err := dialConn(cfg)
	if err != nil {
		return nil, opError("dial", err)
	}
	cl, err := newClient(genetlink.NewConn(nc), nc, done, cfg, dialWatch)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return cl, nil
}

// New returns a Client that uses c, a generic netlink connection such as
// one from genetlink.Dial or, in tests, genltest.Dial, and resolves the
// mhost family through it. The Client owns c once New succeeds: Close
// closes it.
//
// Dial is the way for programs: it sets the connection up as it should be
// (netlink.Config{Strict: true}, which turns on the kernel's extended
// acknowledgements), and its Client sees a dump the kernel flags as
// interrupted on its final NLMSG_DONE alone, which netlink.Conn drops; a
// Client from New sees only the flags of the dump's other messages, and
// sends the requests of AddHosts and SetHosts one per system call. Its
// Watchers connect with netlink.Dial in the calling thread's namespace.
func New(c *genetlink.Conn) (*Client, error) {
	return newClient(c, nil, nil, nil, dialWatch)
}

func newClient(c *genetlink.Conn, nc *netlink.Conn, done *doneSocket, cfg *Config, dial func(*Config) (*netlink.Conn, error)) (*Client, error) {
	f, err := c.GetFamily(uapi.GenlName)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNotLoaded
		}
		return nil, opError("resolve family "+uapi.GenlName, err)
	}
	cl := &Client{c: c, nc: nc, done: done, family: f, dial: dial, watchers: map[*Watcher]struct{}{}}
	if cfg != nil {
		cl.cfg = *cfg
	}
	return cl, nil
}

// Close closes the Client and the Watchers it opened.
func (c *Client) Close() error {
	c.wmu.Lock()
	c.closed = true
	ws := c.watchers
	c.watchers = nil
	c.wmu.Unlock()
	for w := range ws {
		w.close()
	}
	return c.c.Close()
}

// Protocols returns the network layers mhost can send over: IPv4 and IPv6,
// then those plugged in by other modules.
func (c *Client) Protocols() ([]Protocol, error) {
	const op = "get protocols"
	msgs, err := c.execute(op, uapi.CmdProtoGet, netlink.Dump, nil)
	if err != nil {
		return nil, err
	}
	ps, err := decodeProtocols(msgs)
	return ps, opError(op, err)
}

// Hosts returns every host of the namespace's table, in no particular
// order. The kernel sends them over as many messages as it needs; Hosts
// returns them all, and reads them again when the table changed while
// they were read, so that they are the table at one moment.
func (c *Client) Hosts() ([]Host, error) {
	const op = "get hosts"
	msgs, err := c.execute(op, uapi.CmdHostGet, netlink.Dump, nil)
	if err != nil {
		return nil, err
	}
	hosts := make([]Host, 0, len(msgs))
	for _, m := range msgs {
		h, err := decodeHost(m.Data, true)
		if err != nil {
			return nil, opError(op, err)
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// Host returns the host id. It fails with an error for which
// errors.Is(err, os.ErrNotExist) holds when there is none.
func (c *Client) Host(id uint32) (*Host, error) {
	op := "get host " + strconv.FormatUint(uint64(id), 10)
	attrs, err := encodeID(id)
	if err != nil {
		return nil, opError(op, err)
	}
	return getOne(c, op, uapi.CmdHostGet, attrs, func(b []byte) (Host, error) { return decodeHost(b, true) })
}

// getOne sends a request for one object, a host or a device, and decodes
// the one reply it must get.
func getOne[T any](c *Client, op string, cmd uint8, attrs []byte, decode func([]byte) (T, error)) (*T, error) {
	msgs, err := c.execute(op, cmd, 0, attrs)
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, opError(op, malformed(fmt.Errorf("%d replies, want one", len(msgs))))
	}
	v, err := decode(msgs[0].Data)
	if err != nil {
		return nil, opError(op, err)
	}
	return &v, nil
}

// What CmdHostNew does with the host it names: its MHOST_A_HOST_FLAGS.
const (
	addFlags     = uapi.HostFCreate                     // create; fail if it exists
	setFlags     = uapi.HostFCreate | uapi.HostFReplace // create or replace
	replaceFlags = uapi.HostFReplace                    // replace; fail if it does not exist
	appendFlags  = uapi.HostFAppend                     // append; fail if it does not exist
)

// AddHost adds h to the table. It fails with an error for which
// errors.Is(err, os.ErrExist) holds when the table has a host h.ID
// already.
func (c *Client) AddHost(h Host) error {
	return c.newHost("add host", &h, addFlags)
}

// SetHost adds h to the table, or replaces the locators of the host h.ID
// when there is one.
func (c *Client) SetHost(h Host) error {
	return c.newHost("set host", &h, setFlags)
}

// ReplaceHost replaces the locators of the host h.ID. It fails with an
// error for which errors.Is(err, os.ErrNotExist) holds when there is no
// such host.
func (c *Client) ReplaceHost(h Host) error {
	return c.newHost("replace host", &h, replaceFlags)
}

// AppendLocators adds locs to the end of the locators of the host id.
// When there is no such host, it creates one if create is true, and fails
// with an error for which errors.Is(err, os.ErrNotExist) holds otherwise.
// A host may have at most MaxLocators locators.
func (c *Client) AppendLocators(id uint32, locs []Locator, create bool) error {
	var flags uint32 = appendFlags
	if create {
		flags |= uapi.HostFCreate
	}
	return c.newHost("append to host", &Host{ID: id, Locators: locs}, flags)
}

// newHost sends a CmdHostNew request with the host flags.
func (c *Client) newHost(verb string, h *Host, flags uint32) error {
	op := verb + " " + strconv.FormatUint(uint64(h.ID), 10)
	attrs, err := encodeHost(h, flags)
	if err != nil {
		return opError(op, err)
	}
	_, err = c.execute(op, uapi.CmdHostNew, netlink.Acknowledge, attrs)
	return err
}

// DeleteHost deletes the host id. It fails with an error for which
// errors.Is(err, os.ErrNotExist) holds when there is no such host.
func (c *Client) DeleteHost(id uint32) error {
	op := "delete host " + strconv.FormatUint(uint64(id), 10)
	attrs, err := encodeID(id)
	if err != nil {
		return opError(op, err)
	}
	_, err = c.execute(op, uapi.CmdHostDel, netlink.Acknowledge, attrs)
	return err
}

// FlushHosts deletes every host of the namespace's table.
func (c *Client) FlushHosts() error {
	_, err := c.execute("flush hosts", uapi.CmdHostFlush, netlink.Acknowledge, nil)
	return err
}

// Sockets returns the open AF_MHOST sockets of the namespace.
func (c *Client) Sockets() ([]Socket, error) {
	const op = "get sockets"
	msgs, err := c.execute(op, uapi.CmdSockGet, netlink.Dump, nil)
	if err != nil {
		return nil, err
	}
	ss, err := decodeSockets(msgs)
	return ss, opError(op, err)
}

// Stats returns the counters of the namespace.
func (c *Client) Stats() (*Stats, error) {
	const op = "get stats"
	msgs, err := c.execute(op, uapi.CmdStatsGet, 0, nil)
	if err != nil {
		return nil, err
	}
	s, err := decodeStats(msgs)
	return s, opError(op, err)
}

// Devices returns the devices of the namespace that have settings: those
// enabled for plugged-in network layers, in interface index order.
func (c *Client) Devices() ([]Device, error) {
	const op = "get devices"
	msgs, err := c.execute(op, uapi.CmdDevGet, netlink.Dump, nil)
	if err != nil {
		return nil, err
	}
	devs := make([]Device, 0, len(msgs))
	for _, m := range msgs {
		d, err := decodeDevice(m.Data)
		if err != nil {
			return nil, opError(op, err)
		}
		devs = append(devs, d)
	}
	return devs, nil
}

// Device returns the settings of the device with index ifindex, which
// need not have any. It fails with an error for which errors.Is(err,
// syscall.ENODEV) holds when the namespace has no such device.
func (c *Client) Device(ifindex int) (*Device, error) {
	op := "get device " + strconv.Itoa(ifindex)
	attrs, err := encodeDevice(ifindex, nil)
	if err != nil {
		return nil, opError(op, err)
	}
	return getOne(c, op, uapi.CmdDevGet, attrs, decodeDevice)
}

// SetDevice enables (l3 true) or disables plugged-in network layers on
// the device with index ifindex: see Device.L3. It needs CAP_NET_ADMIN in
// the namespace's user namespace, and fails with an error for which
// errors.Is(err, syscall.ENODEV) holds when there is no such device.
func (c *Client) SetDevice(ifindex int, l3 bool) error {
	op := "set device " + strconv.Itoa(ifindex)
	attrs, err := encodeDevice(ifindex, &l3)
	if err != nil {
		return opError(op, err)
	}
	_, err = c.execute(op, uapi.CmdDevSet, netlink.Acknowledge, attrs)
	return err
}

// maxDumpRetries bounds how often a dump the kernel marks as interrupted
// (NLM_F_DUMP_INTR: the table changed while it was read) is started over.
const maxDumpRetries = 10

// dumpBackoff is the wait before the first retry of an interrupted dump,
// doubled for each next one up to maxDumpBackoff: changes come in bursts
// (a batch of adds is several messages), and a dump started at once
// again would likely fall into the same burst. Each wait is jittered
// down to half of that; all of them add up to 0.33–0.65 s.
var dumpBackoff = time.Millisecond

const maxDumpBackoff = 200 * time.Millisecond

// execute sends one request, a command with attributes, and returns the
// generic netlink messages of the reply: none for an acknowledged change,
// one for a plain get, all of them for a dump, read again while the kernel
// flags it interrupted. flags adds to NLM_F_REQUEST. Every command goes
// through it; a new one is a method that encodes its attributes, calls
// execute and decodes the reply.
func (c *Client) execute(op string, cmd uint8, flags netlink.HeaderFlags, attrs []byte) ([]genetlink.Message, error) {
	for try := 0; ; try++ {
		c.mu.Lock()
		msgs, intr, err := c.roundTrip(cmd, flags, attrs)
		c.mu.Unlock()
		if err != nil {
			return nil, opError(op, err)
		}
		if !intr {
			return msgs, nil
		}
		if try == maxDumpRetries {
			return nil, opError(op, fmt.Errorf("dump interrupted by concurrent changes %d times: %w", try+1, syscall.EINTR))
		}
		// Without the lock, so that the Client's other requests go on;
		// jittered, so that readers interrupted together spread out.
		d := min(dumpBackoff<<try, maxDumpBackoff)
		time.Sleep(d/2 + rand.N(d/2+1))
	}
}

// request builds the generic netlink message of a command.
func request(cmd uint8, attrs []byte) genetlink.Message {
	return genetlink.Message{Header: genetlink.Header{Command: cmd, Version: uapi.GenlVersion}, Data: attrs}
}

// roundTrip does the work of execute, reporting whether a dump was
// interrupted. It skips replies to earlier requests that a failed call
// left unread.
func (c *Client) roundTrip(cmd uint8, flags netlink.HeaderFlags, attrs []byte) (msgs []genetlink.Message, intr bool, err error) {
	sent, err := c.c.Send(request(cmd, attrs), c.family.ID, netlink.Request|flags)
	if err != nil {
		return nil, false, err
	}
	seq := sent.Header.Sequence
	dump := flags&netlink.Dump == netlink.Dump
	for {
		_, replies, err := c.c.Receive()
		if err != nil {
			var oe *netlink.OpError
			if errors.As(err, &oe) && oe.Sequence != 0 && oe.Sequence != seq {
				continue // the error of an earlier request
			}
			return nil, false, err
		}
		if len(replies) == 0 {
			if dump {
				// An empty dump: only NLMSG_DONE.
				return msgs, c.done != nil && c.done.interrupted(seq), nil
			}
			return nil, false, errors.New("netlink: empty reply")
		}
		done := false
		for _, m := range replies {
			if m.Header.Sequence != seq {
				continue // a reply to an earlier request
			}
			done = true
			if m.Header.Type == netlink.Error {
				continue // the acknowledgement of a change
			}
			if m.Header.Flags&netlink.DumpInterrupted != 0 {
				intr = true
			}
			var gm genetlink.Message
			if err := gm.UnmarshalBinary(m.Data); err != nil {
				return nil, false, malformed(err)
			}
			msgs = append(msgs, gm)
		}
		if done {
			if dump && c.done != nil && c.done.interrupted(seq) {
				intr = true
			}
			return msgs, intr, nil
		}
	}
}
