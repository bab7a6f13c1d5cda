/*
 * smtpc_auth.c — AUTH to smart hosts (RFC 4954), per connector:
 *
 *   connector NAME { auth user NAME password-file FILE
 *                    auth plaintext yes|no }
 *
 * The password is read from FILE at start and at each reload (its first
 * line). After EHLO
 * the client picks the strongest mechanism both sides have (SCRAM-SHA-256
 * > CRAM-MD5 > PLAIN > LOGIN). Only over TLS unless `auth plaintext yes`:
 * without TLS the password is never sent and the messages wait (4.7.x),
 * as they do when the peer offers no usable mechanism or refuses the
 * credentials (its reply is the reason).
 */
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/smtpc.h"
#include "tls/tls.h"

/* One connector's password: the first line of its file, on the heap. */
static int
smtpc_auth_read(struct conf *c, struct conf_connector *cn,
    conf_report_fn report, void *ctx)
{
	char line[SASL_PASS_MAX + 2], msg[PATH_MAX / 8 + 160];
	FILE *f = fopen(cn->auth_password_file, "re");
	size_t n = 0;
	bool got = f != NULL && fgets(line, sizeof(line), f) != NULL;

	if (f == NULL) {
		snprintf(msg, sizeof(msg), "connector %s: password-file %s: %s",
		    cn->name, cn->auth_password_file, strerror(errno));
	} else {
		fclose(f);
		n = got ? strcspn(line, "\r\n") : 0;
		snprintf(msg, sizeof(msg),
		    "connector %s: password-file %s: no password on its "
		    "first line (1 to %d bytes)",
		    cn->name, cn->auth_password_file, SASL_PASS_MAX);
	}
	if (n == 0 || n > SASL_PASS_MAX) {
		report(ctx, c->source, cn->line, msg);
		tls_zero(line, sizeof(line));
		return -EINVAL;
	}
	cn->auth_password = calloc(1, n + 1);
	if (cn->auth_password == NULL) {
		report(ctx, c->source, cn->line, "out of memory");
		tls_zero(line, sizeof(line));
		return -ENOMEM;
	}
	memcpy(cn->auth_password, line, n);
	tls_zero(line, sizeof(line));
	return 0;
}

int
smtpc_auth_load(struct conf *c, conf_report_fn report, void *ctx)
{
	uint32_t k;
	int rc = 0;

	for (k = 0; k < c->nconnectors; k++) {
		if (c->connectors[k].auth_user != NULL &&
		    smtpc_auth_read(c, &c->connectors[k], report, ctx) < 0) {
			rc = -EINVAL;
		}
	}
	if (rc < 0) {
		smtpc_auth_unload(c);
	}
	return rc;
}

void
smtpc_auth_unload(struct conf *c)
{
	uint32_t k;

	for (k = 0; k < c->nconnectors; k++) {
		char *pw = c->connectors[k].auth_password;

		if (pw != NULL) {
			tls_zero(pw, strlen(pw));
			free(pw);
			c->connectors[k].auth_password = NULL;
		}
	}
}

unsigned
smtpc_auth_keyword(const char *s, size_t n)
{
	return sasl_cli_parse_mechs(s, n);
}

/* "AUTH MECH [initial-response]" or a response line, base64 */
static int
smtpc_auth_send(struct buf *out, const char *mech, const uint8_t *data,
    size_t len, bool has)
{
	char b64[2 * SASL_DATA_MAX];
	int rc = 0;

	if (has && sasl_b64_encode(data, len, b64, sizeof(b64)) < 0) {
		return -ENOSPC;
	}
	if (mech != NULL) {
		rc = buf_printf(out, "AUTH %s%s%s\r\n", mech, has ? " " : "",
		    has ? (len == 0 ? "=" : b64) : "");
	} else {
		rc = buf_printf(out, "%s\r\n", b64);
	}
	tls_zero(b64, sizeof(b64));
	return rc;
}

int
smtpc_auth_begin(struct smtpc_auth *a, const struct conf *c,
    const struct conf_connector *cn, unsigned offered, bool tls,
    struct buf *out, char *why, size_t wsize)
{
	uint8_t ir[SASL_DATA_MAX];
	size_t len;
	unsigned mech;
	bool has;
	int rc;

	a->active = false;
	if (cn == NULL || cn->auth_user == NULL) {
		return 0;
	}
	if (!tls && !cn->auth_plaintext) {
		snprintf(why, wsize,
		    "4.7.0 AUTH to this host needs TLS "
		    "(connector %s; auth plaintext no)",
		    cn->name);
		return -1;
	}
	mech = sasl_cli_choose(offered);
	if (mech == 0) {
		snprintf(why, wsize,
		    "4.7.0 the host offers no AUTH mechanism "
		    "tern has (connector %s)",
		    cn->name);
		return -1;
	}
	rc = sasl_cli_start(&a->cli, mech, cn->auth_user, cn->auth_password, ir,
	    &len, &has);
	if (rc == 0) {
		rc = smtpc_auth_send(out, sasl_cli_name(mech), ir, len, has);
	}
	tls_zero(ir, sizeof(ir));
	if (rc < 0) {
		snprintf(why, wsize, "4.7.0 AUTH %s could not start",
		    sasl_cli_name(mech));
		return -1;
	}
	a->active = true;
	return 1;
}

int
smtpc_auth_reply(struct smtpc_auth *a, const struct smtpc_reply *r,
    struct buf *out, char *why, size_t wsize)
{
	uint8_t in[SASL_DATA_MAX], resp[SASL_DATA_MAX];
	size_t len = 0;
	int n, rc = -1;

	if (r->code == 235 && sasl_cli_done(&a->cli)) {
		smtpc_auth_end(a);
		return 0;
	}
	if (r->code != 334) {
		snprintf(why, wsize, "AUTH %s refused: %u %s",
		    sasl_cli_name(a->cli.mech), r->code, r->text);
		smtpc_auth_end(a);
		return -1;
	}
	n = sasl_b64_decode(r->text, strlen(r->text), in, sizeof(in));
	if (n >= 0 && sasl_cli_step(&a->cli, in, (size_t)n, resp, &len) == 0 &&
	    smtpc_auth_send(out, NULL, resp, len, true) == 0) {
		rc = 1;
	}
	tls_zero(resp, sizeof(resp));
	if (rc < 0) {
		snprintf(why, wsize,
		    "4.7.0 AUTH %s: bad challenge from the "
		    "host",
		    sasl_cli_name(a->cli.mech));
		buf_printf(out, "*\r\n"); /* cancel (RFC 4954 4) */
		smtpc_auth_end(a);
	}
	return rc;
}

void
smtpc_auth_end(struct smtpc_auth *a)
{
	if (a->active) {
		sasl_cli_end(&a->cli);
		a->active = false;
	}
}
