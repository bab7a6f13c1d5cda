/*
 * jrnl_fault.c — CONFIG_DEBUG_FAULTS: the journal's writes and syncs with
 * faults injected on request, for the storage-fault tests. The plan comes
 * from the environment:
 *
 *   TERN_FAULT="write:N:KIND,sync:N:KIND"
 *
 * N counts calls from 1; KIND is fail (EIO), nospc (ENOSPC), short (half
 * the bytes, then ENOSPC) or tear (half the bytes, then the process dies
 * with SIGKILL, as at a power cut). Each entry fires once.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/jrnl.h"

enum jrnl_fault_kind { JRNL_F_FAIL, JRNL_F_NOSPC, JRNL_F_SHORT, JRNL_F_TEAR };

struct jrnl_fault {
	bool sync;
	uint64_t n;
	enum jrnl_fault_kind kind;
};

static struct jrnl_fault jrnl_faults[8];
static unsigned jrnl_nfaults;
static uint64_t jrnl_nwrites, jrnl_nsyncs;

static bool
jrnl_fault_parse_one(const char *s, struct jrnl_fault *f)
{
	char op[8], kind[8];
	unsigned long long n;

	if (sscanf(s, "%7[a-z]:%llu:%7[a-z]", op, &n, kind) != 3 || n == 0) {
		return false;
	}
	f->sync = strcmp(op, "sync") == 0;
	f->n = n;
	if (!f->sync && strcmp(op, "write") != 0) {
		return false;
	}
	if (strcmp(kind, "fail") == 0) {
		f->kind = JRNL_F_FAIL;
	} else if (strcmp(kind, "nospc") == 0) {
		f->kind = JRNL_F_NOSPC;
	} else if (strcmp(kind, "short") == 0) {
		f->kind = JRNL_F_SHORT;
	} else if (strcmp(kind, "tear") == 0) {
		f->kind = JRNL_F_TEAR;
	} else {
		return false;
	}
	return true;
}

void
jrnl_io_init(void)
{
	const char *plan = getenv("TERN_FAULT");
	char buf[256], *tok, *save = NULL;

	if (plan == NULL) {
		return;
	}
	str_copy(buf, plan, sizeof(buf));
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (jrnl_nfaults == ARRAY_SIZE(jrnl_faults) ||
		    !jrnl_fault_parse_one(tok, &jrnl_faults[jrnl_nfaults])) {
			fatal("TERN_FAULT: cannot use '%s' (op:N:kind)", tok);
		}
		jrnl_nfaults++;
	}
	log_warn("fault injection plan=%s", plan);
}

static const struct jrnl_fault *
jrnl_fault_due(bool sync, uint64_t n)
{
	unsigned k;

	for (k = 0; k < jrnl_nfaults; k++) {
		if (jrnl_faults[k].sync == sync && jrnl_faults[k].n == n) {
			return &jrnl_faults[k];
		}
	}
	return NULL;
}

int
jrnl_io_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	const struct jrnl_fault *f = jrnl_fault_due(false, ++jrnl_nwrites);
	if (f != NULL) {
		log_warn("fault write=%llu kind=%d", (unsigned long long)f->n,
		    (int)f->kind);
		if (f->kind == JRNL_F_SHORT || f->kind == JRNL_F_TEAR) {
			if (pwrite(fd, buf, len / 2, (off_t)off) < 0) {
				return -errno;
			}
		}
		if (f->kind == JRNL_F_TEAR) {
			kill(getpid(), SIGKILL);
		}
		return f->kind == JRNL_F_FAIL ? -EIO : -ENOSPC;
	}
	return fs_pwrite_all(fd, buf, len, (int64_t)off);
}

int
jrnl_io_datasync(int fd)
{
	const struct jrnl_fault *f = jrnl_fault_due(true, ++jrnl_nsyncs);

	if (f != NULL) {
		log_warn("fault sync=%llu kind=%d", (unsigned long long)f->n,
		    (int)f->kind);
		if (f->kind == JRNL_F_TEAR) {
			kill(getpid(), SIGKILL);
		}
		return f->kind == JRNL_F_NOSPC ? -ENOSPC : -EIO;
	}
	return fdatasync(fd) < 0 ? -errno : 0;
}
