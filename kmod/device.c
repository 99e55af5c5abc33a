// SPDX-License-Identifier: GPL-2.0
/*
 * Devices: what happens when one goes away.
 *
 * A locator may name a device by its ifindex. When the device is
 * unregistered (deleted, or moving to another namespace), the netdevice
 * notifier removes the locators that name it, under RTNL, so that none
 * goes on naming the next device given that index.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/netdevice.h>

#include "mhost.h"

static int mhost_dev_event(struct notifier_block *nb, unsigned long event,
			   void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);
	struct net *net = dev_net(dev);

	if (event != NETDEV_UNREGISTER)
		return NOTIFY_DONE;

	/* A namespace on its way out drops all its hosts anyway. */
	if (check_net(net))
		mhost_hosts_forget_dev(mhost_pernet(net), dev->ifindex);
	return NOTIFY_DONE;
}

static struct notifier_block mhost_dev_notifier = {
	.notifier_call = mhost_dev_event,
};

void mhost_devs_net_init(struct net *net, struct mhost_net *mn)
{
	mn->net = net;
}

void mhost_devs_net_exit(struct mhost_net *mn)
{
}

int __init mhost_dev_init(void)
{
	return register_netdevice_notifier(&mhost_dev_notifier);
}

/* Unregistering replays NETDEV_UNREGISTER for every device there is. */
void mhost_dev_exit(void)
{
	unregister_netdevice_notifier(&mhost_dev_notifier);
}
