package mhost

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mdlayher/socket"
	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/internal/uapi"
)

// A Conn is an AF_MHOST datagram socket. It implements net.PacketConn and,
// once dialed, net.Conn.
//
// A Conn bound to a port receives on it from every network layer at once,
// and each datagram's source address tells which layer carried it. Dialing
// only sets the default destination of Write: unlike a connected UDP
// socket, a dialed Conn still receives from any source, since a peer may
// reach it over several network layers; use ReadFrom to see who sent what.
//
// Multiple goroutines may call methods on a Conn simultaneously.
type Conn struct {
	fd     *socket.Conn
	rc     syscall.RawConn // the poller's way to fd, taken once
	family uint16          // AF_MHOST number, for encoding and decoding sockaddr_mhost
	laddr  net.Addr
	raddr  net.Addr
	closed atomic.Bool

	// The deadlines as set, in Unix nanoseconds (0: none), for the calls
	// with a context, which wait on descriptors of their own.
	rdeadline, wdeadline atomic.Int64

	mu      sync.Mutex // guards waiters, and closing against new waiters
	waiters map[*waiter]struct{}

	rops, wops opSlot // spare ops for reads and writes

	dialedIP bool        // whether the Conn was dialed to an IP address
	noGSO    atomic.Bool // WriteBatch no longer segments: the kernel refused it
}

// Listen opens an AF_MHOST socket bound to port as Config says. Port 0
// picks an ephemeral port; LocalAddr reports it. ctx is checked before
// the socket is opened.
func (cfg *Config) Listen(ctx context.Context, port uint16) (*Conn, error) {
	return cfg.listenFamily(ctx, FamilyInUse(), port)
}

func (cfg *Config) listenFamily(ctx context.Context, family int, port uint16) (*Conn, error) {
	c, err := cfg.listen(ctx, family, uint16(family), port)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: &HostAddr{Port: port}, Err: err}
	}
	return c, nil
}

// Dial opens an AF_MHOST socket as Config says and connects it to raddr,
// as the function Dial does. ctx is checked before the socket is opened
// and before it is connected.
func (cfg *Config) Dial(ctx context.Context, raddr net.Addr) (*Conn, error) {
	return cfg.dialFamily(ctx, FamilyInUse(), raddr)
}

func (cfg *Config) dialFamily(ctx context.Context, family int, raddr net.Addr) (*Conn, error) {
	c, err := cfg.dial(ctx, family, uint16(family), raddr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	return c, nil
}

// open creates a socket of the given domain and wraps it in a Conn; family
// is the AF_MHOST number for sockaddr_mhost. Listen and Dial pass the same
// number twice; tests pass AF_INET6 as the domain to exercise Conn over a
// UDP socket, on any kernel. It runs Config's options and Control for
// address.
func (cfg *Config) open(ctx context.Context, domain int, family uint16, address string) (*Conn, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := socket.Socket(domain, unix.SOCK_DGRAM, 0, network, &socket.Config{NetNS: cfg.NetNS})
	if err != nil {
		if errors.Is(err, unix.EAFNOSUPPORT) {
			err = fmt.Errorf("%w: %w", ErrNotLoaded, err)
		}
		return nil, err
	}
	rc, err := s.SyscallConn()
	if err != nil {
		s.Close()
		return nil, err
	}
	c := &Conn{fd: s, rc: rc, family: family}
	if cfg.ReusePort {
		err = setReusePort(s, domain)
	}
	if err == nil && cfg.Control != nil {
		err = cfg.Control(network, address, rc)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return c, nil
}

// setReusePort turns SO_REUSEPORT on. An AF_MHOST socket takes it as
// SOL_MHOST/MHOST_REUSEPORT: on some kernels (6.1) the socket layer
// refuses SO_REUSEPORT itself to families other than IPv4 and IPv6.
func setReusePort(s *socket.Conn, domain int) error {
	if domain == unix.AF_INET || domain == unix.AF_INET6 {
		return s.SetsockoptInt(unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}
	return s.SetsockoptInt(uapi.SolMhost, uapi.ReusePort, 1)
}

func (cfg *Config) listen(ctx context.Context, domain int, family, port uint16) (*Conn, error) {
	var sa sockaddr
	sa.setAddr(AddrFromHostID(0, port), family)
	return cfg.listenAt(ctx, domain, family, sa.bytes(), (&HostAddr{Port: port}).String())
}

// listenAt opens a socket and binds it to sa.
func (cfg *Config) listenAt(ctx context.Context, domain int, family uint16, sa []byte, address string) (*Conn, error) {
	c, err := cfg.open(ctx, domain, family, address)
	if err != nil {
		return nil, err
	}
	err = c.control("bind", func(fd int) error { return bind(fd, sa) })
	if err == nil {
		c.laddr, err = c.sockname("getsockname", getsockname)
	}
	if err != nil {
		c.fd.Close()
		return nil, err
	}
	return c, nil
}

func (cfg *Config) dial(ctx context.Context, domain int, family uint16, raddr net.Addr) (*Conn, error) {
	var sa sockaddr
	if err := sa.setNetAddr(raddr, family); err != nil {
		return nil, err
	}
	c, err := cfg.open(ctx, domain, family, raddr.String())
	if err != nil {
		return nil, err
	}
	if err = ctx.Err(); err == nil {
		err = c.control("connect", func(fd int) error { return connect(fd, sa.bytes()) })
	}
	if err == nil {
		c.laddr, err = c.sockname("getsockname", getsockname)
	}
	if err == nil {
		c.raddr, err = c.sockname("getpeername", getpeername)
	}
	if err == nil {
		_, c.dialedIP = c.raddr.(*net.UDPAddr)
	}
	if err != nil {
		c.fd.Close()
		return nil, err
	}
	return c, nil
}

// control runs f, a system call that does not block, on the socket.
func (c *Conn) control(op string, f func(fd int) error) error {
	var serr error
	if err := c.rc.Control(func(fd uintptr) { serr = f(int(fd)) }); err != nil {
		return err
	}
	return os.NewSyscallError(op, serr)
}

// sockname decodes the address that getsockname or getpeername reports.
func (c *Conn) sockname(op string, get func(fd int, sa []byte) (int, error)) (net.Addr, error) {
	var (
		sa [sizeofSockaddrStorage]byte
		n  int
	)
	err := c.control(op, func(fd int) error {
		var err error
		n, err = get(fd, sa[:])
		return err
	})
	if err != nil {
		return nil, err
	}
	return decodeNetAddr(sa[:min(n, len(sa))], c.family)
}

// syscallName names the system call of an op, for *os.SyscallError.
var syscallName = [...]string{
	callRecvfrom: "recvfrom",
	callRecvmsg:  "recvmsg",
	callSendto:   "sendto",
	callSendmsg:  "sendmsg",
	callRecvmmsg: "recvmmsg",
	callSendmmsg: "sendmmsg",
}

// read runs o, a receive, through the poller: it waits for a datagram,
// until the read deadline.
func (c *Conn) read(o *op) error {
	do := o.do
	if o.call == callRecvfrom {
		do = o.recvfrom
	}
	if err := c.rc.Read(do); err != nil {
		return err
	}
	if o.errno != 0 {
		return os.NewSyscallError(syscallName[o.call], o.errno)
	}
	return nil
}

// write runs o, a send, through the poller.
func (c *Conn) write(o *op) error {
	do := o.do
	if o.call == callSendto {
		do = o.sendto
	}
	if err := c.rc.Write(do); err != nil {
		return err
	}
	if o.errno != 0 {
		return os.NewSyscallError(syscallName[o.call], o.errno)
	}
	return nil
}

// now runs o once without waiting: MSG_DONTWAIT. The socket is
// non-blocking, so a call that would block fails with EAGAIN.
func (c *Conn) now(o *op) error {
	if err := c.rc.Control(o.try); err != nil {
		return err
	}
	return os.NewSyscallError(syscallName[o.call], o.err())
}

// ReadFrom reads a datagram into p and returns its length and source
// address: a *net.UDPAddr for IPv4 and IPv6, a *HostAddr for a known host
// when SetRecvHostID is on, an *EthAddr for the example network layers
// FamilyTestProto and FamilyOtherProto, or a *RawAddr for a network layer
// this package has no type for. A datagram longer than p is truncated;
// ReadMsg reports when that happens.
//
// The address is its one allocation; ReadFromAddrPort and ReadFromAddr
// make none.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	o := c.rops.get(callRecvfrom)
	o.p = p
	err := c.read(o)
	n := o.n
	var addr net.Addr
	if err == nil {
		addr, err = decodeNetAddr(o.sa.bytes(), c.family)
	}
	c.rops.put(o)
	if err != nil {
		return n, nil, c.opError("read", c.raddr, err)
	}
	return n, addr, nil
}

// ReadFromContext is ReadFrom, canceled when ctx is done. The context
// affects this call only: neither other calls waiting on the Conn at the
// same time nor the read deadline.
func (c *Conn) ReadFromContext(ctx context.Context, p []byte) (int, net.Addr, error) {
	o := c.rops.get(callRecvfrom)
	defer c.rops.put(o)
	o.p = p
	if err := c.readContext(ctx, o); err != nil {
		return 0, nil, c.opError("read", c.raddr, err)
	}
	addr, err := decodeNetAddr(o.sa.bytes(), c.family)
	if err != nil {
		return o.n, nil, c.opError("read", c.raddr, err)
	}
	return o.n, addr, nil
}

// ReadFromAddr is ReadFrom returning the source as an Addr; it allocates
// nothing.
func (c *Conn) ReadFromAddr(p []byte) (int, Addr, error) {
	o := c.rops.get(callRecvfrom)
	defer c.rops.put(o)
	o.p = p
	if err := c.read(o); err != nil {
		return 0, Addr{}, c.opError("read", c.raddr, err)
	}
	a, err := decodeAddr(o.sa.bytes(), c.family)
	if err != nil {
		return o.n, Addr{}, c.opError("read", c.raddr, err)
	}
	return o.n, a, nil
}

// errNotIP is wrapped by the error of ReadFromAddrPort for a datagram that
// did not come over IP.
var errNotIP = errors.New("source is not an IP address (see ReadFromAddr)")

// ReadFromAddrPort is ReadFrom for sockets that talk IP, as
// net.UDPConn's: it returns the source as a netip.AddrPort and allocates
// nothing. A datagram from another network layer (a host id, when
// SetRecvHostID is on, or a plugged-in layer) is returned with the zero
// AddrPort and an error whose Addr is its source.
func (c *Conn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	o := c.rops.get(callRecvfrom)
	o.p = p
	err := c.read(o)
	n := o.n
	ap, ok := decodeAddrPort(o.sa.bytes())
	if err == nil && !ok {
		var a Addr
		if a, err = decodeAddr(o.sa.bytes(), c.family); err == nil {
			err = &net.OpError{Op: "read", Net: network, Source: c.laddr, Addr: a.NetAddr(), Err: errNotIP}
		}
	}
	c.rops.put(o)
	if err != nil {
		if _, ok := err.(*net.OpError); !ok {
			err = c.opError("read", c.raddr, err)
		}
		return n, netip.AddrPort{}, err
	}
	return n, ap, nil
}

// Read reads a datagram into p. On a dialed Conn it may come from any
// source, not only the dialed address.
func (c *Conn) Read(p []byte) (int, error) {
	o := c.rops.get(callRecvfrom)
	defer c.rops.put(o)
	o.p = p
	if err := c.read(o); err != nil {
		return 0, c.opError("read", c.raddr, err)
	}
	return o.n, nil
}

// ReadMsg reads a datagram into p and its control messages (see
// unix.ParseSocketControlMessage) into oob, passing flags such as
// unix.MSG_PEEK, unix.MSG_TRUNC or unix.MSG_DONTWAIT to recvmsg(2). It
// returns the number of bytes copied into p, or with MSG_TRUNC the length
// of the datagram, which may be larger; the number of bytes of oob used;
// the flags the kernel set on the message, such as unix.MSG_TRUNC when the
// datagram did not fit in p; and the source address.
//
// With MSG_DONTWAIT, ReadMsg fails with EAGAIN instead of waiting when no
// datagram is queued.
func (c *Conn) ReadMsg(p, oob []byte, flags int) (n, oobn, recvflags int, addr net.Addr, err error) {
	o := c.rops.get(callRecvmsg)
	defer c.rops.put(o)
	o.p, o.oob, o.flags = p, oob, flags
	if flags&unix.MSG_DONTWAIT != 0 {
		err = c.now(o)
	} else {
		err = c.read(o)
	}
	if err != nil {
		return 0, 0, 0, nil, c.opError("read", c.raddr, err)
	}
	addr, err = decodeNetAddr(o.sa.bytes(), c.family)
	if err != nil {
		return o.n, o.oobn, o.rflags, nil, c.opError("read", c.raddr, err)
	}
	return o.n, o.oobn, o.rflags, addr, nil
}

// WriteTo sends p as one datagram to addr: a *net.UDPAddr, a *HostAddr, an
// *EthAddr or a *RawAddr. Payloads longer than MaxPayload fail with
// EMSGSIZE. It allocates nothing.
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	o := c.wops.get(callSendto)
	o.p, o.flags = p, unix.MSG_NOSIGNAL
	err := o.sa.setNetAddr(addr, c.family)
	if err == nil {
		err = c.write(o)
	}
	n := o.n
	c.wops.put(o)
	if err != nil {
		return 0, c.opError("write", addr, err)
	}
	return n, nil
}

// WriteToContext is WriteTo, canceled when ctx is done before the
// datagram is sent (a send waits only while the send buffer is full). The
// context affects this call only.
func (c *Conn) WriteToContext(ctx context.Context, p []byte, addr net.Addr) (int, error) {
	o := c.wops.get(callSendto)
	defer c.wops.put(o)
	o.p, o.flags = p, unix.MSG_NOSIGNAL
	if err := o.sa.setNetAddr(addr, c.family); err != nil {
		return 0, c.opError("write", addr, err)
	}
	if err := c.writeContext(ctx, o); err != nil {
		return 0, c.opError("write", addr, err)
	}
	return o.n, nil
}

// WriteToAddr is WriteTo for an Addr.
func (c *Conn) WriteToAddr(p []byte, addr Addr) (int, error) {
	o := c.wops.get(callSendto)
	defer c.wops.put(o)
	o.p, o.flags = p, unix.MSG_NOSIGNAL
	if err := o.sa.setAddr(addr, c.family); err != nil {
		return 0, c.opError("write", addr.NetAddr(), err)
	}
	if err := c.write(o); err != nil {
		return 0, c.opError("write", addr.NetAddr(), err)
	}
	return o.n, nil
}

// WriteToAddrPort is WriteTo for an IP address and port, as
// net.UDPConn's.
func (c *Conn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	o := c.wops.get(callSendto)
	o.p, o.flags = p, unix.MSG_NOSIGNAL
	err := o.sa.setAddrPort(addr)
	if err == nil {
		err = c.write(o)
	}
	n := o.n
	c.wops.put(o)
	if err != nil {
		return 0, c.opError("write", net.UDPAddrFromAddrPort(addr), err)
	}
	return n, nil
}

// Write sends p as one datagram to the address the Conn was dialed to.
func (c *Conn) Write(p []byte) (int, error) {
	o := c.wops.get(callSendto)
	defer c.wops.put(o)
	o.p, o.flags = p, unix.MSG_NOSIGNAL
	if err := c.write(o); err != nil {
		return 0, c.opError("write", c.raddr, err)
	}
	return o.n, nil
}

// WriteMsg sends p as one datagram, with the control messages in oob (such
// as an IP_TTL or IPV6_HOPLIMIT one), to addr, or to the address the Conn
// was dialed to when addr is nil. It returns the number of bytes of p and
// of oob sent.
func (c *Conn) WriteMsg(p, oob []byte, addr net.Addr) (n, oobn int, err error) {
	o := c.wops.get(callSendmsg)
	defer c.wops.put(o)
	o.p, o.oob, o.flags = p, oob, unix.MSG_NOSIGNAL
	if addr != nil {
		if err := o.sa.setNetAddr(addr, c.family); err != nil {
			return 0, 0, c.opError("write", addr, err)
		}
	} else {
		addr = c.raddr
	}
	if err := c.write(o); err != nil {
		return 0, 0, c.opError("write", addr, err)
	}
	return o.n, len(oob), nil
}

// WriteToSegmented sends p to addr as datagrams of segment bytes each, the
// last one possibly shorter, in one system call: the kernel splits p
// (UDP generic segmentation offload, a UDP_SEGMENT control message), which
// costs far less than a write per datagram. It returns the number of bytes
// of p sent. The kernel takes at most 64 segments per call (6.1; 128 by
// 6.12), and refuses what it cannot segment: EINVAL or EMSGSIZE for a
// segment longer than the path's MTU, EIO from a device that cannot
// checksum, EOPNOTSUPP over a plugged network layer, a host id's
// plugged-layer locator included.
func (c *Conn) WriteToSegmented(p []byte, segment int, addr Addr) (int, error) {
	if segment < 1 || segment > 0xffff {
		return 0, c.opError("write", addr.NetAddr(), fmt.Errorf("segment size %d out of range", segment))
	}
	o := c.wops.get(callSendmsg)
	defer c.wops.put(o)
	o.p, o.flags = p, unix.MSG_NOSIGNAL
	o.oob = setSegment(&o.cmsg, uint16(segment))
	if err := o.sa.setAddr(addr, c.family); err != nil {
		return 0, c.opError("write", addr.NetAddr(), err)
	}
	if err := c.write(o); err != nil {
		return 0, c.opError("write", addr.NetAddr(), err)
	}
	return o.n, nil
}

// ReadBatch reads up to len(ms) datagrams with one recvmmsg(2), waiting
// for the first one until the read deadline, and returns how many it read.
// Each Message gets its datagram in Buffers, its control messages in OOB,
// its source in Addr, and N, NN and Flags set. flags are those of
// recvmmsg, such as unix.MSG_DONTWAIT. It allocates nothing.
func (c *Conn) ReadBatch(ms []Message, flags int) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	o := c.rops.get(callRecvmmsg)
	defer c.rops.put(o)
	b := o.getBatch()
	b.prepareRecv(ms)
	o.flags = flags
	var err error
	if flags&unix.MSG_DONTWAIT != 0 {
		err = c.now(o)
	} else {
		err = c.read(o)
	}
	if err != nil {
		return 0, c.opError("read", c.raddr, err)
	}
	for i := 0; i < o.n; i++ {
		h := &b.hdrs[i].Hdr
		m := &ms[i]
		m.N, m.NN, m.Flags = int(b.hdrs[i].Len), int(h.Controllen), int(h.Flags)
		m.Addr, err = decodeAddr(b.names[i].b[:min(int(h.Namelen), sizeofSockaddrStorage)], c.family)
		if err != nil {
			return i, c.opError("read", c.raddr, err)
		}
	}
	return o.n, nil
}

// WriteBatch sends the datagrams of ms with sendmmsg(2), in calls of up
// to 32 messages, and returns how many it sent, setting their N; it stops
// at the first one that fails, returning its error. flags are those of
// sendmmsg. It allocates nothing.
//
// A run of messages to one IP address, without control messages, each
// as long as the first but the last, which may be shorter and not empty,
// goes as one UDP_SEGMENT send (see WriteToSegmented): the receiver gets
// the same datagrams, for much less of the kernel's work. When the kernel
// refuses such a send (EINVAL or EMSGSIZE for a segment longer than the
// path's MTU, EIO from a device that cannot checksum), WriteBatch sends
// that run a datagram at a time; after EIO it stops segmenting on this
// Conn. Any other error is returned as it would be for the run's first
// datagram. With MSG_MORE in flags nothing is segmented.
//
// Host ids are not segmented: the kernel picks a locator per send, and
// mhost.ko before this SDK sent a segmented send over a plugged-layer
// locator as one frame.
func (c *Conn) WriteBatch(ms []Message, flags int) (int, error) {
	o := c.wops.get(callSendmmsg)
	defer c.wops.put(o)
	b := o.getBatch()
	gso := flags&unix.MSG_MORE == 0 && !c.noGSO.Load()
	sent := 0
	plain := 0 // messages from sent on to send unsegmented: the kernel refused them
	for sent < len(ms) {
		rest := ms[sent:min(len(ms), sent+rawBatch)]
		if plain > 0 {
			rest = rest[:min(len(rest), plain)]
		}
		merged, err := b.prepareSend(rest, c.family, gso && plain == 0, c.dialedIP)
		if err != nil {
			be := err.(*batchError)
			return sent, c.opError("write", rest[be.index].Addr.NetAddr(), be.err)
		}
		o.flags = flags | unix.MSG_NOSIGNAL
		if err := c.write(o); err != nil {
			if merged && b.runs[0] > 1 && refusesSegments(err) {
				if errors.Is(err, unix.EIO) {
					c.noGSO.Store(true)
					gso = false
				}
				plain = int(b.runs[0])
				continue
			}
			return sent, c.opError("write", rest[0].Addr.NetAddr(), err)
		}
		k := 0 // messages sent
		for i := 0; i < o.n; i++ {
			if !merged || b.runs[i] == 1 {
				rest[k].N = int(b.hdrs[i].Len)
				k++
				continue
			}
			for range b.runs[i] {
				rest[k].N = 0
				for _, buf := range rest[k].Buffers {
					rest[k].N += len(buf)
				}
				k++
			}
		}
		sent += k
		plain = max(plain-k, 0)
	}
	return sent, nil
}

// refusesSegments reports whether err is the kernel's refusal of a
// UDP_SEGMENT send as such, rather than a failure of the datagrams.
func refusesSegments(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) ||
		errors.Is(err, unix.EMSGSIZE) || errors.Is(err, unix.EOPNOTSUPP)
}

// Close closes the socket. Blocked reads and writes return errors wrapping
// net.ErrClosed.
func (c *Conn) Close() error {
	c.mu.Lock()
	if !c.closed.CompareAndSwap(false, true) {
		c.mu.Unlock()
		return c.opError("close", nil, net.ErrClosed)
	}
	for w := range c.waiters {
		w.f.Close()
	}
	c.mu.Unlock()
	if err := c.fd.Close(); err != nil {
		return &net.OpError{Op: "close", Net: network, Source: c.laddr, Addr: c.raddr, Err: err}
	}
	return nil
}

// LocalAddr returns the *HostAddr the socket is bound to: host id 0 and
// its port.
func (c *Conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr returns the address the Conn was dialed to, or nil.
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline sets the read and write deadlines, as net.Conn documents.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline for reads, as net.Conn documents.
func (c *Conn) SetReadDeadline(t time.Time) error {
	return c.setDeadline(t, false)
}

// SetWriteDeadline sets the deadline for writes, as net.Conn documents.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	return c.setDeadline(t, true)
}

// SetReadBuffer sets the size of the socket's receive buffer (SO_RCVBUF).
// The kernel doubles it and caps it at net.core.rmem_max.
func (c *Conn) SetReadBuffer(bytes int) error {
	return c.opError("set", nil, c.fd.SetsockoptInt(unix.SOL_SOCKET, unix.SO_RCVBUF, bytes))
}

// SetWriteBuffer sets the size of the socket's send buffer (SO_SNDBUF).
// The kernel doubles it and caps it at net.core.wmem_max.
func (c *Conn) SetWriteBuffer(bytes int) error {
	return c.opError("set", nil, c.fd.SetsockoptInt(unix.SOL_SOCKET, unix.SO_SNDBUF, bytes))
}

// SetRecvHostID sets whether reads report the source of a datagram as a
// *HostAddr, carrying the host id and the source port, when the source
// address is a locator of a host in the kernel's host table, so that a
// server can answer the host rather than the path the datagram took.
// Other sources are reported as usual. It is off by default.
func (c *Conn) SetRecvHostID(on bool) error {
	v := 0
	if on {
		v = 1
	}
	return c.opError("set", nil, c.fd.SetsockoptInt(uapi.SolMhost, uapi.RecvHostID, v))
}

// SyscallConn returns a raw network connection, for socket options and
// system calls this package does not wrap.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	rc, err := c.fd.SyscallConn()
	if err != nil {
		return nil, c.opError("raw-conn", nil, err)
	}
	return rc, nil
}

// opError wraps a failure of op as a *net.OpError, or returns nil. A
// failure on a closed Conn becomes net.ErrClosed, and a canceled context
// the context's error.
func (c *Conn) opError(op string, addr net.Addr, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case c.closed.Load():
		err = net.ErrClosed
	case errors.Is(err, context.Canceled):
		err = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		err = context.DeadlineExceeded
	}
	return &net.OpError{Op: op, Net: network, Source: c.laddr, Addr: addr, Err: err}
}
