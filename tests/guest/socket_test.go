//go:build guest

package guest_test

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestSocket(t *testing.T) {
	for _, proto := range []int{0, unix.IPPROTO_UDP} {
		fd, err := unix.Socket(family, unix.SOCK_DGRAM, proto)
		if err != nil {
			t.Errorf("socket(AF_MHOST, SOCK_DGRAM, %d): %v", proto, errStr(err))
			continue
		}
		unix.Close(fd)
	}
}

func TestSocketFlags(t *testing.T) {
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket(AF_MHOST, SOCK_DGRAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0): %v", errStr(err))
	}
	defer unix.Close(fd)
	fl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	fdfl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if fl&unix.O_NONBLOCK == 0 || fdfl&unix.FD_CLOEXEC == 0 {
		t.Errorf("file flags %#x, descriptor flags %#x: want O_NONBLOCK and FD_CLOEXEC", fl, fdfl)
	}
	if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_DGRAM {
		t.Errorf("SO_TYPE = %d, %v; want SOCK_DGRAM", typ, err)
	}
}

func TestSocketUnsupported(t *testing.T) {
	tests := []struct {
		name       string
		typ, proto int
		errno      unix.Errno
	}{
		{"SOCK_STREAM", unix.SOCK_STREAM, 0, unix.ESOCKTNOSUPPORT},
		{"SOCK_RAW", unix.SOCK_RAW, 0, unix.ESOCKTNOSUPPORT},
		{"SOCK_SEQPACKET", unix.SOCK_SEQPACKET, 0, unix.ESOCKTNOSUPPORT},
		{"IPPROTO_TCP", unix.SOCK_DGRAM, unix.IPPROTO_TCP, unix.EPROTONOSUPPORT},
		{"protocol 200", unix.SOCK_DGRAM, 200, unix.EPROTONOSUPPORT},
	}
	for _, tt := range tests {
		fd, err := unix.Socket(family, tt.typ, tt.proto)
		if err == nil {
			unix.Close(fd)
		}
		wantErrno(t, err, tt.errno, "socket(AF_MHOST, "+tt.name+")")
	}
}
