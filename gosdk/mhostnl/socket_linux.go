package mhostnl

import (
	"encoding/binary"
	"errors"
	"iter"
	"os"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// dialConn opens a generic netlink connection in the namespace cfg names,
// set up by netlink.Dial (namespace, strict checking, extended
// acknowledgements), whose reads pass through a doneSocket. It returns the
// doneSocket too.
func dialConn(cfg *Config) (*netlink.Conn, *doneSocket, error) {
	nc := &netlink.Config{Strict: true}
	if cfg != nil {
		nc.NetNS = cfg.NetNS
	}
	c, err := netlink.Dial(unix.NETLINK_GENERIC, nc)
	if err != nil {
		return nil, nil, err
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	ds := newDoneSocket(&rawSocket{c: c, rc: rc})
	return netlink.NewConn(ds, c.PID()), ds, nil
}

// dialWatch opens the connection of a Watcher: no dumps go over it.
func dialWatch(cfg *Config) (*netlink.Conn, error) {
	nc := &netlink.Config{Strict: true}
	if cfg != nil {
		nc.NetNS = cfg.NetNS
	}
	return netlink.Dial(unix.NETLINK_GENERIC, nc)
}

// A rawSocket is the netlink.Socket of a netlink.Conn from netlink.Dial,
// read and written through the file descriptor's poller: it passes every
// message up, NLMSG_DONE included, where that netlink.Conn would not. The
// rest (deadlines, groups, options, closing) is the dialed Conn's.
type rawSocket struct {
	c  *netlink.Conn
	rc syscall.RawConn
}

func (s *rawSocket) Send(m netlink.Message) error {
	return s.SendMessages([]netlink.Message{m})
}

func (s *rawSocket) SendMessages(msgs []netlink.Message) error {
	var b []byte
	for _, m := range msgs {
		mb, err := m.MarshalBinary()
		if err != nil {
			return err
		}
		b = append(b, mb...)
	}
	var serr error
	err := s.rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return serr != unix.EAGAIN
	})
	if err == nil {
		err = serr
	}
	return os.NewSyscallError("sendto", err)
}

// ReceiveIter reads one datagram and yields its messages.
func (s *rawSocket) ReceiveIter() iter.Seq2[netlink.Message, error] {
	return func(yield func(netlink.Message, error) bool) {
		b, err := s.read()
		if err != nil {
			yield(netlink.Message{}, err)
			return
		}
		for len(b) >= nlmsgHeaderLen {
			l := int(binary.NativeEndian.Uint32(b))
			if l < nlmsgHeaderLen || l > len(b) {
				yield(netlink.Message{}, errors.New("netlink: malformed message length"))
				return
			}
			var m netlink.Message
			if err := m.UnmarshalBinary(b[:min(nlmsgAlign(l), len(b))]); err != nil {
				yield(netlink.Message{}, err)
				return
			}
			if !yield(m, nil) {
				return
			}
			b = b[min(nlmsgAlign(l), len(b)):]
		}
	}
}

// read reads a datagram whole, into a buffer of its size rounded up to
// the alignment of netlink messages.
func (s *rawSocket) read() ([]byte, error) {
	var (
		n    int
		rerr error
		b    []byte
	)
	wait := func(fd uintptr) bool {
		if b == nil { // size it first
			n, _, rerr = unix.Recvfrom(int(fd), nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		} else {
			n, _, rerr = unix.Recvfrom(int(fd), b, 0)
		}
		return rerr != unix.EAGAIN
	}
	if err := s.rc.Read(wait); err != nil {
		return nil, err
	}
	if rerr != nil {
		return nil, os.NewSyscallError("recvfrom", rerr)
	}
	b = make([]byte, nlmsgAlign(n))
	if err := s.rc.Read(wait); err != nil {
		return nil, err
	}
	if rerr != nil {
		return nil, os.NewSyscallError("recvfrom", rerr)
	}
	return b[:nlmsgAlign(n)], nil
}

func (s *rawSocket) Receive() ([]netlink.Message, error) {
	var msgs []netlink.Message
	for m, err := range s.ReceiveIter() {
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

func (s *rawSocket) Close() error                          { return s.c.Close() }
func (s *rawSocket) JoinGroup(g uint32) error              { return s.c.JoinGroup(g) }
func (s *rawSocket) LeaveGroup(g uint32) error             { return s.c.LeaveGroup(g) }
func (s *rawSocket) SetDeadline(t time.Time) error         { return s.c.SetDeadline(t) }
func (s *rawSocket) SetReadDeadline(t time.Time) error     { return s.c.SetReadDeadline(t) }
func (s *rawSocket) SetWriteDeadline(t time.Time) error    { return s.c.SetWriteDeadline(t) }
func (s *rawSocket) SetReadBuffer(n int) error             { return s.c.SetReadBuffer(n) }
func (s *rawSocket) SetWriteBuffer(n int) error            { return s.c.SetWriteBuffer(n) }
func (s *rawSocket) SyscallConn() (syscall.RawConn, error) { return s.rc, nil }

const nlmsgHeaderLen = unix.NLMSG_HDRLEN

func nlmsgAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// eventsLost reports whether err says the kernel dropped messages for
// want of receive buffer.
func eventsLost(err error) bool { return errors.Is(err, unix.ENOBUFS) }
