// Command mhost-client sends a datagram over AF_MHOST and waits for its
// echo, as mhost-server sends it.
//
// Usage:
//
//	mhost-client [-timeout 2s] ADDR MESSAGE
//
// ADDR is an IPv4 or IPv6 address and port (127.0.0.1:7000, [::1]:7000)
// or a host id and port (hid(7):7000, also written hid:7:7000). It prints
// what went where and what came back:
//
//	sent 5 bytes to [::1]:7000 over IPv6 from *:41234; reply "hello" from [::1]:7000 over IPv6
//
// It exits 1 when no matching reply comes back in time, or on any other
// error, and 2 on bad usage. It needs the mhost kernel module.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/mnet/mnet/gosdk/mhost"
)

func main() {
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), `Usage: mhost-client [-timeout D] ADDR MESSAGE

Send MESSAGE in one datagram over an AF_MHOST socket to ADDR, and wait for
its echo. ADDR is IP:PORT (127.0.0.1:7000, [::1]:7000) or a host id and
port (hid(7):7000 or hid:7:7000).

`)
		flag.PrintDefaults()
	}
	timeout := flag.Duration("timeout", 2*time.Second, "how long to wait for the reply")
	flag.Parse()
	if flag.NArg() != 2 || *timeout <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	addr, err := mhost.ParseAddr(flag.Arg(0))
	if err != nil {
		fmt.Fprintf(os.Stderr, "mhost-client: %v\n", err)
		os.Exit(2)
	}

	line, err := run(addr, []byte(flag.Arg(1)), *timeout)
	if line != "" {
		fmt.Println(line)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mhost-client: %v\n", err)
		if errors.Is(err, mhost.ErrNotLoaded) {
			fmt.Fprintln(os.Stderr, "mhost-client: load the module first: modprobe mhost")
		}
		os.Exit(1)
	}
}

// run sends msg to addr and waits for its echo. It returns the line to
// print, which says how far it got.
func run(addr net.Addr, msg []byte, timeout time.Duration) (string, error) {
	c, err := mhost.Dial(addr)
	if err != nil {
		return "", err
	}
	defer c.Close()

	n, err := c.Write(msg)
	if err != nil {
		return "", err
	}
	line := fmt.Sprintf("sent %d bytes to %v over %s from %v", n, addr, mhost.NetworkLayer(addr), c.LocalAddr())

	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return line, err
	}
	buf := make([]byte, mhost.MaxPayload)
	n, from, err := c.ReadFrom(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return line, fmt.Errorf("no reply from %v within %v", addr, timeout)
	}
	if err != nil {
		return line, err
	}
	line += fmt.Sprintf("; reply %q from %v over %s", buf[:n], from, mhost.NetworkLayer(from))
	if string(buf[:n]) != string(msg) {
		return line, fmt.Errorf("the reply is not the echo of %q", msg)
	}
	return line, nil
}
