package mhostnl

import (
	"errors"
	"os"

	"github.com/mdlayher/netlink"
)

// ErrNotLoaded reports that the kernel has no "mhost" generic netlink
// family: the mhost module is not loaded. errors.Is(ErrNotLoaded,
// os.ErrNotExist) is true.
var ErrNotLoaded error = notLoadedError{}

type notLoadedError struct{}

func (notLoadedError) Error() string {
	return "mhost module not loaded (modprobe mhost, or run inside the VM)"
}

func (notLoadedError) Is(target error) bool { return target == os.ErrNotExist }

// ErrMalformed is wrapped by the errors that report a reply the package
// cannot decode, such as an attribute of the wrong length.
var ErrMalformed = errors.New("malformed reply")

// ErrEventsLost is wrapped by the error a Watcher returns when the kernel
// dropped events because the watcher's receive buffer was full. The
// Watcher remains usable; the host table may have changed in ways it did
// not report.
var ErrEventsLost = errors.New("events lost: receive buffer overrun")

// An Error reports a failed operation: a request the kernel refused, a
// reply that could not be decoded, or a failure of the netlink socket.
//
// Err is the kernel's errno for a refusal, so errors.Is(err,
// os.ErrPermission) reports the lack of CAP_NET_ADMIN, errors.Is(err,
// os.ErrNotExist) a host that does not exist, and errors.Is(err,
// os.ErrExist) a host that already does.
type Error struct {
	// Op is the operation that failed, such as "add host 7".
	Op string
	// Message is the kernel's explanation (the netlink extended
	// acknowledgement), such as "host already exists"; it may be empty.
	Message string
	// Err is the cause: the errno the kernel returned (a syscall.Errno),
	// an error wrapping ErrMalformed, or a system call error.
	Err error
}

// Error returns "mhostnl: OP: ERR: MESSAGE", without ": MESSAGE" when the
// kernel gave no message.
func (e *Error) Error() string {
	s := "mhostnl: " + e.Op + ": " + e.Err.Error()
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// opError wraps err, a failure of op, in an *Error, lifting the kernel's
// extended acknowledgement message out of a *netlink.OpError.
func opError(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	var oe *netlink.OpError
	if errors.As(err, &oe) {
		return &Error{Op: op, Message: oe.Message, Err: oe.Err}
	}
	return &Error{Op: op, Err: err}
}
