/*
 * smtpd_auth.c — the AUTH command (RFC 4954) of the receiving server:
 * the EHLO keyword, the exchange of base64 lines with a SASL mechanism
 * (src/sasl/), the per-session failure limit and a back-off per client
 * address across sessions.
 *
 * Policy: AUTH is offered and accepted only over TLS, unless the virtual
 * server says `auth plaintext yes` (otherwise 538 5.7.11). Not inside a
 * transaction (503), not twice (503). "*" cancels (501 5.7.0), bad base64
 * is 501 5.5.2, "=" is an empty initial response (RFC 4954 4). A failed
 * attempt is answered after a delay (1 s, doubling for an address that
 * keeps failing, at most 16 s); the Nth failure of a session (auth
 * max-failures) ends it with 421 4.7.0. Secrets are never logged; the
 * decoded responses and the exchange are zeroised after use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtpd_int.h"
#include "tls/tls.h"

#define SMTPD_AUTH_DELAY_MS 1000
#define SMTPD_AUTH_DELAY_MAX_SHIFT 4
#define SMTPD_AUTH_PEERS 256 /* back-off table entries */
#define SMTPD_AUTH_FORGET_MS (15 * 60 * 1000)
#define SMTPD_AUTH_CHAL_MAX 360 /* its base64 fits one reply */

struct smtpd_auth {
	struct sasl_srv x;
	struct ev_timer delay;
	struct handle session;
	enum smtp_r reply; /* sent when the delay is over */
	uint8_t out[SASL_DATA_MAX];
	uint8_t in[SASL_DATA_MAX];
};

struct smtpd_auth_peer {
	char ip[46];
	uint32_t failures;
	uint64_t last;
};

static struct pool smtpd_auth_pool;
static const struct sasl_db smtpd_auth_nodb;

static void smtpd_users_free(struct sasl_db *db); /* no `users` file */
static struct smtpd_auth_peer smtpd_auth_peers[SMTPD_AUTH_PEERS];

void
smtpd_auth_init(const struct conf *c)
{
	pool_init(&smtpd_auth_pool, "smtpd-auth", sizeof(struct smtpd_auth),
	    CONFIG_SASL_SESSIONS);
}

/*
 * The users of a configuration, at start and at each reload: heap memory
 * of CONFIG_SASL_USERS_MAX entries (calloc: pages are touched only as
 * users fill them), freed with the configuration it belongs to.
 */
int
smtpd_users_load(struct conf *c, conf_report_fn report, void *ctx)
{
	struct sasl_db *db;
	char msg[160];
	int rc, line = 0;

	if (c->users == NULL) {
		return 0;
	}
	db = calloc(1, sizeof(*db));
	if (db != NULL) {
		db->cap = CONFIG_SASL_USERS_MAX;
		db->users = calloc(CONFIG_SASL_USERS_MAX, sizeof(*db->users));
	}
	rc = db == NULL || db->users == NULL ?
	    -ENOMEM :
	    sasl_userdb_load(c->users, db, &line);
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "user database: %s",
		    rc == -EINVAL ? "bad line" :
		        rc == -EEXIST ?
		                    "user given twice" :
		        rc == -ENOSPC ?
		                    "more users than CONFIG_SASL_USERS_MAX" :
		                    strerror(-rc));
		report(ctx, c->users, line, msg);
		smtpd_users_free(db);
		return rc;
	}
	c->userdb = db;
	log_info("auth users=%u file=%s", db->n, c->users);
	return 0;
}

static void
smtpd_users_free(struct sasl_db *db)
{
	if (db == NULL) {
		return;
	}
	if (db->users != NULL) {
		tls_zero(db->users, sizeof(*db->users) * db->cap);
		free(db->users);
	}
	free(db);
}

void
smtpd_users_unload(struct conf *c)
{
	smtpd_users_free(c->userdb);
	c->userdb = NULL;
}

/* Offered at all, and allowed now (TLS, or plaintext allowed)? */
static bool
smtpd_auth_allowed(const struct smtpd_session *s)
{
	return smtpd_tls_active(s) || s->srv->auth_plaintext;
}

void
smtpd_auth_ehlo(struct smtpd_session *s)
{
	size_t k;

	if (!smtpd_auth_offered(s)) {
		return;
	}
	buf_printf(&s->out, "250-AUTH");
	for (k = 0; sasl_mechs[k] != NULL; k++) {
		if (s->srv->auth_mechs & sasl_mechs[k]->bit) {
			buf_printf(&s->out, " %s", sasl_mechs[k]->name);
		}
	}
	buf_printf(&s->out, "\r\n");
}

/* ---- back-off per client address -------------------------------------- */

static struct smtpd_auth_peer *
smtpd_auth_peer(const struct smtpd_session *s, bool add)
{
	struct smtpd_auth_peer *p, *oldest = &smtpd_auth_peers[0];
	uint64_t now = ev_now();
	size_t k;

	for (k = 0; k < SMTPD_AUTH_PEERS; k++) {
		p = &smtpd_auth_peers[k];
		if (p->ip[0] != '\0' && now - p->last > SMTPD_AUTH_FORGET_MS) {
			p->ip[0] = '\0';
		}
		if (p->ip[0] != '\0' && strcmp(p->ip, s->peer_ip) == 0) {
			return p;
		}
		if (p->ip[0] == '\0' || p->last < oldest->last) {
			oldest = p;
		}
	}
	if (!add) {
		return NULL;
	}
	str_copy(oldest->ip, s->peer_ip, sizeof(oldest->ip));
	oldest->failures = 0;
	oldest->last = now;
	return oldest;
}

/* 1 s, doubled for each max-failures the address already used up */
static uint64_t
smtpd_auth_delay(const struct smtpd_session *s)
{
	const struct smtpd_auth_peer *p = smtpd_auth_peer(s, false);
	uint32_t limit = s->srv->auth_max_failures > 0 ?
	    s->srv->auth_max_failures :
	    3;
	uint32_t shift = p != NULL ? p->failures / limit : 0;

	return (uint64_t)SMTPD_AUTH_DELAY_MS
	    << MIN(shift, SMTPD_AUTH_DELAY_MAX_SHIFT);
}

/* ---- the exchange ------------------------------------------------- */

void
smtpd_auth_end(struct smtpd_session *s)
{
	struct smtpd_auth *a = s->auth;

	if (a == NULL) {
		return;
	}
	ev_timer_stop(&a->delay);
	sasl_srv_end(&a->x);
	tls_zero(a->in, sizeof(a->in));
	tls_zero(a->out, sizeof(a->out));
	pool_put(&smtpd_auth_pool, a);
	s->auth = NULL;
}

static void
smtpd_auth_on_delay(struct ev_timer *t)
{
	struct smtpd_auth *a = container_of(t, struct smtpd_auth, delay);
	struct smtpd_session *s = smtpd_session_find(a->session);
	enum smtp_r r = a->reply;

	if (s == NULL || s->auth != a) {
		panic("auth delay without its session");
	}
	smtpd_auth_end(s);
	if (r == SMTP_R_AUTH_TOO_MANY) {
		smtpd_reply_close(s, r, smtpd_hostname(s));
	} else {
		smtpd_reply(s, r);
	}
	smtpd_resume(s);
}

/* A user name for a log line: printable, no spaces (key=value) */
static void
smtpd_auth_log_name(char *out, size_t size, const char *name)
{
	char *p;

	str_sanitize(out, size, name, strlen(name));
	for (p = out; *p != '\0'; p++) {
		*p = *p == ' ' ? '?' : *p;
	}
}

static void
smtpd_auth_failed(struct smtpd_session *s, enum smtp_r r)
{
	struct smtpd_auth *a = s->auth;
	struct smtpd_auth_peer *p;
	char user[SASL_USER_MAX + 1];

	smtpd_auth_log_name(user, sizeof(user), a->x.user);
	s->auth_failures++;
	log_info("%s smtp in auth failed mech=%s user=%s client=%s "
	         "failures=%u",
	    s->id, a->x.mech->name, user[0] != '\0' ? user : "-", s->peer_ip,
	    s->auth_failures);
	a->reply = r;
	if (s->srv->auth_max_failures != 0 &&
	    s->auth_failures >= s->srv->auth_max_failures) {
		a->reply = SMTP_R_AUTH_TOO_MANY;
	}
	ev_timer_start(&a->delay, smtpd_auth_delay(s), smtpd_auth_on_delay);
	p = smtpd_auth_peer(s, true);
	p->failures++;
	p->last = ev_now();
	smtpd_pause(s);
}

static void
smtpd_auth_result(struct smtpd_session *s, enum sasl_rc rc, size_t outlen)
{
	struct smtpd_auth *a = s->auth;
	char b64[SMTPD_REPLY_MAX];

	switch (rc) {
	case SASL_CONTINUE:
		if (outlen > SMTPD_AUTH_CHAL_MAX ||
		    sasl_b64_encode(a->out, outlen, b64, sizeof(b64)) < 0) {
			smtpd_auth_end(s);
			smtpd_reply(s, SMTP_R_AUTH_TOO_LONG);
			return;
		}
		smtpd_reply(s, SMTP_R_AUTH_CHALLENGE, b64);
		return;
	case SASL_OK:
		str_copy(s->auth_user, a->x.user, sizeof(s->auth_user));
		smtpd_auth_log_name(b64, sizeof(b64), s->auth_user);
		log_info("%s smtp in auth ok mech=%s user=%s", s->id,
		    a->x.mech->name, b64);
		smtpd_auth_end(s);
		smtpd_reply(s, SMTP_R_AUTH_OK);
		return;
	case SASL_WEAK:
		smtpd_auth_failed(s, SMTP_R_AUTH_WEAK);
		return;
	case SASL_FAIL:
		smtpd_auth_failed(s, SMTP_R_AUTH_FAILED);
		return;
	case SASL_BAD:
		smtpd_auth_end(s);
		smtpd_reply(s, SMTP_R_AUTH_B64);
		return;
	}
}

/* Decode a base64 response ("=" is empty); false: replied and ended. */
static bool
smtpd_auth_decode(struct smtpd_session *s, const char *p, size_t len, size_t *n)
{
	int rc = 0;

	if (!(len == 1 && p[0] == '=')) {
		rc = sasl_b64_decode(p, len, s->auth->in, sizeof(s->auth->in));
	}
	if (rc < 0) {
		smtpd_auth_end(s);
		smtpd_reply(s,
		    rc == -EMSGSIZE ? SMTP_R_AUTH_TOO_LONG : SMTP_R_AUTH_B64);
		return false;
	}
	*n = (size_t)rc;
	return true;
}

static void
smtpd_auth_step(struct smtpd_session *s, bool has_in, size_t n)
{
	struct smtpd_auth *a = s->auth;
	size_t outlen = 0;
	enum sasl_rc rc;

	rc = a->x.mech->step(&a->x, a->in, n, has_in, a->out, &outlen);
	tls_zero(a->in, n);
	smtpd_auth_result(s, rc, outlen);
}

/* The response is read: wipe it from the input buffer too. */
static void
smtpd_auth_wipe(const char *p, size_t len)
{
	tls_zero((char *)(uintptr_t)p, len);
}

void
smtpd_auth_line(struct smtpd_session *s, const char *line, size_t len)
{
	size_t n;

	/* the line ends in CRLF (smtp_cmd_parse rules: no bare CR/LF) */
	if (len < 2 || line[len - 2] != '\r') {
		smtpd_auth_end(s);
		smtpd_reply(s, SMTP_R_BARE_NEWLINE_CMD);
		return;
	}
	len -= 2;
	if (len == 1 && line[0] == '*') {
		smtpd_auth_end(s);
		smtpd_reply(s, SMTP_R_AUTH_CANCEL); /* RFC 4954 4 */
		return;
	}
	if (len == 0) {
		n = 0; /* an empty response (SCRAM's last, PLAIN's none) */
	} else if (!smtpd_auth_decode(s, line, len, &n)) {
		smtpd_auth_wipe(line, len);
		return;
	}
	smtpd_auth_wipe(line, len);
	smtpd_auth_step(s, true, n);
}

/* Which reply refuses AUTH here, or SMTP_R_NONE. */
static enum smtp_r
smtpd_auth_check(const struct smtpd_session *s)
{
	if (s->state == SMTPD_S_MAIL || s->state == SMTPD_S_RCPT ||
	    s->state == SMTPD_S_BDAT) {
		return SMTP_R_AUTH_IN_TXN; /* RFC 4954 4 */
	}
	if (s->srv->auth_mechs == 0 || !s->esmtp) {
		return s->srv->auth_mechs == 0 ? SMTP_R_NOT_IMPLEMENTED :
		                                 SMTP_R_NEED_HELO;
	}
	if (!smtpd_auth_allowed(s)) {
		return SMTP_R_AUTH_ENCRYPT;
	}
	if (smtpd_authenticated(s)) {
		return SMTP_R_AUTH_TWICE;
	}
	return SMTP_R_NONE;
}

void
smtpd_cmd_auth(struct smtpd_session *s, const struct smtp_cmd *c)
{
	const struct sasl_mech *m;
	const char *sp = memchr(c->arg, ' ', c->arg_len);
	size_t mlen = sp != NULL ? (size_t)(sp - c->arg) : c->arg_len, n = 0;
	enum smtp_r r = smtpd_auth_check(s);
	struct handle h;

	if (r == SMTP_R_NONE &&
	    (mlen == 0 || (sp != NULL && c->arg + c->arg_len == sp + 1))) {
		r = SMTP_R_AUTH_SYNTAX;
	}
	m = r == SMTP_R_NONE ? sasl_mech_find(c->arg, mlen) : NULL;
	if (r == SMTP_R_NONE && (m == NULL || !(s->srv->auth_mechs & m->bit))) {
		r = SMTP_R_AUTH_MECH;
	}
	if (r == SMTP_R_NONE &&
	    (s->auth = pool_get(&smtpd_auth_pool, &h)) == NULL) {
		r = SMTP_R_AUTH_TEMP;
	}
	if (r != SMTP_R_NONE) {
		smtpd_reply(s, r);
		return;
	}
	memset(&s->auth->delay, 0, sizeof(s->auth->delay));
	s->auth->session = s->h;
	sasl_srv_init(&s->auth->x, m,
	    s->conf->userdb != NULL ? s->conf->userdb : &smtpd_auth_nodb,
	    smtpd_hostname(s));
	if (sp != NULL) {
		bool ok = smtpd_auth_decode(s, sp + 1, c->arg_len - (mlen + 1),
		    &n);

		smtpd_auth_wipe(sp + 1, c->arg_len - (mlen + 1));
		if (!ok) {
			return;
		}
	}
	smtpd_auth_step(s, sp != NULL, n);
}
