/*
 * net_sock.c — the transport over kernel sockets: non-blocking,
 * close-on-exec, IPv4 and IPv6 (an IPv6 listener is IPv6-only, so
 * "0.0.0.0:25" and "[::]:25" can both be listed).
 */
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/net.h"

static int
net_port(const char *s, uint16_t *port)
{
	char *end;
	long v;

	if (*s == '\0') {
		return -EINVAL;
	}
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < 1 || v > 65535) {
		return -EINVAL;
	}
	*port = (uint16_t)v;
	return 0;
}

int
net_addr_parse(const char *s, struct net_addr *a)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon;
	uint16_t port;
	size_t n;

	memset(a, 0, sizeof(*a));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':') {
			return -EINVAL;
		}
		n = (size_t)(close - s - 1);
		colon = close + 1;
		if (n >= sizeof(host)) {
			return -EINVAL;
		}
		memcpy(host, s + 1, n);
		host[n] = '\0';
		if (net_port(colon + 1, &port) < 0 ||
		    inet_pton(AF_INET6, host, &a->u.in6.sin6_addr) != 1) {
			return -EINVAL;
		}
		a->u.in6.sin6_family = AF_INET6;
		a->u.in6.sin6_port = htons(port);
		a->len = sizeof(a->u.in6);
		return 0;
	}
	colon = strrchr(s, ':');
	if (colon == NULL || (size_t)(colon - s) >= sizeof(host)) {
		return -EINVAL;
	}
	n = (size_t)(colon - s);
	memcpy(host, s, n);
	host[n] = '\0';
	if (net_port(colon + 1, &port) < 0) {
		return -EINVAL;
	}
	if (strcmp(host, "*") == 0) {
		a->u.in4.sin_addr.s_addr = htonl(INADDR_ANY);
	} else if (inet_pton(AF_INET, host, &a->u.in4.sin_addr) != 1) {
		return -EINVAL;
	}
	a->u.in4.sin_family = AF_INET;
	a->u.in4.sin_port = htons(port);
	a->len = sizeof(a->u.in4);
	return 0;
}

void
net_addr_host(const struct net_addr *a, char *out, size_t size)
{
	const void *src = a->u.sa.sa_family == AF_INET6 ?
	    (const void *)&a->u.in6.sin6_addr :
	    (const void *)&a->u.in4.sin_addr;

	if (inet_ntop(a->u.sa.sa_family, src, out, (socklen_t)size) == NULL) {
		str_copy(out, "?", size);
	}
}

void
net_addr_fmt(const struct net_addr *a, char *out, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	net_addr_host(a, host, sizeof(host));
	if (a->u.sa.sa_family == AF_INET6) {
		snprintf(out, size, "[%s]:%u", host, ntohs(a->u.in6.sin6_port));
	} else {
		snprintf(out, size, "%s:%u", host, ntohs(a->u.in4.sin_port));
	}
}

bool
net_addr_equal(const struct net_addr *a, const struct net_addr *b)
{
	return a->len == b->len && memcmp(&a->u, &b->u, a->len) == 0;
}

int
net_listen(const struct net_addr *a, int backlog)
{
	int fd, one = 1, rc;

	fd = socket(a->u.sa.sa_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->u.sa.sa_family == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	if (bind(fd, &a->u.sa, a->len) < 0 || listen(fd, backlog) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/*
 * Replies and commands are written whole, a flush at a time: Nagle's
 * delay would only hold the last piece back for the peer's delayed ACK.
 */
static void
net_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int
net_accept(int lfd, struct net_addr *peer)
{
	int fd;

	peer->len = sizeof(peer->u);
	fd = accept4(lfd, &peer->u.sa, &peer->len,
	    SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	net_nodelay(fd);
	return fd;
}

ssize_t
net_read(int fd, void *buf, size_t n)
{
	ssize_t r;

	do {
		r = recv(fd, buf, n, 0);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

ssize_t
net_write(int fd, const void *buf, size_t n)
{
	ssize_t r;

	do {
		r = send(fd, buf, n, MSG_NOSIGNAL);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

bool
net_pending(int fd)
{
	char c;

	return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

void
net_close(int fd)
{
	if (fd >= 0) {
		close(fd);
	}
}

void
net_shutdown_write(int fd)
{
	shutdown(fd, SHUT_WR);
}

int
net_connect(const struct net_addr *a)
{
	int fd, rc;

	fd = socket(a->u.sa.sa_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	net_nodelay(fd);
	if (connect(fd, &a->u.sa, a->len) < 0 && errno != EINPROGRESS) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

int
net_connect_result(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
		return -errno;
	}
	return -err;
}
