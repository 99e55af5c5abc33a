//go:build !linux

package mhost

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// errNoLinux is what every function of the package that needs the kernel
// fails with on other systems.
var errNoLinux = errors.Join(errors.New("AF_MHOST needs Linux"), errors.ErrUnsupported)

// A Conn is an AF_MHOST datagram socket. AF_MHOST exists only on Linux:
// on this system none can be opened.
type Conn struct{}

// Listen fails: AF_MHOST needs Linux.
func (cfg *Config) Listen(ctx context.Context, port uint16) (*Conn, error) {
	return nil, &net.OpError{Op: "listen", Net: network, Addr: &HostAddr{Port: port}, Err: errNoLinux}
}

// Dial fails: AF_MHOST needs Linux.
func (cfg *Config) Dial(ctx context.Context, raddr net.Addr) (*Conn, error) {
	return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: errNoLinux}
}

func opErr(op string) error { return &net.OpError{Op: op, Net: network, Err: errNoLinux} }

func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) { return 0, nil, opErr("read") }
func (c *Conn) ReadFromContext(ctx context.Context, p []byte) (int, net.Addr, error) {
	return 0, nil, opErr("read")
}
func (c *Conn) ReadFromAddr(p []byte) (int, Addr, error) { return 0, Addr{}, opErr("read") }
func (c *Conn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return 0, netip.AddrPort{}, opErr("read")
}
func (c *Conn) Read(p []byte) (int, error) { return 0, opErr("read") }
func (c *Conn) ReadMsg(p, oob []byte, flags int) (n, oobn, recvflags int, addr net.Addr, err error) {
	return 0, 0, 0, nil, opErr("read")
}
func (c *Conn) ReadBatch(ms []Message, flags int) (int, error)          { return 0, opErr("read") }
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error)            { return 0, opErr("write") }
func (c *Conn) WriteToAddr(p []byte, addr Addr) (int, error)            { return 0, opErr("write") }
func (c *Conn) WriteToAddrPort(p []byte, a netip.AddrPort) (int, error) { return 0, opErr("write") }
func (c *Conn) WriteToContext(ctx context.Context, p []byte, addr net.Addr) (int, error) {
	return 0, opErr("write")
}
func (c *Conn) Write(p []byte) (int, error) { return 0, opErr("write") }
func (c *Conn) WriteMsg(p, oob []byte, addr net.Addr) (n, oobn int, err error) {
	return 0, 0, opErr("write")
}
func (c *Conn) WriteBatch(ms []Message, flags int) (int, error) { return 0, opErr("write") }
func (c *Conn) WriteToSegmented(p []byte, segment int, addr Addr) (int, error) {
	return 0, opErr("write")
}
func (c *Conn) Close() error                          { return opErr("close") }
func (c *Conn) LocalAddr() net.Addr                   { return nil }
func (c *Conn) RemoteAddr() net.Addr                  { return nil }
func (c *Conn) SetDeadline(t time.Time) error         { return opErr("set") }
func (c *Conn) SetReadDeadline(t time.Time) error     { return opErr("set") }
func (c *Conn) SetWriteDeadline(t time.Time) error    { return opErr("set") }
func (c *Conn) SetReadBuffer(bytes int) error         { return opErr("set") }
func (c *Conn) SetWriteBuffer(bytes int) error        { return opErr("set") }
func (c *Conn) SetRecvHostID(on bool) error           { return opErr("set") }
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return nil, opErr("raw-conn") }
