/*
 * deliver_local.c — local delivery into Maildir mailboxes under the drop
 * directory. Durability: the staged file is fdatasync'ed, each link into
 * tmp/ and rename into new/ is followed by an fsync of the directories
 * that changed, so a 250 means the message survives a crash. Two
 * recipients that reach the same mailbox get one copy (link says EEXIST).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf/conf.h"
#include "deliver/deliver.h"

static const char *deliver_drop;
static char deliver_host[64];

/* snprintf into a PATH_MAX buffer; a path that does not fit is an error */
static int PRINTF_LIKE(2, 3) deliver_pathf(char *out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static int
deliver_mkdir(const char *path)
{
	if (mkdir(path, 0750) < 0 && errno != EEXIST) {
		return -errno;
	}
	return 0;
}

/* mkdir -p */
static int
deliver_mkdirs(const char *path)
{
	char tmp[PATH_MAX];
	size_t k;
	int rc;

	if (str_copy(tmp, path, sizeof(tmp)) >= sizeof(tmp)) {
		return -ENAMETOOLONG;
	}
	for (k = 1; tmp[k] != '\0'; k++) {
		if (tmp[k] == '/') {
			tmp[k] = '\0';
			rc = deliver_mkdir(tmp);
			tmp[k] = '/';
			if (rc < 0) {
				return rc;
			}
		}
	}
	return deliver_mkdir(tmp);
}

static int
deliver_maildir(const char *domain, const char *mailbox)
{
	static const char *const sub[] = { "tmp", "new", "cur" };
	char path[PATH_MAX];
	size_t k;
	int rc;

	for (k = 0; k < ARRAY_SIZE(sub); k++) {
		rc = deliver_pathf(path, "%s/%s/%s/%s", deliver_drop, domain,
		    mailbox, sub[k]);
		if (rc == 0) {
			rc = deliver_mkdirs(path);
		}
		if (rc < 0) {
			return rc;
		}
	}
	return 0;
}

int
deliver_init(const struct conf *c)
{
	char path[PATH_MAX];
	uint32_t d, m;
	size_t k;
	int rc;

	deliver_drop = c->drop;
	/* Maildir names may not hold "/" or ":" (the info separator) */
	str_copy(deliver_host, c->hostname, sizeof(deliver_host));
	for (k = 0; deliver_host[k] != '\0'; k++) {
		if (deliver_host[k] == '/' || deliver_host[k] == ':') {
			deliver_host[k] = '_';
		}
	}
	rc = deliver_pathf(path, "%s/.incoming", c->drop);
	if (rc == 0) {
		rc = deliver_mkdirs(path);
	}
	for (d = 0; rc == 0 && d < c->ndomains; d++) {
		for (m = 0; rc == 0 && m < c->domains[d].nmailboxes; m++) {
			rc = deliver_maildir(c->domains[d].name,
			    c->domains[d].mailboxes[m]);
		}
	}
	return rc;
}

int
deliver_begin(struct deliver_msg *m, const char *id)
{
	char path[PATH_MAX];

	snprintf(m->name, sizeof(m->name), "%lld.Q%s.%s", (long long)time(NULL),
	    id, deliver_host);
	m->size = 0;
	m->fd = -1;
	if (deliver_pathf(path, "%s/.incoming/%s", deliver_drop, m->name) < 0) {
		return -ENAMETOOLONG;
	}
	m->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	return m->fd < 0 ? -errno : 0;
}

int
deliver_write(struct deliver_msg *m, const void *data, size_t n)
{
	const char *p = data;
	ssize_t w;

	while (n > 0) {
		w = write(m->fd, p, n);
		if (w < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		p += w;
		n -= (size_t)w;
		m->size += (uint64_t)w;
	}
	return 0;
}

static int
deliver_fsync_dir(const char *path)
{
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	if (fsync(fd) < 0) {
		rc = -errno;
	}
	close(fd);
	return rc;
}

/* link the staged file into <mbox>/tmp, rename into <mbox>/new */
static int
deliver_one(const char *staged, const char *name, const struct deliver_rcpt *r)
{
	char tmp[PATH_MAX], new[PATH_MAX], dir[PATH_MAX];
	int rc;

	if (deliver_pathf(dir, "%s/%s/%s", deliver_drop, r->domain,
	        r->mailbox) < 0 ||
	    deliver_pathf(tmp, "%s/tmp/%s", dir, name) < 0 ||
	    deliver_pathf(new, "%s/new/%s", dir, name) < 0) {
		return -ENAMETOOLONG;
	}
	if (access(new, F_OK) == 0) {
		return 0; /* same mailbox twice in one message */
	}
	if (link(staged, tmp) < 0) {
		rc = -errno;
		if (rc != -ENOENT) {
			return rc;
		}
		/* a mailbox added since start: make its Maildir */
		rc = deliver_maildir(r->domain, r->mailbox);
		if (rc < 0 || link(staged, tmp) < 0) {
			return rc < 0 ? rc : -errno;
		}
	}
	if (rename(tmp, new) < 0) {
		rc = -errno;
		unlink(tmp);
		return rc;
	}
	rc = deliver_pathf(tmp, "%s/new", dir);
	if (rc == 0) {
		rc = deliver_fsync_dir(tmp);
	}
	if (rc == 0) {
		rc = deliver_pathf(tmp, "%s/tmp", dir);
	}
	return rc == 0 ? deliver_fsync_dir(tmp) : rc;
}

int
deliver_commit(struct deliver_msg *m, const struct deliver_rcpt *rcpts,
    uint32_t n)
{
	char staged[PATH_MAX];
	uint32_t k;
	int rc;

	rc = deliver_pathf(staged, "%s/.incoming/%s", deliver_drop, m->name);
	if (rc == 0 && fdatasync(m->fd) < 0) {
		rc = -errno;
	}
	for (k = 0; rc == 0 && k < n; k++) {
		rc = deliver_one(staged, m->name, &rcpts[k]);
	}
	close(m->fd);
	m->fd = -1;
	unlink(staged);
	return rc;
}

void
deliver_abort(struct deliver_msg *m)
{
	char staged[PATH_MAX];

	if (m->fd < 0) {
		return;
	}
	close(m->fd);
	m->fd = -1;
	if (deliver_pathf(staged, "%s/.incoming/%s", deliver_drop, m->name) ==
	    0) {
		unlink(staged);
	}
}
