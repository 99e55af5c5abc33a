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

#define CREATE_TRACE_POINTS
#include "trace.h"

/*
 * An address as the tracepoints show it: IPv4, IPv6, or a plugged L3's
 * bytes in hex. Formatted when the event is recorded (only while it is
 * enabled), so that perf and bpftrace, which cannot run kernel helpers,
 * print it too.
 */
void mhost_format_addr(char *buf, u16 family, const u8 *addr,
		       unsigned int len)
{
	if (family == AF_INET)
		snprintf(buf, MHOST_ADDR_TEXT, "%pI4", addr);
	else if (family == AF_INET6)
		snprintf(buf, MHOST_ADDR_TEXT, "%pI6c", addr);
	else
		snprintf(buf, MHOST_ADDR_TEXT, "%*phC",
			 min_t(int, len, MHOST_ADDR_MAX), addr);
}

int mhost_family = AF_MHOST;
module_param_named(family, mhost_family, int, 0444);
MODULE_PARM_DESC(family, "address family number to register (default 27)");

unsigned int mhost_net_id __read_mostly;

static int __net_init mhost_net_init(struct net *net)
{
	struct mhost_net *mn = mhost_pernet(net);
	int err;

	mn->stats = alloc_percpu(struct mhost_pcpu_stats);
	if (!mn->stats)
		return -ENOMEM;
	mhost_ports_net_init(mn);
	mhost_socks_net_init(mn);
	/* Control plane (device.c, hosts.c). */
	mhost_devs_net_init(net, mn);
	err = mhost_hosts_net_init(mn);
	if (err) {
		mhost_devs_net_exit(mn);
		free_percpu(mn->stats);
	}
	return err;
}

static void __net_exit mhost_net_exit(struct net *net)
{
	struct mhost_net *mn = mhost_pernet(net);

	/* Control plane (hosts.c, device.c). */
	mhost_hosts_net_exit(mn);
	mhost_devs_net_exit(mn);
	mhost_socks_net_exit(mn);
	free_percpu(mn->stats);
}

static void __net_exit mhost_net_exit_batch(struct list_head *net_list)
{
	/* Control plane (hosts.c): before the namespaces' state is freed. */
	mhost_hosts_net_exit_batch();
}

static struct pernet_operations mhost_net_ops = {
	.init		= mhost_net_init,
	.exit		= mhost_net_exit,
	.exit_batch	= mhost_net_exit_batch,
	.id		= &mhost_net_id,
	.size		= sizeof(struct mhost_net),
};

static int __init mhost_init(void)
{
	int err;

	if (mhost_family <= AF_UNSPEC || mhost_family >= NPROTO) {
		pr_err("family=%d is not a valid address family\n",
		       mhost_family);
		return -EINVAL;
	}

	err = mhost_hosts_init();
	if (err)
		return err;

	err = register_pernet_subsys(&mhost_net_ops);
	if (err)
		goto err_hosts;

	err = mhost_route_init();
	if (err)
		goto err_pernet;

	err = mhost_nl_init();
	if (err)
		goto err_route;

	/* Control plane (device.c): after netlink, which it announces to. */
	err = mhost_dev_init();
	if (err)
		goto err_nl;

	/* Last: once the family is registered, sockets can be created. */
	err = mhost_sock_init();
	if (err)
		goto err_dev;

	return 0;

err_dev:
	mhost_dev_exit();
err_nl:
	mhost_nl_exit();
err_route:
	mhost_route_exit();
err_pernet:
	unregister_pernet_subsys(&mhost_net_ops);
err_hosts:
	mhost_hosts_exit();
	return err;
}

static void __exit mhost_exit(void)
{
	mhost_sock_exit();
	mhost_dev_exit();
	mhost_nl_exit();
	mhost_route_exit();
	unregister_pernet_subsys(&mhost_net_ops);
	mhost_hosts_exit();
}

module_init(mhost_init);
module_exit(mhost_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("AF_MHOST: one datagram socket over several network layers");
MODULE_AUTHOR("mnet developers");
MODULE_ALIAS_NETPROTO(AF_MHOST);
