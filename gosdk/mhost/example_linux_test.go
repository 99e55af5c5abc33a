package mhost_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mnet/mnet/gosdk/mhost"
)

// An echo server: one socket answers IPv4, IPv6 and host-id peers alike,
// each over the network layer it came by.
func ExampleListen() {
	c, err := mhost.Listen(7000)
	if err != nil {
		if errors.Is(err, mhost.ErrNotLoaded) {
			log.Fatal("load the module first: modprobe mhost")
		}
		log.Fatal(err)
	}
	defer c.Close()

	buf := make([]byte, mhost.MaxPayload)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d bytes from %v over %s\n", n, from, mhost.NetworkLayer(from))
		if _, err := c.WriteTo(buf[:n], from); err != nil {
			log.Print(err)
		}
	}
}

// A client: Dial sets the default destination, and the answer may come
// from any address of the peer.
func ExampleDial() {
	c, err := mhost.Dial(&net.UDPAddr{IP: net.IPv6loopback, Port: 7000})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	if _, err := c.Write([]byte("hello")); err != nil {
		log.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, mhost.MaxPayload)
	n, from, err := c.ReadFrom(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		log.Fatal("no answer")
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q from %v\n", buf[:n], from)
}

// Sending to a host identifier: the kernel picks the first of the host's
// locators that works, and fails over when one stops working.
func ExampleHostAddr() {
	c, err := mhost.Listen(0)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_, err = c.WriteTo([]byte("hello"), &mhost.HostAddr{ID: 7, Port: 7000})
	if errors.Is(err, unix.EHOSTUNREACH) {
		log.Fatal("host 7 is not in the host table, or none of its locators works")
	} else if err != nil {
		log.Fatal(err)
	}
}

func ExampleHostAddr_String() {
	fmt.Println(&mhost.HostAddr{ID: 7, Port: 7000})
	fmt.Println(&mhost.HostAddr{Port: 41234}) // a local address
	// Output:
	// hid(7):7000
	// *:41234
}

func ExampleParseAddr() {
	for _, s := range []string{"192.0.2.1:7000", "[2001:db8::1]:7000", "hid(7):7000"} {
		addr, err := mhost.ParseAddr(s)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-20v %T over %s\n", addr, addr, mhost.NetworkLayer(addr))
	}
	// Output:
	// 192.0.2.1:7000       *net.UDPAddr over IPv4
	// [2001:db8::1]:7000   *net.UDPAddr over IPv6
	// hid(7):7000          *mhost.HostAddr over host id
}

// Reading with a context, for servers that shut down cleanly.
func ExampleConn_ReadFromContext() {
	c, err := mhost.Listen(7000)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	buf := make([]byte, mhost.MaxPayload)
	for {
		n, from, err := c.ReadFromContext(ctx, buf)
		if errors.Is(err, context.DeadlineExceeded) {
			return
		} else if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d bytes from %v\n", n, from)
	}
}

// Counting the datagrams the socket dropped for want of buffer space,
// with SO_RXQ_OVFL control messages.
func ExampleConn_ReadMsg() {
	c, err := mhost.Listen(7000)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	rc, err := c.SyscallConn()
	if err != nil {
		log.Fatal(err)
	}
	var serr error
	rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
	})
	if serr != nil {
		log.Fatal(serr)
	}

	buf, oob := make([]byte, mhost.MaxPayload), make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, flags, from, err := c.ReadMsg(buf, oob, 0)
		if err != nil {
			log.Fatal(err)
		}
		if flags&unix.MSG_TRUNC != 0 {
			log.Printf("datagram from %v truncated", from)
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_RXQ_OVFL {
				fmt.Printf("%d datagrams dropped so far\n", binary.NativeEndian.Uint32(m.Data))
			}
		}
		fmt.Printf("%d bytes from %v\n", n, from)
	}
}
