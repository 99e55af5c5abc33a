// SPDX-License-Identifier: GPL-2.0
/*
 * apitest: checks the L3 plug-in API's bounds from inside the kernel,
 * where user space cannot reach them. Loading it runs the checks; it
 * loads only if they all pass (else -EINVAL, after a line per failure)
 * and does nothing once loaded. tests/guest loads and unloads it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <net/mhost.h>

static int apitest_check_addr(const struct sockaddr *sa)
{
	return 0;
}

static void apitest_locator_to_addr(const u8 *addr, int ifindex,
				    struct sockaddr *sa)
{
}

static void apitest_addr_to_locator(const struct sockaddr *sa, u8 *addr)
{
}

static int apitest_sendmsg(struct net *net, struct sk_buff *skb,
			   const struct sockaddr *sa)
{
	kfree_skb(skb);
	return -ENETUNREACH;
}

static int apitest_rcv(struct sk_buff *skb)
{
	return -EINVAL;
}

static const struct mhost_proto apitest_template = {
	.name			= "apitest",
	.owner			= THIS_MODULE,
	.addr_len		= 4,
	.sockaddr_len		= sizeof(struct mhost_l3_sockaddr) + 4,
	.check_addr		= apitest_check_addr,
	.locator_to_addr	= apitest_locator_to_addr,
	.addr_to_locator	= apitest_addr_to_locator,
	.sendmsg		= apitest_sendmsg,
	.rcv			= apitest_rcv,
};

/* Families no other module of the tests uses. */
#define APITEST_FAMILY	200

static struct mhost_proto apitest_protos[MHOST_MAX_PROTOS + 1];
static int apitest_failures;

#define APITEST_WANT(cond, fmt, ...) do {				\
	if (!(cond)) {							\
		pr_err(fmt "\n", ##__VA_ARGS__);			\
		apitest_failures++;					\
	}								\
} while (0)

/* Registering a malformed protocol fails; unregistering it is a no-op. */
static void apitest_bad(const char *what, u16 family,
			void (*spoil)(struct mhost_proto *p))
{
	struct mhost_proto p = apitest_template;
	int err;

	p.family = family;
	if (spoil)
		spoil(&p);
	err = mhost_register_proto(&p);
	APITEST_WANT(err == -EINVAL, "registering %s: %d, want -EINVAL",
		     what, err);
	if (!err)
		mhost_unregister_proto(&p);
	/* Out of bounds before the bounds check: KASAN sees the read. */
	mhost_unregister_proto(&p);
}

static void apitest_no_rcv(struct mhost_proto *p)
{
	p->rcv = NULL;
}

static void apitest_long_addr(struct mhost_proto *p)
{
	p->addr_len = MHOST_L3_ADDR_MAX + 1;
}

static void apitest_long_sockaddr(struct mhost_proto *p)
{
	p->sockaddr_len = MHOST_L3_SOCKADDR_MAX + 1;
}

static void apitest_checks(void)
{
	struct mhost_proto *p, twin;
	int i, err;

	apitest_bad("family 0", 0, NULL);
	apitest_bad("family 256", MHOST_PROTO_FAMILY_MAX + 1, NULL);
	apitest_bad("family 4096", 4096, NULL);
	apitest_bad("family 65535", 0xffff, NULL);
	apitest_bad("AF_INET", AF_INET, NULL);
	apitest_bad("AF_INET6", AF_INET6, NULL);
	apitest_bad("no rcv", APITEST_FAMILY, apitest_no_rcv);
	apitest_bad("a long address", APITEST_FAMILY, apitest_long_addr);
	apitest_bad("a long sockaddr", APITEST_FAMILY, apitest_long_sockaddr);

	/* As many as there are slots for, and no more. */
	for (i = 0; i < ARRAY_SIZE(apitest_protos); i++) {
		p = &apitest_protos[i];
		*p = apitest_template;
		p->family = APITEST_FAMILY + i;
		err = mhost_register_proto(p);
		if (i < MHOST_MAX_PROTOS) {
			/* Other modules may hold slots: stop where they end. */
			if (err == -ENOSPC)
				break;
			APITEST_WANT(!err, "registering family %u: %d",
				     p->family, err);
		} else {
			APITEST_WANT(err == -ENOSPC,
				     "registering protocol %d of %d: %d, want -ENOSPC",
				     i + 1, MHOST_MAX_PROTOS, err);
		}
	}
	if (i < ARRAY_SIZE(apitest_protos)) {
		err = mhost_register_proto(&apitest_protos[i]);
		APITEST_WANT(err == -ENOSPC, "registering beyond the slots: %d",
			     err);
	}

	/*
	 * A family taken is refused, and unregistering the protocol that
	 * was refused leaves the one registered alone.
	 */
	twin = apitest_protos[0];
	err = mhost_register_proto(&twin);
	APITEST_WANT(err == -EEXIST, "registering family %u twice: %d",
		     twin.family, err);
	mhost_unregister_proto(&twin);
	err = mhost_register_proto(&twin);
	APITEST_WANT(err == -EEXIST,
		     "family %u after unregistering its refused twin: %d",
		     twin.family, err);

	/* Unregistering frees the slots for others, twice is harmless. */
	while (i--) {
		mhost_unregister_proto(&apitest_protos[i]);
		mhost_unregister_proto(&apitest_protos[i]);
	}
	p = &apitest_protos[0];
	err = mhost_register_proto(p);
	APITEST_WANT(!err, "registering again after unregistering: %d", err);
	if (!err)
		mhost_unregister_proto(p);
}

static int __init apitest_init(void)
{
	apitest_checks();
	return apitest_failures ? -EINVAL : 0;
}

static void __exit apitest_exit(void)
{
}

module_init(apitest_init);
module_exit(apitest_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("mhost: checks of the L3 plug-in API's bounds");
MODULE_AUTHOR("mnet developers");
