package mhostnl

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Errno returns the errno the kernel answered with, or 0 when the error
// is of another kind.
func (e *Error) Errno() unix.Errno {
	var errno unix.Errno
	errors.As(e.Err, &errno)
	return errno
}
