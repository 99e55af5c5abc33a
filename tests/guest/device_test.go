//go:build guest

package guest_test

// Devices: what becomes of the locators naming a device when the device
// is deleted or moves to another namespace.

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhostnl"
)

// wantUnordered reads len(first)+len(then) events: first in order, then
// then in any order (hosts come in the order of a table walk).
func (e *nlEvents) wantUnordered(t *testing.T, first []string, then ...string) {
	t.Helper()
	var got []string
	for len(got) < len(first)+len(then) {
		evs, err := e.next()
		if err != nil {
			t.Fatalf("events: %v after %q, want %q then %q", err, got, first, then)
		}
		for _, ev := range evs {
			got = append(got, nlEventString(ev))
		}
	}
	n := min(len(first), len(got))
	rest := slices.Clone(got[n:])
	slices.Sort(rest)
	want := slices.Clone(then)
	slices.Sort(want)
	if !slices.Equal(got[:n], first) || !slices.Equal(rest, want) {
		t.Errorf("events %q, want %q then %q in any order", got, first, then)
	}
}

// TestDevGone deletes a device and moves another to a new namespace: the
// locators that name them go from their hosts (hosts left with none go
// too), announced, so that nothing names the next device given the same
// index.
func TestDevGone(t *testing.T) {
	a, b := newNetNS(t, "a"), newNetNS(t, "b")
	ca := a.control(t)
	const gone, moved = 300, 310
	a.addVeth(t, "gone0", "gone1", gone)
	a.addVeth(t, "moved0", "moved1", moved)

	ll := func(addr string, ifindex int) mhostnl.Locator {
		return mhostnl.Locator{Addr: netip.MustParseAddr(addr), Ifindex: ifindex}
	}
	for _, h := range []mhostnl.Host{
		{ID: 7, Locators: []mhostnl.Locator{ll("fe80::7", gone), nlLoc("10.0.0.7"), ll("fe80::7", gone+1)}},
		{ID: 8, Locators: []mhostnl.Locator{ll("fe80::8", gone)}},
		{ID: 9, Locators: []mhostnl.Locator{nlLoc("10.0.0.9"), ll("fe80::9", moved)}},
		{ID: 10, Locators: []mhostnl.Locator{ll("fe80::a", 1)}}, // lo stays
	} {
		nlCheck(t, fmt.Sprintf("AddHost %d", h.ID), ca.AddHost(h))
	}
	ev := nlListen(t, a.fd)

	// Deleting gone0 deletes its peer gone1 too, in that order.
	a.delLink(t, gone)
	ev.wantUnordered(t, nil,
		fmt.Sprintf("host_new 7 [inet 10.0.0.7, inet6 fe80::7 dev %d]", gone+1),
		"host_new 7 [inet 10.0.0.7]",
		"host_del 8 []")
	nlWantHost(t, ca, mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{nlLoc("10.0.0.7")}})
	if _, err := ca.Host(8); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("host 8, whose only device is gone: %v, want ErrNotExist", err)
	}

	// A new device given the old index is named by nothing.
	a.addVeth(t, "new0", "new1", gone)
	nlWantHost(t, ca, mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{nlLoc("10.0.0.7")}})

	// Moving a device takes it out of this namespace the same way.
	a.moveLink(t, moved, b)
	ev.want(t, "host_new 9 [inet 10.0.0.9]")
	nlWantHost(t, ca, mhostnl.Host{ID: 9, Locators: []mhostnl.Locator{nlLoc("10.0.0.9")}})
	nlWantHost(t, ca, mhostnl.Host{ID: 10, Locators: []mhostnl.Locator{ll("fe80::a", 1)}})

	// A locator cannot name a device that is gone.
	nlWantErr(t, "a locator on a device that is gone", ca.AddHost(mhostnl.Host{ID: 11, Locators: []mhostnl.Locator{ll("fe80::b", moved)}}),
		nlMsg.NoDevice, unix.ENODEV)
}
