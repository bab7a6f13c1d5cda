/*
 * smtpd_int.h — shared by the smtpd_*.c files only: the session, the
 * transaction, and the functions the session's pieces call in each other.
 */
#ifndef TERN_SMTPD_INT_H
#define TERN_SMTPD_INT_H

#include "conf/conf.h"
#include "net/net.h"
#include "queue/queue.h"
#include "sasl/sasl.h"
#include "smtp/smtp.h"

#define SMTPD_IN_SIZE 2048 /* > one command line; DATA reads this much */
#define SMTPD_OUT_SIZE 1024 /* pipelined replies before a flush */
#define SMTPD_REPLY_MAX 512 /* room kept free for the next reply */

enum smtpd_state {
	SMTPD_S_GREET_WAIT, /* greeting delayed; input now is an error */
	SMTPD_S_CONNECTED, /* greeted; no HELO/EHLO yet */
	SMTPD_S_HELO, /* no transaction */
	SMTPD_S_MAIL, /* sender given */
	SMTPD_S_RCPT, /* at least one recipient */
	SMTPD_S_DATA, /* message text arriving */
	SMTPD_S_BDAT, /* BDAT transaction between chunks (RFC 3030) */
	SMTPD_S_COMMIT, /* end of data: waiting for the journal's sync */
	SMTPD_S_CLOSING, /* last reply queued; close when flushed */
	SMTPD_S_DRAIN, /* reply sent, our side shut: discard input */
	SMTPD_S_COUNT
};

#define SMTPD_ST(s) (1u << (s))

struct tls_conn;

struct smtpd_txn {
	struct smtp_path from;
	struct smtp_mail_params params;
	struct smtp_data data;
	struct queue_msg *qm; /* from the first accepted recipient */
	char first_rcpt[SMTP_PATH_MAX];
	uint32_t nrcpt; /* accepted RCPT commands */
	bool failed; /* the journal refused a piece: 451 at the end */
};

struct tls_conn;
struct smtpd_auth;

struct smtpd_session {
	struct ev_io io;
	struct ev_timer timer;
	struct handle h;
	enum smtpd_state state;
	const struct conf *conf;
	const struct conf_server *srv;
	uint32_t srv_idx;
	struct smtpd_txn *txn;
	uint64_t session_bytes;
	uint32_t errors;
	uint32_t messages;
	bool esmtp;
	bool discard_line; /* skipping the rest of an over-long line */
	bool input_eof;
	bool write_blocked;
	bool paused; /* waiting for journal space or a commit */
	bool retry_cmd; /* the command waits for journal space */
	struct queue_waiter qwait;
	bool chunk_active; /* BDAT octets still to come */
	bool chunk_last;
	uint8_t chunk_reply; /* enum smtp_r when the chunk is refused */
	uint64_t chunk_left;
	struct tls_conn *tls; /* non-NULL once STARTTLS completed */
	struct tls_conn *tls_hs; /* STARTTLS answered, handshake running */
	struct smtpd_auth *auth; /* an AUTH exchange in progress */
	uint32_t auth_failures;
	char auth_user[SASL_USER_MAX + 1]; /* "" until AUTH succeeded */
	struct net_addr peer;
	char peer_ip[46];
	char id[11];
	char helo[SMTP_DOMAIN_MAX + 1];
	struct buf in;
	struct buf out;
	char inmem[SMTPD_IN_SIZE];
	char outmem[SMTPD_OUT_SIZE];
};

static inline bool
smtpd_tls_active(const struct smtpd_session *s)
{
	return s->tls != NULL;
}

/* smtpd_session.c */
void smtpd_session_start(struct smtpd_session *s);
void smtpd_close(struct smtpd_session *s, const char *reason);
void smtpd_set_state(struct smtpd_session *s, enum smtpd_state to);
void smtpd_reply(struct smtpd_session *s, enum smtp_r r, ...);
void smtpd_reply_more(struct smtpd_session *s, enum smtp_r r, ...);
/* queue a last reply and close once it is written */
void smtpd_reply_close(struct smtpd_session *s, enum smtp_r r, ...);
const char *smtpd_hostname(const struct smtpd_session *s);
void smtpd_session_kick(struct smtpd_session *s);
/* In the middle of a message (DATA, a BDAT chunk, a commit)? */
bool smtpd_session_busy(const struct smtpd_session *s);
extern bool smtpd_stopping; /* shutting down: 421 after the message */
void smtpd_txn_end(struct smtpd_session *s);

/* smtpd_cmd.c */
void smtpd_command(struct smtpd_session *s, const char *line, size_t len);

/* smtpd_data.c */
/* Start the message text with the trace header; the scanner reset. */
int smtpd_msg_stage(struct smtpd_session *s);
/* Append scanned text to the journal (room was checked). */
void smtpd_msg_write(struct smtpd_session *s, const char *p, size_t n);
bool smtpd_msg_oversize(const struct smtpd_session *s, uint64_t size);
/* The verdict, the commit and the reply; ends the transaction. */
void smtpd_msg_end(struct smtpd_session *s, bool bdat);
void smtpd_data_begin(struct smtpd_session *s);
/* Consume DATA input; false when it needs more. */
bool smtpd_data_feed(struct smtpd_session *s);

/* smtpd_auth.c (any CONFIG_SASL_*) */
#if ENABLE_SASL
/* The user database and the exchange pool (start-up; fatal on errors). */
void smtpd_auth_init(const struct conf *c);
void smtpd_cmd_auth(struct smtpd_session *s, const struct smtp_cmd *c);
/* A response line of the exchange in progress (CRLF included). */
void smtpd_auth_line(struct smtpd_session *s, const char *line, size_t len);
/* "250-AUTH PLAIN ..." when the session may authenticate. */
void smtpd_auth_ehlo(struct smtpd_session *s);
/* The session ends: wipe and release the exchange. */
void smtpd_auth_end(struct smtpd_session *s);
#else
static inline void
smtpd_auth_init(const struct conf *c)
{
}
static inline void
smtpd_auth_line(struct smtpd_session *s, const char *line, size_t len)
{
}
static inline void
smtpd_auth_ehlo(struct smtpd_session *s)
{
}
static inline void
smtpd_auth_end(struct smtpd_session *s)
{
}
#endif
/* Is AUTH in this session's EHLO (mechanisms, and TLS or plaintext)? */
static inline bool
smtpd_auth_offered(const struct smtpd_session *s)
{
	return ENABLE_SASL && s->srv->auth_mechs != 0 &&
	    (smtpd_tls_active(s) || s->srv->auth_plaintext);
}
static inline bool
smtpd_auth_busy(const struct smtpd_session *s)
{
	return s->auth != NULL;
}
static inline bool
smtpd_authenticated(const struct smtpd_session *s)
{
	return s->auth_user[0] != '\0';
}

/* smtpd_bdat.c (CONFIG_SMTP_CHUNKING) */
void smtpd_cmd_bdat(struct smtpd_session *s, const struct smtp_cmd *c);
#if ENABLE_SMTP_CHUNKING
/* Consume chunk octets; false when it needs more input. */
bool smtpd_bdat_feed(struct smtpd_session *s);
#else
static inline bool
smtpd_bdat_feed(struct smtpd_session *s)
{
	return false; /* no BDAT command, so never a chunk */
}
#endif

/* smtpd_tls.c (CONFIG_TLS): STARTTLS (RFC 3207) */
/* STARTTLS is offered: a usable certificate, and not on TLS already */
static inline bool
smtpd_tls_offer(const struct smtpd_session *s)
{
	return ENABLE_TLS && s->srv->tls_cred != NULL && !smtpd_tls_active(s);
}
#if ENABLE_TLS
void smtpd_cmd_starttls(struct smtpd_session *s, const struct smtp_cmd *c);
/* After the 220: drop pipelined plaintext, run the handshake. */
void smtpd_tls_start(struct smtpd_session *s);
void smtpd_tls_on_io(struct smtpd_session *s, uint32_t events);
ssize_t smtpd_tls_read(struct smtpd_session *s, void *buf, size_t n);
ssize_t smtpd_tls_write(struct smtpd_session *s, const void *buf, size_t n);
bool smtpd_tls_pending(const struct smtpd_session *s);
/* close_notify when on TLS; the connection back to its pool */
void smtpd_tls_close(struct smtpd_session *s);
/* "\r\n\t(version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384)" or "" */
const char *
smtpd_tls_trace(const struct smtpd_session *s, char *buf, size_t size);
#else
static inline void
smtpd_tls_start(struct smtpd_session *s)
{
}
static inline void
smtpd_tls_on_io(struct smtpd_session *s, uint32_t events)
{
}
static inline ssize_t
smtpd_tls_read(struct smtpd_session *s, void *buf, size_t n)
{
	return -ENOTSUP;
}
static inline ssize_t
smtpd_tls_write(struct smtpd_session *s, const void *buf, size_t n)
{
	return -ENOTSUP;
}
static inline bool
smtpd_tls_pending(const struct smtpd_session *s)
{
	return false;
}
static inline void
smtpd_tls_close(struct smtpd_session *s)
{
}
static inline const char *
smtpd_tls_trace(const struct smtpd_session *s, char *buf, size_t size)
{
	return "";
}
#endif

/* smtpd_listen.c */
struct smtpd_txn *smtpd_txn_new(void);
void smtpd_txn_free(struct smtpd_txn *t);
void smtpd_session_free(struct smtpd_session *s);
struct smtpd_session *smtpd_session_find(struct handle h);
/* Room in the journal for a command's records, or pause and retry it. */
bool smtpd_journal_ready(struct smtpd_session *s, size_t bytes);
#define SMTPD_ROOM_RCPT (64 * 700) /* MSG and up to 64 RCPT records */
#define SMTPD_ROOM_STAGE 2048 /* the Received header */
/* Stop reading input until smtpd_resume(). */
void smtpd_pause(struct smtpd_session *s);
void smtpd_resume(struct smtpd_session *s);

#endif
