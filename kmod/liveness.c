// SPDX-License-Identifier: GPL-2.0
/*
 * Path liveness: which locators of the hosts a namespace sends to work,
 * and failover, failback and damping on top of that.
 *
 * A sender sees only failures on its own machine. A peer's address
 * removed, a firewall dropping, a router gone: the datagrams vanish and
 * every sendto() succeeds. So each locator of a host being sent to gets
 * a state (UNKNOWN, UP, SUSPECT, DOWN) from three kinds of evidence:
 *
 * - traffic: a datagram from a locator's address proves the way back,
 *   and a locator heard from recently needs no probe;
 * - probes: a small request to the peer's mhost on the probe port, with
 *   a random nonce that only the real peer, which saw it, can echo;
 * - signals: an ICMP unreachable, a failed next-hop neighbour, a local
 *   link down. They make a locator SUSPECT at once, and two quick probes
 *   decide: so a forged ICMP error moves nothing.
 *
 * How it is built. One worker per namespace (a delayed work) makes every
 * change of state, sends every probe, reply and event, and re-arms
 * itself for the next deadline of the hosts it watches; with nothing to
 * watch it does not run. The data path only records evidence and kicks
 * it: a send to a host id that is not watched yet marks the host and
 * queues its id in lv->hosts (mhost_live_activate()); a datagram received
 * stores the time in the evidence entry of its source address, found in
 * lv->addrs with one lookup, done only while locators are watched; a
 * probe reply is matched by nonce in lv->probes and timestamped; an ICMP
 * error bumps its address's signal count. The worker reads those on its
 * next run. What the data path needs back is one byte per locator,
 * mhost_locator.live: the state and whether to avoid it for now.
 *
 * Only hosts with recent sends are watched, and only those have a
 * record (struct mhost_live_host) here, so the host table costs nothing
 * more per host; a host idle for MHOST_LIVE_IDLE is no longer probed,
 * and its record goes after MHOST_LIVE_FORGET.
 *
 * Locking: lv->lock (a mutex) is the worker's and guards everything but
 * what the receive paths touch: the xarray and hash tables, read under
 * RCU and changed by the worker only (records, probes and evidence are
 * freed after a grace period); and the replies and events queued for
 * the worker, under lv->rx_lock.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/jhash.h>
#include <linux/netdevice.h>
#include <linux/random.h>
#include <linux/rhashtable.h>
#include <linux/slab.h>
#include <net/ip6_route.h>
#include <net/ipv6.h>
#include <net/neighbour.h>
#include <net/netevent.h>
#include <net/route.h>
#include <net/udp.h>
#include <net/udp_tunnel.h>

#include "mhost.h"
#include "trace.h"

/*
 * Timing. With the defaults (interval 250 ms, multiplier 3) a silent
 * failure of the locator in use is found within interval (it was just
 * probed) + one probe timeout (UP to SUSPECT) + multiplier fast probes
 * (SUSPECT to DOWN): 250 + 100 + 3 * 100 = 650 ms, under the second the
 * README promises. With 5% loss, DOWN takes four losses in a row
 * (6e-6 per round, 1e-4 with the reply's way lossy too).
 */
#define MHOST_LIVE_RTO_MIN	(100 * NSEC_PER_MSEC)	/* probe timeout, least */
#define MHOST_LIVE_RTO_MAX	(2 * NSEC_PER_SEC)
#define MHOST_LIVE_FAST		(100 * NSEC_PER_MSEC)	/* period while SUSPECT */
/*
 * After a signal, probes verify within srtt + 4 * rttvar, kept between
 * these: the goal is an outage of a round trip and 50 ms, and the
 * worker's wake-up (a jiffy or two late) and the next send come on top.
 */
#define MHOST_LIVE_VERIFY_MIN	(10 * NSEC_PER_MSEC)
#define MHOST_LIVE_VERIFY_MAX	(30 * NSEC_PER_MSEC)
/*
 * Probes go in rounds: one while a locator is fine, two at once (to
 * survive one loss) while it is SUSPECT or DOWN and to verify a signal.
 * A round is missed when all its probes are. A slot keeps the probes of
 * its last two rounds: a late answer to the one before still counts.
 */
#define MHOST_LIVE_ROUND	2
#define MHOST_LIVE_PROBES	(2 * MHOST_LIVE_ROUND)
#define MHOST_LIVE_BACKUP	4	/* locators not in use: every 4 intervals */
#define MHOST_LIVE_DOWN_FAST	(10ULL * NSEC_PER_SEC)	/* then back off */
#define MHOST_LIVE_DOWN_SLOW	(60ULL * NSEC_PER_SEC)	/* then back off more */
#define MHOST_LIVE_IDLE		(5ULL * NSEC_PER_SEC)	/* no sends: stop probing */
#define MHOST_LIVE_FORGET	(60ULL * NSEC_PER_SEC)	/* then drop the record */
#define MHOST_LIVE_PENALTY_MAX	6	/* hold-down doubles up to 32 times */
#define MHOST_LIVE_DECAY	4	/* hold-downs UP to decay one flap */

/*
 * Replies: per source address, MHOST_LIVE_RL_RATE a second, bursts of
 * _BURST. A reply is no bigger than its request, so this is about
 * reflected floods, not amplification; and one peer sends all its
 * probes from one address, for every host and locator it watches here.
 */
#define MHOST_LIVE_RL_RATE	200
#define MHOST_LIVE_RL_BURST	50

/* The xarray mark of hosts a send woke up. */
#define MHOST_LIVE_WAKE		XA_MARK_1

static struct workqueue_struct *mhost_live_wq __read_mostly;

/* What the receive paths learn about an address, for the worker. */
struct mhost_live_addr {
	struct rhash_head	node;		/* in lv->addrs */
	struct mhost_lockey	key;		/* port 0 */
	unsigned long		last_rx;	/* jiffies */
	atomic_t		signals;	/* ICMP errors about it */
	unsigned int		users;		/* slots naming it */
	struct rcu_head		rcu;
};

struct mhost_live_probe {
	struct rhash_head	node;		/* in lv->probes */
	u64			nonce;
	u64			sent;		/* ns */
	u64			deadline;	/* ns */
	u64			answered;	/* ns, by the receive path; 0: not */
	struct mhost_lockey	key;		/* where it went, port 0 */
	int			ifindex;	/* the device, if the address needs one */
	__be16			port;		/* the probe port it went to */
	u32			round;		/* the slot's round it is of */
	bool			urgent;		/* an answer changes the state */
	bool			missed;
	struct rcu_head		rcu;
};

/* One locator of a watched host: its slot. */
struct mhost_live_loc {
	/* Which locator: as in the host, never changed (readers compare) */
	struct mhost_lockey	key;
	int			ifindex;
	u8			addr_len;
	__be16			port;

	u8			state;		/* enum mhost_loc_state */
	u8			cause;		/* enum mhost_loc_cause */
	u8			misses;		/* rounds missed in a row */
	u8			pending;	/* probes of this round out */
	bool			verifying;	/* this round verifies a signal */
	u8			sig_cause;	/* the signal being verified */
	u8			penalty;	/* flaps not yet decayed */
	u8			live;		/* for mhost_locator.live */
	bool			probe_now;
	int			seen_signals;
	unsigned long		seen_rx;
	struct mhost_live_addr	*addr;
	u32			round;
	struct mhost_live_probe	*probe[MHOST_LIVE_PROBES];	/* newest first */
	u64			last_probe;	/* ns */
	u64			heard;		/* ns, 0: never */
	u64			changed;	/* ns, 0: never */
	u64			down_since;
	u64			hold_until;
	u64			decay_at;
	u32			srtt;		/* us, 0: no sample yet */
	u32			rttvar;
	u32			flaps;
};

/* A host being watched. */
struct mhost_live_host {
	struct list_head	list;		/* lv->active or lv->idle */
	struct rcu_head		rcu;
	u32			hid;
	bool			idle;
	u64			last_tx;	/* ns: sends last seen */
	u64			idle_since;
	unsigned long		tx_seen;	/* sum of the send counters */
	int			sticky;		/* not revertive: in use */
	unsigned int		nlocs;
	struct mhost_live_loc	locs[];
};

static const struct rhashtable_params mhost_live_addr_params = {
	.head_offset		= offsetof(struct mhost_live_addr, node),
	.key_offset		= offsetof(struct mhost_live_addr, key),
	.key_len		= sizeof(struct mhost_lockey),
	.automatic_shrinking	= true,
};

static const struct rhashtable_params mhost_live_probe_params = {
	.head_offset		= offsetof(struct mhost_live_probe, node),
	.key_offset		= offsetof(struct mhost_live_probe, nonce),
	.key_len		= sizeof(u64),
	.automatic_shrinking	= true,
};

static inline struct mhost_net *mhost_live_mn(struct mhost_live_net *lv)
{
	return container_of(lv, struct mhost_net, live);
}

/*
 * Wakes the worker now. Callers are in RCU read-side sections (softirq
 * counts): the namespace's pre_exit sets dead, a grace period passes,
 * and only then its exit cancels the work for good.
 */
static void mhost_live_kick(struct mhost_live_net *lv)
{
	if (!READ_ONCE(lv->dead))
		mod_delayed_work(mhost_live_wq, &lv->work, 0);
}

/* ---- What the data path calls ---- */

/*
 * A send to a version of a host that is not watched, or watched and
 * idle: queue its id for the worker, unless liveness is off for it or
 * the namespace watches as many hosts as it may, this one not among
 * them (then the next send asks again). Concurrent senders may both get
 * here: harmless.
 */
void mhost_live_activate(struct mhost_net *mn, struct mhost_host *host)
{
	struct mhost_live_net *lv = &mn->live;
	u32 interval;
	int err;

	interval = host->live.flags & MHOST_LIVE_CFG_INTERVAL ?
		   host->live.interval_ms :
		   READ_ONCE(lv->defaults.interval_ms);
	if (!interval)
		return;
	if (atomic_read(&lv->nwatched) < MHOST_LIVE_MAX_HOSTS) {
		/*
		 * First live_on: a record that goes after xa_insert() saw
		 * it clears it again (its lock orders the two).
		 */
		WRITE_ONCE(host->live_on, 1);
		err = xa_insert(&lv->hosts, host->hid, xa_mk_value(0),
				GFP_NOWAIT);
		if (!err) {
			atomic_inc(&lv->nwatched);
		} else if (err != -EBUSY) {
			/* No memory: the next send tries again. */
			WRITE_ONCE(host->live_on, 0);
			return;
		}
	} else {
		/* Full: only one of those watched, idle or not, wakes. */
		if (!xa_load(&lv->hosts, host->hid))
			return;
		WRITE_ONCE(host->live_on, 1);
		/*
		 * live_on, then the table again; pairs with the barrier
		 * between erasing a record and clearing live_on.
		 */
		smp_mb();
		if (!xa_load(&lv->hosts, host->hid)) {
			WRITE_ONCE(host->live_on, 0);
			return;
		}
	}
	/* A record (or a value entry) is there already: wake it. */
	xa_set_mark(&lv->hosts, host->hid, MHOST_LIVE_WAKE);
	rcu_read_lock();
	mhost_live_kick(lv);
	rcu_read_unlock();
}

/* A datagram came from @key's address. Any context; RCU held or not. */
void __mhost_live_heard(struct mhost_net *mn, const struct mhost_lockey *key)
{
	struct mhost_live_addr *a;
	unsigned long now = jiffies;

	rcu_read_lock();
	a = rhashtable_lookup(&mn->live.addrs, key, mhost_live_addr_params);
	/* A store only when the time changed: a cache line stays shared. */
	if (a && READ_ONCE(a->last_rx) != now)
		WRITE_ONCE(a->last_rx, now);
	rcu_read_unlock();
}

/*
 * An ICMP or ICMPv6 error about a datagram one of our UDP sockets sent,
 * from an encap_err_rcv hook: @skb's data is at the inner IP header.
 * Destination unreachable, but for port unreachable (the host is there)
 * and fragmentation needed (the path works, if smaller), counts as a
 * signal against the destination address, for the worker to verify.
 */
void mhost_live_icmp(struct mhost_net *mn, struct sk_buff *skb)
{
	struct mhost_lockey key = {};
	struct mhost_live_addr *a;

	if (!atomic_read(&mn->live.naddrs))
		return;
	if (skb->protocol == htons(ETH_P_IPV6)) {
		const struct icmp6hdr *ih = icmp6_hdr(skb);

		if (ih->icmp6_type != ICMPV6_DEST_UNREACH ||
		    ih->icmp6_code == ICMPV6_PORT_UNREACH)
			return;
		key.family = AF_INET6;
		memcpy(key.addr, &((const struct ipv6hdr *)skb->data)->daddr,
		       sizeof(struct in6_addr));
	} else {
		const struct icmphdr *ih = icmp_hdr(skb);

		if (ih->type != ICMP_DEST_UNREACH ||
		    ih->code == ICMP_PORT_UNREACH ||
		    ih->code == ICMP_FRAG_NEEDED)
			return;
		key.family = AF_INET;
		memcpy(key.addr, &((const struct iphdr *)skb->data)->daddr,
		       sizeof(struct in_addr));
	}

	rcu_read_lock();
	a = rhashtable_lookup(&mn->live.addrs, &key, mhost_live_addr_params);
	if (a) {
		atomic_inc(&a->signals);
		mhost_live_kick(&mn->live);
	}
	rcu_read_unlock();
}

/*
 * Host @hid changed (its locators, its knobs): if it is watched, the
 * worker looks at it now rather than at its next deadline.
 */
void mhost_live_host_changed(struct mhost_net *mn, u32 hid)
{
	struct mhost_live_net *lv = &mn->live;

	rcu_read_lock();
	if (xa_load(&lv->hosts, hid))
		mhost_live_kick(lv);
	rcu_read_unlock();
}

/* ---- Probes on the wire ---- */

/*
 * One reply token of the source @addr, if it has one left: each of
 * MHOST_LIVE_RL_BUCKETS buckets, by a keyed hash of the source, fills up
 * at MHOST_LIVE_RL_RATE a second to MHOST_LIVE_RL_BURST. The credit is
 * kept in 1/HZ of a token: at HZ 250 a jiffy earns 0.8 of one, which
 * whole tokens would round away. Under rx_lock.
 */
static bool mhost_live_rl_take(struct mhost_live_net *lv, const void *addr,
			       unsigned int len)
{
	struct mhost_live_rl *b;
	unsigned long ago;

	b = &lv->answers->rl[jhash(addr, len, lv->rl_seed) %
			     MHOST_LIVE_RL_BUCKETS];
	/* Bounded first: what fills the bucket, and no more, cannot wrap. */
	ago = min_t(unsigned long, jiffies - b->stamp,
		    MHOST_LIVE_RL_BURST * HZ / MHOST_LIVE_RL_RATE + 1);
	b->stamp = jiffies;
	b->credit = min_t(unsigned long, b->credit + ago * MHOST_LIVE_RL_RATE,
			  MHOST_LIVE_RL_BURST * HZ);
	if (b->credit < HZ)
		return false;
	b->credit -= HZ;
	return true;
}

/*
 * A request from @from to @to (the local address, IP only; NULL over a
 * plugged L3) that came in on @ifindex: queue the reply.
 */
static void mhost_live_request(struct mhost_net *mn, const struct mhost_probe *mp,
			       const struct mhost_lockey *key,
			       const struct sockaddr *from, int fromlen,
			       const u8 *to, int ifindex)
{
	struct mhost_live_net *lv = &mn->live;
	struct mhost_live_reply *r;
	bool queued = false;

	spin_lock_bh(&lv->rx_lock);
	if (READ_ONCE(lv->answer) && lv->answers &&
	    lv->answers->n < MHOST_LIVE_NREPLIES &&
	    mhost_live_rl_take(lv, key, sizeof(*key))) {
		r = &lv->answers->replies[lv->answers->n++];
		memcpy(&r->to, from, fromlen);
		r->len = fromlen;
		memset(r->from, 0, sizeof(r->from));
		if (to)
			memcpy(r->from, to, key->family == AF_INET ?
			       sizeof(struct in_addr) : sizeof(struct in6_addr));
		r->ifindex = ifindex;
		r->nonce = mp->mp_nonce;
		r->stamp = mp->mp_stamp;
		queued = true;
	}
	spin_unlock_bh(&lv->rx_lock);

	/* Under RCU, as mhost_live_kick(). */
	if (queued && !READ_ONCE(lv->dead))
		queue_work(mhost_live_wq, &lv->answer_work);
	else if (!queued)
		MHOST_INC_STATS(mn, probe_replies_limited);
}

/*
 * A reply: it counts if its nonce is outstanding and it came from where
 * the request went, the probe port included, with the timestamp it
 * carried. The worker reads the time it came.
 */
static bool mhost_live_reply(struct mhost_net *mn, const struct mhost_probe *mp,
			     const struct mhost_lockey *key, int ifindex,
			     __be16 sport)
{
	u64 nonce = be64_to_cpu(mp->mp_nonce);
	struct mhost_live_probe *p;
	bool ok;

	rcu_read_lock();
	p = rhashtable_lookup(&mn->live.probes, &nonce, mhost_live_probe_params);
	ok = p && !memcmp(&p->key, key, sizeof(*key)) && sport == p->port &&
	     (!p->ifindex || p->ifindex == ifindex) &&
	     be64_to_cpu(mp->mp_stamp) == p->sent;
	if (ok && !READ_ONCE(p->answered)) {
		WRITE_ONCE(p->answered, ktime_get_ns());
		/* Else the run at its deadline reads it. */
		if (p->urgent)
			mhost_live_kick(&mn->live);
	}
	rcu_read_unlock();
	return ok;
}

/*
 * A probe message from @from (@key: its address, port 0; @ifindex: the
 * device it came in on), @len bytes at @mp.
 */
static void mhost_live_input(struct mhost_net *mn, const struct mhost_probe *mp,
			     unsigned int len, const struct mhost_lockey *key,
			     int ifindex, __be16 sport,
			     const struct sockaddr *from, int fromlen,
			     const u8 *to)
{
	if (len < sizeof(*mp) || mp->mp_version != MHOST_PROBE_VERSION)
		goto bad;
	switch (mp->mp_type) {
	case MHOST_PROBE_REQUEST:
		if (mp->mp_flags || mp->mp_reserved)
			goto bad;
		/* Traffic from there, as much as any datagram. */
		mhost_live_heard(mn, key);
		mhost_live_request(mn, mp, key, from, fromlen, to, ifindex);
		return;
	case MHOST_PROBE_REPLY:
		if (mhost_live_reply(mn, mp, key, ifindex, sport))
			return;
		break;
	}
bad:
	MHOST_INC_STATS(mn, probes_bad);
}

/* The probe socket's encap_rcv: a datagram to the probe port over IP. */
static int mhost_live_encap_rcv(struct sock *sk, struct sk_buff *skb)
{
	unsigned int hlen = sizeof(struct udphdr) + sizeof(struct mhost_probe);
	union mhost_addr from = {};
	struct mhost_lockey key = {};
	struct mhost_net *mn;
	struct udphdr *uh;
	int fromlen, iif;
	const u8 *to;

	mn = rcu_dereference_sk_user_data(sk);
	if (!mn || READ_ONCE(mn->live.dead))
		goto drop;
	if (!pskb_may_pull(skb, min(hlen, skb->len)))
		goto drop;
	uh = udp_hdr(skb);

	if (skb->protocol == htons(ETH_P_IP)) {
		key.family = AF_INET;
		memcpy(key.addr, &ip_hdr(skb)->saddr, sizeof(struct in_addr));
		from.in.sin_family = AF_INET;
		from.in.sin_port = uh->source;
		from.in.sin_addr.s_addr = ip_hdr(skb)->saddr;
		fromlen = sizeof(from.in);
		to = (const u8 *)&ip_hdr(skb)->daddr;
		iif = inet_iif(skb);
	} else {
		key.family = AF_INET6;
		memcpy(key.addr, &ipv6_hdr(skb)->saddr, sizeof(struct in6_addr));
		iif = inet6_iif(skb);
		from.in6.sin6_family = AF_INET6;
		from.in6.sin6_port = uh->source;
		from.in6.sin6_addr = ipv6_hdr(skb)->saddr;
		from.in6.sin6_scope_id =
			ipv6_iface_scope_id(&from.in6.sin6_addr, iif);
		fromlen = sizeof(from.in6);
		to = (const u8 *)&ipv6_hdr(skb)->daddr;
	}
	mhost_live_input(mn, (struct mhost_probe *)(uh + 1),
			 skb->len - sizeof(*uh), &key, iif, uh->source,
			 &from.sa, fromlen, to);
	consume_skb(skb);
	return 0;
drop:
	kfree_skb(skb);
	return 0;
}

static void mhost_live_encap_err_rcv(MHOST_ENCAP_ERR_RCV_ARGS)
{
	struct mhost_net *mn = rcu_dereference_sk_user_data(sk);

	if (mn)
		mhost_live_icmp(mn, skb);
}

/*
 * A datagram to the probe port over a plugged L3 (route.c hands them
 * over when a probe socket is bound): @skb's data is at the UDP header,
 * whose checksum was verified. Consumes @skb.
 */
void mhost_live_l3_rcv(struct mhost_net *mn, struct sk_buff *skb,
		       const struct mhost_lockey *key, int ifindex,
		       const struct sockaddr *src, int srclen)
{
	struct mhost_probe mp = {};
	union mhost_addr from;
	unsigned int len;

	len = skb->len - sizeof(struct udphdr);
	if (skb_copy_bits(skb, sizeof(struct udphdr), &mp,
			  min_t(unsigned int, len, sizeof(mp))))
		len = 0;
	/* The protocol's sockaddr of the source, with its port. */
	memcpy(&from, src, srclen);
	from.l3.port = udp_hdr(skb)->source;
	mhost_live_input(mn, &mp, len, key, ifindex, from.l3.port, &from.sa,
			 srclen, NULL);
	consume_skb(skb);
}

/* ---- The probe socket ---- */

/* Opens the probe socket on lv->port. Under lv->lock. */
static int mhost_live_open(struct mhost_net *mn)
{
	struct udp_tunnel_sock_cfg cfg = {
		.sk_user_data	= mn,
		.encap_type	= 1,
		.encap_rcv	= mhost_live_encap_rcv,
		.encap_err_rcv	= mhost_live_encap_err_rcv,
	};
	struct mhost_live_net *lv = &mn->live;
	struct sockaddr_in6 sin6 = {
		.sin6_family = AF_INET6, .sin6_port = lv->port,
	};
	struct mhost_live_answers *ans;
	struct socket *sock;
	int off = 0, err;
	unsigned int i;

	lockdep_assert_held(&lv->lock);

	if (!lv->answers) {
		ans = kzalloc(sizeof(*ans), GFP_KERNEL_ACCOUNT);
		if (!ans) {
			err = -ENOMEM;
			goto out;
		}
		for (i = 0; i < MHOST_LIVE_RL_BUCKETS; i++) {
			ans->rl[i].stamp = jiffies;
			ans->rl[i].credit = MHOST_LIVE_RL_BURST * HZ;
		}
		spin_lock_bh(&lv->rx_lock);
		lv->answers = ans;
		spin_unlock_bh(&lv->rx_lock);
	}
	err = sock_create_kern(mn->net, PF_INET6, SOCK_DGRAM, IPPROTO_UDP,
			       &sock);
	if (err)
		goto out;
	/* Both IP versions, whatever net.ipv6.bindv6only says. */
	err = sock->ops->setsockopt(sock, SOL_IPV6, IPV6_V6ONLY,
				    KERNEL_SOCKPTR(&off), sizeof(off));
	if (err)
		goto release;
	/* Before binding, so that nothing arrives without the hooks. */
	mhost_setup_udp_tunnel_sock(mn->net, sock, &cfg);
	err = mhost_kernel_bind(sock, (struct sockaddr *)&sin6, sizeof(sin6));
	if (err)
		goto release;
	lv->sock = sock;
	WRITE_ONCE(lv->bound_port, lv->port);
	lv->sock_err = 0;
	return 0;

release:
	sock_release(sock);
out:
	lv->sock_err = -err;
	lv->sock_retry = jiffies + HZ;
	return err;
}

/*
 * Closes the probe socket. Receivers still running on it find no
 * namespace or a live one: it is freed a grace period after close, and
 * a namespace only after its pre_exit and a grace period.
 */
static void mhost_live_release(struct socket *sock)
{
	rcu_assign_sk_user_data(sock->sk, NULL);
	kernel_sock_shutdown(sock, SHUT_RDWR);
	sock_release(sock);
}

static void mhost_live_close(struct mhost_live_net *lv)
{
	lockdep_assert_held(&lv->lock);
	if (!lv->sock)
		return;
	WRITE_ONCE(lv->bound_port, 0);
	mhost_live_release(lv->sock);
	lv->sock = NULL;
}

/* Opens the probe socket if it is not open and it is time to try. */
static void mhost_live_ensure_sock(struct mhost_net *mn)
{
	struct mhost_live_net *lv = &mn->live;

	lockdep_assert_held(&lv->lock);
	if (!lv->sock && !lv->dead && time_after_eq(jiffies, lv->sock_retry))
		mhost_live_open(mn);
}

/*
 * mhost is used in the namespace (a first socket, a host): from now on
 * it answers probes and can send them. Process context, no locks held.
 */
void mhost_live_use(struct mhost_net *mn)
{
	struct mhost_live_net *lv = &mn->live;

	if (likely(READ_ONCE(lv->bound_port)))
		return;
	mutex_lock(&lv->lock);
	mhost_live_ensure_sock(mn);
	mutex_unlock(&lv->lock);
}

/*
 * Sends one probe message to @to. A reply over IP leaves from the
 * address its request came to (@r), as a peer with several addresses
 * must answer: that is the one the requester probed. Process context,
 * under lv->lock.
 */
static int mhost_live_xmit(struct mhost_net *mn, const union mhost_addr *to,
			   int tolen, const struct mhost_probe *mp,
			   const struct mhost_live_reply *r)
{
	struct mhost_live_net *lv = &mn->live;
	struct msghdr msg = {
		.msg_name	= (void *)to,
		.msg_namelen	= tolen,
		.msg_flags	= MSG_DONTWAIT | MSG_NOSIGNAL,
	};
	struct kvec iov = { .iov_base = (void *)mp, .iov_len = sizeof(*mp) };
	union {
		struct cmsghdr	cm;
		u8		buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	} ctl = {};
	struct in6_pktinfo *pi6;
	struct in_pktinfo *pi;
	int err;

	if (!lv->sock)
		return -ENOTCONN;
	if (to->sa.sa_family != AF_INET && to->sa.sa_family != AF_INET6)
		return mhost_l3_send_raw(mn->net, to, lv->bound_port, mp,
					 sizeof(*mp));

	if (r && to->sa.sa_family == AF_INET6) {
		ctl.cm.cmsg_level = SOL_IPV6;
		ctl.cm.cmsg_type = IPV6_PKTINFO;
		ctl.cm.cmsg_len = CMSG_LEN(sizeof(*pi6));
		pi6 = CMSG_DATA(&ctl.cm);
		memcpy(&pi6->ipi6_addr, r->from, sizeof(pi6->ipi6_addr));
		pi6->ipi6_ifindex = to->in6.sin6_scope_id;
	} else if (r) {
		ctl.cm.cmsg_level = SOL_IP;
		ctl.cm.cmsg_type = IP_PKTINFO;
		ctl.cm.cmsg_len = CMSG_LEN(sizeof(*pi));
		pi = CMSG_DATA(&ctl.cm);
		memcpy(&pi->ipi_spec_dst, r->from, sizeof(pi->ipi_spec_dst));
	}
	if (r) {
		msg.msg_control = &ctl;
		msg.msg_controllen = ctl.cm.cmsg_len;
	}
	err = kernel_sendmsg(lv->sock, &msg, &iov, 1, sizeof(*mp));
	return err < 0 ? err : 0;
}

/* Where a slot's probes go: its address, on the probe port. */
static int mhost_live_dest(const struct mhost_live_loc *s, __be16 port,
			   union mhost_addr *to)
{
	memset(to, 0, sizeof(*to));
	switch (s->key.family) {
	case AF_INET:
		to->in.sin_family = AF_INET;
		to->in.sin_port = port;
		memcpy(&to->in.sin_addr, s->key.addr, sizeof(struct in_addr));
		return sizeof(to->in);
	case AF_INET6:
		to->in6.sin6_family = AF_INET6;
		to->in6.sin6_port = port;
		memcpy(&to->in6.sin6_addr, s->key.addr, sizeof(struct in6_addr));
		to->in6.sin6_scope_id = s->ifindex;
		return sizeof(to->in6);
	}
	return mhost_l3_locator_to_addr(s->key.family, s->key.addr, s->ifindex,
					port, to);
}

/*
 * Sends the replies the receive paths queued: a work of its own, so that
 * answering does not wait for, or run, the rounds of the worker.
 */
static void mhost_live_answer(struct work_struct *work)
{
	struct mhost_live_net *lv = container_of(work, struct mhost_live_net,
						 answer_work);
	struct mhost_net *mn = mhost_live_mn(lv);
	struct mhost_probe mp = {
		.mp_version	= MHOST_PROBE_VERSION,
		.mp_type	= MHOST_PROBE_REPLY,
	};
	struct mhost_live_reply r;

	for (;;) {
		spin_lock_bh(&lv->rx_lock);
		if (!lv->answers || !lv->answers->n) {
			spin_unlock_bh(&lv->rx_lock);
			return;
		}
		r = lv->answers->replies[--lv->answers->n];
		spin_unlock_bh(&lv->rx_lock);

		mp.mp_nonce = r.nonce;
		mp.mp_stamp = r.stamp;
		mutex_lock(&lv->lock);
		if (!lv->dead && !mhost_live_xmit(mn, &r.to, r.len, &mp, &r))
			MHOST_INC_STATS(mn, probe_replies);
		mutex_unlock(&lv->lock);
	}
}

/* ---- Evidence ---- */

/* The evidence entry of @key's address, made if need be. */
static struct mhost_live_addr *mhost_live_addr_get(struct mhost_live_net *lv,
						   const struct mhost_lockey *lk)
{
	struct mhost_lockey key = *lk;
	struct mhost_live_addr *a, *old;

	key.port = 0;
	a = rhashtable_lookup_fast(&lv->addrs, &key, mhost_live_addr_params);
	if (a) {
		a->users++;
		return a;
	}
	a = kzalloc(sizeof(*a), GFP_KERNEL_ACCOUNT);
	if (!a)
		return NULL;
	a->key = key;
	a->users = 1;
	a->last_rx = jiffies;
	old = rhashtable_lookup_get_insert_fast(&lv->addrs, &a->node,
						mhost_live_addr_params);
	if (old) {
		/* Only the worker inserts: an error, never a race. */
		kfree(a);
		return NULL;
	}
	atomic_inc(&lv->naddrs);
	return a;
}

static void mhost_live_addr_put(struct mhost_live_net *lv,
				struct mhost_live_addr *a)
{
	if (--a->users)
		return;
	rhashtable_remove_fast(&lv->addrs, &a->node, mhost_live_addr_params);
	atomic_dec(&lv->naddrs);
	kfree_rcu(a, rcu);
}

static void mhost_live_probe_free(struct mhost_live_net *lv,
				  struct mhost_live_probe *p)
{
	rhashtable_remove_fast(&lv->probes, &p->node, mhost_live_probe_params);
	kfree_rcu(p, rcu);
}

/* Forgets the probes of a slot, answered or not. */
static void mhost_live_drop_probes(struct mhost_live_net *lv,
				   struct mhost_live_loc *s)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(s->probe); i++) {
		if (s->probe[i])
			mhost_live_probe_free(lv, s->probe[i]);
		s->probe[i] = NULL;
	}
	s->pending = 0;
	s->verifying = false;
}

static void mhost_live_release_loc(struct mhost_live_net *lv,
				   struct mhost_live_loc *s)
{
	mhost_live_drop_probes(lv, s);
	if (s->addr)
		mhost_live_addr_put(lv, s->addr);
	s->addr = NULL;
}

/* ---- Records ---- */

static bool mhost_live_is(const struct mhost_live_loc *s,
			  const struct mhost_locator *loc)
{
	return !memcmp(&s->key, &loc->key, sizeof(s->key)) &&
	       s->ifindex == loc->ifindex;
}

/* Whether @rec's slots are @host's locators, in order. */
static bool mhost_live_same(const struct mhost_live_host *rec,
			    const struct mhost_host *host)
{
	unsigned int i;

	if (rec->nlocs != host->nlocs)
		return false;
	for (i = 0; i < rec->nlocs; i++)
		if (!mhost_live_is(&rec->locs[i], &host->locs[i]))
			return false;
	return true;
}

static int mhost_live_init_loc(struct mhost_live_net *lv,
			       struct mhost_live_loc *s,
			       const struct mhost_locator *loc)
{
	s->key = loc->key;
	s->ifindex = loc->ifindex;
	s->addr_len = loc->addr_len;
	s->port = loc->port;
	s->addr = mhost_live_addr_get(lv, &loc->key);
	if (!s->addr)
		return -ENOMEM;
	s->seen_rx = READ_ONCE(s->addr->last_rx);
	s->seen_signals = atomic_read(&s->addr->signals);
	return 0;
}

/*
 * A record for @host whose slots follow its locators, taking over the
 * slots of @old that are still there. NULL without memory.
 */
static struct mhost_live_host *mhost_live_build(struct mhost_live_net *lv,
						const struct mhost_host *host,
						struct mhost_live_host *old)
{
	struct mhost_live_host *rec;
	unsigned int i, j;

	rec = kzalloc(struct_size(rec, locs, host->nlocs), GFP_KERNEL_ACCOUNT);
	if (!rec)
		return NULL;
	rec->hid = host->hid;
	rec->nlocs = host->nlocs;
	rec->sticky = -1;
	for (i = 0; i < host->nlocs; i++) {
		for (j = 0; old && j < old->nlocs; j++) {
			if (old->locs[j].addr &&
			    mhost_live_is(&old->locs[j], &host->locs[i]))
				break;
		}
		if (old && j < old->nlocs) {
			/* Moved over whole: probes, evidence and all. */
			rec->locs[i] = old->locs[j];
			WRITE_ONCE(old->locs[j].addr, NULL);
			memset(old->locs[j].probe, 0, sizeof(old->locs[j].probe));
			continue;
		}
		if (mhost_live_init_loc(lv, &rec->locs[i], &host->locs[i]))
			goto fail;
	}
	if (old) {
		rec->idle = old->idle;
		rec->last_tx = old->last_tx;
		rec->idle_since = old->idle_since;
		rec->tx_seen = old->tx_seen;
	}
	return rec;

fail:
	/* What was moved goes back. */
	for (i = 0; i < host->nlocs; i++) {
		for (j = 0; old && j < old->nlocs; j++) {
			if (!old->locs[j].addr &&
			    mhost_live_is(&old->locs[j], &host->locs[i])) {
				old->locs[j] = rec->locs[i];
				rec->locs[i].addr = NULL;
				memset(rec->locs[i].probe, 0,
				       sizeof(rec->locs[i].probe));
				break;
			}
		}
		mhost_live_release_loc(lv, &rec->locs[i]);
	}
	kfree(rec);
	return NULL;
}

/* Frees a record the xarray and lists no longer hold. */
static void mhost_live_free(struct mhost_live_net *lv,
			    struct mhost_live_host *rec)
{
	unsigned int i;

	for (i = 0; i < rec->nlocs; i++)
		mhost_live_release_loc(lv, &rec->locs[i]);
	kfree_rcu(rec, rcu);
}

/* Forgets host @hid's entry: a record, or one not adopted yet. */
static void mhost_live_erase(struct mhost_live_net *lv, u32 hid)
{
	if (xa_erase(&lv->hosts, hid))
		atomic_dec(&lv->nwatched);
}

static void mhost_live_drop(struct mhost_live_net *lv,
			    struct mhost_live_host *rec)
{
	mhost_live_erase(lv, rec->hid);
	list_del(&rec->list);
	if (!rec->idle)
		WRITE_ONCE(lv->nactive, lv->nactive - 1);
	mhost_live_free(lv, rec);
}

/* The host's locators changed: a record that follows them replaces @rec. */
static struct mhost_live_host *mhost_live_rebuild(struct mhost_live_net *lv,
						  struct mhost_live_host *rec,
						  const struct mhost_host *host)
{
	struct mhost_live_host *new = mhost_live_build(lv, host, rec);

	if (!new)
		return rec;
	xa_store(&lv->hosts, rec->hid, new, GFP_KERNEL);
	list_replace(&rec->list, &new->list);
	mhost_live_free(lv, rec);
	return new;
}

/* Every datagram sent to the host, or tried: a sign of life. */
static unsigned long mhost_live_tx(const struct mhost_host *host)
{
	unsigned long n = 0;
	unsigned int i;

	for (i = 0; i < host->nlocs; i++)
		n += atomic_long_read(&host->locs[i].tx_packets) +
		     atomic_long_read(&host->locs[i].tx_errors);
	return n;
}

/* The knobs in effect for @host. */
static void mhost_live_cfg_of(struct mhost_live_net *lv,
			      const struct mhost_host *host,
			      struct mhost_live_cfg *cfg)
{
	u8 f = host->live.flags;

	*cfg = lv->defaults;
	if (f & MHOST_LIVE_CFG_INTERVAL)
		cfg->interval_ms = host->live.interval_ms;
	if (f & MHOST_LIVE_CFG_MULTIPLIER)
		cfg->multiplier = host->live.multiplier;
	if (f & MHOST_LIVE_CFG_HOLD_DOWN)
		cfg->hold_down_ms = host->live.hold_down_ms;
	if (f & MHOST_LIVE_CFG_REVERTIVE)
		cfg->revertive = !!(f & MHOST_LIVE_REVERTIVE);
}

/* ---- States ---- */

static u64 mhost_live_hold(const struct mhost_live_cfg *cfg,
			   const struct mhost_live_loc *s)
{
	unsigned int shift = s->penalty ? s->penalty - 1 : 0;

	return ((u64)cfg->hold_down_ms * NSEC_PER_MSEC) << shift;
}

/* A locator as events and tracepoints show it. */
static void mhost_live_locator(const struct mhost_live_loc *s,
			       struct mhost_locator *loc)
{
	memset(loc, 0, sizeof(*loc));
	loc->key = s->key;
	loc->addr_len = s->addr_len;
	loc->port = s->port;
	loc->ifindex = s->ifindex;
}

static void mhost_live_fill_info(const struct mhost_live_loc *s, u64 now,
				 struct mhost_live_info *info);

static void mhost_live_set_state(struct mhost_net *mn,
				 const struct mhost_live_cfg *cfg,
				 struct mhost_live_host *rec,
				 struct mhost_live_loc *s, u8 state, u8 cause,
				 u64 now)
{
	struct mhost_live_info info;
	struct mhost_locator loc;
	u8 prev = s->state;

	if (prev == state)
		return;
	if (state == MHOST_LOC_STATE_DOWN) {
		WRITE_ONCE(s->flaps, s->flaps + 1);
		s->penalty = min(s->penalty + 1, MHOST_LIVE_PENALTY_MAX);
		s->down_since = now;
		s->decay_at = 0;
	} else if (state == MHOST_LOC_STATE_UP) {
		s->misses = 0;
		s->sig_cause = 0;
		if (prev == MHOST_LOC_STATE_DOWN) {
			WRITE_ONCE(s->hold_until, now + mhost_live_hold(cfg, s));
			s->decay_at = s->hold_until +
				      MHOST_LIVE_DECAY * mhost_live_hold(cfg, s);
		}
	}
	WRITE_ONCE(s->state, state);
	WRITE_ONCE(s->cause, cause);
	WRITE_ONCE(s->changed, now);
	MHOST_INC_STATS(mn, loc_changes);

	mhost_live_locator(s, &loc);
	trace_mhost_locator_state(mn->net, rec->hid, s - rec->locs,
				  s->key.family, s->key.addr, s->addr_len,
				  prev, state, cause);
	mhost_live_fill_info(s, now, &info);
	mhost_nl_loc_event(mn->net, rec->hid, &loc, prev, &info);
}

static void mhost_live_rtt(struct mhost_live_loc *s, u64 rtt_ns)
{
	u32 r = clamp_t(u64, div_u64(rtt_ns, NSEC_PER_USEC), 1, U32_MAX / 8);
	u32 delta;

	/* RFC 6298 2.2 and 2.3 */
	if (!s->srtt) {
		WRITE_ONCE(s->srtt, r);
		WRITE_ONCE(s->rttvar, r / 2);
		return;
	}
	delta = s->srtt > r ? s->srtt - r : r - s->srtt;
	WRITE_ONCE(s->rttvar, (3 * s->rttvar + delta) / 4);
	WRITE_ONCE(s->srtt, (7 * (u64)s->srtt + r) / 8);
}

/*
 * How long an ordinary probe may take: the smoothed round trip and four
 * times its variation, as a TCP retransmission timeout, but at most 2/5
 * of the interval, so that the detection time the interval promises
 * holds however the round trip jitters (a path whose round trip nears
 * that wants a longer interval).
 */
static u64 mhost_live_rto(const struct mhost_live_cfg *cfg,
			  const struct mhost_live_loc *s)
{
	u64 rto = ((u64)s->srtt + 4 * (u64)s->rttvar) * NSEC_PER_USEC;
	u64 cap = (u64)cfg->interval_ms * NSEC_PER_MSEC * 2 / 5;

	return clamp_t(u64, rto, MHOST_LIVE_RTO_MIN,
		       clamp_t(u64, cap, MHOST_LIVE_RTO_MIN, MHOST_LIVE_RTO_MAX));
}

static void mhost_live_heard_at(struct mhost_live_loc *s, u64 t)
{
	if (t > s->heard)
		WRITE_ONCE(s->heard, t);
}

/*
 * Sends one probe of the slot's current round. False if it could not
 * be sent. That is no verdict: a path that fails from here (no route, a
 * device down or not enabled, a protocol unloaded) is the data path's
 * business, which tries it on every send, moves on at once and comes
 * back the moment it works again; liveness is about what fails further
 * away, and keeps what it knew.
 */
static bool mhost_live_probe(struct mhost_net *mn,
			     const struct mhost_live_cfg *cfg,
			     struct mhost_live_host *rec,
			     struct mhost_live_loc *s, u64 deadline, u64 now)
{
	struct mhost_live_net *lv = &mn->live;
	struct mhost_probe mp = {
		.mp_version	= MHOST_PROBE_VERSION,
		.mp_type	= MHOST_PROBE_REQUEST,
	};
	struct mhost_live_probe *p;
	union mhost_addr to;
	int tolen, err;

	p = kzalloc(sizeof(*p), GFP_KERNEL_ACCOUNT);
	if (!p)
		return false;
	p->key = s->key;
	p->key.port = 0;
	p->ifindex = s->key.family == AF_INET ? 0 : s->ifindex;
	p->port = lv->port;
	p->round = s->round;
	p->urgent = s->verifying || s->state != MHOST_LOC_STATE_UP;
	p->sent = now;
	p->deadline = deadline;
	do {
		p->nonce = get_random_u64();
		err = p->nonce ? rhashtable_lookup_insert_fast(&lv->probes,
				&p->node, mhost_live_probe_params) : -EEXIST;
	} while (err == -EEXIST);
	if (err) {
		kfree(p);
		return false;
	}

	mp.mp_nonce = cpu_to_be64(p->nonce);
	mp.mp_stamp = cpu_to_be64(p->sent);
	tolen = mhost_live_dest(s, lv->port, &to);
	err = tolen < 0 ? tolen : mhost_live_xmit(mn, &to, tolen, &mp, NULL);
	trace_mhost_probe_sent(mn->net, rec->hid, s->key.family, s->key.addr,
			       s->addr_len, p->nonce, err);
	if (err) {
		mhost_live_probe_free(lv, p);
		return false;
	}
	MHOST_INC_STATS(mn, probes_sent);

	/* Room for it: the oldest goes. */
	if (s->probe[MHOST_LIVE_PROBES - 1])
		mhost_live_probe_free(lv, s->probe[MHOST_LIVE_PROBES - 1]);
	memmove(&s->probe[1], &s->probe[0],
		sizeof(s->probe) - sizeof(s->probe[0]));
	s->probe[0] = p;
	s->pending++;
	return true;
}

/*
 * How long a probe verifying a signal may take. With no round trip
 * measured yet, as long as any probe: a signal about a path nobody
 * timed must not take it down on a guess.
 */
static u64 mhost_live_verify_rto(const struct mhost_live_cfg *cfg,
				 const struct mhost_live_loc *s)
{
	u64 var = 4 * (u64)s->rttvar * NSEC_PER_USEC;

	if (!s->srtt)
		return mhost_live_rto(cfg, s);
	return (u64)s->srtt * NSEC_PER_USEC +
	       clamp_t(u64, var, MHOST_LIVE_VERIFY_MIN, MHOST_LIVE_VERIFY_MAX);
}

/*
 * Starts a round of probes for slot @s: one while it is fine, two when
 * it is not or to verify a signal, due within the probe timeout or, to
 * verify, within mhost_live_verify_rto().
 */
static void mhost_live_round(struct mhost_net *mn,
			     const struct mhost_live_cfg *cfg,
			     struct mhost_live_host *rec,
			     struct mhost_live_loc *s, bool verify, u64 now)
{
	unsigned int i, n = 1;
	u64 deadline;

	if (verify || (s->state != MHOST_LOC_STATE_UP &&
		       s->state != MHOST_LOC_STATE_UNKNOWN))
		n = MHOST_LIVE_ROUND;
	deadline = now + (verify ? mhost_live_verify_rto(cfg, s) :
				   mhost_live_rto(cfg, s));
	s->round++;
	s->pending = 0;
	s->verifying = verify;
	s->last_probe = now;
	s->probe_now = false;
	for (i = 0; i < n; i++)
		if (!mhost_live_probe(mn, cfg, rec, s, deadline, now))
			break;
	if (!s->pending)
		s->verifying = false;
}

/*
 * A failure was signalled for slot @s: SUSPECT now, and two probes due
 * within a round trip and some decide. Nothing without a probe socket:
 * a signal alone never takes a locator down.
 */
static void mhost_live_signal(struct mhost_net *mn,
			      const struct mhost_live_cfg *cfg,
			      struct mhost_live_host *rec,
			      struct mhost_live_loc *s, u8 cause, u64 now)
{
	MHOST_INC_STATS(mn, loc_signals);
	if (s->state == MHOST_LOC_STATE_DOWN || !mn->live.bound_port ||
	    !cfg->interval_ms)
		return;
	s->sig_cause = cause;
	mhost_live_set_state(mn, cfg, rec, s, MHOST_LOC_STATE_SUSPECT, cause,
			     now);
	if (s->verifying && s->pending)
		return;
	mhost_live_drop_probes(&mn->live, s);
	mhost_live_round(mn, cfg, rec, s, true, now);
}

/* Slot @s's current round went unanswered. */
static void mhost_live_round_missed(struct mhost_net *mn,
				    const struct mhost_live_cfg *cfg,
				    struct mhost_live_host *rec,
				    struct mhost_live_loc *s, u64 now)
{
	bool verified = s->verifying;

	s->misses = min(s->misses + 1, 255);
	s->verifying = false;
	switch (s->state) {
	case MHOST_LOC_STATE_UP:
	case MHOST_LOC_STATE_UNKNOWN:
		mhost_live_set_state(mn, cfg, rec, s, MHOST_LOC_STATE_SUSPECT,
				     MHOST_LOC_CAUSE_PROBE_TIMEOUT, now);
		s->probe_now = true;
		break;
	case MHOST_LOC_STATE_SUSPECT:
		if (verified || s->misses > cfg->multiplier)
			mhost_live_set_state(mn, cfg, rec, s,
					     MHOST_LOC_STATE_DOWN,
					     s->sig_cause ?:
					     MHOST_LOC_CAUSE_PROBE_TIMEOUT,
					     now);
		break;
	}
}

/* What the receive paths recorded for slot @s since the last run. */
static void mhost_live_evidence(struct mhost_net *mn,
				const struct mhost_live_cfg *cfg,
				struct mhost_live_host *rec,
				struct mhost_live_loc *s, u64 now)
{
	struct mhost_live_net *lv = &mn->live;
	struct mhost_live_probe *p;
	unsigned long rx, ago;
	unsigned int i;
	int sig;
	u64 t;

	/* Traffic from its address. */
	rx = READ_ONCE(s->addr->last_rx);
	if (rx != s->seen_rx) {
		WRITE_ONCE(s->seen_rx, rx);
		ago = jiffies - rx;
		t = now - min_t(u64, jiffies_to_nsecs(ago), now);
		mhost_live_heard_at(s, t);
		/* The way back works; the way there may not. */
		if (s->state == MHOST_LOC_STATE_UNKNOWN)
			mhost_live_set_state(mn, cfg, rec, s,
					     MHOST_LOC_STATE_UP,
					     MHOST_LOC_CAUSE_TRAFFIC, now);
	}

	/* Answers: any will do. */
	for (i = 0; i < ARRAY_SIZE(s->probe); i++) {
		p = s->probe[i];
		if (!p)
			continue;
		t = READ_ONCE(p->answered);
		if (!t)
			continue;
		mhost_live_rtt(s, t - p->sent);
		mhost_live_heard_at(s, t);
		MHOST_INC_STATS(mn, probes_answered);
		trace_mhost_probe_answered(mn->net, rec->hid, s->key.family,
					   s->key.addr, s->addr_len, p->nonce,
					   div_u64(t - p->sent, NSEC_PER_USEC));
		s->misses = 0;
		if (s->state == MHOST_LOC_STATE_SUSPECT && s->sig_cause)
			MHOST_INC_STATS(mn, loc_signals_ignored);
		mhost_live_set_state(mn, cfg, rec, s, MHOST_LOC_STATE_UP,
				     MHOST_LOC_CAUSE_PROBE_REPLY, now);
		mhost_live_drop_probes(lv, s);
		break;
	}

	/* ICMP errors about its address. */
	sig = atomic_read(&s->addr->signals);
	if (sig != s->seen_signals) {
		s->seen_signals = sig;
		mhost_live_signal(mn, cfg, rec, s, MHOST_LOC_CAUSE_ICMP, now);
	}

	/* Probes that took too long. */
	for (i = 0; i < ARRAY_SIZE(s->probe); i++) {
		p = s->probe[i];
		if (!p || p->missed || now < p->deadline)
			continue;
		p->missed = true;
		MHOST_INC_STATS(mn, probes_missed);
		trace_mhost_probe_missed(mn->net, rec->hid, s->key.family,
					 s->key.addr, s->addr_len, p->nonce,
					 s->misses + 1);
		if (p->round == s->round && s->pending && !--s->pending)
			mhost_live_round_missed(mn, cfg, rec, s, now);
	}
}

/*
 * Which locators to avoid for now, and the one the data path will use:
 * the first not DOWN nor avoided (else the first avoided, else the
 * first), exactly as mhost_send_hostid() picks.
 */
static int mhost_live_choose(struct mhost_live_host *rec,
			     const struct mhost_live_cfg *cfg, u64 now)
{
	int use = -1, held = -1;
	struct mhost_live_loc *s;
	unsigned int i;

	for (i = 0; i < rec->nlocs; i++) {
		s = &rec->locs[i];
		s->live = s->state;
		if (s->state == MHOST_LOC_STATE_DOWN)
			continue;
		if (cfg->revertive && now < s->hold_until) {
			s->live |= MHOST_LIVE_AVOID;
			if (held < 0)
				held = i;
		} else if (use < 0) {
			use = i;
		}
	}
	if (use < 0)
		use = held >= 0 ? held : 0;
	if (cfg->revertive)
		return use;

	/* Not revertive: stay where traffic went until that fails. */
	if (rec->sticky >= 0 && rec->sticky < rec->nlocs &&
	    rec->locs[rec->sticky].state != MHOST_LOC_STATE_DOWN) {
		for (i = 0; i < rec->sticky; i++)
			if (rec->locs[i].state != MHOST_LOC_STATE_DOWN)
				rec->locs[i].live |= MHOST_LIVE_AVOID;
		return rec->sticky;
	}
	rec->sticky = use;
	return use;
}

/*
 * When slot @s is next due for a probe. The locator in use is probed
 * when silent for an interval; the others, to know where to fail over
 * to, every MHOST_LIVE_BACKUP intervals, but only while the one in use
 * is silent too (@quiet): two-way traffic costs no probe at all.
 */
static u64 mhost_live_due(const struct mhost_live_cfg *cfg,
			  const struct mhost_live_loc *s, bool in_use,
			  bool quiet, u64 now)
{
	u64 ival = (u64)cfg->interval_ms * NSEC_PER_MSEC;
	/* One round at a time; its deadline wakes us. */
	if (s->pending)
		return U64_MAX;
	if (s->probe_now)
		return now;
	switch (s->state) {
	case MHOST_LOC_STATE_DOWN:
		if (now - s->down_since < MHOST_LIVE_DOWN_FAST)
			return s->last_probe + ival * 3 / 4;
		if (now - s->down_since < MHOST_LIVE_DOWN_SLOW)
			return s->last_probe + MHOST_LIVE_BACKUP * ival;
		return s->last_probe + 4 * MHOST_LIVE_BACKUP * ival;
	case MHOST_LOC_STATE_SUSPECT:
		return s->last_probe + max_t(u64, mhost_live_rto(cfg, s),
					     MHOST_LIVE_FAST);
	}
	/* Never probed nor heard from: learn about it now. */
	if (!s->heard && !s->last_probe && (in_use || quiet))
		return now;
	if (in_use)
		return max(s->heard, s->last_probe) + ival;
	if (quiet)
		return max(s->heard, s->last_probe) + MHOST_LIVE_BACKUP * ival;
	return U64_MAX;
}

/* ---- Link and neighbour events ---- */

/*
 * The device and next hop the kernel would route @s over now. A plugged
 * L3's locator names its device. -errno without a route.
 */
static int mhost_live_route(struct net *net, const struct mhost_live_loc *s,
			    int *oif, u8 *nh)
{
	memset(nh, 0, 16);
	if (s->key.family == AF_INET) {
		struct flowi4 fl4 = { .flowi4_proto = IPPROTO_UDP };
		struct rtable *rt;
		__be32 gw;

		memcpy(&fl4.daddr, s->key.addr, sizeof(fl4.daddr));
		rt = ip_route_output_key(net, &fl4);
		if (IS_ERR(rt))
			return PTR_ERR(rt);
		*oif = rt->dst.dev->ifindex;
		gw = rt_nexthop(rt, fl4.daddr);
		memcpy(nh, &gw, sizeof(gw));
		ip_rt_put(rt);
		return 0;
	}
	if (s->key.family == AF_INET6) {
		struct flowi6 fl6 = {
			.flowi6_oif = s->ifindex,
			.flowi6_proto = IPPROTO_UDP,
		};
		struct dst_entry *dst;
		int err;

		memcpy(&fl6.daddr, s->key.addr, sizeof(fl6.daddr));
		dst = ip6_route_output(net, NULL, &fl6);
		err = dst->error;
		if (!err) {
			*oif = dst->dev->ifindex;
			memcpy(nh, rt6_nexthop((struct rt6_info *)dst,
					       &fl6.daddr), 16);
		}
		dst_release(dst);
		return err;
	}
	*oif = s->ifindex;
	return 0;
}

/* Whether event @ev is a failure of the path of slot @s. */
static bool mhost_live_hits(struct net *net, const struct mhost_live_loc *s,
			    const struct mhost_live_event *ev)
{
	int oif = 0;
	u8 nh[16];

	if (ev->family && ev->family != s->key.family)
		return false;
	/* Quick: a locator that names the device. */
	if (!ev->family && s->ifindex == ev->ifindex)
		return true;
	if (mhost_live_route(net, s, &oif, nh))
		return !ev->family;	/* the link took the route along */
	if (oif != ev->ifindex)
		return false;
	return !ev->family ||
	       !memcmp(nh, ev->addr, ev->family == AF_INET ? 4 : 16);
}

/* ---- The worker ---- */

/* The hosts sends woke up: new ones, and idle ones back. */
static void mhost_live_adopt(struct mhost_net *mn, u64 now)
{
	struct mhost_live_net *lv = &mn->live;
	struct mhost_live_host *rec;
	struct mhost_host *host;
	unsigned long hid;
	unsigned int i;
	void *entry;

	xa_for_each_marked(&lv->hosts, hid, entry, MHOST_LIVE_WAKE) {
		xa_clear_mark(&lv->hosts, hid, MHOST_LIVE_WAKE);
		host = mhost_host_get(mn, hid);
		if (!host) {
			if (xa_is_value(entry))
				mhost_live_erase(lv, hid);
			continue;
		}
		if (xa_is_value(entry)) {
			rec = mhost_live_build(lv, host, NULL);
			if (!rec) {
				mhost_live_erase(lv, hid);
				/* Pairs with mhost_live_activate()'s. */
				smp_mb();
				WRITE_ONCE(host->live_on, 0);
				mhost_host_put(host);
				continue;
			}
			xa_store(&lv->hosts, hid, rec, GFP_KERNEL);
			list_add_tail(&rec->list, &lv->active);
			WRITE_ONCE(lv->nactive, lv->nactive + 1);
			rec->last_tx = now;
			rec->tx_seen = mhost_live_tx(host);
		} else {
			rec = entry;
			if (rec->idle) {
				list_move_tail(&rec->list, &lv->active);
				rec->idle = false;
				WRITE_ONCE(lv->nactive, lv->nactive + 1);
				/* What went down while nobody looked: now. */
				for (i = 0; i < rec->nlocs; i++)
					rec->locs[i].probe_now = true;
			}
			rec->last_tx = now;
		}
		mhost_host_put(host);
	}
}

/*
 * No send to the host for MHOST_LIVE_IDLE: stop watching it, unless a
 * send sneaked in while live_on was being cleared. False if it stays.
 */
static bool mhost_live_go_idle(struct mhost_live_net *lv,
			       struct mhost_live_host *rec,
			       struct mhost_host *host, u64 now)
{
	unsigned int i;

	WRITE_ONCE(host->live_on, 0);
	smp_mb();	/* clear live_on, then look at the counters */
	if (mhost_live_tx(host) != rec->tx_seen) {
		WRITE_ONCE(host->live_on, 1);
		return false;
	}
	for (i = 0; i < rec->nlocs; i++)
		mhost_live_drop_probes(lv, &rec->locs[i]);
	rec->idle = true;
	rec->idle_since = now;
	list_move_tail(&rec->list, &lv->idle);
	WRITE_ONCE(lv->nactive, lv->nactive - 1);
	return true;
}

/* Writes what the data path reads, where it changed. */
static void mhost_live_publish(struct mhost_live_host *rec,
			       struct mhost_host *host)
{
	unsigned int i;

	for (i = 0; i < rec->nlocs; i++)
		if (READ_ONCE(host->locs[i].live) != rec->locs[i].live)
			WRITE_ONCE(host->locs[i].live, rec->locs[i].live);
}

/*
 * One run over one watched host. Returns when it next needs a run, or
 * U64_MAX if it went idle or away.
 */
static u64 mhost_live_run(struct mhost_net *mn, struct mhost_live_host *rec,
			  const struct mhost_live_event *evs,
			  unsigned int nevs, bool lost, u64 now)
{
	struct mhost_live_net *lv = &mn->live;
	struct mhost_live_cfg cfg;
	struct mhost_live_loc *s;
	struct mhost_host *host;
	u64 next = U64_MAX, due, ival;
	unsigned int i, j;
	unsigned long tx;
	bool quiet;
	int use;

	host = mhost_host_get(mn, rec->hid);
	if (!host) {
		mhost_live_drop(lv, rec);
		return U64_MAX;
	}
	if (!mhost_live_same(rec, host)) {
		rec = mhost_live_rebuild(lv, rec, host);
		if (!mhost_live_same(rec, host)) {
			/* No memory: try again in a while. */
			mhost_host_put(host);
			return now + NSEC_PER_SEC;
		}
	}
	mhost_live_cfg_of(lv, host, &cfg);

	tx = mhost_live_tx(host);
	if (tx != rec->tx_seen) {
		rec->tx_seen = tx;
		rec->last_tx = now;
	}
	if (now - rec->last_tx >= MHOST_LIVE_IDLE &&
	    mhost_live_go_idle(lv, rec, host, now)) {
		mhost_host_put(host);
		return U64_MAX;
	}
	next = rec->last_tx + MHOST_LIVE_IDLE;

	if (!cfg.interval_ms) {
		/* Liveness off for this host: it looks as before. */
		for (i = 0; i < rec->nlocs; i++) {
			mhost_live_drop_probes(lv, &rec->locs[i]);
			rec->locs[i].live = 0;
		}
		goto publish;
	}

	for (i = 0; i < rec->nlocs; i++) {
		s = &rec->locs[i];
		mhost_live_evidence(mn, &cfg, rec, s, now);
		for (j = 0; j < nevs; j++) {
			if (evs[j].up) {
				if (s->state == MHOST_LOC_STATE_DOWN)
					s->probe_now = true;
			} else if (mhost_live_hits(mn->net, s, &evs[j])) {
				mhost_live_signal(mn, &cfg, rec, s,
						  evs[j].family ?
						  MHOST_LOC_CAUSE_NEIGH :
						  MHOST_LOC_CAUSE_LINK, now);
			}
		}
		if (lost)
			s->probe_now = true;
		/* A flap forgiven per MHOST_LIVE_DECAY hold-downs UP. */
		if (s->state == MHOST_LOC_STATE_UP && s->penalty &&
		    s->decay_at && now >= s->decay_at) {
			s->penalty--;
			s->decay_at = s->penalty ?
				      now + MHOST_LIVE_DECAY *
					    mhost_live_hold(&cfg, s) : 0;
		}
	}

	ival = (u64)cfg.interval_ms * NSEC_PER_MSEC;
	use = mhost_live_choose(rec, &cfg, now);
	quiet = now - rec->locs[use].heard >= ival;
	for (i = 0; i < rec->nlocs && lv->bound_port; i++) {
		s = &rec->locs[i];
		if (mhost_live_due(&cfg, s, i == use, quiet, now) <= now)
			mhost_live_round(mn, &cfg, rec, s, false, now);
	}

	for (i = 0; i < rec->nlocs; i++) {
		s = &rec->locs[i];
		/* Without a probe socket, evidence comes only by itself. */
		due = lv->bound_port ?
		      mhost_live_due(&cfg, s, i == use, quiet, now) : U64_MAX;
		next = min(next, max(due, now + 1));
		for (j = 0; j < ARRAY_SIZE(s->probe); j++)
			if (s->probe[j] && !s->probe[j]->missed)
				next = min(next, max(s->probe[j]->deadline,
						     now + 1));
		if (s->hold_until > now)
			next = min(next, s->hold_until);
		if (s->decay_at > now)
			next = min(next, s->decay_at);
	}
publish:
	mhost_live_publish(rec, host);
	mhost_host_put(host);
	return next;
}

/* Records idle for MHOST_LIVE_FORGET go; their locators look new again. */
static u64 mhost_live_forget(struct mhost_net *mn, u64 now)
{
	struct mhost_live_net *lv = &mn->live;
	struct mhost_live_host *rec, *tmp;
	struct mhost_host *host;
	unsigned int i;

	list_for_each_entry_safe(rec, tmp, &lv->idle, list) {
		if (now - rec->idle_since < MHOST_LIVE_FORGET)
			return rec->idle_since + MHOST_LIVE_FORGET;
		host = mhost_host_get(mn, rec->hid);
		mhost_live_drop(lv, rec);
		if (host) {
			for (i = 0; i < host->nlocs; i++)
				WRITE_ONCE(host->locs[i].live, 0);
			/*
			 * After the entry went: a send that found it and so
			 * queued nothing is undone, and the next one will.
			 * The barrier pairs with mhost_live_activate()'s.
			 */
			smp_mb();
			WRITE_ONCE(host->live_on, 0);
			mhost_host_put(host);
		}
	}
	return U64_MAX;
}

static void mhost_live_work(struct work_struct *work)
{
	struct mhost_live_net *lv = container_of(to_delayed_work(work),
						 struct mhost_live_net, work);
	struct mhost_live_event evs[MHOST_LIVE_NEVENTS];
	struct mhost_net *mn = mhost_live_mn(lv);
	struct mhost_live_host *rec, *tmp;
	unsigned int nevs;
	u64 now, next;
	bool lost;

	mutex_lock(&lv->lock);
	if (lv->dead)
		goto out;

	spin_lock_bh(&lv->rx_lock);
	nevs = lv->nevents;
	memcpy(evs, lv->events, nevs * sizeof(evs[0]));
	lost = lv->events_lost;
	lv->nevents = 0;
	lv->events_lost = false;
	spin_unlock_bh(&lv->rx_lock);

	now = ktime_get_ns();
	mhost_live_adopt(mn, now);
	if (!list_empty(&lv->active))
		mhost_live_ensure_sock(mn);

	next = mhost_live_forget(mn, now);
	list_for_each_entry_safe(rec, tmp, &lv->active, list)
		next = min(next, mhost_live_run(mn, rec, evs, nevs, lost, now));

	/* Not mod_: a kick while we ran must still run at once. */
	if (next != U64_MAX) {
		now = ktime_get_ns();
		queue_delayed_work(mhost_live_wq, &lv->work,
				   next > now ?
				   DIV_ROUND_UP_ULL(next - now, TICK_NSEC) : 0);
	}
out:
	mutex_unlock(&lv->lock);
}

/* ---- Notifiers ---- */

/* Hands a link or neighbour event of @net to its worker. */
static void mhost_live_event(struct net *net, const struct mhost_live_event *ev)
{
	struct mhost_live_net *lv = &mhost_pernet(net)->live;

	/* Only the watched hosts care. */
	if (!READ_ONCE(lv->nactive))
		return;
	spin_lock_bh(&lv->rx_lock);
	if (lv->nevents < MHOST_LIVE_NEVENTS)
		lv->events[lv->nevents++] = *ev;
	else
		lv->events_lost = true;
	spin_unlock_bh(&lv->rx_lock);
	rcu_read_lock();
	mhost_live_kick(lv);
	rcu_read_unlock();
}

/* A link going down or losing its carrier; one coming back. */
static int mhost_live_netdev_event(struct notifier_block *nb,
				   unsigned long event, void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);
	struct mhost_live_event ev = { .ifindex = dev->ifindex };

	switch (event) {
	case NETDEV_DOWN:
		break;
	case NETDEV_UP:
	case NETDEV_CHANGE:
		ev.up = netif_running(dev) && netif_carrier_ok(dev);
		break;
	default:
		return NOTIFY_DONE;
	}
	mhost_live_event(dev_net(dev), &ev);
	return NOTIFY_DONE;
}

static struct notifier_block mhost_live_netdev_notifier = {
	.notifier_call = mhost_live_netdev_event,
};

/* A neighbour entry that failed: its address stopped answering. */
static int mhost_live_netevent(struct notifier_block *nb, unsigned long event,
			       void *ptr)
{
	struct neighbour *n = ptr;
	struct mhost_live_event ev = {};

	if (event != NETEVENT_NEIGH_UPDATE ||
	    !(READ_ONCE(n->nud_state) & NUD_FAILED))
		return NOTIFY_DONE;
	ev.family = n->tbl->family;
	if (ev.family != AF_INET && ev.family != AF_INET6)
		return NOTIFY_DONE;
	ev.ifindex = n->dev->ifindex;
	memcpy(ev.addr, n->primary_key, min_t(unsigned int, n->tbl->key_len,
					      sizeof(ev.addr)));
	mhost_live_event(dev_net(n->dev), &ev);
	return NOTIFY_DONE;
}

static struct notifier_block mhost_live_netevent_notifier = {
	.notifier_call = mhost_live_netevent,
};

/* ---- Settings and what the control plane shows ---- */

static void mhost_live_fill_info(const struct mhost_live_loc *s, u64 now,
				 struct mhost_live_info *info)
{
	struct mhost_live_addr *a = READ_ONCE(s->addr);
	unsigned long rx;
	u64 t, t_rx;

	info->state = READ_ONCE(s->state);
	info->cause = READ_ONCE(s->cause);
	/* Times may be a little ahead of @now: they read the clock later. */
	t = READ_ONCE(s->heard);
	/* Traffic the worker has not looked at yet (under RCU, or ours). */
	if (a) {
		rx = READ_ONCE(a->last_rx);
		if (rx != READ_ONCE(s->seen_rx)) {
			t_rx = now - min_t(u64, jiffies_to_nsecs(jiffies - rx),
					   now);
			t = max(t, t_rx);
		}
	}
	info->heard = t;
	if (t && t < now)
		info->heard_ms = min_t(u64, div_u64(now - t, NSEC_PER_MSEC),
				       U32_MAX);
	t = READ_ONCE(s->changed);
	info->changed = t;
	if (t && t < now)
		info->changed_ms = min_t(u64, div_u64(now - t, NSEC_PER_MSEC),
					 U32_MAX);
	info->srtt_us = READ_ONCE(s->srtt);
	info->rttvar_us = READ_ONCE(s->rttvar);
	info->rtt = info->srtt_us;
	info->flaps = READ_ONCE(s->flaps);
	t = READ_ONCE(s->hold_until);
	info->hold = t > now && info->state != MHOST_LOC_STATE_DOWN;
	if (info->hold)
		info->hold_ms = div_u64(t - now, NSEC_PER_MSEC) + 1;
}

/*
 * How the locators of @host are doing, for the control plane: @info
 * holds one entry per locator. Any context.
 */
void mhost_live_host_info(struct mhost_net *mn, const struct mhost_host *host,
			  struct mhost_live_info *info)
{
	struct mhost_live_host *rec;
	unsigned int i, j;
	u64 now;

	memset(info, 0, host->nlocs * sizeof(*info));
	for (i = 0; i < host->nlocs; i++)
		info[i].state = READ_ONCE(host->locs[i].live) &
				MHOST_LIVE_STATE;
	if (xa_empty(&mn->live.hosts))
		return;
	now = ktime_get_ns();
	rcu_read_lock();
	rec = xa_load(&mn->live.hosts, host->hid);
	if (rec && !xa_is_value(rec)) {
		/* Slots never change which locator they are. */
		for (i = 0; i < host->nlocs; i++) {
			for (j = 0; j < rec->nlocs; j++) {
				if (mhost_live_is(&rec->locs[j],
						  &host->locs[i])) {
					mhost_live_fill_info(&rec->locs[j],
							     now, &info[i]);
					break;
				}
			}
		}
	}
	rcu_read_unlock();
}

void mhost_live_get(struct mhost_net *mn, struct mhost_live_settings *st)
{
	struct mhost_live_net *lv = &mn->live;

	mutex_lock(&lv->lock);
	st->cfg = lv->defaults;
	st->port = ntohs(lv->port);
	st->answer = lv->answer;
	st->port_err = lv->sock ? 0 : lv->sock_err;
	mutex_unlock(&lv->lock);
}

int mhost_live_set(struct mhost_net *mn, const struct mhost_live_settings *st,
		   struct netlink_ext_ack *extack)
{
	struct mhost_live_net *lv = &mn->live;
	__be16 port, old_port;
	struct socket *old;
	int err = 0;

	mutex_lock(&lv->lock);
	port = htons(st->port);
	if ((st->set & MHOST_LIVE_SET_PORT) && port != lv->port) {
		old = lv->sock;
		old_port = lv->port;
		lv->port = port;
		if (old) {
			/* The new one first: a failure changes nothing. */
			lv->sock = NULL;
			err = mhost_live_open(mn);
			if (err) {
				NL_SET_ERR_MSG(extack,
					       "cannot bind the new probe port");
				lv->port = old_port;
				lv->sock = old;
				lv->sock_err = 0;
				WRITE_ONCE(lv->bound_port, old_port);
				goto out;
			}
			mhost_live_release(old);
		}
	}
	if (st->set & MHOST_LIVE_SET_ANSWER)
		WRITE_ONCE(lv->answer, st->answer);
	if (st->set & MHOST_LIVE_CFG_INTERVAL)
		WRITE_ONCE(lv->defaults.interval_ms, st->cfg.interval_ms);
	if (st->set & MHOST_LIVE_CFG_MULTIPLIER)
		lv->defaults.multiplier = st->cfg.multiplier;
	if (st->set & MHOST_LIVE_CFG_HOLD_DOWN)
		lv->defaults.hold_down_ms = st->cfg.hold_down_ms;
	if (st->set & MHOST_LIVE_CFG_REVERTIVE)
		lv->defaults.revertive = st->cfg.revertive;
	rcu_read_lock();
	mhost_live_kick(lv);
	rcu_read_unlock();
out:
	mutex_unlock(&lv->lock);
	return err;
}

/* ---- Namespaces and the module ---- */

int mhost_live_net_init(struct mhost_net *mn)
{
	struct mhost_live_net *lv = &mn->live;
	int err;

	INIT_DELAYED_WORK(&lv->work, mhost_live_work);
	INIT_WORK(&lv->answer_work, mhost_live_answer);
	mutex_init(&lv->lock);
	spin_lock_init(&lv->rx_lock);
	xa_init(&lv->hosts);
	atomic_set(&lv->nwatched, 0);
	INIT_LIST_HEAD(&lv->active);
	INIT_LIST_HEAD(&lv->idle);
	lv->defaults.interval_ms = MHOST_LIVE_INTERVAL_MS;
	lv->defaults.multiplier = MHOST_LIVE_MULTIPLIER;
	lv->defaults.hold_down_ms = MHOST_LIVE_HOLD_DOWN_MS;
	lv->defaults.revertive = true;
	lv->port = htons(MHOST_PROBE_PORT);
	lv->answer = true;
	lv->sock_retry = jiffies;
	lv->rl_seed = get_random_u32();

	err = rhashtable_init(&lv->addrs, &mhost_live_addr_params);
	if (err)
		return err;
	err = rhashtable_init(&lv->probes, &mhost_live_probe_params);
	if (err)
		rhashtable_destroy(&lv->addrs);
	return err;
}

/*
 * The namespace is going: no more kicks, and the probe socket closes, so
 * that nothing reaches the tables freed at exit (after a grace period).
 */
void mhost_live_net_pre_exit(struct mhost_net *mn)
{
	struct mhost_live_net *lv = &mn->live;

	mutex_lock(&lv->lock);
	WRITE_ONCE(lv->dead, true);
	mhost_live_close(lv);
	mutex_unlock(&lv->lock);
}

void mhost_live_net_exit(struct mhost_net *mn)
{
	struct mhost_live_net *lv = &mn->live;
	struct mhost_live_host *rec, *tmp;

	cancel_delayed_work_sync(&lv->work);
	cancel_work_sync(&lv->answer_work);
	list_for_each_entry_safe(rec, tmp, &lv->active, list)
		mhost_live_drop(lv, rec);
	list_for_each_entry_safe(rec, tmp, &lv->idle, list)
		mhost_live_drop(lv, rec);
	/* Value entries of hosts never adopted. */
	xa_destroy(&lv->hosts);
	WARN_ON_ONCE(atomic_read(&lv->naddrs));
	rhashtable_destroy(&lv->addrs);
	rhashtable_destroy(&lv->probes);
	kfree(lv->answers);
}

int __init mhost_live_init(void)
{
	int err;

	mhost_live_wq = alloc_workqueue("mhost_live", WQ_UNBOUND, 0);
	if (!mhost_live_wq)
		return -ENOMEM;
	err = register_netevent_notifier(&mhost_live_netevent_notifier);
	if (err)
		goto err_wq;
	err = register_netdevice_notifier(&mhost_live_netdev_notifier);
	if (err)
		goto err_netevent;
	return 0;

err_netevent:
	unregister_netevent_notifier(&mhost_live_netevent_notifier);
err_wq:
	destroy_workqueue(mhost_live_wq);
	mhost_live_wq = NULL;
	return err;
}

/* Before the namespaces' state goes: the notifiers reach into it. */
void mhost_live_exit(void)
{
	unregister_netdevice_notifier(&mhost_live_netdev_notifier);
	unregister_netevent_notifier(&mhost_live_netevent_notifier);
}

/* After it went: every namespace's work was cancelled then. */
void mhost_live_cleanup(void)
{
	if (mhost_live_wq)
		destroy_workqueue(mhost_live_wq);
	mhost_live_wq = NULL;
}
