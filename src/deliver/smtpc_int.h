/*
 * smtpc_int.h — shared by the smtpc*.c files only: the client's session,
 * the connection cache (smtpc_conn.c), and the functions the session
 * (smtpc.c) and the text (smtpc_body.c) call in each other.
 */
#ifndef TERN_SMTPC_INT_H
#define TERN_SMTPC_INT_H

#include "deliver/smtpc.h"

#define SMTPC_BATCH 100 /* recipients per transaction (4.5.3.1.8) */
#define SMTPC_CHUNK 16384 /* BDAT chunk */
#define SMTPC_BDAT_HDR 32 /* room for "BDAT nnnnn LAST\r\n" */
#define SMTPC_KEY 300
#define SMTPC_IDLE_MS 5000 /* a kept connection waits this long */
#define SMTPC_WAIT_MS 50 /* a delivery waiting for a connection slot */
#define SMTPC_DESTS 64
#define SMTPC_PER_DEST 10 /* connections per destination by default */
#define SMTPC_MSGS_PER_CONN 100
#define SMTPC_SLOW_START 4 /* turns to wait for a busy connection first */
/* the stored BODY= (enum smtp_body of the smtp part) */
#define SMTPC_BODY_7BIT 1
#define SMTPC_BODY_8BITMIME 2
#define SMTPC_BODY_BINARYMIME 3

enum smtpc_state {
	SC_CONNECT,
	SC_GREET,
	SC_EHLO,
	SC_HELO,
	SC_PLAN, /* planning a 7bit conversion before MAIL */
	SC_AUTH, /* AUTH exchange with the smart host (smtpc_auth.c) */
	SC_ENVELOPE, /* MAIL and RCPT replies */
	SC_DATA, /* waiting for 354 */
	SC_BODY, /* sending the text after DATA */
	SC_DOT, /* waiting for the reply to the end of data */
	SC_BDAT, /* sending chunks, reading their replies */
	SC_QUIT,
	SC_STARTTLS, /* waiting for the 220 to STARTTLS */
	SC_TLS, /* the TLS handshake */
};

struct tls_conn;

struct smtpc {
	struct ev_io io;
	const struct conf *conf; /* held from the job's start to its end */
	struct smtpc_auth auth;
	struct ev_timer timer;
	struct handle h;
	struct dsched_job *job;
	enum smtpc_state state;
	char domain[256];
	struct router_route route;
	struct route_target targets[ROUTE_TARGETS_MAX];
	uint32_t ntargets;
	uint32_t tnext; /* the next target to try */
	struct queue_envelope env;
	uint32_t nr; /* recipients of this domain in this transaction */
	uint32_t idx[SMTPC_BATCH];
	char addr[SMTPC_BATCH][256];
	uint8_t final[SMTPC_BATCH]; /* 0: open; else enum queue_rcpt_state */
	bool accepted[SMTPC_BATCH];
	uint8_t notify[SMTPC_BATCH]; /* DSN NOTIFY bits */
	uint16_t orcpt[SMTPC_BATCH]; /* offset+1 in orcpt_mem, 0: none */
	uint16_t orcpt_used;
	char orcpt_mem[2048]; /* ORCPTs as xtext; what does not fit is left */
	uint32_t naccepted;
	uint32_t sent; /* envelope commands sent */
	uint32_t replied; /* envelope replies read */
	unsigned mail_code;
	unsigned caps;
	uint64_t peer_size;
	struct queue_cursor cur;
	bool cur_open;
	bool convert; /* the text goes through the 7bit converter */
	bool planned; /* the body plan for this transaction is made */
	uint8_t body_out; /* BODY= sent: 0 none, else SMTPC_BODY_* */
	uint64_t send_size; /* the size of what is sent (SIZE=) */
	const unsigned char *piece;
	size_t piece_len;
	size_t piece_off;
	bool text_done;
	char prev; /* the last byte of text sent, for CRLF and dots */
	uint32_t bdat_due; /* BDAT replies outstanding */
	unsigned bdat_bad; /* first failing BDAT reply code */
	char bdat_text[200];
	struct smtpc_reply rep;
	char key[SMTPC_KEY]; /* the destination, for limits and reuse */
	bool slot; /* counted in the destination's connections */
	bool reused; /* on a connection kept from an earlier message */
	bool clean; /* the last transaction ended with its reply */
	uint32_t nmsgs; /* messages over this connection */
	uint32_t waits; /* turns waited for a kept connection */
	bool waiting; /* for a connection to the destination */
	struct tls_conn *tls; /* non-NULL once STARTTLS completed */
	struct tls_conn *tls_hs; /* handshake running */
	uint32_t notls; /* this target (tnext) again in cleartext */
	struct buf in;
	struct buf out;
	char inmem[4096];
	char outmem[SMTPC_CHUNK + SMTPC_BDAT_HDR + 64];
	struct smtpc_mime mime; /* not cleared per job: large */
};

/* A connection kept open after a message, for the next one there. */
struct smtpc_idle {
	struct ev_io io;
	struct ev_timer timer;
	char key[SMTPC_KEY];
	struct route_target target;
	unsigned caps;
	uint64_t peer_size;
	uint32_t sent;
	struct tls_conn *tls; /* the connection is on TLS */
	bool used;
};

/* Connections open (or kept) per destination, and per connector. */
struct smtpc_dest {
	char key[SMTPC_KEY];
	uint32_t active;
};

/* the client: its configuration, sessions, kept connections, limits */
struct smtpc_global {
	const struct conf *conf;
	struct pool conns;
	struct smtpc_idle idle[CONFIG_DSCHED_JOBS];
	struct smtpc_dest dests[SMTPC_DESTS];
};

extern struct smtpc_global smtpc_g;

/* smtpc.c: the session */
void smtpc_settle_open(struct smtpc *s, unsigned code, const char *text,
    bool only_accepted);
void smtpc_finish(struct smtpc *s);
void smtpc_wait(struct smtpc *s);
void smtpc_envelope(struct smtpc *s);
void smtpc_send(struct smtpc *s, const char *fmt, ...);
bool smtpc_flush(struct smtpc *s);
void smtpc_on_io(struct ev_io *io, uint32_t events);

/* smtpc_conn.c: the connection cache, limits and slow start */
struct smtpc_dest *smtpc_conn_dest(const char *key, bool add);
void smtpc_conn_release(struct smtpc *s);
void smtpc_conn_idle_close(struct smtpc_idle *c, bool quit);
bool smtpc_conn_park(struct smtpc *s);
void smtpc_conn_key(struct smtpc *s);
void smtpc_conn_start_route(struct smtpc *s);

/* smtpc_body.c: the body plan, DATA with dot-stuffing, BDAT chunks */
int smtpc_body_plan(struct smtpc *s);
void smtpc_body_start(struct smtpc *s);
void smtpc_body_pump(struct smtpc *s);
void smtpc_body_on_bdat(struct smtpc *s, const struct smtpc_reply *r);
void smtpc_body_close(struct smtpc *s);

#endif
