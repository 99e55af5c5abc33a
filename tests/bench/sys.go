//go:build linux

package bench

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/internal/ifup"
)

// ---- raw sockets ----
//
// Every benchmark drives its sockets with the same few blocking system
// calls, made on threads locked to one CPU each, with socket addresses
// encoded here. Both arms of a comparison therefore run the same user
// code and differ only in the socket family and the address bytes: what
// is compared is the kernel path.

// rxTimeout is the receive timeout of every benchmark socket: short, so
// that a blocked receiver notices soon that its sender has stopped.
const rxTimeout = 20 * time.Millisecond

// rcvBuf is the receive buffer of every receiving socket (SO_RCVBUFFORCE).
const rcvBuf = 4 << 20

// openSocket opens a socket in the network namespace ns (-1: the calling
// thread's) with the benchmark's receive buffer and timeout.
func openSocket(ns, domain, typ, proto int) (int, error) {
	var fd int
	err := inNetNS(ns, func() (err error) {
		fd, err = unix.Socket(domain, typ|unix.SOCK_CLOEXEC, proto)
		return err
	})
	if err != nil {
		return -1, fmt.Errorf("socket(%d, %d, %d): %w", domain, typ, proto, err)
	}
	tv := unix.NsecToTimeval(rxTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("SO_RCVTIMEO: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("SO_RCVBUFFORCE: %w", err)
	}
	return fd, nil
}

func sendto(fd int, p, sa []byte) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
		0, uintptr(unsafe.Pointer(&sa[0])), uintptr(len(sa)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// recvfrom receives into p and the source address into from, with flags
// (0 or MSG_DONTWAIT); it returns the datagram's length and the
// address's.
func recvfrom(fd int, p, from []byte, flags int) (int, int, error) {
	alen := uint32(len(from))
	r, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
		uintptr(flags), uintptr(unsafe.Pointer(&from[0])), uintptr(unsafe.Pointer(&alen)))
	if e != 0 {
		return 0, 0, e
	}
	return int(r), int(alen), nil
}

func bindRaw(fd int, sa []byte) error {
	_, _, e := unix.Syscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(&sa[0])), uintptr(len(sa)))
	if e != 0 {
		return e
	}
	return nil
}

// localPort returns the port a socket is bound to; every address family
// the benchmarks use keeps it, big-endian, at offset 2.
func localPort(fd int) (int, error) {
	sa := make([]byte, 128)
	alen := uint32(len(sa))
	_, _, e := unix.Syscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&sa[0])), uintptr(unsafe.Pointer(&alen)))
	if e != 0 {
		return 0, e
	}
	if alen < 4 {
		return 0, fmt.Errorf("getsockname: %d-byte address", alen)
	}
	return int(binary.BigEndian.Uint16(sa[2:4])), nil
}

// Socket addresses, laid out as in the kernel's headers. Families are in
// host byte order, ports in network byte order.

func sa4(ip netip.Addr, port int) []byte {
	b := make([]byte, unix.SizeofSockaddrInet4)
	binary.NativeEndian.PutUint16(b, unix.AF_INET)
	binary.BigEndian.PutUint16(b[2:], uint16(port))
	a := ip.As4()
	copy(b[4:], a[:])
	return b
}

func sa6(ip netip.Addr, port int) []byte {
	b := make([]byte, unix.SizeofSockaddrInet6)
	binary.NativeEndian.PutUint16(b, unix.AF_INET6)
	binary.BigEndian.PutUint16(b[2:], uint16(port))
	a := ip.As16()
	copy(b[8:], a[:])
	return b
}

// saMhost is a struct sockaddr_mhost.
func saMhost(family, port int, hid uint32) []byte {
	b := make([]byte, 16)
	binary.NativeEndian.PutUint16(b, uint16(family))
	binary.BigEndian.PutUint16(b[2:], uint16(port))
	binary.NativeEndian.PutUint32(b[4:], hid)
	return b
}

// setHid rewrites the host id of a sockaddr_mhost in place.
func setHid(sa []byte, hid uint32) { binary.NativeEndian.PutUint32(sa[4:], hid) }

// saEth is a struct sockaddr_mhost_eth (testproto and otherproto).
func saEth(family, port, ifindex int, mac net.HardwareAddr) []byte {
	b := make([]byte, 16)
	binary.NativeEndian.PutUint16(b, uint16(family))
	binary.BigEndian.PutUint16(b[2:], uint16(port))
	binary.NativeEndian.PutUint32(b[4:], uint32(ifindex))
	copy(b[8:14], mac)
	return b
}

// saLL is a struct sockaddr_ll.
func saLL(ethertype uint16, ifindex int, mac net.HardwareAddr) []byte {
	b := make([]byte, unix.SizeofSockaddrLinklayer)
	binary.NativeEndian.PutUint16(b, unix.AF_PACKET)
	binary.BigEndian.PutUint16(b[2:], ethertype)
	binary.NativeEndian.PutUint32(b[4:], uint32(ifindex))
	b[11] = byte(len(mac))
	copy(b[12:], mac)
	return b
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// ---- threads, CPUs and network namespaces ----

// pinned runs f on a thread of its own bound to cpu (cpu < 0: no binding).
// The thread is never handed back to the Go scheduler: it ends with f.
func pinned(cpu int, f func()) (done <-chan struct{}) {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		runtime.LockOSThread()
		if cpu >= 0 && cpu < runtime.NumCPU() {
			var set unix.CPUSet
			set.Set(cpu)
			unix.SchedSetaffinity(0, &set) // best effort
		}
		f()
	}()
	return ch
}

// inNetNS runs f on a thread that is in the network namespace ns (a file
// descriptor; -1 means the current one). Sockets opened by f stay in ns.
func inNetNS(ns int, f func() error) error {
	if ns < 0 {
		return f()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(ns, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		ferr := f()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// The thread stays locked and dies with this goroutine.
			errc <- fmt.Errorf("setns back: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// newNetNS creates a network namespace and returns a file descriptor
// that keeps it alive; closing it lets the kernel tear it down.
func newNetNS() (int, error) {
	type res struct {
		fd  int
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- res{-1, err}
			return
		}
		defer unix.Close(orig)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- res{-1, fmt.Errorf("unshare(CLONE_NEWNET): %w", err)}
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if serr := unix.Setns(orig, unix.CLONE_NEWNET); serr != nil {
			ch <- res{-1, fmt.Errorf("setns back: %w", serr)} // thread stays locked and dies
			if err == nil {
				unix.Close(fd)
			}
			return
		}
		runtime.UnlockOSThread()
		ch <- res{fd, err}
	}()
	r := <-ch
	return r.fd, r.err
}

// linkUp sets an interface of the namespace ns up and returns its index.
func linkUp(ns int, name string) (int, error) {
	var index int
	err := inNetNS(ns, func() (err error) {
		index, err = ifup.Up(name)
		return err
	})
	return index, err
}

// writeSysctl writes a /proc/sys file as seen from the namespace ns.
func writeSysctl(ns int, path, value string) error {
	return inNetNS(ns, func() error {
		return os.WriteFile("/proc/sys/"+path, []byte(value), 0)
	})
}

// ---- kernel modules ----

// extraDir is where the VM keeps this repository's modules.
const extraDir = "/lib/modules/extra"

func moduleLoaded(name string) bool {
	_, err := os.Stat("/sys/module/" + name)
	return err == nil
}

// ensureModule loads a module of ours unless it is loaded already; it
// returns whether it loaded it.
func ensureModule(name string) (bool, error) {
	if moduleLoaded(name) {
		return false, nil
	}
	f, err := os.Open(extraDir + "/" + name + ".ko")
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return false, fmt.Errorf("finit_module %s: %w", name, err)
	}
	return true, nil
}

// unloadModule removes a module, waiting a little for its users to go.
func unloadModule(name string) error {
	var err error
	for i := 0; i < 50; i++ {
		if err = unix.DeleteModule(name, unix.O_NONBLOCK); err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.EWOULDBLOCK) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("delete_module %s: %w", name, err)
}

// ---- kernel memory accounting ----

// meminfo reads the fields of /proc/meminfo, in bytes.
func meminfo() (map[string]int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			continue
		}
		if len(fs) > 1 && fs[1] == "kB" {
			n *= 1024
		}
		m[k] = n
	}
	return m, sc.Err()
}

// kernelBytes is the memory the kernel's allocators hold for objects such
// as host entries: slab (kmalloc, including kmalloc_large, which 6.1
// counts in SUnreclaim) plus vmalloc (large rhashtable bucket arrays).
func kernelBytes() (slab, vmalloc int64, err error) {
	m, err := meminfo()
	if err != nil {
		return 0, 0, err
	}
	return m["Slab"], m["VmallocUsed"], nil
}

// settledKernelBytes waits until kernelBytes stops moving (RCU frees old
// rhashtable bucket arrays and resizes run in a worker), at most max.
func settledKernelBytes(max time.Duration) (slab, vmalloc int64, err error) {
	deadline := time.Now().Add(max)
	ps, pv, err := kernelBytes()
	if err != nil {
		return 0, 0, err
	}
	stable := 0
	for time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		s, v, err := kernelBytes()
		if err != nil {
			return 0, 0, err
		}
		d := (s + v) - (ps + pv)
		if d < 0 {
			d = -d
		}
		ps, pv = s, v
		if d < 64<<10 {
			if stable++; stable >= 2 {
				break
			}
		} else {
			stable = 0
		}
	}
	return ps, pv, nil
}

// slabCache is one line of /proc/slabinfo.
type slabCache struct {
	Objs    int64 // active objects
	ObjSize int64
	Bytes   int64 // of its slabs: num_slabs * pagesperslab pages
}

// slabinfo reads /proc/slabinfo (root only).
func slabinfo() (map[string]slabCache, error) {
	b, err := os.ReadFile("/proc/slabinfo")
	if err != nil {
		return nil, err
	}
	m := map[string]slabCache{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "slabinfo") {
			continue
		}
		active, err1 := strconv.ParseInt(f[1], 10, 64)
		size, err2 := strconv.ParseInt(f[3], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		c := slabCache{Objs: active, ObjSize: size}
		// name active num objsize objperslab pagesperslab : tunables
		// l b s : slabdata active_slabs num_slabs sharedavail
		if len(f) >= 15 {
			pages, _ := strconv.ParseInt(f[5], 10, 64)
			slabs, _ := strconv.ParseInt(f[14], 10, 64)
			c.Bytes = pages * slabs * int64(os.Getpagesize())
		}
		m[f[0]] = c
	}
	return m, nil
}

// vmallocByCaller sums /proc/vmallocinfo (root only) by allocating
// function, in bytes (each area's size includes its guard page).
func vmallocByCaller() map[string]int64 {
	b, err := os.ReadFile("/proc/vmallocinfo")
	if err != nil {
		return nil
	}
	m := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		caller := "?"
		if len(f) >= 4 && !strings.Contains(f[2], "=") {
			caller, _, _ = strings.Cut(f[2], "+")
		}
		// Only areas backed by pages count in VmallocUsed.
		if !strings.Contains(line, "pages=") {
			continue
		}
		m[caller] += size
	}
	return m
}

// ---- environment ----

// Env describes the machine the benchmarks ran on, as the guest sees it.
type Env struct {
	KernelRelease string `json:"kernel_release"`
	KernelVersion string `json:"kernel_version"`
	Machine       string `json:"machine"`
	CPUModel      string `json:"cpu_model"`
	CPUs          int    `json:"cpus"`
	Clocksource   string `json:"clocksource"`
	MemTotalBytes int64  `json:"mem_total_bytes"`
	Cmdline       string `json:"kernel_cmdline"`
	GoVersion     string `json:"go_version"`
	// Accel is kvm or tcg as the harness reports it, else a guess from
	// the CPU model ("QEMU TCG CPU" means tcg).
	Accel           string `json:"accel"`
	MhostSrcversion string `json:"mhost_srcversion,omitempty"`
	// ClockReadNs is what one time.Now costs here, for reading latencies.
	ClockReadNs float64 `json:"clock_read_ns"`
}

func readEnv(accel string) Env {
	var e Env
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		e.KernelRelease = unix.ByteSliceToString(u.Release[:])
		e.KernelVersion = unix.ByteSliceToString(u.Version[:])
		e.Machine = unix.ByteSliceToString(u.Machine[:])
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && strings.TrimSpace(k) == "model name" && e.CPUModel == "" {
				e.CPUModel = strings.TrimSpace(v)
			}
		}
	}
	e.CPUs = runtime.NumCPU()
	e.Clocksource = readTrim("/sys/devices/system/clocksource/clocksource0/current_clocksource")
	if m, err := meminfo(); err == nil {
		e.MemTotalBytes = m["MemTotal"]
	}
	e.Cmdline = readTrim("/proc/cmdline")
	e.GoVersion = runtime.Version()
	e.MhostSrcversion = readTrim("/sys/module/mhost/srcversion")
	e.Accel = accel
	if e.Accel == "" {
		e.Accel = "unknown"
		if strings.Contains(e.CPUModel, "TCG") {
			e.Accel = "tcg"
		}
	}
	const n = 10000
	start := time.Now()
	var sink time.Time
	for i := 0; i < n; i++ {
		sink = time.Now()
	}
	e.ClockReadNs = float64(sink.Sub(start).Nanoseconds()) / n
	return e
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
