// SPDX-License-Identifier: GPL-2.0
/*
 * How AF_MHOST datagrams travel: the way down (output) and the way up
 * (input). af_mhost.c turns socket calls into these; nothing here calls
 * back into it.
 *
 * Down: IPv4 and IPv6 datagrams go out through the socket's transport
 * socket, a kernel UDPv6 socket, so that every UDP feature applies
 * (cmsgs, GSO, corking, zerocopy, timestamps, cgroup and netfilter
 * hooks, the error queue). A host id is resolved to its locators, and a
 * local path failure moves to the next one within the same call. A
 * plugged L3 gets a UDP header with a checksum from mhost and its own
 * header from its module, then leaves under ETH_P_MHOST on a device an
 * administrator enabled.
 *
 * Up: every datagram, whether the transport socket's encap_rcv hook or
 * a plugged L3 handed it over, reaches the socket's queue through
 * mhost_deliver(), which applies the socket's cgroup ingress programs,
 * LSM hook, filter and memory limits, and counts it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bpf-cgroup.h>
#include <linux/etherdevice.h>
#include <linux/filter.h>
#include <linux/inetdevice.h>
#include <linux/icmp.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/jhash.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/hash.h>
#include <linux/random.h>
#include <linux/skbuff.h>
#include <linux/uio.h>
#include <net/checksum.h>
#include <net/icmp.h>
#include <net/ip.h>
#include <net/l3mdev.h>
#include <net/ipv6.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/route.h>
#include <net/sock.h>
#include <net/udp.h>

#include "mhost.h"
#include "trace.h"

/* ---- Destinations ---- */

static int mhost_check_sockaddr(const struct sockaddr *uaddr, int len,
				struct sockaddr_mhost *smh)
{
	if (len < (int)sizeof(*smh))
		return -EINVAL;
	memcpy(smh, uaddr, sizeof(*smh));
	/* Zero padding, so that it can gain a meaning later. */
	if (memchr_inv(smh->smh_zero, 0, sizeof(smh->smh_zero)))
		return -EINVAL;
	return 0;
}

/*
 * Checks a destination given to sendto() or connect() and copies it to
 * @dst in its canonical length. Returns that length or a negative errno.
 */
int mhost_check_dest(const struct sockaddr *uaddr, int len,
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

/* ---- Output ---- */

/*
 * The segment size UDP_SEGMENT asks UDP to cut a send into, as UDP reads
 * it: the control message's, else the socket option's; 0 for none.
 */
static unsigned int mhost_gso_size(struct sock *tsk, struct msghdr *msg)
{
	unsigned int gso_size = READ_ONCE(udp_sk(tsk)->gso_size);
	struct cmsghdr *cmsg;

	/* sendmsg hands protocols a kernel copy of the control messages. */
	if (msg->msg_control_is_user)
		return gso_size;
	for_each_cmsghdr(cmsg, msg) {
		if (!CMSG_OK(msg, cmsg))
			break;
		if (cmsg->cmsg_level == SOL_UDP &&
		    cmsg->cmsg_type == UDP_SEGMENT &&
		    cmsg->cmsg_len == CMSG_LEN(sizeof(u16)))
			gso_size = *(u16 *)CMSG_DATA(cmsg);
	}
	return gso_size;
}

/*
 * How many datagrams a send of @len bytes makes, for the counters, which
 * count datagrams: as many as UDP_SEGMENT cuts it into. A corked
 * datagram is cut only when it is pushed, from all of its data; it
 * counts once per send that carries an address, as without segments.
 */
static unsigned int mhost_send_segs(struct sock *tsk, struct msghdr *msg,
				    size_t len)
{
	unsigned int gso_size;

	if ((msg->msg_flags & MSG_MORE) || READ_ONCE(udp_sk(tsk)->pending) ||
	    mhost_udp_corked(tsk))
		return 1;
	gso_size = mhost_gso_size(tsk, msg);
	return gso_size && len > gso_size ? DIV_ROUND_UP(len, gso_size) : 1;
}

/*
 * Sends over IPv4 or IPv6 through the transport socket; @dlen 0 means
 * more data for a corked datagram. IPv4 goes to udp_sendmsg() itself:
 * the UDPv6 code would only pass it on. @segs: mhost_send_segs().
 */
static int mhost_send_ip(struct sock *sk, struct msghdr *msg, size_t len,
			 union mhost_addr *dst, int dlen, unsigned int segs)
{
	struct mhost_net *mn = mhost_pernet(sock_net(sk));
	struct socket *tsock = mhost_sk(sk)->tsock;
	int err;

	msg->msg_name = dlen ? dst : NULL;
	msg->msg_namelen = dlen;
	if (dlen && dst->sa.sa_family == AF_INET)
		err = udp_sendmsg(tsock->sk, msg, len);
	else
		err = tsock->ops->sendmsg(tsock, msg, len);
	if (err >= 0 && dlen) {
		if (dst->sa.sa_family == AF_INET)
			MHOST_ADD_STATS(mn, tx_ip4, segs);
		else
			MHOST_ADD_STATS(mn, tx_ip6, segs);
	}
	return err;
}

/*
 * The UDP checksum of a plugged-L3 datagram covers a pseudo-header of
 * the L3 family and the UDP length (there are no IP addresses to take),
 * then the UDP header and the payload: see ETH_P_MHOST in the UAPI
 * header. Returns the sum of the pseudo-header, to add to the rest.
 */
static __wsum mhost_l3_pseudo_csum(u16 family, unsigned int ulen, __wsum sum)
{
	__be16 ph[2] = { htons(family), htons(ulen) };

	return csum_partial(ph, sizeof(ph), sum);
}

/*
 * MSG_ZEROCOPY on a plugged L3: the data is always copied (the protocol
 * modules add headers in front), which the completion on the error queue
 * says with SO_EE_CODE_ZEROCOPY_COPIED, as UDP does on a device without
 * scatter-gather. The caller keeps a reference of its own, to withdraw
 * the notification (and its id) if the send fails, as UDP does.
 */
static struct ubuf_info *mhost_l3_zerocopy(struct sock *tsk,
					   struct sk_buff *skb, size_t len)
{
	struct ubuf_info *uarg;

	uarg = mhost_zerocopy_realloc(tsk, len);
	if (!uarg)
		return NULL;
	mhost_uarg_set_copied(uarg);
	/* The skb takes a second reference. */
	skb_zcopy_set(skb, uarg, NULL);
	return uarg;
}

/*
 * Sends one datagram over a plugged L3: mhost builds the UDP header
 * with its checksum, the protocol adds its own header and hands the
 * frame to mhost_send_to_l2(). Charged to the transport socket's send
 * buffer, like the IP datagrams, so that one SO_SNDBUF and one
 * POLLOUT cover both.
 */
/*
 * Sends @len bytes at @data from port @sport over a plugged L3 to @dst,
 * for path liveness: no socket, process context.
 */
int mhost_l3_send_raw(struct net *net, const union mhost_addr *dst,
		      __be16 sport, const void *data, unsigned int len)
{
	unsigned int ulen = sizeof(struct udphdr) + len;
	struct mhost_proto *proto;
	struct sk_buff *skb;
	struct udphdr *uh;
	__wsum csum;
	int err;

	skb = alloc_skb(LL_MAX_HEADER + MHOST_L3_HEADROOM + ulen, GFP_KERNEL);
	if (!skb)
		return -ENOBUFS;
	skb_reserve(skb, LL_MAX_HEADER + MHOST_L3_HEADROOM);
	skb_reset_transport_header(skb);
	uh = skb_put(skb, sizeof(*uh));
	uh->source = sport;
	uh->dest = dst->l3.port;
	uh->len = htons(ulen);
	uh->check = 0;
	skb_put_data(skb, data, len);
	csum = csum_partial(uh, ulen, 0);
	uh->check = csum_fold(mhost_l3_pseudo_csum(dst->sa.sa_family, ulen,
						   csum)) ?: CSUM_MANGLED_0;
	skb->ip_summed = CHECKSUM_NONE;

	rcu_read_lock();
	proto = mhost_proto_rcu(dst->sa.sa_family);
	if (proto) {
		err = proto->sendmsg(net, skb, &dst->sa);
	} else {
		kfree_skb(skb);
		err = -EAFNOSUPPORT;
	}
	rcu_read_unlock();
	return err;
}

static int mhost_send_l3(struct sock *sk, struct msghdr *msg, size_t len,
			 const union mhost_addr *dst)
{
	struct mhost_net *mn = mhost_pernet(sock_net(sk));
	struct sock *tsk = mhost_sk(sk)->tsk;
	unsigned int ulen = sizeof(struct udphdr) + len;
	struct ubuf_info *uarg = NULL;
	struct mhost_proto *proto;
	unsigned int gso_size;
	struct sk_buff *skb;
	struct udphdr *uh;
	__wsum csum = 0;
	int err;

	/* No urgent data, and nothing to cork on a plugged L3. */
	if (msg->msg_flags & MSG_OOB)
		return -EOPNOTSUPP;
	if (msg->msg_flags & MSG_MORE)
		return -EINVAL;
	/* Nor can it cut a send into datagrams. */
	gso_size = mhost_gso_size(tsk, msg);
	if (gso_size && len > gso_size)
		return -EOPNOTSUPP;
	skb = sock_alloc_send_skb(tsk, LL_MAX_HEADER + MHOST_L3_HEADROOM + ulen,
				  msg->msg_flags & MSG_DONTWAIT, &err);
	if (!skb)
		return err;
	skb_reserve(skb, LL_MAX_HEADER + MHOST_L3_HEADROOM);
	skb_reset_transport_header(skb);
	uh = skb_put(skb, sizeof(*uh));
	uh->source = READ_ONCE(mhost_sk(sk)->port);
	uh->dest = dst->l3.port;
	uh->len = htons(ulen);
	uh->check = 0;
	if (len && !csum_and_copy_from_iter_full(skb_put(skb, len), len, &csum,
						 &msg->msg_iter)) {
		err = -EFAULT;
		goto drop;
	}
	csum = csum_partial(uh, sizeof(*uh), csum);
	uh->check = csum_fold(mhost_l3_pseudo_csum(dst->sa.sa_family, ulen,
						   csum)) ?: CSUM_MANGLED_0;
	skb->ip_summed = CHECKSUM_NONE;
	skb->priority = READ_ONCE(tsk->sk_priority);
	skb->mark = READ_ONCE(tsk->sk_mark);

	if ((msg->msg_flags & MSG_ZEROCOPY) && len &&
	    sock_flag(tsk, SOCK_ZEROCOPY)) {
		uarg = mhost_l3_zerocopy(tsk, skb, len);
		if (!uarg) {
			err = -ENOBUFS;
			goto drop;
		}
	}

	rcu_read_lock();
	proto = mhost_proto_rcu(dst->sa.sa_family);
	if (proto) {
		err = proto->sendmsg(sock_net(sk), skb, &dst->sa);
		if (!err) {
			mhost_proto_count_tx(mn, proto);
			MHOST_INC_STATS(mn, tx_l3);
		}
	} else {
		kfree_skb(skb);
		err = -EAFNOSUPPORT;
	}
	rcu_read_unlock();
	/* The frame is gone either way: only our reference is left. */
	if (err)
		net_zcopy_put_abort(uarg, true);
	else
		net_zcopy_put(uarg);
	return err ?: len;

drop:
	kfree_skb(skb);
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

/*
 * Sends to one IP or plugged-L3 destination. @segs is what an IP send
 * counts (a plugged L3 refuses segmenting).
 */
static int mhost_send_to(struct sock *sk, struct msghdr *msg, size_t len,
			 union mhost_addr *dst, int dlen, unsigned int segs)
{
	u8 addr[MHOST_ADDR_MAX];
	unsigned int alen;
	int err;

	if (!dlen || dst->sa.sa_family == AF_INET ||
	    dst->sa.sa_family == AF_INET6)
		err = mhost_send_ip(sk, msg, len, dst, dlen, segs);
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

/*
 * The order in which a host id tries its locators (liveness.c decides
 * what .live says): first those neither DOWN nor held down, then the
 * held-down ones, then the DOWN ones, each group in the host's order.
 * Without liveness news every locator is in the first group.
 */
static unsigned int mhost_loc_rank(u8 live)
{
	if ((live & MHOST_LIVE_STATE) == MHOST_LOC_STATE_DOWN)
		return 2;
	return live & MHOST_LIVE_AVOID ? 1 : 0;
}

/*
 * Sends to a host id: the first usable locator (above) carries the
 * datagram. A local path failure moves on to the next locator within
 * the same call, so the application never sees a path die; path
 * liveness finds the failures further away.
 */
static int mhost_send_hostid(struct sock *sk, struct msghdr *msg, size_t len,
			     const struct sockaddr_mhost *smh, unsigned int segs)
{
	struct mhost_net *mn = mhost_pernet(sock_net(sk));
	u8 rank[MHOST_MAX_LOCATORS];
	struct mhost_locator *loc;
	unsigned int i, r, ranks = 0;
	struct iov_iter saved;
	struct mhost_host *host;
	union mhost_addr dst;
	int err = -EHOSTUNREACH;
	bool first = true;

	host = mhost_host_get(mn, smh->smh_hid);
	trace_mhost_hostid_resolve(sk, smh->smh_hid, host ? host->nlocs : 0);
	if (!host) {
		MHOST_INC_STATS(mn, tx_unreach);
		return -EHOSTUNREACH;
	}
	mhost_live_sent(mn, host);

	/* One look at each: the worker may change them meanwhile. */
	for (i = 0; i < host->nlocs; i++) {
		rank[i] = mhost_loc_rank(READ_ONCE(host->locs[i].live));
		ranks |= BIT(rank[i]);
	}

	/*
	 * A failed attempt may have consumed data. Iteration never changes
	 * the segments an iov_iter points to, so a copy restores it
	 * (iov_iter_restore() is not exported).
	 */
	saved = msg->msg_iter;
	for (r = 0; r < 3; r++) {
		if (!(ranks & BIT(r)))
			continue;
		for (i = 0; i < host->nlocs; i++) {
			if (rank[i] != r)
				continue;
			loc = &host->locs[i];
			if (!first) {
				MHOST_INC_STATS(mn, tx_failover);
				msg->msg_iter = saved;
			}
			first = false;
			err = mhost_loc_to_sockaddr(loc, smh->smh_port, &dst);
			if (err >= 0)
				err = mhost_send_to(sk, msg, len, &dst, err,
						    segs);
			if (err >= 0) {
				atomic_long_add(segs, &loc->tx_packets);
				MHOST_ADD_STATS(mn, tx_hostid, segs);
				goto out;
			}
			atomic_long_inc(&loc->tx_errors);
			if (!mhost_path_failed(err))
				goto out;
			trace_mhost_failover(host->hid, i, loc->key.family,
					     loc->key.addr, loc->addr_len, err);
		}
	}
	MHOST_INC_STATS(mn, tx_unreach);
out:
	mhost_host_put(host);
	return err;
}

/*
 * Sends one datagram of a bound socket to @dst (@dlen 0: more data for
 * a corked IP datagram). The caller restores msg_name.
 */
int mhost_output(struct sock *sk, struct msghdr *msg, size_t len,
		 union mhost_addr *dst, int dlen)
{
	unsigned int segs = 0;

	/* Counted once, whichever locators a host id tries. */
	if (dlen)
		segs = mhost_send_segs(mhost_sk(sk)->tsk, msg, len);
	if (dlen && dst->sa.sa_family == mhost_family)
		return mhost_send_hostid(sk, msg, len, &dst->mh, segs);
	return mhost_send_to(sk, msg, len, dst, dlen, segs);
}

/*
 * The AF_MHOST socket whose transport socket sent @skb, if one did. Told
 * by the error hook, which no socket option can change (UDP_ENCAP
 * replaces encap_rcv).
 */
static struct sock *mhost_skb_owner(const struct sk_buff *skb)
{
	struct sock *tsk = skb->sk;

	if (!tsk || !sk_fullsock(tsk) || !sk_is_udp(tsk) ||
	    tsk->sk_family != AF_INET6 ||
	    READ_ONCE(udp_sk(tsk)->encap_err_rcv) != mhost_encap_err_rcv)
		return NULL;
	return rcu_dereference_sk_user_data(tsk);
}

/*
 * Where a plugged L3 may send: only on a device an administrator enabled
 * for it (ENETUNREACH otherwise, so that a host id moves on), only on the
 * device the socket is bound to (SO_BINDTODEVICE,
 * VRF), and to a group address (Ethernet broadcast or multicast) only
 * with CAP_NET_RAW, so that an unprivileged sender cannot flood a
 * segment; like MCTP's sends to a link-layer address, the check is on
 * the sending task. Frames a protocol or the kernel sends on its own
 * pass the last check.
 */
static int mhost_l2_allowed(const struct sk_buff *skb, struct net_device *dev,
			    const void *daddr)
{
	struct sock *sk;

	if (!mhost_dev_l3_enabled(dev))
		return -ENETUNREACH;
	rcu_read_lock();
	sk = mhost_skb_owner(skb);
	if (sk && !sk_dev_equal_l3scope(sk, dev->ifindex)) {
		rcu_read_unlock();
		return -ENETUNREACH;
	}
	if (sk && !sk->sk_kern_sock && dev->type == ARPHRD_ETHER &&
	    is_multicast_ether_addr(daddr) &&
	    !ns_capable(dev_net(dev)->user_ns, CAP_NET_RAW)) {
		rcu_read_unlock();
		return -EPERM;
	}
	rcu_read_unlock();
	return 0;
}

int mhost_send_to_l2(struct sk_buff *skb, struct net_device *dev,
		     const void *daddr)
{
	int err;

	err = mhost_l2_allowed(skb, dev, daddr);
	if (err)
		goto drop;
	if (!(dev->flags & IFF_UP)) {
		err = -ENETDOWN;
		goto drop;
	}
	if (skb->len > dev->mtu) {
		err = -EMSGSIZE;
		goto drop;
	}

	skb->dev = dev;
	skb->protocol = htons(ETH_P_MHOST);
	skb_reset_network_header(skb);
	/* A protocol's frame may have less room than this device needs. */
	if (skb_cow_head(skb, LL_RESERVED_SPACE(dev))) {
		err = -ENOMEM;
		goto drop;
	}
	err = dev_hard_header(skb, dev, ETH_P_MHOST, daddr, NULL, skb->len);
	if (err < 0) {
		err = -EINVAL;
		goto drop;
	}
	err = dev_queue_xmit(skb);
	/* Positive: NET_XMIT_* codes; congestion still means sent. */
	return err > 0 ? net_xmit_errno(err) : err;

drop:
	kfree_skb(skb);
	return err;
}
EXPORT_SYMBOL_GPL(mhost_send_to_l2);

/* ---- Ports: which socket a plugged-L3 datagram is for ---- */

static struct hlist_head *mhost_port_bucket(struct mhost_net *mn, __be16 port)
{
	return &mn->ports[hash_32((__force u32)port, MHOST_PORT_HASH_BITS)];
}

/*
 * The transport socket owns the port in the kernel's UDP table, which
 * already refused any conflicting bind: this table only finds the
 * sockets of a port again for datagrams that did not come by IP. A
 * fixed-size hash, as UDP's own: ports are 16 bits.
 */
void mhost_ports_add(struct mhost_net *mn, struct mhost_sock *ms)
{
	spin_lock_bh(&mn->ports_lock);
	hlist_add_head_rcu(&ms->port_node, mhost_port_bucket(mn, ms->port));
	spin_unlock_bh(&mn->ports_lock);
}

void mhost_ports_del(struct mhost_net *mn, struct mhost_sock *ms)
{
	spin_lock_bh(&mn->ports_lock);
	hlist_del_init_rcu(&ms->port_node);
	spin_unlock_bh(&mn->ports_lock);
}

void mhost_ports_net_init(struct mhost_net *mn)
{
	unsigned int i;

	spin_lock_init(&mn->ports_lock);
	for (i = 0; i < MHOST_PORT_HASH_SIZE; i++)
		INIT_HLIST_HEAD(&mn->ports[i]);
	mn->ports_seed = get_random_u32();
}

/*
 * How well a socket matches the device a datagram came in on: 2 if it
 * is bound to it or to its VRF, 1 if it is not bound, 0 if it is bound
 * elsewhere or closing.
 */
static int mhost_port_score(const struct mhost_sock *ms,
			    const struct net_device *dev)
{
	int bound = READ_ONCE(ms->sk.sk_bound_dev_if);

	if (sock_flag(&ms->sk, SOCK_DEAD))
		return 0;
	if (!bound)
		return 1;
	if (bound == dev->ifindex || bound == l3mdev_master_ifindex_rcu(dev))
		return 2;
	return 0;
}

/*
 * The socket of @port for a datagram that came in on @dev: a socket
 * bound to that device (or its VRF) is preferred over an unbound one,
 * as UDP does; among equals (SO_REUSEPORT), @hash picks one, so that a
 * flow stays on one socket. Called under RCU.
 *
 * The pick is the equal whose id weighs most with @hash (rendezvous
 * hashing): one walk of the bucket, which a bind or close during it
 * cannot make miss every socket, and a socket that comes or goes moves
 * only its own flows.
 */
static struct mhost_sock *mhost_port_lookup(struct mhost_net *mn, __be16 port,
					    const struct net_device *dev,
					    u32 hash)
{
	struct hlist_head *head = mhost_port_bucket(mn, port);
	struct mhost_sock *ms, *pick = NULL;
	u32 weight, heaviest = 0;
	int score, best = 0;

	hlist_for_each_entry_rcu(ms, head, port_node) {
		if (ms->port != port)
			continue;
		score = mhost_port_score(ms, dev);
		if (!score || score < best)
			continue;
		weight = jhash_2words(hash, ms->id, mn->ports_seed);
		if (score > best || weight >= heaviest) {
			best = score;
			heaviest = weight;
			pick = ms;
		}
	}
	return pick;
}

/* ---- Input ---- */

/* Drops a datagram on its way up, counted by reason. */
static int mhost_rx_drop(struct net *net, struct sk_buff *skb, u16 family,
			 enum mhost_drop_reason reason)
{
	struct mhost_net *mn = mhost_pernet(net);

	switch (reason) {
	case MHOST_DROP_SHORT:
		MHOST_INC_STATS(mn, rx_l3_short);
		break;
	case MHOST_DROP_UNKNOWN_FAMILY:
		MHOST_INC_STATS(mn, rx_l3_unknown);
		break;
	case MHOST_DROP_BAD_HEADER:
		MHOST_INC_STATS(mn, rx_l3_bad_header);
		break;
	case MHOST_DROP_BAD_LEN:
		MHOST_INC_STATS(mn, rx_l3_bad_len);
		break;
	case MHOST_DROP_TRUNCATED:
		MHOST_INC_STATS(mn, rx_l3_truncated);
		break;
	case MHOST_DROP_NO_SOCKET:
		MHOST_INC_STATS(mn, rx_l3_no_socket);
		break;
	case MHOST_DROP_BAD_CSUM:
		MHOST_INC_STATS(mn, rx_l3_bad_csum);
		break;
	case MHOST_DROP_DEV_DISABLED:
		MHOST_INC_STATS(mn, rx_l3_dev_disabled);
		break;
	case MHOST_DROP_FILTER:
	case MHOST_DROP_QUEUE_FULL:
		/* Counted in the socket's sk_drops. */
		break;
	}
	trace_mhost_drop(skb, family, reason);
	kfree_skb(skb);
	return NET_RX_DROP;
}

/*
 * What ipv4_pktinfo_prepare() does for the kernel's own UDP sockets,
 * which cannot be called from a module: IP_PKTINFO (and IPV6_PKTINFO for
 * an IPv4 datagram) report the interface the datagram came in on and
 * the local address a reply would come from. The ifindex is already in
 * the control block, which struct in_pktinfo overlays.
 */
static void mhost_ip4_pktinfo(struct sk_buff *skb, bool wanted)
{
	struct in_pktinfo *info = PKTINFO_SKB_CB(skb);
	const struct rtable *rt = skb_rtable(skb);
	const struct iphdr *iph = ip_hdr(skb);

	if (!wanted || !rt) {
		/* What a socket that asks later reads, as on UDP. */
		info->ipi_ifindex = 0;
		info->ipi_spec_dst.s_addr = 0;
		return;
	}
	if (info->ipi_ifindex == LOOPBACK_IFINDEX)
		info->ipi_ifindex = inet_iif(skb);
	else if (ipv4_l3mdev_skb(IPCB(skb)->flags) && rt->rt_iif)
		info->ipi_ifindex = rt->rt_iif;
	if ((rt->rt_flags & (RTCF_BROADCAST | RTCF_MULTICAST |
			     RTCF_LOCAL)) == RTCF_LOCAL)
		info->ipi_spec_dst.s_addr = iph->daddr;
	else if (skb->dev)
		info->ipi_spec_dst.s_addr =
			inet_select_addr(skb->dev, iph->saddr,
					 RT_SCOPE_UNIVERSE);
	else
		info->ipi_spec_dst.s_addr = 0;
}

/*
 * The one way into an AF_MHOST socket's queue, for IP and plugged-L3
 * datagrams alike. @skb's data starts at the UDP header, whose checksum
 * is verified; @tsk is the socket's transport socket. Consumes @skb.
 */
static int mhost_deliver(struct sock *sk, struct sock *tsk,
			 struct sk_buff *skb, u16 family)
{
	struct mhost_net *mn = mhost_pernet(sock_net(sk));
	int err;

	if (sock_flag(sk, SOCK_DEAD))
		return mhost_rx_drop(sock_net(sk), skb, family,
				     MHOST_DROP_NO_SOCKET);

	/*
	 * cgroup-BPF ingress programs are defined for inet sockets: they
	 * run against the transport socket, made in the same cgroup as
	 * the AF_MHOST socket. sk_filter_trim_cap() then runs the LSM
	 * hook and the socket filter, which sees the UDP header first, as
	 * on a UDP socket.
	 */
	err = BPF_CGROUP_RUN_PROG_INET_INGRESS(tsk, skb);
	if (!err)
		err = sk_filter_trim_cap(sk, skb, sizeof(struct udphdr));
	if (err) {
		atomic_inc(&sk->sk_drops);
		return mhost_rx_drop(sock_net(sk), skb, family,
				     MHOST_DROP_FILTER);
	}

	/* A CHECKSUM_COMPLETE sum then covers the payload (IP_CHECKSUM). */
	skb_pull_rcsum(skb, sizeof(struct udphdr));
	/* Neither the route nor conntrack are of use in the queue. */
	skb_dst_drop(skb);
	nf_reset_ct(skb);

	if (__sock_queue_rcv_skb(sk, skb) < 0)
		return mhost_rx_drop(sock_net(sk), skb, family,
				     MHOST_DROP_QUEUE_FULL);

	/* Plugged L3s count where their protocol is known. */
	if (family == AF_INET)
		MHOST_INC_STATS(mn, rx_ip4);
	else if (family == AF_INET6)
		MHOST_INC_STATS(mn, rx_ip6);
	return NET_RX_SUCCESS;
}

/*
 * The transport socket's encap_rcv hook: an IP datagram for the port,
 * its UDP checksum verified, data at the UDP header. Returns 0: it is
 * always consumed, never queued on the transport socket.
 */
int mhost_encap_rcv(struct sock *tsk, struct sk_buff *skb)
{
	bool is_ip4 = skb->protocol == htons(ETH_P_IP);
	u16 family = is_ip4 ? AF_INET : AF_INET6;
	struct mhost_net *mn;
	struct sock *sk;

	/* NULL once the AF_MHOST socket is being closed. */
	sk = rcu_dereference_sk_user_data(tsk);
	if (!sk) {
		kfree_skb(skb);
		return 0;
	}

	/* Path liveness: the way back from that address works. */
	mn = mhost_pernet(sock_net(sk));
	if (atomic_read(&mn->live.naddrs)) {
		struct mhost_lockey key = { .family = family };

		if (is_ip4)
			memcpy(key.addr, &ip_hdr(skb)->saddr,
			       sizeof(struct in_addr));
		else
			memcpy(key.addr, &ipv6_hdr(skb)->saddr,
			       sizeof(struct in6_addr));
		__mhost_live_heard(mn, &key);
	}

	if (is_ip4)
		mhost_ip4_pktinfo(skb, (mhost_inet_cmsg_flags(tsk) &
					IP_CMSG_PKTINFO) ||
				       inet6_sk(tsk)->rxopt.bits.rxinfo);
	mhost_deliver(sk, tsk, skb, family);
	return 0;
}

#ifndef MHOST_HAVE_ENCAP_ERR_ARGS
/*
 * What newer kernels pass to encap_err_rcv, worked out from the ICMP
 * message as __udp4_lib_err() and __udp6_lib_err() do: @skb's data
 * starts at the IP header of the datagram that failed, the UDP header
 * is @udp_offset further.
 */
static bool mhost_icmp_args(struct sk_buff *skb, unsigned int udp_offset,
			    int *err, __be16 *port, u32 *info, u8 **payload)
{
	struct udphdr *uh = (struct udphdr *)(skb->data + udp_offset);
	const struct icmphdr *ih = icmp_hdr(skb);

	*port = uh->dest;
	*payload = (u8 *)(uh + 1);
	*info = 0;
	if (skb->protocol == htons(ETH_P_IPV6)) {
		const struct icmp6hdr *ih6 = icmp6_hdr(skb);

		if (ih6->icmp6_type == ICMPV6_PKT_TOOBIG)
			*info = ntohl(ih6->icmp6_mtu);
		icmpv6_err_convert(ih6->icmp6_type, ih6->icmp6_code, err);
		return true;
	}

	switch (ih->type) {
	case ICMP_DEST_UNREACH:
		if (ih->code == ICMP_FRAG_NEEDED) {
			*info = ntohs(ih->un.frag.mtu);
			*err = EMSGSIZE;
		} else if (ih->code <= NR_ICMP_UNREACH) {
			*err = icmp_err_convert[ih->code].errno;
		} else {
			*err = EHOSTUNREACH;
		}
		return true;
	case ICMP_PARAMETERPROB:
		*info = ntohl(ih->un.gateway) >> 24;
		*err = EPROTO;
		return true;
	case ICMP_TIME_EXCEEDED:
		*err = EHOSTUNREACH;
		return true;
	}
	/* Source quench, redirects: nothing for the application. */
	return false;
}
#endif

/*
 * The transport socket's encap_err_rcv hook: an ICMP or ICMPv6 error
 * about a datagram it sent. As on UDP, it goes on the error queue when
 * the application asked for it (IP_RECVERR for IPv4, IPV6_RECVERR for
 * IPv6); recvmsg(MSG_ERRQUEUE) reads it from there. Path liveness sees
 * it first.
 */
void mhost_encap_err_rcv(MHOST_ENCAP_ERR_RCV_ARGS)
{
#ifndef MHOST_HAVE_ENCAP_ERR_ARGS
	u8 *payload;
	__be16 port;
	u32 info;
	int err;
#endif

	/* An unreachable may mean a locator died: liveness verifies it. */
	mhost_live_icmp(mhost_pernet(sock_net(sk)), skb);
#ifndef MHOST_HAVE_ENCAP_ERR_ARGS
	if (!mhost_icmp_args(skb, udp_offset, &err, &port, &info, &payload))
		return;
#endif
	if (skb->protocol == htons(ETH_P_IPV6)) {
		if (mhost_inet6_recverr(sk))
			mhost_ipv6_icmp_error(sk, skb, err, port, info, payload);
	} else if (mhost_inet_recverr(sk)) {
		mhost_ip_icmp_error(sk, skb, err, port, info, payload);
	}
}

/* ---- Input from plugged L3s ---- */

static int __mhost_send_to_l4(struct sk_buff *skb, const struct sockaddr *src)
{
	struct net *net = dev_net(skb->dev);
	struct mhost_net *mn = mhost_pernet(net);
	struct mhost_lockey key = {};
	struct mhost_proto *proto;
	struct mhost_rx_cb *cb;
	struct mhost_sock *ms;
	struct udphdr *uh;
	unsigned int ulen;
	__wsum csum;
	u32 hash;

	/* NULL if the protocol is unregistering while its ->rcv runs. */
	proto = mhost_proto_rcu(src->sa_family);
	if (!proto)
		return mhost_rx_drop(net, skb, src->sa_family,
				     MHOST_DROP_UNKNOWN_FAMILY);

	if (!pskb_may_pull(skb, sizeof(*uh)))
		return mhost_rx_drop(net, skb, src->sa_family,
				     MHOST_DROP_SHORT);
	skb_reset_transport_header(skb);
	ulen = ntohs(udp_hdr(skb)->len);
	if (ulen < sizeof(*uh))
		return mhost_rx_drop(net, skb, src->sa_family,
				     MHOST_DROP_BAD_LEN);
	if (ulen > skb->len)
		return mhost_rx_drop(net, skb, src->sa_family,
				     MHOST_DROP_TRUNCATED);
	if (pskb_trim(skb, ulen))
		return mhost_rx_drop(net, skb, src->sa_family,
				     MHOST_DROP_SHORT);
	/* Trimming a clone may have moved the data: look again. */
	uh = udp_hdr(skb);

	/* No offload knows this checksum: verify it here, always. */
	csum = skb_checksum(skb, 0, ulen, 0);
	if (!uh->check ||
	    csum_fold(mhost_l3_pseudo_csum(src->sa_family, ulen, csum)))
		return mhost_rx_drop(net, skb, src->sa_family,
				     MHOST_DROP_BAD_CSUM);
	skb->ip_summed = CHECKSUM_UNNECESSARY;

	key.family = src->sa_family;
	proto->addr_to_locator(src, key.addr);

	/* Probes travel to their own port, over a plugged L3 as over IP. */
	if (unlikely(uh->dest == READ_ONCE(mn->live.bound_port) && uh->dest)) {
		skb_orphan(skb);
		mhost_live_l3_rcv(mn, skb, &key, skb->dev->ifindex, src,
				  proto->sockaddr_len);
		return NET_RX_SUCCESS;
	}
	/* Path liveness: the way back from that address works. */
	mhost_live_heard(mn, &key);

	hash = jhash(&key, sizeof(key), (__force u32)uh->source);
	ms = mhost_port_lookup(mn, uh->dest, skb->dev, hash);
	if (!ms)
		return mhost_rx_drop(net, skb, src->sa_family,
				     MHOST_DROP_NO_SOCKET);

	cb = mhost_rx_cb(skb);
	memset(cb, 0, sizeof(*cb));
	cb->l3.len = proto->sockaddr_len;
	memcpy(cb->l3.addr, src, proto->sockaddr_len);
	((struct mhost_l3_sockaddr *)cb->l3.addr)->port = uh->source;
	if (READ_ONCE(ms->recv_hostid))
		cb->hid = mhost_hid_by_source(mn, &key, uh->source);

	/*
	 * veth keeps skb->sk across namespaces; the queue charges the
	 * datagram to its receiver, not to its sender's send buffer.
	 */
	skb_orphan(skb);
	if (mhost_deliver(&ms->sk, ms->tsk, skb, src->sa_family))
		return NET_RX_DROP;
	mhost_proto_count_rx(mn, proto);
	MHOST_INC_STATS(mn, rx_l3);
	return NET_RX_SUCCESS;
}

/*
 * Protocols may call this from anywhere they receive (softirq, or a
 * work item of their own): it takes the RCU read lock its lookups need,
 * and marks the datagram as a plugged L3's for recvmsg().
 */
int mhost_send_to_l4(struct sk_buff *skb, const struct sockaddr *src)
{
	int ret;

	skb->protocol = htons(ETH_P_MHOST);
	rcu_read_lock();
	ret = __mhost_send_to_l4(skb, src);
	rcu_read_unlock();
	return ret;
}
EXPORT_SYMBOL_GPL(mhost_send_to_l4);

static int mhost_l3_rcv(struct sk_buff *skb, struct net_device *dev,
			struct packet_type *pt, struct net_device *orig_dev)
{
	struct mhost_proto *proto;
	u16 family;

	/* Not for this host: not a drop worth counting. */
	if (skb->pkt_type == PACKET_OTHERHOST) {
		kfree_skb(skb);
		return NET_RX_DROP;
	}
	/* Only devices an administrator opened to plugged L3s. */
	if (!mhost_dev_l3_enabled(dev))
		return mhost_rx_drop(dev_net(dev), skb, 0,
				     MHOST_DROP_DEV_DISABLED);
	skb = skb_share_check(skb, GFP_ATOMIC);
	if (!skb)
		return NET_RX_DROP;

	if (!pskb_may_pull(skb, sizeof(__be16)))
		return mhost_rx_drop(dev_net(dev), skb, 0, MHOST_DROP_SHORT);
	family = ntohs(*(__be16 *)skb->data);

	/* Called under rcu_read_lock() by the receive path. */
	proto = mhost_proto_rcu(family);
	if (!proto)
		return mhost_rx_drop(dev_net(dev), skb, family,
				     MHOST_DROP_UNKNOWN_FAMILY);
	skb_reset_network_header(skb);
	if (proto->rcv(skb) < 0)
		return mhost_rx_drop(dev_net(dev), skb, family,
				     MHOST_DROP_BAD_HEADER);
	return NET_RX_SUCCESS;
}

static struct packet_type mhost_ptype __read_mostly = {
	.type	= cpu_to_be16(ETH_P_MHOST),
	.func	= mhost_l3_rcv,
};

int __init mhost_route_init(void)
{
	dev_add_pack(&mhost_ptype);
	return 0;
}

void mhost_route_exit(void)
{
	/* Waits for receivers still running mhost_l3_rcv(). */
	dev_remove_pack(&mhost_ptype);
}
