package mhost

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mdlayher/socket"
	"golang.org/x/sys/unix"
)

// ErrNotLoaded reports that the kernel has no AF_MHOST socket family: the
// mhost module is not loaded and could not be loaded on demand. Errors
// wrapping it also wrap the errno socket(2) failed with.
var ErrNotLoaded = errors.New("mhost kernel module not loaded")

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
	s      *socket.Conn
	family uint16 // AF_MHOST number, for encoding and decoding sockaddr_mhost
	closed atomic.Bool
	laddr  net.Addr
	raddr  net.Addr
}

var (
	_ net.PacketConn = (*Conn)(nil)
	_ net.Conn       = (*Conn)(nil)
	_ syscall.Conn   = (*Conn)(nil)
)

// Listen opens an AF_MHOST socket bound to port, which receives on that
// port over every network layer. Port 0 picks an ephemeral port; LocalAddr
// reports it.
func Listen(port uint16) (*Conn, error) {
	return listenFamily(FamilyInUse(), port)
}

// Dial opens an AF_MHOST socket connected to raddr: a *net.UDPAddr, a
// *HostAddr, an *EthAddr or a *RawAddr. The kernel binds it to an
// ephemeral port. Write sends to raddr; WriteTo may still send elsewhere.
func Dial(raddr net.Addr) (*Conn, error) {
	return dialFamily(FamilyInUse(), raddr)
}

func listenFamily(family int, port uint16) (*Conn, error) {
	sa := appendMhost(nil, uint16(family), 0, port)
	c, err := listen(family, uint16(family), sa)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: &HostAddr{Port: port}, Err: err}
	}
	return c, nil
}

func dialFamily(family int, raddr net.Addr) (*Conn, error) {
	c, err := dial(family, uint16(family), raddr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	return c, nil
}

// open creates a socket of the given domain and wraps it in a Conn; family
// is the AF_MHOST number for sockaddr_mhost. Listen and Dial pass the same
// number twice; tests pass AF_INET6 as the domain to exercise Conn over a
// UDP socket, on any kernel.
func open(domain int, family uint16) (*Conn, error) {
	s, err := socket.Socket(domain, unix.SOCK_DGRAM, 0, network, nil)
	if err != nil {
		if errors.Is(err, unix.EAFNOSUPPORT) {
			err = fmt.Errorf("%w: %w", ErrNotLoaded, err)
		}
		return nil, err
	}
	return &Conn{s: s, family: family}, nil
}

func listen(domain int, family uint16, sa []byte) (*Conn, error) {
	c, err := open(domain, family)
	if err != nil {
		return nil, err
	}
	err = c.control("bind", func(fd int) error { return bind(fd, sa) })
	if err == nil {
		c.laddr, err = c.sockname("getsockname", getsockname)
	}
	if err != nil {
		c.s.Close()
		return nil, err
	}
	return c, nil
}

func dial(domain int, family uint16, raddr net.Addr) (*Conn, error) {
	sa, err := appendSockaddr(nil, raddr, family)
	if err != nil {
		return nil, err
	}
	c, err := open(domain, family)
	if err != nil {
		return nil, err
	}
	err = c.control("connect", func(fd int) error { return connect(fd, sa) })
	if err == nil {
		c.laddr, err = c.sockname("getsockname", getsockname)
	}
	if err == nil {
		c.raddr, err = c.sockname("getpeername", getpeername)
	}
	if err != nil {
		c.s.Close()
		return nil, err
	}
	return c, nil
}

// control runs f, a system call that does not block, on the socket.
func (c *Conn) control(op string, f func(fd int) error) error {
	rc, err := c.s.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = f(int(fd)) }); err != nil {
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
	return decodeSockaddr(sa[:min(n, len(sa))], c.family)
}

// ReadFrom reads a datagram into p and returns its length and source
// address: a *net.UDPAddr for IPv4 and IPv6, a *HostAddr for a known host
// when SetRecvHostID is on, an *EthAddr for the example network layers
// FamilyTestProto and FamilyOtherProto, or a *RawAddr for a network layer
// this package has no type for. A datagram longer than p is truncated;
// ReadMsg reports when that happens.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	return c.ReadFromContext(context.Background(), p)
}

// ReadFromContext is ReadFrom, canceled when ctx is done.
func (c *Conn) ReadFromContext(ctx context.Context, p []byte) (int, net.Addr, error) {
	var (
		sa    [sizeofSockaddrStorage]byte
		n, sn int
	)
	err := c.s.ReadFunc(ctx, "recvfrom", func(fd int) error {
		var err error
		n, sn, err = recvfrom(fd, p, 0, sa[:])
		return err
	})
	if err != nil {
		return 0, nil, c.opError("read", c.raddr, err)
	}
	addr, err := decodeSockaddr(sa[:min(sn, len(sa))], c.family)
	if err != nil {
		return n, nil, c.opError("read", c.raddr, err)
	}
	return n, addr, nil
}

// Read reads a datagram into p. On a dialed Conn it may come from any
// source, not only the dialed address.
func (c *Conn) Read(p []byte) (int, error) {
	var n int
	err := c.s.ReadFunc(context.Background(), "recvfrom", func(fd int) error {
		var err error
		n, _, err = recvfrom(fd, p, 0, nil)
		return err
	})
	if err != nil {
		return 0, c.opError("read", c.raddr, err)
	}
	return n, nil
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
	var (
		sa [sizeofSockaddrStorage]byte
		sn int
	)
	read := func(fd int) error {
		var err error
		n, oobn, recvflags, sn, err = recvmsg(fd, p, oob, flags, sa[:])
		return err
	}
	if flags&unix.MSG_DONTWAIT != 0 {
		err = c.control("recvmsg", read)
	} else {
		err = c.s.ReadFunc(context.Background(), "recvmsg", read)
	}
	if err != nil {
		return 0, 0, 0, nil, c.opError("read", c.raddr, err)
	}
	addr, err = decodeSockaddr(sa[:min(sn, len(sa))], c.family)
	if err != nil {
		return n, oobn, recvflags, nil, c.opError("read", c.raddr, err)
	}
	return n, oobn, recvflags, addr, nil
}

// WriteTo sends p as one datagram to addr: a *net.UDPAddr, a *HostAddr, an
// *EthAddr or a *RawAddr. Payloads longer than MaxPayload fail with
// EMSGSIZE.
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	return c.WriteToContext(context.Background(), p, addr)
}

// WriteToContext is WriteTo, canceled when ctx is done.
func (c *Conn) WriteToContext(ctx context.Context, p []byte, addr net.Addr) (int, error) {
	sa, err := appendSockaddr(nil, addr, c.family)
	if err != nil {
		return 0, c.opError("write", addr, err)
	}
	var n int
	err = c.s.WriteFunc(ctx, "sendto", func(fd int) error {
		var err error
		n, err = sendto(fd, p, unix.MSG_NOSIGNAL, sa)
		return err
	})
	if err != nil {
		return 0, c.opError("write", addr, err)
	}
	return n, nil
}

// Write sends p as one datagram to the address the Conn was dialed to.
func (c *Conn) Write(p []byte) (int, error) {
	var n int
	err := c.s.WriteFunc(context.Background(), "sendto", func(fd int) error {
		var err error
		n, err = sendto(fd, p, unix.MSG_NOSIGNAL, nil)
		return err
	})
	if err != nil {
		return 0, c.opError("write", c.raddr, err)
	}
	return n, nil
}

// WriteMsg sends p as one datagram, with the control messages in oob (such
// as an IP_TTL or IPV6_HOPLIMIT one), to addr, or to the address the Conn
// was dialed to when addr is nil. It returns the number of bytes of p and
// of oob sent.
func (c *Conn) WriteMsg(p, oob []byte, addr net.Addr) (n, oobn int, err error) {
	var sa []byte
	if addr != nil {
		if sa, err = appendSockaddr(nil, addr, c.family); err != nil {
			return 0, 0, c.opError("write", addr, err)
		}
	} else {
		addr = c.raddr
	}
	err = c.s.WriteFunc(context.Background(), "sendmsg", func(fd int) error {
		var err error
		n, err = sendmsg(fd, p, oob, unix.MSG_NOSIGNAL, sa)
		return err
	})
	if err != nil {
		return 0, 0, c.opError("write", addr, err)
	}
	return n, len(oob), nil
}

// Close closes the socket. Blocked reads and writes return errors wrapping
// net.ErrClosed.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return c.opError("close", nil, net.ErrClosed)
	}
	if err := c.s.Close(); err != nil {
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
	return c.opError("set", nil, c.s.SetDeadline(t))
}

// SetReadDeadline sets the deadline for reads, as net.Conn documents.
func (c *Conn) SetReadDeadline(t time.Time) error {
	return c.opError("set", nil, c.s.SetReadDeadline(t))
}

// SetWriteDeadline sets the deadline for writes, as net.Conn documents.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	return c.opError("set", nil, c.s.SetWriteDeadline(t))
}

// SetReadBuffer sets the size of the socket's receive buffer (SO_RCVBUF).
// The kernel doubles it and caps it at net.core.rmem_max.
func (c *Conn) SetReadBuffer(bytes int) error {
	return c.opError("set", nil, c.s.SetsockoptInt(unix.SOL_SOCKET, unix.SO_RCVBUF, bytes))
}

// SetWriteBuffer sets the size of the socket's send buffer (SO_SNDBUF).
// The kernel doubles it and caps it at net.core.wmem_max.
func (c *Conn) SetWriteBuffer(bytes int) error {
	return c.opError("set", nil, c.s.SetsockoptInt(unix.SOL_SOCKET, unix.SO_SNDBUF, bytes))
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
	return c.opError("set", nil, c.s.SetsockoptInt(solMhost, optRecvHostID, v))
}

// SyscallConn returns a raw network connection, for socket options and
// system calls this package does not wrap.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	rc, err := c.s.SyscallConn()
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
