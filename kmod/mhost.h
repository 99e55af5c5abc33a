/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal declarations shared by the files of mhost.ko.
 */
#ifndef _MHOST_H
#define _MHOST_H

#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ipv6.h>
#include <linux/netdevice.h>
#include <linux/rhashtable-types.h>
#include <linux/udp.h>
#include <linux/xarray.h>
#include <net/ip.h>
#include <net/netns/generic.h>
#include <net/sock.h>
#include <net/mhost.h>
#include <uapi/linux/mhost.h>

#include "compat.h"

/* The address family number in use (module parameter "family"). */
extern int mhost_family;

/* A destination: whatever a sendto() or connect() named. */
union mhost_addr {
	struct sockaddr			sa;
	struct sockaddr_in		in;
	struct sockaddr_in6		in6;
	struct sockaddr_mhost		mh;
	struct mhost_l3_sockaddr	l3;
	u8				raw[MHOST_L3_SOCKADDR_MAX];
};

/* The default destination set by connect(); replaced under RCU. */
struct mhost_peer {
	struct rcu_head		rcu;
	int			len;
	union mhost_addr	addr;
};

/*
 * An AF_MHOST socket. It is a socket of its own family: its datagrams
 * wait in its own receive queue, and its IP traffic travels through
 * @tsock, a kernel UDPv6 socket (dual-stack, bound to [::]:port) made
 * for it at creation. @tsock owns the port in the kernel's UDP table on
 * IPv4 and IPv6 alike, sends the IP datagrams (with every UDP feature:
 * cmsgs, GSO, corking, timestamps, the error queue) and hands each
 * received datagram to mhost through its encap_rcv hook. Socket options
 * of the IP and UDP levels are that socket's.
 */
struct mhost_sock {
	struct sock		sk;
	/* Owned; NULL once closing. */
	struct socket		*tsock;
	/* tsock's sock, referenced until this one is freed. */
	struct sock		*tsk;
	struct mhost_peer __rcu	*peer;
	/* In mhost_net.ports once bound to @port. */
	struct hlist_node	port_node;
	__be16			port;
	bool			recv_hostid;	/* MHOST_RECVHOSTID */
	u32			id;		/* in mhost_net.socks */
	/* tsock's own callbacks, called from ours */
	void			(*t_write_space)(struct sock *sk);
	void			(*t_error_report)(struct sock *sk);
};

static inline struct mhost_sock *mhost_sk(const struct sock *sk)
{
	return (struct mhost_sock *)sk;
}

/* The transport socket of an AF_MHOST socket. */
static inline struct sock *mhost_tsk(const struct sock *sk)
{
	return mhost_sk(sk)->tsk;
}

#define MHOST_ADDR_MAX	MHOST_L3_ADDR_MAX

/*
 * What a received datagram's source is matched on. The port is part of
 * it so that finding the host of a source costs one or two hash lookups
 * however many locators share its address (hosts behind one NAT); the
 * callers of mhost_hid_by_source() leave it 0.
 */
struct mhost_lockey {
	u16	family;
	__be16	port;			/* = mhost_locator.port */
	u8	addr[MHOST_ADDR_MAX];	/* zero-padded */
};

struct mhost_locator {
	struct rhlist_head	rnode;	/* in mhost_net.locators */
	struct mhost_lockey	key;
	u8			addr_len;
	__be16			port;	/* 0: the port the application named */
	int			ifindex;
	u32			hid;
	atomic_long_t		tx_packets;
	atomic_long_t		tx_errors;
};

/* Whether two locators are the same path: a host has each once. */
static inline bool mhost_loc_same(const struct mhost_locator *a,
				  const struct mhost_locator *b)
{
	return !memcmp(&a->key, &b->key, sizeof(a->key)) &&
	       a->ifindex == b->ifindex;
}

struct mhost_host {
	struct rhash_head	node;	/* in mhost_net.hosts */
	struct mhost_net	*mn;	/* whose hosts_allocated counts it */
	u32			hid;
	refcount_t		ref;
	unsigned int		nlocs;
	struct rcu_head		rcu;
	struct mhost_locator	locs[];
};

/* Per-CPU counters; unsigned long so that reads never tear. */
struct mhost_pcpu_stats {
	unsigned long	tx_ip4;
	unsigned long	tx_ip6;
	unsigned long	rx_ip4;
	unsigned long	rx_ip6;
	unsigned long	tx_hostid;
	unsigned long	tx_failover;
	unsigned long	tx_unreach;
	unsigned long	rx_l3_unknown;
	unsigned long	tx_l3;
	unsigned long	rx_l3;
	unsigned long	rx_l3_short;
	unsigned long	rx_l3_bad_header;
	unsigned long	rx_l3_bad_len;
	unsigned long	rx_l3_truncated;
	unsigned long	rx_l3_no_socket;
	unsigned long	rx_l3_bad_csum;
	unsigned long	rx_l3_dev_disabled;
	/* Per plugged L3, by its slot: see mhost_proto_count_tx(). */
	unsigned long	proto_tx[MHOST_MAX_PROTOS];
	unsigned long	proto_rx[MHOST_MAX_PROTOS];
};

#define MHOST_INC_STATS(mn, field)	this_cpu_inc((mn)->stats->field)

#define MHOST_PORT_HASH_BITS	8
#define MHOST_PORT_HASH_SIZE	(1 << MHOST_PORT_HASH_BITS)

/* Per network namespace state. */
struct mhost_net {
	struct rhashtable	hosts;		/* hid -> struct mhost_host */
	struct rhltable		locators;	/* key -> struct mhost_locator */
	struct mutex		hosts_lock;	/* serialises table writers */
	unsigned int		nhosts;
	unsigned int		hosts_gen;	/* changes; dump consistency */

	/* Bound sockets by port; readers RCU, writers ports_lock. */
	struct hlist_head	ports[MHOST_PORT_HASH_SIZE];
	spinlock_t		ports_lock;
	struct xarray		socks;		/* id -> mhost_sock, for dumps */
	u32			socks_next;	/* next id to try */
	atomic_t		nsocks;

	struct mhost_pcpu_stats __percpu *stats;

	/* Control plane: hosts.c, device.c, netlink.c. */
	struct net		*net;
	/*
	 * Held across a whole netlink request that changes the table, so
	 * that a flush, which drops hosts_lock between batches, is never
	 * seen half done by another request. Taken before hosts_lock.
	 */
	struct mutex		ops_lock;
	atomic_long_t		hosts_allocated;	/* not yet freed */
	struct xarray		loc_devs;	/* ifindex -> locators naming it */
	struct xarray		devs;		/* ifindex -> MHOST_DEV_F_* */
	unsigned int		devs_gen;	/* changes; dump consistency */
};

extern unsigned int mhost_net_id;

static inline struct mhost_net *mhost_pernet(const struct net *net)
{
	return net_generic(net, mhost_net_id);
}

/*
 * hosts.c. The data path needs mhost_host_get()/mhost_host_put() (a
 * reference for the length of a send, which may sleep) and
 * mhost_hid_by_source() (under RCU or not, any context).
 */
struct mhost_host *mhost_host_alloc(struct mhost_net *mn, u32 hid,
				    unsigned int nlocs);
void mhost_host_free(struct mhost_host *host);
struct mhost_host *mhost_host_get(struct mhost_net *mn, u32 hid);
void mhost_host_put(struct mhost_host *host);
struct mhost_host *mhost_host_find(struct mhost_net *mn, u32 hid);
bool mhost_devs_present(struct mhost_net *mn, const struct mhost_locator *locs,
			unsigned int n);
int mhost_host_publish(struct mhost_net *mn, struct mhost_host *new,
		       struct mhost_host *old);
void mhost_host_unlink(struct mhost_net *mn, struct mhost_host *host);
void mhost_hosts_flush(struct mhost_net *mn);
void mhost_hosts_forget_dev(struct mhost_net *mn, int ifindex);
void mhost_hosts_walk_enter(struct mhost_net *mn, struct rhashtable_iter *iter);
u32 mhost_hid_by_source(struct mhost_net *mn, const struct mhost_lockey *key,
			__be16 port);
int mhost_hosts_net_init(struct mhost_net *mn);
void mhost_hosts_net_exit(struct mhost_net *mn);
void mhost_hosts_net_exit_batch(void);
int mhost_hosts_init(void);
void mhost_hosts_exit(void);

/*
 * device.c: which devices carry plugged-L3 traffic, and what happens
 * when a device goes away.
 */
#define MHOST_DEV_F_L3	BIT(0)	/* plugged-L3 traffic enabled */

/*
 * Whether @dev may carry plugged-L3 traffic: frames from any other device
 * are dropped unparsed, and sends to one fail with -ENETUNREACH. O(1) and
 * lock-free; any context but hard IRQ.
 */
static inline bool mhost_dev_l3_enabled(const struct net_device *dev)
{
	void *entry = xa_load(&mhost_pernet(dev_net(dev))->devs, dev->ifindex);

	return entry && (xa_to_value(entry) & MHOST_DEV_F_L3);
}

int mhost_dev_set(struct mhost_net *mn, const struct net_device *dev,
		  unsigned long flags);
unsigned long mhost_dev_flags(struct mhost_net *mn, int ifindex);
void mhost_devs_net_init(struct net *net, struct mhost_net *mn);
void mhost_devs_net_exit(struct mhost_net *mn);
int mhost_dev_init(void);
void mhost_dev_exit(void);

/* netlink.c */
int mhost_nl_init(void);
void mhost_nl_exit(void);
void mhost_nl_stats(struct net *net, struct mhost_pcpu_stats *sum);
struct genl_info;
void mhost_nl_host_event(struct net *net, const struct mhost_host *host,
			 u8 cmd, struct genl_info *info);
void mhost_nl_dev_event(struct net *net, const struct net_device *dev,
			unsigned long flags, u8 cmd, struct genl_info *info);

/* af_mhost.c: the socket calls */
int mhost_sock_init(void);
void mhost_sock_exit(void);
int mhost_socks_net_init(struct mhost_net *mn);
void mhost_socks_net_exit(struct mhost_net *mn);

/* route.c: the way down (output) and the way up (input) */

/*
 * Where a queued datagram came from, in skb->cb until recvmsg() reads
 * it. IP datagrams keep their IPCB/IP6CB there instead (the IP control
 * messages read it) and carry their source in their headers.
 */
struct mhost_rx_cb {
	union {
		struct inet_skb_parm	h4;
		struct inet6_skb_parm	h6;
		struct {
			u8	len;
			u8	addr[MHOST_L3_SOCKADDR_MAX];
		} l3;
	};
	u32		hid;	/* with MHOST_RECVHOSTID, 0 if unknown */
};

static inline struct mhost_rx_cb *mhost_rx_cb(const struct sk_buff *skb)
{
	return (struct mhost_rx_cb *)skb->cb;
}

int mhost_check_dest(const struct sockaddr *uaddr, int len,
		     union mhost_addr *dst);
int mhost_output(struct sock *sk, struct msghdr *msg, size_t len,
		 union mhost_addr *dst, int dlen);
int mhost_encap_rcv(struct sock *tsk, struct sk_buff *skb);
void mhost_ports_add(struct mhost_net *mn, struct mhost_sock *ms);
void mhost_ports_del(struct mhost_net *mn, struct mhost_sock *ms);
void mhost_ports_net_init(struct mhost_net *mn);
int mhost_route_init(void);
void mhost_route_exit(void);

/* proto.c: the registry of plugged-in network layers */
/*
 * Counts a datagram that @proto carried for namespace @mn, sent or
 * received. Call it inside the RCU read-side section in which @proto was
 * found: unregistering a protocol waits for those before its slot, and
 * so its counters, can go to another protocol.
 */
static inline void mhost_proto_count_tx(struct mhost_net *mn,
					const struct mhost_proto *proto)
{
	this_cpu_inc(mn->stats->proto_tx[proto->slot]);
}

static inline void mhost_proto_count_rx(struct mhost_net *mn,
					const struct mhost_proto *proto)
{
	this_cpu_inc(mn->stats->proto_rx[proto->slot]);
}

void mhost_proto_counters(struct mhost_net *mn, const struct mhost_proto *proto,
			  u64 *tx, u64 *rx);
struct mhost_proto *mhost_proto_rcu(u16 family);
int mhost_l3_check_dest(const struct sockaddr *uaddr, int len,
			union mhost_addr *dst);
int mhost_l3_locator_to_addr(u16 family, const u8 *addr, int ifindex,
			     __be16 port, union mhost_addr *dst);
int mhost_l3_addr_len(u16 family);
unsigned int mhost_l3_addr_bytes(const union mhost_addr *dst, u8 *addr);
int mhost_l3_proto_dump(struct sk_buff *skb, struct netlink_callback *cb,
			int (*fill)(struct sk_buff *skb,
				    struct netlink_callback *cb,
				    const struct mhost_proto *proto));

#endif /* _MHOST_H */
