// Command mhostctl controls the mhost kernel module: its host table, the
// network layers it can use, its sockets and its counters. Run
// "mhostctl --help" for the commands.
package main

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

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
		stdout:   os.Stdout,
		stderr:   os.Stderr,
		dial:     dialKernel,
		resolver: net.DefaultResolver,
		ifindex: func(name string) (int, error) {
			ifi, err := net.InterfaceByName(name)
			if err != nil {
				return 0, err
			}
			return ifi.Index, nil
		},
		ifname: func(index int) string {
			ifi, err := net.InterfaceByIndex(index)
			if err != nil {
				return ""
			}
			return ifi.Name
		},
	}
}

func dialKernel() (backend, error) {
	c, err := mhostnl.Dial(nil)
	if err != nil {
		return nil, err
	}
	return kernel{c}, nil
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
