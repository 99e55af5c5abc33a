package mhost

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Calls with a context must not reach beyond themselves. The runtime
// poller has one read deadline and one write deadline per descriptor,
// shared by every call waiting on it: waking a call whose context is
// canceled by moving the socket's deadline would wake the others too, and
// undo the deadline the program set. So a call with a context that has to
// wait does it on a descriptor of its own, a dup of the socket: its
// deadline is the earlier of the context's and the Conn's, and canceling
// the context moves that descriptor's deadline only.

// A waiter is the descriptor a call with a context waits on.
type waiter struct {
	f     *os.File
	rc    syscall.RawConn
	write bool
	ctx   time.Time // the context's deadline, or zero
	// expired is set, under the Conn's mu, once the context is done; the
	// deadline then stays in the past.
	expired bool
}

// readContext runs o, a receive, for a call with ctx.
func (c *Conn) readContext(ctx context.Context, o *op) error {
	if ctx.Done() == nil {
		return c.read(o) // never canceled: the plain path
	}
	return c.ioContext(ctx, o, false)
}

// writeContext runs o, a send, for a call with ctx.
func (c *Conn) writeContext(ctx context.Context, o *op) error {
	if ctx.Done() == nil {
		return c.write(o)
	}
	return c.ioContext(ctx, o, true)
}

func (c *Conn) ioContext(ctx context.Context, o *op, write bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dl := &c.rdeadline
	if write {
		dl = &c.wdeadline
	}
	// A call past the Conn's deadline fails, as a plain call would.
	if d := dl.Load(); d != 0 && time.Now().UnixNano() >= d {
		return os.ErrDeadlineExceeded
	}
	// Most calls need not wait: a datagram is queued, the send buffer has
	// room. Try once before setting a waiter up.
	if err := c.now(o); !errors.Is(err, unix.EAGAIN) {
		return err
	}
	w, err := c.newWaiter(ctx, write)
	if err != nil {
		return err
	}
	defer c.dropWaiter(w)
	stop := context.AfterFunc(ctx, func() { c.expire(w) })
	defer stop()

	if write {
		err = w.rc.Write(o.do)
	} else {
		err = w.rc.Read(o.do)
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			<-ctx.Done() // the context's own deadline: report it as such
		}
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return err
	}
	return os.NewSyscallError(syscallName[o.call], o.err())
}

// newWaiter sets up a descriptor for a call with ctx to wait on.
func (c *Conn) newWaiter(ctx context.Context, write bool) (*waiter, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return nil, net.ErrClosed
	}
	var (
		fd   int
		ferr error
	)
	err := c.rc.Control(func(s uintptr) { fd, ferr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) })
	if err == nil {
		err = os.NewSyscallError("fcntl", ferr)
	}
	if err != nil {
		return nil, err
	}
	// The dup shares the socket's O_NONBLOCK, so os.NewFile registers it
	// with the poller.
	f := os.NewFile(uintptr(fd), "mhost")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	w := &waiter{f: f, rc: rc, write: write}
	w.ctx, _ = ctx.Deadline()
	dl := c.rdeadline.Load()
	if write {
		dl = c.wdeadline.Load()
	}
	if err := w.setDeadline(dl); err != nil {
		f.Close()
		return nil, err
	}
	if c.waiters == nil {
		c.waiters = make(map[*waiter]struct{})
	}
	c.waiters[w] = struct{}{}
	return w, nil
}

// setDeadline gives w the earlier of its context's deadline and the
// Conn's, conn (Unix nanoseconds, 0 for none).
func (w *waiter) setDeadline(conn int64) error {
	d := w.ctx
	if conn != 0 && (d.IsZero() || conn < d.UnixNano()) {
		d = time.Unix(0, conn)
	}
	if w.write {
		return w.f.SetWriteDeadline(d)
	}
	return w.f.SetReadDeadline(d)
}

// expire wakes the call waiting on w: its context is done.
func (c *Conn) expire(w *waiter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w.expired = true
	past := time.Unix(0, 1)
	if w.write {
		w.f.SetWriteDeadline(past)
	} else {
		w.f.SetReadDeadline(past)
	}
}

func (c *Conn) dropWaiter(w *waiter) {
	c.mu.Lock()
	delete(c.waiters, w)
	c.mu.Unlock()
	w.f.Close()
}

// setDeadline sets the Conn's read or write deadline, and that of the
// calls with a context waiting now.
func (c *Conn) setDeadline(t time.Time, write bool) error {
	d := deadlineNanos(t)
	var err error
	if write {
		c.wdeadline.Store(d)
		err = c.fd.SetWriteDeadline(t)
	} else {
		c.rdeadline.Store(d)
		err = c.fd.SetReadDeadline(t)
	}
	if err != nil {
		return c.opError("set", nil, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for w := range c.waiters {
		if w.write == write && !w.expired {
			w.setDeadline(d)
		}
	}
	return nil
}
