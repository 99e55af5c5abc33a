// SPDX-License-Identifier: GPL-2.0
/*
 * AF_MHOST socket operations.
 *
 * Underneath, an AF_MHOST socket is a UDPv6 socket: sk_family is
 * AF_INET6, IPV6_V6ONLY is off and bind() binds it to [::]:port, so the
 * kernel's UDP lookup delivers both IPv4 and IPv6 datagrams to it, and
 * the kernel's UDP code sends its IP datagrams with real checksums,
 * routing, cmsgs and GSO. Its struct proto borrows the UDPv6 methods
 * that are not exported from a kernel socket at init, as the original
 * mnet did. This file maps the AF_MHOST user API onto that socket.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bpf-cgroup.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/socket.h>
#include <net/inet_common.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/sock.h>
#include <net/transp_v6.h>
#include <net/udp.h>

#include "mhost.h"
#include "trace.h"

/* The UDPv6 proto, to borrow the methods the kernel does not export. */
static const struct proto *udpv6_prot_p __ro_after_init;

static struct proto udpmhost_prot = {
	.name			= "UDPMHOST",
	.owner			= THIS_MODULE,
	.close			= udp_lib_close,
	.disconnect		= udp_disconnect,
	.ioctl			= udp_ioctl,
	.hash			= udp_lib_hash,
	.unhash			= udp_lib_unhash,
	.put_port		= udp_lib_unhash,
	.memory_allocated	= &udp_memory_allocated,
	.per_cpu_fw_alloc	= &udp_memory_per_cpu_fw_alloc,
	.sysctl_mem		= sysctl_udp_mem,
	.sysctl_wmem_offset	= offsetof(struct net, ipv4.sysctl_udp_wmem_min),
	.sysctl_rmem_offset	= offsetof(struct net, ipv4.sysctl_udp_rmem_min),
	.obj_size		= sizeof(struct mhost_sock),
	.h.udp_table		= &udp_table,
	.diag_destroy		= udp_abort,
	/*
	 * No .connect: connect() is handled by mhost, the UDP socket stays
	 * unconnected. No .psock_update_sk_prot: a sockmap would swap
	 * sk_prot for a UDPv6 one behind our back.
	 */
};

static int mhost_borrow_udpv6(void)
{
	const struct proto *v6;
	struct socket *sock;
	int err;

	err = sock_create_kern(&init_net, PF_INET6, SOCK_DGRAM, IPPROTO_UDP,
			       &sock);
	if (err)
		return err;
	v6 = READ_ONCE(sock->sk->sk_prot);
	sock_release(sock);

	/* IPv6 is built in or pinned by our symbol imports: v6 stays valid. */
	if (strcmp(v6->name, "UDPv6")) {
		pr_err("expected the UDPv6 proto, found %s\n", v6->name);
		return -EPROTONOSUPPORT;
	}

	udpv6_prot_p = v6;
	udpmhost_prot.init = v6->init;
	udpmhost_prot.destroy = v6->destroy;
	udpmhost_prot.setsockopt = v6->setsockopt;
	udpmhost_prot.getsockopt = v6->getsockopt;
	udpmhost_prot.sendmsg = v6->sendmsg;
	udpmhost_prot.recvmsg = v6->recvmsg;
	udpmhost_prot.splice_eof = v6->splice_eof;
	udpmhost_prot.release_cb = v6->release_cb;
	udpmhost_prot.rehash = v6->rehash;
	udpmhost_prot.get_port = v6->get_port;
	return 0;
}

/*
 * Checks a sockaddr_mhost from user space. The padding must be zero so
 * that it can gain a meaning later without breaking anyone.
 */
static int mhost_check_sockaddr(const struct sockaddr *uaddr, int len,
				struct sockaddr_mhost *smh)
{
	if (len < (int)sizeof(*smh))
		return -EINVAL;
	memcpy(smh, uaddr, sizeof(*smh));
	if (memchr_inv(smh->smh_zero, 0, sizeof(smh->smh_zero)))
		return -EINVAL;
	return 0;
}

/*
 * Checks a destination given to sendto() or connect() and copies it to
 * @dst in its canonical length. Returns that length or a negative errno.
 */
static int mhost_check_dest(const struct sockaddr *uaddr, int len,
			    union mhost_addr *dst)
{
	int err;

	if (len < (int)sizeof(uaddr->sa_family))
		return -EINVAL;

	switch (uaddr->sa_family) {
	case AF_INET:
		if (len < (int)sizeof(dst->in))
			return -EINVAL;
		memcpy(&dst->in, uaddr, sizeof(dst->in));
		if (!dst->in.sin_port)
			return -EINVAL;
		return sizeof(dst->in);
	case AF_INET6:
		/* The RFC 2133 form, without sin6_scope_id, is accepted. */
		if (len < SIN6_LEN_RFC2133)
			return -EINVAL;
		memset(&dst->in6, 0, sizeof(dst->in6));
		memcpy(&dst->in6, uaddr, min_t(int, len, sizeof(dst->in6)));
		if (!dst->in6.sin6_port)
			return -EINVAL;
		return sizeof(dst->in6);
	}

	if (uaddr->sa_family != mhost_family)
		return mhost_l3_check_dest(uaddr, len, dst);

	err = mhost_check_sockaddr(uaddr, len, &dst->mh);
	if (err)
		return err;
	if (!dst->mh.smh_hid || !dst->mh.smh_port)
		return -EINVAL;
	return sizeof(dst->mh);
}

/* Copies the connect()ed destination; -EDESTADDRREQ if there is none. */
static int mhost_peer_copy(struct mhost_sock *ms, union mhost_addr *dst)
{
	struct mhost_peer *peer;
	int len = -EDESTADDRREQ;

	rcu_read_lock();
	peer = rcu_dereference(ms->peer);
	if (peer) {
		memcpy(dst, &peer->addr, peer->len);
		len = peer->len;
	}
	rcu_read_unlock();
	return len;
}

static int mhost_release(struct socket *sock)
{
	struct sock *sk = sock->sk;

	struct mhost_net *mn;

	if (!sk)
		return 0;

	trace_mhost_sock_release(sk);
	mn = mhost_pernet(sock_net(sk));
	spin_lock_bh(&mn->socks_lock);
	hlist_del(&mhost_sk(sk)->node);
	mn->nsocks--;
	spin_unlock_bh(&mn->socks_lock);

	/* The last file reference is gone: no sendmsg() can be reading. */
	kfree(rcu_replace_pointer(mhost_sk(sk)->peer, NULL, true));
	return inet6_release(sock);
}

static int mhost_bind(struct socket *sock, struct sockaddr *uaddr, int len)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct sockaddr_mhost smh;
	int err;

	if (len < (int)sizeof(smh))
		return -EINVAL;
	if (uaddr->sa_family != mhost_family)
		return -EAFNOSUPPORT;
	err = mhost_check_sockaddr(uaddr, len, &smh);
	if (err)
		return err;
	/* A socket receives for every host; it cannot bind to one. */
	if (smh.smh_hid)
		return -EINVAL;

	/* [::]:port with IPV6_V6ONLY off: every IPv4 and IPv6 address. */
	sin6.sin6_port = smh.smh_port;
	return inet6_bind(sock, (struct sockaddr *)&sin6, sizeof(sin6));
}

/*
 * connect() only sets the default destination. The UDP socket below
 * stays unconnected, so datagrams from any source are still received:
 * one peer may reach us over several network layers.
 */
static int mhost_connect(struct socket *sock, struct sockaddr *uaddr,
			 int len, int flags)
{
	struct mhost_peer *peer = NULL;
	struct sock *sk = sock->sk;
	union mhost_addr dst;
	int dlen;

	if (len < (int)sizeof(uaddr->sa_family))
		return -EINVAL;

	if (uaddr->sa_family != AF_UNSPEC) {
		dlen = mhost_check_dest(uaddr, len, &dst);
		if (dlen < 0)
			return dlen;
		/* Resolved again on every send; must exist now. */
		if (dst.sa.sa_family == mhost_family) {
			struct mhost_host *host;

			host = mhost_host_get(mhost_pernet(sock_net(sk)),
					      dst.mh.smh_hid);
			if (!host)
				return -EHOSTUNREACH;
			mhost_host_put(host);
		}

		/* Bind now, so that getsockname() shows the port. */
		if (inet_send_prepare(sk))
			return -EAGAIN;

		peer = kzalloc(sizeof(*peer), GFP_KERNEL);
		if (!peer)
			return -ENOMEM;
		memcpy(&peer->addr, &dst, dlen);
		peer->len = dlen;
	}

	lock_sock(sk);
	peer = rcu_replace_pointer(mhost_sk(sk)->peer, peer,
				   lockdep_sock_is_held(sk));
	release_sock(sk);
	if (peer)
		kfree_rcu(peer, rcu);
	return 0;
}

static int mhost_getname(struct socket *sock, struct sockaddr *uaddr,
			 int peer)
{
	struct sock *sk = sock->sk;
	struct sockaddr_mhost *smh;
	int len;

	if (peer) {
		len = mhost_peer_copy(mhost_sk(sk), (union mhost_addr *)uaddr);
		return len < 0 ? -ENOTCONN : len;
	}

	smh = (struct sockaddr_mhost *)uaddr;
	memset(smh, 0, sizeof(*smh));
	smh->smh_family = mhost_family;
	smh->smh_port = READ_ONCE(inet_sk(sk)->inet_sport);
	return sizeof(*smh);
}

static int mhost_shutdown(struct socket *sock, int how)
{
	struct sock *sk = sock->sk;
	int err = 0;

	/* SHUT_RD, SHUT_WR, SHUT_RDWR become RCV, SEND, both *_SHUTDOWN. */
	how++;
	if ((how & ~SHUTDOWN_MASK) || !how)
		return -EINVAL;

	lock_sock(sk);
	/* As on UDP: ENOTCONN if unconnected, but applied anyway. */
	if (!rcu_access_pointer(mhost_sk(sk)->peer))
		err = -ENOTCONN;
	WRITE_ONCE(sk->sk_shutdown, sk->sk_shutdown | how);
	sk->sk_state_change(sk);
	release_sock(sk);
	return err;
}

static int mhost_setsockopt(struct socket *sock, int level, int optname,
			    sockptr_t optval, unsigned int optlen)
{
	int val;

	if (level == SOL_MHOST) {
		if (optname != MHOST_RECVHOSTID)
			return -ENOPROTOOPT;
		if (optlen < sizeof(int))
			return -EINVAL;
		if (copy_from_sockptr(&val, optval, sizeof(val)))
			return -EFAULT;
		WRITE_ONCE(mhost_sk(sock->sk)->recv_hostid, !!val);
		return 0;
	}

	if (level == SOL_IPV6) {
		switch (optname) {
		case IPV6_V6ONLY:
			/* IPv4 must keep arriving: always dual-stack. */
			if (optlen < sizeof(int))
				return -EINVAL;
			if (copy_from_sockptr(&val, optval, sizeof(val)))
				return -EFAULT;
			return val ? -EINVAL : 0;
		case IPV6_ADDRFORM:
			/* It would turn the socket into a plain UDPv4 one. */
			return -EOPNOTSUPP;
		}
	}
	return sock_common_setsockopt(sock, level, optname, optval, optlen);
}

static int mhost_getsockopt(struct socket *sock, int level, int optname,
			    char __user *optval, int __user *optlen)
{
	int val, len;

	if (level != SOL_MHOST)
		return sock_common_getsockopt(sock, level, optname, optval,
					      optlen);
	if (optname != MHOST_RECVHOSTID)
		return -ENOPROTOOPT;
	if (get_user(len, optlen))
		return -EFAULT;
	if (len < 0)
		return -EINVAL;
	len = min_t(int, len, sizeof(val));
	val = READ_ONCE(mhost_sk(sock->sk)->recv_hostid);
	if (put_user(len, optlen) || copy_to_user(optval, &val, len))
		return -EFAULT;
	return 0;
}

/* Errors that mean "this path is unusable from here": try the next. */
static bool mhost_path_failed(int err)
{
	switch (err) {
	case -ENETUNREACH:	/* no route */
	case -EHOSTUNREACH:
	case -EADDRNOTAVAIL:	/* source address gone */
	case -ENETDOWN:		/* device down */
	case -ENODEV:		/* device gone */
	case -EAFNOSUPPORT:	/* network layer not available */
	case -EPERM:		/* blocked locally (netfilter, BPF) */
		return true;
	}
	return false;
}

/* Sends over IPv4 or IPv6; UDPv6 handles both, AF_INET by udp_sendmsg(). */
static int mhost_send_ip(struct sock *sk, struct msghdr *msg, size_t len,
			 union mhost_addr *dst, int dlen)
{
	struct mhost_net *mn = mhost_pernet(sock_net(sk));
	int err;

	msg->msg_name = dlen ? dst : NULL;
	msg->msg_namelen = dlen;
	/*
	 * udpv6_sendmsg() passes a sockaddr_in straight on to udp_sendmsg()
	 * unless the socket is IPV6_V6ONLY, which ours never is: skip the
	 * hop and its indirect call.
	 */
	if (dlen && dst->sa.sa_family == AF_INET)
		err = udp_sendmsg(sk, msg, len);
	else
		err = udpv6_prot_p->sendmsg(sk, msg, len);
	if (err >= 0 && dlen) {
		if (dst->sa.sa_family == AF_INET)
			MHOST_INC_STATS(mn, tx_ip4);
		else
			MHOST_INC_STATS(mn, tx_ip6);
	}
	return err;
}

static int mhost_loc_to_sockaddr(const struct mhost_locator *loc,
				 __be16 port, union mhost_addr *dst)
{
	if (loc->port)
		port = loc->port;

	switch (loc->key.family) {
	case AF_INET:
		memset(&dst->in, 0, sizeof(dst->in));
		dst->in.sin_family = AF_INET;
		dst->in.sin_port = port;
		memcpy(&dst->in.sin_addr, loc->key.addr, sizeof(struct in_addr));
		return sizeof(dst->in);
	case AF_INET6:
		memset(&dst->in6, 0, sizeof(dst->in6));
		dst->in6.sin6_family = AF_INET6;
		dst->in6.sin6_port = port;
		memcpy(&dst->in6.sin6_addr, loc->key.addr,
		       sizeof(struct in6_addr));
		dst->in6.sin6_scope_id = loc->ifindex;
		return sizeof(dst->in6);
	}
	/* A plugged L3; EAFNOSUPPORT once its module is gone. */
	return mhost_l3_locator_to_addr(loc->key.family, loc->key.addr,
					loc->ifindex, port, dst);
}

/* The locator address of a destination, for trace output; its length. */
static unsigned int mhost_dst_bytes(const union mhost_addr *dst, u8 *addr)
{
	memset(addr, 0, MHOST_ADDR_MAX);
	if (dst->sa.sa_family == AF_INET) {
		memcpy(addr, &dst->in.sin_addr, sizeof(dst->in.sin_addr));
		return sizeof(dst->in.sin_addr);
	}
	if (dst->sa.sa_family == AF_INET6) {
		memcpy(addr, &dst->in6.sin6_addr, sizeof(dst->in6.sin6_addr));
		return sizeof(dst->in6.sin6_addr);
	}
	return mhost_l3_addr_bytes(dst, addr);
}

/* Sends to an IP or plugged-L3 destination. */
static int mhost_send_to(struct sock *sk, struct msghdr *msg, size_t len,
			 union mhost_addr *dst, int dlen)
{
	u8 addr[MHOST_ADDR_MAX];
	unsigned int alen;
	int err;

	if (!dlen || dst->sa.sa_family == AF_INET ||
	    dst->sa.sa_family == AF_INET6)
		err = mhost_send_ip(sk, msg, len, dst, dlen);
	else
		err = mhost_send_l3(sk, msg, len, dst);

	/* Every kind of sockaddr keeps its port at the same offset. */
	if (trace_mhost_send_enabled() && dlen) {
		alen = mhost_dst_bytes(dst, addr);
		trace_mhost_send(sk, dst->sa.sa_family, addr, alen,
				 dst->l3.port, len, err);
	}
	return err;
}

bool mhost_is_mhost_sock(const struct sock *sk)
{
	return READ_ONCE(sk->sk_prot) == &udpmhost_prot;
}

/*
 * Sends to a host id: the first locator whose path works carries the
 * datagram. A local path failure moves on to the next locator within the
 * same call, so the application never sees a path die.
 */
static int mhost_send_hostid(struct sock *sk, struct msghdr *msg, size_t len,
			     const struct sockaddr_mhost *smh)
{
	struct mhost_net *mn = mhost_pernet(sock_net(sk));
	struct mhost_locator *loc = NULL;
	struct iov_iter saved;
	struct mhost_host *host;
	union mhost_addr dst;
	int err = -EHOSTUNREACH;
	unsigned int i;

	host = mhost_host_get(mn, smh->smh_hid);
	trace_mhost_hostid_resolve(sk, smh->smh_hid, host ? host->nlocs : 0);
	if (!host) {
		MHOST_INC_STATS(mn, tx_unreach);
		return -EHOSTUNREACH;
	}

	/*
	 * A failed attempt may have consumed data. Iteration never changes
	 * the segments an iov_iter points to, so a copy restores it
	 * (iov_iter_restore() is not exported).
	 */
	saved = msg->msg_iter;
	for (i = 0; i < host->nlocs; i++) {
		loc = &host->locs[i];
		if (i) {
			MHOST_INC_STATS(mn, tx_failover);
			msg->msg_iter = saved;
		}
		err = mhost_loc_to_sockaddr(loc, smh->smh_port, &dst);
		if (err >= 0)
			err = mhost_send_to(sk, msg, len, &dst, err);
		if (err >= 0) {
			atomic_long_inc(&loc->tx_packets);
			MHOST_INC_STATS(mn, tx_hostid);
			break;
		}
		atomic_long_inc(&loc->tx_errors);
		if (!mhost_path_failed(err))
			break;
		trace_mhost_failover(host->hid, i, loc->key.family,
				     loc->key.addr, loc->addr_len, err);
	}
	if (err < 0 && mhost_path_failed(err))
		MHOST_INC_STATS(mn, tx_unreach);
	mhost_host_put(host);
	return err;
}

static int mhost_sendmsg(struct socket *sock, struct msghdr *msg, size_t len)
{
	struct sock *sk = sock->sk;
	void *name = msg->msg_name;
	int namelen = msg->msg_namelen;
	union mhost_addr dst;
	int dlen, err;

	/* The same limit on every L3, so failover never changes it. */
	if (len > MHOST_MAX_PAYLOAD)
		return -EMSGSIZE;

	if (name) {
		dlen = mhost_check_dest(name, namelen, &dst);
	} else {
		dlen = mhost_peer_copy(mhost_sk(sk), &dst);
		/* More data for a corked datagram needs no address. */
		if (dlen == -EDESTADDRREQ && READ_ONCE(udp_sk(sk)->pending))
			dlen = 0;
	}
	if (dlen < 0)
		return dlen;

	if (sk->sk_shutdown & SEND_SHUTDOWN)
		return -EPIPE;

	/* Autobind, as inet6_sendmsg() does. */
	if (unlikely(inet_send_prepare(sk)))
		return -EAGAIN;

	if (dlen && dst.sa.sa_family == mhost_family)
		err = mhost_send_hostid(sk, msg, len, &dst.mh);
	else
		err = mhost_send_to(sk, msg, len, &dst, dlen);
	msg->msg_name = name;
	msg->msg_namelen = namelen;
	return err;
}

/*
 * With MHOST_RECVHOSTID, a source that is a known locator is reported as
 * the host it belongs to. Returns false if it is not one.
 */
static bool mhost_hostid_source(struct sock *sk, struct msghdr *msg,
				struct sk_buff *skb, bool is_ip4)
{
	DECLARE_SOCKADDR(struct sockaddr_mhost *, smh, msg->msg_name);
	struct mhost_lockey key = {};
	__be16 sport = udp_hdr(skb)->source;
	u32 hid;

	if (is_ip4) {
		key.family = AF_INET;
		memcpy(key.addr, &ip_hdr(skb)->saddr, sizeof(struct in_addr));
	} else {
		key.family = AF_INET6;
		memcpy(key.addr, &ipv6_hdr(skb)->saddr, sizeof(struct in6_addr));
	}
	hid = mhost_hid_by_source(mhost_pernet(sock_net(sk)), &key, sport);
	if (!hid)
		return false;

	memset(smh, 0, sizeof(*smh));
	smh->smh_family = mhost_family;
	smh->smh_port = sport;
	smh->smh_hid = hid;
	msg->msg_namelen = sizeof(*smh);
	return true;
}

/* Fills in the real source address of a received IP datagram. */
static void mhost_ip_source(struct sock *sk, struct msghdr *msg,
			    struct sk_buff *skb, bool is_ip4)
{
	if (READ_ONCE(mhost_sk(sk)->recv_hostid) &&
	    mhost_hostid_source(sk, msg, skb, is_ip4))
		return;

	if (is_ip4) {
		DECLARE_SOCKADDR(struct sockaddr_in *, sin, msg->msg_name);

		sin->sin_family = AF_INET;
		sin->sin_port = udp_hdr(skb)->source;
		sin->sin_addr.s_addr = ip_hdr(skb)->saddr;
		memset(sin->sin_zero, 0, sizeof(sin->sin_zero));
		msg->msg_namelen = sizeof(*sin);
	} else {
		DECLARE_SOCKADDR(struct sockaddr_in6 *, sin6, msg->msg_name);

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = udp_hdr(skb)->source;
		sin6->sin6_flowinfo = 0;
		sin6->sin6_addr = ipv6_hdr(skb)->saddr;
		sin6->sin6_scope_id = ipv6_iface_scope_id(&sin6->sin6_addr,
							  inet6_iif(skb));
		msg->msg_namelen = sizeof(*sin6);
	}
}

/* The source of a datagram from a plugged L3, saved at receive time. */
static void mhost_l3_source(struct sock *sk, struct msghdr *msg,
			    struct sk_buff *skb)
{
	const struct mhost_l3_cb *cb = mhost_l3_cb(skb);
	struct sockaddr_mhost *smh;

	if (cb->hid && READ_ONCE(mhost_sk(sk)->recv_hostid)) {
		smh = (struct sockaddr_mhost *)msg->msg_name;
		memset(smh, 0, sizeof(*smh));
		smh->smh_family = mhost_family;
		smh->smh_port = ((struct mhost_l3_sockaddr *)cb->addr)->port;
		smh->smh_hid = cb->hid;
		msg->msg_namelen = sizeof(*smh);
		return;
	}
	memcpy(msg->msg_name, cb->addr, cb->len);
	msg->msg_namelen = cb->len;
}

static void mhost_ip_cmsgs(struct sock *sk, struct msghdr *msg,
			   struct sk_buff *skb, bool is_ip4, int off)
{
	if (is_ip4) {
		if (inet_sk(sk)->cmsg_flags)
			ip_cmsg_recv_offset(msg, sk, skb,
					    sizeof(struct udphdr), off);
	} else if (inet6_sk(sk)->rxopt.all) {
		ip6_datagram_recv_ctl(sk, msg, skb);
	}
}

/*
 * Like udpv6_recvmsg(), except that the source of an IPv4 datagram is a
 * sockaddr_in rather than a v4-mapped sockaddr_in6: the application
 * sees the network layer the datagram really came over.
 */
static int mhost_recvmsg(struct socket *sock, struct msghdr *msg, size_t len,
			 int flags)
{
	struct sock *sk = sock->sk;
	struct ipv6_pinfo *np = inet6_sk(sk);
	int peeking = flags & MSG_PEEK;
	bool checksum_valid = false;
	struct udp_mib __percpu *mib;
	unsigned int ulen, copied;
	struct sk_buff *skb;
	bool is_ip4, is_l3;
	int off, err, alen;

	/* Error queue and path MTU notes are not datagrams: UDPv6's job. */
	if (unlikely((flags & MSG_ERRQUEUE) ||
		     (np->rxopt.bits.rxpmtu && READ_ONCE(np->rxpmtu)))) {
		alen = 0;
		err = udpv6_prot_p->recvmsg(sk, msg, len, flags, &alen);
		if (err >= 0)
			msg->msg_namelen = alen;
		return err;
	}

	sock_rps_record_flow(sk);

try_again:
	off = sk_peek_offset(sk, flags);
	skb = __skb_recv_udp(sk, flags, &off, &err);
	if (!skb)
		return err;

	is_ip4 = skb->protocol == htons(ETH_P_IP);
	is_l3 = skb->protocol == htons(ETH_P_MHOST);
	if (!is_ip4 && !is_l3 && inet6_is_jumbogram(skb))
		ulen = skb->len;
	else
		ulen = udp_skb_len(skb);
	copied = len;
	if (copied > ulen - off)
		copied = ulen - off;
	else if (copied < ulen)
		msg->msg_flags |= MSG_TRUNC;

	mib = __UDPX_MIB(sk, is_ip4);

	/* Verify the checksum first when not copying all of it. */
	if (copied < ulen || peeking) {
		checksum_valid = udp_skb_csum_unnecessary(skb) ||
				 !__udp_lib_checksum_complete(skb);
		if (!checksum_valid)
			goto csum_copy_err;
	}

	if (checksum_valid || udp_skb_csum_unnecessary(skb)) {
		if (udp_skb_is_linear(skb))
			err = copy_linear_skb(skb, copied, off, &msg->msg_iter);
		else
			err = skb_copy_datagram_msg(skb, off, msg, copied);
	} else {
		err = skb_copy_and_csum_datagram_msg(skb, off, msg);
		if (err == -EINVAL)
			goto csum_copy_err;
	}
	if (unlikely(err)) {
		if (!peeking) {
			atomic_inc(&sk->sk_drops);
			if (!is_l3)
				SNMP_INC_STATS(mib, UDP_MIB_INERRORS);
		}
		kfree_skb(skb);
		return err;
	}
	if (!peeking && !is_l3) {
		SNMP_INC_STATS(mib, UDP_MIB_INDATAGRAMS);
		if (is_ip4)
			MHOST_INC_STATS(mhost_pernet(sock_net(sk)), rx_ip4);
		else
			MHOST_INC_STATS(mhost_pernet(sock_net(sk)), rx_ip6);
	}

	if (trace_mhost_recv_enabled()) {
		const struct mhost_l3_sockaddr *src;

		src = (const struct mhost_l3_sockaddr *)mhost_l3_cb(skb)->addr;
		if (is_l3)
			trace_mhost_recv(sk, src->family, src->port, ulen);
		else
			trace_mhost_recv(sk, is_ip4 ? AF_INET : AF_INET6,
					 udp_hdr(skb)->source, ulen);
	}

	sock_recv_cmsgs(msg, sk, skb);
	if (is_l3) {
		/* No IP control messages for a datagram that had no IP. */
		if (msg->msg_name)
			mhost_l3_source(sk, msg, skb);
	} else {
		if (msg->msg_name)
			mhost_ip_source(sk, msg, skb, is_ip4);
		if (udp_test_bit(GRO_ENABLED, sk))
			udp_cmsg_recv(msg, sk, skb);
		mhost_ip_cmsgs(sk, msg, skb, is_ip4, off);
	}

	err = copied;
	if (flags & MSG_TRUNC)
		err = ulen;

	skb_consume_udp(sk, skb, peeking ? -err : err);
	return err;

csum_copy_err:
	if (!__sk_queue_drop_skb(sk, &udp_sk(sk)->reader_queue, skb, flags,
				 udp_skb_destructor)) {
		SNMP_INC_STATS(mib, UDP_MIB_CSUMERRORS);
		SNMP_INC_STATS(mib, UDP_MIB_INERRORS);
	}
	kfree_skb(skb);

	/* Starting over for the next datagram; yield if needed. */
	cond_resched();
	msg->msg_flags &= ~MSG_TRUNC;
	goto try_again;
}

/* Not const: .family follows the "family" parameter, set at init. */
static struct proto_ops mhost_dgram_ops __ro_after_init = {
	.family		= AF_MHOST,
	.owner		= THIS_MODULE,
	.release	= mhost_release,
	.bind		= mhost_bind,
	.connect	= mhost_connect,
	.socketpair	= sock_no_socketpair,
	.accept		= sock_no_accept,
	.getname	= mhost_getname,
	.poll		= udp_poll,
	.ioctl		= inet6_ioctl,
	.gettstamp	= sock_gettstamp,
	.listen		= sock_no_listen,
	.shutdown	= mhost_shutdown,
	.setsockopt	= mhost_setsockopt,
	.getsockopt	= mhost_getsockopt,
	.sendmsg	= mhost_sendmsg,
	.recvmsg	= mhost_recvmsg,
	.mmap		= sock_no_mmap,
	.sendpage	= sock_no_sendpage,
	.set_peek_off	= sk_set_peek_off,
#ifdef CONFIG_COMPAT
	.compat_ioctl	= inet6_compat_ioctl,
#endif
};

/* The parts of inet6_create() a UDPv6 socket needs, always dual-stack. */
static void mhost_init_inet6(struct net *net, struct sock *sk)
{
	struct inet_sock *inet = inet_sk(sk);
	struct ipv6_pinfo *np;

	sk->sk_destruct = inet6_sock_destruct;
	sk->sk_protocol = IPPROTO_UDP;
	sk->sk_ipv6only = 0;
	sk->sk_txrehash = READ_ONCE(net->core.sysctl_txrehash);

	inet->pinet6 = np = &mhost_sk(sk)->inet6;
	np->hop_limit = -1;
	np->mcast_hops = IPV6_DEFAULT_MCASTHOPS;
	np->mc_loop = 1;
	np->mc_all = 1;
	np->pmtudisc = IPV6_PMTUDISC_WANT;
	np->repflow = net->ipv6.sysctl.flowlabel_reflect &
		      FLOWLABEL_REFLECT_ESTABLISHED;

	/* The IPv4 half, used for IPv4 peers. */
	inet->uc_ttl = -1;
	inet->mc_loop = 1;
	inet->mc_ttl = 1;
	inet->mc_index = 0;
	RCU_INIT_POINTER(inet->mc_list, NULL);
	inet->rcv_tos = 0;
	if (READ_ONCE(net->ipv4.sysctl_ip_no_pmtu_disc))
		inet->pmtudisc = IP_PMTUDISC_DONT;
	else
		inet->pmtudisc = IP_PMTUDISC_WANT;
}

static int mhost_create(struct net *net, struct socket *sock, int protocol,
			int kern)
{
	struct mhost_net *mn;
	struct sock *sk;
	int err;

	if (sock->type != SOCK_DGRAM)
		return -ESOCKTNOSUPPORT;
	if (protocol && protocol != IPPROTO_UDP)
		return -EPROTONOSUPPORT;

	sk = sk_alloc(net, PF_INET6, GFP_KERNEL, &udpmhost_prot, kern);
	if (!sk)
		return -ENOBUFS;

	sock->state = SS_UNCONNECTED;
	sock->ops = &mhost_dgram_ops;
	sock_init_data(sock, sk);
	mhost_init_inet6(net, sk);

	err = sk->sk_prot->init(sk);
	if (!err && !kern)
		err = BPF_CGROUP_RUN_PROG_INET_SOCK(sk);
	if (err) {
		sk_common_release(sk);
		sock->sk = NULL;
		return err;
	}

	mn = mhost_pernet(net);
	spin_lock_bh(&mn->socks_lock);
	hlist_add_head(&mhost_sk(sk)->node, &mn->socks);
	mn->nsocks++;
	spin_unlock_bh(&mn->socks_lock);
	trace_mhost_sock_create(sk);
	return 0;
}

static struct net_proto_family mhost_family_ops __ro_after_init = {
	.family	= AF_MHOST,
	.create	= mhost_create,
	.owner	= THIS_MODULE,
};

int __init mhost_sock_init(void)
{
	int err;

	BUILD_BUG_ON(sizeof(struct sockaddr_mhost) != 16);
	BUILD_BUG_ON(sizeof(union mhost_addr) > sizeof(struct sockaddr_storage));

	err = mhost_borrow_udpv6();
	if (err)
		return err;

	err = proto_register(&udpmhost_prot, 1);
	if (err)
		return err;

	mhost_family_ops.family = mhost_family;
	mhost_dgram_ops.family = mhost_family;
	err = sock_register(&mhost_family_ops);
	if (err) {
		pr_err("cannot register address family %d: %d\n",
		       mhost_family, err);
		proto_unregister(&udpmhost_prot);
	}
	return err;
}

void mhost_sock_exit(void)
{
	sock_unregister(mhost_family);
	proto_unregister(&udpmhost_prot);
}
