// SPDX-License-Identifier: GPL-2.0
/*
 * The per-namespace host table: host id -> ordered list of locators.
 *
 * Readers (sendmsg, recvmsg, the receive softirq) run under RCU and never
 * lock. A host is immutable once published but for its counters: a change
 * builds a new host and swaps it in, so a sender always sees one
 * consistent list.
 *
 * Lifetime. The tables hold one reference on each host they index. When a
 * host leaves them (replaced, deleted, flushed, or half published when
 * publishing failed), that reference is dropped only after an RCU grace
 * period. So a reader that found a host under RCU can always take a
 * reference of its own: mhost_host_get() never meets a dying host, and a
 * sender racing with a replace gets the old version or the new one, never
 * nothing. And a softirq reader walking locators in the reverse map never
 * meets freed memory. Senders hold their reference across a send, which
 * may sleep; the last reference frees the host at once, since a grace
 * period has passed by then.
 *
 * Writers hold mn->hosts_lock. A netlink request that changes the table
 * holds mn->ops_lock too, for the whole request: so a flush can drop
 * hosts_lock between batches (a device going away takes it under RTNL and
 * must not wait for a million hosts) without another request seeing the
 * flush half done.
 *
 * A second table maps (family, address) to locators, so that a received
 * datagram's source can be turned back into a host id. mn->loc_devs counts
 * the locators that name each device, so that a device going away costs a
 * walk of the table only when a locator names it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/netdevice.h>
#include <linux/rhashtable.h>
#include <linux/slab.h>
#include <uapi/linux/mhost.h>

#include "mhost.h"

/*
 * Host entries alive in all namespaces. Only debugfs shows it (nothing
 * global is visible from a namespace): the tests check with it that a
 * namespace that dies frees its hosts.
 */
static atomic_t mhost_hosts_allocated = ATOMIC_INIT(0);
static struct dentry *mhost_debugfs;

/*
 * Most hosts have one or two locators (typically an IPv4 and an IPv6
 * address). A cache of exactly that size stores them in 176 bytes, where
 * kmalloc would round up to 192; and, when it is not merged with another
 * cache (slab_nomerge, as the tests boot), destroying it at unload reports
 * any host that leaked. Larger hosts come from kmalloc.
 */
#define MHOST_HOST_CACHE_LOCS	2
static struct kmem_cache *mhost_host_cache __read_mostly;

/* Hosts a flush or a device purge handles between two reschedules. */
#define MHOST_HOSTS_BATCH	1024

static const struct rhashtable_params mhost_host_params = {
	.head_offset		= offsetof(struct mhost_host, node),
	.key_offset		= offsetof(struct mhost_host, hid),
	.key_len		= sizeof(u32),
	.automatic_shrinking	= true,
};

static const struct rhashtable_params mhost_loc_params = {
	.head_offset		= offsetof(struct mhost_locator, rnode),
	.key_offset		= offsetof(struct mhost_locator, key),
	.key_len		= sizeof(struct mhost_lockey),
	.automatic_shrinking	= true,
};

struct mhost_host *mhost_host_alloc(struct mhost_net *mn, u32 hid,
				    unsigned int nlocs)
{
	struct mhost_host *host;

	if (nlocs <= MHOST_HOST_CACHE_LOCS)
		host = kmem_cache_zalloc(mhost_host_cache, GFP_KERNEL_ACCOUNT);
	else
		host = kzalloc(struct_size(host, locs, nlocs),
			       GFP_KERNEL_ACCOUNT);
	if (!host)
		return NULL;
	host->mn = mn;
	host->hid = hid;
	host->nlocs = nlocs;
	refcount_set(&host->ref, 1);
	atomic_long_inc(&mn->hosts_allocated);
	atomic_inc(&mhost_hosts_allocated);
	return host;
}

/* Frees a host no reader can reach: never published, or the last put. */
void mhost_host_free(struct mhost_host *host)
{
	struct mhost_net *mn = host->mn;

	if (host->nlocs <= MHOST_HOST_CACHE_LOCS)
		kmem_cache_free(mhost_host_cache, host);
	else
		kfree(host);
	atomic_long_dec(&mn->hosts_allocated);
	atomic_dec(&mhost_hosts_allocated);
}

void mhost_host_put(struct mhost_host *host)
{
	if (refcount_dec_and_test(&host->ref))
		mhost_host_free(host);
}

static void mhost_host_release_rcu(struct rcu_head *head)
{
	mhost_host_put(container_of(head, struct mhost_host, rcu));
}

/*
 * Drops the tables' reference on a host that left them, once every
 * reader that may have found it is done.
 */
static void mhost_host_retire(struct mhost_host *host)
{
	call_rcu(&host->rcu, mhost_host_release_rcu);
}

struct mhost_host *mhost_host_get(struct mhost_net *mn, u32 hid)
{
	struct mhost_host *host;

	rcu_read_lock();
	host = rhashtable_lookup(&mn->hosts, &hid, mhost_host_params);
	/* Never from 0: the tables' reference outlives this section. */
	if (host)
		refcount_inc(&host->ref);
	rcu_read_unlock();
	return host;
}

struct mhost_host *mhost_host_find(struct mhost_net *mn, u32 hid)
{
	lockdep_assert_held(&mn->hosts_lock);
	return rhashtable_lookup_fast(&mn->hosts, &hid, mhost_host_params);
}

/*
 * The host a datagram from @key's address and source @port came from:
 * the one with a locator for that address and port, else one with a
 * locator for that address and any port; 0 if none. Any locator of the
 * list found will do, so the cost does not grow with the hosts that
 * share an address.
 */
u32 mhost_hid_by_source(struct mhost_net *mn, const struct mhost_lockey *key,
			__be16 port)
{
	struct mhost_lockey k = *key;
	struct rhlist_head *list;
	u32 hid = 0;

	rcu_read_lock();
	k.port = port;
	list = rhltable_lookup(&mn->locators, &k, mhost_loc_params);
	if (!list && port) {
		k.port = 0;
		list = rhltable_lookup(&mn->locators, &k, mhost_loc_params);
	}
	if (list)
		hid = container_of(list, struct mhost_locator, rnode)->hid;
	rcu_read_unlock();
	return hid;
}

/*
 * Counters follow a locator into the new version of its host, so that
 * append and replace do not reset what a locator already carried.
 * Increments racing with the swap may be lost; they are statistics. So
 * does its liveness byte, so that senders keep avoiding a dead locator
 * until the liveness worker looks at the new version.
 */
static void mhost_carry_counters(struct mhost_host *new,
				 const struct mhost_host *old)
{
	unsigned int i, j;

	for (i = 0; i < new->nlocs; i++) {
		for (j = 0; j < old->nlocs; j++) {
			if (!mhost_loc_same(&new->locs[i], &old->locs[j]))
				continue;
			atomic_long_set(&new->locs[i].tx_packets,
					atomic_long_read(&old->locs[j].tx_packets));
			atomic_long_set(&new->locs[i].tx_errors,
					atomic_long_read(&old->locs[j].tx_errors));
			new->locs[i].live = READ_ONCE(old->locs[j].live);
			break;
		}
	}
}

static void mhost_unindex(struct mhost_net *mn, struct mhost_host *host,
			  unsigned int n)
{
	while (n--)
		rhltable_remove(&mn->locators, &host->locs[n].rnode,
				mhost_loc_params);
}

static int mhost_index(struct mhost_net *mn, struct mhost_host *host)
{
	unsigned int i;
	int err;

	for (i = 0; i < host->nlocs; i++) {
		host->locs[i].hid = host->hid;
		err = rhltable_insert(&mn->locators, &host->locs[i].rnode,
				      mhost_loc_params);
		if (err) {
			mhost_unindex(mn, host, i);
			return err;
		}
	}
	return 0;
}

/* Adds @delta to the count of locators naming device @ifindex. */
static int mhost_dev_count(struct mhost_net *mn, int ifindex, long delta)
{
	void *entry = xa_load(&mn->loc_devs, ifindex);
	long n = (entry ? xa_to_value(entry) : 0) + delta;

	if (!n) {
		xa_erase(&mn->loc_devs, ifindex);
		return 0;
	}
	/*
	 * Only a new index allocates. A decrement finds its entry, so it
	 * neither fails nor sleeps: a flush does it under RCU.
	 */
	return xa_err(xa_store(&mn->loc_devs, ifindex, xa_mk_value(n),
			       delta > 0 ? GFP_KERNEL_ACCOUNT : GFP_NOWAIT));
}

static void mhost_uncount_devs(struct mhost_net *mn, struct mhost_host *host,
			       unsigned int n)
{
	while (n--)
		if (host->locs[n].ifindex)
			mhost_dev_count(mn, host->locs[n].ifindex, -1);
}

static int mhost_count_devs(struct mhost_net *mn, struct mhost_host *host)
{
	unsigned int i;
	int err;

	for (i = 0; i < host->nlocs; i++) {
		if (!host->locs[i].ifindex)
			continue;
		err = mhost_dev_count(mn, host->locs[i].ifindex, 1);
		if (err) {
			mhost_uncount_devs(mn, host, i);
			return err;
		}
	}
	return 0;
}

/*
 * Whether every device that @n locators name is in the namespace, for
 * locators about to be published. Under hosts_lock this settles it: a
 * device leaves the list of its namespace before mhost_hosts_forget_dev()
 * runs for it, which waits for the lock. (Locators a host already has
 * need no check: one naming a device that left is removed then.)
 */
bool mhost_devs_present(struct mhost_net *mn, const struct mhost_locator *locs,
			unsigned int n)
{
	bool present = true;
	unsigned int i;

	lockdep_assert_held(&mn->hosts_lock);

	rcu_read_lock();
	for (i = 0; i < n && present; i++)
		present = !locs[i].ifindex ||
			  dev_get_by_index_rcu(mn->net, locs[i].ifindex);
	rcu_read_unlock();
	return present;
}

/* Takes @host out of the tables; readers may still hold it. */
static void mhost_host_drop(struct mhost_net *mn, struct mhost_host *host)
{
	mhost_unindex(mn, host, host->nlocs);
	mhost_uncount_devs(mn, host, host->nlocs);
	mhost_host_retire(host);
}

/*
 * Publishes @new, replacing @old if there is one, and takes @new over
 * either way: on failure it is freed (after a grace period if readers
 * could see part of it). The devices of the locators that are new must
 * have been checked with mhost_devs_present().
 */
int mhost_host_publish(struct mhost_net *mn, struct mhost_host *new,
		       struct mhost_host *old)
{
	int err;

	lockdep_assert_held(&mn->hosts_lock);

	err = mhost_count_devs(mn, new);
	if (err) {
		mhost_host_free(new);
		return err;
	}
	err = mhost_index(mn, new);
	if (err) {
		/* What it indexed was visible until unindexed. */
		mhost_uncount_devs(mn, new, new->nlocs);
		mhost_host_retire(new);
		return err;
	}

	if (old) {
		mhost_carry_counters(new, old);
		err = rhashtable_replace_fast(&mn->hosts, &old->node,
					      &new->node, mhost_host_params);
	} else {
		err = rhashtable_insert_fast(&mn->hosts, &new->node,
					     mhost_host_params);
	}
	if (err) {
		mhost_host_drop(mn, new);
		return err;
	}

	if (old)
		mhost_host_drop(mn, old);
	else
		mn->nhosts++;
	mn->hosts_gen++;
	return 0;
}

void mhost_host_unlink(struct mhost_net *mn, struct mhost_host *host)
{
	lockdep_assert_held(&mn->hosts_lock);

	/* A walk across a resize can return a host twice: unlink it once. */
	if (rhashtable_remove_fast(&mn->hosts, &host->node, mhost_host_params))
		return;
	mhost_host_drop(mn, host);
	mn->nhosts--;
	mn->hosts_gen++;
}

/*
 * Deletes every host, holding hosts_lock for a batch at a time. The
 * caller holds ops_lock, so only a device going away can change the table
 * in between, and that only removes. A walk sees every host that is in
 * the table throughout; one a device purge replaced behind the walk, or
 * one that restarting the walk skipped, waits for the next pass.
 */
void mhost_hosts_flush(struct mhost_net *mn)
{
	struct rhashtable_iter iter;
	struct mhost_host *host;
	unsigned int n;

	lockdep_assert_held(&mn->ops_lock);

	rhashtable_walk_enter(&mn->hosts, &iter);
	mutex_lock(&mn->hosts_lock);
	while (mn->nhosts) {
		rhashtable_walk_start(&iter);
		n = 0;
		while (n < MHOST_HOSTS_BATCH &&
		       (host = rhashtable_walk_next(&iter))) {
			if (IS_ERR(host))
				continue;	/* -EAGAIN: a resize */
			mhost_host_unlink(mn, host);
			n++;
		}
		rhashtable_walk_stop(&iter);
		if (n < MHOST_HOSTS_BATCH) {
			/* The end of a pass: start another if need be. */
			rhashtable_walk_exit(&iter);
			rhashtable_walk_enter(&mn->hosts, &iter);
		}
		mutex_unlock(&mn->hosts_lock);
		cond_resched();
		mutex_lock(&mn->hosts_lock);
	}
	mn->hosts_gen++;
	mutex_unlock(&mn->hosts_lock);
	rhashtable_walk_exit(&iter);
}

static bool mhost_host_names_dev(const struct mhost_host *host, int ifindex)
{
	unsigned int i;

	for (i = 0; i < host->nlocs; i++)
		if (host->locs[i].ifindex == ifindex)
			return true;
	return false;
}

/*
 * Removes from @old the locators that name device @ifindex: a new version
 * without them replaces it, or, if none is left or memory is short, the
 * host is deleted. Announced as any change is.
 */
static void mhost_host_forget_dev(struct mhost_net *mn, struct mhost_host *old,
				  int ifindex)
{
	struct mhost_host *new = NULL;
	unsigned int i, n = 0;

	for (i = 0; i < old->nlocs; i++)
		n += old->locs[i].ifindex != ifindex;
	if (n)
		new = mhost_host_alloc(mn, old->hid, n);
	if (new) {
		new->live = old->live;
		for (i = 0, n = 0; i < old->nlocs; i++) {
			if (old->locs[i].ifindex == ifindex)
				continue;
			new->locs[n].key = old->locs[i].key;
			new->locs[n].addr_len = old->locs[i].addr_len;
			new->locs[n].port = old->locs[i].port;
			new->locs[n].ifindex = old->locs[i].ifindex;
			n++;
		}
		if (!mhost_host_publish(mn, new, old)) {
			mhost_nl_host_event(mn->net, new, MHOST_CMD_HOST_NEW,
					    NULL);
			return;
		}
	}
	mhost_nl_host_event(mn->net, old, MHOST_CMD_HOST_DEL, NULL);
	mhost_host_unlink(mn, old);
}

/*
 * Device @ifindex is going away (deleted, or moving to another
 * namespace): no locator may go on naming it, or it would name the next
 * device given that index. Called under RTNL after the device left the
 * namespace's list, so no new locator can name it.
 */
void mhost_hosts_forget_dev(struct mhost_net *mn, int ifindex)
{
	struct rhashtable_iter iter;
	struct mhost_host *host;
	unsigned int n = 0;

	mutex_lock(&mn->hosts_lock);
	/*
	 * Restarting a walk after the host it stopped at was replaced may
	 * skip one: walk again until no locator names the device.
	 */
	while (xa_load(&mn->loc_devs, ifindex)) {
		rhashtable_walk_enter(&mn->hosts, &iter);
		rhashtable_walk_start(&iter);
		while ((host = rhashtable_walk_next(&iter))) {
			if (IS_ERR(host) || !mhost_host_names_dev(host, ifindex)) {
				if (!(++n % MHOST_HOSTS_BATCH)) {
					rhashtable_walk_stop(&iter);
					cond_resched();
					rhashtable_walk_start(&iter);
				}
				continue;
			}
			/* That allocates: out of the walk's RCU section. */
			refcount_inc(&host->ref);
			rhashtable_walk_stop(&iter);
			mhost_host_forget_dev(mn, host, ifindex);
			mhost_host_put(host);
			cond_resched();
			rhashtable_walk_start(&iter);
		}
		rhashtable_walk_stop(&iter);
		rhashtable_walk_exit(&iter);
	}
	mutex_unlock(&mn->hosts_lock);
}

void mhost_hosts_walk_enter(struct mhost_net *mn, struct rhashtable_iter *iter)
{
	rhashtable_walk_enter(&mn->hosts, iter);
}

int mhost_hosts_net_init(struct mhost_net *mn)
{
	int err;

	mutex_init(&mn->hosts_lock);
	mutex_init(&mn->ops_lock);
	atomic_long_set(&mn->hosts_allocated, 0);
	xa_init(&mn->loc_devs);
	/* Never 0: netlink takes a dump sequence of 0 as "not started". */
	mn->hosts_gen = 1;
	err = rhashtable_init(&mn->hosts, &mhost_host_params);
	if (err)
		return err;
	err = rhltable_init(&mn->locators, &mhost_loc_params);
	if (err)
		rhashtable_destroy(&mn->hosts);
	return err;
}

static void mhost_host_destroy(void *ptr, void *arg)
{
	/* No reader is left in a namespace that is going: free at once. */
	mhost_host_put(ptr);
}

void mhost_hosts_net_exit(struct mhost_net *mn)
{
	/* No socket and no device of this namespace is left. */
	rhltable_destroy(&mn->locators);
	rhashtable_free_and_destroy(&mn->hosts, mhost_host_destroy, NULL);
	xa_destroy(&mn->loc_devs);
}

/*
 * Hosts retired before the namespace went still wait for a grace period,
 * and then count themselves out of their namespace's state: let them.
 */
void mhost_hosts_net_exit_batch(void)
{
	rcu_barrier();
}

int __init mhost_hosts_init(void)
{
	size_t size = struct_size_t(struct mhost_host, locs,
				    MHOST_HOST_CACHE_LOCS);

	mhost_host_cache = kmem_cache_create("mhost_host", size, 0,
					     SLAB_ACCOUNT, NULL);
	if (!mhost_host_cache)
		return -ENOMEM;
	/* For debugging only: failing to make it is no reason to fail. */
	mhost_debugfs = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_atomic_t("hosts_allocated", 0400, mhost_debugfs,
				&mhost_hosts_allocated);
	return 0;
}

void mhost_hosts_exit(void)
{
	debugfs_remove(mhost_debugfs);
	/*
	 * mhost_host_release_rcu() is module text, and the cache must be
	 * empty before it goes: wait for the callbacks.
	 */
	rcu_barrier();
	kmem_cache_destroy(mhost_host_cache);
}
