package mhostnl

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"

	"github.com/mnet/mnet/gosdk/internal/uapi"
)

// A LocatorState is what path liveness knows of a locator of a host the
// namespace sends to. Sends to a host id take the first locator that is
// not LocatorDown (nor held down after coming back).
type LocatorState uint8

// The states of a locator.
const (
	LocatorUnknown LocatorState = uapi.LocStateUnknown // nothing heard, nothing missed
	LocatorUp      LocatorState = uapi.LocStateUp
	LocatorSuspect LocatorState = uapi.LocStateSuspect // a probe missed or a failure signalled
	LocatorDown    LocatorState = uapi.LocStateDown
)

var stateNames = [...]string{"unknown", "up", "suspect", "down"}

// String returns "unknown", "up", "suspect", "down", or "state(N)".
func (s LocatorState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// A LocatorCause says what made a locator change state last.
type LocatorCause uint8

// The causes of a change of state.
const (
	CauseNone         LocatorCause = uapi.LocCauseNone         // never changed
	CauseTraffic      LocatorCause = uapi.LocCauseTraffic      // a datagram came from it
	CauseProbeReply   LocatorCause = uapi.LocCauseProbeReply   // a probe was answered
	CauseProbeTimeout LocatorCause = uapi.LocCauseProbeTimeout // probes went unanswered
	CauseICMP         LocatorCause = uapi.LocCauseICMP         // an ICMP or ICMPv6 unreachable
	CauseNeigh        LocatorCause = uapi.LocCauseNeigh        // its next hop's neighbour failed
	CauseLink         LocatorCause = uapi.LocCauseLink         // the local link went down
)

var causeNames = [...]string{"none", "traffic", "probe_reply", "probe_timeout", "icmp", "neigh", "link"}

// String returns the cause's name as the kernel's tracepoints print it
// ("probe_timeout", "icmp", ...), or "cause(N)".
func (c LocatorCause) String() string {
	if int(c) < len(causeNames) {
		return causeNames[c]
	}
	return "cause(" + strconv.Itoa(int(c)) + ")"
}

// LiveKnobs are the path liveness knobs of a host or of a namespace. A
// nil field is not set: a host's follows the namespace's, and
// Client.SetLiveness leaves it as it is. Durations are whole
// milliseconds.
type LiveKnobs struct {
	// Interval is how often a silent locator in use is probed: 10 ms
	// to 60 s, or 0 to turn path liveness off.
	Interval *time.Duration
	// Multiplier is how many rounds of probes a suspect locator may
	// miss before it is down: 1 to 20.
	Multiplier *int
	// HoldDown is how long a locator back from down waits before
	// traffic returns to it: 0 to 60 s.
	HoldDown *time.Duration
	// Revertive says whether traffic returns to a preferred locator
	// that came back, or stays where it moved to.
	Revertive *bool
}

// LiveSettings are a namespace's path liveness settings: the knobs its
// hosts follow by default, and its probe port and whether it answers the
// probes of its peers.
type LiveSettings struct {
	LiveKnobs
	Port   *uint16 // the probe port, that of its peers too
	Answer *bool   // whether it answers the probes of its peers

	// PortError, read only, is why the probe port could not be bound
	// (0 when it is): until it is, no locator is probed.
	PortError syscall.Errno
}

// millis returns d in whole milliseconds, for an attribute of the kernel.
func millis(name string, d time.Duration) (uint32, error) {
	if d < 0 || d%time.Millisecond != 0 || d.Milliseconds() > math.MaxUint32 {
		return 0, fmt.Errorf("%s %v is not a whole number of milliseconds", name, d)
	}
	return uint32(d.Milliseconds()), nil
}

// encode adds the knobs that are set to ae.
func (k *LiveKnobs) encode(ae *netlink.AttributeEncoder) error {
	if k.Interval != nil {
		ms, err := millis("interval", *k.Interval)
		if err != nil {
			return err
		}
		ae.Uint32(uapi.LiveAIntervalMs, ms)
	}
	if k.Multiplier != nil {
		if *k.Multiplier < 0 || *k.Multiplier > math.MaxUint8 {
			return fmt.Errorf("multiplier %d out of range", *k.Multiplier)
		}
		ae.Uint8(uapi.LiveAMultiplier, uint8(*k.Multiplier))
	}
	if k.HoldDown != nil {
		ms, err := millis("hold-down", *k.HoldDown)
		if err != nil {
			return err
		}
		ae.Uint32(uapi.LiveAHoldDownMs, ms)
	}
	if k.Revertive != nil {
		ae.Uint8(uapi.LiveARevertive, b2u8(*k.Revertive))
	}
	return nil
}

func b2u8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// decodeLive decodes a nest of liveness knobs or settings.
func decodeLive(ad *netlink.AttributeDecoder) LiveSettings {
	var s LiveSettings
	ms := func() *time.Duration {
		d := time.Duration(ad.Uint32()) * time.Millisecond
		return &d
	}
	for ad.Next() {
		switch ad.Type() {
		case uapi.LiveAIntervalMs:
			s.Interval = ms()
		case uapi.LiveAMultiplier:
			m := int(ad.Uint8())
			s.Multiplier = &m
		case uapi.LiveAHoldDownMs:
			s.HoldDown = ms()
		case uapi.LiveARevertive:
			r := ad.Uint8() != 0
			s.Revertive = &r
		case uapi.LiveAPort:
			p := ad.Uint16()
			s.Port = &p
		case uapi.LiveAAnswer:
			a := ad.Uint8() != 0
			s.Answer = &a
		case uapi.LiveAPortError:
			s.PortError = syscall.Errno(ad.Uint32())
		}
	}
	return s
}

// Liveness returns the namespace's path liveness settings, all of them
// set.
func (c *Client) Liveness() (*LiveSettings, error) {
	const op = "get liveness"
	msgs, err := c.execute(op, uapi.CmdLiveGet, 0, nil)
	if err != nil {
		return nil, err
	}
	var (
		s     LiveSettings
		found bool
	)
	for _, m := range msgs {
		err := decodeNests(m.Data, uapi.ALive, func(ad *netlink.AttributeDecoder) error {
			s, found = decodeLive(ad), true
			return nil
		})
		if err != nil {
			return nil, opError(op, err)
		}
	}
	if !found || s.Interval == nil || s.Multiplier == nil || s.HoldDown == nil ||
		s.Revertive == nil || s.Port == nil || s.Answer == nil {
		return nil, opError(op, malformed(errors.New("reply without every liveness setting")))
	}
	return &s, nil
}

// SetLiveness changes the namespace's path liveness settings that s sets
// and leaves the others. Its PortError is ignored. Changing the port
// rebinds the probe socket; it fails, and changes nothing, when the port
// cannot be bound.
func (c *Client) SetLiveness(s LiveSettings) error {
	const op = "set liveness"
	ae := netlink.NewAttributeEncoder()
	var err error
	ae.Nested(uapi.ALive, func(nae *netlink.AttributeEncoder) error {
		if err = s.LiveKnobs.encode(nae); err != nil {
			return err
		}
		if s.Port != nil {
			nae.Uint16(uapi.LiveAPort, *s.Port)
		}
		if s.Answer != nil {
			nae.Uint8(uapi.LiveAAnswer, b2u8(*s.Answer))
		}
		return nil
	})
	attrs, aerr := ae.Encode()
	if err == nil {
		err = aerr
	}
	if err != nil {
		return opError(op, err)
	}
	_, err = c.execute(op, uapi.CmdLiveSet, netlink.Acknowledge, attrs)
	return err
}
