// SPDX-License-Identifier: GPL-2.0
/*
 * otherproto: the original mnet's AF_OTHERPROTO (3), made real. A second
 * L3 with a header of a different shape, to show that mhost demultiplexes
 * on the family alone: a version, a hop limit and a reserved field.
 */
#include <linux/module.h>

#include "eth_l3.h"

#define OTHERPROTO_VERSION	1
#define OTHERPROTO_HOPS		16

struct otherproto_hdr {
	__be16	family;		/* AF_OTHERPROTO */
	u8	version;	/* OTHERPROTO_VERSION */
	u8	hop_limit;	/* not forwarded yet: only checked non-zero */
	__be16	len;		/* of this header and what follows */
	__be16	reserved;	/* zero */
};

static int otherproto_sendmsg(struct net *net, struct sk_buff *skb,
			      const struct sockaddr *sa)
{
	struct net_device *dev = mhost_eth_dev(net, sa);
	struct otherproto_hdr *oh;

	if (!dev) {
		kfree_skb(skb);
		return -ENODEV;
	}
	oh = skb_push(skb, sizeof(*oh));
	oh->family = htons(AF_OTHERPROTO);
	oh->version = OTHERPROTO_VERSION;
	oh->hop_limit = OTHERPROTO_HOPS;
	oh->len = htons(skb->len);
	oh->reserved = 0;
	return mhost_send_to_l2(skb, dev, mhost_eth_sa(sa)->sme_addr);
}

static int otherproto_rcv(struct sk_buff *skb)
{
	const struct otherproto_hdr *oh;
	struct sockaddr_mhost_eth src;
	unsigned int len;

	if (!pskb_may_pull(skb, sizeof(*oh)))
		return -EINVAL;
	oh = (const struct otherproto_hdr *)skb->data;
	len = ntohs(oh->len);
	if (oh->version != OTHERPROTO_VERSION || !oh->hop_limit ||
	    oh->reserved || len < sizeof(*oh) || len > skb->len)
		return -EINVAL;
	if (mhost_eth_source(skb, AF_OTHERPROTO, &src))
		return -EINVAL;
	if (pskb_trim(skb, len))
		return -ENOMEM;

	__skb_pull(skb, sizeof(*oh));
	return mhost_send_to_l4(skb, (struct sockaddr *)&src);
}

static struct mhost_proto otherproto = {
	.family			= AF_OTHERPROTO,
	.name			= "otherproto",
	.owner			= THIS_MODULE,
	.addr_len		= ETH_ALEN,
	.sockaddr_len		= sizeof(struct sockaddr_mhost_eth),
	.check_addr		= mhost_eth_check_addr,
	.locator_to_addr	= mhost_eth_locator_to_addr,
	.addr_to_locator	= mhost_eth_addr_to_locator,
	.sendmsg		= otherproto_sendmsg,
	.rcv			= otherproto_rcv,
};

static int __init otherproto_init(void)
{
	return mhost_register_proto(&otherproto);
}

static void __exit otherproto_exit(void)
{
	mhost_unregister_proto(&otherproto);
}

module_init(otherproto_init);
module_exit(otherproto_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("mhost example L3: AF_OTHERPROTO over Ethernet");
MODULE_AUTHOR("mnet developers");
