//go:build guest

package guest_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhostnl"
)

// TestNLHostsWhileChanging reads the host table with Client.Hosts while
// another client adds and deletes hosts in bursts, growing the table (and
// resizing its hash table) under the dumps. Every dump must
// be the table at one moment: each host that stays in it throughout comes
// back exactly once. The kernel flags the dumps that a change cuts into,
// on NLMSG_DONE too when the change came after the last host was sent,
// and the client reads those again. (Under changes that never pause, no
// dump can be consistent: Hosts gives up after a few tries, with EINTR.)
func TestNLHostsWhileChanging(t *testing.T) {
	ns := newNetNS(t, "nl-churn")
	reader, writer := ns.control(t), ns.control(t)
	host := func(id uint32) mhostnl.Host {
		return mhostnl.Host{ID: id, Locators: []mhostnl.Locator{
			{Addr: netip.AddrFrom4([4]byte{10, byte(id >> 16), byte(id >> 8), byte(id)})},
		}}
	}
	const (
		stable = 3000
		burst  = 300 // hosts added in one batch, 5 of them deleted
		rounds = 10  // the table grows by half at most
	)
	var hosts []mhostnl.Host
	for id := uint32(1); id <= stable; id++ {
		hosts = append(hosts, host(id))
	}
	nlCheck(t, "AddHosts", writer.AddHosts(hosts))

	// Bursts far apart enough for a dump to fit between them: a dump is
	// retried while changes cut into it, and gives up after a few tries.
	start := time.Now()
	_, err := reader.Hosts()
	nlCheck(t, "Hosts", err)
	pause := max(6*time.Since(start), 100*time.Millisecond)

	stop := make(chan struct{})
	var (
		wg      sync.WaitGroup
		churns  int
		churErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for round := uint32(0); round < rounds; round++ {
			select {
			case <-stop:
				return
			default:
			}
			// A burst: many hosts in one batch (the table grows,
			// and resizes), a few deleted one by one.
			var batch []mhostnl.Host
			base := 1_000_000 + round*burst
			for id := base; id < base+burst; id++ {
				batch = append(batch, host(id))
			}
			if err := writer.AddHosts(batch); err != nil {
				churErr = err
				return
			}
			for id := base; id < base+burst; id += burst / 5 {
				if err := writer.DeleteHost(id); err != nil {
					churErr = err
					return
				}
			}
			churns++
			time.Sleep(pause)
		}
	}()

	churning := make(chan struct{})
	go func() { wg.Wait(); close(churning) }()
	dumps := 0
	for done := false; !done; dumps++ {
		select {
		case <-churning:
			done = true // one more dump, of the final table
		default:
		}
		got, err := reader.Hosts()
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("Hosts while the table changes (dump %d): %v", dumps, err)
		}
		seen := make(map[uint32]int, len(got))
		for _, h := range got {
			seen[h.ID]++
		}
		var bad []string
		for id := uint32(1); id <= stable; id++ {
			if seen[id] != 1 {
				bad = append(bad, fmt.Sprintf("%d×%d", id, seen[id]))
			}
		}
		for id, n := range seen {
			if n > 1 && id > stable {
				bad = append(bad, fmt.Sprintf("%d×%d", id, n))
			}
		}
		if len(bad) > 0 {
			t.Errorf("dump %d of %d hosts: hosts not returned exactly once (id×times): %v", dumps, len(got), bad[:min(len(bad), 20)])
		}
	}
	close(stop)
	wg.Wait()
	if churErr != nil {
		t.Fatalf("changing the table: %v", churErr)
	}
	t.Logf("%d dumps while the table changed in %d bursts of %d hosts", dumps, churns, burst)
	if churns != rounds {
		t.Errorf("%d bursts of changes, want %d", churns, rounds)
	}
}

// TestNLDevices drives the device opt-in through Client: SetDevice,
// Device, Devices, and the EventDevSet and EventDevDel a Watcher reports,
// against the kernel.
func TestNLDevices(t *testing.T) {
	ns := newNetNS(t, "nl-dev")
	c := ns.control(t)
	w, err := c.Watch(context.Background())
	nlCheck(t, "Watch", err)
	defer w.Close()
	d0, d1 := ns.addVeth(t, "d0", "d1", 0)

	wantEvent := func(want mhostnl.Event) {
		t.Helper()
		ev, err := w.Next()
		if err != nil || !reflect.DeepEqual(ev, want) {
			t.Errorf("Watcher.Next() = %+v, %v; want %+v", ev, err, want)
		}
	}

	if d, err := c.Device(d0); err != nil || *d != (mhostnl.Device{Index: d0, Name: "d0"}) {
		t.Errorf("Device(%d) = %+v, %v; want d0 disabled", d0, d, err)
	}
	nlCheck(t, "SetDevice d0 on", c.SetDevice(d0, true))
	nlCheck(t, "SetDevice lo on", c.SetDevice(1, true))
	wantEvent(mhostnl.Event{Type: mhostnl.EventDevSet, Device: mhostnl.Device{Index: d0, Name: "d0", L3: true}})
	wantEvent(mhostnl.Event{Type: mhostnl.EventDevSet, Device: mhostnl.Device{Index: 1, Name: "lo", L3: true}})
	devs, err := c.Devices()
	want := []mhostnl.Device{{Index: 1, Name: "lo", L3: true}, {Index: d0, Name: "d0", L3: true}}
	if err != nil || !slices.Equal(devs, want) {
		t.Errorf("Devices() = %+v, %v; want %+v", devs, err, want)
	}

	nlCheck(t, "SetDevice lo off", c.SetDevice(1, false))
	wantEvent(mhostnl.Event{Type: mhostnl.EventDevSet, Device: mhostnl.Device{Index: 1, Name: "lo"}})
	ns.delLink(t, d0) // d1 goes with it; it had no settings
	wantEvent(mhostnl.Event{Type: mhostnl.EventDevDel, Device: mhostnl.Device{Index: d0, Name: "d0"}})
	if devs, err := c.Devices(); err != nil || len(devs) != 0 {
		t.Errorf("Devices() after d0 went = %+v, %v; want none", devs, err)
	}

	for _, index := range []int{d0, d1} {
		if _, err := c.Device(index); !errors.Is(err, unix.ENODEV) {
			t.Errorf("Device(%d) of a deleted device: %v, want ENODEV", index, err)
		}
		if err := c.SetDevice(index, true); !errors.Is(err, unix.ENODEV) {
			t.Errorf("SetDevice(%d) of a deleted device: %v, want ENODEV", index, err)
		}
	}
}
