// SPDX-License-Identifier: GPL-2.0
/*
 * The registry of plugged-in (non-IP) network layers: which module
 * speaks which family, and the few questions mhost asks them about
 * addresses. The way their datagrams travel is in route.c.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/netlink.h>
#include <linux/rcupdate.h>
#include <net/net_namespace.h>

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
