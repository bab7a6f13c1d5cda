/*
 * sasl.c — the registry of built-in mechanisms (strongest first, as EHLO
 * lists them), strict base64 (RFC 4648 4; RFC 4954 4: a response that is
 * not base64 is refused with 501), and the life of a server exchange.
 */
#include <string.h>

#include "sasl/sasl.h"
#include "tls/tls.h"

const struct sasl_mech *const sasl_mechs[] = {
	IF_SASL_SCRAM(&sasl_scram, ) IF_SASL_CRAM_MD5(&sasl_cram, )
	    IF_SASL_NTLM(&sasl_ntlm, ) IF_SASL_PLAIN(&sasl_plain, )
	        IF_SASL_LOGIN(&sasl_login, ) NULL,
};

const struct sasl_mech *
sasl_mech_find(const char *name, size_t len)
{
	size_t k;

	for (k = 0; sasl_mechs[k] != NULL; k++) {
		const char *n = sasl_mechs[k]->name;

		if (str_ieq(n, strlen(n), name, len)) {
			return sasl_mechs[k];
		}
	}
	return NULL;
}

void
sasl_srv_init(struct sasl_srv *x, const struct sasl_mech *m,
    const struct sasl_db *db, const char *hostname)
{
	memset(x, 0, sizeof(*x));
	x->mech = m;
	x->db = db;
	x->hostname = hostname;
}

void
sasl_srv_end(struct sasl_srv *x)
{
	tls_zero(x, sizeof(*x));
}

static const char sasl_b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
sasl_b64_value(char c)
{
	const char *p;

	if (c == '\0') {
		return -1;
	}
	p = strchr(sasl_b64_chars, c);
	return p != NULL ? (int)(p - sasl_b64_chars) : -1;
}

int
sasl_b64_decode(const char *in, size_t len, uint8_t *out, size_t size)
{
	size_t i, n = 0, pad = 0;
	uint32_t acc = 0;
	int v, k;

	if (len % 4 != 0) {
		return -EINVAL;
	}
	for (i = 0; i < len; i += 4) {
		acc = 0;
		for (k = 0; k < 4; k++) {
			char c = in[i + (size_t)k];

			/* '=' only in the last quantum, as its last 1-2 */
			if (c == '=' && i + 4 == len && k >= 2 &&
			    (k == 3 || in[i + 3] == '=')) {
				pad++;
				acc <<= 6;
				continue;
			}
			v = pad == 0 ? sasl_b64_value(c) : -1;
			if (v < 0) {
				return -EINVAL;
			}
			acc = (acc << 6) | (uint32_t)v;
		}
		/* RFC 4648 3.5: the pad bits must be zero (canonical) */
		if ((pad == 1 && (acc & 0xff) != 0) ||
		    (pad == 2 && (acc & 0xffff) != 0)) {
			return -EINVAL;
		}
		if (n + 3 - pad > size) {
			return -EMSGSIZE;
		}
		out[n++] = (uint8_t)(acc >> 16);
		if (pad < 2) {
			out[n++] = (uint8_t)(acc >> 8);
		}
		if (pad < 1) {
			out[n++] = (uint8_t)acc;
		}
	}
	return (int)n;
}

int
sasl_b64_encode(const uint8_t *in, size_t len, char *out, size_t size)
{
	size_t i, n = 0;

	if ((len + 2) / 3 * 4 + 1 > size) {
		return -ENOSPC;
	}
	for (i = 0; i < len; i += 3) {
		uint32_t acc = (uint32_t)in[i] << 16;

		acc |= i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0;
		acc |= i + 2 < len ? in[i + 2] : 0;
		out[n++] = sasl_b64_chars[(acc >> 18) & 63];
		out[n++] = sasl_b64_chars[(acc >> 12) & 63];
		out[n++] = i + 1 < len ? sasl_b64_chars[(acc >> 6) & 63] : '=';
		out[n++] = i + 2 < len ? sasl_b64_chars[acc & 63] : '=';
	}
	out[n] = '\0';
	return (int)n;
}

const struct sasl_user *
sasl_srv_user(struct sasl_srv *x, const char *name, size_t len)
{
	if (len == 0 || len > SASL_USER_MAX) {
		return NULL;
	}
	memmove(x->user, name, len); /* name may be x->user */
	x->user[len] = '\0';
	return x->db != NULL ? sasl_userdb_find(x->db, name, len) : NULL;
}

enum sasl_rc
sasl_srv_password(struct sasl_srv *x, const char *name, size_t nlen,
    const char *pw, size_t pwlen)
{
	const struct sasl_user *u = sasl_srv_user(x, name, nlen);

	if (u == NULL) {
		/* the same work for an unknown user: no timing oracle */
		(void)sasl_crypt_check(pw, pwlen, "$6$tern.no.such.user$x");
		return SASL_FAIL;
	}
	if (!(u->has & SASL_HAS_CRYPT)) {
		return SASL_WEAK;
	}
	return sasl_crypt_check(pw, pwlen, u->crypt) ? SASL_OK : SASL_FAIL;
}
