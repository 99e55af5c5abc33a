// SPDX-License-Identifier: GPL-2.0
/*
 * AF_MHOST socket calls.
 *
 * An AF_MHOST socket is a socket of its own family (sk_family is
 * AF_MHOST, its proto "UDPMHOST"), so that LSMs, filters and tools see
 * what it is. It is carried over kernel UDP the way AF_RXRPC is: each
 * socket has a transport socket, a kernel UDPv6 socket made with it,
 * dual-stack, bound to [::]:port when the AF_MHOST socket binds. That
 * socket owns the port in the kernel's UDP table on IPv4 and IPv6 (so
 * plain UDP cannot take it, and can talk to it), sends the IP datagrams
 * through the kernel's own UDP code, and hands every datagram it
 * receives to mhost through its encap_rcv hook (route.c), and every ICMP
 * error through encap_err_rcv. Only exported interfaces are used:
 * nothing is borrowed from another protocol's struct proto, and the
 * transport socket is only ever driven through its own proto_ops.
 *
 * One transport socket per AF_MHOST socket, rather than one per port,
 * because then SO_REUSEPORT, SO_BINDTODEVICE, send buffers, timestamps,
 * zerocopy completions and the error queue all belong to exactly one
 * AF_MHOST socket, as they do on UDP.
 *
 * Socket options: SOL_SOCKET ones are the AF_MHOST socket's, and those
 * that steer sending, binding or load spreading are given to the
 * transport socket too; SOL_IP, SOL_IPV6 and SOL_UDP ones are the
 * transport socket's; SOL_MHOST ones are mhost's.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bpf-cgroup.h>
#include <linux/errqueue.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/poll.h>
#include <linux/socket.h>
#include <linux/sockios.h>
#include <asm/ioctls.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/sock.h>
#include <net/sock_reuseport.h>
#include <net/transp_v6.h>
#include <net/udp.h>
#include <net/udp_tunnel.h>

#include "mhost.h"
#include "trace.h"

static void mhost_rehash(struct sock *sk);

static struct proto udpmhost_prot = {
	.name			= "UDPMHOST",
	.owner			= THIS_MODULE,
	.obj_size		= sizeof(struct mhost_sock),
	.rehash			= mhost_rehash,
	/*
	 * No .memory_allocated: queued datagrams are charged to the
	 * socket (sk_rmem_alloc, against SO_RCVBUF), as AF_PACKET's are.
	 * A protocol-wide pool would need every charge and uncharge of
	 * sk_forward_alloc serialised between the receive softirq and
	 * recvmsg, which UDP does with its own queue code.
	 */
};

/* ---- The transport socket ---- */

/* Its send buffer drained: wake AF_MHOST writers too. */
static void mhost_tsk_write_space(struct sock *tsk)
{
	struct sock *sk;

	rcu_read_lock();
	sk = rcu_dereference_sk_user_data(tsk);
	if (sk) {
		mhost_sk(sk)->t_write_space(tsk);
		if (sock_writeable(tsk))
			sk->sk_write_space(sk);
	}
	rcu_read_unlock();
}

/* Something landed on its error queue: wake AF_MHOST pollers too. */
static void mhost_tsk_error_report(struct sock *tsk)
{
	struct sock *sk;

	rcu_read_lock();
	sk = rcu_dereference_sk_user_data(tsk);
	if (sk) {
		mhost_sk(sk)->t_error_report(tsk);
		sk_error_report(sk);
	}
	rcu_read_unlock();
}

static int mhost_tsock_create(struct sock *sk, int kern)
{
	struct udp_tunnel_sock_cfg cfg = {
		.sk_user_data	= sk,
		/* 1, as vxlan and WireGuard: a generic encapsulation. */
		.encap_type	= 1,
		.encap_rcv	= mhost_encap_rcv,
		.encap_err_rcv	= mhost_encap_err_rcv,
	};
	struct mhost_sock *ms = mhost_sk(sk);
	struct net *net = sock_net(sk);
	int off = 0, on = 1, err;
	struct socket *tsock;
	struct sock *tsk;

	/*
	 * Made as the caller's own socket (kern 0 when the AF_MHOST socket
	 * is a user's): LSMs label it as the caller, and the cgroup-BPF
	 * sock_create and sock_release programs, which are defined for
	 * inet sockets, judge the AF_MHOST socket through it.
	 */
	err = __sock_create(net, PF_INET6, SOCK_DGRAM, IPPROTO_UDP, &tsock,
			    kern);
	if (err)
		return err;
	tsk = tsock->sk;
	/* What a sock_create program set is the AF_MHOST socket's too. */
	sk->sk_bound_dev_if = tsk->sk_bound_dev_if;
	sk->sk_mark = tsk->sk_mark;
	sk->sk_priority = tsk->sk_priority;

	/* Both IP versions, whatever net.ipv6.bindv6only says. */
	err = tsock->ops->setsockopt(tsock, SOL_IPV6, IPV6_V6ONLY,
				     KERNEL_SOCKPTR(&off), sizeof(off));
	if (err)
		goto release;

	/* Unbound, so nothing arrives before encap_rcv is in place. */
	mhost_setup_udp_tunnel_sock(net, tsock, &cfg);
	/* Tunnels turn multicast loopback off; UDP sockets have it on. */
	tsock->ops->setsockopt(tsock, SOL_IP, IP_MULTICAST_LOOP,
			       KERNEL_SOCKPTR(&on), sizeof(on));
	tsock->ops->setsockopt(tsock, SOL_IPV6, IPV6_MULTICAST_LOOP,
			       KERNEL_SOCKPTR(&on), sizeof(on));

	write_lock_bh(&tsk->sk_callback_lock);
	ms->t_write_space = tsk->sk_write_space;
	ms->t_error_report = tsk->sk_error_report;
	tsk->sk_write_space = mhost_tsk_write_space;
	tsk->sk_error_report = mhost_tsk_error_report;
	write_unlock_bh(&tsk->sk_callback_lock);

	/* Kept until the AF_MHOST socket is freed: see mhost_deliver(). */
	sock_hold(tsk);
	ms->tsk = tsk;
	ms->tsock = tsock;
	return 0;

release:
	sock_release(tsock);
	return err;
}

static void mhost_tsock_release(struct mhost_sock *ms)
{
	struct sock *tsk = ms->tsk;

	write_lock_bh(&tsk->sk_callback_lock);
	tsk->sk_write_space = ms->t_write_space;
	tsk->sk_error_report = ms->t_error_report;
	write_unlock_bh(&tsk->sk_callback_lock);

	/*
	 * encap_rcv stops finding us, and closing unbinds. Readers still
	 * holding us are fine without a grace period here (which
	 * udp_tunnel_sock_release() would wait out on every close): this
	 * socket is freed after one, and it holds tsk until then.
	 */
	rcu_assign_sk_user_data(tsk, NULL);
	sock_release(ms->tsock);
	ms->tsock = NULL;
}

/*
 * SO_REUSEPORT, kept on the AF_MHOST socket (getsockopt() reads it
 * there) and given to the transport socket when it binds. The socket
 * layer refuses SO_REUSEPORT itself for families other than inet ones.
 */
static void mhost_set_reuseport(struct sock *sk, bool on)
{
	lock_sock(sk);
	sk->sk_reuseport = on;
	release_sock(sk);
}

/* The sk_flags bits of the generic options that matter to sending. */
#define MHOST_SYNC_FLAGS	(BIT(SOCK_BROADCAST) | BIT(SOCK_LOCALROUTE) | \
				 BIT(SOCK_TSTAMP_NEW) | BIT(SOCK_TXTIME))

/*
 * The transport socket sends, binds and reports transmit timestamps for
 * the AF_MHOST socket, so it follows the generic (SOL_SOCKET) options
 * set on the latter: device binding, mark, priority, send buffer and
 * timeout, broadcast, SO_DONTROUTE, SO_NO_CHECK, SO_TIMESTAMPING,
 * SO_TXTIME, pacing. Older kernels give a socket family no way to see SOL_SOCKET
 * options being set, so they are carried over before each send and
 * bind instead, when they differ; they were checked (capabilities
 * included) when set on the AF_MHOST socket.
 */
static bool mhost_tsk_in_sync(struct sock *sk, struct sock *tsk)
{
	return READ_ONCE(tsk->sk_bound_dev_if) ==
			READ_ONCE(sk->sk_bound_dev_if) &&
	       READ_ONCE(tsk->sk_mark) == READ_ONCE(sk->sk_mark) &&
	       READ_ONCE(tsk->sk_priority) == READ_ONCE(sk->sk_priority) &&
	       READ_ONCE(tsk->sk_sndbuf) == READ_ONCE(sk->sk_sndbuf) &&
	       READ_ONCE(tsk->sk_sndtimeo) == READ_ONCE(sk->sk_sndtimeo) &&
	       READ_ONCE(tsk->sk_tsflags) == READ_ONCE(sk->sk_tsflags) &&
	       READ_ONCE(tsk->sk_max_pacing_rate) ==
			READ_ONCE(sk->sk_max_pacing_rate) &&
	       tsk->sk_no_check_tx == sk->sk_no_check_tx &&
	       READ_ONCE(tsk->sk_clockid) == READ_ONCE(sk->sk_clockid) &&
	       tsk->sk_txtime_deadline_mode == sk->sk_txtime_deadline_mode &&
	       tsk->sk_txtime_report_errors == sk->sk_txtime_report_errors &&
	       !((READ_ONCE(tsk->sk_flags) ^ READ_ONCE(sk->sk_flags)) &
		 MHOST_SYNC_FLAGS);
}

static int mhost_sync_tsk(struct sock *sk)
{
	struct sock *tsk = mhost_tsk(sk);
	int dif = READ_ONCE(sk->sk_bound_dev_if);
	unsigned int f;
	int err;

	if (likely(mhost_tsk_in_sync(sk, tsk)))
		return 0;

	if (READ_ONCE(tsk->sk_bound_dev_if) != dif) {
		err = sock_bindtoindex(tsk, dif, true);
		if (err)
			return err;
	}

	lock_sock(tsk);
	if (READ_ONCE(tsk->sk_mark) != READ_ONCE(sk->sk_mark)) {
		WRITE_ONCE(tsk->sk_mark, READ_ONCE(sk->sk_mark));
		sk_dst_reset(tsk);
	}
	WRITE_ONCE(tsk->sk_priority, READ_ONCE(sk->sk_priority));
	WRITE_ONCE(tsk->sk_sndbuf, READ_ONCE(sk->sk_sndbuf));
	tsk->sk_userlocks = (tsk->sk_userlocks & ~SOCK_SNDBUF_LOCK) |
			    (sk->sk_userlocks & SOCK_SNDBUF_LOCK);
	WRITE_ONCE(tsk->sk_sndtimeo, READ_ONCE(sk->sk_sndtimeo));
	WRITE_ONCE(tsk->sk_tsflags, READ_ONCE(sk->sk_tsflags));
	WRITE_ONCE(tsk->sk_max_pacing_rate, READ_ONCE(sk->sk_max_pacing_rate));
	tsk->sk_no_check_tx = sk->sk_no_check_tx;
	for (f = 0; f < BITS_PER_LONG; f++) {
		if (!(MHOST_SYNC_FLAGS & BIT(f)))
			continue;
		if (sock_flag(sk, f))
			sock_set_flag(tsk, f);
		else
			sock_reset_flag(tsk, f);
	}
	WRITE_ONCE(tsk->sk_clockid, READ_ONCE(sk->sk_clockid));
	tsk->sk_txtime_deadline_mode = sk->sk_txtime_deadline_mode;
	tsk->sk_txtime_report_errors = sk->sk_txtime_report_errors;
	release_sock(tsk);
	sk->sk_write_space(sk);
	return 0;
}

/* Binds the transport socket to [::]:@port (0: an ephemeral one). */
static int mhost_bind_port(struct sock *sk, __be16 port)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = port };
	struct mhost_sock *ms = mhost_sk(sk);
	int err;

	sock_owned_by_me(sk);

	err = mhost_sync_tsk(sk);
	if (err)
		return err;
	/* What decides who may share the port, and how flows spread. */
	lock_sock(ms->tsk);
	ms->tsk->sk_reuse = sk->sk_reuse;
	ms->tsk->sk_reuseport = sk->sk_reuseport;
	WRITE_ONCE(ms->tsk->sk_incoming_cpu, READ_ONCE(sk->sk_incoming_cpu));
	release_sock(ms->tsk);

	err = mhost_kernel_bind(ms->tsock, (struct sockaddr *)&sin6,
				sizeof(sin6));
	if (err)
		return err;
	WRITE_ONCE(ms->port, inet_sk(ms->tsk)->inet_sport);
	mhost_ports_add(mhost_pernet(sock_net(sk)), ms);
	return 0;
}

/* Binds an unbound socket to an ephemeral port, as UDP does on send. */
static int mhost_autobind(struct sock *sk)
{
	int err = 0;

	if (likely(READ_ONCE(mhost_sk(sk)->port)))
		return 0;
	lock_sock(sk);
	if (!mhost_sk(sk)->port)
		err = mhost_bind_port(sk, 0);
	release_sock(sk);
	return err;
}

/* ---- Socket calls ---- */

/* Copies the connect()ed destination; -EDESTADDRREQ if there is none. */
static int mhost_peer_copy(struct mhost_sock *ms, union mhost_addr *dst)
{
	struct mhost_peer *peer;
	int len = -EDESTADDRREQ;

	rcu_read_lock();
	peer = rcu_dereference(ms->peer);
	if (peer) {
		memcpy(dst, &peer->addr, peer->len);
		len = peer->len;
	}
	rcu_read_unlock();
	return len;
}

static int mhost_release(struct socket *sock)
{
	struct sock *sk = sock->sk;
	struct mhost_peer *peer;
	struct mhost_sock *ms;
	struct mhost_net *mn;

	if (!sk)
		return 0;
	ms = mhost_sk(sk);
	mn = mhost_pernet(sock_net(sk));
	trace_mhost_sock_release(sk);

	lock_sock(sk);
	if (ms->port)
		mhost_ports_del(mn, ms);
	xa_erase(&mn->socks, ms->id);
	atomic_dec(&mn->nsocks);
	sock_orphan(sk);
	release_sock(sk);

	mhost_tsock_release(ms);
	peer = rcu_replace_pointer(ms->peer, NULL, true);
	kfree_rcu(peer, rcu);
	/* A reuseport program attached where the kernel let it. */
	if (rcu_access_pointer(sk->sk_reuseport_cb))
		reuseport_detach_sock(sk);
	skb_queue_purge(&sk->sk_receive_queue);

	sock->sk = NULL;
	sock_put(sk);
	return 0;
}

/*
 * After an RCU grace period (SOCK_RCU_FREE): datagrams that readers in
 * flight queued after close are freed here, with the transport socket.
 */
static void mhost_sock_destruct(struct sock *sk)
{
	struct mhost_sock *ms = mhost_sk(sk);

	skb_queue_purge(&sk->sk_receive_queue);
	skb_queue_purge(&sk->sk_error_queue);
	sk_mem_reclaim_final(sk);
	if (ms->tsk)
		sock_put(ms->tsk);
}

static int mhost_bind(struct socket *sock, struct mhost_sockaddr_unsized *uaddr, int len)
{
	const struct sockaddr *sa = (const struct sockaddr *)uaddr;
	struct sock *sk = sock->sk;
	struct sockaddr_mhost smh;
	int err;

	if (len < (int)sizeof(smh))
		return -EINVAL;
	if (sa->sa_family != mhost_family)
		return -EAFNOSUPPORT;
	memcpy(&smh, sa, sizeof(smh));
	/* Padding must be zero; a socket receives for every host. */
	if (memchr_inv(smh.smh_zero, 0, sizeof(smh.smh_zero)) || smh.smh_hid)
		return -EINVAL;

	lock_sock(sk);
	if (mhost_sk(sk)->port)
		err = -EINVAL;
	else
		err = mhost_bind_port(sk, smh.smh_port);
	release_sock(sk);
	return err;
}

/*
 * connect() only sets the default destination. Datagrams from any
 * source are still received: one peer may reach us over several
 * network layers.
 */
static int mhost_connect(struct socket *sock, struct mhost_sockaddr_unsized *uaddr, int len,
			 int flags)
{
	const struct sockaddr *sa = (const struct sockaddr *)uaddr;
	struct mhost_peer *peer = NULL;
	struct sock *sk = sock->sk;
	union mhost_addr dst;
	int dlen, err;

	if (len < (int)sizeof(sa->sa_family))
		return -EINVAL;

	if (sa->sa_family != AF_UNSPEC) {
		dlen = mhost_check_dest(sa, len, &dst);
		if (dlen < 0)
			return dlen;
		/* Resolved again on every send; must exist now. */
		if (dst.sa.sa_family == mhost_family) {
			struct mhost_host *host;

			host = mhost_host_get(mhost_pernet(sock_net(sk)),
					      dst.mh.smh_hid);
			if (!host)
				return -EHOSTUNREACH;
			mhost_host_put(host);
		}

		/* Bind now, so that getsockname() shows the port. */
		err = mhost_autobind(sk);
		if (err)
			return err;

		peer = kzalloc(sizeof(*peer), GFP_KERNEL);
		if (!peer)
			return -ENOMEM;
		memcpy(&peer->addr, &dst, dlen);
		peer->len = dlen;
	}

	lock_sock(sk);
	peer = rcu_replace_pointer(mhost_sk(sk)->peer, peer,
				   lockdep_sock_is_held(sk));
	release_sock(sk);
	if (peer)
		kfree_rcu(peer, rcu);
	return 0;
}

static int mhost_getname(struct socket *sock, struct sockaddr *uaddr,
			 int peer)
{
	struct sock *sk = sock->sk;
	struct sockaddr_mhost *smh;
	int len;

	if (peer) {
		len = mhost_peer_copy(mhost_sk(sk), (union mhost_addr *)uaddr);
		return len < 0 ? -ENOTCONN : len;
	}

	smh = (struct sockaddr_mhost *)uaddr;
	memset(smh, 0, sizeof(*smh));
	smh->smh_family = mhost_family;
	smh->smh_port = READ_ONCE(mhost_sk(sk)->port);
	return sizeof(*smh);
}

static __poll_t mhost_poll(struct file *file, struct socket *sock,
			   poll_table *wait)
{
	struct sock *sk = sock->sk, *tsk = mhost_tsk(sk);
	__poll_t mask = datagram_poll(file, sock, wait);

	/*
	 * ICMP errors, timestamps and zerocopy notes wait on tsk, and
	 * recvmsg(MSG_ERRQUEUE) takes them from there. (tsk->sk_err is
	 * left alone: nothing the AF_MHOST socket offers would clear it.)
	 */
	if (!skb_queue_empty_lockless(&tsk->sk_error_queue))
		mask |= EPOLLERR |
			(sock_flag(sk, SOCK_SELECT_ERR_QUEUE) ? EPOLLPRI : 0);

	/* What is sent is charged to tsk (mhost_tsk_write_space()). */
	mask &= ~(EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND);
	if (sock_writeable(tsk))
		mask |= EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND;
	return mask;
}

static int mhost_ioctl(struct socket *sock, unsigned int cmd,
		       unsigned long arg)
{
	struct sock *sk = sock->sk;
	struct sk_buff *skb;
	int amount;

	switch (cmd) {
	case SIOCOUTQ:
		amount = sk_wmem_alloc_get(mhost_tsk(sk));
		break;
	case SIOCINQ:
		/* As on UDP: the payload of the next datagram. */
		spin_lock_bh(&sk->sk_receive_queue.lock);
		skb = skb_peek(&sk->sk_receive_queue);
		amount = skb ? skb->len : 0;
		spin_unlock_bh(&sk->sk_receive_queue.lock);
		break;
	default:
		return -ENOIOCTLCMD;
	}
	return put_user(amount, (int __user *)arg);
}

static int mhost_shutdown(struct socket *sock, int how)
{
	struct sock *sk = sock->sk;
	int err = 0;

	/* SHUT_RD, SHUT_WR, SHUT_RDWR become RCV, SEND, both *_SHUTDOWN. */
	how++;
	if ((how & ~SHUTDOWN_MASK) || !how)
		return -EINVAL;

	lock_sock(sk);
	/* As on UDP: ENOTCONN if unconnected, but applied anyway. */
	if (!rcu_access_pointer(mhost_sk(sk)->peer))
		err = -ENOTCONN;
	WRITE_ONCE(sk->sk_shutdown, sk->sk_shutdown | how);
	sk->sk_state_change(sk);
	release_sock(sk);
	return err;
}

/*
 * The socket layer calls this when SO_BINDTODEVICE (or SO_BINDTOIFINDEX)
 * changed the bound device, with the socket locked: the transport
 * socket, which the kernel's UDP finds incoming datagrams by, follows at
 * once rather than at the next send. The hook cannot fail: if the
 * device went in between, the two stay apart and the next send, which
 * binds again (mhost_sync_tsk), reports it.
 */
static void mhost_rehash(struct sock *sk)
{
	struct sock *tsk = mhost_tsk(sk);

	if (tsk && READ_ONCE(tsk->sk_bound_dev_if) !=
		   READ_ONCE(sk->sk_bound_dev_if))
		(void)sock_bindtoindex(tsk, READ_ONCE(sk->sk_bound_dev_if),
				       true);
}

#ifdef MHOST_HAVE_CUSTOM_SOCKOPT
/*
 * SOL_SOCKET options that only the transport socket can take: its
 * reuseport group's programs, and zerocopy (which the socket layer
 * allows on inet sockets only). Where the kernel lets a family see
 * SOL_SOCKET options (SOCK_CUSTOM_SOCKOPT), they go there; elsewhere
 * they are refused (SO_ZEROCOPY) or stay without effect.
 */
static bool mhost_sockopt_transport(int optname)
{
	switch (optname) {
	case SO_REUSEPORT:
	case SO_ATTACH_REUSEPORT_CBPF:
	case SO_ATTACH_REUSEPORT_EBPF:
	case SO_DETACH_REUSEPORT_BPF:
	case SO_ZEROCOPY:
		return true;
	}
	return false;
}

static int mhost_setsockopt_socket(struct socket *sock, int optname,
				   sockptr_t optval, unsigned int optlen)
{
	struct sock *sk = sock->sk;
	struct socket *tsock = mhost_sk(sk)->tsock;
	int err;

	if (!mhost_sockopt_transport(optname))
		return sock_setsockopt(sock, SOL_SOCKET, optname, optval,
				       optlen);
	err = sock_setsockopt(tsock, SOL_SOCKET, optname, optval, optlen);
	if (err)
		return err;
	/* getsockopt() reads these on the AF_MHOST socket. */
	switch (optname) {
	case SO_ZEROCOPY:
		lock_sock(sk);
		sock_valbool_flag(sk, SOCK_ZEROCOPY,
				  sock_flag(tsock->sk, SOCK_ZEROCOPY));
		release_sock(sk);
		break;
	case SO_REUSEPORT:
		mhost_set_reuseport(sk, tsock->sk->sk_reuseport);
		break;
	}
	return 0;
}
#endif

static int mhost_setsockopt(struct socket *sock, int level, int optname,
			    sockptr_t optval, unsigned int optlen)
{
	struct socket *tsock = mhost_sk(sock->sk)->tsock;
	int val;

	switch (level) {
#ifdef MHOST_HAVE_CUSTOM_SOCKOPT
	case SOL_SOCKET:
		return mhost_setsockopt_socket(sock, optname, optval, optlen);
#endif
	case SOL_MHOST:
		if (optname != MHOST_RECVHOSTID && optname != MHOST_REUSEPORT)
			return -ENOPROTOOPT;
		if (optlen < sizeof(int))
			return -EINVAL;
		if (copy_from_sockptr(&val, optval, sizeof(val)))
			return -EFAULT;
		if (optname == MHOST_REUSEPORT)
			mhost_set_reuseport(sock->sk, !!val);
		else
			WRITE_ONCE(mhost_sk(sock->sk)->recv_hostid, !!val);
		return 0;
	case SOL_IPV6:
		switch (optname) {
		case IPV6_V6ONLY:
			/* IPv4 must keep arriving: always dual-stack. */
			if (optlen < sizeof(int))
				return -EINVAL;
			if (copy_from_sockptr(&val, optval, sizeof(val)))
				return -EFAULT;
			return val ? -EINVAL : 0;
		case IPV6_ADDRFORM:
			/* It would turn the transport into a UDPv4 socket. */
			return -EOPNOTSUPP;
		case IPV6_RECVPATHMTU:
			/* Its notes are read by an unexported function. */
			return -ENOPROTOOPT;
		}
		break;
	case SOL_UDP:
		/* The transport socket's encapsulation is mhost's. */
		if (optname == UDP_ENCAP)
			return -ENOPROTOOPT;
		break;
	case SOL_UDPLITE:
		/*
		 * UDP takes its options at this level too, UDP_ENCAP among
		 * them; the transport socket is not UDP-Lite.
		 */
		return -ENOPROTOOPT;
	}
	return tsock->ops->setsockopt(tsock, level, optname, optval, optlen);
}

static int mhost_getsockopt(struct socket *sock, int level, int optname,
			    char __user *optval, int __user *optlen)
{
	struct socket *tsock = mhost_sk(sock->sk)->tsock;
	int val, len;

	/* SOL_SOCKET never comes here: the socket layer answers it. */
	if (level != SOL_MHOST)
		return tsock->ops->getsockopt(tsock, level, optname, optval,
					      optlen);
	switch (optname) {
	case MHOST_RECVHOSTID:
		val = READ_ONCE(mhost_sk(sock->sk)->recv_hostid);
		break;
	case MHOST_REUSEPORT:
		val = sock->sk->sk_reuseport;
		break;
	default:
		return -ENOPROTOOPT;
	}
	if (get_user(len, optlen))
		return -EFAULT;
	if (len < 0)
		return -EINVAL;
	len = min_t(int, len, sizeof(val));
	if (put_user(len, optlen) || copy_to_user(optval, &val, len))
		return -EFAULT;
	return 0;
}

static int mhost_sendmsg(struct socket *sock, struct msghdr *msg, size_t len)
{
	struct sock *sk = sock->sk;
	void *name = msg->msg_name;
	int namelen = msg->msg_namelen;
	union mhost_addr dst;
	int dlen, err;

	/* The same limit on every L3, so failover never changes it. */
	if (len > MHOST_MAX_PAYLOAD)
		return -EMSGSIZE;

	if (name) {
		dlen = mhost_check_dest(name, namelen, &dst);
	} else {
		dlen = mhost_peer_copy(mhost_sk(sk), &dst);
		/* More data for a corked datagram needs no address. */
		if (dlen == -EDESTADDRREQ &&
		    READ_ONCE(udp_sk(mhost_tsk(sk))->pending))
			dlen = 0;
	}
	if (dlen < 0)
		return dlen;
	/* As UDP's sock_alloc_send_skb() does, for every network layer. */
	if (READ_ONCE(sk->sk_shutdown) & SEND_SHUTDOWN)
		return -EPIPE;

	err = mhost_autobind(sk);
	if (!err)
		err = mhost_sync_tsk(sk);
	if (err)
		return err;

	err = mhost_output(sk, msg, len, &dst, dlen);
	msg->msg_name = name;
	msg->msg_namelen = namelen;
	return err;
}

/*
 * With MHOST_RECVHOSTID, a source that is a known locator is reported as
 * the host it belongs to. Returns false if it is not one.
 */
static bool mhost_hostid_source(struct sock *sk, struct msghdr *msg,
				struct sk_buff *skb, bool is_ip4)
{
	DECLARE_SOCKADDR(struct sockaddr_mhost *, smh, msg->msg_name);
	struct mhost_lockey key = {};
	__be16 sport = udp_hdr(skb)->source;
	u32 hid;

	if (is_ip4) {
		key.family = AF_INET;
		memcpy(key.addr, &ip_hdr(skb)->saddr, sizeof(struct in_addr));
	} else {
		key.family = AF_INET6;
		memcpy(key.addr, &ipv6_hdr(skb)->saddr, sizeof(struct in6_addr));
	}
	hid = mhost_hid_by_source(mhost_pernet(sock_net(sk)), &key, sport);
	if (!hid)
		return false;

	memset(smh, 0, sizeof(*smh));
	smh->smh_family = mhost_family;
	smh->smh_port = sport;
	smh->smh_hid = hid;
	msg->msg_namelen = sizeof(*smh);
	return true;
}

/* The real source of a received IP datagram. */
static void mhost_ip_source(struct sock *sk, struct msghdr *msg,
			    struct sk_buff *skb, bool is_ip4)
{
	if (READ_ONCE(mhost_sk(sk)->recv_hostid) &&
	    mhost_hostid_source(sk, msg, skb, is_ip4))
		return;

	if (is_ip4) {
		DECLARE_SOCKADDR(struct sockaddr_in *, sin, msg->msg_name);

		sin->sin_family = AF_INET;
		sin->sin_port = udp_hdr(skb)->source;
		sin->sin_addr.s_addr = ip_hdr(skb)->saddr;
		memset(sin->sin_zero, 0, sizeof(sin->sin_zero));
		msg->msg_namelen = sizeof(*sin);
	} else {
		DECLARE_SOCKADDR(struct sockaddr_in6 *, sin6, msg->msg_name);

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = udp_hdr(skb)->source;
		sin6->sin6_flowinfo = 0;
		sin6->sin6_addr = ipv6_hdr(skb)->saddr;
		sin6->sin6_scope_id = ipv6_iface_scope_id(&sin6->sin6_addr,
							  inet6_iif(skb));
		msg->msg_namelen = sizeof(*sin6);
	}
}

/* The source of a datagram from a plugged L3, saved at receive time. */
static void mhost_l3_source(struct sock *sk, struct msghdr *msg,
			    struct sk_buff *skb)
{
	const struct mhost_rx_cb *cb = mhost_rx_cb(skb);
	struct sockaddr_mhost *smh;

	if (cb->hid && READ_ONCE(mhost_sk(sk)->recv_hostid)) {
		smh = (struct sockaddr_mhost *)msg->msg_name;
		memset(smh, 0, sizeof(*smh));
		smh->smh_family = mhost_family;
		smh->smh_port = ((struct mhost_l3_sockaddr *)cb->l3.addr)->port;
		smh->smh_hid = cb->hid;
		msg->msg_namelen = sizeof(*smh);
		return;
	}
	memcpy(msg->msg_name, cb->l3.addr, cb->l3.len);
	msg->msg_namelen = cb->l3.len;
}

/*
 * The IP-level control messages the transport socket's options ask for,
 * as a dual-stack UDPv6 socket gives them: IPv6 ones for IPv6
 * datagrams; IPv4 ones, and IPV6_PKTINFO with a v4-mapped address, for
 * IPv4 datagrams.
 */
static void mhost_ip_cmsgs(struct sock *tsk, struct msghdr *msg,
			   struct sk_buff *skb, bool is_ip4, int off)
{
	const struct ipv6_pinfo *np = inet6_sk(tsk);

	if (!is_ip4) {
		if (np->rxopt.all)
			ip6_datagram_recv_ctl(tsk, msg, skb);
		return;
	}
	if (np->rxopt.bits.rxinfo) {
		struct in6_pktinfo info = {
			.ipi6_ifindex = PKTINFO_SKB_CB(skb)->ipi_ifindex,
		};

		ipv6_addr_set_v4mapped(ip_hdr(skb)->daddr, &info.ipi6_addr);
		put_cmsg(msg, SOL_IPV6, IPV6_PKTINFO, sizeof(info), &info);
	}
	if (mhost_inet_cmsg_flags(tsk))
		ip_cmsg_recv_offset(msg, tsk, skb, sizeof(struct udphdr), off);
}

static int mhost_recvmsg(struct socket *sock, struct msghdr *msg, size_t len,
			 int flags)
{
	struct sock *sk = sock->sk, *tsk = mhost_tsk(sk);
	unsigned int ulen, copied;
	struct sk_buff *skb;
	bool is_ip4, slow;
	int off, err, alen;

	/* ICMP errors, timestamps, zerocopy notes: the transport's. */
	if (flags & MSG_ERRQUEUE) {
		alen = 0;
		err = mhost_ipv6_recv_error(tsk, msg, len, &alen);
		if (err >= 0 && msg->msg_name)
			msg->msg_namelen = alen;
		return err;
	}

	off = sk_peek_offset(sk, flags);
	skb = __skb_recv_datagram(sk, &sk->sk_receive_queue, flags, &off,
				  &err);
	if (!skb)
		return err;

	ulen = skb->len;
	copied = len;
	if (copied > ulen - off)
		copied = ulen - off;
	else if (copied < ulen)
		msg->msg_flags |= MSG_TRUNC;

	err = skb_copy_datagram_msg(skb, off, msg, copied);
	if (unlikely(err)) {
		skb_free_datagram(sk, skb);
		return err;
	}

	sock_recv_cmsgs(msg, sk, skb);
	if (skb->protocol == htons(ETH_P_MHOST)) {
		/* No IP control messages for a datagram that had no IP. */
		if (msg->msg_name)
			mhost_l3_source(sk, msg, skb);
		trace_mhost_recv(sk, ((struct mhost_l3_sockaddr *)
				      mhost_rx_cb(skb)->l3.addr)->family,
				 ((struct mhost_l3_sockaddr *)
				  mhost_rx_cb(skb)->l3.addr)->port, ulen);
	} else {
		is_ip4 = skb->protocol == htons(ETH_P_IP);
		if (msg->msg_name)
			mhost_ip_source(sk, msg, skb, is_ip4);
		udp_cmsg_recv(msg, tsk, skb);
		mhost_ip_cmsgs(tsk, msg, skb, is_ip4, off);
		trace_mhost_recv(sk, is_ip4 ? AF_INET : AF_INET6,
				 udp_hdr(skb)->source, ulen);
	}

	err = copied;
	if (flags & MSG_TRUNC)
		err = ulen;

	if (unlikely(READ_ONCE(sk->sk_peek_off) >= 0)) {
		slow = lock_sock_fast(sk);
		if (flags & MSG_PEEK)
			sk_peek_offset_fwd(sk, copied);
		else
			sk_peek_offset_bwd(sk, ulen);
		unlock_sock_fast(sk, slow);
	}
	skb_free_datagram(sk, skb);
	return err;
}

/* Not const: .family follows the "family" parameter, set at init. */
static struct proto_ops mhost_dgram_ops __ro_after_init = {
	.family		= AF_MHOST,
	.owner		= THIS_MODULE,
	.release	= mhost_release,
	.bind		= mhost_bind,
	.connect	= mhost_connect,
	.socketpair	= sock_no_socketpair,
	.accept		= sock_no_accept,
	.getname	= mhost_getname,
	.poll		= mhost_poll,
	.ioctl		= mhost_ioctl,
	.gettstamp	= sock_gettstamp,
	.listen		= sock_no_listen,
	.shutdown	= mhost_shutdown,
	.setsockopt	= mhost_setsockopt,
	.getsockopt	= mhost_getsockopt,
	.sendmsg	= mhost_sendmsg,
	.recvmsg	= mhost_recvmsg,
	.mmap		= sock_no_mmap,
	.set_peek_off	= sk_set_peek_off,
};

static int mhost_create(struct net *net, struct socket *sock, int protocol,
			int kern)
{
	struct mhost_net *mn = mhost_pernet(net);
	struct mhost_sock *ms;
	struct sock *sk;
	int err;

	if (sock->type != SOCK_DGRAM)
		return -ESOCKTNOSUPPORT;
	if (protocol && protocol != IPPROTO_UDP)
		return -EPROTONOSUPPORT;

	sk = sk_alloc(net, mhost_family, GFP_KERNEL, &udpmhost_prot, kern);
	if (!sk)
		return -ENOBUFS;
	ms = mhost_sk(sk);

	sock->ops = &mhost_dgram_ops;
	sock_init_data(sock, sk);
	sk->sk_protocol = IPPROTO_UDP;
	sk->sk_destruct = mhost_sock_destruct;
	/* The receive paths find sockets under RCU (route.c). */
	sock_set_flag(sk, SOCK_RCU_FREE);
#ifdef MHOST_HAVE_CUSTOM_SOCKOPT
	/* SOL_SOCKET options come to mhost_setsockopt() too. */
	set_bit(SOCK_CUSTOM_SOCKOPT, &sock->flags);
#endif

	err = mhost_tsock_create(sk, kern);
	if (err)
		goto free;

	err = xa_alloc_cyclic(&mn->socks, &ms->id, ms, xa_limit_32b,
			      &mn->socks_next, GFP_KERNEL);
	if (err < 0) {
		mhost_tsock_release(ms);
		goto free;
	}
	atomic_inc(&mn->nsocks);
	trace_mhost_sock_create(sk);
	/* From now on the namespace answers probes of its peers. */
	mhost_live_use(mn);
	return 0;

free:
	sock->sk = NULL;
	sk_free(sk);
	return err;
}

static struct net_proto_family mhost_family_ops __ro_after_init = {
	.family	= AF_MHOST,
	.create	= mhost_create,
	.owner	= THIS_MODULE,
};

int mhost_socks_net_init(struct mhost_net *mn)
{
	xa_init_flags(&mn->socks, XA_FLAGS_ALLOC);
	atomic_set(&mn->nsocks, 0);
	return 0;
}

void mhost_socks_net_exit(struct mhost_net *mn)
{
	/* Sockets hold their namespace: none is left. */
	WARN_ON_ONCE(!xa_empty(&mn->socks));
	xa_destroy(&mn->socks);
}

int __init mhost_sock_init(void)
{
	int err;

	BUILD_BUG_ON(sizeof(struct sockaddr_mhost) != 16);
	BUILD_BUG_ON(sizeof(union mhost_addr) > sizeof(struct sockaddr_storage));
	/* The control block must leave SOCK_SKB_CB (drop counts) alone. */
	BUILD_BUG_ON(sizeof(struct mhost_rx_cb) >
		     sizeof_field(struct sk_buff, cb) - sizeof(struct sock_skb_cb));

	err = proto_register(&udpmhost_prot, 1);
	if (err)
		return err;

	mhost_family_ops.family = mhost_family;
	mhost_dgram_ops.family = mhost_family;
	err = sock_register(&mhost_family_ops);
	if (err) {
		pr_err("cannot register address family %d: %d\n",
		       mhost_family, err);
		proto_unregister(&udpmhost_prot);
	}
	return err;
}

void mhost_sock_exit(void)
{
	sock_unregister(mhost_family);
	proto_unregister(&udpmhost_prot);
}
