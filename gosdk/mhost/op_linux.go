package mhost

import (
	"encoding/binary"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The data path runs each system call through the runtime network poller
// (syscall.RawConn's Read and Write), which takes a func. A func literal
// capturing a call's arguments would be allocated on every call; an op
// carries them instead, is kept by the Conn between calls, and has its
// funcs bound once.
// So ReadFrom and WriteTo allocate only what they return, and the netip,
// Addr and batch methods nothing at all.

type opCall uint8

const (
	callRecvfrom opCall = iota
	callRecvmsg
	callSendto
	callSendmsg
	callRecvmmsg
	callSendmmsg
)

// An op is one system call on the socket: its arguments, its results,
// and the funcs the poller runs.
type op struct {
	call  opCall
	p     []byte // the datagram
	oob   []byte // control messages
	flags int
	sa    sockaddr // the destination, or the source read

	n, oobn, rflags int
	errno           unix.Errno

	// What the kernel reads and writes besides the buffers; in the op
	// rather than on the stack of run, which they would escape.
	salen uint32
	iov   unix.Iovec
	msg   unix.Msghdr

	// Batches: the kernel's view of the caller's messages.
	batch *batch

	// A UDP_SEGMENT control message, for WriteToSegmented; words, for
	// the alignment of its cmsghdr.
	cmsg [3]uint64

	// The call, for the poller: false to wait for the socket. recvfrom
	// and sendto, the common calls, have their own, without run's
	// switch.
	do, recvfrom, sendto func(fd uintptr) bool
	try                  func(fd uintptr) // the call, once, without waiting
}

// ops holds the spare ops of every Conn. A Conn keeps one for reads and
// one for writes at hand, which a program with a reader and a writer
// goroutine always finds there: a sync.Pool round trip costs more than
// the rest of the Go side of a datagram.
var ops = sync.Pool{New: func() any {
	o := new(op)
	o.do, o.recvfrom, o.sendto = o.run, o.runRecvfrom, o.runSendto
	o.try = func(fd uintptr) { o.run(fd) }
	return o
}}

// An opSlot holds a spare op.
type opSlot struct{ atomic.Pointer[op] }

func (s *opSlot) get(call opCall) *op {
	o := s.Swap(nil)
	if o == nil {
		o = ops.Get().(*op)
	}
	o.call = call
	return o
}

// put keeps o for the next call, dropping its references to the caller's
// buffers.
func (s *opSlot) put(o *op) {
	o.p, o.flags, o.sa.n = nil, 0, 0
	if o.call > callSendto { // the others hold more
		o.oob = nil
		o.iov, o.msg = unix.Iovec{}, unix.Msghdr{}
		if o.batch != nil {
			o.batch.release()
		}
	}
	if !s.CompareAndSwap(nil, o) {
		ops.Put(o) // another call of the same kind got here first
	}
}

// err returns the call's error: its errno, or nil.
func (o *op) err() error {
	if o.errno != 0 {
		return o.errno
	}
	return nil
}

// runRecvfrom is run for callRecvfrom.
func (o *op) runRecvfrom(fd uintptr) bool {
	for {
		o.salen = uint32(len(o.sa.b))
		r, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd,
			uintptr(unsafe.Pointer(unsafe.SliceData(o.p))), uintptr(len(o.p)), uintptr(o.flags),
			uintptr(unsafe.Pointer(&o.sa.b[0])), uintptr(unsafe.Pointer(&o.salen)))
		switch e {
		case 0:
			o.n, o.errno, o.sa.n = int(r), 0, min(int(o.salen), len(o.sa.b))
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			o.errno = e
			return false
		}
		o.errno = e
		return true
	}
}

// runSendto is run for callSendto.
func (o *op) runSendto(fd uintptr) bool {
	var name unsafe.Pointer
	if o.sa.n > 0 {
		name = unsafe.Pointer(&o.sa.b[0])
	}
	for {
		r, _, e := unix.Syscall6(unix.SYS_SENDTO, fd,
			uintptr(unsafe.Pointer(unsafe.SliceData(o.p))), uintptr(len(o.p)), uintptr(o.flags),
			uintptr(name), uintptr(o.sa.n))
		switch e {
		case 0:
			o.n, o.errno = int(r), 0
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			o.errno = e
			return false
		}
		o.errno = e
		return true
	}
}

// run makes the call on fd. It reports false, for the poller to wait,
// when the socket would block, and retries a call a signal interrupted.
func (o *op) run(fd uintptr) bool {
	switch o.call {
	case callRecvfrom:
		return o.runRecvfrom(fd)
	case callSendto:
		return o.runSendto(fd)
	}
	for {
		var r uintptr
		switch o.call {
		case callRecvmsg:
			o.setMsg(&o.sa.b[0], uint32(len(o.sa.b)))
			r, _, o.errno = unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&o.msg)), uintptr(o.flags))
			o.sa.n = min(int(o.msg.Namelen), len(o.sa.b))
			o.oobn, o.rflags = int(o.msg.Controllen), int(o.msg.Flags)
		case callSendmsg:
			var name *byte
			if o.sa.n > 0 {
				name = &o.sa.b[0]
			}
			o.setMsg(name, uint32(o.sa.n))
			r, _, o.errno = unix.Syscall(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&o.msg)), uintptr(o.flags))
		case callRecvmmsg, callSendmmsg:
			trap := uintptr(unix.SYS_RECVMMSG)
			if o.call == callSendmmsg {
				trap = unix.SYS_SENDMMSG
			}
			h := o.batch.hdrs
			call, flags := unix.Syscall6, o.flags
			if len(h) <= rawBatch && o.batch.size <= rawBatchBytes {
				// MSG_DONTWAIT: never wait holding the P, even
				// where the caller cleared O_NONBLOCK.
				call, flags = unix.RawSyscall6, flags|unix.MSG_DONTWAIT
			}
			r, _, o.errno = call(trap, fd,
				uintptr(unsafe.Pointer(unsafe.SliceData(h))), uintptr(len(h)), uintptr(flags), 0, 0)
		}
		switch o.errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		o.n = int(r)
		return true
	}
}

// rawBatch is the most messages a sendmmsg or recvmmsg is made for as a
// raw system call, one the runtime is not told about: WriteBatch sends
// larger batches in calls of rawBatch, ReadBatch reads them with an
// ordinary call.
//
// A system call that lasts longer than a tick of the runtime's monitor
// (20 µs) loses its P: the monitor hands the P to another thread, and the
// caller, back from the kernel, waits for a P again. One datagram takes a
// few µs of the kernel's work, so a batch always lasts that long, and on a
// single CPU (GOMAXPROCS=1) the handoff and the thread switches it brings
// cost more than the calls that batching saves. These calls do not wait
// for the network (MSG_DONTWAIT: a call that would returns EAGAIN for the
// poller to wait), so the P is better kept; but while it
// is, no other goroutine runs on it and a stop-the-world of the garbage
// collector waits for the call to return. The bound keeps that wait to
// rawBatch datagrams' work, like the pauses the collector is built to
// make: on the 2-core virtual Xeon this was measured on, WriteBatch of 32
// datagrams of 64 bytes over loopback UDP took 60 µs (the receive path
// runs in the sender's call) and ReadBatch of 32 took 15 µs. A larger
// call would save at most 1/32 of a call's entry and exit per datagram,
// against the kernel's µs of work for each.
const rawBatch = 32

// rawBatchBytes bounds the buffers of a batch made as a raw system call:
// 32 datagrams of 64 KiB would be a copy of 2 MiB with the P held.
const rawBatchBytes = 64 << 10

// getBatch returns the batch of o, made on first use.
func (o *op) getBatch() *batch {
	if o.batch == nil {
		o.batch = new(batch)
	}
	return o.batch
}

// setSegment writes a UDP_SEGMENT control message for segment into w, 24
// bytes (a cmsghdr and a u16, aligned: 16 on 32-bit systems), and returns
// it.
func setSegment(w *[3]uint64, segment uint16) []byte {
	*w = [3]uint64{}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&w[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(b[unix.CmsgLen(0):], segment)
	return b
}

// setMsg points o.msg at o.p, o.oob and the socket address name.
func (o *op) setMsg(name *byte, namelen uint32) {
	o.iov = unix.Iovec{Base: unsafe.SliceData(o.p)}
	o.iov.SetLen(len(o.p))
	o.msg = unix.Msghdr{Name: name, Namelen: namelen, Iov: &o.iov}
	o.msg.SetIovlen(1)
	if len(o.oob) > 0 {
		o.msg.Control = unsafe.SliceData(o.oob)
		o.msg.SetControllen(len(o.oob))
	}
}

// A batch holds the mmsghdrs of a recvmmsg or sendmmsg and what they point
// to, reused from call to call.
type batch struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []sockaddr
	oob   bool // some hdrs point to the caller's control buffers
	size  int  // the bytes of the buffers of hdrs

	// The destination of the first message of the last batch sent, and
	// its encoding: a program sending batches to one peer encodes it once,
	// not once per call.
	dst       Addr
	dstFamily uint16
	dstSA     sockaddr
	dstOK     bool
}

// prepare lays out ms for the kernel: one mmsghdr per message, with its
// buffers, its control message buffer and, for sends, its destination
// encoded for family (once for a run of messages to the same one).
func (b *batch) prepare(ms []Message, send bool, family uint16) error {
	b.hdrs, b.names = grow(b.hdrs, len(ms)), grow(b.names, len(ms))
	hdrs, names := b.hdrs, b.names
	niov, size := 0, 0
	for i := range ms {
		niov += max(len(ms[i].Buffers), 1)
		for _, buf := range ms[i].Buffers {
			size += len(buf)
		}
	}
	b.size = size
	b.iovs = grow(b.iovs, niov)
	iovs := b.iovs
	var name *byte // the destination of the previous message
	var namelen uint32
	for i := range ms {
		m := &ms[i]
		h := &hdrs[i]
		iov := iovs[:1]
		if len(m.Buffers) == 1 { // the common case, without a loop
			iov[0].Base = unsafe.SliceData(m.Buffers[0])
			iov[0].SetLen(len(m.Buffers[0]))
		} else if len(m.Buffers) == 0 {
			iov[0] = unix.Iovec{} // an empty datagram
		} else {
			iov = iovs[:len(m.Buffers)]
			for j, buf := range m.Buffers {
				iov[j].Base = unsafe.SliceData(buf)
				iov[j].SetLen(len(buf))
			}
		}
		iovs = iovs[len(iov):]
		*h = unix.Mmsghdr{}
		h.Hdr.Iov = &iov[0]
		h.Hdr.SetIovlen(len(iov))
		if len(m.OOB) > 0 {
			h.Hdr.Control = unsafe.SliceData(m.OOB)
			h.Hdr.SetControllen(len(m.OOB))
			b.oob = true
		}
		if !send {
			h.Hdr.Name = &names[i].b[0]
			h.Hdr.Namelen = uint32(len(names[i].b))
			continue
		}
		if i == 0 || !m.Addr.equal(&ms[i-1].Addr) {
			sa, err := b.encode(i, m.Addr, family)
			if err != nil {
				return &batchError{index: i, err: err}
			}
			name, namelen = nil, 0
			if sa.n > 0 {
				name, namelen = &sa.b[0], uint32(sa.n)
			}
		}
		h.Hdr.Name, h.Hdr.Namelen = name, namelen
	}
	return nil
}

// encode returns the encoding of a, the destination of message i: the one
// kept from the previous batch when a is its destination, else a new one.
//
// A link-local address with a zone is encoded anew every time: the zone
// names an interface, which may be a different one by the next call.
// family is part of the key, since ops move between Conns.
func (b *batch) encode(i int, a Addr, family uint16) (*sockaddr, error) {
	if i == 0 && b.dstOK && b.dstFamily == family && a.equal(&b.dst) {
		return &b.dstSA, nil
	}
	sa := &b.names[i]
	if i == 0 {
		sa, b.dstOK = &b.dstSA, false
	}
	sa.n = 0
	if a.IsValid() {
		if err := sa.setAddr(a, family); err != nil {
			return nil, err
		}
	}
	if i == 0 && (a.kind != kindIP || a.ip.Addr().Zone() == "") {
		b.dst, b.dstFamily, b.dstOK = a, family, true
	}
	return sa, nil
}

// release drops the references to the caller's buffers.
func (b *batch) release() {
	clear(b.iovs)
	if b.oob {
		for i := range b.hdrs {
			b.hdrs[i].Hdr.Control = nil
		}
		b.oob = false
	}
}

// grow returns s resized to n, reallocated only when it is too small.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// A batchError is the failure to encode the destination of a message of a
// batch.
type batchError struct {
	index int
	err   error
}

func (e *batchError) Error() string { return "message " + strconv.Itoa(e.index) + ": " + e.err.Error() }
func (e *batchError) Unwrap() error { return e.err }

// Raw system calls for setting the socket up, outside the poller.

func errnoErr(e unix.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

func bind(fd int, sa []byte) error {
	_, _, e := unix.RawSyscall(unix.SYS_BIND, uintptr(fd),
		uintptr(unsafe.Pointer(unsafe.SliceData(sa))), uintptr(len(sa)))
	return errnoErr(e)
}

func connect(fd int, sa []byte) error {
	_, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(fd),
		uintptr(unsafe.Pointer(unsafe.SliceData(sa))), uintptr(len(sa)))
	return errnoErr(e)
}

// getsockname and getpeername write the address into sa and return its
// length, which can exceed len(sa) when sa was too short to hold it.
func getsockname(fd int, sa []byte) (int, error) {
	n := uint32(len(sa))
	_, _, e := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd),
		uintptr(unsafe.Pointer(unsafe.SliceData(sa))), uintptr(unsafe.Pointer(&n)))
	return int(n), errnoErr(e)
}

func getpeername(fd int, sa []byte) (int, error) {
	n := uint32(len(sa))
	_, _, e := unix.RawSyscall(unix.SYS_GETPEERNAME, uintptr(fd),
		uintptr(unsafe.Pointer(unsafe.SliceData(sa))), uintptr(unsafe.Pointer(&n)))
	return int(n), errnoErr(e)
}
