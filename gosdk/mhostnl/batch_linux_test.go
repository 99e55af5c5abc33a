package mhostnl

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"reflect"
	"testing"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/internal/uapi"
)

func batchHosts(n int) []Host {
	hosts := make([]Host, n)
	for i := range hosts {
		id := uint32(i + 1)
		hosts[i] = Host{ID: id, Locators: []Locator{
			{Family: FamilyInet6, Addr: netip.AddrFrom16([16]byte{0xfd, 15: byte(id)})},
			{Family: FamilyInet, Addr: netip.AddrFrom4([4]byte{10, byte(id >> 16), byte(id >> 8), byte(id)}), Port: uint16(id)},
		}}
	}
	return hosts
}

// hostTable is a fake kernel's host table, enough to judge uapi.CmdHostNew
// requests the way the kernel does.
type hostTable map[uint32]Host

func (ht hostTable) handle(g genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
	if g.Header.Command != uapi.CmdHostNew {
		return nil, kerr(unix.EOPNOTSUPP, "unexpected command")
	}
	ad, err := netlink.NewAttributeDecoder(g.Data)
	if err != nil {
		return nil, err
	}
	var (
		id    uint32
		flags uint32
	)
	for ad.Next() {
		switch ad.Type() {
		case uapi.AHostID:
			id = ad.Uint32()
		case uapi.AHostFlags:
			flags = ad.Uint32()
		}
	}
	h, err := decodeHost(g.Data, true)
	if err != nil {
		return nil, err
	}
	_, exists := ht[id]
	switch {
	case exists && flags&(uapi.HostFReplace|uapi.HostFAppend) == 0:
		return nil, kerr(unix.EEXIST, "host already exists")
	case !exists && flags&uapi.HostFCreate == 0:
		return nil, kerr(unix.ENOENT, "no such host")
	}
	ht[id] = h
	return nil, nil
}

func TestAddHostsChunks(t *testing.T) {
	ht := hostTable{}
	k := newFake(t, genltest.CheckRequest(testFamily.ID, uapi.CmdHostNew, 0, ht.handle))
	c := k.client()
	hosts := batchHosts(2*batchSize + 44)
	if err := c.AddHosts(hosts); err != nil {
		t.Fatal(err)
	}
	if got, want := k.sendSizes(), []int{batchSize, batchSize, 44}; !reflect.DeepEqual(got, want) {
		t.Errorf("requests per sendmsg = %v, want %v", got, want)
	}
	reqs := k.requests()
	if len(reqs) != len(hosts) {
		t.Fatalf("%d requests, want %d", len(reqs), len(hosts))
	}
	for i, r := range reqs {
		last := i%batchSize == batchSize-1 || i == len(reqs)-1
		want := netlink.Request
		if last {
			want |= netlink.Acknowledge
		}
		if r.Header.Flags != want {
			t.Errorf("request %d: flags %v, want %v", i, r.Header.Flags, want)
		}
		var g genetlink.Message
		if err := g.UnmarshalBinary(r.Data); err != nil {
			t.Fatal(err)
		}
		if id := binary.NativeEndian.Uint32(g.Data[4:]); id != hosts[i].ID {
			t.Errorf("request %d is for host %d, want %d (batch order)", i, id, hosts[i].ID)
		}
	}
	if len(ht) != len(hosts) {
		t.Errorf("%d hosts in the table, want %d", len(ht), len(hosts))
	}
	for _, h := range hosts {
		if !reflect.DeepEqual(ht[h.ID], h) {
			t.Errorf("host %d: table has %+v, want %+v", h.ID, ht[h.ID], h)
		}
	}
}

func TestAddHostsFailures(t *testing.T) {
	hosts := batchHosts(3 * batchSize)
	for _, tc := range []struct {
		name     string
		existing []int // batch indexes of hosts already in the table
		failed   []int
		sent     int
	}{
		{"first chunk", []int{5, 9}, []int{5, 9}, batchSize},
		{"end of a chunk", []int{batchSize - 1}, []int{batchSize - 1}, batchSize},
		{"second chunk", []int{batchSize + 1, 2*batchSize + 3}, []int{batchSize + 1}, 2 * batchSize},
		{"last host", []int{3*batchSize - 1}, []int{3*batchSize - 1}, 3 * batchSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ht := hostTable{}
			for _, i := range tc.existing {
				ht[hosts[i].ID] = Host{ID: hosts[i].ID}
			}
			k := newFake(t, ht.handle)
			err := k.client().AddHosts(hosts)
			var be *BatchError
			if !errors.As(err, &be) {
				t.Fatalf("err = %v, want a *BatchError", err)
			}
			if !errors.Is(err, os.ErrExist) {
				t.Errorf("errors.Is(err, os.ErrExist) = false for %v", err)
			}
			var failed []int
			for _, he := range be.Errors {
				failed = append(failed, he.Index)
				if he.ID != hosts[he.Index].ID {
					t.Errorf("failure %d has id %d, want %d", he.Index, he.ID, hosts[he.Index].ID)
				}
				var e *Error
				if !errors.As(he.Err, &e) || e.Message != "host already exists" || e.Errno() != unix.EEXIST {
					t.Errorf("failure %d: %v, want EEXIST with the kernel's message", he.Index, he.Err)
				}
			}
			if !reflect.DeepEqual(failed, tc.failed) || be.Sent != tc.sent {
				t.Errorf("failed %v, sent %d; want %v, %d", failed, be.Sent, tc.failed, tc.sent)
			}
			if n := len(k.requests()); n != tc.sent {
				t.Errorf("%d requests sent, want %d", n, tc.sent)
			}
			// Every sent host that did not fail is in the table.
			if want := tc.sent + len(tc.existing) - len(tc.failed); len(ht) < want {
				t.Errorf("%d hosts in the table, want at least %d", len(ht), want)
			}
			t.Log(err)
		})
	}
}

func TestAddHostsPermission(t *testing.T) {
	k := newFake(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, kerr(unix.EPERM, "")
	})
	err := k.client().AddHosts(batchHosts(300))
	var be *BatchError
	if !errors.As(err, &be) || !errors.Is(err, os.ErrPermission) {
		t.Fatalf("err = %v, want a *BatchError for which os.ErrPermission holds", err)
	}
	if len(be.Errors) != batchSize || be.Sent != batchSize {
		t.Errorf("%d failures, %d sent; want the whole first chunk", len(be.Errors), be.Sent)
	}
}

func TestSetHosts(t *testing.T) {
	hosts := batchHosts(10)
	ht := hostTable{hosts[3].ID: {ID: hosts[3].ID}}
	k := newFake(t, ht.handle)
	if err := k.client().SetHosts(hosts); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ht[hosts[3].ID], hosts[3]) {
		t.Errorf("host 4 was not replaced: %+v", ht[hosts[3].ID])
	}
}

func TestAddHostsEncodingError(t *testing.T) {
	hosts := batchHosts(300)
	hosts[200].Locators[0].Raw = []byte{1}
	k := newFake(t, hostTable{}.handle)
	if err := k.client().AddHosts(hosts); err == nil {
		t.Fatal("no error for a host that cannot be encoded")
	}
	if n := len(k.requests()); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

func TestAddHostsEmpty(t *testing.T) {
	k := newFake(t, hostTable{}.handle)
	if err := k.client().AddHosts(nil); err != nil {
		t.Fatal(err)
	}
	if n := len(k.requests()); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}
