/*
 * deliver.h — delivery agents. For now one: local mailboxes in the drop
 * directory, Maildir style (<drop>/<domain>/<mailbox>/{tmp,new,cur}), fed
 * by the scheduler from the queue and run on a worker thread of its own so
 * that mailbox writes and syncs never hold up the event loop.
 */
#ifndef TERN_DELIVER_H
#define TERN_DELIVER_H

#include "route/route.h"

/*
 * Create the drop directory and the Maildir of every configured mailbox,
 * start the worker; the agent to give the scheduler.
 */
int deliver_init(const struct conf *c, const struct dsched_agent **agent);
/* The SMTP client: the agent for recipients to relay. */
int smtpc_init(const struct conf *c, const struct dsched_agent **agent);
/* New jobs use c; connections kept open are closed (reload). */
void smtpc_reload(const struct conf *c);

/*
 * Each connector's `auth password-file` into cn->auth_password (start,
 * reload; heap memory, wiped and freed by smtpc_auth_unload()).
 */
#if ENABLE_SASL
int smtpc_auth_load(struct conf *c, conf_report_fn report, void *ctx);
void smtpc_auth_unload(struct conf *c);
#else
static inline int
smtpc_auth_load(struct conf *c, conf_report_fn report, void *ctx)
{
	return 0;
}
static inline void
smtpc_auth_unload(struct conf *c)
{
}
#endif
void deliver_fini(void);

#endif
