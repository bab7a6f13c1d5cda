/*
 * net.h — the transport interface: addresses, listening, accepting and
 * non-blocking reads and writes. The kernel-socket backend (net_sock.c)
 * is the default; an lwIP backend will implement the same functions.
 * Errors are negative errno values.
 */
#ifndef TERN_NET_H
#define TERN_NET_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "core/core.h"

struct net_addr {
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
		struct sockaddr_storage ss;
	} u;
	socklen_t len;
};

#define NET_ADDR_TEXT 64 /* "[ffff:...:ffff]:65535" fits */

/* "1.2.3.4:25", "[::1]:25", "*:25" (all IPv4), "[::]:25"; port required. */
int net_addr_parse(const char *s, struct net_addr *a);
/* The address without the port ("127.0.0.1", "::1"). */
void net_addr_host(const struct net_addr *a, char *out, size_t size);
/* With the port ("127.0.0.1:25", "[::1]:25"). */
void net_addr_fmt(const struct net_addr *a, char *out, size_t size);
bool net_addr_equal(const struct net_addr *a, const struct net_addr *b);

/* A non-blocking listening socket; a negative errno when it cannot bind. */
int net_listen(const struct net_addr *a, int backlog);
/* Start a non-blocking connection; done when the socket is writable. */
int net_connect(const struct net_addr *a);
/* The result of a connection started by net_connect (0 or -errno). */
int net_connect_result(int fd);
/* One pending connection, non-blocking; -EAGAIN when there is none. */
int net_accept(int lfd, struct net_addr *peer);
/* > 0 bytes, 0 at end of stream, -EAGAIN, or another negative errno. */
ssize_t net_read(int fd, void *buf, size_t n);
/* Bytes written (may be short), -EAGAIN, or a negative errno; no SIGPIPE. */
ssize_t net_write(int fd, const void *buf, size_t n);
/* Is there input waiting already (before the greeting)? */
bool net_pending(int fd);
/* No more output from us (the peer reads end of stream). */
void net_shutdown_write(int fd);
void net_close(int fd);

#endif
