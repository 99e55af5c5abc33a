//go:build guest

package guest_test

// Policing of what an AF_MHOST socket receives (issue 11): a socket
// filter and a cgroup ingress program stop plugged-L3 datagrams as they
// stop IP ones, and both count as drops of the socket the same way.
//
// The testproto cases fail until the socket layer is rebuilt: today the
// plugged-L3 path queues datagrams with __udp_enqueue_schedule_skb() and
// never runs sk_filter(), so they are delivered.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhost"
)

// A policedLayer is a way to reach an AF_MHOST socket on this host.
type policedLayer struct {
	name     string
	dst, src []byte // to the receiver, from the sender
}

// policedLayers are IPv4, IPv6 and testproto over loopback, from the
// sender's port to the receiver's.
func policedLayers(rport, sport int) []policedLayer {
	return []policedLayer{
		{"IPv4", sa4("127.0.0.1", rport), sa4("127.0.0.1", sport)},
		{"IPv6", sa6("::1", rport), sa6("::1", sport)},
		{"testproto", saLo(mhost.FamilyTestProto, rport), saLo(mhost.FamilyTestProto, sport)},
	}
}

// wantDropped sends a datagram with send, to the socket rfd, and checks
// that rfd drops it and counts the drop: nothing queued, SO_MEMINFO's
// drops one up. It waits until the datagram is one or the other.
func wantDropped(t *testing.T, rfd int, what string, send func() error) {
	t.Helper()
	before := meminfo(t, rfd)
	if err := send(); err != nil {
		t.Fatalf("%s: %v", what, errStr(err))
	}
	var mi [unix.SK_MEMINFO_VARS]uint32
	if !poll(ioTimeout, func() bool {
		mi = meminfo(t, rfd)
		return mi[unix.SK_MEMINFO_DROPS] != before[unix.SK_MEMINFO_DROPS] ||
			mi[unix.SK_MEMINFO_RMEM_ALLOC] > before[unix.SK_MEMINFO_RMEM_ALLOC]
	}) {
		t.Fatalf("%s: neither queued nor counted as dropped in %v", what, ioTimeout)
	}
	if mi[unix.SK_MEMINFO_RMEM_ALLOC] > before[unix.SK_MEMINFO_RMEM_ALLOC] {
		buf := make([]byte, 256)
		n, from, err := recvfrom(rfd, buf, unix.MSG_DONTWAIT)
		t.Errorf("%s: delivered (%q from %s, %v), want dropped", what, buf[:n], saString(from), errStr(err))
	}
	if d := mi[unix.SK_MEMINFO_DROPS] - before[unix.SK_MEMINFO_DROPS]; d != 1 {
		t.Errorf("%s: SO_MEMINFO drops moved by %d, want 1", what, d)
	}
}

// wantDelivered sends a datagram with send and reads it from rfd.
func wantDelivered(t *testing.T, rfd int, what string, from []byte, send func() error) {
	t.Helper()
	sendQueued(t, rfd, what, send)
	wantRecv(t, rfd, what, from)
}

// TestPolicingSocketFilter attaches a classic BPF filter that drops
// everything to a bound AF_MHOST socket: IPv4, IPv6 and testproto
// datagrams are all dropped and counted, and all delivered again once
// the filter is detached.
func TestPolicingSocketFilter(t *testing.T) {
	useL3Protos(t, testproto)
	enableL3(t, 0, 1) // testproto over lo
	rfd, rport := boundSocket(t)
	sfd, sport := boundSocket(t)
	layers := policedLayers(rport, sport)
	send := func(l policedLayer) func() error {
		return func() error {
			_, err := sendto(sfd, []byte(l.name), 0, l.dst)
			return err
		}
	}
	for _, l := range layers {
		wantDelivered(t, rfd, l.name, l.src, send(l))
	}

	dropAll := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
	prog := unix.SockFprog{Len: uint16(len(dropAll)), Filter: &dropAll[0]}
	if err := unix.SetsockoptSockFprog(rfd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		t.Fatalf("setsockopt(SO_ATTACH_FILTER): %v", errStr(err))
	}
	for _, l := range layers {
		t.Run(l.name, func(t *testing.T) {
			wantDropped(t, rfd, l.name+" with a drop-all filter", send(l))
		})
	}

	if err := unix.SetsockoptInt(rfd, unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0); err != nil {
		t.Fatalf("setsockopt(SO_DETACH_FILTER): %v", errStr(err))
	}
	wantEmpty(t, rfd)
	for _, l := range layers {
		wantDelivered(t, rfd, l.name, l.src, send(l))
	}
}

// ---- cgroup BPF ----

// A bpfInsn is a struct bpf_insn.
type bpfInsn struct {
	code uint8
	regs uint8 // dst_reg:4, src_reg:4
	off  int16
	imm  int32
}

// bpfProgLoadAttr is the start of union bpf_attr for BPF_PROG_LOAD, up to
// expected_attach_type; the kernel takes the rest as zero.
type bpfProgLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              uint64
	license            uint64
	logLevel           uint32
	logSize            uint32
	logBuf             uint64
	kernVersion        uint32
	progFlags          uint32
	progName           [16]byte
	progIfindex        uint32
	expectedAttachType uint32
}

// bpfAttachAttr is union bpf_attr for BPF_PROG_ATTACH and BPF_PROG_DETACH.
type bpfAttachAttr struct {
	targetFD     uint32
	attachBPFFD  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBPFFD uint32
}

func bpf(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	return int(r), errnoErr(e)
}

// loadCgroupDropAll loads a BPF_PROG_TYPE_CGROUP_SKB program that drops
// every packet, "r0 = 0; exit", and returns its descriptor, closed when
// the test ends.
func loadCgroupDropAll(t *testing.T) int {
	t.Helper()
	insns := []bpfInsn{
		{code: unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K}, // r0 = 0
		{code: unix.BPF_JMP | unix.BPF_EXIT},               // exit
	}
	license := []byte("GPL\x00")
	log := make([]byte, 4096)
	attr := bpfProgLoadAttr{
		progType:           unix.BPF_PROG_TYPE_CGROUP_SKB,
		insnCnt:            uint32(len(insns)),
		insns:              uint64(uintptr(unsafe.Pointer(&insns[0]))),
		license:            uint64(uintptr(unsafe.Pointer(&license[0]))),
		logLevel:           1,
		logSize:            uint32(len(log)),
		logBuf:             uint64(uintptr(unsafe.Pointer(&log[0]))),
		expectedAttachType: unix.BPF_CGROUP_INET_INGRESS,
	}
	copy(attr.progName[:], "mhost_drop_all")
	fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(insns)
	runtime.KeepAlive(license)
	if err != nil {
		t.Fatalf("bpf(BPF_PROG_LOAD) of a cgroup skb program: %v; verifier: %s", errStr(err), bytes.TrimRight(log, "\x00"))
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// A cgroup is a cgroup-v2 directory made for a test.
type cgroup struct {
	root string // where cgroup2 is mounted
	path string // the cgroup's directory
	fd   int    // the directory, open
}

// newCgroup mounts the cgroup2 hierarchy on a directory of its own and
// makes a cgroup in it, all undone when the test ends.
func newCgroup(t *testing.T, name string) *cgroup {
	t.Helper()
	root, err := os.MkdirTemp("/run", "cgroup2-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(root) })
	if err := unix.Mount("cgroup2", root, "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		t.Fatalf("mounting cgroup2 on %s: %v", root, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(root, 0); err != nil {
			t.Errorf("unmounting %s: %v", root, err)
		}
	})
	cg := &cgroup{root: root, path: filepath.Join(root, name)}
	if err := os.Mkdir(cg.path, 0o755); err != nil {
		t.Fatalf("making cgroup %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := os.Remove(cg.path); err != nil {
			t.Errorf("removing cgroup %s: %v", name, err)
		}
	})
	cg.fd, err = unix.Open(cg.path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(cg.fd) })
	return cg
}

// attach attaches a BPF program to the cgroup, detached when the test
// ends.
func (cg *cgroup) attach(t *testing.T, prog int, attachType uint32) {
	t.Helper()
	attr := bpfAttachAttr{targetFD: uint32(cg.fd), attachBPFFD: uint32(prog), attachType: attachType}
	if _, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		t.Fatalf("bpf(BPF_PROG_ATTACH) to %s: %v", cg.path, errStr(err))
	}
	t.Cleanup(func() {
		if _, err := bpf(unix.BPF_PROG_DETACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
			t.Errorf("bpf(BPF_PROG_DETACH) from %s: %v", cg.path, errStr(err))
		}
	})
}

// selfCgroup returns the cgroup-v2 path of this process, "/" for the
// root.
func selfCgroup(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p
		}
	}
	t.Fatalf("/proc/self/cgroup has no cgroup-v2 line:\n%s", b)
	return ""
}

// run moves this process into the cgroup, runs f and moves it back. A
// socket belongs to the cgroup of the task that created it, for good.
func (cg *cgroup) run(t *testing.T, f func()) {
	t.Helper()
	home := selfCgroup(t)
	pid := []byte(strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(filepath.Join(cg.path, "cgroup.procs"), pid, 0); err != nil {
		t.Fatalf("moving into %s: %v", cg.path, err)
	}
	defer func() {
		if err := os.WriteFile(filepath.Join(cg.root, home, "cgroup.procs"), pid, 0); err != nil {
			t.Errorf("moving back to cgroup %s: %v", home, err)
		}
	}()
	if got, want := selfCgroup(t), "/"+filepath.Base(cg.path); got != want {
		t.Fatalf("in cgroup %s after moving into %s", got, want)
	}
	f()
}

// TestPolicingCgroupIngress attaches a cgroup inet_ingress program that
// drops everything to a cgroup, and creates a plain UDP socket and an
// AF_MHOST socket in it. The plain socket gets nothing (the setup works:
// another outside the cgroup does get what it is sent); the AF_MHOST
// socket must get nothing either, over IPv4, IPv6 or testproto, each
// datagram counted as a drop.
func TestPolicingCgroupIngress(t *testing.T) {
	useL3Protos(t, testproto)
	enableL3(t, 0, 1) // testproto over lo
	cg := newCgroup(t, "mhost-policing")
	cg.attach(t, loadCgroupDropAll(t), unix.BPF_CGROUP_INET_INGRESS)

	var (
		inPlain [2]int // IPv4, IPv6
		inPorts [2]int
		rfd     int
		rport   int
	)
	cg.run(t, func() {
		for i, lo := range loopbacks {
			inPlain[i], inPorts[i] = plainBound(t, lo.ip)
		}
		rfd, rport = boundSocket(t)
	})

	t.Run("plain UDP", func(t *testing.T) {
		for i, lo := range loopbacks {
			sfd, sport := plainBound(t, lo.ip)
			send := func(port int) func() error {
				return func() error {
					_, err := sendto(sfd, []byte("plain "+lo.name), 0, saIP(lo.ip, port))
					return err
				}
			}
			wantDropped(t, inPlain[i], fmt.Sprintf("%s to a plain UDP socket in the cgroup", lo.name), send(inPorts[i]))
			out, outPort := plainBound(t, lo.ip)
			wantDelivered(t, out, "plain "+lo.name, saIP(lo.ip, sport), send(outPort))
		}
	})
	if t.Failed() {
		t.Fatal("the cgroup program does not police plain UDP sockets: nothing to compare AF_MHOST with")
	}

	sfd, sport := boundSocket(t)
	for _, l := range policedLayers(rport, sport) {
		t.Run("AF_MHOST "+l.name, func(t *testing.T) {
			wantDropped(t, rfd, l.name+" to an AF_MHOST socket in the cgroup", func() error {
				_, err := sendto(sfd, []byte(l.name), 0, l.dst)
				return err
			})
		})
	}
}
