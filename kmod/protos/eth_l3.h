/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the example L3 protocols share: a peer is an interface and a MAC
 * address (struct sockaddr_mhost_eth), and frames go straight onto that
 * Ethernet segment.
 */
#ifndef _MHOST_ETH_L3_H
#define _MHOST_ETH_L3_H

#include <linux/etherdevice.h>
#include <linux/if_ether.h>
#include <net/mhost.h>

static inline const struct sockaddr_mhost_eth *
mhost_eth_sa(const struct sockaddr *sa)
{
	return (const struct sockaddr_mhost_eth *)sa;
}

static inline int mhost_eth_check_addr(const struct sockaddr *sa)
{
	const struct sockaddr_mhost_eth *sme = mhost_eth_sa(sa);

	if (!sme->sme_ifindex ||
	    memchr_inv(sme->sme_zero, 0, sizeof(sme->sme_zero)))
		return -EINVAL;
	return 0;
}

static inline void mhost_eth_locator_to_addr(const u8 *addr, int ifindex,
					     struct sockaddr *sa)
{
	struct sockaddr_mhost_eth *sme = (struct sockaddr_mhost_eth *)sa;

	sme->sme_ifindex = ifindex;
	ether_addr_copy(sme->sme_addr, addr);
}

static inline void mhost_eth_addr_to_locator(const struct sockaddr *sa,
					     u8 *addr)
{
	ether_addr_copy(addr, mhost_eth_sa(sa)->sme_addr);
}

/* The device to send on; called under RCU. */
static inline struct net_device *mhost_eth_dev(struct net *net,
					       const struct sockaddr *sa)
{
	return dev_get_by_index_rcu(net, mhost_eth_sa(sa)->sme_ifindex);
}

/*
 * The sender of a received frame, as the protocol's sockaddr. Frames
 * that did not come with an Ethernet header (ETH_P_MHOST on some other
 * kind of device) have no sender we can answer: -EINVAL.
 */
static inline int mhost_eth_source(const struct sk_buff *skb, u16 family,
				   struct sockaddr_mhost_eth *src)
{
	if (!skb_mac_header_was_set(skb) || skb_mac_header_len(skb) < ETH_HLEN)
		return -EINVAL;

	memset(src, 0, sizeof(*src));
	src->sme_family = family;
	src->sme_ifindex = skb->dev->ifindex;
	ether_addr_copy(src->sme_addr, eth_hdr(skb)->h_source);
	return 0;
}

#endif /* _MHOST_ETH_L3_H */
