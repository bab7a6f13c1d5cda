/*
 * sasl_scram.c — SCRAM-SHA-256 (RFC 7677 over RFC 5802), server side,
 * without channel binding (no -PLUS: "p=" is refused):
 *
 *   C: n,[a=authzid],n=user,r=cnonce[,ext]         client-first
 *   S: r=cnonce+snonce,s=salt,i=iterations         server-first
 *   C: c=biws,r=cnonce+snonce,p=proof              client-final
 *   S: v=ServerSignature                           server-final
 *   C: (empty)                                     then 235
 *
 * The database keeps StoredKey = H(HMAC(SaltedPassword, "Client Key"))
 * and ServerKey = HMAC(SaltedPassword, "Server Key"). An unknown user
 * gets a random salt and fails only at the proof, like a wrong password.
 */
#include <stdio.h>
#include <string.h>

#include "sasl/sasl.h"
#include "tls/tls.h"

/* saslname (RFC 5802 5.1): "=2C" is ',', "=3D" is '='; length or -1 */
static int
sasl_scram_name(const char *s, size_t len, char *out, size_t size)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '=') {
			if (i + 2 >= len) {
				return -1;
			}
			if (s[i + 1] == '2' && s[i + 2] == 'C') {
				c = ',';
			} else if (s[i + 1] == '3' && s[i + 2] == 'D') {
				c = '=';
			} else {
				return -1;
			}
			i += 2;
		} else if (c == ',' || c == '\0') {
			return -1;
		}
		if (n + 1 >= size) {
			return -1;
		}
		out[n++] = c;
	}
	out[n] = '\0';
	return (int)n;
}

/* The value of "k=value" at *p up to the next ',' (or the end). */
static bool
sasl_scram_attr(const char **p, const char *end, char k, const char **v,
    size_t *vlen)
{
	const char *s = *p, *c;

	if (end - s < 2 || s[0] != k || s[1] != '=') {
		return false;
	}
	c = memchr(s + 2, ',', (size_t)(end - s - 2));
	*v = s + 2;
	*vlen = (size_t)((c != NULL ? c : end) - *v);
	*p = c != NULL ? c + 1 : end;
	return true;
}

static void
sasl_scram_fake_keys(struct sasl_user *u)
{
	memset(u, 0, sizeof(*u));
	u->scram_iter = SASL_SCRAM_ITER;
	u->scram_salt_len = SASL_SCRAM_SALT;
	(void)rand_bytes(u->scram_salt, SASL_SCRAM_SALT);
}

static enum sasl_rc
sasl_scram_first(struct sasl_srv *x, const char *in, size_t len, uint8_t *out,
    size_t *outlen)
{
	const char *p = in, *end = in + len, *bare, *v, *nonce;
	char name[SASL_USER_MAX + 1], authz[SASL_USER_MAX + 1], salt[64];
	size_t vlen, nlen, zlen = 0;
	struct sasl_user fake;
	const struct sasl_user *u;
	uint8_t rnd[18];
	char snonce[32];
	int n;

	/* gs2-header: "n," or "y," (no channel binding), [a=authzid] "," */
	if (len < 3 || (p[0] != 'n' && p[0] != 'y') || p[1] != ',') {
		return SASL_BAD;
	}
	p += 2;
	if (sasl_scram_attr(&p, end, 'a', &v, &vlen)) {
		n = sasl_scram_name(v, vlen, authz, sizeof(authz));
		if (n <= 0) {
			return SASL_BAD;
		}
		zlen = (size_t)n;
	} else if (p >= end || *p++ != ',') {
		return SASL_BAD;
	}
	bare = p;
	if ((size_t)(bare - in) > sizeof(x->u.scram.gs2)) {
		return SASL_BAD;
	}
	memcpy(x->u.scram.gs2, in, (size_t)(bare - in));
	x->u.scram.gs2_len = (uint32_t)(bare - in);
	if (!sasl_scram_attr(&p, end, 'n', &v, &vlen) ||
	    (n = sasl_scram_name(v, vlen, name, sizeof(name))) <= 0 ||
	    !sasl_scram_attr(&p, end, 'r', &nonce, &nlen) || nlen == 0 ||
	    memchr(nonce, '\0', nlen) != NULL) {
		return SASL_BAD;
	}
	u = sasl_srv_user(x, name, (size_t)n);
	x->u.scram.known = u != NULL && (u->has & SASL_HAS_SCRAM) &&
	    (zlen == 0 ||
	        (zlen == (size_t)n && memcmp(authz, name, zlen) == 0));
	if (!x->u.scram.known) {
		sasl_scram_fake_keys(&fake);
		u = &fake;
	}
	if (rand_bytes(rnd, sizeof(rnd)) < 0 ||
	    sasl_b64_encode(rnd, sizeof(rnd), snonce, sizeof(snonce)) < 0 ||
	    sasl_b64_encode(u->scram_salt, u->scram_salt_len, salt,
	        sizeof(salt)) < 0) {
		return SASL_FAIL;
	}
	/* msg = client-first-bare "," server-first */
	n = snprintf(x->u.scram.msg, sizeof(x->u.scram.msg),
	    "%.*s,r=%.*s%s,s=%s,i=%u", (int)(end - bare), bare, (int)nlen,
	    nonce, snonce, salt, u->scram_iter);
	if (n < 0 || (size_t)n >= sizeof(x->u.scram.msg)) {
		return SASL_BAD;
	}
	x->u.scram.len = (uint32_t)n;
	x->u.scram.nonce_off = (uint32_t)(end - bare) + 3;
	x->u.scram.nonce_len = (uint32_t)(nlen + strlen(snonce));
	*outlen = (size_t)n - (size_t)(end - bare) - 1;
	memcpy(out, x->u.scram.msg + (end - bare) + 1, *outlen);
	x->step = 1;
	return SASL_CONTINUE;
}

/* c=base64(gs2-header),r=nonce[,ext],p=proof: the proof, or false */
static bool
sasl_scram_final_check(struct sasl_srv *x, const char *in, size_t len,
    size_t *wo_len, uint8_t proof[32])
{
	const char *p = in, *end = in + len, *v, *pp;
	char cb[sizeof(x->u.scram.gs2) * 2];
	size_t vlen;
	int n;

	n = sasl_b64_encode((const uint8_t *)x->u.scram.gs2, x->u.scram.gs2_len,
	    cb, sizeof(cb));
	if (n < 0 || !sasl_scram_attr(&p, end, 'c', &v, &vlen) ||
	    vlen != (size_t)n || memcmp(v, cb, vlen) != 0 ||
	    !sasl_scram_attr(&p, end, 'r', &v, &vlen) ||
	    vlen != x->u.scram.nonce_len ||
	    memcmp(v, x->u.scram.msg + x->u.scram.nonce_off, vlen) != 0) {
		return false;
	}
	/* the proof is last (RFC 5802 7: extensions come before it) */
	for (pp = end; pp > p && pp[-1] != ','; pp--) {
		;
	}
	if (end - pp < 2 || pp[0] != 'p' || pp[1] != '=') {
		return false;
	}
	*wo_len = (size_t)(pp - in) - 1;
	return sasl_b64_decode(pp + 2, (size_t)(end - pp - 2), proof, 32) == 32;
}

static enum sasl_rc
sasl_scram_final(struct sasl_srv *x, const char *in, size_t len, uint8_t *out,
    size_t *outlen)
{
	const struct sasl_user *u;
	char am[sizeof(x->u.scram.msg) + SASL_DATA_MAX + 2];
	uint8_t proof[32], sig[32], key[32], h[32];
	size_t wo, amlen, k;
	char v[64];
	bool ok;

	if (len > SASL_DATA_MAX ||
	    !sasl_scram_final_check(x, in, len, &wo, proof)) {
		return SASL_BAD;
	}
	/* AuthMessage = client-first-bare "," server-first "," final-wo-proof */
	amlen = x->u.scram.len;
	memcpy(am, x->u.scram.msg, amlen);
	am[amlen++] = ',';
	memcpy(am + amlen, in, wo);
	amlen += wo;
	u = sasl_userdb_find(x->db, x->user, strlen(x->user));
	if (!x->u.scram.known || u == NULL) {
		return SASL_FAIL;
	}
	tls_hmac_sha256(u->stored_key, 32, am, amlen, sig);
	for (k = 0; k < 32; k++) {
		key[k] = proof[k] ^ sig[k];
	}
	tls_sha256(key, sizeof(key), h);
	ok = tls_ct_equal(h, u->stored_key, 32);
	tls_hmac_sha256(u->server_key, 32, am, amlen, sig);
	tls_zero(key, sizeof(key));
	tls_zero(am, sizeof(am));
	if (!ok) {
		return SASL_FAIL;
	}
	memcpy(out, "v=", 2);
	(void)sasl_b64_encode(sig, sizeof(sig), v, sizeof(v));
	memcpy(out + 2, v, strlen(v));
	*outlen = 2 + strlen(v);
	x->step = 2;
	return SASL_CONTINUE;
}

static enum sasl_rc
sasl_scram_step(struct sasl_srv *x, const uint8_t *in, size_t len, bool has_in,
    uint8_t *out, size_t *outlen)
{
	*outlen = 0;
	if (has_in && memchr(in, '\0', len) != NULL) {
		return SASL_BAD; /* RFC 5802 7: no NUL in any message */
	}
	switch (x->step) {
	case 0:
		return has_in ?
		    sasl_scram_first(x, (const char *)in, len, out, outlen) :
		    SASL_CONTINUE; /* empty challenge first */
	case 1:
		return sasl_scram_final(x, (const char *)in, len, out, outlen);
	default:
		return len == 0 ? SASL_OK : SASL_BAD; /* after v= */
	}
}

const struct sasl_mech sasl_scram = { "SCRAM-SHA-256", CONF_AUTH_SCRAM,
	sasl_scram_step };
