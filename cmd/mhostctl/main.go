//go:build linux

// Command mhostctl controls the mhost kernel module: its host table, the
// network layers it can use, its sockets and its counters. Run
// "mhostctl help" for the commands.
package main

import (
	"context"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"net"

	"github.com/mnet/mnet/gosdk/mhostnl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], systemEnv()))
}

// systemEnv is the environment of the real command: the kernel, the
// system's resolver and network interfaces.
func systemEnv() *env {
	return &env{
		stdout:    os.Stdout,
		stderr:    os.Stderr,
		stdin:     os.Stdin,
		dial:      dialKernel,
		links:     listLinks,
		openNetNS: openNetNS,
		resolver:  net.DefaultResolver,
		now:       time.Now,
	}
}

func dialKernel(netns int) (backend, error) {
	c, err := mhostnl.Dial(&mhostnl.Config{NetNS: netns})
	if err != nil {
		return nil, err
	}
	return kernel{c}, nil
}

// openNetNS opens a network namespace as ip(8) names them: NAME is
// /run/netns/NAME; a path is taken as it is.
func openNetNS(name string) (int, func(), error) {
	path := name
	if !strings.Contains(name, "/") {
		path = filepath.Join("/run/netns", name)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return fd, func() { unix.Close(fd) }, nil
}

// kernel adapts *mhostnl.Client to backend.
type kernel struct{ *mhostnl.Client }

func (k kernel) Watch(ctx context.Context) (watcher, error) {
	w, err := k.Client.Watch(ctx)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// netResolver is what mhostctl needs of *net.Resolver.
type netResolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}
