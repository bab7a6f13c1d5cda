/*
 * conf_tls.c — the TLS settings of virtual servers and connectors (the
 * certificates themselves are loaded by the TLS part, tls_conf_load()):
 *
 *   server    tls cert FILE key FILE
 *             tls require yes|no
 *   connector tls none|opportunistic|required|verify
 *             tls ca FILE
 *
 * A build without CONFIG_TLS refuses them, naming the option.
 */
#include <string.h>

#include "conf/conf_int.h"

#define CONF_TLS_CA_DEFAULT "/etc/ssl/certs/ca-certificates.crt"

static bool
conf_tls_built(struct conf_ctx *cx, const struct conf_stmt *st)
{
	if (!ENABLE_TLS) {
		conf_error(cx, st->file, st->line,
		    "tls needs CONFIG_TLS, which this build leaves out");
	}
	return ENABLE_TLS;
}

void
conf_server_tls(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_server *s)
{
	if (!conf_tls_built(cx, st)) {
		return;
	}
	if (st->nargs == 5 && !st->has_block &&
	    strcmp(st->args[1], "cert") == 0 &&
	    strcmp(st->args[3], "key") == 0) {
		s->tls_cert = st->args[2];
		s->tls_key = st->args[4];
		s->tls_line = st->line;
	} else if (st->nargs == 3 && !st->has_block &&
	    strcmp(st->args[1], "require") == 0 &&
	    (strcmp(st->args[2], "yes") == 0 ||
	        strcmp(st->args[2], "no") == 0)) {
		s->tls_require = st->args[2][0] == 'y';
		if (s->tls_line == 0) {
			s->tls_line = st->line;
		}
	} else {
		conf_error(cx, st->file, st->line,
		    "tls takes 'cert FILE key FILE' or 'require yes|no'");
	}
}

void
conf_connector_tls(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_connector *cn)
{
	static const char *const names[] = {
		[CONF_TLS_OPPORTUNISTIC] = "opportunistic",
		[CONF_TLS_NONE] = "none",
		[CONF_TLS_REQUIRED] = "required",
		[CONF_TLS_VERIFY] = "verify",
	};
	size_t k;

	if (!conf_tls_built(cx, st)) {
		return;
	}
	cn->tls_line = st->line;
	if (cn->tls_ca == NULL) {
		cn->tls_ca = CONF_TLS_CA_DEFAULT;
	}
	if (st->nargs == 3 && !st->has_block &&
	    strcmp(st->args[1], "ca") == 0) {
		cn->tls_ca = st->args[2];
		return;
	}
	for (k = 0; k < ARRAY_SIZE(names) && st->nargs == 2 && !st->has_block;
	     k++) {
		if (strcmp(st->args[1], names[k]) == 0) {
			cn->tls = (enum conf_tls_policy)k;
			return;
		}
	}
	conf_error(cx, st->file, st->line,
	    "tls takes none, opportunistic, required, verify or 'ca FILE'");
}
