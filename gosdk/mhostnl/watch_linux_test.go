package mhostnl

import (
	"context"
	"errors"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"

	"github.com/mnet/mnet/gosdk/internal/uapi"
)

func TestWatch(t *testing.T) {
	k := serve(t)
	c := k.client()
	w, err := c.Watch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	k.publish(uapi.CmdHostNew, []netlink.Attribute{u32(uapi.AHostID, 7),
		nest(uapi.AHostLocators, loc(10, ip6.AsSlice()), loc(2, ip4.AsSlice()))})
	k.publish(99, []netlink.Attribute{u32(uapi.AHostID, 1)}) // a newer kernel's event
	k.publish(uapi.CmdHostDel, []netlink.Attribute{u32(uapi.AHostID, 7)})
	k.publish(uapi.CmdHostFlush, nil)
	k.publish(uapi.CmdDevSet, []netlink.Attribute{nest(uapi.ADev, u32(uapi.DevAIfindex, 4), str(uapi.DevAName, "veth0"), u8(uapi.DevAL3, 1))})
	k.publish(uapi.CmdDevDel, []netlink.Attribute{nest(uapi.ADev, u32(uapi.DevAIfindex, 4), str(uapi.DevAName, "veth0"), u8(uapi.DevAL3, 1))})

	want := []Event{
		{Type: EventHostNew, Host: Host{ID: 7, Locators: []Locator{{Family: FamilyInet6, Addr: ip6}, {Family: FamilyInet, Addr: ip4}}}},
		{Type: EventHostDel, Host: Host{ID: 7}},
		{Type: EventHostFlush},
		{Type: EventDevSet, Device: Device{Index: 4, Name: "veth0", L3: true}},
		{Type: EventDevDel, Device: Device{Index: 4, Name: "veth0", L3: true}},
	}
	for i, w0 := range want {
		ev, err := w.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if !reflect.DeepEqual(ev, w0) {
			t.Errorf("event %d = %+v, want %+v", i, ev, w0)
		}
	}

	// A malformed event is an error; the watcher goes on.
	k.publish(uapi.CmdHostNew, []netlink.Attribute{u16(uapi.AHostID, 7)})
	if _, err := w.Next(); !errors.Is(err, ErrMalformed) {
		t.Errorf("malformed event: err = %v, want ErrMalformed", err)
	}
	k.publish(uapi.CmdDevSet, []netlink.Attribute{u32(uapi.DevAIfindex, 4)}) // outside MHOST_A_DEV
	if _, err := w.Next(); !errors.Is(err, ErrMalformed) {
		t.Errorf("malformed device event: err = %v, want ErrMalformed", err)
	}
	k.publish(uapi.CmdHostFlush, nil)
	if ev, err := w.Next(); err != nil || ev.Type != EventHostFlush {
		t.Errorf("after a malformed event: %+v, %v", ev, err)
	}
}

// next calls w.Next in a goroutine and returns its error, failing if
// it does not return within a while.
func next(t *testing.T, w *Watcher, stop func()) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := w.Next()
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let Next block
	stop()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return")
		return nil
	}
}

func TestWatchCancel(t *testing.T) {
	c := serve(t).client()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := c.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := next(t, w, cancel); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if _, err := w.Next(); !errors.Is(err, context.Canceled) {
		t.Errorf("Next after cancel: err = %v, want context.Canceled", err)
	}
}

func TestWatchClose(t *testing.T) {
	c := serve(t).client()
	w, err := c.Watch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := next(t, w, func() { w.Close() }); !errors.Is(err, net.ErrClosed) {
		t.Errorf("err = %v, want net.ErrClosed", err)
	}
}

func TestWatchClientClose(t *testing.T) {
	c := serve(t).client()
	w, err := c.Watch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := next(t, w, func() { c.Close() }); !errors.Is(err, net.ErrClosed) {
		t.Errorf("err = %v, want net.ErrClosed", err)
	}
	if _, err := c.Watch(context.Background()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Watch on a closed client: err = %v, want net.ErrClosed", err)
	}
	w.Close() // harmless
}

func TestWatchNoGroup(t *testing.T) {
	f := testFamily
	f.Groups = nil
	k := &fakeKernel{t: t, fn: genltest.ServeFamily(f, nil)}
	if _, err := k.client().Watch(context.Background()); err == nil {
		t.Error("Watch without an events group: no error")
	}
}

// TestWatchConcurrent calls Next from several goroutines at once: each
// event goes to exactly one of them.
func TestWatchConcurrent(t *testing.T) {
	k := serve(t)
	c := k.client()
	w, err := c.Watch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	got := make(chan uint32, n)
	errc := make(chan error, 4)
	for range 4 {
		go func() {
			for {
				ev, err := w.Next()
				if err != nil {
					errc <- err
					return
				}
				got <- ev.Host.ID
			}
		}()
	}
	for id := uint32(1); id <= n; id++ {
		k.publish(uapi.CmdHostDel, []netlink.Attribute{u32(uapi.AHostID, id)})
	}
	seen := map[uint32]bool{}
	for range n {
		select {
		case id := <-got:
			if seen[id] {
				t.Fatalf("event for host %d returned twice", id)
			}
			seen[id] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d events returned", len(seen), n)
		}
	}
	w.Close()
	for range 4 {
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Errorf("Next after Close: %v, want net.ErrClosed", err)
		}
	}
}
