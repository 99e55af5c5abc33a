// Command mhost-server echoes datagrams on an AF_MHOST port.
//
// It binds one AF_MHOST socket, so it answers IPv4, IPv6 and host-id peers
// alike, each over the network layer its datagram came by, and prints a
// line per datagram:
//
//	from 127.0.0.1:40000 over IPv4: "hello" (5 bytes) -> echoed
//
// Usage:
//
//	mhost-server [-port 7000] [-count 0]
//
// It needs the mhost kernel module. SIGINT and SIGTERM stop it cleanly.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/mnet/mnet/gosdk/mhost"
)

func main() {
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), `Usage: mhost-server [-port N] [-count N]

Echo every datagram sent to an AF_MHOST port back to its sender, over the
network layer it came by, printing a line for each.

`)
		flag.PrintDefaults()
	}
	port := flag.Uint("port", 7000, "AF_MHOST `port` to listen on (0 picks one)")
	count := flag.Int("count", 0, "exit after `N` datagrams (0: run until interrupted)")
	flag.Parse()
	if flag.NArg() > 0 || *port > 65535 || *count < 0 {
		flag.Usage()
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, uint16(*port), *count); err != nil {
		fmt.Fprintf(os.Stderr, "mhost-server: %v\n", err)
		if errors.Is(err, mhost.ErrNotLoaded) {
			fmt.Fprintln(os.Stderr, "mhost-server: load the module first: modprobe mhost")
		}
		os.Exit(1)
	}
}

// serve echoes count datagrams (0: any number) until ctx is done.
func serve(ctx context.Context, port uint16, count int) error {
	c, err := mhost.Listen(port)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(os.Stderr, "mhost-server: listening on %v\n", c.LocalAddr())

	buf := make([]byte, mhost.MaxPayload)
	for i := 0; count == 0 || i < count; i++ {
		n, from, err := c.ReadFromContext(ctx, buf)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		result := "echoed"
		if _, err := c.WriteToContext(ctx, buf[:n], from); err != nil {
			result = "not echoed: " + err.Error()
		}
		fmt.Printf("from %v over %s: %s (%d bytes) -> %s\n", from, mhost.NetworkLayer(from), quote(buf[:n]), n, result)
	}
	return nil
}

// quote quotes a payload for printing, cutting long ones short.
func quote(p []byte) string {
	const max = 64
	if len(p) <= max {
		return strconv.Quote(string(p))
	}
	return strconv.Quote(string(p[:max])) + "..."
}
