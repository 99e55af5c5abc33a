/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The mhost L3 plug-in API: how a module adds a network layer that
 * AF_MHOST sockets can send over and receive from, next to IPv4 and IPv6.
 *
 * On the wire a plugged L3 travels in Ethernet frames of ethertype
 * ETH_P_MHOST (0x8888). Its header must start with its family number as
 * a big-endian u16, which is how mhost hands a frame to its protocol;
 * the UDP header and the payload follow the L3 header.
 *
 * A protocol's sockaddr starts like sockaddr_in: the family (u16, host
 * order) and the port (__be16). mhost reads and writes the port there;
 * the rest is the protocol's own, at most MHOST_L3_SOCKADDR_MAX bytes in
 * all.
 *
 * Calling rules: mhost calls ->check_addr, ->locator_to_addr,
 * ->addr_to_locator and ->sendmsg inside RCU read-side sections, and
 * ->rcv from the receive softirq; none may sleep. Unregistering waits
 * for every call in flight, so a protocol module can be unloaded at
 * any time: sends to its family then fail with EAFNOSUPPORT and host
 * ids fail over to their next locator.
 */
#ifndef _NET_MHOST_H
#define _NET_MHOST_H

#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <linux/socket.h>
#include <uapi/linux/mhost.h>

/* Plugged L3 family numbers are 1..MHOST_PROTO_FAMILY_MAX. */
#define MHOST_PROTO_FAMILY_MAX	255
/* Most protocols registered at once: each namespace counts each one. */
#define MHOST_MAX_PROTOS	16
#define MHOST_L3_SOCKADDR_MAX	28
/* Longest locator address of any network layer. */
#define MHOST_L3_ADDR_MAX	16
/* Room a protocol may need in front of the UDP header. */
#define MHOST_L3_HEADROOM	32

/* The start every plugged L3 sockaddr shares. */
struct mhost_l3_sockaddr {
	__kernel_sa_family_t	family;
	__be16			port;
};

struct mhost_proto {
	u16		family;
	const char	*name;
	struct module	*owner;
	/* Bytes of a locator address (host table, reverse mapping). */
	unsigned int	addr_len;
	/* Bytes of the protocol's sockaddr. */
	unsigned int	sockaddr_len;

	/*
	 * Checks a destination from user space; its length is at least
	 * sockaddr_len and family and port are already checked.
	 */
	int (*check_addr)(const struct sockaddr *sa);
	/* Builds a sockaddr (family, port set by mhost) from a locator. */
	void (*locator_to_addr)(const u8 *addr, int ifindex,
				struct sockaddr *sa);
	/* The locator address of a sockaddr, addr_len bytes. */
	void (*addr_to_locator)(const struct sockaddr *sa, u8 *addr);
	/*
	 * Sends @skb, whose data starts at the UDP header, to @sa: pushes
	 * the L3 header and calls mhost_send_to_l2(). Always consumes @skb.
	 * ENETDOWN, ENODEV, ENETUNREACH and the like make a host id fail
	 * over to its next locator.
	 */
	int (*sendmsg)(struct net *net, struct sk_buff *skb,
		       const struct sockaddr *sa);
	/*
	 * Receives a frame whose data starts at the L3 header: validates
	 * and pulls the header, then passes the frame and its source to
	 * mhost_send_to_l4() and returns what it returns. Returns a
	 * negative errno without consuming @skb if the header is bad;
	 * mhost then drops and counts the frame.
	 */
	int (*rcv)(struct sk_buff *skb);

	/* Private to mhost: where each namespace counts its datagrams. */
	unsigned int	slot;
};

/*
 * Registering fails with -EINVAL for a protocol that is not well formed,
 * -EEXIST if its family is taken and -ENOSPC beyond MHOST_MAX_PROTOS.
 * Unregistering a protocol that is not registered does nothing.
 */
int mhost_register_proto(struct mhost_proto *proto);
void mhost_unregister_proto(struct mhost_proto *proto);

/*
 * Sends @skb (data at the L3 header) on @dev to the link-layer address
 * @daddr under ETH_P_MHOST. Always consumes @skb.
 */
int mhost_send_to_l2(struct sk_buff *skb, struct net_device *dev,
		     const void *daddr);

/*
 * Delivers @skb (data at the UDP header) that came from @src, a
 * sockaddr of the protocol, to the AF_MHOST socket bound to its
 * destination port. Always consumes @skb; returns 0 or NET_RX_DROP.
 */
int mhost_send_to_l4(struct sk_buff *skb, const struct sockaddr *src);

#endif /* _NET_MHOST_H */
