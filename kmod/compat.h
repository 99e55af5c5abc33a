/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where the kernels mhost.ko builds for differ, and only here. Each
 * MHOST_HAVE_* below is defined by Kbuild after probing the headers the
 * module is being built against (see Kbuild), never by comparing
 * LINUX_VERSION_CODE: distribution kernels backport, and a probe sees
 * what is really there. Included through mhost.h.
 */
#ifndef _MHOST_COMPAT_H
#define _MHOST_COMPAT_H

#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/ipv6.h>
#include <linux/net.h>
#include <linux/udp.h>
#include <net/icmp.h>
#include <net/inet_sock.h>
#include <net/ipv6.h>
#include <net/sock.h>
#include <net/udp_tunnel.h>
#include <linux/errqueue.h>
#include <linux/skbuff.h>

/* 6.6 folded the inet_sock option bitfields into inet_flags. */
static inline unsigned long mhost_inet_cmsg_flags(struct sock *sk)
{
#ifdef MHOST_HAVE_INET_FLAGS
	return inet_cmsg_flags(inet_sk(sk));
#else
	return READ_ONCE(inet_sk(sk)->cmsg_flags);
#endif
}

/* UDP_CORK: a field of udp_sock in 6.1, a bit of udp_flags by 6.12. */
static inline bool mhost_udp_corked(struct sock *sk)
{
#ifdef MHOST_HAVE_UDP_FLAGS
	return udp_test_bit(CORK, sk);
#else
	return READ_ONCE(udp_sk(sk)->corkflag);
#endif
}

static inline bool mhost_inet_recverr(struct sock *sk)
{
#ifdef MHOST_HAVE_INET_FLAGS
	return inet_test_bit(RECVERR, sk);
#else
	return inet_sk(sk)->recverr;
#endif
}

/* 6.7 did the same to ipv6_pinfo. */
static inline bool mhost_inet6_recverr(struct sock *sk)
{
#ifdef MHOST_HAVE_INET6_FLAGS
	return inet6_test_bit(RECVERR6, sk);
#else
	return inet6_sk(sk)->recverr;
#endif
}

/*
 * The encap_err_rcv hook of UDP tunnel sockets (6.0) later learned to
 * pass what ip_icmp_error() needs, and ip_icmp_error() was exported
 * along. Before, it passed only where the UDP header starts: the error
 * is then worked out from the ICMP message itself (route.c).
 */
#ifdef MHOST_HAVE_ENCAP_ERR_ARGS
#define MHOST_ENCAP_ERR_RCV_ARGS struct sock *sk, struct sk_buff *skb, \
		int err, __be16 port, u32 info, u8 *payload
void mhost_encap_err_rcv(struct sock *sk, struct sk_buff *skb, int err,
			 __be16 port, u32 info, u8 *payload);
#else
#define MHOST_ENCAP_ERR_RCV_ARGS struct sock *sk, struct sk_buff *skb, \
		unsigned int udp_offset
void mhost_encap_err_rcv(struct sock *sk, struct sk_buff *skb,
			 unsigned int udp_offset);
#endif

/*
 * ip_icmp_error() and ipv6_icmp_error() queue an ICMP error on a
 * socket's error queue, in the form ip_recv_error() and
 * ipv6_recv_error() read. Where they are not exported, the same record
 * is built here from the exported pieces (SKB_EXT_ERR,
 * sock_queue_err_skb()); only the RFC 4884 extension is left out.
 */
#ifdef MHOST_HAVE_IP_ICMP_ERROR_EXPORT
#define mhost_ip_icmp_error	ip_icmp_error
#define mhost_ipv6_icmp_error	ipv6_icmp_error
#else
static inline void mhost_queue_icmp_error(struct sock *sk,
					  struct sk_buff *skb, int err,
					  u8 origin, u8 type, u8 code,
					  u8 *daddr, __be16 port, u32 info,
					  u8 *payload)
{
	struct sock_exterr_skb *serr;

	skb = skb_clone(skb, GFP_ATOMIC);
	if (!skb)
		return;
	serr = SKB_EXT_ERR(skb);
	memset(&serr->ee, 0, sizeof(serr->ee));
	serr->ee.ee_errno = err;
	serr->ee.ee_origin = origin;
	serr->ee.ee_type = type;
	serr->ee.ee_code = code;
	serr->ee.ee_info = info;
	/* The clone shares the data: offsets carry over. */
	serr->addr_offset = daddr - skb_network_header(skb);
	serr->port = port;
	if (!skb_pull(skb, payload - skb->data))
		goto free;
	skb_reset_transport_header(skb);
	if (!sock_queue_err_skb(sk, skb))
		return;
free:
	kfree_skb(skb);
}

static inline void mhost_ip_icmp_error(struct sock *sk, struct sk_buff *skb,
				       int err, __be16 port, u32 info,
				       u8 *payload)
{
	struct icmphdr *ih = icmp_hdr(skb);

	mhost_queue_icmp_error(sk, skb, err, SO_EE_ORIGIN_ICMP, ih->type,
			       ih->code, (u8 *)&((struct iphdr *)(ih + 1))->daddr,
			       port, info, payload);
}

static inline void mhost_ipv6_icmp_error(struct sock *sk, struct sk_buff *skb,
					 int err, __be16 port, u32 info,
					 u8 *payload)
{
	struct icmp6hdr *ih = icmp6_hdr(skb);

	mhost_queue_icmp_error(sk, skb, err, SO_EE_ORIGIN_ICMP6,
			       ih->icmp6_type, ih->icmp6_code,
			       (u8 *)&((struct ipv6hdr *)(ih + 1))->daddr,
			       port, info, payload);
}
#endif

/* 6.12+: whether the pages are device memory (never, for mhost). */
static inline struct ubuf_info *mhost_zerocopy_realloc(struct sock *sk,
						       size_t size)
{
#ifdef MHOST_HAVE_ZEROCOPY_DEVMEM
	return msg_zerocopy_realloc(sk, size, NULL, false);
#else
	return msg_zerocopy_realloc(sk, size, NULL);
#endif
}

/* Later kernels moved the MSG_ZEROCOPY fields out of struct ubuf_info. */
static inline void mhost_uarg_set_copied(struct ubuf_info *uarg)
{
#ifdef MHOST_HAVE_UBUF_INFO_MSGZC
	uarg_to_msgzc(uarg)->zerocopy = 0;
#else
	uarg->zerocopy = 0;
#endif
}

/* 7.x: the UDP tunnel helpers take the sock, not the socket. */
static inline void mhost_setup_udp_tunnel_sock(struct net *net,
					       struct socket *sock,
					       struct udp_tunnel_sock_cfg *cfg)
{
#ifdef MHOST_HAVE_TUNNEL_SETUP_SK
	setup_udp_tunnel_sock(net, sock->sk, cfg);
#else
	setup_udp_tunnel_sock(net, sock, cfg);
#endif
}

/* 7.x: ipv6_recv_error() sets msg_namelen itself. */
static inline int mhost_ipv6_recv_error(struct sock *sk, struct msghdr *msg,
					int len, int *addr_len)
{
#ifdef MHOST_HAVE_IPV6_RECV_ERROR_3
	int err = ipv6_recv_error(sk, msg, len);

	*addr_len = msg->msg_namelen;
	return err;
#else
	return ipv6_recv_error(sk, msg, len, addr_len);
#endif
}

/* 6.17 replaced sock_i_uid() with sk_uid(). */
static inline kuid_t mhost_sock_uid(struct sock *sk)
{
#ifdef MHOST_HAVE_SK_UID
	return sk_uid(sk);
#else
	return sock_i_uid(sk);
#endif
}

/* 6.19 gave bind() and connect() a struct sockaddr_unsized. */
#ifdef MHOST_HAVE_SOCKADDR_UNSIZED
#define mhost_sockaddr_unsized sockaddr_unsized
#else
#define mhost_sockaddr_unsized sockaddr
#endif

static inline int mhost_kernel_bind(struct socket *sock,
				    struct sockaddr *addr, int len)
{
	return kernel_bind(sock, (struct mhost_sockaddr_unsized *)addr, len);
}

/* 6.10: __assign_str() takes the destination only. */
#ifdef MHOST_HAVE_ASSIGN_STR_1
#define mhost_assign_str(dst, src)	__assign_str(dst)
#else
#define mhost_assign_str(dst, src)	__assign_str(dst, src)
#endif

#endif /* _MHOST_COMPAT_H */
