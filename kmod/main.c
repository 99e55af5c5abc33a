// SPDX-License-Identifier: GPL-2.0
/*
 * mhost.ko: AF_MHOST, one datagram socket over several network layers.
 *
 * Module entry points: parameters, per-namespace state and the order in
 * which the pieces are registered and torn down.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/net.h>
#include <net/net_namespace.h>

#include "mhost.h"

int mhost_family = AF_MHOST;
module_param_named(family, mhost_family, int, 0444);
MODULE_PARM_DESC(family, "address family number to register (default 27)");

unsigned int mhost_net_id __read_mostly;

static struct pernet_operations mhost_net_ops = {
	.id	= &mhost_net_id,
	.size	= sizeof(struct mhost_net),
};

static int __init mhost_init(void)
{
	int err;

	if (mhost_family <= AF_UNSPEC || mhost_family >= NPROTO) {
		pr_err("family=%d is not a valid address family\n",
		       mhost_family);
		return -EINVAL;
	}

	err = register_pernet_subsys(&mhost_net_ops);
	if (err)
		return err;

	err = mhost_l3_init();
	if (err)
		goto err_pernet;

	/* Last: once the family is registered, sockets can be created. */
	err = mhost_sock_init();
	if (err)
		goto err_l3;

	return 0;

err_l3:
	mhost_l3_exit();
err_pernet:
	unregister_pernet_subsys(&mhost_net_ops);
	return err;
}

static void __exit mhost_exit(void)
{
	mhost_sock_exit();
	mhost_l3_exit();
	unregister_pernet_subsys(&mhost_net_ops);
}

module_init(mhost_init);
module_exit(mhost_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("AF_MHOST: one datagram socket over several network layers");
MODULE_AUTHOR("mnet developers");
MODULE_ALIAS_NETPROTO(AF_MHOST);
