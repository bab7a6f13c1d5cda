/*
 * smtpd_cmd.c — the command table and the commands of RFC 5321 4.1.1 with
 * the policy of the virtual server: which state each command is allowed
 * in (the sequencing rules of 4.1.4), what each replies.
 */
#include <string.h>

#include "smtp/smtpd_int.h"

/* NOTIFY bits go to the journal as they are */
_Static_assert(SMTP_NOTIFY_NEVER == QUEUE_NOTIFY_NEVER &&
        SMTP_NOTIFY_SUCCESS == QUEUE_NOTIFY_SUCCESS &&
        SMTP_NOTIFY_FAILURE == QUEUE_NOTIFY_FAILURE &&
        SMTP_NOTIFY_DELAY == QUEUE_NOTIFY_DELAY,
    "NOTIFY bits");

#define ANY_GREETED \
	(SMTPD_ST(SMTPD_S_CONNECTED) | SMTPD_ST(SMTPD_S_HELO) | \
	    SMTPD_ST(SMTPD_S_MAIL) | SMTPD_ST(SMTPD_S_RCPT))

struct smtpd_cmd_def {
	enum smtp_verb verb;
	uint32_t states; /* where it is allowed */
	void (*fn)(struct smtpd_session *s, const struct smtp_cmd *c);
};

static unsigned
smtpd_ext(const struct smtpd_session *s)
{
	return SMTP_EXT_SIZE | SMTP_EXT_8BITMIME |
	    (ENABLE_DSN ? SMTP_EXT_DSN : 0) |
	    (ENABLE_SMTP_SMTPUTF8 ? SMTP_EXT_SMTPUTF8 : 0) |
	    (ENABLE_SMTP_CHUNKING ? SMTP_EXT_BINARYMIME : 0) |
	    (smtpd_auth_offered(s) ? SMTP_EXT_AUTH : 0);
}

/* "FROM:" / "TO:" then optional spaces (a common client habit). */
static bool
smtpd_skip_prefix(const struct smtp_cmd *c, const char *pfx, size_t *i)
{
	size_t n = strlen(pfx);

	if (c->arg_len < n || !str_ieq(c->arg, n, pfx, n)) {
		return false;
	}
	for (*i = n; *i < c->arg_len && c->arg[*i] == ' '; (*i)++) {
		;
	}
	return true;
}

/* ---- HELO / EHLO ------------------------------------------------------ */

static void
smtpd_ehlo_keywords(struct smtpd_session *s)
{
	const char *kw[] = { "PIPELINING", "SIZE", "8BITMIME",
		IF_DSN("DSN", ) IF_SMTP_SMTPUTF8("SMTPUTF8", )
		    IF_SMTP_CHUNKING("CHUNKING", "BINARYMIME", )
		        IF_SASL("AUTH", ) "ENHANCEDSTATUSCODES",
		smtpd_tls_offer(s) ? "STARTTLS" : NULL };
	size_t k, n = ARRAY_SIZE(kw);

	while (n > 0 && kw[n - 1] == NULL) {
		n--; /* the last line is "250 " */
	}
	for (k = 0; k < n; k++) {
		if (kw[k] == NULL) {
			continue;
		}
		if (strcmp(kw[k], "AUTH") == 0) {
			smtpd_auth_ehlo(s); /* never last */
		} else if (strcmp(kw[k], "SIZE") == 0) {
			buf_printf(&s->out, "250%cSIZE %llu\r\n",
			    k + 1 < n ? '-' : ' ',
			    (unsigned long long)s->srv->max_message_size);
		} else {
			buf_printf(&s->out, "250%c%s\r\n",
			    k + 1 < n ? '-' : ' ', kw[k]);
		}
	}
}

static void
smtpd_cmd_helo(struct smtpd_session *s, const struct smtp_cmd *c)
{
	bool ehlo = c->verb == SMTP_V_EHLO;

	if (c->arg_len == 0) {
		smtpd_reply(s, SMTP_R_SYNTAX_HELO, smtp_verb_name(c->verb));
		return;
	}
	if (c->arg_len > SMTP_DOMAIN_MAX ||
	    !smtp_domain_valid(c->arg, c->arg_len, ENABLE_SMTP_SMTPUTF8)) {
		smtpd_reply(s, SMTP_R_SYNTAX_DOMAIN);
		return;
	}
	smtpd_txn_end(s); /* RFC 5321 4.1.4: like RSET */
	memcpy(s->helo, c->arg, c->arg_len);
	s->helo[c->arg_len] = '\0';
	s->esmtp = ehlo;
	smtpd_set_state(s, SMTPD_S_HELO);
	if (!ehlo) {
		smtpd_reply(s, SMTP_R_HELO, smtpd_hostname(s), s->helo,
		    s->peer_ip);
		return;
	}
	smtpd_reply_more(s, SMTP_R_EHLO_FIRST, smtpd_hostname(s), s->helo,
	    s->peer_ip);
	smtpd_ehlo_keywords(s);
}

/* ---- MAIL ----------------------------------------------------------- */

static enum smtp_r
smtpd_mail_check(struct smtpd_session *s, const struct smtp_cmd *c,
    struct smtpd_txn *t)
{
	const struct conf_server *srv = s->srv;
	unsigned flags = SMTP_PATH_NULL |
	    (ENABLE_SMTP_SMTPUTF8 ? SMTP_PATH_UTF8 : 0);
	size_t i, used;
	enum smtp_r r;

	if (!smtpd_skip_prefix(c, "FROM:", &i)) {
		return SMTP_R_SYNTAX_MAIL;
	}
	r = smtp_path_parse(c->arg + i, c->arg_len - i, flags, true, &t->from,
	    &used);
	if (r == SMTP_R_NONE) {
		i += used;
		r = smtp_mail_params_parse(c->arg + i, c->arg_len - i,
		    smtpd_ext(s), &t->params);
	}
	if (r != SMTP_R_NONE) {
		return r;
	}
	if (t->from.has_utf8 && !t->params.smtputf8) {
		return SMTP_R_NON_ASCII; /* RFC 6531 3.4 */
	}
	if (srv->max_message_size != 0 &&
	    t->params.size > srv->max_message_size) {
		return SMTP_R_SIZE_EXCEEDED; /* RFC 1870 6 */
	}
	if (srv->max_session_size != 0 &&
	    s->session_bytes + t->params.size > srv->max_session_size) {
		return SMTP_R_SESSION_SIZE;
	}
	if (queue_space_check(t->params.size) < 0) {
		return SMTP_R_NO_STORAGE; /* RFC 1870 6.1, RFC 3463 4.3.1 */
	}
	return SMTP_R_NONE;
}

static void
smtpd_cmd_mail(struct smtpd_session *s, const struct smtp_cmd *c)
{
	struct smtpd_txn *t;
	enum smtp_r r;

	if (s->srv->tls_require && !smtpd_tls_active(s)) {
		smtpd_reply(s, SMTP_R_TLS_REQUIRED); /* RFC 3207 4 */
		return;
	}
	if (s->srv->max_messages != 0 && s->messages >= s->srv->max_messages) {
		smtpd_reply_close(s, SMTP_R_TOO_MANY_MESSAGES,
		    smtpd_hostname(s));
		return;
	}
	t = smtpd_txn_new();
	if (t == NULL) {
		smtpd_reply(s, SMTP_R_NO_TXN);
		return;
	}
	r = smtpd_mail_check(s, c, t);
	if (r != SMTP_R_NONE) {
		smtpd_txn_free(t);
		smtpd_reply(s, r);
		return;
	}
	s->txn = t;
	smtpd_set_state(s, SMTPD_S_MAIL);
	smtpd_reply(s, SMTP_R_MAIL_OK, t->from.addr);
}

/* ---- RCPT ----------------------------------------------------------- */

static void
smtpd_lower(char *s)
{
	for (; *s != '\0'; s++) {
		if (*s >= 'A' && *s <= 'Z') {
			*s = (char)(*s - 'A' + 'a');
		}
	}
}

/* "<Postmaster>" alone: the postmaster of the first local domain with one */
static const struct conf_domain *
smtpd_postmaster_domain(const struct smtpd_session *s, const char **mbox)
{
	uint32_t k;

	for (k = 0; k < s->conf->ndomains; k++) {
		if (conf_local_expand(&s->conf->domains[k], "postmaster", 10,
		        mbox, 1) == 1) {
			return &s->conf->domains[k];
		}
	}
	return NULL;
}

/* The message in the journal begins with its first recipient. */
static enum smtp_r
smtpd_rcpt_queue(struct smtpd_session *s, const char *addr, const char *domain,
    const char **mbox, uint32_t n, const struct smtp_rcpt_params *rp)
{
	struct smtpd_txn *t = s->txn;
	struct queue_env env = { t->from.addr, s->helo, s->peer_ip,
		s->srv->name, t->params.size, (uint8_t)t->params.body,
		t->params.smtputf8, t->params.ret, t->params.envid };
	struct queue_dsn qd = { rp->notify, rp->orcpt };
	uint32_t k;
	int rc = 0;

	if (t->qm == NULL) {
		rc = queue_msg_begin(&env, &t->qm);
	}
	if (rc == -ENOMEM || rc == -ENOSPC || rc == -EAGAIN) {
		return SMTP_R_NO_STORAGE;
	}
	if (rc < 0) {
		return SMTP_R_LOCAL_ERROR;
	}
	if (queue_msg_nrcpt(t->qm) + n > CONFIG_SMTPD_RCPT_MAX) {
		return SMTP_R_TOO_MANY_RCPTS;
	}
	for (k = 0; k < n && rc == 0; k++) {
		rc = queue_msg_rcpt_dsn(t->qm, addr, domain, mbox[k], &qd);
	}
	if (rc < 0) {
		/* some of its mailboxes are in: this message cannot go on */
		t->failed = true;
		return SMTP_R_LOCAL_ERROR;
	}
	return SMTP_R_NONE;
}

/* Policy: which local mailboxes the recipient reaches. */
static enum smtp_r
smtpd_rcpt_route(struct smtpd_session *s, const struct smtp_path *p,
    const struct smtp_rcpt_params *rp)
{
	const char *mbox[64], *relay[1] = { "" };
	const struct conf_domain *d;
	char domain[SMTP_DOMAIN_MAX + 1];
	uint32_t n;

	if (p->domain_off == p->local_len) {
		d = smtpd_postmaster_domain(s, mbox);
		n = d != NULL ? 1 : 0;
		return n == 0 ?
		    SMTP_R_USER_UNKNOWN :
		    smtpd_rcpt_queue(s, p->addr, d->name, mbox, n, rp);
	}
	str_copy(domain, p->addr + p->domain_off, sizeof(domain));
	smtpd_lower(domain);
	d = p->domain_literal ?
	    NULL :
	    conf_domain_find(s->conf, domain, strlen(domain));
	if (d != NULL && d->kind == CONF_DOMAIN_LOCAL) {
		n = conf_local_expand(d, p->addr, p->local_len, mbox,
		    ARRAY_SIZE(mbox));
		return n == 0 ?
		    SMTP_R_USER_UNKNOWN :
		    smtpd_rcpt_queue(s, p->addr, d->name, mbox, n, rp);
	}
	/*
	 * Relaying: to a domain we relay for, from anyone; elsewhere only
	 * from the server's relay networks. Never to an address literal:
	 * percent hacks, bang paths and quoted local parts are only local
	 * parts here, and local parts of local domains are mailboxes.
	 */
	if (d != NULL ||
	    (!p->domain_literal &&
	        (conf_relay_allowed(s->srv, &s->peer) ||
	            (s->srv->relay_auth && smtpd_authenticated(s))))) {
		return smtpd_rcpt_queue(s, p->addr, domain, relay, 1, rp);
	}
	return SMTP_R_RELAY_DENIED;
}

static void
smtpd_cmd_rcpt(struct smtpd_session *s, const struct smtp_cmd *c)
{
	struct smtpd_txn *t = s->txn;
	struct smtp_path p;
	struct smtp_rcpt_params rp;
	unsigned flags = SMTP_PATH_POSTMASTER |
	    (ENABLE_SMTP_SMTPUTF8 ? SMTP_PATH_UTF8 : 0);
	size_t i, used;
	enum smtp_r r;

	if (!smtpd_skip_prefix(c, "TO:", &i)) {
		smtpd_reply(s, SMTP_R_SYNTAX_RCPT);
		return;
	}
	r = smtp_path_parse(c->arg + i, c->arg_len - i, flags, false, &p,
	    &used);
	if (r == SMTP_R_NONE) {
		i += used;
		r = smtp_rcpt_params_parse(c->arg + i, c->arg_len - i,
		    smtpd_ext(s), &rp);
	}
	if (r == SMTP_R_NONE && p.has_utf8 && !t->params.smtputf8) {
		r = SMTP_R_NON_ASCII;
	}
	if (r == SMTP_R_NONE && t->nrcpt >= s->srv->max_recipients) {
		r = SMTP_R_TOO_MANY_RCPTS; /* RFC 5321 4.5.3.1.10 */
	}
	if (r == SMTP_R_NONE && !smtpd_journal_ready(s, SMTPD_ROOM_RCPT)) {
		return;
	}
	if (r == SMTP_R_NONE) {
		r = smtpd_rcpt_route(s, &p, &rp);
	}
	if (r != SMTP_R_NONE) {
		smtpd_reply(s, r, p.addr);
		return;
	}
	if (t->nrcpt++ == 0) {
		str_copy(t->first_rcpt, p.addr, sizeof(t->first_rcpt));
	}
	smtpd_set_state(s, SMTPD_S_RCPT);
	smtpd_reply(s, SMTP_R_RCPT_OK, p.addr);
}

/* ---- the rest ----------------------------------------------------------- */

static bool
smtpd_no_args(struct smtpd_session *s, const struct smtp_cmd *c)
{
	if (c->arg_len != 0) {
		smtpd_reply(s, SMTP_R_SYNTAX_NOARGS, smtp_verb_name(c->verb));
		return false;
	}
	return true;
}

static void
smtpd_cmd_data(struct smtpd_session *s, const struct smtp_cmd *c)
{
	if (s->txn->params.body == SMTP_BODY_BINARYMIME) {
		/* RFC 3030 3: "the DATA command MUST NOT be used" */
		smtpd_reply(s, SMTP_R_DATA_BINARYMIME);
		return;
	}
	if (smtpd_no_args(s, c)) {
		smtpd_data_begin(s);
	}
}

static void
smtpd_cmd_rset(struct smtpd_session *s, const struct smtp_cmd *c)
{
	if (!smtpd_no_args(s, c)) {
		return;
	}
	smtpd_txn_end(s);
	if (s->state != SMTPD_S_CONNECTED) {
		smtpd_set_state(s, SMTPD_S_HELO);
	}
	smtpd_reply(s, SMTP_R_OK);
}

static void
smtpd_cmd_noop(struct smtpd_session *s, const struct smtp_cmd *c)
{
	smtpd_reply(s, SMTP_R_OK); /* RFC 5321 4.1.1.9: argument ignored */
}

static void
smtpd_cmd_quit(struct smtpd_session *s, const struct smtp_cmd *c)
{
	if (smtpd_no_args(s, c)) {
		smtpd_txn_end(s);
		smtpd_reply_close(s, SMTP_R_BYE, smtpd_hostname(s));
	}
}

static void
smtpd_cmd_help(struct smtpd_session *s, const struct smtp_cmd *c)
{
	if (ENABLE_SMTP_HELP) {
		smtpd_reply_more(s, SMTP_R_HELP,
		    "tern ESMTP server; commands:");
		smtpd_reply_more(s, SMTP_R_HELP,
		    "  HELO EHLO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY EXPN");
	}
	smtpd_reply(s, SMTP_R_HELP, "End of HELP (RFC 5321)");
}

static void
smtpd_cmd_vrfy(struct smtpd_session *s, const struct smtp_cmd *c)
{
	const struct conf_domain *d;
	const char *at, *mbox[1];
	struct smtp_cmd a = *c;

	if (a.arg_len >= 2 && a.arg[0] == '<' && a.arg[a.arg_len - 1] == '>') {
		a.arg++;
		a.arg_len -= 2;
	}
	c = &a;
	if (c->arg_len == 0) {
		smtpd_reply(s, SMTP_R_SYNTAX_VRFY);
		return;
	}
	if (!ENABLE_SMTP_VRFY || !s->srv->vrfy) {
		smtpd_reply(s, SMTP_R_VRFY_CANNOT); /* RFC 5321 7.3 */
		return;
	}
	/* "user@domain" or "<user@domain>": local mailboxes only */
	at = memchr(c->arg, '@', c->arg_len);
	if (at == NULL) {
		smtpd_reply(s, SMTP_R_VRFY_CANNOT);
		return;
	}
	d = conf_domain_find(s->conf, at + 1,
	    c->arg_len - (size_t)(at + 1 - c->arg));
	if (d == NULL) {
		smtpd_reply(s, SMTP_R_VRFY_CANNOT);
	} else if (conf_local_expand(d, c->arg, (size_t)(at - c->arg), mbox,
	               1) == 0) {
		char addr[SMTP_PATH_MAX];

		str_sanitize(addr, sizeof(addr), c->arg, c->arg_len);
		smtpd_reply(s, SMTP_R_USER_UNKNOWN, addr);
	} else {
		smtpd_reply(s, SMTP_R_VRFY_OK_BOX, mbox[0], d->name);
	}
}

static void
smtpd_cmd_expn(struct smtpd_session *s, const struct smtp_cmd *c)
{
	smtpd_reply(s, SMTP_R_EXPN_DISABLED);
}

static void
smtpd_cmd_unimplemented(struct smtpd_session *s, const struct smtp_cmd *c)
{
	smtpd_reply(s, SMTP_R_NOT_IMPLEMENTED);
}

static const struct smtpd_cmd_def smtpd_cmds[] = {
	{ SMTP_V_HELO, ANY_GREETED | SMTPD_ST(SMTPD_S_BDAT), smtpd_cmd_helo },
	{ SMTP_V_EHLO, ANY_GREETED | SMTPD_ST(SMTPD_S_BDAT), smtpd_cmd_helo },
	{ SMTP_V_MAIL, SMTPD_ST(SMTPD_S_HELO), smtpd_cmd_mail },
	{ SMTP_V_RCPT, SMTPD_ST(SMTPD_S_MAIL) | SMTPD_ST(SMTPD_S_RCPT),
	    smtpd_cmd_rcpt },
	{ SMTP_V_DATA, SMTPD_ST(SMTPD_S_RCPT), smtpd_cmd_data },
	{ SMTP_V_RSET, ANY_GREETED | SMTPD_ST(SMTPD_S_BDAT), smtpd_cmd_rset },
	{ SMTP_V_NOOP, ANY_GREETED | SMTPD_ST(SMTPD_S_BDAT), smtpd_cmd_noop },
	{ SMTP_V_QUIT, ANY_GREETED | SMTPD_ST(SMTPD_S_BDAT), smtpd_cmd_quit },
	{ SMTP_V_HELP, ANY_GREETED | SMTPD_ST(SMTPD_S_BDAT), smtpd_cmd_help },
	{ SMTP_V_VRFY, ANY_GREETED | SMTPD_ST(SMTPD_S_BDAT), smtpd_cmd_vrfy },
	{ SMTP_V_EXPN, ANY_GREETED | SMTPD_ST(SMTPD_S_BDAT), smtpd_cmd_expn },
	{ SMTP_V_BDAT, ANY_GREETED | SMTPD_ST(SMTPD_S_BDAT),
	    IF_SMTP_CHUNKING(smtpd_cmd_bdat)
	        IF_NOT_SMTP_CHUNKING(smtpd_cmd_unimplemented) },
	{ SMTP_V_STARTTLS, ANY_GREETED | SMTPD_ST(SMTPD_S_BDAT),
	    IF_TLS(smtpd_cmd_starttls) IF_NOT_TLS(smtpd_cmd_unimplemented) },
	{ SMTP_V_AUTH, ANY_GREETED | SMTPD_ST(SMTPD_S_BDAT),
	    IF_SASL(smtpd_cmd_auth) IF_NOT_SASL(smtpd_cmd_unimplemented) },
	{ SMTP_V_ETRN, ANY_GREETED, smtpd_cmd_unimplemented },
};

/* RFC 5321 4.1.4: the reply for a command out of sequence */
static enum smtp_r
smtpd_sequence_error(const struct smtpd_session *s, enum smtp_verb v)
{
	if (s->state == SMTPD_S_CONNECTED) {
		return SMTP_R_NEED_HELO;
	}
	switch (v) {
	case SMTP_V_MAIL:
		return SMTP_R_NESTED_MAIL;
	case SMTP_V_RCPT:
		return s->state == SMTPD_S_BDAT ? SMTP_R_DATA_IN_BDAT :
		                                  SMTP_R_NEED_MAIL;
	case SMTP_V_DATA:
		/* RFC 2920 3.1: DATA after no accepted recipient is 554 */
		if (s->state == SMTPD_S_BDAT) {
			return SMTP_R_DATA_IN_BDAT; /* RFC 3030 3 */
		}
		return s->state == SMTPD_S_MAIL ? SMTP_R_NO_VALID_RCPT :
		                                  SMTP_R_NEED_MAIL;
	default:
		return SMTP_R_NEED_HELO;
	}
}

void
smtpd_command(struct smtpd_session *s, const char *line, size_t len)
{
	struct smtp_cmd c;
	enum smtp_r r;
	size_t k;

	if (smtpd_auth_busy(s)) {
		smtpd_auth_line(s, line, len); /* RFC 4954 4: a response */
		return;
	}
	r = smtp_cmd_parse(line, len, &c);
	if (r != SMTP_R_NONE) {
		smtpd_reply(s, r);
		return;
	}
	for (k = 0; k < ARRAY_SIZE(smtpd_cmds); k++) {
		if (smtpd_cmds[k].verb != c.verb) {
			continue;
		}
		if (smtpd_cmds[k].states & SMTPD_ST(s->state)) {
			smtpd_cmds[k].fn(s, &c);
		} else {
			smtpd_reply(s, smtpd_sequence_error(s, c.verb));
		}
		return;
	}
	smtpd_reply(s, SMTP_R_UNRECOGNIZED);
}
