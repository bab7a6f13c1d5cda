/*
 * deliver.h — delivery agents. For now one: local mailboxes in the drop
 * directory, Maildir style (<drop>/<domain>/<mailbox>/{tmp,new,cur}).
 *
 * A message is staged once in <drop>/.incoming while it arrives, then
 * hard-linked into each recipient's tmp/ and renamed into new/, with the
 * file and every directory touched fsynced before deliver_commit()
 * returns: only then may the server say 250.
 */
#ifndef TERN_DELIVER_H
#define TERN_DELIVER_H

#include "core/core.h"

struct conf;

struct deliver_msg {
	int fd; /* -1: nothing staged */
	char name[128]; /* unique Maildir file name */
	uint64_t size;
};

struct deliver_rcpt {
	const char *domain;
	const char *mailbox;
};

/* Create the drop directory and the Maildirs of every configured mailbox. */
int deliver_init(const struct conf *c);
/* Stage a new message file named after id. */
int deliver_begin(struct deliver_msg *m, const char *id);
/* Append bytes to the staged file (all of them, or an error). */
int deliver_write(struct deliver_msg *m, const void *data, size_t n);
/* Make the staged file durable and visible in every mailbox; n >= 1. */
int deliver_commit(struct deliver_msg *m, const struct deliver_rcpt *rcpts,
    uint32_t n);
/* Throw the staged file away (refused or broken transaction). */
void deliver_abort(struct deliver_msg *m);

#endif
