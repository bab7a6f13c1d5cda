/*
 * smtpc.h — inside the deliver part: the SMTP client (relaying). Other
 * parts see it only as the agent deliver_init() hands to the scheduler.
 */
#ifndef TERN_SMTPC_H
#define TERN_SMTPC_H

#include "deliver/deliver.h"
#include "dsn/dsn.h"
#include "sasl/sasl.h"

#define SMTPC_LINE_MAX 1024

#define SMTPC_CAP_PIPELINING 0x01u
#define SMTPC_CAP_CHUNKING 0x02u
#define SMTPC_CAP_8BITMIME 0x04u
#define SMTPC_CAP_SMTPUTF8 0x08u
#define SMTPC_CAP_SIZE 0x10u
#define SMTPC_CAP_DSN 0x100u /* RFC 3461 */
#define SMTPC_CAP_BINARYMIME 0x20u
#define SMTPC_CAP_STARTTLS 0x40u

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

/*
 * smtpc_mime.c: 7bit conversion of the text on its way out (RFC 6152 3).
 * One per connection; the stage holds converted text being sent.
 */
#define SMTPC_MIME_STEP (1024u * 1024u) /* octets per planning step */

struct smtpc_mime {
	struct mime_conv conv;
	struct queue_span span;
	struct queue_cursor cur;
	struct mime_out count; /* the counting pass */
	bool cur_open;
	bool counting; /* planning: in the counting pass */
	bool ended;
	const char *why; /* after the plan: why it is impossible */
	const unsigned char *piece;
	size_t piece_len;
	size_t piece_off;
	unsigned char stage[8192];
};

/*
 * Plan the conversion of a stored message, step by step: start, then
 * step until it returns 0. Then conv.verdict says whether it is 7bit
 * already, convertible (*size: the converted size) or not (why).
 */
int smtpc_mime_plan_start(struct smtpc_mime *m, const struct queue_span *sp);
int smtpc_mime_plan_step(struct smtpc_mime *m, uint64_t *size);
int smtpc_mime_open(struct smtpc_mime *m, const struct queue_span *sp);
/* 1 with the next piece of converted text, 0 at the end, or -errno. */
int smtpc_mime_next(struct smtpc_mime *m, const void **p, size_t *n);
void smtpc_mime_close(struct smtpc_mime *m);
/* smtpc_tls.c (CONFIG_TLS): STARTTLS by the connector's policy */
struct tls_conn;
enum smtpc_tls_do {
	SMTPC_TLS_SKIP, /* go on in cleartext */
	SMTPC_TLS_START, /* send STARTTLS */
	SMTPC_TLS_FAIL, /* TLS is mandatory and not offered: defer */
};
#if ENABLE_TLS
enum smtpc_tls_do smtpc_tls_decide(const struct conf_connector *cn,
    unsigned caps, bool cleartext_retry);
/* required or verify: never cleartext */
bool smtpc_tls_mandatory(const struct conf_connector *cn);
int smtpc_tls_begin(const struct conf *c, const struct conf_connector *cn,
    int fd, const char *host, struct tls_conn **out);
/* tls_conn_handshake(); on failure a "4.7.5 ..." reason in why */
int
smtpc_tls_handshake(struct tls_conn *t, uint32_t *want, char *why, size_t size);
/* over TLS when t, else on the socket */
ssize_t smtpc_io_read(struct tls_conn *t, int fd, void *buf, size_t n);
ssize_t smtpc_io_write(struct tls_conn *t, int fd, const void *buf, size_t n);
bool smtpc_tls_pending(const struct tls_conn *t);
void smtpc_tls_free(struct tls_conn **t, bool notify);
/* "version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384" for the log */
void smtpc_tls_describe(const struct tls_conn *t, char *buf, size_t size);
#else
static inline enum smtpc_tls_do
smtpc_tls_decide(const struct conf_connector *cn, unsigned caps,
    bool cleartext_retry)
{
	return SMTPC_TLS_SKIP;
}
static inline bool
smtpc_tls_mandatory(const struct conf_connector *cn)
{
	return false;
}
static inline int
smtpc_tls_begin(const struct conf *c, const struct conf_connector *cn, int fd,
    const char *host, struct tls_conn **out)
{
	return -ENOTSUP;
}
static inline int
smtpc_tls_handshake(struct tls_conn *t, uint32_t *want, char *why, size_t size)
{
	return -ENOTSUP;
}
static inline ssize_t
smtpc_io_read(struct tls_conn *t, int fd, void *buf, size_t n)
{
	return net_read(fd, buf, n);
}
static inline ssize_t
smtpc_io_write(struct tls_conn *t, int fd, const void *buf, size_t n)
{
	return net_write(fd, buf, n);
}
static inline bool
smtpc_tls_pending(const struct tls_conn *t)
{
	return false;
}
static inline void
smtpc_tls_free(struct tls_conn **t, bool notify)
{
}
static inline void
smtpc_tls_describe(const struct tls_conn *t, char *buf, size_t size)
{
}
#endif

/* smtpc_auth.c: outbound AUTH (any CONFIG_SASL_*) */
struct smtpc_auth {
	struct sasl_cli cli;
	bool active;
};

#if ENABLE_SASL
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
