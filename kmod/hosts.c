// SPDX-License-Identifier: GPL-2.0
/*
 * The per-namespace host table: host id -> ordered list of locators.
 *
 * Readers (sendmsg, recvmsg) run under RCU and never lock. A host is
 * immutable once published but for its counters: a change builds a new
 * host and swaps it in, so a sender always sees one consistent list.
 * Senders take a reference, because sending may sleep and so cannot stay
 * inside an RCU read-side section. Writers hold mn->hosts_lock.
 *
 * A second table maps (family, address) to locators, so that a received
 * datagram's source can be turned back into a host id.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/rhashtable.h>
#include <linux/slab.h>

#include "mhost.h"

/* Host entries alive in all namespaces, for leak checks. */
static atomic_long_t mhost_hosts_allocated = ATOMIC_LONG_INIT(0);

/*
 * Most hosts have one or two locators (typically an IPv4 and an IPv6
 * address). A cache of exactly that size stores them in 168 bytes, where
 * kmalloc would round up to 192; and, when it is not merged with another
 * cache (slab_nomerge, as the tests boot), destroying it at unload reports
 * any host that leaked. Larger hosts come from kmalloc.
 */
#define MHOST_HOST_CACHE_LOCS	2
static struct kmem_cache *mhost_host_cache __read_mostly;

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

long mhost_hosts_alive(void)
{
	return atomic_long_read(&mhost_hosts_allocated);
}

struct mhost_host *mhost_host_alloc(u32 hid, unsigned int nlocs)
{
	struct mhost_host *host;

	if (nlocs <= MHOST_HOST_CACHE_LOCS)
		host = kmem_cache_zalloc(mhost_host_cache, GFP_KERNEL_ACCOUNT);
	else
		host = kzalloc(struct_size(host, locs, nlocs),
			       GFP_KERNEL_ACCOUNT);
	if (!host)
		return NULL;
	host->hid = hid;
	host->nlocs = nlocs;
	refcount_set(&host->ref, 1);
	atomic_long_inc(&mhost_hosts_allocated);
	return host;
}

/* Frees a host that was never published. */
void mhost_host_free(struct mhost_host *host)
{
	if (host->nlocs <= MHOST_HOST_CACHE_LOCS)
		kmem_cache_free(mhost_host_cache, host);
	else
		kfree(host);
	atomic_long_dec(&mhost_hosts_allocated);
}

static void mhost_host_free_rcu(struct rcu_head *head)
{
	mhost_host_free(container_of(head, struct mhost_host, rcu));
}

void mhost_host_put(struct mhost_host *host)
{
	/* RCU readers may still find it in a hash chain. */
	if (refcount_dec_and_test(&host->ref))
		call_rcu(&host->rcu, mhost_host_free_rcu);
}

struct mhost_host *mhost_host_get(struct mhost_net *mn, u32 hid)
{
	struct mhost_host *host;

	rcu_read_lock();
	host = rhashtable_lookup(&mn->hosts, &hid, mhost_host_params);
	if (host && !refcount_inc_not_zero(&host->ref))
		host = NULL;
	rcu_read_unlock();
	return host;
}

struct mhost_host *mhost_host_find(struct mhost_net *mn, u32 hid)
{
	lockdep_assert_held(&mn->hosts_lock);
	return rhashtable_lookup_fast(&mn->hosts, &hid, mhost_host_params);
}

u32 mhost_hid_by_source(struct mhost_net *mn, const struct mhost_lockey *key,
			__be16 port)
{
	struct mhost_locator *loc;
	struct rhlist_head *pos, *list;
	u32 hid = 0;

	rcu_read_lock();
	list = rhltable_lookup(&mn->locators, key, mhost_loc_params);
	rhl_for_each_entry_rcu(loc, pos, list, rnode) {
		if (!loc->port || loc->port == port) {
			hid = loc->hid;
			break;
		}
	}
	rcu_read_unlock();
	return hid;
}

static bool mhost_loc_same(const struct mhost_locator *a,
			   const struct mhost_locator *b)
{
	return !memcmp(&a->key, &b->key, sizeof(a->key)) &&
	       a->port == b->port && a->ifindex == b->ifindex;
}

/*
 * Counters follow a locator into the new version of its host, so that
 * append and replace do not reset what a locator already carried.
 * Increments racing with the swap may be lost; they are statistics.
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

/*
 * Publishes @new, replacing @old if there is one. On success the table
 * owns @new and @old is released; on failure the caller still owns @new.
 */
int mhost_host_publish(struct mhost_net *mn, struct mhost_host *new,
		       struct mhost_host *old)
{
	int err;

	lockdep_assert_held(&mn->hosts_lock);

	err = mhost_index(mn, new);
	if (err)
		return err;

	if (old) {
		mhost_carry_counters(new, old);
		err = rhashtable_replace_fast(&mn->hosts, &old->node,
					      &new->node, mhost_host_params);
	} else {
		err = rhashtable_insert_fast(&mn->hosts, &new->node,
					     mhost_host_params);
	}
	if (err) {
		mhost_unindex(mn, new, new->nlocs);
		return err;
	}

	if (old) {
		mhost_unindex(mn, old, old->nlocs);
		mhost_host_put(old);
	} else {
		mn->nhosts++;
	}
	mn->hosts_gen++;
	return 0;
}

void mhost_host_unlink(struct mhost_net *mn, struct mhost_host *host)
{
	lockdep_assert_held(&mn->hosts_lock);

	/* A walk across a resize can return a host twice: unlink it once. */
	if (rhashtable_remove_fast(&mn->hosts, &host->node, mhost_host_params))
		return;
	mhost_unindex(mn, host, host->nlocs);
	mn->nhosts--;
	mn->hosts_gen++;
	mhost_host_put(host);
}

/*
 * One pass over the table. A walk that races with a resize (our own
 * removals shrink the table) may miss entries, so the caller repeats.
 */
static unsigned int mhost_hosts_flush_pass(struct mhost_net *mn)
{
	struct rhashtable_iter iter;
	struct mhost_host *host;
	unsigned int n = 0;

	rhashtable_walk_enter(&mn->hosts, &iter);
	rhashtable_walk_start(&iter);
	while ((host = rhashtable_walk_next(&iter))) {
		if (IS_ERR(host)) {
			if (PTR_ERR(host) == -EAGAIN)
				continue;
			break;
		}
		mhost_host_unlink(mn, host);
		/* A million hosts must not stall RCU. */
		if (!(++n % 1024)) {
			rhashtable_walk_stop(&iter);
			cond_resched();
			rhashtable_walk_start(&iter);
		}
	}
	rhashtable_walk_stop(&iter);
	rhashtable_walk_exit(&iter);
	return n;
}

/* Deletes every host. */
void mhost_hosts_flush(struct mhost_net *mn)
{
	lockdep_assert_held(&mn->hosts_lock);

	while (mn->nhosts)
		mhost_hosts_flush_pass(mn);
	mn->hosts_gen++;
}

void mhost_hosts_walk_enter(struct mhost_net *mn, struct rhashtable_iter *iter)
{
	rhashtable_walk_enter(&mn->hosts, iter);
}

int mhost_hosts_net_init(struct mhost_net *mn)
{
	int err;

	mutex_init(&mn->hosts_lock);
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
	mhost_host_put(ptr);
}

void mhost_hosts_net_exit(struct mhost_net *mn)
{
	/* No socket of this namespace is left to read the tables. */
	rhltable_destroy(&mn->locators);
	rhashtable_free_and_destroy(&mn->hosts, mhost_host_destroy, NULL);
}

int __init mhost_hosts_init(void)
{
	mhost_host_cache = kmem_cache_create("mhost_host",
			struct_size_t(struct mhost_host, locs,
				      MHOST_HOST_CACHE_LOCS),
			0, SLAB_ACCOUNT, NULL);
	return mhost_host_cache ? 0 : -ENOMEM;
}

void mhost_hosts_exit(void)
{
	/*
	 * mhost_host_free_rcu() is module text, and the cache must be empty
	 * before it goes: wait for the callbacks.
	 */
	rcu_barrier();
	kmem_cache_destroy(mhost_host_cache);
}
