/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * mhost.h - AF_MHOST: one datagram socket over several network layers.
 *
 * This header is the single source of truth for the user API. The Go
 * SDK mirrors it and a unit test checks that the two agree.
 */
#ifndef _UAPI_LINUX_MHOST_H
#define _UAPI_LINUX_MHOST_H

#include <linux/types.h>
#include <linux/socket.h>

/*
 * Address family number. 27 is unused by in-tree socket families on the
 * kernels mhost targets; the module parameter "family" can move it.
 */
#define AF_MHOST	27
#define PF_MHOST	AF_MHOST

/* Ethertype carrying the frames of plugged-in (non-IP) L3 protocols. */
#define ETH_P_MHOST	0x8888

/*
 * Largest payload of one datagram. It is the smallest limit of the L3s
 * mhost can pick (IPv4: 65535 - 20 - 8), so that a host id failing over
 * from IPv6 to IPv4 never changes which sizes succeed.
 */
#define MHOST_MAX_PAYLOAD	65507

/**
 * struct sockaddr_mhost - an AF_MHOST address
 * @smh_family: AF_MHOST
 * @smh_port: UDP-style port, network byte order
 * @smh_hid: host identifier, host byte order; 0 means none
 * @smh_zero: must be zero, or the call fails with EINVAL
 *
 * bind() takes one with @smh_hid 0: the socket then receives on @smh_port
 * from every L3 at once. sendto() and connect() take one with a non-zero
 * @smh_hid, which the kernel resolves through the host table.
 */
struct sockaddr_mhost {
	__kernel_sa_family_t	smh_family;
	__be16			smh_port;
	__u32			smh_hid;
	__u8			smh_zero[8];
};

#endif /* _UAPI_LINUX_MHOST_H */
