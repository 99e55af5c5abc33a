package mhostnl

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"

	"github.com/mnet/mnet/gosdk/internal/uapi"
)

func ptr[T any](v T) *T { return &v }

// expect returns a fake kernel that wants one request of cmd with flags
// and exactly the attributes want, and answers it with replies.
func expect(t *testing.T, cmd uint8, flags netlink.HeaderFlags, want []netlink.Attribute, replies ...genetlink.Message) *fakeKernel {
	b := nltest.MustMarshalAttributes(want)
	return newFake(t, genltest.CheckRequest(testFamily.ID, cmd, flags,
		func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
			if !bytes.Equal(greq.Data, b) {
				t.Errorf("attributes:\n got %s\nwant %s", dumpAttrs(greq.Data), dumpAttrs(b))
			}
			return replies, nil
		}))
}

func TestHostLiveKnobs(t *testing.T) {
	locators := nest(uapi.AHostLocators, loc(10, ip6.AsSlice()))
	for _, tc := range []struct {
		name string
		live *LiveKnobs
		want []netlink.Attribute
	}{
		{"none: the host keeps its own", nil, nil},
		{"empty: the host drops its own", &LiveKnobs{}, []netlink.Attribute{nest(uapi.AHostLive)}},
		{"every one", &LiveKnobs{
			Interval: ptr(100 * time.Millisecond), Multiplier: ptr(2),
			HoldDown: ptr(2 * time.Second), Revertive: ptr(false),
		}, []netlink.Attribute{nest(uapi.AHostLive,
			u32(uapi.LiveAIntervalMs, 100), u8(uapi.LiveAMultiplier, 2),
			u32(uapi.LiveAHoldDownMs, 2000), u8(uapi.LiveARevertive, 0))}},
		{"liveness off", &LiveKnobs{Interval: ptr(time.Duration(0))},
			[]netlink.Attribute{nest(uapi.AHostLive, u32(uapi.LiveAIntervalMs, 0))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			attrs := append([]netlink.Attribute{u32(uapi.AHostID, 7), u32(uapi.AHostFlags, 1|2), locators}, tc.want...)
			k := expect(t, uapi.CmdHostNew, netlink.Request|netlink.Acknowledge, attrs)
			if err := k.client().SetHost(Host{ID: 7, Locators: []Locator{{Addr: ip6}}, Live: tc.live}); err != nil {
				t.Fatal(err)
			}
		})
	}

	// What the kernel cannot take is refused here, nothing sent.
	k := newFake(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		t.Error("a request that cannot be encoded was sent")
		return nil, nil
	})
	c := k.client()
	for _, live := range []LiveKnobs{
		{Interval: ptr(1500 * time.Microsecond)},
		{HoldDown: ptr(-time.Second)},
		{Multiplier: ptr(256)},
	} {
		if err := c.AddHost(Host{ID: 7, Locators: []Locator{{Addr: ip6}}, Live: &live}); err == nil {
			t.Errorf("knobs %+v: no error", live)
		}
	}
}

func TestHostLiveness(t *testing.T) {
	k := serve(t, reply(uapi.CmdHostGet,
		u32(uapi.AHostID, 7),
		nest(uapi.AHostLocators,
			loc(10, ip6.AsSlice(), u8(uapi.LocAState, uapi.LocStateDown), u8(uapi.LocACause, uapi.LocCauseICMP),
				u32(uapi.LocALastHeardMs, 1500), u32(uapi.LocAChangedMs, 200),
				u32(uapi.LocARttUs, 3100), u32(uapi.LocARttvarUs, 900), u32(uapi.LocAFlaps, 2),
				u32(uapi.LocAHoldMs, 700)),
			// Never heard from nor changed: no times.
			loc(2, ip4.AsSlice(), u8(uapi.LocAState, uapi.LocStateUnknown), u8(uapi.LocACause, uapi.LocCauseNone),
				u32(uapi.LocAFlaps, 0)),
		),
		nest(uapi.AHostLive, u32(uapi.LiveAIntervalMs, 100), u8(uapi.LiveARevertive, 1)),
	))
	before := time.Now()
	h, err := k.client().Host(7)
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	l := h.Locators[0]
	if l.State != LocatorDown || l.Cause != CauseICMP || l.RTT != 3100*time.Microsecond ||
		l.RTTVar != 900*time.Microsecond || l.Flaps != 2 || l.HoldDown != 700*time.Millisecond {
		t.Errorf("locator 0: %s %s rtt %v/%v flaps %d hold %v", l.State, l.Cause, l.RTT, l.RTTVar, l.Flaps, l.HoldDown)
	}
	within := func(name string, got time.Time, ago time.Duration) {
		if got.Before(before.Add(-ago)) || got.After(after.Add(-ago)) {
			t.Errorf("locator 0: %s %v, want %v before the call", name, got, ago)
		}
	}
	within("last heard", l.LastHeard, 1500*time.Millisecond)
	within("changed", l.Changed, 200*time.Millisecond)
	if l := h.Locators[1]; l.State != LocatorUnknown || !l.LastHeard.IsZero() || !l.Changed.IsZero() || l.RTT != 0 {
		t.Errorf("locator 1: %s heard %v changed %v rtt %v; want unknown and nothing else", l.State, l.LastHeard, l.Changed, l.RTT)
	}
	want := &LiveKnobs{Interval: ptr(100 * time.Millisecond), Revertive: ptr(true)}
	if !reflect.DeepEqual(h.Live, want) {
		t.Errorf("host knobs %+v, want %+v", h.Live, want)
	}
}

func TestLiveness(t *testing.T) {
	k := expect(t, uapi.CmdLiveGet, netlink.Request, nil, reply(uapi.CmdLiveGet, nest(uapi.ALive,
		u32(uapi.LiveAIntervalMs, 250), u8(uapi.LiveAMultiplier, 3), u32(uapi.LiveAHoldDownMs, 1000),
		u8(uapi.LiveARevertive, 1), u16(uapi.LiveAPort, 7867), u8(uapi.LiveAAnswer, 1),
		u32(uapi.LiveAPortError, uint32(syscall.EADDRINUSE)), u32(99, 0))))
	got, err := k.client().Liveness()
	if err != nil {
		t.Fatal(err)
	}
	want := &LiveSettings{
		LiveKnobs: LiveKnobs{Interval: ptr(250 * time.Millisecond), Multiplier: ptr(3),
			HoldDown: ptr(time.Second), Revertive: ptr(true)},
		Port: ptr(uint16(7867)), Answer: ptr(true), PortError: syscall.EADDRINUSE,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Liveness() = %+v, want %+v", got, want)
	}

	// A reply short of a setting is malformed.
	k = serve(t, reply(uapi.CmdLiveGet, nest(uapi.ALive, u32(uapi.LiveAIntervalMs, 250))))
	if _, err := k.client().Liveness(); !errors.Is(err, ErrMalformed) {
		t.Errorf("a partial reply: err = %v, want ErrMalformed", err)
	}
}

func TestSetLiveness(t *testing.T) {
	k := expect(t, uapi.CmdLiveSet, netlink.Request|netlink.Acknowledge, []netlink.Attribute{nest(uapi.ALive,
		u32(uapi.LiveAIntervalMs, 500), u8(uapi.LiveARevertive, 0), u16(uapi.LiveAPort, 7868), u8(uapi.LiveAAnswer, 0))})
	err := k.client().SetLiveness(LiveSettings{
		LiveKnobs: LiveKnobs{Interval: ptr(500 * time.Millisecond), Revertive: ptr(false)},
		Port:      ptr(uint16(7868)), Answer: ptr(false), PortError: syscall.EINVAL, // ignored
	})
	if err != nil {
		t.Fatal(err)
	}

	// The kernel's refusal comes back with its message.
	k = newFake(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, kerr(syscall.EINVAL, "probe interval below 10 ms (0 turns liveness off)")
	})
	err = k.client().SetLiveness(LiveSettings{LiveKnobs: LiveKnobs{Interval: ptr(5 * time.Millisecond)}})
	if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "below 10 ms") {
		t.Errorf("err = %v, want EINVAL with the kernel's message", err)
	}
}

func TestStatsLiveness(t *testing.T) {
	k := serve(t, reply(uapi.CmdStatsGet, nest(uapi.AStats,
		u32(uapi.StatsALiveHosts, 1), u64(uapi.StatsAProbesSent, 2), u64(uapi.StatsAProbesAnswered, 3),
		u64(uapi.StatsAProbesMissed, 4), u64(uapi.StatsALocChanges, 5), u64(uapi.StatsALocSignals, 6),
		u64(uapi.StatsALocSignalsIgnored, 7), u64(uapi.StatsAProbeReplies, 8),
		u64(uapi.StatsAProbeRepliesLimited, 9), u64(uapi.StatsAProbesBad, 10))))
	got, err := k.client().Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := &Stats{LiveHosts: 1, ProbesSent: 2, ProbesAnswered: 3, ProbesMissed: 4, LocatorChanges: 5,
		LocatorSignals: 6, LocatorSignalsIgnored: 7, ProbeReplies: 8, ProbeRepliesLimited: 9, ProbesBad: 10}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

func TestWatchLocatorState(t *testing.T) {
	k := serve(t)
	w, err := k.client().Watch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	k.publish(uapi.CmdLocState, []netlink.Attribute{u32(uapi.AHostID, 7), nest(uapi.AHostLocators,
		loc(10, ip6.AsSlice(), u8(uapi.LocAState, uapi.LocStateSuspect), u8(uapi.LocACause, uapi.LocCauseNeigh),
			u32(uapi.LocAFlaps, 0), u8(uapi.LocAPrevState, uapi.LocStateUp)))})
	// Without the state it left, or with two locators: malformed.
	k.publish(uapi.CmdLocState, []netlink.Attribute{u32(uapi.AHostID, 7), nest(uapi.AHostLocators,
		loc(10, ip6.AsSlice(), u8(uapi.LocAState, uapi.LocStateSuspect)))})
	k.publish(uapi.CmdLocState, []netlink.Attribute{u32(uapi.AHostID, 7), nest(uapi.AHostLocators,
		loc(10, ip6.AsSlice(), u8(uapi.LocAPrevState, 1)), loc(2, ip4.AsSlice(), u8(uapi.LocAPrevState, 1)))})

	ev, err := w.Next()
	if err != nil {
		t.Fatal(err)
	}
	want := Event{Type: EventLocatorState, PrevState: LocatorUp, Host: Host{ID: 7, Locators: []Locator{
		{Family: FamilyInet6, Addr: ip6, State: LocatorSuspect, Cause: CauseNeigh},
	}}}
	if !reflect.DeepEqual(ev, want) {
		t.Errorf("event = %+v, want %+v", ev, want)
	}
	for i := range 2 {
		if _, err := w.Next(); !errors.Is(err, ErrMalformed) {
			t.Errorf("malformed event %d: err = %v, want ErrMalformed", i, err)
		}
	}
}

func TestStateNames(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{LocatorUnknown.String(), "unknown"}, {LocatorDown.String(), "down"}, {LocatorState(9).String(), "state(9)"},
		{CauseProbeTimeout.String(), "probe_timeout"}, {CauseLink.String(), "link"}, {LocatorCause(9).String(), "cause(9)"},
		{EventLocatorState.String(), "state"},
	} {
		if tc.got != tc.want {
			t.Errorf("%q, want %q", tc.got, tc.want)
		}
	}
}
