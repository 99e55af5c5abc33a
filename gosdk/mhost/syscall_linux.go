package mhost

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Raw system calls taking socket addresses as bytes. They return the bare
// unix.Errno so that socket.Conn's ReadFunc and WriteFunc can tell EAGAIN
// apart and wait on the network poller.

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

// sendto sends p to the address sa, or to the connected peer when sa is
// empty.
func sendto(fd int, p []byte, flags int, sa []byte) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd),
		uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), uintptr(flags),
		uintptr(unsafe.Pointer(unsafe.SliceData(sa))), uintptr(len(sa)))
	return int(r), errnoErr(e)
}

// recvfrom reads a datagram into p and its source address into sa, when sa
// is not empty, returning the source address length.
func recvfrom(fd int, p []byte, flags int, sa []byte) (n, salen int, err error) {
	l := uint32(len(sa))
	lp := &l
	if len(sa) == 0 {
		lp = nil
	}
	r, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd),
		uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), uintptr(flags),
		uintptr(unsafe.Pointer(unsafe.SliceData(sa))), uintptr(unsafe.Pointer(lp)))
	if e != 0 {
		return 0, 0, e
	}
	return int(r), int(l), nil
}

func sendmsg(fd int, p, oob []byte, flags int, sa []byte) (int, error) {
	var iov unix.Iovec
	iov.Base = unsafe.SliceData(p)
	iov.SetLen(len(p))

	var msg unix.Msghdr
	msg.Name = unsafe.SliceData(sa)
	msg.Namelen = uint32(len(sa))
	msg.Iov = &iov
	msg.SetIovlen(1)
	msg.Control = unsafe.SliceData(oob)
	msg.SetControllen(len(oob))

	r, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
	return int(r), errnoErr(e)
}

// recvmsg reads a datagram into p, control messages into oob and the source
// address into sa. It returns the lengths the kernel reported and its
// msg_flags.
func recvmsg(fd int, p, oob []byte, flags int, sa []byte) (n, oobn, recvflags, salen int, err error) {
	var iov unix.Iovec
	iov.Base = unsafe.SliceData(p)
	iov.SetLen(len(p))

	var msg unix.Msghdr
	msg.Name = unsafe.SliceData(sa)
	msg.Namelen = uint32(len(sa))
	msg.Iov = &iov
	msg.SetIovlen(1)
	msg.Control = unsafe.SliceData(oob)
	msg.SetControllen(len(oob))

	r, _, e := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
	if e != 0 {
		return 0, 0, 0, 0, e
	}
	return int(r), int(msg.Controllen), int(msg.Flags), int(msg.Namelen), nil
}
