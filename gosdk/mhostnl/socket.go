package mhostnl

import (
	"errors"
	"iter"
	"sync"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
)

// netlink.Conn reads a dump until its NLMSG_DONE and drops that message,
// flags and all. The kernel checks a dump's consistency on every message
// it fills, NLMSG_DONE included: a table that changed after the last host
// was sent is flagged on NLMSG_DONE alone (NLM_F_DUMP_INTR), and the dump
// must be read again. A doneSocket sits under the netlink.Conn, sees every
// message go by, and remembers which dumps ended flagged.

// errNotSupported is the error of an optional method the socket under a
// doneSocket lacks.
var errNotSupported = errors.New("not supported by the netlink socket")

// A doneSocket wraps the netlink.Socket of a Client, remembering the
// dumps whose NLMSG_DONE carried NLM_F_DUMP_INTR.
type doneSocket struct {
	netlink.Socket

	mu   sync.Mutex
	intr map[uint32]bool // sequence numbers of interrupted dumps
}

func newDoneSocket(s netlink.Socket) *doneSocket {
	return &doneSocket{Socket: s, intr: make(map[uint32]bool)}
}

// ReceiveIter passes the messages of one datagram up, noting an
// interrupted NLMSG_DONE.
func (s *doneSocket) ReceiveIter() iter.Seq2[netlink.Message, error] {
	return func(yield func(netlink.Message, error) bool) {
		for m, err := range s.Socket.ReceiveIter() {
			if err == nil && m.Header.Type == netlink.Done && m.Header.Flags&netlink.DumpInterrupted != 0 {
				s.mu.Lock()
				s.intr[m.Header.Sequence] = true
				s.mu.Unlock()
			}
			if !yield(m, err) {
				return
			}
		}
	}
}

// Receive is ReceiveIter as a slice.
func (s *doneSocket) Receive() ([]netlink.Message, error) {
	var msgs []netlink.Message
	for m, err := range s.ReceiveIter() {
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// interrupted reports whether the dump of request seq ended on an
// NLMSG_DONE flagged interrupted, and forgets it.
func (s *doneSocket) interrupted(seq uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	intr := s.intr[seq]
	clear(s.intr) // requests are serialized: older ones are over
	return intr
}

// netlink.Conn finds the optional methods of its socket by type
// assertion; a doneSocket passes them on.

func (s *doneSocket) JoinGroup(group uint32) error {
	if g, ok := s.Socket.(interface{ JoinGroup(uint32) error }); ok {
		return g.JoinGroup(group)
	}
	return errNotSupported
}

func (s *doneSocket) LeaveGroup(group uint32) error {
	if g, ok := s.Socket.(interface{ LeaveGroup(uint32) error }); ok {
		return g.LeaveGroup(group)
	}
	return errNotSupported
}

type deadliner interface {
	SetDeadline(time.Time) error
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

func (s *doneSocket) SetDeadline(t time.Time) error {
	if d, ok := s.Socket.(deadliner); ok {
		return d.SetDeadline(t)
	}
	return errNotSupported
}

func (s *doneSocket) SetReadDeadline(t time.Time) error {
	if d, ok := s.Socket.(deadliner); ok {
		return d.SetReadDeadline(t)
	}
	return errNotSupported
}

func (s *doneSocket) SetWriteDeadline(t time.Time) error {
	if d, ok := s.Socket.(deadliner); ok {
		return d.SetWriteDeadline(t)
	}
	return errNotSupported
}

type bufferSetter interface {
	SetReadBuffer(int) error
	SetWriteBuffer(int) error
}

func (s *doneSocket) SetReadBuffer(n int) error {
	if b, ok := s.Socket.(bufferSetter); ok {
		return b.SetReadBuffer(n)
	}
	return errNotSupported
}

func (s *doneSocket) SetWriteBuffer(n int) error {
	if b, ok := s.Socket.(bufferSetter); ok {
		return b.SetWriteBuffer(n)
	}
	return errNotSupported
}

func (s *doneSocket) SyscallConn() (syscall.RawConn, error) {
	if c, ok := s.Socket.(interface {
		SyscallConn() (syscall.RawConn, error)
	}); ok {
		return c.SyscallConn()
	}
	return nil, errNotSupported
}
