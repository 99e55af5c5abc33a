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
#include <net/netns/generic.h>
#include <net/sock.h>
#include <net/mhost.h>
#include <uapi/linux/mhost.h>

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
 * An AF_MHOST socket is a dual-stack UDPv6 socket underneath, so the
 * kernel's own UDP code sends and receives its IP datagrams. ipv6_pinfo
 * stays last, where inet6_create() would look for it in a udp6_sock.
 */
struct mhost_sock {
	struct udp_sock			udp;
	struct mhost_peer __rcu		*peer;
	struct hlist_node		node;	/* in mhost_net.socks */
	bool				recv_hostid;	/* MHOST_RECVHOSTID */
	struct ipv6_pinfo		inet6;
};

static inline struct mhost_sock *mhost_sk(const struct sock *sk)
{
	return (struct mhost_sock *)sk;
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
	unsigned long	rx_l3_dev_disabled;
	/* Per plugged L3, by its slot: see mhost_proto_count_tx(). */
	unsigned long	proto_tx[MHOST_MAX_PROTOS];
	unsigned long	proto_rx[MHOST_MAX_PROTOS];
};

#define MHOST_INC_STATS(mn, field)	this_cpu_inc((mn)->stats->field)

/* Per network namespace state. */
struct mhost_net {
	struct rhashtable	hosts;		/* hid -> struct mhost_host */
	struct rhltable		locators;	/* key -> struct mhost_locator */
	struct mutex		hosts_lock;	/* serialises table writers */
	unsigned int		nhosts;
	unsigned int		hosts_gen;	/* changes; dump consistency */

	spinlock_t		socks_lock;
	struct hlist_head	socks;		/* for the socket dump */
	unsigned int		nsocks;

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

/* af_mhost.c */
int mhost_sock_init(void);
void mhost_sock_exit(void);

/* l3.c */
/*
 * Source of a datagram from a plugged L3, kept in skb->cb while it waits
 * in the receive queue (UDP leaves the cb alone there).
 */
struct mhost_l3_cb {
	u32		hid;	/* with MHOST_RECVHOSTID, 0 if unknown */
	u8		len;
	u8		addr[MHOST_L3_SOCKADDR_MAX];
};

static inline struct mhost_l3_cb *mhost_l3_cb(struct sk_buff *skb)
{
	return (struct mhost_l3_cb *)skb->cb;
}

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
int mhost_send_l3(struct sock *sk, struct msghdr *msg, size_t len,
		  const union mhost_addr *dst);
int mhost_l3_proto_dump(struct sk_buff *skb, struct netlink_callback *cb,
			int (*fill)(struct sk_buff *skb,
				    struct netlink_callback *cb,
				    const struct mhost_proto *proto));
bool mhost_is_mhost_sock(const struct sock *sk);
int mhost_l3_init(void);
void mhost_l3_exit(void);

#endif /* _MHOST_H */
