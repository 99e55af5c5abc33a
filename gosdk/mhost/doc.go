// Package mhost provides AF_MHOST datagram sockets: one socket, bound to
// one port, that sends to and receives from IPv4, IPv6, host identifiers
// and network-layer protocols plugged into the mhost kernel module.
//
// The package needs the mhost kernel module (mhost.ko) on Linux. It does
// not use cgo: it makes the system calls itself and waits for them through
// the Go runtime's network poller, so a Conn supports deadlines and
// contexts like a *net.UDPConn. Opening a socket when the module is not
// loaded fails with an error wrapping ErrNotLoaded. On other systems the
// package builds, and opening a socket fails with an error wrapping
// errors.ErrUnsupported ("AF_MHOST needs Linux").
//
// # Sockets
//
// Listen binds a socket to a port; it then receives on that port over
// every network layer at once:
//
//	c, err := mhost.Listen(7000)
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer c.Close()
//
//	buf := make([]byte, mhost.MaxPayload)
//	n, from, err := c.ReadFrom(buf)
//	if err != nil {
//		log.Fatal(err)
//	}
//	fmt.Printf("%d bytes from %v over %s\n", n, from, mhost.NetworkLayer(from))
//	_, err = c.WriteTo(buf[:n], from) // back the way it came
//
// Dial connects a socket to a default destination for Write and lets the
// kernel pick a local port. A dialed socket still receives from any
// source, unlike a connected UDP socket: a peer may answer over another
// network layer than the one the request took.
//
// Conn implements net.PacketConn, and net.Conn for dialed sockets. ReadMsg
// and WriteMsg reach the flags (MSG_PEEK, MSG_TRUNC, MSG_DONTWAIT) and
// control messages (such as the SO_RXQ_OVFL drop counter) of recvmsg(2)
// and sendmsg(2); SyscallConn reaches the rest, socket options included.
// An AF_MHOST socket is a socket of its own family (SO_DOMAIN reads
// AF_MHOST), carried over a kernel UDP socket: SOL_IP, SOL_IPV6 and
// SOL_UDP options go to that UDP socket, SOL_SOCKET ones are the AF_MHOST
// socket's and reach the UDP socket where they matter to it, and
// SOL_MHOST ones are mhost's.
//
// A Config opens sockets with more say: a Control hook run before the
// socket is bound or connected (for SO_BINDTODEVICE, buffer sizes, ...),
// SO_REUSEPORT (set as MHOST_REUSEPORT, which works on every kernel), and
// the network namespace to open it in. DialContext and
// the Context methods take a context that cancels that one call: neither
// other calls waiting on the Conn at the same time nor the deadlines set
// with SetReadDeadline and SetWriteDeadline.
//
// # Performance
//
// The data path allocates no more than net.UDPConn's. ReadFrom allocates
// the net.Addr it returns, WriteTo nothing; ReadFromAddrPort and
// WriteToAddrPort, for programs that talk IP, and ReadFromAddr and
// WriteToAddr, whose Addr is a comparable value for every kind of address,
// allocate nothing. IPv6 zones come from a cache of the interfaces, as in
// package net, not from the kernel on every datagram.
//
// ReadBatch and WriteBatch move many datagrams per system call
// (recvmmsg(2), sendmmsg(2)), and WriteToSegmented hands the kernel one
// buffer to split into datagrams (UDP segmentation offload), which costs
// less again. make bench measures each against net.UDPConn doing the
// same, in the same VM run.
//
// # Addresses
//
// The address of a datagram says which network layer carried it:
//
//   - *net.UDPAddr: IPv4 or IPv6. An IPv4 or IPv4-mapped IP is sent over
//     IPv4, any other over IPv6; an IPv6 Zone names the scope. Use
//     net.UDPAddrFromAddrPort to send to a netip.AddrPort.
//   - *HostAddr: a host identifier, which the kernel resolves through its
//     host table to one of several locators, failing over to the next when
//     one stops working. With ID 0 it is a local address: LocalAddr
//     reports one.
//   - *EthAddr: a peer of the example network layers FamilyTestProto and
//     FamilyOtherProto (modules mhost_testproto and mhost_otherproto),
//     reached on an Ethernet segment by interface and MAC address, with no
//     IP configured.
//   - *RawAddr: any other family, such as that of a network-layer protocol
//     this package predates. Reads never fail on an unknown family.
//
// Addr holds any of them as a comparable value, as netip.AddrPort does for
// IP; AddrFromNetAddr and Addr.NetAddr convert.
//
// ParseAddr reads the textual forms of destinations, and NetworkLayer names
// the layer of an address ("IPv4", "IPv6", ...) for messages.
//
// # Errors
//
// Methods return *net.OpError values (Net "mhost") wrapping the system
// call's *os.SyscallError, so errors.Is(err, unix.EHOSTUNREACH) and the
// like work. After Close, operations fail with net.ErrClosed; an expired
// deadline is os.ErrDeadlineExceeded, a timeout; a canceled context is the
// context's error.
//
// # Address family
//
// AF_MHOST is family Family (27) unless the module was loaded with another
// "family" parameter; FamilyInUse reports the number in use, which Listen
// and Dial use.
package mhost
