package mhostnl

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"

	"github.com/mnet/mnet/gosdk/internal/uapi"
)

// A Watcher receives the changes of a host table and of device settings
// from the "events" multicast group of the mhost family.
//
// A Watcher is safe for concurrent use: goroutines calling Next at once
// each get different events, in turn.
type Watcher struct {
	mu     sync.Mutex // serializes Next
	c      *netlink.Conn
	family uint16
	ctx    context.Context
	stop   func() bool // stops the context's wake-up

	client    *Client
	closeOnce sync.Once
	closed    chan struct{}

	pending []Event // decoded, not yet returned by Next
}

// Watch starts watching the host table and the device settings of the
// Client's namespace on a connection of its own. The Watcher stops when ctx is done, when it is
// closed, or when the Client is.
func (c *Client) Watch(ctx context.Context) (*Watcher, error) {
	const op = "watch"
	var group *genetlink.MulticastGroup
	for i := range c.family.Groups {
		if c.family.Groups[i].Name == uapi.McgrpEvents {
			group = &c.family.Groups[i]
		}
	}
	if group == nil {
		return nil, opError(op, fmt.Errorf("family %s has no multicast group %q", uapi.GenlName, uapi.McgrpEvents))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	nc, err := c.dial(&c.cfg)
	if err != nil {
		return nil, opError(op, err)
	}
	if err := nc.JoinGroup(group.ID); err != nil {
		nc.Close()
		return nil, opError(op, err)
	}
	w := &Watcher{c: nc, family: c.family.ID, ctx: ctx, client: c, closed: make(chan struct{})}
	// A read deadline in the past wakes a Next blocked in Receive.
	w.stop = context.AfterFunc(ctx, func() { nc.SetReadDeadline(time.Unix(1, 0)) })

	c.wmu.Lock()
	if c.closed {
		c.wmu.Unlock()
		w.close()
		return nil, opError(op, net.ErrClosed)
	}
	c.watchers[w] = struct{}{}
	c.wmu.Unlock()
	return w, nil
}

// Next waits for the next change and returns it. It returns ctx.Err()
// once the Watcher's context is done, and net.ErrClosed once the Watcher
// or its Client is closed. An error wrapping ErrEventsLost reports that
// the kernel dropped events; Next can be called again after it, as after
// an error wrapping ErrMalformed, which reports an event that could not be
// decoded.
func (w *Watcher) Next() (Event, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.pending) == 0 {
		if err := w.err(); err != nil {
			return Event{}, err
		}
		msgs, err := w.c.Receive()
		if err != nil {
			if err := w.err(); err != nil {
				return Event{}, err
			}
			if eventsLost(err) {
				err = fmt.Errorf("%w: %w", ErrEventsLost, err)
			}
			return Event{}, opError("watch", err)
		}
		for _, m := range msgs {
			if m.Header.Type != netlink.HeaderType(w.family) {
				continue
			}
			var gm genetlink.Message
			if err := gm.UnmarshalBinary(m.Data); err != nil {
				return Event{}, opError("watch", malformed(err))
			}
			ev, ok, err := decodeEvent(gm)
			if err != nil {
				return Event{}, opError("watch", err)
			}
			if ok {
				w.pending = append(w.pending, ev)
			}
		}
	}
	ev := w.pending[0]
	w.pending = w.pending[1:]
	return ev, nil
}

// err returns why the Watcher stopped, or nil.
func (w *Watcher) err() error {
	select {
	case <-w.closed:
		return net.ErrClosed
	default:
	}
	return w.ctx.Err()
}

// Close stops the Watcher; a Next blocked in another goroutine returns.
func (w *Watcher) Close() error {
	w.client.wmu.Lock()
	delete(w.client.watchers, w)
	w.client.wmu.Unlock()
	return w.close()
}

func (w *Watcher) close() error {
	var err error
	w.closeOnce.Do(func() {
		close(w.closed)
		w.stop()
		err = w.c.Close()
	})
	return err
}
