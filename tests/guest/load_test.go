//go:build guest

package guest_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhost"
)

// TestLoad has 8 goroutines send 10,000 datagrams each to one socket,
// half over IPv4 and half over IPv6, and checks that every datagram is
// either received intact, once, from the right source, or counted as
// dropped by the socket.
func TestLoad(t *testing.T) {
	const (
		senders = 8
		size    = 64
		idle    = 2 * time.Second
	)
	perSender := scaled(t, 10000, "datagrams per sender")
	total := senders * perSender
	raiseBacklog(t)

	r := listen(t)
	rport := portOf(t, r)
	rfd := fdOf(t, r)
	if err := unix.SetsockoptInt(rfd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20); err != nil {
		t.Fatalf("setsockopt(SO_RCVBUFFORCE, 16 MiB): %v", errStr(err))
	}
	netDropsBefore := softnetDrops(t)

	// Senders: even ones over IPv4, odd ones over IPv6.
	conns, ports := make([]*mhost.Conn, senders), make([]int, senders)
	for g := range conns {
		conns[g] = listen(t)
		ports[g] = portOf(t, conns[g])
	}
	payload := func(g, seq int) []byte {
		p := make([]byte, size)
		p[0] = byte(g)
		binary.BigEndian.PutUint32(p[1:], uint32(seq))
		for i := 5; i < size; i++ {
			p[i] = byte(g*131 + seq*17 + i)
		}
		return p
	}

	var (
		sendersDone atomic.Bool
		stats       struct {
			received, duplicates, corrupt, misrouted int
			problems                                 []string
			err                                      error
		}
		seen [senders][]bool
	)
	for g := range seen {
		seen[g] = make([]bool, perSender)
	}
	problem := func(format string, args ...any) {
		if len(stats.problems) < 10 {
			stats.problems = append(stats.problems, fmt.Sprintf(format, args...))
		}
	}
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		buf := make([]byte, 2*size)
		for stats.received < total {
			r.SetReadDeadline(time.Now().Add(idle))
			n, from, err := r.ReadFrom(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if sendersDone.Load() {
					return // idle after the last datagram
				}
				continue
			}
			if err != nil {
				stats.err = err
				return
			}
			stats.received++
			p := buf[:n]
			if n != size || int(p[0]) >= senders || int(binary.BigEndian.Uint32(p[1:])) >= perSender {
				stats.corrupt++
				problem("corrupt datagram %x from %v", p, from)
				continue
			}
			g, seq := int(p[0]), int(binary.BigEndian.Uint32(p[1:]))
			if string(p) != string(payload(g, seq)) {
				stats.corrupt++
				problem("corrupt datagram %x from %v", p, from)
				continue
			}
			if seen[g][seq] {
				stats.duplicates++
				problem("duplicate datagram %d/%d from %v", g, seq, from)
				continue
			}
			seen[g][seq] = true
			u, ok := from.(*net.UDPAddr)
			if !ok || u.Port != ports[g] || (len(u.IP) == net.IPv4len) != (g%2 == 0) {
				stats.misrouted++
				problem("datagram %d/%d from %v", g, seq, from)
			}
		}
	}()

	start := time.Now()
	var wg sync.WaitGroup
	sendErrs := make([]error, senders)
	for g, c := range conns {
		dst := &net.UDPAddr{IP: net.ParseIP(loopbacks[g%2].ip), Port: rport}
		wg.Go(func() {
			for seq := range perSender {
				if _, err := c.WriteTo(payload(g, seq), dst); err != nil {
					sendErrs[g] = fmt.Errorf("sender %d, datagram %d: %w", g, seq, err)
					return
				}
			}
		})
	}
	wg.Wait()
	sent := time.Since(start)
	sendersDone.Store(true)
	<-recvDone

	drops := int(meminfo(t, rfd)[unix.SK_MEMINFO_DROPS])
	netDrops := softnetDrops(t) - netDropsBefore
	t.Logf("%d datagrams sent in %v: %d received, %d dropped by the socket, %d dropped by the stack before it",
		total, sent.Round(time.Millisecond), stats.received, drops, netDrops)
	for _, err := range sendErrs {
		if err != nil {
			t.Error(err)
		}
	}
	if stats.err != nil {
		t.Errorf("receiving: %v", stats.err)
	}
	for _, p := range stats.problems {
		t.Error(p)
	}
	if stats.duplicates+stats.corrupt+stats.misrouted > 0 {
		t.Errorf("%d duplicate, %d corrupt, %d misrouted datagrams", stats.duplicates, stats.corrupt, stats.misrouted)
	}
	if stats.received+drops != total {
		t.Errorf("%d received + %d dropped = %d, want the %d sent (%d dropped before reaching the socket)",
			stats.received, drops, stats.received+drops, total, netDrops)
	}
}

// fdOf returns the descriptor of an SDK Conn, for socket options.
func fdOf(t *testing.T, c *mhost.Conn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	rc.Control(func(s uintptr) { fd = int(s) })
	return fd
}

// raiseBacklog lets the per-CPU input queue loopback traffic goes through
// hold every datagram of the test, so that none is dropped before it
// reaches the socket, where the test counts drops.
func raiseBacklog(t *testing.T) {
	t.Helper()
	const path = "/proc/sys/net/core/netdev_max_backlog"
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("100000"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(path, old, 0) })
}

// softnetDrops sums the packets the per-CPU input queues dropped.
func softnetDrops(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, err := strconv.ParseUint(f[1], 16, 32)
		if err != nil {
			t.Fatalf("softnet_stat: %v", err)
		}
		total += int(n)
	}
	return total
}
