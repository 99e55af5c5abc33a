/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal declarations shared by the files of mhost.ko.
 */
#ifndef _MHOST_H
#define _MHOST_H

#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <net/netns/generic.h>
#include <net/sock.h>
#include <uapi/linux/mhost.h>

/* The address family number in use (module parameter "family"). */
extern int mhost_family;

/* A destination: whatever a sendto() or connect() named. */
union mhost_addr {
	struct sockaddr		sa;
	struct sockaddr_in	in;
	struct sockaddr_in6	in6;
	struct sockaddr_mhost	mh;
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
	struct ipv6_pinfo		inet6;
};

static inline struct mhost_sock *mhost_sk(const struct sock *sk)
{
	return (struct mhost_sock *)sk;
}

/* Per network namespace state. */
struct mhost_net {
	/* 0x8888 frames dropped because no L3 protocol claims them. */
	atomic_long_t		rx_l3_unknown;
};

extern unsigned int mhost_net_id;

static inline struct mhost_net *mhost_pernet(const struct net *net)
{
	return net_generic(net, mhost_net_id);
}

int mhost_sock_init(void);
void mhost_sock_exit(void);

int mhost_l3_init(void);
void mhost_l3_exit(void);

#endif /* _MHOST_H */
