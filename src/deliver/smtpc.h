/*
 * smtpc.h — inside the deliver part: the SMTP client (relaying). Other
 * parts see it only as the agent deliver_init() hands to the scheduler.
 */
#ifndef TERN_SMTPC_H
#define TERN_SMTPC_H

#include "deliver/deliver.h"
#include "sasl/sasl.h"

#define SMTPC_LINE_MAX 1024

#define SMTPC_CAP_PIPELINING 0x01u
#define SMTPC_CAP_CHUNKING 0x02u
#define SMTPC_CAP_8BITMIME 0x04u
#define SMTPC_CAP_SMTPUTF8 0x08u
#define SMTPC_CAP_SIZE 0x10u

struct smtpc_reply {
	unsigned code;
	unsigned lines;
	unsigned caps; /* EHLO: SMTPC_CAP_* offered */
	uint64_t size; /* EHLO: SIZE limit, 0 for none */
	unsigned auth; /* EHLO: AUTH mechanisms offered (CONF_AUTH_*) */
	char text[200];
};

/*
 * One complete reply from buf: 1 (and *used), 0 when more input is
 * needed, -1 when the peer does not speak SMTP. With ehlo, the keywords.
 */
int smtpc_reply_parse(const char *buf, size_t len, bool ehlo,
    struct smtpc_reply *r, size_t *used);

/* smtpc_auth.c: outbound AUTH (any CONFIG_SASL_*) */
struct smtpc_auth {
	struct sasl_cli cli;
	bool active;
};

#if ENABLE_SASL
/* Read the connectors' password files (start-up; fatal on errors). */
void smtpc_auth_init(const struct conf *c);
/* The value of an EHLO AUTH keyword -> CONF_AUTH_* bits. */
unsigned smtpc_auth_keyword(const char *s, size_t n);
/*
 * After EHLO: AUTH if the connector says so. 1: a command is queued in
 * out (wait for its reply); 0: nothing to do; -1: cannot (why says).
 */
int smtpc_auth_begin(struct smtpc_auth *a, const struct conf *c,
    const struct conf_connector *cn, unsigned offered, bool tls,
    struct buf *out, char *why, size_t wsize);
/* A reply during AUTH: 1 a response is queued; 0 done; -1 failed. */
int smtpc_auth_reply(struct smtpc_auth *a, const struct smtpc_reply *r,
    struct buf *out, char *why, size_t wsize);
void smtpc_auth_end(struct smtpc_auth *a);
#else
static inline void
smtpc_auth_init(const struct conf *c)
{
}
static inline unsigned
smtpc_auth_keyword(const char *s, size_t n)
{
	return 0;
}
static inline int
smtpc_auth_begin(struct smtpc_auth *a, const struct conf *c,
    const struct conf_connector *cn, unsigned offered, bool tls,
    struct buf *out, char *why, size_t wsize)
{
	return 0;
}
static inline int
smtpc_auth_reply(struct smtpc_auth *a, const struct smtpc_reply *r,
    struct buf *out, char *why, size_t wsize)
{
	return -1;
}
static inline void
smtpc_auth_end(struct smtpc_auth *a)
{
}
#endif

#endif
