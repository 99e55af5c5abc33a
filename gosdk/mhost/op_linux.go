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

	// Sends: how many messages each of hdrs carries, and the UDP_SEGMENT
	// control messages of those that carry more than one (prepareSend).
	runs []uint8
	segs [][3]uint64

	// The destination of the first message of the last batch sent, and
	// its encoding: a program sending batches to one peer encodes it once,
	// not once per call.
	dst       Addr
	dstFamily uint16
	dstSA     sockaddr
	dstOK     bool
}

// UDP segmentation offload (GSO) cuts one send into datagrams of a size;
// prepareSend makes runs of a batch into such sends. The bounds are the
// kernel's: at most 64 segments (UDP_MAX_SEGMENTS on 6.1; 128 by 6.12), a
// datagram of at most 64 KiB less the headers, and 1024 iovecs.
const (
	maxSegments = 64
	maxGSOBytes = 0xffff - 8 - 40 // less the UDP and IPv6 headers
	maxIovecs   = 1024
)

// prepareRecv lays out ms for recvmmsg: one mmsghdr per message, with
// its buffers, its control message buffer and room for its source.
func (b *batch) prepareRecv(ms []Message) {
	b.hdrs, b.names = grow(b.hdrs, len(ms)), grow(b.names, len(ms))
	iovs := b.growIovs(ms)
	size := 0
	for i := range ms {
		m := &ms[i]
		niov, n := layout(iovs, m.Buffers)
		h := &b.hdrs[i]
		*h = unix.Mmsghdr{Hdr: unix.Msghdr{Name: &b.names[i].b[0], Namelen: uint32(len(b.names[i].b)), Iov: &iovs[0]}}
		h.Hdr.SetIovlen(niov)
		b.setOOB(h, m.OOB)
		iovs = iovs[niov:]
		size += n
	}
	b.size = size
}

// prepareSend lays out ms for sendmmsg: one mmsghdr per message, with
// its buffers, its control message buffer and its destination, encoded
// for family once for a run of messages to the same one.
//
// With gso, one mmsghdr carries each run of messages to one destination
// that a UDP_SEGMENT send delivers as the same datagrams: without control
// messages, all as long as the first but the last, which may be shorter
// and not empty. The kernel then builds and routes one buffer for the
// run, not one per datagram, which costs far less than the system calls
// sendmmsg saves. Only IP destinations are merged: see segmentable, and
// dialedIP for the zero Addr. b.runs says how many messages each mmsghdr
// carries; prepareSend reports whether any carries more than one.
func (b *batch) prepareSend(ms []Message, family uint16, gso, dialedIP bool) (bool, error) {
	b.hdrs, b.names = grow(b.hdrs, len(ms)), grow(b.names, len(ms))
	if gso {
		b.runs, b.segs = grow(b.runs, len(ms)), grow(b.segs, len(ms))
	}
	hdrs := b.hdrs
	iovs := b.growIovs(ms)
	var name *byte // the destination of the previous message
	var namelen uint32
	j := -1           // the mmsghdr being laid out
	seg, last := 0, 0 // its segment size, the length of its last message
	total, size := 0, 0
	open, merged := false, false // open: a message may join hdrs[j]
	for i := range ms {
		m := &ms[i]
		niov, n := layout(iovs, m.Buffers)
		size += n
		same := i > 0 && m.Addr.equal(&ms[i-1].Addr)
		if !same {
			sa, err := b.encode(i, m.Addr, family)
			if err != nil {
				return false, &batchError{index: i, err: err}
			}
			name, namelen = nil, 0
			if sa.n > 0 {
				name, namelen = &sa.b[0], uint32(sa.n)
			}
		}
		if open && same && last == seg && n > 0 && n <= seg && b.runs[j] < maxSegments &&
			total+n <= maxGSOBytes && int(hdrs[j].Hdr.Iovlen)+niov <= maxIovecs && len(m.OOB) == 0 {
			// The iovecs of consecutive messages are laid out one
			// after the other.
			h := &hdrs[j].Hdr
			h.SetIovlen(int(h.Iovlen) + niov)
			if b.runs[j] == 1 {
				oob := setSegment(&b.segs[j], uint16(seg))
				h.Control = &oob[0]
				h.SetControllen(len(oob))
				merged = true
			}
			b.runs[j]++
			total, last = total+n, n
		} else {
			j++
			h := &hdrs[j]
			*h = unix.Mmsghdr{Hdr: unix.Msghdr{Name: name, Namelen: namelen, Iov: &iovs[0]}}
			h.Hdr.SetIovlen(niov)
			b.setOOB(h, m.OOB)
			if gso {
				b.runs[j] = 1
				seg, last, total = n, n, n
				open = n > 0 && len(m.OOB) == 0 && segmentable(m.Addr, dialedIP)
			}
		}
		iovs = iovs[niov:]
	}
	b.hdrs, b.size = hdrs[:j+1], size
	return merged, nil
}

// segmentable reports whether a run to a may be segmented: IP addresses
// (see WriteBatch for host ids), the zero Addr when the Conn was dialed
// to one.
func segmentable(a Addr, dialedIP bool) bool {
	return a.kind == kindIP || a.kind == kindNone && dialedIP
}

// growIovs makes room in b.iovs for the buffers of ms, an iovec for each
// buffer and one for an empty datagram, and returns it.
func (b *batch) growIovs(ms []Message) []unix.Iovec {
	niov := 0
	for i := range ms {
		niov += max(len(ms[i].Buffers), 1)
	}
	b.iovs = grow(b.iovs, niov)
	return b.iovs
}

// layout points iovs at bufs, the buffers of a datagram, and returns how
// many iovecs it used, at least one, and the datagram's length.
func layout(iovs []unix.Iovec, bufs [][]byte) (niov, n int) {
	switch len(bufs) {
	case 1: // the common case, without a loop
		iovs[0].Base = unsafe.SliceData(bufs[0])
		iovs[0].SetLen(len(bufs[0]))
		return 1, len(bufs[0])
	case 0:
		iovs[0] = unix.Iovec{} // an empty datagram
		return 1, 0
	}
	for j, buf := range bufs {
		iovs[j].Base = unsafe.SliceData(buf)
		iovs[j].SetLen(len(buf))
		n += len(buf)
	}
	return len(bufs), n
}

// setOOB points h at the caller's control message buffer oob, if any.
func (b *batch) setOOB(h *unix.Mmsghdr, oob []byte) {
	if len(oob) > 0 {
		h.Hdr.Control = unsafe.SliceData(oob)
		h.Hdr.SetControllen(len(oob))
		b.oob = true
	}
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

// release drops the references to the caller's buffers, those of earlier
// and larger batches included.
func (b *batch) release() {
	clear(b.iovs[:cap(b.iovs)])
	if b.oob {
		hdrs := b.hdrs[:cap(b.hdrs)]
		for i := range hdrs {
			hdrs[i].Hdr.Control = nil
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
