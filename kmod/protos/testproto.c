// SPDX-License-Identifier: GPL-2.0
/*
 * testproto: the original mnet's AF_TESTPROTO (1), made real. The
 * smallest L3 that can carry AF_MHOST datagrams: a family and a length.
 */
#include <linux/module.h>

#include "eth_l3.h"

struct testproto_hdr {
	__be16	family;		/* AF_TESTPROTO */
	__be16	len;		/* of this header and what follows */
};

static int testproto_sendmsg(struct net *net, struct sk_buff *skb,
			     const struct sockaddr *sa)
{
	struct net_device *dev = mhost_eth_dev(net, sa);
	struct testproto_hdr *th;

	if (!dev) {
		kfree_skb(skb);
		return -ENODEV;
	}
	th = skb_push(skb, sizeof(*th));
	th->family = htons(AF_TESTPROTO);
	th->len = htons(skb->len);
	return mhost_send_to_l2(skb, dev, mhost_eth_sa(sa)->sme_addr);
}

static int testproto_rcv(struct sk_buff *skb)
{
	struct sockaddr_mhost_eth src;
	const struct testproto_hdr *th;
	unsigned int len;

	if (!pskb_may_pull(skb, sizeof(*th)))
		return -EINVAL;
	th = (const struct testproto_hdr *)skb->data;
	len = ntohs(th->len);
	if (len < sizeof(*th) || len > skb->len)
		return -EINVAL;
	if (mhost_eth_source(skb, AF_TESTPROTO, &src))
		return -EINVAL;
	if (pskb_trim(skb, len))
		return -ENOMEM;

	__skb_pull(skb, sizeof(*th));
	return mhost_send_to_l4(skb, (struct sockaddr *)&src);
}

static struct mhost_proto testproto = {
	.family			= AF_TESTPROTO,
	.name			= "testproto",
	.owner			= THIS_MODULE,
	.addr_len		= ETH_ALEN,
	.sockaddr_len		= sizeof(struct sockaddr_mhost_eth),
	.check_addr		= mhost_eth_check_addr,
	.locator_to_addr	= mhost_eth_locator_to_addr,
	.addr_to_locator	= mhost_eth_addr_to_locator,
	.sendmsg		= testproto_sendmsg,
	.rcv			= testproto_rcv,
};

static int __init testproto_init(void)
{
	return mhost_register_proto(&testproto);
}

static void __exit testproto_exit(void)
{
	mhost_unregister_proto(&testproto);
}

module_init(testproto_init);
module_exit(testproto_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("mhost example L3: AF_TESTPROTO over Ethernet");
MODULE_AUTHOR("mnet developers");
