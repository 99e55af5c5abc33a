// SPDX-License-Identifier: GPL-2.0
/*
 * The generic netlink family "mhost": the host table, the network layers,
 * the open sockets and the counters of a namespace. It replaces the
 * original mnet's character-device ioctls.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/netdevice.h>
#include <linux/rhashtable.h>
#include <linux/rtnetlink.h>
#include <linux/rwsem.h>
#include <linux/slab.h>
#include <net/genetlink.h>
#include <net/ipv6.h>
#include <net/sock.h>

#include "mhost.h"

enum {
	MHOST_MCGRP_EVENTS_IDX,
};

static const struct nla_policy mhost_loc_policy[MHOST_LOC_A_MAX + 1] = {
	[MHOST_LOC_A_FAMILY]		= { .type = NLA_U16 },
	[MHOST_LOC_A_ADDR]		= { .type = NLA_BINARY,
					    .len = MHOST_ADDR_MAX },
	[MHOST_LOC_A_PORT]		= { .type = NLA_U16 },
	[MHOST_LOC_A_IFINDEX]		= { .type = NLA_U32 },
	[MHOST_LOC_A_TX_PACKETS]	= { .type = NLA_REJECT },
	[MHOST_LOC_A_TX_ERRORS]		= { .type = NLA_REJECT },
	[MHOST_LOC_A_STATE]		= { .type = NLA_REJECT },
	[MHOST_LOC_A_CAUSE]		= { .type = NLA_REJECT },
	[MHOST_LOC_A_LAST_HEARD_MS]	= { .type = NLA_REJECT },
	[MHOST_LOC_A_CHANGED_MS]	= { .type = NLA_REJECT },
	[MHOST_LOC_A_RTT_US]		= { .type = NLA_REJECT },
	[MHOST_LOC_A_RTTVAR_US]		= { .type = NLA_REJECT },
	[MHOST_LOC_A_FLAPS]		= { .type = NLA_REJECT },
	[MHOST_LOC_A_HOLD_MS]		= { .type = NLA_REJECT },
	[MHOST_LOC_A_PREV_STATE]	= { .type = NLA_REJECT },
};

/*
 * The liveness knobs: one host's (MHOST_A_HOST_LIVE) or the namespace's
 * (MHOST_A_LIVE), which alone has a probe port and answers probes.
 */
/*
 * Beyond what the policy's own s16 bounds hold. Not const: 6.1's policy
 * points to it without const.
 */
static struct netlink_range_validation mhost_live_ms_range __ro_after_init = {
	.max = 60000,
};

#define MHOST_NL_LIVE_KNOBS						\
	[MHOST_LIVE_A_INTERVAL_MS]	= NLA_POLICY_FULL_RANGE(NLA_U32,	\
							&mhost_live_ms_range), \
	[MHOST_LIVE_A_MULTIPLIER]	= NLA_POLICY_RANGE(NLA_U8, 1, 20),	\
	[MHOST_LIVE_A_HOLD_DOWN_MS]	= NLA_POLICY_FULL_RANGE(NLA_U32,	\
							&mhost_live_ms_range), \
	[MHOST_LIVE_A_REVERTIVE]	= NLA_POLICY_MAX(NLA_U8, 1),		\
	[MHOST_LIVE_A_PORT_ERROR]	= { .type = NLA_REJECT,			\
					    .reject_message = "the probe port error is read only" }

static const struct nla_policy mhost_live_host_policy[MHOST_LIVE_A_MAX + 1] = {
	MHOST_NL_LIVE_KNOBS,
	[MHOST_LIVE_A_PORT]	= { .type = NLA_REJECT,
				    .reject_message = "the probe port is the namespace's" },
	[MHOST_LIVE_A_ANSWER]	= {
		.type = NLA_REJECT,
		.reject_message = "answering probes is the namespace's choice",
	},
};

static const struct nla_policy mhost_live_ns_policy[MHOST_LIVE_A_MAX + 1] = {
	MHOST_NL_LIVE_KNOBS,
	[MHOST_LIVE_A_PORT]	= NLA_POLICY_MIN(NLA_U16, 1),
	[MHOST_LIVE_A_ANSWER]	= NLA_POLICY_MAX(NLA_U8, 1),
};

static const struct nla_policy mhost_dev_policy[MHOST_DEV_A_MAX + 1] = {
	[MHOST_DEV_A_IFINDEX]	= { .type = NLA_U32 },
	[MHOST_DEV_A_NAME]	= { .type = NLA_REJECT },
	[MHOST_DEV_A_L3]	= NLA_POLICY_MAX(NLA_U8, 1),
};

/*
 * Each command has a policy of its own, so that an attribute it does not
 * take is refused ("Unsupported attribute") rather than ignored. Commands
 * that take none have mhost_no_attr_policy.
 */
static const struct nla_policy mhost_host_new_policy[MHOST_A_MAX + 1] = {
	[MHOST_A_HOST_ID]	= { .type = NLA_U32 },
	[MHOST_A_HOST_LOCATORS]	= NLA_POLICY_NESTED_ARRAY(mhost_loc_policy),
	[MHOST_A_HOST_FLAGS]	= NLA_POLICY_MASK(NLA_U32, MHOST_HOST_F_CREATE |
						  MHOST_HOST_F_REPLACE |
						  MHOST_HOST_F_APPEND),
	[MHOST_A_HOST_LIVE]	= NLA_POLICY_NESTED(mhost_live_host_policy),
};

static const struct nla_policy mhost_host_id_policy[MHOST_A_MAX + 1] = {
	[MHOST_A_HOST_ID]	= { .type = NLA_U32 },
};

static const struct nla_policy mhost_dev_req_policy[MHOST_A_MAX + 1] = {
	[MHOST_A_DEV]		= NLA_POLICY_NESTED(mhost_dev_policy),
};

static const struct nla_policy mhost_live_req_policy[MHOST_A_MAX + 1] = {
	[MHOST_A_LIVE]		= NLA_POLICY_NESTED(mhost_live_ns_policy),
};

/*
 * The commands that take no attributes: any is unknown. This is what the
 * core gives an op without a policy, said here with the maxattr that goes
 * with it: 7.3's core validated such an op with its own two-entry policy
 * but the family's maxattr, and read past the policy (a BUG in
 * validate_nla) for an attribute of type 2 or more.
 */
static const struct nla_policy mhost_no_attr_policy[MHOST_A_PAD + 1] = {
	[MHOST_A_PAD]		= { .type = NLA_REJECT },
};

static struct genl_family mhost_genl_family;

/*
 * Whether the family is registered, for events that are not answers to
 * a request: the liveness workers run until the namespaces' state goes,
 * after the family.
 */
static DECLARE_RWSEM(mhost_nl_gate);
static bool mhost_nl_up;

/*
 * Parses liveness knobs: those given are set in @cfg and flagged in
 * @set (MHOST_LIVE_CFG_*); an interval between 1 and 9 ms is refused.
 */
static int mhost_nl_parse_knobs(struct nlattr **tb, struct mhost_live_cfg *cfg,
				u8 *set, struct netlink_ext_ack *extack)
{
	*set = 0;
	if (tb[MHOST_LIVE_A_INTERVAL_MS]) {
		cfg->interval_ms = nla_get_u32(tb[MHOST_LIVE_A_INTERVAL_MS]);
		if (cfg->interval_ms && cfg->interval_ms < 10) {
			NL_SET_ERR_MSG_ATTR(extack, tb[MHOST_LIVE_A_INTERVAL_MS],
					    "probe interval below 10 ms (0 turns liveness off)");
			return -EINVAL;
		}
		*set |= MHOST_LIVE_CFG_INTERVAL;
	}
	if (tb[MHOST_LIVE_A_MULTIPLIER]) {
		cfg->multiplier = nla_get_u8(tb[MHOST_LIVE_A_MULTIPLIER]);
		*set |= MHOST_LIVE_CFG_MULTIPLIER;
	}
	if (tb[MHOST_LIVE_A_HOLD_DOWN_MS]) {
		cfg->hold_down_ms = nla_get_u32(tb[MHOST_LIVE_A_HOLD_DOWN_MS]);
		*set |= MHOST_LIVE_CFG_HOLD_DOWN;
	}
	if (tb[MHOST_LIVE_A_REVERTIVE]) {
		cfg->revertive = nla_get_u8(tb[MHOST_LIVE_A_REVERTIVE]);
		*set |= MHOST_LIVE_CFG_REVERTIVE;
	}
	return 0;
}

/* A host's own knobs, from MHOST_A_HOST_LIVE. */
static int mhost_nl_parse_host_live(const struct nlattr *nla,
				    struct mhost_live_knobs *k,
				    struct netlink_ext_ack *extack)
{
	struct nlattr *tb[MHOST_LIVE_A_MAX + 1];
	struct mhost_live_cfg cfg = {};
	int err;
	u8 set;

	err = nla_parse_nested(tb, MHOST_LIVE_A_MAX, nla,
			       mhost_live_host_policy, extack);
	if (!err)
		err = mhost_nl_parse_knobs(tb, &cfg, &set, extack);
	if (err)
		return err;
	memset(k, 0, sizeof(*k));
	k->interval_ms = cfg.interval_ms;
	k->hold_down_ms = cfg.hold_down_ms;
	k->multiplier = cfg.multiplier;
	k->flags = set | (cfg.revertive ? MHOST_LIVE_REVERTIVE : 0);
	return 0;
}

/* The knobs in @set, in a nest of @type that the caller ends. */
static struct nlattr *mhost_nl_put_knobs(struct sk_buff *skb, int type,
					 const struct mhost_live_cfg *cfg,
					 u8 set)
{
	struct nlattr *nest = nla_nest_start(skb, type);

	if (!nest ||
	    ((set & MHOST_LIVE_CFG_INTERVAL) &&
	     nla_put_u32(skb, MHOST_LIVE_A_INTERVAL_MS, cfg->interval_ms)) ||
	    ((set & MHOST_LIVE_CFG_MULTIPLIER) &&
	     nla_put_u8(skb, MHOST_LIVE_A_MULTIPLIER, cfg->multiplier)) ||
	    ((set & MHOST_LIVE_CFG_HOLD_DOWN) &&
	     nla_put_u32(skb, MHOST_LIVE_A_HOLD_DOWN_MS, cfg->hold_down_ms)) ||
	    ((set & MHOST_LIVE_CFG_REVERTIVE) &&
	     nla_put_u8(skb, MHOST_LIVE_A_REVERTIVE, cfg->revertive)))
		return NULL;
	return nest;
}

static int mhost_nl_get_hid(struct genl_info *info, u32 *hid)
{
	struct nlattr *attr = info->attrs[MHOST_A_HOST_ID];

	if (!attr) {
		NL_SET_ERR_MSG(info->extack, "missing host id");
		return -EINVAL;
	}
	*hid = nla_get_u32(attr);
	if (!*hid) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr, "host id must not be 0");
		return -EINVAL;
	}
	return 0;
}

static int mhost_nl_parse_locator(struct net *net, const struct nlattr *nla,
				  struct mhost_locator *loc,
				  struct netlink_ext_ack *extack)
{
	struct nlattr *tb[MHOST_LOC_A_MAX + 1];
	unsigned int len;
	int err, ifindex;
	u16 family;

	err = nla_parse_nested(tb, MHOST_LOC_A_MAX, nla, mhost_loc_policy,
			       extack);
	if (err)
		return err;

	if (!tb[MHOST_LOC_A_FAMILY]) {
		NL_SET_ERR_MSG_ATTR(extack, nla, "missing locator family");
		return -EINVAL;
	}
	if (!tb[MHOST_LOC_A_ADDR]) {
		NL_SET_ERR_MSG_ATTR(extack, nla, "missing locator address");
		return -EINVAL;
	}

	family = nla_get_u16(tb[MHOST_LOC_A_FAMILY]);
	switch (family) {
	case AF_INET:
		len = sizeof(struct in_addr);
		break;
	case AF_INET6:
		len = sizeof(struct in6_addr);
		break;
	default:
		err = mhost_l3_addr_len(family);
		if (err < 0) {
			NL_SET_ERR_MSG_ATTR(extack, tb[MHOST_LOC_A_FAMILY],
					    "unknown locator family");
			return err;
		}
		len = err;
		err = 0;
	}
	if (nla_len(tb[MHOST_LOC_A_ADDR]) != len) {
		NL_SET_ERR_MSG_ATTR(extack, tb[MHOST_LOC_A_ADDR],
				    "address length does not match the family");
		return -EINVAL;
	}

	memset(loc, 0, sizeof(*loc));
	loc->key.family = family;
	loc->addr_len = len;
	nla_memcpy(loc->key.addr, tb[MHOST_LOC_A_ADDR], len);
	if (tb[MHOST_LOC_A_PORT])
		loc->port = htons(nla_get_u16(tb[MHOST_LOC_A_PORT]));
	loc->key.port = loc->port;

	if (tb[MHOST_LOC_A_IFINDEX]) {
		ifindex = nla_get_u32(tb[MHOST_LOC_A_IFINDEX]);
		if (family == AF_INET) {
			NL_SET_ERR_MSG_ATTR(extack, tb[MHOST_LOC_A_IFINDEX],
					    "ifindex is not supported for inet locators");
			return -EINVAL;
		}
		rcu_read_lock();
		if (!dev_get_by_index_rcu(net, ifindex))
			err = -ENODEV;
		rcu_read_unlock();
		if (err) {
			NL_SET_ERR_MSG_ATTR(extack, tb[MHOST_LOC_A_IFINDEX],
					    "no such device");
			return err;
		}
		loc->ifindex = ifindex;
	}

	/* Without a device, every send to it would fail with EINVAL. */
	if (family == AF_INET6 && !loc->ifindex &&
	    __ipv6_addr_needs_scope_id(ipv6_addr_type((struct in6_addr *)
						      loc->key.addr))) {
		NL_SET_ERR_MSG_ATTR(extack, tb[MHOST_LOC_A_ADDR],
				    "link-local inet6 locators need a device");
		return -EINVAL;
	}
	return 0;
}

/* Where each parsed locator came from, for extack. */
struct mhost_nl_locs {
	struct mhost_locator	locs[MHOST_MAX_LOCATORS];
	const struct nlattr	*attrs[MHOST_MAX_LOCATORS];
	int			n;
};

/* Parses MHOST_A_HOST_LOCATORS into @p. */
static int mhost_nl_parse_locators(struct genl_info *info,
				   struct mhost_nl_locs *p)
{
	struct nlattr *list = info->attrs[MHOST_A_HOST_LOCATORS];
	struct nlattr *nla;
	int rem, err, i;

	if (!list) {
		NL_SET_ERR_MSG(info->extack, "missing locators");
		return -EINVAL;
	}

	p->n = 0;
	nla_for_each_nested(nla, list, rem) {
		/* NLA_POLICY_NESTED_ARRAY checks the entries, not their type. */
		if (nla_type(nla) != MHOST_A_LOCATOR) {
			NL_SET_ERR_MSG_ATTR(info->extack, nla,
					    "locator list entries must be MHOST_A_LOCATOR");
			return -EINVAL;
		}
		if (p->n == MHOST_MAX_LOCATORS) {
			NL_SET_ERR_MSG_ATTR(info->extack, nla,
					    "too many locators");
			return -E2BIG;
		}
		err = mhost_nl_parse_locator(genl_info_net(info), nla,
					     &p->locs[p->n], info->extack);
		if (err)
			return err;
		for (i = 0; i < p->n; i++) {
			if (mhost_loc_same(&p->locs[i], &p->locs[p->n])) {
				NL_SET_ERR_MSG_ATTR(info->extack, nla,
						    "duplicate locator");
				return -EINVAL;
			}
		}
		p->attrs[p->n++] = nla;
	}
	if (!p->n) {
		NL_SET_ERR_MSG_ATTR(info->extack, list,
				    "a host needs at least one locator");
		return -EINVAL;
	}
	return 0;
}

/* A locator's liveness (@info), after what identifies it. */
static int mhost_nl_put_live(struct sk_buff *skb,
			     const struct mhost_live_info *info)
{
	if (nla_put_u8(skb, MHOST_LOC_A_STATE, info->state) ||
	    nla_put_u8(skb, MHOST_LOC_A_CAUSE, info->cause) ||
	    (info->heard &&
	     nla_put_u32(skb, MHOST_LOC_A_LAST_HEARD_MS, info->heard_ms)) ||
	    (info->changed &&
	     nla_put_u32(skb, MHOST_LOC_A_CHANGED_MS, info->changed_ms)) ||
	    (info->rtt &&
	     (nla_put_u32(skb, MHOST_LOC_A_RTT_US, info->srtt_us) ||
	      nla_put_u32(skb, MHOST_LOC_A_RTTVAR_US, info->rttvar_us))) ||
	    nla_put_u32(skb, MHOST_LOC_A_FLAPS, info->flaps) ||
	    (info->hold &&
	     nla_put_u32(skb, MHOST_LOC_A_HOLD_MS, info->hold_ms)))
		return -EMSGSIZE;
	return 0;
}

/* @prev: the state it left, for a MHOST_CMD_LOC_STATE; else -1. */
static int mhost_nl_put_locator(struct sk_buff *skb,
				const struct mhost_locator *loc,
				const struct mhost_live_info *info, int prev)
{
	struct nlattr *nest;

	nest = nla_nest_start(skb, MHOST_A_LOCATOR);
	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u16(skb, MHOST_LOC_A_FAMILY, loc->key.family) ||
	    nla_put(skb, MHOST_LOC_A_ADDR, loc->addr_len, loc->key.addr) ||
	    (loc->port &&
	     nla_put_u16(skb, MHOST_LOC_A_PORT, ntohs(loc->port))) ||
	    (loc->ifindex &&
	     nla_put_u32(skb, MHOST_LOC_A_IFINDEX, loc->ifindex)) ||
	    nla_put_u64_64bit(skb, MHOST_LOC_A_TX_PACKETS,
			      atomic_long_read(&loc->tx_packets),
			      MHOST_LOC_A_PAD) ||
	    nla_put_u64_64bit(skb, MHOST_LOC_A_TX_ERRORS,
			      atomic_long_read(&loc->tx_errors),
			      MHOST_LOC_A_PAD) ||
	    mhost_nl_put_live(skb, info) ||
	    (prev >= 0 && nla_put_u8(skb, MHOST_LOC_A_PREV_STATE, prev))) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

/* The size of one locator's nest, liveness included. */
static size_t mhost_nl_loc_size(void)
{
	return nla_total_size(0) +			/* MHOST_A_LOCATOR */
	       nla_total_size(sizeof(u16)) +		/* FAMILY */
	       nla_total_size(MHOST_ADDR_MAX) +		/* ADDR */
	       nla_total_size(sizeof(u16)) +		/* PORT */
	       nla_total_size(sizeof(u32)) +		/* IFINDEX */
	       2 * nla_total_size_64bit(sizeof(u64)) +	/* TX_* */
	       3 * nla_total_size(sizeof(u8)) +		/* STATE, CAUSE, PREV */
	       6 * nla_total_size(sizeof(u32));		/* the rest */
}

/* The size of a host's message, so that it is allocated to fit. */
static size_t mhost_nl_host_size(const struct mhost_host *host)
{
	return genlmsg_msg_size(nla_total_size(sizeof(u32)) +	/* HOST_ID */
				nla_total_size(0) +	/* HOST_LOCATORS */
				host->nlocs * mhost_nl_loc_size() +
				nla_total_size(0) +	/* HOST_LIVE */
				4 * nla_total_size(sizeof(u32)));
}

static int mhost_nl_fill_host(struct sk_buff *skb,
			      const struct mhost_host *host, u32 portid,
			      u32 seq, int flags, u8 cmd,
			      struct netlink_callback *cb)
{
	struct mhost_live_info info[MHOST_MAX_LOCATORS];
	struct mhost_live_cfg cfg;
	struct nlattr *nest;
	unsigned int i;
	void *hdr;

	hdr = genlmsg_put(skb, portid, seq, &mhost_genl_family, flags, cmd);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(skb, MHOST_A_HOST_ID, host->hid))
		goto cancel;
	if (cmd != MHOST_CMD_HOST_DEL) {
		mhost_live_host_info(host->mn, host, info);
		nest = nla_nest_start(skb, MHOST_A_HOST_LOCATORS);
		if (!nest)
			goto cancel;
		for (i = 0; i < host->nlocs; i++)
			if (mhost_nl_put_locator(skb, &host->locs[i], &info[i],
						 -1))
				goto cancel;
		nla_nest_end(skb, nest);
		/* The host's own knobs, if it has any. */
		cfg.interval_ms = host->live.interval_ms;
		cfg.hold_down_ms = host->live.hold_down_ms;
		cfg.multiplier = host->live.multiplier;
		cfg.revertive = host->live.flags & MHOST_LIVE_REVERTIVE;
		if (host->live.flags & ~MHOST_LIVE_REVERTIVE) {
			nest = mhost_nl_put_knobs(skb, MHOST_A_HOST_LIVE, &cfg,
						  host->live.flags);
			if (!nest)
				goto cancel;
			nla_nest_end(skb, nest);
		}
	}
	/*
	 * Only once the message stays: the walk can restart in the middle
	 * of a dump call, and a message cancelled for want of room must
	 * take neither NLM_F_DUMP_INTR nor cb->prev_seq with it.
	 */
	if (cb)
		genl_dump_check_consistent(cb, hdr);
	genlmsg_end(skb, hdr);
	return 0;

cancel:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

/*
 * Sends an event to the "events" group of @net, and to the requester if
 * @info is the request that caused it and asked for an echo
 * (NLM_F_ECHO). A change is never undone for want of memory to announce
 * it; the listeners learn that they missed one (ENOBUFS) instead.
 */
static void mhost_nl_event(struct net *net, struct genl_info *info,
			   size_t size,
			   int (*fill)(struct sk_buff *skb, const void *arg,
				       u32 portid, u32 seq, u8 cmd),
			   const void *arg, u8 cmd)
{
	struct sk_buff *skb;
	int err;

	down_read(&mhost_nl_gate);
	if (!mhost_nl_up)
		goto out;
	if (!genl_has_listeners(&mhost_genl_family, net,
				MHOST_MCGRP_EVENTS_IDX) &&
	    !(info && nlmsg_report(info->nlhdr)))
		goto out;

	skb = genlmsg_new(size, GFP_KERNEL);
	if (!skb)
		goto err;
	/* An echo must match its request. */
	err = info ? fill(skb, arg, info->snd_portid, info->snd_seq, cmd) :
		     fill(skb, arg, 0, 0, cmd);
	if (err) {
		nlmsg_free(skb);
		goto err;
	}
	if (info)
		genl_notify(&mhost_genl_family, skb, info,
			    MHOST_MCGRP_EVENTS_IDX, GFP_KERNEL);
	else
		genlmsg_multicast_netns(&mhost_genl_family, net, skb, 0,
					MHOST_MCGRP_EVENTS_IDX, GFP_KERNEL);
	goto out;
err:
	genl_set_err(&mhost_genl_family, net, 0, MHOST_MCGRP_EVENTS_IDX,
		     -ENOBUFS);
out:
	up_read(&mhost_nl_gate);
}

static int mhost_nl_fill_host_event(struct sk_buff *skb, const void *host,
				    u32 portid, u32 seq, u8 cmd)
{
	void *hdr;

	if (host)
		return mhost_nl_fill_host(skb, host, portid, seq, 0, cmd, NULL);
	hdr = genlmsg_put(skb, portid, seq, &mhost_genl_family, 0, cmd);
	if (!hdr)
		return -EMSGSIZE;
	genlmsg_end(skb, hdr);
	return 0;
}

/*
 * Announces a change of the host table: HOST_NEW with @host as it now is,
 * HOST_DEL, or HOST_FLUSH (@host NULL). Under hosts_lock, so that the
 * events come in the order of the changes.
 */
void mhost_nl_host_event(struct net *net, const struct mhost_host *host,
			 u8 cmd, struct genl_info *info)
{
	mhost_nl_event(net, info,
		       host ? mhost_nl_host_size(host) : genlmsg_msg_size(0),
		       mhost_nl_fill_host_event, host, cmd);
}

struct mhost_nl_loc_event {
	u32				hid;
	const struct mhost_locator	*loc;
	u8				prev;
	const struct mhost_live_info	*info;
};

static int mhost_nl_fill_loc_event(struct sk_buff *skb, const void *arg,
				   u32 portid, u32 seq, u8 cmd)
{
	const struct mhost_nl_loc_event *ev = arg;
	struct nlattr *list;
	void *hdr;

	hdr = genlmsg_put(skb, portid, seq, &mhost_genl_family, 0, cmd);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(skb, MHOST_A_HOST_ID, ev->hid))
		goto cancel;
	list = nla_nest_start(skb, MHOST_A_HOST_LOCATORS);
	if (!list)
		goto cancel;
	/* The locator, its liveness, and the state it left. */
	if (mhost_nl_put_locator(skb, ev->loc, ev->info, ev->prev))
		goto cancel;
	nla_nest_end(skb, list);
	genlmsg_end(skb, hdr);
	return 0;

cancel:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

/*
 * Announces that locator @loc of host @hid went from @prev to the state
 * @info says. From the liveness worker.
 */
void mhost_nl_loc_event(struct net *net, u32 hid,
			const struct mhost_locator *loc, u8 prev_state,
			const struct mhost_live_info *info)
{
	struct mhost_nl_loc_event ev = {
		.hid = hid, .loc = loc, .prev = prev_state, .info = info,
	};

	mhost_nl_event(net, NULL,
		       genlmsg_msg_size(nla_total_size(sizeof(u32)) +
					nla_total_size(0) +
					mhost_nl_loc_size()),
		       mhost_nl_fill_loc_event, &ev, MHOST_CMD_LOC_STATE);
}

static void mhost_copy_locator(struct mhost_locator *dst,
			       const struct mhost_locator *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->key = src->key;
	dst->addr_len = src->addr_len;
	dst->port = src->port;
	dst->ifindex = src->ifindex;
}

/*
 * Builds the host @hid will be: @old's locators first when appending,
 * then the new ones, each once. Under hosts_lock.
 */
static struct mhost_host *mhost_nl_build_host(struct mhost_net *mn, u32 hid,
					      struct mhost_host *old,
					      bool append,
					      const struct mhost_nl_locs *p,
					      struct netlink_ext_ack *extack)
{
	unsigned int first = old && append ? old->nlocs : 0;
	struct mhost_host *new;
	unsigned int i, j;

	for (i = 0; i < p->n; i++) {
		for (j = 0; j < first; j++) {
			if (mhost_loc_same(&p->locs[i], &old->locs[j])) {
				NL_SET_ERR_MSG_ATTR(extack, p->attrs[i],
						    "duplicate locator: the host has it already");
				return ERR_PTR(-EEXIST);
			}
		}
	}
	if (first + p->n > MHOST_MAX_LOCATORS) {
		NL_SET_ERR_MSG(extack, "too many locators");
		return ERR_PTR(-E2BIG);
	}
	new = mhost_host_alloc(mn, hid, first + p->n);
	if (!new) {
		NL_SET_ERR_MSG(extack, "out of memory for the host");
		return ERR_PTR(-ENOMEM);
	}
	for (i = 0; i < first; i++)
		mhost_copy_locator(&new->locs[i], &old->locs[i]);
	for (i = 0; i < p->n; i++)
		mhost_copy_locator(&new->locs[first + i], &p->locs[i]);
	return new;
}

static int mhost_nl_host_new(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *live = info->attrs[MHOST_A_HOST_LIVE];
	struct net *net = genl_info_net(info);
	struct mhost_net *mn = mhost_pernet(net);
	struct mhost_host *old, *new;
	struct mhost_live_knobs knobs;
	struct mhost_nl_locs *p;
	u32 hid, flags = 0;
	int err;

	err = mhost_nl_get_hid(info, &hid);
	if (err)
		return err;
	if (live) {
		err = mhost_nl_parse_host_live(live, &knobs, info->extack);
		if (err)
			return err;
	}
	if (info->attrs[MHOST_A_HOST_FLAGS])
		flags = nla_get_u32(info->attrs[MHOST_A_HOST_FLAGS]);
	if ((flags & MHOST_HOST_F_REPLACE) && (flags & MHOST_HOST_F_APPEND)) {
		NL_SET_ERR_MSG(info->extack,
			       "replace and append cannot be combined");
		return -EINVAL;
	}

	p = kmalloc(sizeof(*p), GFP_KERNEL);
	if (!p) {
		NL_SET_ERR_MSG(info->extack, "out of memory for the locators");
		return -ENOMEM;
	}
	err = mhost_nl_parse_locators(info, p);
	if (err)
		goto out_free;

	mutex_lock(&mn->ops_lock);
	mutex_lock(&mn->hosts_lock);
	old = mhost_host_find(mn, hid);
	err = -EEXIST;
	if (old && !(flags & (MHOST_HOST_F_REPLACE | MHOST_HOST_F_APPEND))) {
		NL_SET_ERR_MSG(info->extack,
			       "host already exists (replace or append it)");
		goto out_unlock;
	}
	err = -ENOENT;
	if (!old && !(flags & MHOST_HOST_F_CREATE)) {
		NL_SET_ERR_MSG(info->extack, "no such host");
		goto out_unlock;
	}

	/* Parsing found the devices; they may have gone since. */
	err = -ENODEV;
	if (!mhost_devs_present(mn, p->locs, p->n)) {
		NL_SET_ERR_MSG(info->extack,
			       "the device of a locator went away");
		goto out_unlock;
	}
	new = mhost_nl_build_host(mn, hid, old, flags & MHOST_HOST_F_APPEND,
				  p, info->extack);
	err = PTR_ERR_OR_ZERO(new);
	if (err)
		goto out_unlock;
	/* The knobs given, else those it had. */
	if (live)
		new->live = knobs;
	else if (old)
		new->live = old->live;
	err = mhost_host_publish(mn, new, old);
	if (!err)
		mhost_nl_host_event(net, new, MHOST_CMD_HOST_NEW, info);

out_unlock:
	mutex_unlock(&mn->hosts_lock);
	mutex_unlock(&mn->ops_lock);
	/* Hosts are probed from, and answer, a socket of the namespace. */
	if (!err) {
		mhost_live_use(mn);
		mhost_live_host_changed(mn, hid);
	}
out_free:
	kfree(p);
	return err;
}

static int mhost_nl_host_del(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct mhost_net *mn = mhost_pernet(net);
	struct mhost_host *host;
	int err;
	u32 hid;

	err = mhost_nl_get_hid(info, &hid);
	if (err)
		return err;

	mutex_lock(&mn->ops_lock);
	mutex_lock(&mn->hosts_lock);
	host = mhost_host_find(mn, hid);
	if (host) {
		mhost_nl_host_event(net, host, MHOST_CMD_HOST_DEL, info);
		mhost_host_unlink(mn, host);
		/* Liveness stops watching it now. */
		mhost_live_host_changed(mn, hid);
	} else {
		NL_SET_ERR_MSG(info->extack, "no such host");
		err = -ENOENT;
	}
	mutex_unlock(&mn->hosts_lock);
	mutex_unlock(&mn->ops_lock);
	return err;
}

static int mhost_nl_host_get(struct sk_buff *skb, struct genl_info *info)
{
	struct mhost_net *mn = mhost_pernet(genl_info_net(info));
	struct mhost_host *host;
	struct sk_buff *msg;
	int err;
	u32 hid;

	err = mhost_nl_get_hid(info, &hid);
	if (err)
		return err;

	host = mhost_host_get(mn, hid);
	if (!host) {
		NL_SET_ERR_MSG(info->extack, "no such host");
		return -ENOENT;
	}

	err = -ENOMEM;
	msg = genlmsg_new(mhost_nl_host_size(host), GFP_KERNEL);
	if (!msg)
		goto out;
	err = mhost_nl_fill_host(msg, host, info->snd_portid, info->snd_seq,
				 0, MHOST_CMD_HOST_GET, NULL);
	if (err) {
		nlmsg_free(msg);
		goto out;
	}
	err = genlmsg_reply(msg, info);
out:
	mhost_host_put(host);
	return err;
}

static int mhost_nl_host_dump_start(struct netlink_callback *cb)
{
	struct mhost_net *mn = mhost_pernet(sock_net(cb->skb->sk));
	struct rhashtable_iter *iter;

	iter = kmalloc(sizeof(*iter), GFP_KERNEL);
	if (!iter)
		return -ENOMEM;
	mhost_hosts_walk_enter(mn, iter);
	cb->args[0] = (long)iter;
	return 0;
}

static int mhost_nl_host_dump_done(struct netlink_callback *cb)
{
	struct rhashtable_iter *iter = (struct rhashtable_iter *)cb->args[0];

	rhashtable_walk_exit(iter);
	kfree(iter);
	return 0;
}

/*
 * A dump that spans a change of the table, or a resize (after which the
 * walk starts over and repeats hosts), is flagged NLM_F_DUMP_INTR so
 * that the reader starts again. A resize shows as -EAGAIN either from
 * the walk or, when it ran while the reader was away, from restarting it.
 */
static int mhost_nl_host_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct rhashtable_iter *iter = (struct rhashtable_iter *)cb->args[0];
	struct mhost_net *mn = mhost_pernet(sock_net(cb->skb->sk));
	struct mhost_host *host;
	int err = 0;

	if (rhashtable_walk_start_check(iter) == -EAGAIN)
		cb->args[1]++;
	cb->seq = READ_ONCE(mn->hosts_gen) + cb->args[1];
	/* Peek first: the host that did not fit last time goes first. */
	for (host = rhashtable_walk_peek(iter); host;
	     host = rhashtable_walk_next(iter)) {
		if (IS_ERR(host)) {
			if (PTR_ERR(host) == -EAGAIN) {
				cb->seq = READ_ONCE(mn->hosts_gen) +
					  ++cb->args[1];
				continue;
			}
			err = PTR_ERR(host);
			break;
		}
		if (mhost_nl_fill_host(skb, host,
				       NETLINK_CB(cb->skb).portid,
				       cb->nlh->nlmsg_seq, NLM_F_MULTI,
				       MHOST_CMD_HOST_GET, cb))
			break;
	}
	rhashtable_walk_stop(iter);
	return err ?: skb->len;
}

/*
 * A flush of a million hosts takes a while: it holds only this
 * namespace's locks (the family runs with parallel_ops), and those only
 * in batches (hosts.c).
 */
static int mhost_nl_host_flush(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct mhost_net *mn = mhost_pernet(net);

	mutex_lock(&mn->ops_lock);
	mhost_hosts_flush(mn);
	mutex_lock(&mn->hosts_lock);
	mhost_nl_host_event(net, NULL, MHOST_CMD_HOST_FLUSH, info);
	mutex_unlock(&mn->hosts_lock);
	mutex_unlock(&mn->ops_lock);
	return 0;
}

/* ---- devices ---- */

struct mhost_nl_dev {
	int		ifindex;
	const char	*name;
	unsigned long	flags;
};

static size_t mhost_nl_dev_size(void)
{
	return genlmsg_msg_size(nla_total_size(0) +	/* MHOST_A_DEV */
				nla_total_size(sizeof(u32)) +	/* IFINDEX */
				nla_total_size(IFNAMSIZ) +	/* NAME */
				nla_total_size(sizeof(u8)));	/* L3 */
}

static int mhost_nl_fill_dev(struct sk_buff *skb, const struct mhost_nl_dev *d,
			     u32 portid, u32 seq, int flags, u8 cmd,
			     struct netlink_callback *cb)
{
	struct nlattr *nest;
	void *hdr;

	hdr = genlmsg_put(skb, portid, seq, &mhost_genl_family, flags, cmd);
	if (!hdr)
		return -EMSGSIZE;
	nest = nla_nest_start(skb, MHOST_A_DEV);
	if (!nest ||
	    nla_put_u32(skb, MHOST_DEV_A_IFINDEX, d->ifindex) ||
	    nla_put_string(skb, MHOST_DEV_A_NAME, d->name) ||
	    nla_put_u8(skb, MHOST_DEV_A_L3, !!(d->flags & MHOST_DEV_F_L3))) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	if (cb)	/* once the message stays, as for hosts */
		genl_dump_check_consistent(cb, hdr);
	genlmsg_end(skb, hdr);
	return 0;
}

static int mhost_nl_fill_dev_event(struct sk_buff *skb, const void *d,
				   u32 portid, u32 seq, u8 cmd)
{
	return mhost_nl_fill_dev(skb, d, portid, seq, 0, cmd, NULL);
}

/* Announces a DEV_SET (@dev as it now is) or DEV_DEL. Under RTNL. */
void mhost_nl_dev_event(struct net *net, const struct net_device *dev,
			unsigned long flags, u8 cmd, struct genl_info *info)
{
	struct mhost_nl_dev d = {
		.ifindex = dev->ifindex, .name = dev->name, .flags = flags,
	};

	mhost_nl_event(net, info, mhost_nl_dev_size(),
		       mhost_nl_fill_dev_event, &d, cmd);
}

/* The device MHOST_A_DEV names, under RTNL; NULL and extack if none. */
static struct net_device *mhost_nl_get_dev(struct genl_info *info,
					   struct nlattr **tb)
{
	struct nlattr *nest = info->attrs[MHOST_A_DEV];
	struct net_device *dev;
	int err;

	ASSERT_RTNL();

	if (!nest) {
		NL_SET_ERR_MSG(info->extack, "missing device");
		return ERR_PTR(-EINVAL);
	}
	err = nla_parse_nested(tb, MHOST_DEV_A_MAX, nest, mhost_dev_policy,
			       info->extack);
	if (err)
		return ERR_PTR(err);
	if (!tb[MHOST_DEV_A_IFINDEX]) {
		NL_SET_ERR_MSG_ATTR(info->extack, nest, "missing device ifindex");
		return ERR_PTR(-EINVAL);
	}
	dev = __dev_get_by_index(genl_info_net(info),
				 nla_get_u32(tb[MHOST_DEV_A_IFINDEX]));
	if (!dev) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[MHOST_DEV_A_IFINDEX],
				    "no such device");
		return ERR_PTR(-ENODEV);
	}
	return dev;
}

static int mhost_nl_dev_set(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct mhost_net *mn = mhost_pernet(net);
	struct nlattr *tb[MHOST_DEV_A_MAX + 1];
	struct net_device *dev;
	unsigned long flags;
	int err;

	rtnl_lock();
	dev = mhost_nl_get_dev(info, tb);
	err = PTR_ERR_OR_ZERO(dev);
	if (err)
		goto out;
	if (!tb[MHOST_DEV_A_L3]) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[MHOST_A_DEV],
				    "nothing to set");
		err = -EINVAL;
		goto out;
	}
	flags = mhost_dev_flags(mn, dev->ifindex) & ~MHOST_DEV_F_L3;
	if (nla_get_u8(tb[MHOST_DEV_A_L3]))
		flags |= MHOST_DEV_F_L3;
	err = mhost_dev_set(mn, dev, flags);
	if (err > 0)
		mhost_nl_dev_event(net, dev, flags, MHOST_CMD_DEV_SET, info);
out:
	rtnl_unlock();
	return err < 0 ? err : 0;
}

static int mhost_nl_dev_get(struct sk_buff *skb, struct genl_info *info)
{
	struct mhost_net *mn = mhost_pernet(genl_info_net(info));
	struct nlattr *tb[MHOST_DEV_A_MAX + 1];
	struct net_device *dev;
	struct mhost_nl_dev d;
	struct sk_buff *msg;
	int err;

	msg = genlmsg_new(mhost_nl_dev_size(), GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	rtnl_lock();
	dev = mhost_nl_get_dev(info, tb);
	err = PTR_ERR_OR_ZERO(dev);
	if (!err) {
		d.ifindex = dev->ifindex;
		d.name = dev->name;
		d.flags = mhost_dev_flags(mn, dev->ifindex);
		err = mhost_nl_fill_dev(msg, &d, info->snd_portid,
					info->snd_seq, 0, MHOST_CMD_DEV_GET,
					NULL);
	}
	rtnl_unlock();
	if (err) {
		nlmsg_free(msg);
		return err;
	}
	return genlmsg_reply(msg, info);
}

/* The enabled devices, in ifindex order, resuming at cb->args[0]. */
static int mhost_nl_dev_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct net *net = sock_net(cb->skb->sk);
	struct mhost_net *mn = mhost_pernet(net);
	unsigned long ifindex;
	struct net_device *dev;
	struct mhost_nl_dev d;
	void *entry;

	/* Names are stable under RTNL, which device changes hold. */
	rtnl_lock();
	cb->seq = READ_ONCE(mn->devs_gen);
	xa_for_each_start(&mn->devs, ifindex, entry, cb->args[0]) {
		dev = __dev_get_by_index(net, ifindex);
		if (WARN_ON_ONCE(!dev))
			continue;
		d.ifindex = ifindex;
		d.name = dev->name;
		d.flags = xa_to_value(entry);
		if (mhost_nl_fill_dev(skb, &d, NETLINK_CB(cb->skb).portid,
				      cb->nlh->nlmsg_seq, NLM_F_MULTI,
				      MHOST_CMD_DEV_GET, cb))
			break;
		cb->args[0] = ifindex + 1;
	}
	rtnl_unlock();
	return skb->len;
}

/* The built-in network layers; plugged-in ones follow them. */
static const struct {
	u16 family;
	const char *name;
	u32 addr_len;
} mhost_ip_protos[] = {
	{ AF_INET, "inet", sizeof(struct in_addr) },
	{ AF_INET6, "inet6", sizeof(struct in6_addr) },
};

void mhost_nl_stats(struct net *net, struct mhost_pcpu_stats *sum)
{
	struct mhost_net *mn = mhost_pernet(net);
	const struct mhost_pcpu_stats *s;
	int cpu;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		s = per_cpu_ptr(mn->stats, cpu);
		sum->tx_ip4 += READ_ONCE(s->tx_ip4);
		sum->tx_ip6 += READ_ONCE(s->tx_ip6);
		sum->rx_ip4 += READ_ONCE(s->rx_ip4);
		sum->rx_ip6 += READ_ONCE(s->rx_ip6);
		sum->tx_hostid += READ_ONCE(s->tx_hostid);
		sum->tx_failover += READ_ONCE(s->tx_failover);
		sum->tx_unreach += READ_ONCE(s->tx_unreach);
		sum->rx_l3_unknown += READ_ONCE(s->rx_l3_unknown);
		sum->tx_l3 += READ_ONCE(s->tx_l3);
		sum->rx_l3 += READ_ONCE(s->rx_l3);
		sum->rx_l3_short += READ_ONCE(s->rx_l3_short);
		sum->rx_l3_bad_header += READ_ONCE(s->rx_l3_bad_header);
		sum->rx_l3_bad_len += READ_ONCE(s->rx_l3_bad_len);
		sum->rx_l3_truncated += READ_ONCE(s->rx_l3_truncated);
		sum->rx_l3_no_socket += READ_ONCE(s->rx_l3_no_socket);
		sum->rx_l3_bad_csum += READ_ONCE(s->rx_l3_bad_csum);
		sum->rx_l3_dev_disabled += READ_ONCE(s->rx_l3_dev_disabled);
		sum->probes_sent += READ_ONCE(s->probes_sent);
		sum->probes_answered += READ_ONCE(s->probes_answered);
		sum->probes_missed += READ_ONCE(s->probes_missed);
		sum->loc_changes += READ_ONCE(s->loc_changes);
		sum->loc_signals += READ_ONCE(s->loc_signals);
		sum->loc_signals_ignored += READ_ONCE(s->loc_signals_ignored);
		sum->probe_replies += READ_ONCE(s->probe_replies);
		sum->probe_replies_limited +=
			READ_ONCE(s->probe_replies_limited);
		sum->probes_bad += READ_ONCE(s->probes_bad);
	}
}

static int mhost_nl_fill_proto(struct sk_buff *skb,
			       struct netlink_callback *cb, u16 family,
			       const char *name, const char *module,
			       u32 addr_len, u64 tx, u64 rx)
{
	struct nlattr *nest;
	void *hdr;

	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &mhost_genl_family, NLM_F_MULTI, MHOST_CMD_PROTO_GET);
	if (!hdr)
		return -EMSGSIZE;
	nest = nla_nest_start(skb, MHOST_A_PROTO);
	if (!nest ||
	    nla_put_u16(skb, MHOST_PROTO_A_FAMILY, family) ||
	    nla_put_string(skb, MHOST_PROTO_A_NAME, name) ||
	    nla_put_string(skb, MHOST_PROTO_A_MODULE, module) ||
	    nla_put_u32(skb, MHOST_PROTO_A_ADDR_LEN, addr_len) ||
	    nla_put_u64_64bit(skb, MHOST_PROTO_A_TX_PACKETS, tx,
			      MHOST_PROTO_A_PAD) ||
	    nla_put_u64_64bit(skb, MHOST_PROTO_A_RX_PACKETS, rx,
			      MHOST_PROTO_A_PAD)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	genlmsg_end(skb, hdr);
	return 0;
}

/* Protocols register globally; each namespace counts its own datagrams. */
static int mhost_nl_fill_l3_proto(struct sk_buff *skb,
				  struct netlink_callback *cb,
				  const struct mhost_proto *proto)
{
	struct mhost_net *mn = mhost_pernet(sock_net(cb->skb->sk));
	u64 tx, rx;

	mhost_proto_counters(mn, proto, &tx, &rx);
	return mhost_nl_fill_proto(skb, cb, proto->family, proto->name,
				   proto->owner ? module_name(proto->owner) :
						  "kernel",
				   proto->addr_len, tx, rx);
}

static int mhost_nl_proto_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct mhost_pcpu_stats sum;
	unsigned int i = cb->args[0];
	bool ip4;

	mhost_nl_stats(sock_net(cb->skb->sk), &sum);
	for (; i < ARRAY_SIZE(mhost_ip_protos); i++) {
		ip4 = mhost_ip_protos[i].family == AF_INET;
		if (mhost_nl_fill_proto(skb, cb, mhost_ip_protos[i].family,
					mhost_ip_protos[i].name, "kernel",
					mhost_ip_protos[i].addr_len,
					ip4 ? sum.tx_ip4 : sum.tx_ip6,
					ip4 ? sum.rx_ip4 : sum.rx_ip6))
			break;
	}
	cb->args[0] = i;
	if (i == ARRAY_SIZE(mhost_ip_protos))
		mhost_l3_proto_dump(skb, cb, mhost_nl_fill_l3_proto);
	return skb->len;
}

static int mhost_nl_fill_sock(struct sk_buff *skb, struct sock *sk,
			      struct netlink_callback *cb)
{
	struct mhost_sock *ms = mhost_sk(sk);
	struct mhost_peer *peer;
	struct nlattr *nest;
	u32 peer_hid = 0;
	void *hdr;

	peer = rcu_dereference(ms->peer);
	if (peer && peer->addr.sa.sa_family == mhost_family)
		peer_hid = peer->addr.mh.smh_hid;

	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &mhost_genl_family, NLM_F_MULTI, MHOST_CMD_SOCK_GET);
	if (!hdr)
		return -EMSGSIZE;
	nest = nla_nest_start(skb, MHOST_A_SOCK);
	/* What is sent waits in the transport socket. */
	if (!nest ||
	    nla_put_u16(skb, MHOST_SOCK_A_PORT, ntohs(READ_ONCE(ms->port))) ||
	    nla_put_u32(skb, MHOST_SOCK_A_UID,
			from_kuid_munged(sk_user_ns(NETLINK_CB(cb->skb).sk),
					 mhost_sock_uid(sk))) ||
	    nla_put_u64_64bit(skb, MHOST_SOCK_A_INODE, sock_i_ino(sk),
			      MHOST_SOCK_A_PAD) ||
	    nla_put_u32(skb, MHOST_SOCK_A_RMEM, sk_rmem_alloc_get(sk)) ||
	    nla_put_u32(skb, MHOST_SOCK_A_WMEM, sk_wmem_alloc_get(ms->tsk)) ||
	    nla_put_u32(skb, MHOST_SOCK_A_DROPS, atomic_read(&sk->sk_drops)) ||
	    (peer_hid &&
	     nla_put_u32(skb, MHOST_SOCK_A_PEER_HOST_ID, peer_hid))) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	genlmsg_end(skb, hdr);
	return 0;
}

/*
 * Sockets by id, resuming after the last one sent: each message costs
 * O(log n) to find its place. Sockets come and go while a dump spans
 * messages: best effort, as inet_diag.
 */
static int mhost_nl_sock_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct mhost_net *mn = mhost_pernet(sock_net(cb->skb->sk));
	unsigned long id = cb->args[0];
	struct mhost_sock *ms;

	/* args[1]: every socket was sent. */
	if (cb->args[1])
		return 0;
	rcu_read_lock();
	xa_for_each_start(&mn->socks, id, ms, id) {
		if (mhost_nl_fill_sock(skb, &ms->sk, cb)) {
			/* This one did not fit: first in the next message. */
			cb->args[0] = id;
			goto out;
		}
	}
	cb->args[1] = 1;
out:
	rcu_read_unlock();
	return skb->len;
}

static int mhost_nl_stats_get(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct mhost_net *mn = mhost_pernet(net);
	struct mhost_pcpu_stats sum;
	struct nlattr *nest;
	struct sk_buff *msg;
	void *hdr;

	mhost_nl_stats(net, &sum);

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &mhost_genl_family, 0,
				MHOST_CMD_STATS_GET);
	if (!hdr)
		goto nospace;
	nest = nla_nest_start(msg, MHOST_A_STATS);
	if (!nest ||
	    nla_put_u32(msg, MHOST_STATS_A_HOSTS, READ_ONCE(mn->nhosts)) ||
	    nla_put_u32(msg, MHOST_STATS_A_SOCKETS, atomic_read(&mn->nsocks)) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_TX_HOSTID, sum.tx_hostid,
			      MHOST_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_TX_FAILOVER, sum.tx_failover,
			      MHOST_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_TX_UNREACH, sum.tx_unreach,
			      MHOST_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_RX_L3_UNKNOWN,
			      sum.rx_l3_unknown, MHOST_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_HOSTS_ALLOCATED,
			      atomic_long_read(&mn->hosts_allocated),
			      MHOST_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_TX_L3, sum.tx_l3,
			      MHOST_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_RX_L3, sum.rx_l3,
			      MHOST_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_RX_L3_SHORT,
			      sum.rx_l3_short, MHOST_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_RX_L3_BAD_HEADER,
			      sum.rx_l3_bad_header, MHOST_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_RX_L3_BAD_LEN,
			      sum.rx_l3_bad_len, MHOST_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_RX_L3_TRUNCATED,
			      sum.rx_l3_truncated, MHOST_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_RX_L3_NO_SOCKET,
			      sum.rx_l3_no_socket, MHOST_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_RX_L3_BAD_CSUM,
			      sum.rx_l3_bad_csum, MHOST_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_RX_L3_DEV_DISABLED,
			      sum.rx_l3_dev_disabled, MHOST_STATS_A_PAD) ||
	    nla_put_u32(msg, MHOST_STATS_A_LIVE_HOSTS,
			READ_ONCE(mn->live.nactive)) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_PROBES_SENT,
			      sum.probes_sent, MHOST_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_PROBES_ANSWERED,
			      sum.probes_answered, MHOST_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_PROBES_MISSED,
			      sum.probes_missed, MHOST_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_LOC_CHANGES,
			      sum.loc_changes, MHOST_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_LOC_SIGNALS,
			      sum.loc_signals, MHOST_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_LOC_SIGNALS_IGNORED,
			      sum.loc_signals_ignored, MHOST_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_PROBE_REPLIES,
			      sum.probe_replies, MHOST_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_PROBE_REPLIES_LIMITED,
			      sum.probe_replies_limited, MHOST_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, MHOST_STATS_A_PROBES_BAD,
			      sum.probes_bad, MHOST_STATS_A_PAD))
		goto nospace;
	nla_nest_end(msg, nest);
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

nospace:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

/* ---- path liveness ---- */

static int mhost_nl_live_get(struct sk_buff *skb, struct genl_info *info)
{
	struct mhost_net *mn = mhost_pernet(genl_info_net(info));
	struct mhost_live_settings st;
	struct nlattr *nest;
	struct sk_buff *msg;
	void *hdr;

	mhost_live_get(mn, &st);
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &mhost_genl_family, 0,
				MHOST_CMD_LIVE_GET);
	if (!hdr)
		goto nospace;
	nest = mhost_nl_put_knobs(msg, MHOST_A_LIVE, &st.cfg,
				  MHOST_LIVE_CFG_INTERVAL |
				  MHOST_LIVE_CFG_MULTIPLIER |
				  MHOST_LIVE_CFG_HOLD_DOWN |
				  MHOST_LIVE_CFG_REVERTIVE);
	if (!nest ||
	    nla_put_u16(msg, MHOST_LIVE_A_PORT, st.port) ||
	    nla_put_u8(msg, MHOST_LIVE_A_ANSWER, st.answer) ||
	    nla_put_u32(msg, MHOST_LIVE_A_PORT_ERROR, st.port_err))
		goto nospace;
	nla_nest_end(msg, nest);
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

nospace:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

static int mhost_nl_live_set(struct sk_buff *skb, struct genl_info *info)
{
	struct mhost_net *mn = mhost_pernet(genl_info_net(info));
	struct nlattr *nest = info->attrs[MHOST_A_LIVE];
	struct nlattr *tb[MHOST_LIVE_A_MAX + 1];
	struct mhost_live_settings st = {};
	int err;

	if (!nest) {
		NL_SET_ERR_MSG(info->extack, "missing liveness settings");
		return -EINVAL;
	}
	err = nla_parse_nested(tb, MHOST_LIVE_A_MAX, nest, mhost_live_ns_policy,
			       info->extack);
	if (!err)
		err = mhost_nl_parse_knobs(tb, &st.cfg, &st.set, info->extack);
	if (err)
		return err;
	if (tb[MHOST_LIVE_A_PORT]) {
		st.port = nla_get_u16(tb[MHOST_LIVE_A_PORT]);
		st.set |= MHOST_LIVE_SET_PORT;
	}
	if (tb[MHOST_LIVE_A_ANSWER]) {
		st.answer = nla_get_u8(tb[MHOST_LIVE_A_ANSWER]);
		st.set |= MHOST_LIVE_SET_ANSWER;
	}
	if (!st.set) {
		NL_SET_ERR_MSG_ATTR(info->extack, nest, "nothing to set");
		return -EINVAL;
	}
	return mhost_live_set(mn, &st, info->extack);
}

/*
 * The family runs with parallel_ops: nothing here needs genl_mutex. Each
 * namespace's host table has its own locks (hosts.c), device state is
 * changed under RTNL (device.c), the protocols are read under RCU (l3.c),
 * the sockets under their spinlock, counters are per CPU, and a dump's
 * callbacks are serialised by its socket's cb_mutex.
 */
static const struct genl_ops mhost_nl_ops[] = {
	{
		.cmd	= MHOST_CMD_PROTO_GET,
		.dumpit	= mhost_nl_proto_dump,
		.policy	= mhost_no_attr_policy,
		.maxattr = MHOST_A_PAD,
	},
	{
		.cmd	= MHOST_CMD_HOST_NEW,
		.doit	= mhost_nl_host_new,
		.policy	= mhost_host_new_policy,
		.maxattr = MHOST_A_MAX,
		.flags	= GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd	= MHOST_CMD_HOST_DEL,
		.doit	= mhost_nl_host_del,
		.policy	= mhost_host_id_policy,
		.maxattr = MHOST_A_MAX,
		.flags	= GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd	= MHOST_CMD_HOST_GET,
		.doit	= mhost_nl_host_get,
		.start	= mhost_nl_host_dump_start,
		.dumpit	= mhost_nl_host_dump,
		.done	= mhost_nl_host_dump_done,
		.policy	= mhost_host_id_policy,
		.maxattr = MHOST_A_MAX,
	},
	{
		.cmd	= MHOST_CMD_HOST_FLUSH,
		.doit	= mhost_nl_host_flush,
		.flags	= GENL_UNS_ADMIN_PERM,
		.policy	= mhost_no_attr_policy,
		.maxattr = MHOST_A_PAD,
	},
	{
		.cmd	= MHOST_CMD_SOCK_GET,
		.dumpit	= mhost_nl_sock_dump,
		.policy	= mhost_no_attr_policy,
		.maxattr = MHOST_A_PAD,
	},
	{
		.cmd	= MHOST_CMD_STATS_GET,
		.doit	= mhost_nl_stats_get,
		.policy	= mhost_no_attr_policy,
		.maxattr = MHOST_A_PAD,
	},
	{
		.cmd	= MHOST_CMD_DEV_GET,
		.doit	= mhost_nl_dev_get,
		.dumpit	= mhost_nl_dev_dump,
		.policy	= mhost_dev_req_policy,
		.maxattr = MHOST_A_MAX,
	},
	{
		.cmd	= MHOST_CMD_DEV_SET,
		.doit	= mhost_nl_dev_set,
		.policy	= mhost_dev_req_policy,
		.maxattr = MHOST_A_MAX,
		.flags	= GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd	= MHOST_CMD_LIVE_GET,
		.doit	= mhost_nl_live_get,
		.policy	= mhost_no_attr_policy,
		.maxattr = MHOST_A_PAD,
	},
	{
		.cmd	= MHOST_CMD_LIVE_SET,
		.doit	= mhost_nl_live_set,
		.policy	= mhost_live_req_policy,
		.maxattr = MHOST_A_MAX,
		.flags	= GENL_UNS_ADMIN_PERM,
	},
};

static const struct genl_multicast_group mhost_nl_mcgrps[] = {
	[MHOST_MCGRP_EVENTS_IDX] = { .name = MHOST_GENL_MCGRP_EVENTS },
};

static struct genl_family mhost_genl_family __ro_after_init = {
	.name		= MHOST_GENL_NAME,
	.version	= MHOST_GENL_VERSION,
	.maxattr	= MHOST_A_MAX,
	.netnsok	= true,
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.ops		= mhost_nl_ops,
	.n_ops		= ARRAY_SIZE(mhost_nl_ops),
	.mcgrps		= mhost_nl_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(mhost_nl_mcgrps),
};

int __init mhost_nl_init(void)
{
	int err = genl_register_family(&mhost_genl_family);

	if (!err) {
		down_write(&mhost_nl_gate);
		mhost_nl_up = true;
		up_write(&mhost_nl_gate);
	}
	return err;
}

void mhost_nl_exit(void)
{
	/* No event goes out once the family is on its way out. */
	down_write(&mhost_nl_gate);
	mhost_nl_up = false;
	up_write(&mhost_nl_gate);
	genl_unregister_family(&mhost_genl_family);
}
