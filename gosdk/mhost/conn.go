package mhost

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrNotLoaded reports that the kernel has no AF_MHOST socket family: the
// mhost module is not loaded and could not be loaded on demand. Errors
// wrapping it also wrap the errno socket(2) failed with.
var ErrNotLoaded = errors.New("mhost kernel module not loaded")

// A Config says how to open a socket. The zero Config, or nil, opens one
// as Listen and Dial do.
type Config struct {
	// Control, when not nil, is called with the new socket before it is
	// bound (Listen) or connected (Dial), as net.ListenConfig's Control
	// is: network is "mhost", address the port ("*:7000") or the peer.
	// It is the place for options that must come first, such as
	// SO_BINDTODEVICE or the buffer sizes (SO_RCVBUF, SO_SNDBUF); an
	// error fails the Listen or Dial.
	Control func(network, address string, c syscall.RawConn) error

	// NetNS, when not 0, is a file descriptor of the network namespace to
	// open the socket in, such as an open /run/netns/NAME or
	// /proc/PID/ns/net; entering it needs CAP_SYS_ADMIN. The socket stays
	// in it for its whole life. 0 is the namespace of the calling thread.
	// The names of IPv6 zones (interfaces) are still looked up in the
	// namespace of the thread that reads or writes, as for package net's
	// sockets; zones given as indexes are exact.
	NetNS int

	// ReusePort sets SO_REUSEPORT before binding (as the socket option
	// MHOST_REUSEPORT, which every kernel passes to mhost), so that
	// several sockets of the same user can bind one port and the kernel
	// spreads the datagrams of different peers over them.
	ReusePort bool
}

// Listen opens an AF_MHOST socket bound to port, which receives on that
// port over every network layer. Port 0 picks an ephemeral port; LocalAddr
// reports it.
func Listen(port uint16) (*Conn, error) {
	return (*Config)(nil).Listen(context.Background(), port)
}

// Dial opens an AF_MHOST socket connected to raddr: a *net.UDPAddr, a
// *HostAddr, an *EthAddr or a *RawAddr. The kernel binds it to an
// ephemeral port. Write sends to raddr; WriteTo may still send elsewhere.
func Dial(raddr net.Addr) (*Conn, error) {
	return (*Config)(nil).Dial(context.Background(), raddr)
}

// DialContext is Dial, giving up when ctx is done before the socket is
// connected.
func DialContext(ctx context.Context, raddr net.Addr) (*Conn, error) {
	return (*Config)(nil).Dial(ctx, raddr)
}

// A Message is one datagram of a batch: ReadBatch fills it in, WriteBatch
// sends it.
type Message struct {
	// Buffers hold the datagram: ReadBatch fills them in order,
	// WriteBatch sends them one after the other as one datagram.
	Buffers [][]byte
	// OOB holds control messages, as the oob of ReadMsg and WriteMsg.
	OOB []byte
	// Addr is the source of a datagram read, or the destination of one
	// to write; the zero Addr writes to the address the Conn was dialed
	// to.
	Addr Addr
	// N is the number of bytes read into Buffers or written from them;
	// NN the number of bytes of OOB used.
	N, NN int
	// Flags are the flags the kernel set on a datagram read, such as
	// unix.MSG_TRUNC.
	Flags int
}

// connMethods is the method set of Conn, on every system: it keeps the
// Linux implementation and the stub of other systems in step.
type connMethods interface {
	net.PacketConn
	net.Conn
	syscall.Conn
	ReadFromContext(ctx context.Context, p []byte) (int, net.Addr, error)
	WriteToContext(ctx context.Context, p []byte, addr net.Addr) (int, error)
	ReadFromAddrPort(p []byte) (int, netip.AddrPort, error)
	WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error)
	ReadFromAddr(p []byte) (int, Addr, error)
	WriteToAddr(p []byte, addr Addr) (int, error)
	ReadMsg(p, oob []byte, flags int) (n, oobn, recvflags int, addr net.Addr, err error)
	WriteMsg(p, oob []byte, addr net.Addr) (n, oobn int, err error)
	ReadBatch(ms []Message, flags int) (int, error)
	WriteBatch(ms []Message, flags int) (int, error)
	WriteToSegmented(p []byte, segment int, addr Addr) (int, error)
	SetReadBuffer(bytes int) error
	SetWriteBuffer(bytes int) error
	SetRecvHostID(on bool) error
}

var _ connMethods = (*Conn)(nil)

// deadlineNanos turns a deadline into what the Conn keeps: Unix
// nanoseconds, 0 for none.
func deadlineNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(t.UnixNano(), 1)
}
