/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * AF_MHOST: one datagram socket over several network layers.
 *
 * This header is the single source of truth for the user API. The Go
 * SDK mirrors it and a unit test checks that the two agree.
 */
#ifndef _UAPI_LINUX_MHOST_H
#define _UAPI_LINUX_MHOST_H

#include <linux/types.h>
#include <linux/socket.h>

/*
 * Address family number. 27 is unused by in-tree socket families on the
 * kernels mhost targets; the module parameter "family" can move it.
 */
#define AF_MHOST	27
#define PF_MHOST	AF_MHOST

/*
 * Ethertype carrying the frames of plugged-in (non-IP) L3 protocols.
 *
 * A frame is the L3 header (starting with the L3 family, a big-endian
 * u16), a UDP header and the payload. The UDP checksum is mandatory: it
 * is the 16-bit ones' complement of the ones' complement sum of a
 * pseudo-header made of the L3 family and the UDP length (two big-endian
 * u16s), then the UDP header (checksum field 0) and the payload; a
 * result of 0 is sent as 0xffff. A frame whose checksum is 0 or wrong is
 * dropped (MHOST_STATS_A_RX_L3_BAD_CSUM).
 *
 * Policy: frames are sent and parsed only on devices an administrator
 * enabled for plugged L3s in the namespace (MHOST_CMD_DEV_SET below);
 * elsewhere a send fails with ENETUNREACH and a received frame is dropped
 * unparsed (MHOST_STATS_A_RX_L3_DEV_DISABLED).
 * A socket bound to a device (SO_BINDTODEVICE, or a VRF) sends only on
 * it (ENETUNREACH otherwise) and receives only from it. Sending to an
 * Ethernet group address (broadcast, multicast) needs CAP_NET_RAW in
 * the namespace (EPERM otherwise), as a raw socket would: it reaches
 * every host of the segment. Unicast sends need no capability: the
 * administrator's opt-in of the device is the gate, as the routing table
 * is for MCTP.
 */
#define ETH_P_MHOST	0x8888

/*
 * Largest payload of one datagram. It is the smallest limit of the L3s
 * mhost can pick (IPv4: 65535 - 20 - 8), so that a host id failing over
 * from IPv6 to IPv4 never changes which sizes succeed.
 */
#define MHOST_MAX_PAYLOAD	65507

/**
 * struct sockaddr_mhost - an AF_MHOST address
 * @smh_family: AF_MHOST
 * @smh_port: UDP-style port, network byte order
 * @smh_hid: host identifier, host byte order; 0 means none
 * @smh_zero: must be zero, or the call fails with EINVAL
 *
 * bind() takes one with @smh_hid 0: the socket then receives on @smh_port
 * from every L3 at once. sendto() and connect() take one with a non-zero
 * @smh_hid, which the kernel resolves through the host table.
 */
struct sockaddr_mhost {
	__kernel_sa_family_t	smh_family;
	__be16			smh_port;
	__u32			smh_hid;
	__u8			smh_zero[8];
};

/*
 * The example L3 protocols in kmod/protos (modules mhost_testproto and
 * mhost_otherproto), numbered as in the original mnet. They reach a peer
 * on an Ethernet segment by interface and MAC address, with no IP.
 */
#define AF_TESTPROTO	1
#define AF_OTHERPROTO	3

/**
 * struct sockaddr_mhost_eth - address of the example L3 protocols
 * @sme_family: AF_TESTPROTO or AF_OTHERPROTO
 * @sme_port: UDP-style port, network byte order
 * @sme_ifindex: interface to send on, or that received
 * @sme_addr: the peer's MAC address
 * @sme_zero: must be zero
 *
 * In the host table, such a locator's address is the 6-byte MAC and its
 * ifindex the interface.
 */
struct sockaddr_mhost_eth {
	__kernel_sa_family_t	sme_family;
	__be16			sme_port;
	__u32			sme_ifindex;
	__u8			sme_addr[6];
	__u8			sme_zero[2];
};

/*
 * Socket options at level SOL_MHOST (an mhost-private level: the socket
 * intercepts it before anything else sees it).
 *
 * MHOST_RECVHOSTID (int, default 0): when non-zero, recvfrom() reports
 * the source as a struct sockaddr_mhost carrying the host id (and the
 * source port) whenever the source address is a locator of a host in
 * the host table, so that a server can answer the host rather than the
 * path. Other sources are reported as usual. A locator with a port
 * (MHOST_LOC_A_PORT) names its host only for datagrams from that port,
 * and wins over a locator of the same address without one.
 */
#define SOL_MHOST		299
#define MHOST_RECVHOSTID	1
/*
 * MHOST_REUSEPORT (int, default 0): SO_REUSEPORT for AF_MHOST sockets,
 * set before bind(): sockets of one user bound to one port share it and
 * its datagrams, spread by flow. SO_REUSEPORT itself works only where
 * the kernel lets a socket family see SOL_SOCKET options (6.12 does);
 * elsewhere (6.1) the socket layer refuses it for every family but IPv4
 * and IPv6, with EOPNOTSUPP. This option works on every kernel, and
 * getsockopt(SO_REUSEPORT) reads the same setting.
 */
#define MHOST_REUSEPORT		2

/* ---- Generic netlink family "mhost" ---- */

#define MHOST_GENL_NAME		"mhost"
#define MHOST_GENL_VERSION	1
#define MHOST_GENL_MCGRP_EVENTS	"events"

/* Most locators one host may have. */
#define MHOST_MAX_LOCATORS	8

/*
 * Commands. Reads are open to everyone; changes need CAP_NET_ADMIN in
 * the network namespace the socket belongs to.
 *
 * MHOST_CMD_HOST_NEW, with MHOST_A_HOST_FLAGS (absent means 0):
 *   host missing: MHOST_HOST_F_CREATE creates it, otherwise ENOENT;
 *   host present: MHOST_HOST_F_REPLACE replaces its locators,
 *   MHOST_HOST_F_APPEND adds to the end of them, otherwise EEXIST.
 *   REPLACE and APPEND together are EINVAL. (Generic netlink does not
 *   give nlmsg_flags such as NLM_F_REPLACE a meaning: hence the
 *   attribute.)
 * MHOST_CMD_HOST_DEL: deletes MHOST_A_HOST_ID (ENOENT if missing).
 * MHOST_CMD_HOST_GET: one host (MHOST_A_HOST_ID) or, as a dump, all.
 * MHOST_CMD_HOST_FLUSH: deletes every host of the namespace.
 * Every change is announced to the "events" group as a HOST_NEW (with
 * the host as it now is), HOST_DEL or HOST_FLUSH message.
 *
 * A locator's MHOST_LOC_A_IFINDEX names a device of the namespace. When
 * that device goes away (it is deleted or moves to another namespace),
 * the locators naming it are removed from their hosts, as the kernel
 * removes the routes through a vanished device, so that they never name
 * a later device given the same index; a host left without locators is
 * deleted. Each such change is announced as a HOST_NEW or HOST_DEL.
 *
 * Devices. Plugged-L3 traffic (ETH_P_MHOST frames) flows only on the
 * devices an administrator enabled, per device and per namespace: frames
 * arriving on any other device are dropped unparsed (counted in
 * MHOST_STATS_A_RX_L3_DEV_DISABLED), and a send over one fails with
 * ENETUNREACH, which moves a host id on to its next locator. IP traffic
 * is not affected.
 * MHOST_CMD_DEV_SET: MHOST_A_DEV with MHOST_DEV_A_IFINDEX and
 *   MHOST_DEV_A_L3 (0 or 1) disables or enables the device.
 * MHOST_CMD_DEV_GET: the device MHOST_A_DEV/MHOST_DEV_A_IFINDEX or, as
 *   a dump, every device of the namespace that is enabled.
 * A change of state is announced to the "events" group as a DEV_SET with
 * the device as it now is. A device's state goes with it when it is
 * deleted or moves to another namespace (it arrives there disabled),
 * announced as a MHOST_CMD_DEV_DEL, which is an event only.
 *
 * Path liveness (see "Path liveness" below). MHOST_CMD_LIVE_GET reads
 * and MHOST_CMD_LIVE_SET changes the namespace's settings, in
 * MHOST_A_LIVE; a host's own knobs ride on MHOST_CMD_HOST_NEW in
 * MHOST_A_HOST_LIVE. A locator changing state is announced to the
 * "events" group as a MHOST_CMD_LOC_STATE, an event only: MHOST_A_HOST_ID
 * and MHOST_A_HOST_LOCATORS with that one locator, its new state
 * (MHOST_LOC_A_STATE), the one before (MHOST_LOC_A_PREV_STATE) and the
 * cause (MHOST_LOC_A_CAUSE).
 */
enum mhost_cmd {
	MHOST_CMD_UNSPEC,
	MHOST_CMD_PROTO_GET,	/* dump: the network layers mhost can use */
	MHOST_CMD_HOST_NEW,
	MHOST_CMD_HOST_DEL,
	MHOST_CMD_HOST_GET,
	MHOST_CMD_HOST_FLUSH,
	MHOST_CMD_SOCK_GET,	/* dump: open AF_MHOST sockets */
	MHOST_CMD_STATS_GET,	/* the namespace's counters */
	MHOST_CMD_DEV_GET,
	MHOST_CMD_DEV_SET,
	MHOST_CMD_DEV_DEL,	/* event only */
	MHOST_CMD_LIVE_GET,	/* the namespace's liveness settings */
	MHOST_CMD_LIVE_SET,
	MHOST_CMD_LOC_STATE,	/* event only: a locator changed state */
	__MHOST_CMD_MAX,
};
#define MHOST_CMD_MAX (__MHOST_CMD_MAX - 1)

/* Top-level attributes. */
enum mhost_attr {
	MHOST_A_UNSPEC,
	MHOST_A_PAD,
	MHOST_A_HOST_ID,	/* u32, non-zero */
	MHOST_A_HOST_LOCATORS,	/* nest: MHOST_A_LOCATOR entries, in order */
	MHOST_A_PROTO,		/* nest: enum mhost_proto_attr */
	MHOST_A_SOCK,		/* nest: enum mhost_sock_attr */
	MHOST_A_STATS,		/* nest: enum mhost_stats_attr */
	MHOST_A_HOST_FLAGS,	/* u32: MHOST_HOST_F_*, HOST_NEW only */
	MHOST_A_DEV,		/* nest: enum mhost_dev_attr */
	/* nest: enum mhost_live_attr, a host's own liveness knobs */
	MHOST_A_HOST_LIVE,
	/* nest: enum mhost_live_attr, the namespace's liveness settings */
	MHOST_A_LIVE,
	__MHOST_A_MAX,
};
#define MHOST_A_MAX (__MHOST_A_MAX - 1)

/* MHOST_A_HOST_FLAGS */
#define MHOST_HOST_F_CREATE	0x1
#define MHOST_HOST_F_REPLACE	0x2
#define MHOST_HOST_F_APPEND	0x4

/* Entries of MHOST_A_HOST_LOCATORS; any other type is rejected. */
#define MHOST_A_LOCATOR		1	/* nest: enum mhost_loc_attr */

enum mhost_loc_attr {
	MHOST_LOC_A_UNSPEC,
	MHOST_LOC_A_PAD,
	MHOST_LOC_A_FAMILY,	/* u16: AF_INET, AF_INET6 or a plugged L3 */
	/* binary: 4 bytes (inet), 16 (inet6), or the plugged L3's length */
	MHOST_LOC_A_ADDR,
	/* u16, optional: send to this port, not the application's */
	MHOST_LOC_A_PORT,
	/* u32, optional: the device (inet6 scope, plugged L3); not inet */
	MHOST_LOC_A_IFINDEX,
	MHOST_LOC_A_TX_PACKETS,	/* u64, read only: datagrams it carried */
	MHOST_LOC_A_TX_ERRORS,	/* u64, read only: sends that failed on it */
	/* Path liveness, read only: */
	MHOST_LOC_A_STATE,	/* u8: enum mhost_loc_state */
	MHOST_LOC_A_CAUSE,	/* u8: enum mhost_loc_cause, of the last change */
	/* u32: milliseconds since it was last heard from; absent if never */
	MHOST_LOC_A_LAST_HEARD_MS,
	/* u32: milliseconds since its last change of state; absent if none */
	MHOST_LOC_A_CHANGED_MS,
	/* u32: smoothed probe round trip and its variation (RFC 6298), in
	 * microseconds; absent before the first answered probe
	 */
	MHOST_LOC_A_RTT_US,
	MHOST_LOC_A_RTTVAR_US,
	MHOST_LOC_A_FLAPS,	/* u32: times it went from up to down */
	/* u32: milliseconds of hold-down left before traffic may come back
	 * to it; absent if none
	 */
	MHOST_LOC_A_HOLD_MS,
	MHOST_LOC_A_PREV_STATE,	/* u8: the state before, MHOST_CMD_LOC_STATE only */
	__MHOST_LOC_A_MAX,
};
#define MHOST_LOC_A_MAX (__MHOST_LOC_A_MAX - 1)

enum mhost_proto_attr {
	MHOST_PROTO_A_UNSPEC,
	MHOST_PROTO_A_PAD,
	MHOST_PROTO_A_FAMILY,	/* u16 */
	MHOST_PROTO_A_NAME,	/* string */
	MHOST_PROTO_A_MODULE,	/* string: owning module, "kernel" if built in */
	MHOST_PROTO_A_ADDR_LEN,	/* u32: locator address length */
	/* u64: datagrams this namespace sent and received over it */
	MHOST_PROTO_A_TX_PACKETS,
	MHOST_PROTO_A_RX_PACKETS,
	__MHOST_PROTO_A_MAX,
};
#define MHOST_PROTO_A_MAX (__MHOST_PROTO_A_MAX - 1)

enum mhost_sock_attr {
	MHOST_SOCK_A_UNSPEC,
	MHOST_SOCK_A_PAD,
	MHOST_SOCK_A_PORT,	/* u16, 0 if not bound yet */
	MHOST_SOCK_A_UID,	/* u32, in the requester's user namespace */
	MHOST_SOCK_A_INODE,	/* u64 */
	MHOST_SOCK_A_RMEM,	/* u32: bytes queued to read */
	MHOST_SOCK_A_WMEM,	/* u32: bytes queued to send */
	MHOST_SOCK_A_DROPS,	/* u32: datagrams dropped on receive */
	MHOST_SOCK_A_PEER_HOST_ID,	/* u32: connect()ed host id, if any */
	__MHOST_SOCK_A_MAX,
};
#define MHOST_SOCK_A_MAX (__MHOST_SOCK_A_MAX - 1)

enum mhost_stats_attr {
	MHOST_STATS_A_UNSPEC,
	MHOST_STATS_A_PAD,
	MHOST_STATS_A_HOSTS,		/* u32: hosts in this namespace */
	MHOST_STATS_A_SOCKETS,		/* u32: AF_MHOST sockets here */
	MHOST_STATS_A_TX_HOSTID,	/* u64: datagrams sent to host ids */
	MHOST_STATS_A_TX_FAILOVER,	/* u64: locators skipped on failure */
	MHOST_STATS_A_TX_UNREACH,	/* u64: host-id sends with no path */
	MHOST_STATS_A_RX_L3_UNKNOWN,	/* u64: 0x8888 frames no L3 claimed */
	/*
	 * u64: host entries of this namespace not yet freed: its hosts,
	 * plus versions replaced or deleted that a sender still holds or
	 * that wait for an RCU grace period. Once the namespace is quiet it
	 * equals MHOST_STATS_A_HOSTS; more means a leak. (It used to count
	 * the entries of all namespaces: nothing global is visible from a
	 * namespace. The module-wide count is in debugfs:
	 * mhost/hosts_allocated.)
	 */
	MHOST_STATS_A_HOSTS_ALLOCATED,
	MHOST_STATS_A_TX_L3,		/* u64: sent over plugged L3s */
	MHOST_STATS_A_RX_L3,		/* u64: delivered from plugged L3s */
	/* 0x8888 frames dropped, by reason: */
	MHOST_STATS_A_RX_L3_SHORT,	/* u64: too short for a header */
	MHOST_STATS_A_RX_L3_BAD_HEADER,	/* u64: the L3 rejected its header */
	MHOST_STATS_A_RX_L3_BAD_LEN,	/* u64: UDP length below 8 */
	MHOST_STATS_A_RX_L3_TRUNCATED,	/* u64: UDP length beyond the frame */
	MHOST_STATS_A_RX_L3_NO_SOCKET,	/* u64: no AF_MHOST socket on port */
	MHOST_STATS_A_RX_L3_BAD_CSUM,	/* u64: UDP checksum wrong or 0 */
	/* u64: arrived on a device not enabled for plugged L3s (unparsed) */
	MHOST_STATS_A_RX_L3_DEV_DISABLED,
	/* Path liveness: */
	MHOST_STATS_A_LIVE_HOSTS,	/* u32: hosts being watched (recent sends) */
	MHOST_STATS_A_PROBES_SENT,	/* u64: probe requests sent */
	MHOST_STATS_A_PROBES_ANSWERED,	/* u64: of those, answered */
	MHOST_STATS_A_PROBES_MISSED,	/* u64: of those, not answered in time */
	MHOST_STATS_A_LOC_CHANGES,	/* u64: locator state changes */
	/* u64: failures signalled (ICMP, neighbour, link) for a locator */
	MHOST_STATS_A_LOC_SIGNALS,
	/* u64: of those, refuted by a probe answered: nothing moved */
	MHOST_STATS_A_LOC_SIGNALS_IGNORED,
	MHOST_STATS_A_PROBE_REPLIES,	/* u64: requests of peers answered */
	/* u64: requests not answered: rate limit per source, or switched off */
	MHOST_STATS_A_PROBE_REPLIES_LIMITED,
	/* u64: probe messages dropped: malformed, unknown nonce, wrong source */
	MHOST_STATS_A_PROBES_BAD,
	__MHOST_STATS_A_MAX,
};
#define MHOST_STATS_A_MAX (__MHOST_STATS_A_MAX - 1)

enum mhost_dev_attr {
	MHOST_DEV_A_UNSPEC,
	MHOST_DEV_A_PAD,
	MHOST_DEV_A_IFINDEX,	/* u32: the device, in the namespace */
	MHOST_DEV_A_NAME,	/* string, read only */
	MHOST_DEV_A_L3,		/* u8: 1 if plugged-L3 traffic is enabled */
	__MHOST_DEV_A_MAX,
};
#define MHOST_DEV_A_MAX (__MHOST_DEV_A_MAX - 1)

/* ---- Path liveness ---- */

/*
 * Each locator of a host the namespace sends to has a state. Sends to a
 * host id take the first locator, in the host's order, that is usable:
 * not DOWN, and not held down after coming back (below); when none is,
 * the held-down ones, then the DOWN ones, in order, since a probe may be
 * wrong. A local failure to send still moves on to the next one within
 * the same call.
 *
 * What moves a locator:
 * - A datagram received from its address: it is UP (from UNKNOWN), and
 *   needs no probe while traffic keeps coming. (This proves the way
 *   back only: it never brings a SUSPECT or DOWN locator back up.)
 * - Probes (below), while the host is being sent to: every interval when
 *   the locator in use has been silent that long, and then every 4
 *   intervals on the others too; none while traffic comes back on the
 *   one in use. A probe is missed after the smoothed round trip and four
 *   times its variation, but at least 100 ms and at most 2/5 of the
 *   interval. One missed makes the locator SUSPECT and probed in rounds
 *   of two, one round per timeout; multiplier rounds missed whole make it
 *   DOWN. DOWN locators keep being probed (every 3/4 interval, backing off
 *   after 10 s), and an answer brings them UP.
 * - A failure signalled by the network: an ICMP or ICMPv6 destination
 *   unreachable (but port unreachable) for its address, its next hop's
 *   neighbour entry failing, or the local link it leaves by losing its
 *   carrier or going down. It becomes SUSPECT at once and is sent two
 *   probes due within the smoothed round trip plus four times its
 *   variation, at least 10 ms and at most 30 ms more (before any round
 *   trip is measured: the probe timeout above): unanswered, it is DOWN;
 *   answered, it is UP again and the signal is counted as ignored
 *   (MHOST_STATS_A_LOC_SIGNALS_IGNORED). So a forged ICMP error moves no
 *   traffic while the path answers within that time.
 * A path that fails from here (no route, a device down or not enabled, a
 * network layer unloaded) is no liveness news: every send tries it and
 * moves on, and it carries traffic again the moment it works.
 *
 * A namespace watches up to 1024 hosts, the first it sends to; the
 * others are sent to as if liveness were off. A watched host with no
 * send for 5 seconds is idle (not probed) until the next send; after a
 * minute idle, its place is free for another.
 *
 * Failback: when revertive (the default), a locator that came back is
 * held down for hold-down before traffic returns to it; each flap (UP to
 * DOWN) doubles its next hold-down, up to 32 times, and the penalty
 * decays by one flap per 4 hold-downs it stays UP. When not revertive,
 * traffic stays on the locator it moved to until that one fails.
 */
enum mhost_loc_state {
	MHOST_LOC_STATE_UNKNOWN,	/* nothing heard, nothing missed */
	MHOST_LOC_STATE_UP,
	MHOST_LOC_STATE_SUSPECT,	/* a probe missed or a failure signalled */
	MHOST_LOC_STATE_DOWN,
};

enum mhost_loc_cause {
	MHOST_LOC_CAUSE_NONE,		/* never changed */
	MHOST_LOC_CAUSE_TRAFFIC,	/* a datagram came from it */
	MHOST_LOC_CAUSE_PROBE_REPLY,	/* a probe was answered */
	MHOST_LOC_CAUSE_PROBE_TIMEOUT,	/* probes went unanswered */
	MHOST_LOC_CAUSE_ICMP,		/* an ICMP or ICMPv6 unreachable */
	MHOST_LOC_CAUSE_NEIGH,		/* its next hop's neighbour failed */
	MHOST_LOC_CAUSE_LINK,		/* the local link went down */
};

/*
 * The liveness knobs (MHOST_A_LIVE for the namespace, MHOST_A_HOST_LIVE
 * for one host, whose unset knobs follow the namespace's).
 * MHOST_CMD_HOST_NEW with MHOST_A_HOST_LIVE sets the host's knobs to
 * exactly those given; without it, a replaced or appended host keeps
 * its own and a created one has none.
 */
enum mhost_live_attr {
	MHOST_LIVE_A_UNSPEC,
	MHOST_LIVE_A_PAD,
	/* u32: probe interval in ms, 10 to 60000; 0 turns liveness off */
	MHOST_LIVE_A_INTERVAL_MS,
	MHOST_LIVE_A_MULTIPLIER,	/* u8: missed probes after SUSPECT, 1 to 20 */
	MHOST_LIVE_A_HOLD_DOWN_MS,	/* u32: 0 to 60000 */
	MHOST_LIVE_A_REVERTIVE,		/* u8: 0 or 1 */
	/* Namespace only: */
	MHOST_LIVE_A_PORT,		/* u16: the probe port, 1 to 65535 */
	MHOST_LIVE_A_ANSWER,		/* u8: 1 answers the probes of peers */
	/* u32, read only: why the probe port could not be bound (an errno),
	 * 0 when it is
	 */
	MHOST_LIVE_A_PORT_ERROR,
	__MHOST_LIVE_A_MAX,
};
#define MHOST_LIVE_A_MAX (__MHOST_LIVE_A_MAX - 1)

/* The defaults, which meet the goals the README lists. */
#define MHOST_LIVE_INTERVAL_MS		250
#define MHOST_LIVE_MULTIPLIER		3
#define MHOST_LIVE_HOLD_DOWN_MS		1000

/*
 * The probe protocol. Two mhost stacks check a path between them with a
 * request and a reply, each one UDP datagram to and from the probe port
 * (MHOST_PROBE_PORT by default; MHOST_LIVE_A_PORT changes it per
 * namespace). Over a plugged L3 the same datagram travels as any other
 * (ETH_P_MHOST above) to the same port.
 *
 * The payload is a struct mhost_probe, all of it big-endian; a receiver
 * ignores anything after it. A request carries a random nonce and the
 * requester's timestamp (its own clock, opaque to the peer). The peer
 * answers with a reply carrying both back unchanged, sent from the
 * address and port the request came to, to the address and port it came
 * from. A reply
 * counts only if its nonce is that of a request still outstanding, and
 * it comes from the address and the probe port the request went to; so
 * only the real peer, which saw the request, can answer it.
 *
 * Requests with another version, type or non-zero reserved field are not
 * answered, so that later versions can find out what a peer speaks.
 * Replies are rate-limited per source address (200 a second, in bursts
 * of up to 50), and a namespace may not
 * answer at all (MHOST_LIVE_A_ANSWER 0): its peers' locators for it then
 * go DOWN, and, all being DOWN, are used in order as before.
 */
#define MHOST_PROBE_PORT	7867
#define MHOST_PROBE_VERSION	1
#define MHOST_PROBE_REQUEST	1
#define MHOST_PROBE_REPLY	2

struct mhost_probe {
	__u8	mp_version;	/* MHOST_PROBE_VERSION */
	__u8	mp_type;	/* MHOST_PROBE_REQUEST or MHOST_PROBE_REPLY */
	__be16	mp_flags;	/* none defined: 0 */
	__be32	mp_reserved;	/* 0 */
	__be64	mp_nonce;	/* random, chosen by the requester */
	__be64	mp_stamp;	/* the requester's, echoed back */
};

#endif /* _UAPI_LINUX_MHOST_H */
