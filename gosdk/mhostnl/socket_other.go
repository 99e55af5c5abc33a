//go:build !linux

package mhostnl

import (
	"errors"

	"github.com/mdlayher/netlink"
)

// errNoLinux is what opening a Client fails with on other systems.
var errNoLinux = errors.Join(errors.New("the mhost module needs Linux"), errors.ErrUnsupported)

func dialConn(*Config) (*netlink.Conn, *doneSocket, error) { return nil, nil, errNoLinux }

func dialWatch(*Config) (*netlink.Conn, error) { return nil, errNoLinux }

func eventsLost(error) bool { return false }
