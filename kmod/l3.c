// SPDX-License-Identifier: GPL-2.0
/*
 * Plugged-in (non-IP) network layers: the registry, the way down to the
 * device (ETH_P_MHOST frames) and the way up to the socket.
 *
 * Ports are owned in the kernel's UDP table, where every AF_MHOST socket
 * is bound to [::]:port: the receive path looks the destination port up
 * there, so IP and plugged L3s can never disagree on who owns a port.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/etherdevice.h>
#include <linux/if_ether.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <net/ipv6.h>
#include <net/net_namespace.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/udp.h>

#include "mhost.h"
#include "trace.h"

static struct mhost_proto __rcu *mhost_protos[MHOST_PROTO_FAMILY_MAX + 1];
/* Slots of the per-namespace counters, one per registered protocol. */
static DECLARE_BITMAP(mhost_proto_slots, MHOST_MAX_PROTOS);
static DEFINE_MUTEX(mhost_protos_lock);

struct mhost_proto *mhost_proto_rcu(u16 family)
{
	if (family > MHOST_PROTO_FAMILY_MAX)
		return NULL;
	return rcu_dereference(mhost_protos[family]);
}

int mhost_register_proto(struct mhost_proto *proto)
{
	u16 family = proto->family;
	unsigned int slot;
	int err = 0;

	if (!family || family > MHOST_PROTO_FAMILY_MAX ||
	    family == AF_INET || family == AF_INET6 ||
	    family == mhost_family || !proto->name ||
	    !proto->addr_len || proto->addr_len > MHOST_L3_ADDR_MAX ||
	    proto->sockaddr_len < sizeof(struct mhost_l3_sockaddr) ||
	    proto->sockaddr_len > MHOST_L3_SOCKADDR_MAX ||
	    !proto->check_addr || !proto->locator_to_addr ||
	    !proto->addr_to_locator || !proto->sendmsg || !proto->rcv)
		return -EINVAL;

	mutex_lock(&mhost_protos_lock);
	slot = find_first_zero_bit(mhost_proto_slots, MHOST_MAX_PROTOS);
	if (rcu_access_pointer(mhost_protos[family])) {
		err = -EEXIST;
	} else if (slot >= MHOST_MAX_PROTOS) {
		err = -ENOSPC;
	} else {
		/* Its counters are 0 in every namespace: see below. */
		__set_bit(slot, mhost_proto_slots);
		proto->slot = slot;
		rcu_assign_pointer(mhost_protos[family], proto);
		trace_mhost_proto_register(proto);
	}
	mutex_unlock(&mhost_protos_lock);
	return err;
}
EXPORT_SYMBOL_GPL(mhost_register_proto);

/* Zeroes the counters of a free slot in every namespace. */
static void mhost_proto_clear_counters(unsigned int slot)
{
	struct mhost_pcpu_stats *s;
	struct net *net;
	int cpu;

	down_read(&net_rwsem);
	for_each_net(net) {
		for_each_possible_cpu(cpu) {
			s = per_cpu_ptr(mhost_pernet(net)->stats, cpu);
			WRITE_ONCE(s->proto_tx[slot], 0);
			WRITE_ONCE(s->proto_rx[slot], 0);
		}
	}
	up_read(&net_rwsem);
}

void mhost_unregister_proto(struct mhost_proto *proto)
{
	u16 family = proto->family;
	bool registered;

	/* Not registered, so not in the table, if out of its bounds. */
	if (!family || family > MHOST_PROTO_FAMILY_MAX)
		return;

	mutex_lock(&mhost_protos_lock);
	registered = rcu_access_pointer(mhost_protos[family]) == proto;
	if (registered) {
		RCU_INIT_POINTER(mhost_protos[family], NULL);
		trace_mhost_proto_unregister(proto);
	}
	mutex_unlock(&mhost_protos_lock);
	if (!registered)
		return;
	/*
	 * Every call into the protocol, and every count of its datagrams,
	 * runs under RCU: wait them out. Then its slot is quiet, and a
	 * namespace made later starts from zeroed counters.
	 */
	synchronize_rcu();
	mhost_proto_clear_counters(proto->slot);
	mutex_lock(&mhost_protos_lock);
	__clear_bit(proto->slot, mhost_proto_slots);
	mutex_unlock(&mhost_protos_lock);
}
EXPORT_SYMBOL_GPL(mhost_unregister_proto);

/* What @proto carried for @mn's namespace. */
void mhost_proto_counters(struct mhost_net *mn, const struct mhost_proto *proto,
			  u64 *tx, u64 *rx)
{
	const struct mhost_pcpu_stats *s;
	int cpu;

	*tx = 0;
	*rx = 0;
	for_each_possible_cpu(cpu) {
		s = per_cpu_ptr(mn->stats, cpu);
		*tx += READ_ONCE(s->proto_tx[proto->slot]);
		*rx += READ_ONCE(s->proto_rx[proto->slot]);
	}
}

int mhost_l3_addr_len(u16 family)
{
	struct mhost_proto *proto;
	int len = -EAFNOSUPPORT;

	rcu_read_lock();
	proto = mhost_proto_rcu(family);
	if (proto)
		len = proto->addr_len;
	rcu_read_unlock();
	return len;
}

/* The locator address of a plugged-L3 destination; 0 if it is gone. */
unsigned int mhost_l3_addr_bytes(const union mhost_addr *dst, u8 *addr)
{
	struct mhost_proto *proto;
	unsigned int len = 0;

	rcu_read_lock();
	proto = mhost_proto_rcu(dst->sa.sa_family);
	if (proto) {
		proto->addr_to_locator(&dst->sa, addr);
		len = proto->addr_len;
	}
	rcu_read_unlock();
	return len;
}

/* Checks a destination of a plugged L3; returns its length or -errno. */
int mhost_l3_check_dest(const struct sockaddr *uaddr, int len,
			union mhost_addr *dst)
{
	struct mhost_proto *proto;
	int err;

	rcu_read_lock();
	proto = mhost_proto_rcu(uaddr->sa_family);
	if (!proto) {
		err = -EAFNOSUPPORT;
	} else if (len < proto->sockaddr_len) {
		err = -EINVAL;
	} else {
		memset(dst, 0, sizeof(*dst));
		memcpy(dst, uaddr, proto->sockaddr_len);
		err = dst->l3.port ? proto->check_addr(&dst->sa) : -EINVAL;
		if (!err)
			err = proto->sockaddr_len;
	}
	rcu_read_unlock();
	return err;
}

int mhost_l3_locator_to_addr(u16 family, const u8 *addr, int ifindex,
			     __be16 port, union mhost_addr *dst)
{
	struct mhost_proto *proto;
	int len = -EAFNOSUPPORT;

	rcu_read_lock();
	proto = mhost_proto_rcu(family);
	if (proto) {
		memset(dst, 0, sizeof(*dst));
		dst->l3.family = family;
		dst->l3.port = port;
		proto->locator_to_addr(addr, ifindex, &dst->sa);
		len = proto->sockaddr_len;
	}
	rcu_read_unlock();
	return len;
}

/*
 * Sends one datagram over a plugged L3: mhost builds the UDP header
 * (no checksum: the link layer's CRC covers the frame, as in the
 * original), the protocol adds its own and hands it to the device.
 */
int mhost_send_l3(struct sock *sk, struct msghdr *msg, size_t len,
		  const union mhost_addr *dst)
{
	struct mhost_net *mn = mhost_pernet(sock_net(sk));
	struct mhost_proto *proto;
	struct sk_buff *skb;
	struct udphdr *uh;
	int err;

	skb = sock_alloc_send_skb(sk, LL_MAX_HEADER + MHOST_L3_HEADROOM +
				  sizeof(*uh) + len,
				  msg->msg_flags & MSG_DONTWAIT, &err);
	if (!skb)
		return err;
	skb_reserve(skb, LL_MAX_HEADER + MHOST_L3_HEADROOM);
	skb_reset_transport_header(skb);
	uh = skb_put(skb, sizeof(*uh));
	uh->source = inet_sk(sk)->inet_sport;
	uh->dest = dst->l3.port;
	uh->len = htons(sizeof(*uh) + len);
	uh->check = 0;
	err = memcpy_from_msg(skb_put(skb, len), msg, len);
	if (err) {
		kfree_skb(skb);
		return err;
	}
	skb->priority = sk->sk_priority;
	skb->mark = sk->sk_mark;

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
	return err ?: len;
}

int mhost_send_to_l2(struct sk_buff *skb, struct net_device *dev,
		     const void *daddr)
{
	int err;

	/* Only where an administrator allowed it (device.c). */
	if (!mhost_dev_l3_enabled(dev)) {
		err = -ENETUNREACH;
		goto drop;
	}
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

/* Drops a frame on its way up, counted by reason. */
static int mhost_l3_drop(struct sk_buff *skb, u16 family,
			 enum mhost_drop_reason reason)
{
	struct mhost_net *mn = mhost_pernet(dev_net(skb->dev));

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
	case MHOST_DROP_QUEUE_FULL:
		/* Counted in the socket's sk_drops. */
		break;
	case MHOST_DROP_DEV_DISABLED:
		MHOST_INC_STATS(mn, rx_l3_dev_disabled);
		break;
	}
	trace_mhost_drop(skb, family, reason);
	kfree_skb(skb);
	return NET_RX_DROP;
}

int mhost_send_to_l4(struct sk_buff *skb, const struct sockaddr *src)
{
	struct mhost_net *mn = mhost_pernet(dev_net(skb->dev));
	struct mhost_lockey key = {};
	struct mhost_proto *proto;
	struct mhost_l3_cb *cb;
	struct udphdr *uh;
	unsigned int ulen;
	struct sock *sk;

	/* NULL if the protocol is unregistering while its ->rcv runs. */
	proto = mhost_proto_rcu(src->sa_family);
	if (!proto)
		return mhost_l3_drop(skb, src->sa_family,
				     MHOST_DROP_UNKNOWN_FAMILY);

	if (!pskb_may_pull(skb, sizeof(*uh)))
		return mhost_l3_drop(skb, src->sa_family, MHOST_DROP_SHORT);
	skb_reset_transport_header(skb);
	uh = udp_hdr(skb);
	ulen = ntohs(uh->len);
	if (ulen < sizeof(*uh))
		return mhost_l3_drop(skb, src->sa_family, MHOST_DROP_BAD_LEN);
	if (ulen > skb->len)
		return mhost_l3_drop(skb, src->sa_family,
				     MHOST_DROP_TRUNCATED);
	if (pskb_trim(skb, ulen))
		return mhost_l3_drop(skb, src->sa_family, MHOST_DROP_SHORT);

	sk = __udp6_lib_lookup(dev_net(skb->dev), &in6addr_any, uh->source,
			       &in6addr_any, uh->dest, skb->dev->ifindex, 0,
			       &udp_table, NULL);
	if (!sk || !mhost_is_mhost_sock(sk))
		return mhost_l3_drop(skb, src->sa_family,
				     MHOST_DROP_NO_SOCKET);

	cb = mhost_l3_cb(skb);
	memset(cb, 0, sizeof(*cb));
	cb->len = proto->sockaddr_len;
	memcpy(cb->addr, src, proto->sockaddr_len);
	((struct mhost_l3_sockaddr *)cb->addr)->port = uh->source;
	if (READ_ONCE(mhost_sk(sk)->recv_hostid)) {
		key.family = src->sa_family;
		proto->addr_to_locator(src, key.addr);
		cb->hid = mhost_hid_by_source(mn, &key, uh->source);
	}

	/*
	 * Queued as UDP queues: header pulled. There is no UDP checksum
	 * to verify (the link layer's CRC covered the frame), which
	 * recvmsg learns from ip_summed through the UDP scratch area.
	 */
	/*
	 * veth keeps skb->sk across namespaces; the UDP queue frees
	 * without a destructor, which would leave the datagram charged to
	 * its sender's send buffer forever.
	 */
	skb_orphan(skb);
	nf_reset_ct(skb);
	__skb_pull(skb, sizeof(*uh));
	skb->ip_summed = CHECKSUM_UNNECESSARY;

	/* On failure it counted the drop in sk_drops. */
	if (__udp_enqueue_schedule_skb(sk, skb) < 0)
		return mhost_l3_drop(skb, src->sa_family,
				     MHOST_DROP_QUEUE_FULL);

	mhost_proto_count_rx(mn, proto);
	MHOST_INC_STATS(mn, rx_l3);
	return 0;
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
	/* Frames are parsed only where an administrator allowed it. */
	if (!mhost_dev_l3_enabled(dev))
		return mhost_l3_drop(skb, 0, MHOST_DROP_DEV_DISABLED);
	skb = skb_share_check(skb, GFP_ATOMIC);
	if (!skb)
		return NET_RX_DROP;

	if (!pskb_may_pull(skb, sizeof(__be16)))
		return mhost_l3_drop(skb, 0, MHOST_DROP_SHORT);
	family = ntohs(*(__be16 *)skb->data);

	/* Called under rcu_read_lock() by the receive path. */
	proto = mhost_proto_rcu(family);
	if (!proto)
		return mhost_l3_drop(skb, family, MHOST_DROP_UNKNOWN_FAMILY);
	skb_reset_network_header(skb);
	if (proto->rcv(skb) < 0)
		return mhost_l3_drop(skb, family, MHOST_DROP_BAD_HEADER);
	return NET_RX_SUCCESS;
}

static struct packet_type mhost_ptype __read_mostly = {
	.type	= cpu_to_be16(ETH_P_MHOST),
	.func	= mhost_l3_rcv,
};

/* Dumps the registered protocols, resuming at family cb->args[1]. */
int mhost_l3_proto_dump(struct sk_buff *skb, struct netlink_callback *cb,
			int (*fill)(struct sk_buff *skb,
				    struct netlink_callback *cb,
				    const struct mhost_proto *proto))
{
	struct mhost_proto *proto;
	unsigned long family;
	int err = 0;

	rcu_read_lock();
	for (family = cb->args[1]; family <= MHOST_PROTO_FAMILY_MAX; family++) {
		proto = rcu_dereference(mhost_protos[family]);
		if (!proto)
			continue;
		err = fill(skb, cb, proto);
		if (err)
			break;
	}
	rcu_read_unlock();
	cb->args[1] = family;
	return err;
}

int __init mhost_l3_init(void)
{
	dev_add_pack(&mhost_ptype);
	return 0;
}

void mhost_l3_exit(void)
{
	/* Waits for receivers still running mhost_l3_rcv(). */
	dev_remove_pack(&mhost_ptype);
}
