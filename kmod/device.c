// SPDX-License-Identifier: GPL-2.0
/*
 * Devices: which ones an administrator enabled for plugged-L3 traffic,
 * and what happens when one goes away.
 *
 * The state of a namespace's devices is an xarray indexed by ifindex,
 * holding flags as value entries (no allocation per device beyond the
 * array's nodes), read under RCU by mhost_dev_l3_enabled() on every
 * plugged-L3 frame and send. Writers hold RTNL, as for any device
 * configuration: a device's entry is only ever made while the device is
 * listed in its namespace, and the netdevice notifier, also under RTNL,
 * drops it when the device is unregistered, so an entry never outlives
 * its device to name the next one given its index. Moving a device to
 * another namespace unregisters it from the old one: it arrives in the
 * new one disabled.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/netdevice.h>
#include <linux/rtnetlink.h>

#include "mhost.h"

unsigned long mhost_dev_flags(struct mhost_net *mn, int ifindex)
{
	void *entry = xa_load(&mn->devs, ifindex);

	return entry ? xa_to_value(entry) : 0;
}

/*
 * Sets the flags of @dev, a device of @mn's namespace; 0 forgets it.
 * Returns 1 if they changed, 0 if not, or -ENOMEM.
 */
int mhost_dev_set(struct mhost_net *mn, const struct net_device *dev,
		  unsigned long flags)
{
	int err = 0;

	ASSERT_RTNL();

	if (mhost_dev_flags(mn, dev->ifindex) == flags)
		return 0;
	if (flags)
		err = xa_err(xa_store(&mn->devs, dev->ifindex,
				      xa_mk_value(flags), GFP_KERNEL_ACCOUNT));
	else
		xa_erase(&mn->devs, dev->ifindex);
	if (err)
		return err;
	WRITE_ONCE(mn->devs_gen, mn->devs_gen + 1);
	return 1;
}

static int mhost_dev_event(struct notifier_block *nb, unsigned long event,
			   void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);
	struct net *net = dev_net(dev);
	struct mhost_net *mn = mhost_pernet(net);
	unsigned long flags;

	if (event != NETDEV_UNREGISTER)
		return NOTIFY_DONE;

	flags = mhost_dev_flags(mn, dev->ifindex);
	if (flags) {
		mhost_dev_set(mn, dev, 0);
		mhost_nl_dev_event(net, dev, 0, MHOST_CMD_DEV_DEL, NULL);
	}
	/* A namespace on its way out drops all its hosts anyway. */
	if (check_net(net))
		mhost_hosts_forget_dev(mn, dev->ifindex);
	return NOTIFY_DONE;
}

static struct notifier_block mhost_dev_notifier = {
	.notifier_call = mhost_dev_event,
};

void mhost_devs_net_init(struct net *net, struct mhost_net *mn)
{
	mn->net = net;
	xa_init(&mn->devs);
	/* Never 0: netlink takes a dump sequence of 0 as "not started". */
	mn->devs_gen = 1;
}

void mhost_devs_net_exit(struct mhost_net *mn)
{
	/*
	 * Empty unless a DEV_SET raced with unloading, between the
	 * notifier's last replay and the family going away.
	 */
	xa_destroy(&mn->devs);
}

int __init mhost_dev_init(void)
{
	return register_netdevice_notifier(&mhost_dev_notifier);
}

/*
 * Unregistering replays NETDEV_UNREGISTER for every device there is:
 * their state goes, as it would at unload anyway.
 */
void mhost_dev_exit(void)
{
	unregister_netdevice_notifier(&mhost_dev_notifier);
}
