package mhostnl

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
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
	mu        sync.Mutex // serializes requests on c
	c         *netlink.Conn
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
// has no mhost family.
func Dial(cfg *Config) (*Client, error) {
	c, err := dialConn(cfg)
	if err != nil {
		return nil, opError("dial", err)
	}
	cl, err := newClient(c, cfg, dialConn)
	if err != nil {
		c.Close()
		return nil, err
	}
	return cl, nil
}

// New returns a Client that uses c, a generic netlink connection
// (protocol NETLINK_GENERIC, such as one from netlink.Dial or, in tests,
// nltest.Dial), and resolves the mhost family through it. Dial sets up the
// connection as it should be (netlink.Config{Strict: true}, which turns on
// the kernel's extended acknowledgements); New is for callers that need to
// prepare it themselves. The Client owns c once New succeeds: Close closes
// it.
//
// A Client made by New opens the connections of its Watchers with
// netlink.Dial in the calling thread's network namespace.
func New(c *netlink.Conn) (*Client, error) {
	return newClient(c, nil, dialConn)
}

func dialConn(cfg *Config) (*netlink.Conn, error) {
	nc := &netlink.Config{Strict: true}
	if cfg != nil {
		nc.NetNS = cfg.NetNS
	}
	return netlink.Dial(unix.NETLINK_GENERIC, nc)
}

func newClient(c *netlink.Conn, cfg *Config, dial func(*Config) (*netlink.Conn, error)) (*Client, error) {
	f, err := genetlink.NewConn(c).GetFamily(GenlName)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNotLoaded
		}
		return nil, opError("resolve family "+GenlName, err)
	}
	cl := &Client{c: c, family: f, dial: dial, watchers: map[*Watcher]struct{}{}}
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
	msgs, err := c.execute("get protocols", CmdProtoGet, netlink.Dump, nil)
	if err != nil {
		return nil, err
	}
	ps, err := decodeProtocols(msgs)
	return ps, opError("get protocols", err)
}

// Hosts returns every host of the namespace's table, in no particular
// order. The kernel sends them over as many messages as it needs; Hosts
// returns them all.
func (c *Client) Hosts() ([]Host, error) {
	const op = "get hosts"
	msgs, err := c.execute(op, CmdHostGet, netlink.Dump, nil)
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
	msgs, err := c.execute(op, CmdHostGet, 0, attrs)
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, opError(op, malformed(fmt.Errorf("%d replies to a request for one host", len(msgs))))
	}
	h, err := decodeHost(msgs[0].Data, true)
	if err != nil {
		return nil, opError(op, err)
	}
	return &h, nil
}

// AddHost adds h to the table. It fails with an error for which
// errors.Is(err, os.ErrExist) holds when the table has a host h.ID
// already (HostFlagCreate).
func (c *Client) AddHost(h Host) error {
	return c.newHost("add host", &h, HostFlagCreate)
}

// SetHost adds h to the table, or replaces the locators of the host h.ID
// when there is one (HostFlagCreate|HostFlagReplace).
func (c *Client) SetHost(h Host) error {
	return c.newHost("set host", &h, HostFlagCreate|HostFlagReplace)
}

// ReplaceHost replaces the locators of the host h.ID. It fails with an
// error for which errors.Is(err, os.ErrNotExist) holds when there is no
// such host (HostFlagReplace).
func (c *Client) ReplaceHost(h Host) error {
	return c.newHost("replace host", &h, HostFlagReplace)
}

// AppendLocators adds locs to the end of the locators of the host id
// (HostFlagAppend). When there is no such host, it creates one if create
// is true (HostFlagAppend|HostFlagCreate) and fails with an error for
// which errors.Is(err, os.ErrNotExist) holds otherwise. A host may have at
// most MaxLocators locators.
func (c *Client) AppendLocators(id uint32, locs []Locator, create bool) error {
	var flags uint32 = HostFlagAppend
	if create {
		flags |= HostFlagCreate
	}
	return c.newHost("append to host", &Host{ID: id, Locators: locs}, flags)
}

// newHost sends a CmdHostNew request with the HostFlag* flags.
func (c *Client) newHost(verb string, h *Host, flags uint32) error {
	op := verb + " " + strconv.FormatUint(uint64(h.ID), 10)
	attrs, err := encodeHost(h, flags)
	if err != nil {
		return opError(op, err)
	}
	_, err = c.execute(op, CmdHostNew, netlink.Acknowledge, attrs)
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
	_, err = c.execute(op, CmdHostDel, netlink.Acknowledge, attrs)
	return err
}

// FlushHosts deletes every host of the namespace's table.
func (c *Client) FlushHosts() error {
	_, err := c.execute("flush hosts", CmdHostFlush, netlink.Acknowledge, nil)
	return err
}

// Sockets returns the open AF_MHOST sockets of the namespace.
func (c *Client) Sockets() ([]Socket, error) {
	msgs, err := c.execute("get sockets", CmdSockGet, netlink.Dump, nil)
	if err != nil {
		return nil, err
	}
	ss, err := decodeSockets(msgs)
	return ss, opError("get sockets", err)
}

// Stats returns the counters of the namespace.
func (c *Client) Stats() (*Stats, error) {
	msgs, err := c.execute("get stats", CmdStatsGet, 0, nil)
	if err != nil {
		return nil, err
	}
	s, err := decodeStats(msgs)
	return s, opError("get stats", err)
}

// maxDumpRetries bounds how often a dump the kernel marks as interrupted
// (NLM_F_DUMP_INTR: the table changed while it was read) is started over.
const maxDumpRetries = 5

// execute sends one request, a command with attributes, and returns the
// generic netlink messages of the reply: none for an acknowledged change,
// one for a plain get, all of them for a dump. flags adds to
// NLM_F_REQUEST.
func (c *Client) execute(op string, cmd uint8, flags netlink.HeaderFlags, attrs []byte) ([]genetlink.Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()

	for try := 0; ; try++ {
		msgs, intr, err := c.roundTrip(cmd, flags, attrs)
		if err != nil {
			return nil, opError(op, err)
		}
		if !intr {
			return msgs, nil
		}
		if try == maxDumpRetries {
			return nil, opError(op, fmt.Errorf("dump interrupted by concurrent changes %d times: %w", try+1, unix.EINTR))
		}
	}
}

// roundTrip does the work of execute, reporting whether a dump was
// interrupted. It skips replies to earlier requests that a failed call
// left unread.
func (c *Client) roundTrip(cmd uint8, flags netlink.HeaderFlags, attrs []byte) (msgs []genetlink.Message, intr bool, err error) {
	req, err := c.message(cmd, netlink.Request|flags, attrs)
	if err != nil {
		return nil, false, err
	}
	sent, err := c.c.Send(req)
	if err != nil {
		return nil, false, err
	}
	seq := sent.Header.Sequence
	dump := flags&netlink.Dump == netlink.Dump
	for {
		replies, err := c.c.Receive()
		if err != nil {
			var oe *netlink.OpError
			if errors.As(err, &oe) && oe.Sequence != 0 && oe.Sequence != seq {
				continue // the error of an earlier request
			}
			return nil, false, err
		}
		if len(replies) == 0 {
			if dump {
				return msgs, intr, nil // an empty dump: only NLMSG_DONE
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
			return msgs, intr, nil
		}
	}
}

// message builds a request of the mhost family.
func (c *Client) message(cmd uint8, flags netlink.HeaderFlags, attrs []byte) (netlink.Message, error) {
	b, err := genetlink.Message{
		Header: genetlink.Header{Command: cmd, Version: GenlVersion},
		Data:   attrs,
	}.MarshalBinary()
	if err != nil {
		return netlink.Message{}, err
	}
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(c.family.ID), Flags: flags},
		Data:   b,
	}, nil
}
