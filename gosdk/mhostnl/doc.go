// Package mhostnl controls the mhost kernel module over its generic
// netlink family "mhost": the host table that maps host identifiers to
// locators, the network layers mhost can use, the devices plugged-in
// layers may use, its open sockets, path liveness and its counters, and
// the events that announce changes.
//
// The name says what the package speaks, netlink, and keeps it apart from
// package mhost (the AF_MHOST sockets) and from the mhostctl command built
// on it.
//
// A Client works in one network namespace, the one it was opened in:
//
//	c, err := mhostnl.Dial(nil)
//	if errors.Is(err, mhostnl.ErrNotLoaded) {
//		log.Fatal("run modprobe mhost")
//	}
//	defer c.Close()
//
//	err = c.AddHost(mhostnl.Host{ID: 7, Locators: []mhostnl.Locator{
//		{Addr: netip.MustParseAddr("fd00::2")},
//		{Addr: netip.MustParseAddr("10.0.0.2")},
//	}})
//	if errors.Is(err, os.ErrPermission) {
//		log.Fatal("needs CAP_NET_ADMIN")
//	}
//
// Reads are open to everyone; changes need CAP_NET_ADMIN in the namespace.
// The kernel's errors come back as *Error, which carries the errno and the
// kernel's explanation (its extended acknowledgement).
//
// # Host table semantics
//
// A host has 1 to MaxLocators locators, tried in order. AddHost creates
// a host and fails if it exists, SetHost creates or replaces, ReplaceHost
// only replaces, and AppendLocators adds to the end of the list (creating
// the host if asked to). They differ only in the flags of their request.
// AddHosts and SetHosts do the same for many hosts at once, several
// requests per system call.
//
// # Devices
//
// Frames of plugged-in network layers are read from, and sent over, only
// the devices an administrator enabled: SetDevice(ifindex, true) does it,
// Devices lists the enabled ones, and a Watcher reports EventDevSet and,
// when an enabled device goes away, EventDevDel.
//
// # Path liveness
//
// The kernel watches the locators of the hosts a namespace sends to:
// each Locator a Host read back carries its State (LocatorUp, ...), the
// Cause of its last change, when it was last heard from and its probes'
// round trip. Failover to the next locator and failback follow the
// knobs: the namespace's (Client.Liveness, Client.SetLiveness) unless a
// host has its own (Host.Live). A Watcher reports each change of state
// as an EventLocatorState.
//
// # Consistent reads
//
// The kernel sends a dump (Hosts, Protocols, Sockets, Devices) over as many
// messages as it needs, and flags it when the table changed in between;
// the Client then reads it again, so that what it returns is the table at
// one moment. The flag may come on the dump's final NLMSG_DONE alone,
// which netlink.Conn drops: a Client from Dial reads its socket through a
// wrapper that sees it.
//
// # Tests
//
// New takes the connection genltest.Dial gives, for programs testing
// their use of a Client without the kernel.
//
// # Other systems
//
// The package builds everywhere; Dial fails with an error wrapping
// errors.ErrUnsupported where there is no Linux.
package mhostnl
