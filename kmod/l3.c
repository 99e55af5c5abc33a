// SPDX-License-Identifier: GPL-2.0
/*
 * The receive side of plugged-in (non-IP) L3 protocols: frames with
 * ethertype ETH_P_MHOST.
 */
#include <linux/if_ether.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>

#include "mhost.h"

static int mhost_l3_rcv(struct sk_buff *skb, struct net_device *dev,
			struct packet_type *pt, struct net_device *orig_dev)
{
	struct mhost_net *mn = mhost_pernet(dev_net(dev));

	/* No L3 protocol is registered to claim the frame. */
	MHOST_INC_STATS(mn, rx_l3_unknown);
	kfree_skb(skb);
	return NET_RX_DROP;
}

static struct packet_type mhost_ptype __read_mostly = {
	.type	= cpu_to_be16(ETH_P_MHOST),
	.func	= mhost_l3_rcv,
};

int mhost_l3_init(void)
{
	dev_add_pack(&mhost_ptype);
	return 0;
}

void mhost_l3_exit(void)
{
	/* Waits for receivers still running mhost_l3_rcv(). */
	dev_remove_pack(&mhost_ptype);
}
