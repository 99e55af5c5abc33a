/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracepoints of mhost.ko: the quiet way to watch the data path. Enable
 * them under /sys/kernel/tracing/events/mhost/, or use perf or bpftrace
 * (tracepoint:mhost:*); no debug info is needed.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM mhost

#if !defined(_MHOST_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _MHOST_TRACE_H

#include <linux/tracepoint.h>
#include <net/sock.h>

#include "mhost.h"

#ifndef _MHOST_TRACE_ONCE
#define _MHOST_TRACE_ONCE
/* Why a frame of a plugged L3 was dropped; also the stats counters. */
enum mhost_drop_reason {
	MHOST_DROP_SHORT,
	MHOST_DROP_UNKNOWN_FAMILY,
	MHOST_DROP_BAD_HEADER,
	MHOST_DROP_BAD_LEN,
	MHOST_DROP_TRUNCATED,
	MHOST_DROP_NO_SOCKET,
	MHOST_DROP_QUEUE_FULL,
	MHOST_DROP_DEV_DISABLED,	/* device not enabled for plugged L3s */
	MHOST_DROP_BAD_CSUM,		/* UDP checksum wrong or 0 */
	MHOST_DROP_FILTER,		/* filter, cgroup program or LSM */
};

/* Longest address text: 16 bytes in hex with colons, and a NUL. */
#define MHOST_ADDR_TEXT	48
void mhost_format_addr(char *buf, u16 family, const u8 *addr,
		       unsigned int len);
#endif

/* So that perf and bpftrace can print the reasons by name. */
TRACE_DEFINE_ENUM(MHOST_DROP_SHORT);
TRACE_DEFINE_ENUM(MHOST_DROP_UNKNOWN_FAMILY);
TRACE_DEFINE_ENUM(MHOST_DROP_BAD_HEADER);
TRACE_DEFINE_ENUM(MHOST_DROP_BAD_LEN);
TRACE_DEFINE_ENUM(MHOST_DROP_TRUNCATED);
TRACE_DEFINE_ENUM(MHOST_DROP_NO_SOCKET);
TRACE_DEFINE_ENUM(MHOST_DROP_QUEUE_FULL);
TRACE_DEFINE_ENUM(MHOST_DROP_DEV_DISABLED);
TRACE_DEFINE_ENUM(MHOST_DROP_BAD_CSUM);
TRACE_DEFINE_ENUM(MHOST_DROP_FILTER);

DECLARE_EVENT_CLASS(mhost_sock_class,
	TP_PROTO(const struct sock *sk),
	TP_ARGS(sk),
	TP_STRUCT__entry(
		__field(const void *, skaddr)
		__field(u32, netns)
		__field(u16, port)
	),
	TP_fast_assign(
		__entry->skaddr = sk;
		__entry->netns = sock_net(sk)->ns.inum;
		__entry->port = ntohs(READ_ONCE(mhost_sk(sk)->port));
	),
	TP_printk("sk=%p netns=%u port=%u",
		  __entry->skaddr, __entry->netns, __entry->port)
);

DEFINE_EVENT(mhost_sock_class, mhost_sock_create,
	TP_PROTO(const struct sock *sk),
	TP_ARGS(sk)
);

DEFINE_EVENT(mhost_sock_class, mhost_sock_release,
	TP_PROTO(const struct sock *sk),
	TP_ARGS(sk)
);

/* One datagram handed to a network layer, and what it said. */
TRACE_EVENT(mhost_send,
	TP_PROTO(const struct sock *sk, u16 family, const u8 *addr,
		 unsigned int alen, __be16 dport, size_t len, int ret),
	TP_ARGS(sk, family, addr, alen, dport, len, ret),
	TP_STRUCT__entry(
		__field(const void *, skaddr)
		__field(u16, sport)
		__field(u16, family)
		__array(u8, addr, MHOST_ADDR_MAX)
		__field(u8, alen)
		__array(char, dst, MHOST_ADDR_TEXT)
		__field(u16, dport)
		__field(size_t, len)
		__field(int, ret)
	),
	TP_fast_assign(
		__entry->skaddr = sk;
		__entry->sport = ntohs(READ_ONCE(mhost_sk(sk)->port));
		__entry->family = family;
		memcpy(__entry->addr, addr, MHOST_ADDR_MAX);
		__entry->alen = alen;
		mhost_format_addr(__entry->dst, family, addr, alen);
		__entry->dport = ntohs(dport);
		__entry->len = len;
		__entry->ret = ret;
	),
	TP_printk("sk=%p sport=%u family=%u dst=%s dport=%u len=%zu ret=%d",
		  __entry->skaddr, __entry->sport, __entry->family,
		  __entry->dst, __entry->dport, __entry->len, __entry->ret)
);

/* A host id looked up for a send: how many locators it has (0: none). */
TRACE_EVENT(mhost_hostid_resolve,
	TP_PROTO(const struct sock *sk, u32 hid, unsigned int nlocs),
	TP_ARGS(sk, hid, nlocs),
	TP_STRUCT__entry(
		__field(const void *, skaddr)
		__field(u32, hid)
		__field(unsigned int, nlocs)
	),
	TP_fast_assign(
		__entry->skaddr = sk;
		__entry->hid = hid;
		__entry->nlocs = nlocs;
	),
	TP_printk("sk=%p hid=%u locators=%u",
		  __entry->skaddr, __entry->hid, __entry->nlocs)
);

/* Locator @index of host @hid failed with @err; the next one is tried. */
TRACE_EVENT(mhost_failover,
	TP_PROTO(u32 hid, unsigned int index, u16 family, const u8 *addr,
		 unsigned int alen, int err),
	TP_ARGS(hid, index, family, addr, alen, err),
	TP_STRUCT__entry(
		__field(u32, hid)
		__field(unsigned int, index)
		__field(u16, family)
		__array(u8, addr, MHOST_ADDR_MAX)
		__field(u8, alen)
		__array(char, text, MHOST_ADDR_TEXT)
		__field(int, err)
	),
	TP_fast_assign(
		__entry->hid = hid;
		__entry->index = index;
		__entry->family = family;
		memcpy(__entry->addr, addr, MHOST_ADDR_MAX);
		__entry->alen = alen;
		mhost_format_addr(__entry->text, family, addr, alen);
		__entry->err = err;
	),
	TP_printk("hid=%u locator=%u family=%u addr=%s err=%d",
		  __entry->hid, __entry->index, __entry->family,
		  __entry->text, __entry->err)
);

/* A datagram read by recvmsg(). */
TRACE_EVENT(mhost_recv,
	TP_PROTO(const struct sock *sk, u16 family, __be16 sport, size_t len),
	TP_ARGS(sk, family, sport, len),
	TP_STRUCT__entry(
		__field(const void *, skaddr)
		__field(u16, dport)
		__field(u16, family)
		__field(u16, sport)
		__field(size_t, len)
	),
	TP_fast_assign(
		__entry->skaddr = sk;
		__entry->dport = ntohs(READ_ONCE(mhost_sk(sk)->port));
		__entry->family = family;
		__entry->sport = ntohs(sport);
		__entry->len = len;
	),
	TP_printk("sk=%p dport=%u family=%u sport=%u len=%zu",
		  __entry->skaddr, __entry->dport, __entry->family,
		  __entry->sport, __entry->len)
);

/*
 * A datagram dropped on the way up: a frame of ethertype ETH_P_MHOST,
 * or (filter, queue_full) any datagram for an AF_MHOST socket.
 */
TRACE_EVENT(mhost_drop,
	TP_PROTO(const struct sk_buff *skb, u16 family,
		 enum mhost_drop_reason reason),
	TP_ARGS(skb, family, reason),
	TP_STRUCT__entry(
		__field(int, ifindex)
		__field(u16, family)
		__field(unsigned int, len)
		__field(int, reason)
	),
	TP_fast_assign(
		__entry->ifindex = skb->dev ? skb->dev->ifindex : 0;
		__entry->family = family;
		__entry->len = skb->len;
		__entry->reason = reason;
	),
	TP_printk("ifindex=%d family=%u len=%u reason=%s",
		  __entry->ifindex, __entry->family, __entry->len,
		  __print_symbolic(__entry->reason,
				   { MHOST_DROP_SHORT, "short" },
				   { MHOST_DROP_UNKNOWN_FAMILY, "unknown_family" },
				   { MHOST_DROP_BAD_HEADER, "bad_header" },
				   { MHOST_DROP_BAD_LEN, "bad_len" },
				   { MHOST_DROP_TRUNCATED, "truncated" },
				   { MHOST_DROP_NO_SOCKET, "no_socket" },
				   { MHOST_DROP_QUEUE_FULL, "queue_full" },
				   { MHOST_DROP_DEV_DISABLED, "dev_disabled" },
				   { MHOST_DROP_BAD_CSUM, "bad_csum" },
				   { MHOST_DROP_FILTER, "filter" }))
);

DECLARE_EVENT_CLASS(mhost_proto_class,
	TP_PROTO(const struct mhost_proto *proto),
	TP_ARGS(proto),
	TP_STRUCT__entry(
		__field(u16, family)
		__string(name, proto->name)
	),
	TP_fast_assign(
		__entry->family = proto->family;
		mhost_assign_str(name, proto->name);
	),
	TP_printk("family=%u name=%s", __entry->family, __get_str(name))
);

DEFINE_EVENT(mhost_proto_class, mhost_proto_register,
	TP_PROTO(const struct mhost_proto *proto),
	TP_ARGS(proto)
);

DEFINE_EVENT(mhost_proto_class, mhost_proto_unregister,
	TP_PROTO(const struct mhost_proto *proto),
	TP_ARGS(proto)
);

#endif /* _MHOST_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
