//go:build guest

package guest_test

// The SDK's data path against the real module: what it allocates (pinned
// with testing.AllocsPerRun against net.UDPConn doing the same in this
// VM), contexts that reach their own call only, batches, segmentation
// offload, and the options of mhost.Config.

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhost"
	"github.com/mnet/mnet/gosdk/mhostnl"
)

// sdkHid is the host id the tests of this file resolve to ::1, then
// 127.0.0.1, in a namespace of their own.
const sdkHid = 77

// sdkNS returns a fresh namespace with lo up, fe80::1 on lo, and host
// sdkHid in its table.
func sdkNS(t *testing.T) *netNS {
	t.Helper()
	ns := newNetNS(t, "sdk")
	ns.setUp(t, "lo")
	ns.addAddr(t, 1, netip.MustParsePrefix("fe80::1/64"))
	nlCheck(t, "AddHost", ns.control(t).AddHost(mhostnl.Host{ID: sdkHid, Locators: []mhostnl.Locator{
		{Addr: netip.IPv6Loopback()}, {Addr: netip.AddrFrom4([4]byte{127, 0, 0, 1})},
	}}))
	return ns
}

// sdkDsts returns the addresses of port in an sdkNS: over 127.0.0.1,
// over ::1, and host sdkHid.
func sdkDsts(port uint16) []mhost.Addr {
	return []mhost.Addr{
		mhost.AddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)),
		mhost.AddrFromAddrPort(netip.AddrPortFrom(netip.IPv6Loopback(), port)),
		mhost.AddrFromHostID(sdkHid, port),
	}
}

// udpIn opens a net.UDPConn in ns, the yardstick.
func udpIn(t *testing.T, ns *netNS, network string) *net.UDPConn {
	t.Helper()
	var u *net.UDPConn
	ns.do(t, "net.ListenUDP", func() (err error) {
		u, err = net.ListenUDP(network, nil)
		return err
	})
	t.Cleanup(func() { u.Close() })
	return u
}

// TestSDKAllocs pins the allocations of a round trip over AF_MHOST: the
// net.PacketConn methods no more than net.UDPConn's in this VM (and at
// most 2), the netip, Addr and batch methods none, link-local addresses
// included (their zone comes from a cache, not a netlink dump).
func TestSDKAllocs(t *testing.T) {
	ns := sdkNS(t)
	server, client := ns.listen(t), ns.listen(t)
	sport := uint16(portOf(t, server))
	buf := make([]byte, 64)
	const runs = 500

	check := func(name string, got, limit float64) {
		t.Helper()
		t.Logf("%-48s %.2f allocations per round trip", name, got)
		if got > limit {
			t.Errorf("%s: %.2f allocations per round trip, want at most %.2f", name, got, limit)
		}
	}
	roundTrip := func(send func() error, recv func() error) func() {
		return func() {
			if err := send(); err != nil {
				t.Fatal(err)
			}
			if err := recv(); err != nil {
				t.Fatal(err)
			}
		}
	}
	server.SetReadDeadline(time.Now().Add(time.Minute))

	for _, lo := range []struct{ name, network, ip string }{
		{"IPv4", "udp4", "127.0.0.1"},
		{"IPv6", "udp6", "::1"},
		{"IPv6 link-local", "udp6", "fe80::1%lo"},
	} {
		ip := netip.MustParseAddr(lo.ip)
		us, uc := udpIn(t, ns, lo.network), udpIn(t, ns, lo.network)
		uap := netip.AddrPortFrom(ip, us.LocalAddr().(*net.UDPAddr).AddrPort().Port())
		udst := net.UDPAddrFromAddrPort(uap)
		udp := testing.AllocsPerRun(runs, roundTrip(
			func() error { _, err := uc.WriteTo(buf, udst); return err },
			func() error { _, _, err := us.ReadFrom(buf); return err }))
		t.Logf("%-48s %.2f allocations per round trip", "net.UDPConn WriteTo+ReadFrom over "+lo.name, udp)
		udpAP := testing.AllocsPerRun(runs, roundTrip(
			func() error { _, err := uc.WriteToUDPAddrPort(buf, uap); return err },
			func() error { _, _, err := us.ReadFromUDPAddrPort(buf); return err }))
		t.Logf("%-48s %.2f allocations per round trip", "net.UDPConn *UDPAddrPort over "+lo.name, udpAP)

		ap := netip.AddrPortFrom(ip, sport)
		dst := net.UDPAddrFromAddrPort(ap)
		check("WriteTo+ReadFrom over "+lo.name, testing.AllocsPerRun(runs, roundTrip(
			func() error { _, err := client.WriteTo(buf, dst); return err },
			func() error { _, _, err := server.ReadFrom(buf); return err })), min(udp, 2))
		var from netip.AddrPort
		check("WriteToAddrPort+ReadFromAddrPort over "+lo.name, testing.AllocsPerRun(runs, roundTrip(
			func() error { _, err := client.WriteToAddrPort(buf, ap); return err },
			func() (err error) { _, from, err = server.ReadFromAddrPort(buf); return err })), 0)
		if want := netip.AddrPortFrom(ip, uint16(portOf(t, client))); from != want {
			t.Errorf("ReadFromAddrPort over %s: source %v, want %v", lo.name, from, want)
		}
	}

	// Host ids, their sources reported as host ids.
	if err := server.SetRecvHostID(true); err != nil {
		t.Fatal(err)
	}
	hid := mhost.AddrFromHostID(sdkHid, sport)
	var from mhost.Addr
	check("WriteToAddr(hid)+ReadFromAddr", testing.AllocsPerRun(runs, roundTrip(
		func() error { _, err := client.WriteToAddr(buf, hid); return err },
		func() (err error) { _, from, err = server.ReadFromAddr(buf); return err })), 0)
	if id, ok := from.HostID(); !ok || id != sdkHid || from.Port() != uint16(portOf(t, client)) {
		t.Errorf("ReadFromAddr with RecvHostID: source %v, want hid(%d):%d", from, sdkHid, portOf(t, client))
	}
	hidAddr := &mhost.HostAddr{ID: sdkHid, Port: sport}
	check("WriteTo(*HostAddr)+ReadFrom", testing.AllocsPerRun(runs, roundTrip(
		func() error { _, err := client.WriteTo(buf, hidAddr); return err },
		func() error { _, _, err := server.ReadFrom(buf); return err })), 1)

	// Batches.
	out, in := make([]mhost.Message, 16), make([]mhost.Message, 16)
	for i := range out {
		out[i] = mhost.Message{Buffers: [][]byte{buf}, Addr: hid}
		in[i] = mhost.Message{Buffers: [][]byte{make([]byte, 64)}}
	}
	check("WriteBatch+ReadBatch of 16", testing.AllocsPerRun(runs/10, func() {
		if n, err := client.WriteBatch(out, 0); err != nil || n != len(out) {
			t.Fatal(n, err)
		}
		for got := 0; got < len(out); {
			n, err := server.ReadBatch(in[got:], 0)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	}), 0)
}

// TestSDKNotIP checks that ReadFromAddrPort reports a source that is not
// an IP address (here a host id) as an error naming it, with the datagram.
func TestSDKNotIP(t *testing.T) {
	ns := sdkNS(t)
	server, client := ns.listen(t), ns.listen(t)
	if err := server.SetRecvHostID(true); err != nil {
		t.Fatal(err)
	}
	if _, err := client.WriteToAddrPort([]byte("hi"), netip.AddrPortFrom(netip.IPv6Loopback(), uint16(portOf(t, server)))); err != nil {
		t.Fatal(err)
	}
	server.SetReadDeadline(deadline())
	buf := make([]byte, 8)
	n, ap, err := server.ReadFromAddrPort(buf)
	var oe *net.OpError
	if !errors.As(err, &oe) || n != 2 || ap.IsValid() {
		t.Fatalf("ReadFromAddrPort of a datagram from host %d = %d, %v, %v; want 2 bytes and an error", sdkHid, n, ap, err)
	}
	if ha, ok := oe.Addr.(*mhost.HostAddr); !ok || ha.ID != sdkHid {
		t.Errorf("the error names %v, want hid(%d)", oe.Addr, sdkHid)
	}
}

// TestSDKContextIsolation: a canceled context ends its own call only;
// other goroutines' reads on the same socket go on, and the read
// deadline the program set stays.
func TestSDKContextIsolation(t *testing.T) {
	c := listen(t)
	self := &net.UDPAddr{IP: net.IPv6loopback, Port: portOf(t, c)}
	read := func(ctx context.Context) <-chan error {
		errc := make(chan error, 1)
		go func() {
			_, _, err := c.ReadFromContext(ctx, make([]byte, 16))
			errc <- err
		}()
		return errc
	}
	wait := func(what string, errc <-chan error) error {
		t.Helper()
		select {
		case err := <-errc:
			return err
		case <-time.After(ioTimeout):
			t.Fatalf("%s still waiting after %v", what, ioTimeout)
			return nil
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	withCtx, plain := read(ctx), read(context.Background())
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := wait("the canceled read", withCtx); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled ReadFromContext: %v", err)
	}
	select {
	case err := <-plain:
		t.Fatalf("another goroutine's plain read returned %v when a context was canceled", err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := c.WriteTo([]byte("x"), self); err != nil {
		t.Fatal(err)
	}
	if err := wait("the plain read", plain); err != nil {
		t.Fatalf("plain read: %v", err)
	}

	// A deadline set before a context's call outlives it.
	start := time.Now()
	c.SetReadDeadline(start.Add(time.Second))
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := c.ReadFromContext(ctx, make([]byte, 1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadFromContext past its context's deadline: %v", err)
	}
	_, _, err := c.ReadFrom(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("ReadFrom after a context's call: %v after %v, want the 1s deadline set before", err, time.Since(start))
	}
}

func TestSDKBatch(t *testing.T) {
	ns := sdkNS(t)
	server, client := ns.listen(t), ns.listen(t)
	sport := uint16(portOf(t, server))
	dsts := sdkDsts(sport)
	out := make([]mhost.Message, 30)
	for i := range out {
		out[i] = mhost.Message{Buffers: [][]byte{{byte(i)}, []byte("-tail")}, Addr: dsts[i%3]}
	}
	if n, err := client.WriteBatch(out, 0); err != nil || n != len(out) {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	in := make([]mhost.Message, 8)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, 32)}
	}
	cport := uint16(portOf(t, client))
	want := map[mhost.Addr]int{
		mhost.AddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), cport)): 10,
		mhost.AddrFromAddrPort(netip.AddrPortFrom(netip.IPv6Loopback(), cport)):             20, // and the hid's, over ::1
	}
	got := map[mhost.Addr]int{}
	seen := make([]bool, len(out))
	server.SetReadDeadline(deadline())
	for total := 0; total < len(out); {
		n, err := server.ReadBatch(in, 0)
		if err != nil {
			t.Fatalf("ReadBatch after %d datagrams: %v", total, err)
		}
		for _, m := range in[:n] {
			b := m.Buffers[0][:m.N]
			if m.N != 6 || string(b[1:]) != "-tail" || int(b[0]) >= len(out) || seen[b[0]] {
				t.Fatalf("ReadBatch: datagram %q", b)
			}
			seen[b[0]] = true
			got[m.Addr]++
		}
		total += n
	}
	for a, n := range want {
		if got[a] != n {
			t.Errorf("%d datagrams from %v, want %d (all: %v)", got[a], a, n, got)
		}
	}
}

// TestSDKSegmented sends with UDP segmentation offload: one call, several
// datagrams, over IPv4, IPv6 and a host id.
func TestSDKSegmented(t *testing.T) {
	ns := sdkNS(t)
	server, client := ns.listen(t), ns.listen(t)
	sport := uint16(portOf(t, server))
	p := make([]byte, 10*100+7)
	for i := range p {
		p[i] = byte(i / 100)
	}
	for _, dst := range sdkDsts(sport) {
		n, err := client.WriteToSegmented(p, 100, dst)
		if err != nil || n != len(p) {
			t.Fatalf("WriteToSegmented to %v = %d, %v", dst, n, err)
		}
		server.SetReadDeadline(deadline())
		buf := make([]byte, 200)
		for i := 0; i <= 10; i++ {
			n, _, err := server.ReadFromAddr(buf)
			want := 100
			if i == 10 {
				want = 7
			}
			if err != nil || n != want || buf[0] != byte(i) || buf[n-1] != byte(i) {
				t.Fatalf("to %v: segment %d: %d bytes starting %d, %v; want %d bytes of %d", dst, i, n, buf[0], err, want, i)
			}
		}
	}
}

// TestSDKBatchSegments sends batches whose runs WriteBatch turns into
// UDP_SEGMENT sends (over IPv4 and IPv6; a host id's go one by one):
// every datagram arrives whole, as sent, and the counters count each.
// With lo's MTU below the datagrams' length the kernel refuses to
// segment them; WriteBatch then sends them one by one, fragmented, and
// they still all arrive.
func TestSDKBatchSegments(t *testing.T) {
	ns := sdkNS(t)
	server, client := ns.listen(t), ns.listen(t)
	sport := uint16(portOf(t, server))
	dsts := sdkDsts(sport)
	batch := func(size int) []mhost.Message {
		var out []mhost.Message
		for _, dst := range dsts {
			for i := range 9 {
				n := size
				if i == 8 {
					n = size / 3 // a shorter last one ends the run
				}
				p := make([]byte, n)
				for j := range p {
					p[j] = byte(len(out))
				}
				out = append(out, mhost.Message{Buffers: [][]byte{p}, Addr: dst})
			}
		}
		return out
	}
	check := func(what string, out []mhost.Message) {
		t.Helper()
		if n, err := client.WriteBatch(out, 0); err != nil || n != len(out) {
			t.Fatalf("%s: WriteBatch of %d = %d, %v", what, len(out), n, err)
		}
		for i, m := range out {
			if m.N != len(m.Buffers[0]) {
				t.Errorf("%s: message %d: N = %d, want %d", what, i, m.N, len(m.Buffers[0]))
			}
		}
		in := make([]mhost.Message, len(out))
		for i := range in {
			in[i].Buffers = [][]byte{make([]byte, 4096)}
		}
		seen := make([]bool, len(out))
		server.SetReadDeadline(deadline())
		for got := 0; got < len(out); {
			n, err := server.ReadBatch(in[got:], 0)
			if err != nil {
				t.Fatalf("%s: ReadBatch after %d of %d datagrams: %v", what, got, len(out), err)
			}
			for _, m := range in[got : got+n] {
				p := m.Buffers[0][:m.N]
				if m.N == 0 || int(p[0]) >= len(out) || seen[p[0]] || !bytes.Equal(p, out[p[0]].Buffers[0]) {
					t.Fatalf("%s: read %d bytes starting %d", what, m.N, p[0])
				}
				seen[p[0]] = true
			}
			got += n
		}
		wantConnEmpty(t, server)
	}
	// The counters count datagrams, not sends: send must send each
	// datagrams to each destination.
	ctl := ns.control(t)
	counted := func(each uint64, send func()) {
		t.Helper()
		protos, hids := protoCounters(t, ctl), stat(t, ctl).TxHostID
		send()
		d4 := protoCounters(t, ctl)[unix.AF_INET][0] - protos[unix.AF_INET][0]
		d6 := protoCounters(t, ctl)[unix.AF_INET6][0] - protos[unix.AF_INET6][0]
		if dh := stat(t, ctl).TxHostID - hids; d4 != each || d6 != 2*each || dh != each {
			t.Errorf("counters: %d sent over IPv4, %d over IPv6, %d to host ids; want %d, %d (the host id's over ::1), %d",
				d4, d6, dh, each, 2*each, each)
		}
	}
	counted(9, func() { check("segmented", batch(1000)) })
	counted(10, func() {
		p := make([]byte, 9*100+7)
		for _, dst := range dsts {
			if n, err := client.WriteToSegmented(p, 100, dst); err != nil || n != len(p) {
				t.Fatalf("WriteToSegmented to %v = %d, %v", dst, n, err)
			}
		}
		in := make([]mhost.Message, 3*10)
		for i := range in {
			in[i].Buffers = [][]byte{make([]byte, 200)}
		}
		server.SetReadDeadline(deadline())
		for got := 0; got < len(in); {
			n, err := server.ReadBatch(in[got:], 0)
			if err != nil {
				t.Fatalf("ReadBatch after %d of %d segments: %v", got, len(in), err)
			}
			got += n
		}
	})

	ns.setMTU(t, ns.linkByName(t, "lo").Index, 1280)
	for _, dst := range dsts {
		_, err := client.WriteToSegmented(make([]byte, 3000), 1500, dst)
		if !errors.Is(err, unix.EMSGSIZE) && !errors.Is(err, unix.EINVAL) {
			t.Fatalf("segments of 1500 bytes to %v over an MTU of 1280: %v, want EMSGSIZE or EINVAL", dst, err)
		}
	}
	check("longer than the MTU", batch(1500))
	check("after a refusal", batch(1000))
}

func TestSDKConfig(t *testing.T) {
	// Control runs before bind, and can set what must come first.
	var device string
	cfg := &mhost.Config{Control: func(network, address string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, "lo") })
		if err == nil {
			err = serr
		}
		if network != "mhost" || address != "*:0" {
			t.Errorf("Control(%q, %q), want \"mhost\", \"*:0\"", network, address)
		}
		return err
	}}
	c, err := cfg.Listen(context.Background(), 0)
	if err != nil {
		t.Fatalf("Listen with a Control setting SO_BINDTODEVICE: %v", err)
	}
	defer c.Close()
	rc, _ := c.SyscallConn()
	rc.Control(func(fd uintptr) { device, _ = unix.GetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE) })
	if device != "lo" {
		t.Errorf("SO_BINDTODEVICE after Listen: %q, want lo", device)
	}
	boom := errors.New("boom")
	if _, err := (&mhost.Config{Control: func(string, string, syscall.RawConn) error { return boom }}).Listen(context.Background(), 0); !errors.Is(err, boom) {
		t.Errorf("Listen with a failing Control: %v", err)
	}

	// ReusePort: two sockets on one port.
	rp := &mhost.Config{ReusePort: true}
	a, err := rp.Listen(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	port := uint16(portOf(t, a))
	b, err := rp.Listen(context.Background(), port)
	if err != nil {
		t.Fatalf("a second socket on port %d with ReusePort: %v", port, err)
	}
	b.Close()
	if _, err := mhost.Listen(port); !errors.Is(err, unix.EADDRINUSE) {
		t.Errorf("a socket without ReusePort on port %d: %v, want EADDRINUSE", port, err)
	}

	// NetNS: the socket is the namespace's.
	ns := newNetNS(t, "sdk-config")
	ns.setUp(t, "lo")
	c2, err := (&mhost.Config{NetNS: ns.fd}).Listen(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	inode := nlInode(t, c2)
	socks, err := ns.control(t).Sockets()
	nlCheck(t, "Sockets", err)
	found := false
	for _, s := range socks {
		found = found || s.Inode == inode
	}
	if !found {
		t.Errorf("the socket opened with NetNS (inode %d) is not among its namespace's: %+v", inode, socks)
	}
	socks, err = nlDial(t, 0).Sockets()
	nlCheck(t, "Sockets", err)
	for _, s := range socks {
		if s.Inode == inode {
			t.Errorf("the socket opened with NetNS is in the initial namespace too")
		}
	}

	// Contexts done before the socket is opened.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := mhost.DialContext(ctx, &net.UDPAddr{IP: net.IPv6loopback, Port: 9}); !errors.Is(err, context.Canceled) {
		t.Errorf("DialContext with a canceled context: %v", err)
	}
	d, err := mhost.DialContext(context.Background(), &net.UDPAddr{IP: net.IPv6loopback, Port: 9})
	if err != nil {
		t.Fatalf("DialContext: %v", err)
	}
	d.Close()
}

// TestSDKReusePort binds two sockets opened with Config.ReusePort to one
// port, as MHOST_REUSEPORT (SO_REUSEPORT itself is refused to AF_MHOST
// sockets on 6.1), and sends to the port from 32 UDP sockets: the kernel
// spreads the flows over both, and loses none.
func TestSDKReusePort(t *testing.T) {
	const flows = 32
	ns := sdkNS(t)
	rp := &mhost.Config{ReusePort: true, NetNS: ns.fd}
	a, err := rp.Listen(context.Background(), 0)
	if err != nil {
		t.Fatalf("Listen with ReusePort: %v", err)
	}
	defer a.Close()
	port := uint16(portOf(t, a))
	b, err := rp.Listen(context.Background(), port)
	if err != nil {
		t.Fatalf("a second socket on port %d with ReusePort: %v", port, err)
	}
	defer b.Close()
	// The sockets are AF_MHOST sockets, not UDPv6 ones in disguise, and
	// read back what Config set through MHOST_REUSEPORT.
	for _, c := range []*mhost.Conn{a, b} {
		var (
			domain, reuse int
			derr, rerr    error
		)
		rc, _ := c.SyscallConn()
		rc.Control(func(fd uintptr) {
			domain, derr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
			reuse, rerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT)
		})
		if derr != nil || domain != mhost.FamilyInUse() {
			t.Errorf("getsockopt(SO_DOMAIN) = %d, %v; want %d", domain, derr, mhost.FamilyInUse())
		}
		if rerr != nil || reuse != 1 {
			t.Errorf("getsockopt(SO_REUSEPORT) = %d, %v; want 1", reuse, rerr)
		}
	}

	dst := netip.AddrPortFrom(netip.IPv6Loopback(), port)
	for i := range flows {
		u := udpIn(t, ns, "udp6")
		if _, err := u.WriteToUDPAddrPort([]byte{byte(i)}, dst); err != nil {
			t.Fatalf("flow %d: %v", i, err)
		}
	}

	// Every datagram is queued by the time the last send returns; each
	// socket is read until it has nothing more.
	seen := make(map[byte]bool)
	buf := make([]byte, 16)
	for i, c := range []*mhost.Conn{a, b} {
		got := 0
		for {
			c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			n, _, err := c.ReadFromAddrPort(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				t.Fatalf("socket %d: %v", i, err)
			}
			if n != 1 || seen[buf[0]] {
				t.Errorf("socket %d: unexpected datagram %x", i, buf[:n])
				continue
			}
			seen[buf[0]] = true
			got++
		}
		t.Logf("socket %d received %d of %d flows", i, got, flows)
		if got == 0 {
			t.Errorf("socket %d received none of %d flows: the port is not shared", i, flows)
		}
	}
	if len(seen) != flows {
		t.Errorf("received %d of %d datagrams", len(seen), flows)
	}
}
