/*
 * conf_auth.c — the SMTP AUTH settings (RFC 4954):
 *
 *   server NAME { auth plain login cram-md5 scram-sha-256 ntlm
 *                 auth plaintext yes|no        AUTH without TLS
 *                 auth max-failures N          then 421 (default 3)
 *                 relay allow authenticated }
 *   connector NAME { auth user NAME password-file FILE
 *                    auth plaintext yes|no }   outbound, to smart hosts
 *   users FILE                                 the user database
 *
 * A mechanism the build leaves out is an error naming its Kconfig option.
 */
#include <string.h>

#include "conf/conf_int.h"

struct conf_auth_mech {
	const char *name;
	unsigned bit;
	bool enabled;
	const char *option;
};

static const struct conf_auth_mech conf_auth_mechs[] = {
	{ "plain", CONF_AUTH_PLAIN, ENABLE_SASL_PLAIN, "CONFIG_SASL_PLAIN" },
	{ "login", CONF_AUTH_LOGIN, ENABLE_SASL_LOGIN, "CONFIG_SASL_LOGIN" },
	{ "cram-md5", CONF_AUTH_CRAM_MD5, ENABLE_SASL_CRAM_MD5,
	    "CONFIG_SASL_CRAM_MD5" },
	{ "scram-sha-256", CONF_AUTH_SCRAM, ENABLE_SASL_SCRAM,
	    "CONFIG_SASL_SCRAM" },
	{ "ntlm", CONF_AUTH_NTLM, ENABLE_SASL_NTLM, "CONFIG_SASL_NTLM" },
};

static bool
conf_auth_bool(struct conf_ctx *cx, const struct conf_stmt *st, bool *v)
{
	if (st->nargs != 3 ||
	    (strcmp(st->args[2], "yes") != 0 &&
	        strcmp(st->args[2], "no") != 0)) {
		conf_error(cx, st->file, st->line, "auth %s takes yes or no",
		    st->args[1]);
		return false;
	}
	*v = st->args[2][0] == 'y';
	return true;
}

static void
conf_auth_mech(struct conf_ctx *cx, const struct conf_stmt *st,
    const char *name, struct conf_server *s)
{
	size_t k;

	for (k = 0; k < ARRAY_SIZE(conf_auth_mechs); k++) {
		const struct conf_auth_mech *m = &conf_auth_mechs[k];

		if (!str_ieq(m->name, strlen(m->name), name, strlen(name))) {
			continue;
		}
		if (!m->enabled) {
			conf_error(cx, st->file, st->line,
			    "auth %s needs %s, which this build leaves out",
			    m->name, m->option);
		}
		s->auth_mechs |= m->bit;
		return;
	}
	conf_error(cx, st->file, st->line,
	    "auth: unknown mechanism '%s' (plain, login, cram-md5, "
	    "scram-sha-256, ntlm)",
	    name);
}

void
conf_server_auth(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_server *s)
{
	uint32_t k;

	if (st->nargs < 2 || st->has_block) {
		conf_error(cx, st->file, st->line,
		    "auth takes mechanisms (plain login cram-md5 "
		    "scram-sha-256 ntlm), plaintext yes|no or max-failures N");
		return;
	}
	if (strcmp(st->args[1], "plaintext") == 0) {
		conf_auth_bool(cx, st, &s->auth_plaintext);
		return;
	}
	if (strcmp(st->args[1], "max-failures") == 0) {
		uint64_t v = 0;
		const char *p = st->nargs == 3 ? st->args[2] : "";

		for (; *p >= '0' && *p <= '9' && v <= 1000; p++) {
			v = v * 10 + (uint64_t)(*p - '0');
		}
		if (st->nargs != 3 || *p != '\0' || st->args[2][0] == '\0' ||
		    v > 1000) {
			conf_error(cx, st->file, st->line,
			    "auth max-failures takes a number from 0 to 1000");
			return;
		}
		s->auth_max_failures = (uint32_t)v;
		return;
	}
	for (k = 1; k < st->nargs; k++) {
		conf_auth_mech(cx, st, st->args[k], s);
	}
}

void
conf_relay_auth(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_server *s)
{
	if (!ENABLE_SASL) {
		conf_error(cx, st->file, st->line,
		    "relay allow authenticated needs SMTP AUTH "
		    "(CONFIG_SASL_PLAIN or another CONFIG_SASL_*), which this "
		    "build leaves out");
		return;
	}
	s->relay_auth = true;
}

/* auth user NAME password-file FILE | auth plaintext yes|no */
void
conf_connector_auth(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_connector *cn)
{
	if (!ENABLE_SASL) {
		conf_error(cx, st->file, st->line,
		    "auth needs CONFIG_SASL_PLAIN (or another CONFIG_SASL_*), "
		    "which this build leaves out");
		return;
	}
	if (st->nargs >= 2 && strcmp(st->args[1], "plaintext") == 0 &&
	    !st->has_block) {
		conf_auth_bool(cx, st, &cn->auth_plaintext);
		return;
	}
	if (st->nargs != 5 || st->has_block ||
	    strcmp(st->args[1], "user") != 0 ||
	    strcmp(st->args[3], "password-file") != 0 ||
	    st->args[2][0] == '\0' || strlen(st->args[2]) > 255) {
		conf_error(cx, st->file, st->line,
		    "auth takes user NAME password-file FILE, or plaintext "
		    "yes|no");
		return;
	}
	cn->auth_user = st->args[2];
	cn->auth_password_file = st->args[4];
}

void
conf_auth_check(struct conf_ctx *cx, const struct conf *c)
{
	uint32_t k;

	for (k = 0; k < c->nservers; k++) {
		const struct conf_server *s = &c->servers[k];

		if (s->auth_mechs != 0 && c->users == NULL) {
			conf_error(cx, c->source, s->line,
			    "server %s offers AUTH but no user database is "
			    "set (users FILE)",
			    s->name);
		}
		if (s->relay_auth && s->auth_mechs == 0) {
			conf_error(cx, c->source, s->line,
			    "server %s: relay allow authenticated needs auth "
			    "MECH... in the same server",
			    s->name);
		}
	}
}
