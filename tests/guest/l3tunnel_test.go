//go:build guest

package guest_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhost"
)

// TestL3CollectMetadata carries testproto datagrams over VXLAN to a
// receiving VXLAN device in external (collect_md) mode, which hands each
// frame up with a metadata dst attached. mhost must let go of it before
// queueing: a datagram read must not leave its metadata dst behind. The
// leak shows as kmalloc objects that stay allocated, one per datagram.
func TestL3CollectMetadata(t *testing.T) {
	const n = 1000
	useL3Protos(t, testproto)
	a, b := newNetNS(t, "a"), newNetNS(t, "b")
	v := newVethPair(t, a, b, vethConfig{
		NoIPv6: true,
		AddrsA: prefixes("10.0.0.1/24"),
		AddrsB: prefixes("10.0.0.2/24"),
	})
	vxA := a.vxlan(t, "vx-a", func(ae *netlink.AttributeEncoder) {
		ae.Uint32(unix.IFLA_VXLAN_ID, 42)
		ae.Bytes(unix.IFLA_VXLAN_GROUP, netip.MustParseAddr("10.0.0.2").AsSlice())
		ae.Uint32(unix.IFLA_VXLAN_LINK, uint32(v.A.Index))
	})
	vxB := b.vxlan(t, "vx-b", func(ae *netlink.AttributeEncoder) {
		ae.Uint8(unix.IFLA_VXLAN_COLLECT_METADATA, 1)
	})
	a.enableL3(t, vxA.Index)
	b.enableL3(t, vxB.Index)

	sock := b.listen(t)
	raiseRcvbuf(t, sock, 8<<20)
	port := portOf(t, sock)
	fd := a.socket(t, family, unix.SOCK_DGRAM, 0)
	to := saEth(uint16(mhost.FamilyTestProto), port, vxA.Index, vxB.MAC)

	// The first datagrams may wait for the kernel to settle the
	// devices; and they warm the caches the measurement counts.
	if _, err := sendto(fd, []byte("warm up"), 0, to); err != nil {
		t.Fatalf("sendto over %s: %v", vxA.Name, errStr(err))
	}
	if msg, _ := readConn(t, sock); msg != "warm up" {
		t.Fatalf("read %q", msg)
	}

	// In rounds: a thousand at once can overflow a backlog on the way
	// (netdev_max_backlog is 1000) where the kernel is slow, and a
	// datagram dropped there is not what this test is about. Nor is
	// order: a sender that moves to the other CPU queues to that CPU's
	// backlog, which may run first (seen on the debug kernel).
	const round = 100
	before := kmallocObjects(t)
	for r := 0; r < n; r += round {
		for i := r; i < r+round; i++ {
			if _, err := sendto(fd, []byte(fmt.Sprint(i)), 0, to); err != nil {
				t.Fatalf("sendto %d over %s: %v", i, vxA.Name, errStr(err))
			}
		}
		got := map[string]bool{}
		for range round {
			msg, _ := readConn(t, sock)
			got[msg] = true
		}
		for i := r; i < r+round; i++ {
			if !got[fmt.Sprint(i)] {
				t.Fatalf("datagram %d not read among %d after sending %d to %d", i, round, r, r+round-1)
			}
		}
	}
	after := kmallocObjects(t)
	t.Logf("kmalloc objects in use: %d before %d datagrams, %d after reading them", before, n, after)
	if after > before+n/3 {
		t.Errorf("%d more kmalloc objects after %d datagrams were read: their metadata dsts leaked", after-before, n)
	}
}

// vxlan adds a VXLAN device on the IANA port to ns, up, with the
// attributes set adds, and returns it.
func (ns *netNS) vxlan(t *testing.T, name string, set func(*netlink.AttributeEncoder)) vethEnd {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.IFLA_IFNAME, name)
	ae.Nested(unix.IFLA_LINKINFO, func(nae *netlink.AttributeEncoder) error {
		nae.String(unix.IFLA_INFO_KIND, "vxlan")
		nae.Nested(unix.IFLA_INFO_DATA, func(dae *netlink.AttributeEncoder) error {
			dae.Bytes(unix.IFLA_VXLAN_PORT, be16(4789))
			set(dae)
			return nil
		})
		return nil
	})
	attrs, err := ae.Encode()
	if err == nil {
		err = ns.rtExec(unix.RTM_NEWLINK, netlink.Create|netlink.Excl, append(rtIfinfomsg(0, 0, 0), attrs...))
	}
	if err != nil {
		t.Fatalf("%s: adding vxlan %s: %v", ns.name, name, err)
	}
	l := ns.linkByName(t, name)
	t.Cleanup(func() { ns.rtExec(unix.RTM_DELLINK, 0, rtIfinfomsg(l.Index, 0, 0)) })
	ns.setUp(t, name)
	return vethEnd{NS: ns, Name: name, Index: l.Index, MAC: l.MAC}
}

// kmallocObjects returns how many objects the kmalloc caches hold.
func kmallocObjects(t *testing.T) int {
	t.Helper()
	paths, err := filepath.Glob("/sys/kernel/slab/kmalloc-*/objects")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no /sys/kernel/slab/kmalloc-*/objects: %v", err)
	}
	// Freed objects can wait in per-CPU slabs and, under KASAN (the
	// debug lane), in its quarantine: shrinking each cache first lets
	// the count be of the objects still in use.
	for _, p := range paths {
		if err := os.WriteFile(filepath.Join(filepath.Dir(p), "shrink"), []byte("1"), 0); err != nil {
			t.Fatalf("shrinking %s: %v", filepath.Dir(p), err)
		}
	}
	total := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		v, err := strconv.Atoi(f[0])
		if err != nil {
			t.Fatalf("%s: %q", p, b)
		}
		total += v
	}
	return total
}
