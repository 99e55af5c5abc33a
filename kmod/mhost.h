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
#include <linux/workqueue.h>
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
	/*
	 * Path liveness as the data path needs it: MHOST_LIVE_STATE bits
	 * (enum mhost_loc_state) and MHOST_LIVE_AVOID. Written by the
	 * liveness worker only, read locklessly by senders; the rest of a
	 * locator's liveness lives in liveness.c, for the hosts being
	 * sent to only, so that the table costs nothing more per host.
	 */
	u8			live;
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

/*
 * A host's own liveness knobs (MHOST_A_HOST_LIVE); those it does not set
 * follow the namespace's. Small enough to sit in what was padding.
 */
struct mhost_live_knobs {
	u16	interval_ms;
	u16	hold_down_ms;
	u8	multiplier;
	u8	flags;		/* MHOST_LIVE_CFG_* */
};

struct mhost_host {
	struct rhash_head	node;	/* in mhost_net.hosts */
	struct mhost_net	*mn;	/* whose hosts_allocated counts it */
	u32			hid;
	refcount_t		ref;
	u8			nlocs;	/* at most MHOST_MAX_LOCATORS */
	/*
	 * Set by the first send to this version of the host, which then
	 * has liveness watch it (mhost_live_sent()); cleared by the
	 * liveness worker once the host has been idle a while.
	 */
	u8			live_on;
	struct mhost_live_knobs	live;
	struct rcu_head		rcu;
	struct mhost_locator	locs[];
};

/* mhost_locator.live */
#define MHOST_LIVE_STATE	0x03	/* enum mhost_loc_state */
#define MHOST_LIVE_AVOID	0x80	/* usable, but held down: others first */

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
	/* Path liveness (liveness.c) */
	unsigned long	probes_sent;
	unsigned long	probes_answered;
	unsigned long	probes_missed;
	unsigned long	loc_changes;
	unsigned long	loc_signals;
	unsigned long	loc_signals_ignored;
	unsigned long	probe_replies;
	unsigned long	probe_replies_limited;
	unsigned long	probes_bad;
	/* Per plugged L3, by its slot: see mhost_proto_count_tx(). */
	unsigned long	proto_tx[MHOST_MAX_PROTOS];
	unsigned long	proto_rx[MHOST_MAX_PROTOS];
};

#define MHOST_INC_STATS(mn, field)	this_cpu_inc((mn)->stats->field)
#define MHOST_ADD_STATS(mn, field, n)	this_cpu_add((mn)->stats->field, (n))

/* The liveness knobs in effect (MHOST_LIVE_A_*). */
struct mhost_live_cfg {
	u32	interval_ms;	/* 0: no liveness */
	u32	hold_down_ms;
	u8	multiplier;
	bool	revertive;
};

/* mhost_live_knobs.flags: which knobs a host sets, and one of them */
#define MHOST_LIVE_CFG_INTERVAL		BIT(0)
#define MHOST_LIVE_CFG_MULTIPLIER	BIT(1)
#define MHOST_LIVE_CFG_HOLD_DOWN	BIT(2)
#define MHOST_LIVE_CFG_REVERTIVE	BIT(3)
#define MHOST_LIVE_REVERTIVE		BIT(7)	/* its value */

/* Link and neighbour events the liveness worker has yet to look at. */
#define MHOST_LIVE_NEVENTS	8

struct mhost_live_event {
	u16	family;		/* AF_INET, AF_INET6: a neighbour; 0: a link */
	bool	up;		/* a link came up */
	int	ifindex;
	u8	addr[16];	/* the neighbour's */
};

/* Replies to send, for the worker. */
#define MHOST_LIVE_NREPLIES	64
/*
 * Most hosts a namespace watches at once: its worker walks them on each
 * of its rounds. A sender that sprays datagrams over more hosts has the
 * others sent to as without liveness.
 */
#define MHOST_LIVE_MAX_HOSTS	1024
/* Per-source reply rate limits: buckets, by a hash of the source. */
#define MHOST_LIVE_RL_BUCKETS	64

struct mhost_live_reply {
	int			len;
	union mhost_addr	to;
	/* IP: the address the request came to, the reply's source */
	u8			from[16];
	int			ifindex;	/* set for link-local ones */
	__be64			nonce;
	__be64			stamp;
};

struct mhost_live_rl {
	unsigned long	stamp;	/* jiffies of the last refill */
	/* In 1/HZ of a reply, so that no fraction of a jiffy's refill is lost */
	unsigned int	credit;
};

/* What answering peers takes: made with the probe socket. */
struct mhost_live_answers {
	unsigned int		n;
	struct mhost_live_reply	replies[MHOST_LIVE_NREPLIES];
	struct mhost_live_rl	rl[MHOST_LIVE_RL_BUCKETS];
};

/*
 * Path liveness of a namespace (liveness.c). One worker does every state
 * change and sends every probe, reply and event; the receive paths only
 * record evidence and kick it.
 */
struct mhost_live_net {
	struct delayed_work	work;
	struct work_struct	answer_work;	/* sends the replies queued */
	/* The worker's; also guards sock, port and defaults. */
	struct mutex		lock;
	bool			dead;		/* the namespace is going */
	/* hid -> struct mhost_live_host, or a value entry: not adopted yet */
	struct xarray		hosts;
	atomic_t		nwatched;	/* its entries */
	struct list_head	active;		/* of mhost_live_host */
	struct list_head	idle;		/* oldest first */
	unsigned int		nactive;
	/* (family, address) -> evidence, for the locators watched */
	struct rhashtable	addrs;
	atomic_t		naddrs;
	struct rhashtable	probes;		/* nonce -> outstanding probe */
	struct mhost_live_cfg	defaults;
	__be16			port;		/* the probe port to use */
	__be16			bound_port;	/* sock's, 0 if none */
	bool			answer;
	int			sock_err;
	unsigned long		sock_retry;	/* jiffies */
	struct socket		*sock;		/* the probe socket */
	/* Guards what the receive paths and notifiers hand the worker. */
	spinlock_t		rx_lock;
	struct mhost_live_answers *answers;	/* NULL until needed */
	u32			rl_seed;
	unsigned int		nevents;
	bool			events_lost;
	struct mhost_live_event	events[MHOST_LIVE_NEVENTS];
};

#define MHOST_PORT_HASH_BITS	8
#define MHOST_PORT_HASH_SIZE	BIT(MHOST_PORT_HASH_BITS)

/* Per network namespace state. */
struct mhost_net {
	struct rhashtable	hosts;		/* hid -> struct mhost_host */
	struct rhltable		locators;	/* key -> struct mhost_locator */
	struct mutex		hosts_lock;	/* serialises table writers */
	unsigned int		nhosts;
	unsigned int		hosts_gen;	/* changes; dump consistency */

	/* Bound sockets by port; readers RCU, writers ports_lock. */
	struct hlist_head	ports[MHOST_PORT_HASH_SIZE];
	spinlock_t		ports_lock;	/* writers of ports[] */
	/* Keys the pick among a port's sockets: no aiming at one. */
	u32			ports_seed;
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

	struct mhost_live_net	live;		/* liveness.c */
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

/*
 * liveness.c: which locators work. The data path calls
 * mhost_live_sent() on each send to a host id (a load, and a store the
 * first time), mhost_live_heard() for each datagram received (a lookup
 * only while hosts are being watched) and mhost_live_icmp() for each ICMP
 * error.
 */
void mhost_live_activate(struct mhost_net *mn, struct mhost_host *host);

static inline void mhost_live_sent(struct mhost_net *mn,
				   struct mhost_host *host)
{
	if (unlikely(!READ_ONCE(host->live_on)))
		mhost_live_activate(mn, host);
}

void __mhost_live_heard(struct mhost_net *mn, const struct mhost_lockey *key);

static inline void mhost_live_heard(struct mhost_net *mn,
				    const struct mhost_lockey *key)
{
	if (atomic_read(&mn->live.naddrs))
		__mhost_live_heard(mn, key);
}

void mhost_live_icmp(struct mhost_net *mn, struct sk_buff *skb);
void mhost_live_l3_rcv(struct mhost_net *mn, struct sk_buff *skb,
		       const struct mhost_lockey *key, int ifindex,
		       const struct sockaddr *src, int srclen);
void mhost_live_use(struct mhost_net *mn);
void mhost_live_host_changed(struct mhost_net *mn, u32 hid);

/* What a locator's liveness looks like from outside (netlink.c). */
struct mhost_live_info {
	u8	state;
	u8	cause;
	bool	heard, changed, rtt, hold;
	u32	heard_ms;
	u32	changed_ms;
	u32	srtt_us;
	u32	rttvar_us;
	u32	flaps;
	u32	hold_ms;
};

void mhost_live_host_info(struct mhost_net *mn, const struct mhost_host *host,
			  struct mhost_live_info *info);
/* The namespace's settings; a change sets those in @set. */
struct mhost_live_settings {
	struct mhost_live_cfg	cfg;
	u16			port;
	bool			answer;
	int			port_err;	/* read only */
	u8			set;	/* MHOST_LIVE_CFG_*, MHOST_LIVE_SET_* */
};

#define MHOST_LIVE_SET_PORT	BIT(4)
#define MHOST_LIVE_SET_ANSWER	BIT(5)

void mhost_live_get(struct mhost_net *mn, struct mhost_live_settings *st);
int mhost_live_set(struct mhost_net *mn, const struct mhost_live_settings *st,
		   struct netlink_ext_ack *extack);
int mhost_live_net_init(struct mhost_net *mn);
void mhost_live_net_pre_exit(struct mhost_net *mn);
void mhost_live_net_exit(struct mhost_net *mn);
int mhost_live_init(void);
void mhost_live_exit(void);
void mhost_live_cleanup(void);

/* netlink.c */
int mhost_nl_init(void);
void mhost_nl_exit(void);
void mhost_nl_stats(struct net *net, struct mhost_pcpu_stats *sum);
struct genl_info;
void mhost_nl_host_event(struct net *net, const struct mhost_host *host,
			 u8 cmd, struct genl_info *info);
void mhost_nl_dev_event(struct net *net, const struct net_device *dev,
			unsigned long flags, u8 cmd, struct genl_info *info);
void mhost_nl_loc_event(struct net *net, u32 hid,
			const struct mhost_locator *loc, u8 prev_state,
			const struct mhost_live_info *info);

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
			/* Aligned: it is read as a mhost_l3_sockaddr. */
			u8	addr[MHOST_L3_SOCKADDR_MAX] __aligned(4);
			u8	len;
		} l3;
	};
	u32		hid;	/* with MHOST_RECVHOSTID, 0 if unknown */
};

static inline struct mhost_rx_cb *mhost_rx_cb(const struct sk_buff *skb)
{
	return (struct mhost_rx_cb *)skb->cb;
}

/* Errors that mean "this path is unusable from here": try the next. */
static inline bool mhost_path_failed(int err)
{
	switch (err) {
	case -ENETUNREACH:	/* no route, or not on the bound device */
	case -EHOSTUNREACH:
	case -EADDRNOTAVAIL:	/* source address gone */
	case -ENETDOWN:		/* device down */
	case -ENODEV:		/* device gone */
	case -EAFNOSUPPORT:	/* network layer not available */
	case -EPERM:		/* blocked locally: netfilter, BPF, policy */
		return true;
	}
	return false;
}

int mhost_check_dest(const struct sockaddr *uaddr, int len,
		     union mhost_addr *dst);
int mhost_output(struct sock *sk, struct msghdr *msg, size_t len,
		 union mhost_addr *dst, int dlen);
int mhost_encap_rcv(struct sock *tsk, struct sk_buff *skb);
void mhost_ports_add(struct mhost_net *mn, struct mhost_sock *ms);
void mhost_ports_del(struct mhost_net *mn, struct mhost_sock *ms);
void mhost_ports_net_init(struct mhost_net *mn);
int mhost_l3_send_raw(struct net *net, const union mhost_addr *dst,
		      __be16 sport, const void *data, unsigned int len);
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
