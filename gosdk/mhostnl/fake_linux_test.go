package mhostnl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/internal/uapi"
)

// testFamily is the family the fake kernel registers.
var testFamily = genetlink.Family{
	ID:      0x1c,
	Name:    uapi.GenlName,
	Version: uapi.GenlVersion,
	Groups:  []genetlink.MulticastGroup{{Name: "other", ID: 8}, {Name: uapi.McgrpEvents, ID: 9}},
}

// A kernelError is what a fake handler returns to make the fake kernel
// answer with an errno and an extended acknowledgement message.
type kernelError struct {
	errno unix.Errno
	msg   string
}

func (e *kernelError) Error() string { return fmt.Sprintf("errno %d: %s", e.errno, e.msg) }

func kerr(errno unix.Errno, msg string) error { return &kernelError{errno, msg} }

// A fakeKernel answers generic netlink requests the way the kernel does,
// for the genltest.Func it serves: each request of a sendmsg is handled in
// order; replies to a dump are split over datagrams of perDatagram
// messages flagged NLM_F_MULTI and end with NLMSG_DONE; other replies take
// one datagram; failures get an NLMSG_ERROR echoing the request, with the
// handler's message as an extended acknowledgement; successes are
// acknowledged only when the request asked (NLM_F_ACK).
type fakeKernel struct {
	t           *testing.T
	fn          genltest.Func
	perDatagram int // messages per dump datagram; 0 means 2
	// interruptDumps is how many of the next dumps are marked
	// NLM_F_DUMP_INTR, as when the table changes during a dump: every
	// message of the dump, or its NLMSG_DONE alone with onDone, as when
	// the table changes after the last message was filled.
	interruptDumps int
	onDone         bool

	mu      sync.Mutex
	sockets []*fakeSocket
	sends   [][]netlink.Message // the requests of each sendmsg, in order
}

// newFake returns a fake kernel that serves testFamily and passes the
// other requests to fn.
func newFake(t *testing.T, fn genltest.Func) *fakeKernel {
	return &fakeKernel{t: t, fn: genltest.ServeFamily(testFamily, fn)}
}

// socket returns a new netlink socket of the fake kernel.
func (k *fakeKernel) socket() *fakeSocket {
	s := &fakeSocket{k: k, wake: make(chan struct{})}
	k.mu.Lock()
	k.sockets = append(k.sockets, s)
	k.mu.Unlock()
	return s
}

// conn returns a new netlink connection to the fake kernel.
func (k *fakeKernel) conn() *netlink.Conn { return netlink.NewConn(k.socket(), nltest.PID) }

// newClient returns a Client of the fake kernel as Dial makes them: over a
// doneSocket, its Watchers connecting to the fake kernel too.
func (k *fakeKernel) newClient() (*Client, error) {
	ds := newDoneSocket(k.socket())
	nc := netlink.NewConn(ds, nltest.PID)
	return newClient(genetlink.NewConn(nc), nc, ds, nil, func(*Config) (*netlink.Conn, error) { return k.conn(), nil })
}

// client is newClient for the tests of a working Client.
func (k *fakeKernel) client() *Client {
	k.t.Helper()
	c, err := k.newClient()
	if err != nil {
		k.t.Fatalf("newClient: %v", err)
	}
	k.t.Cleanup(func() { c.Close() })
	return c
}

// requests returns the mhost requests sent so far, family lookups left
// out, and forgets them.
func (k *fakeKernel) requests() []netlink.Message {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []netlink.Message
	for _, s := range k.sends {
		for _, m := range s {
			if m.Header.Type != unix.GENL_ID_CTRL {
				out = append(out, m)
			}
		}
	}
	k.sends = nil
	return out
}

// sendSizes returns how many mhost requests each sendmsg carried.
func (k *fakeKernel) sendSizes() []int {
	k.mu.Lock()
	defer k.mu.Unlock()
	var n []int
	for _, s := range k.sends {
		if len(s) > 0 && s[0].Header.Type != unix.GENL_ID_CTRL {
			n = append(n, len(s))
		}
	}
	return n
}

// publish sends a message of the events group to the sockets that joined
// it.
func (k *fakeKernel) publish(cmd uint8, attrs []netlink.Attribute) {
	data, _ := genetlink.Message{
		Header: genetlink.Header{Command: cmd, Version: uapi.GenlVersion},
		Data:   nltest.MustMarshalAttributes(attrs),
	}.MarshalBinary()
	m := netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(testFamily.ID)}, Data: data}
	m.Header.Length = uint32(16 + len(data))
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, s := range k.sockets {
		s.mu.Lock()
		if s.joined[9] {
			s.queueLocked([]netlink.Message{m})
		}
		s.mu.Unlock()
	}
}

// answer handles one request and returns the datagrams of its replies.
func (k *fakeKernel) answer(req netlink.Message) [][]netlink.Message {
	var greq genetlink.Message
	if err := greq.UnmarshalBinary(req.Data); err != nil {
		k.t.Errorf("fake kernel: request with a bad genetlink header: %v", err)
		return [][]netlink.Message{errorReply(req, unix.EINVAL, "")}
	}
	replies, err := k.fn(greq, req)
	if err != nil {
		var ke *kernelError
		if !errors.As(err, &ke) {
			k.t.Errorf("fake kernel: %v", err)
			return [][]netlink.Message{errorReply(req, unix.EPROTO, "")}
		}
		return [][]netlink.Message{errorReply(req, ke.errno, ke.msg)}
	}

	msg := func(g genetlink.Message, flags netlink.HeaderFlags) netlink.Message {
		b, _ := g.MarshalBinary()
		return netlink.Message{
			Header: netlink.Header{
				Length:   uint32(16 + len(b)),
				Type:     req.Header.Type,
				Flags:    flags,
				Sequence: req.Header.Sequence,
				PID:      req.Header.PID,
			},
			Data: b,
		}
	}

	if req.Header.Flags&netlink.Dump == netlink.Dump {
		per := k.perDatagram
		if per == 0 {
			per = 2
		}
		flags, doneFlags := netlink.Multi, netlink.Multi
		k.mu.Lock()
		if k.interruptDumps > 0 {
			k.interruptDumps--
			doneFlags |= netlink.DumpInterrupted
			if !k.onDone {
				flags |= netlink.DumpInterrupted
			}
		}
		k.mu.Unlock()
		var dgrams [][]netlink.Message
		for i := 0; i < len(replies); i += per {
			var d []netlink.Message
			for _, r := range replies[i:min(i+per, len(replies))] {
				d = append(d, msg(r, flags))
			}
			dgrams = append(dgrams, d)
		}
		done := netlink.Message{
			Header: netlink.Header{
				Length: 20, Type: netlink.Done, Flags: doneFlags,
				Sequence: req.Header.Sequence, PID: req.Header.PID,
			},
			Data: make([]byte, 4),
		}
		return append(dgrams, []netlink.Message{done})
	}

	var dgrams [][]netlink.Message
	if len(replies) > 0 {
		var d []netlink.Message
		for _, r := range replies {
			d = append(d, msg(r, 0))
		}
		dgrams = append(dgrams, d)
	}
	if req.Header.Flags&netlink.Acknowledge != 0 {
		dgrams = append(dgrams, errorReply(req, 0, ""))
	}
	return dgrams
}

// errorReply builds an NLMSG_ERROR for req: an acknowledgement when errno
// is 0 (echoing the request's header), a failure otherwise (echoing the
// whole request, then the message as NLMSGERR_ATTR_MSG).
func errorReply(req netlink.Message, errno unix.Errno, message string) []netlink.Message {
	hdr := make([]byte, 16)
	binary.NativeEndian.PutUint32(hdr[0:], req.Header.Length)
	binary.NativeEndian.PutUint16(hdr[4:], uint16(req.Header.Type))
	binary.NativeEndian.PutUint16(hdr[6:], uint16(req.Header.Flags))
	binary.NativeEndian.PutUint32(hdr[8:], req.Header.Sequence)
	binary.NativeEndian.PutUint32(hdr[12:], req.Header.PID)

	data := binary.NativeEndian.AppendUint32(nil, uint32(-int32(errno)))
	var flags netlink.HeaderFlags
	if errno == 0 {
		data = append(data, hdr...)
		flags = netlink.Capped
	} else {
		data = append(data, hdr...)
		data = append(data, req.Data...)
		if message != "" {
			flags |= netlink.AcknowledgeTLVs
			data = append(data, nltest.MustMarshalAttributes([]netlink.Attribute{
				{Type: unix.NLMSGERR_ATTR_MSG, Data: append([]byte(message), 0)},
			})...)
		}
	}
	return []netlink.Message{{
		Header: netlink.Header{
			Length: uint32(16 + len(data)), Type: netlink.Error, Flags: flags,
			Sequence: req.Header.Sequence, PID: req.Header.PID,
		},
		Data: data,
	}}
}

// A fakeSocket is one netlink socket of the fake kernel.
type fakeSocket struct {
	k *fakeKernel

	mu       sync.Mutex
	queue    [][]netlink.Message // datagrams to receive
	wake     chan struct{}       // closed and replaced when the socket changes
	joined   map[uint32]bool
	deadline time.Time
	closed   bool
}

var _ netlink.Socket = (*fakeSocket)(nil)

func (s *fakeSocket) queueLocked(d []netlink.Message) {
	s.queue = append(s.queue, d)
	close(s.wake)
	s.wake = make(chan struct{})
}

func (s *fakeSocket) Send(m netlink.Message) error {
	return s.SendMessages([]netlink.Message{m})
}

func (s *fakeSocket) SendMessages(msgs []netlink.Message) error {
	s.k.mu.Lock()
	s.k.sends = append(s.k.sends, append([]netlink.Message(nil), msgs...))
	s.k.mu.Unlock()
	for _, m := range msgs {
		for _, d := range s.k.answer(m) {
			s.mu.Lock()
			s.queueLocked(d)
			s.mu.Unlock()
		}
	}
	return nil
}

func (s *fakeSocket) Receive() ([]netlink.Message, error) {
	var out []netlink.Message
	for m, err := range s.ReceiveIter() {
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// ReceiveIter yields the messages of one datagram. With nothing queued it
// waits only if the socket joined a multicast group (a request socket
// would wait forever for a reply that is not coming: that is an error).
func (s *fakeSocket) ReceiveIter() iter.Seq2[netlink.Message, error] {
	return func(yield func(netlink.Message, error) bool) {
		for {
			s.mu.Lock()
			switch {
			case s.closed:
				s.mu.Unlock()
				yield(netlink.Message{}, os.NewSyscallError("recvmsg", net.ErrClosed))
				return
			case len(s.queue) > 0:
				d := s.queue[0]
				s.queue = s.queue[1:]
				s.mu.Unlock()
				for _, m := range d {
					if !yield(m, nil) {
						return
					}
				}
				return
			case !s.deadline.IsZero() && !time.Now().Before(s.deadline):
				s.mu.Unlock()
				yield(netlink.Message{}, os.ErrDeadlineExceeded)
				return
			case len(s.joined) == 0:
				s.mu.Unlock()
				yield(netlink.Message{}, errors.New("fake kernel: receive with no reply pending"))
				return
			}
			wake, deadline := s.wake, s.deadline
			s.mu.Unlock()
			var timeout <-chan time.Time
			if !deadline.IsZero() {
				t := time.NewTimer(time.Until(deadline))
				defer t.Stop()
				timeout = t.C
			}
			select {
			case <-wake:
			case <-timeout:
			}
		}
	}
}

func (s *fakeSocket) change(f func()) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
	close(s.wake)
	s.wake = make(chan struct{})
	return nil
}

func (s *fakeSocket) Close() error { return s.change(func() { s.closed = true }) }

func (s *fakeSocket) JoinGroup(g uint32) error {
	return s.change(func() {
		if s.joined == nil {
			s.joined = map[uint32]bool{}
		}
		s.joined[g] = true
	})
}

func (s *fakeSocket) LeaveGroup(g uint32) error { return s.change(func() { delete(s.joined, g) }) }

func (s *fakeSocket) SetDeadline(t time.Time) error     { return s.SetReadDeadline(t) }
func (s *fakeSocket) SetReadDeadline(t time.Time) error { return s.change(func() { s.deadline = t }) }
func (s *fakeSocket) SetWriteDeadline(time.Time) error  { return nil }

// reply returns a reply message of the mhost family.
func reply(cmd uint8, attrs ...netlink.Attribute) genetlink.Message {
	return genetlink.Message{
		Header: genetlink.Header{Command: cmd, Version: uapi.GenlVersion},
		Data:   nltest.MustMarshalAttributes(attrs),
	}
}

// Attribute builders for replies and expected requests, written
// independently of the package's encoder.
func u8(typ uint16, v uint8) netlink.Attribute { return netlink.Attribute{Type: typ, Data: []byte{v}} }

func u16(typ uint16, v uint16) netlink.Attribute {
	return netlink.Attribute{Type: typ, Data: binary.NativeEndian.AppendUint16(nil, v)}
}

func u32(typ uint16, v uint32) netlink.Attribute {
	return netlink.Attribute{Type: typ, Data: binary.NativeEndian.AppendUint32(nil, v)}
}

func u64(typ uint16, v uint64) netlink.Attribute {
	return netlink.Attribute{Type: typ, Data: binary.NativeEndian.AppendUint64(nil, v)}
}

func str(typ uint16, s string) netlink.Attribute {
	return netlink.Attribute{Type: typ, Data: append([]byte(s), 0)}
}

func raw(typ uint16, b ...byte) netlink.Attribute { return netlink.Attribute{Type: typ, Data: b} }

func nest(typ uint16, attrs ...netlink.Attribute) netlink.Attribute {
	return netlink.Attribute{Type: typ | netlink.Nested, Data: nltest.MustMarshalAttributes(attrs)}
}

// loc returns the attributes of a locator as the kernel sends them, with
// a pad before each counter as nla_put_u64_64bit may add.
func loc(family uint16, addr []byte, extra ...netlink.Attribute) netlink.Attribute {
	attrs := []netlink.Attribute{u16(uapi.LocAFamily, family), raw(uapi.LocAAddr, addr...)}
	return nest(uapi.ALocator, append(attrs, extra...)...)
}

// dev is a message of cmd about one device.
func dev(cmd uint8, ifindex uint32, name string, l3 bool) genetlink.Message {
	var v uint8
	if l3 {
		v = 1
	}
	return reply(cmd, nest(uapi.ADev, u32(uapi.DevAIfindex, ifindex), str(uapi.DevAName, name), u8(uapi.DevAL3, v)))
}
